"""Generate the governance dashboard (roles/grafana_dashboards/files/brain-governance.json).

    python3 tests/dashboards/governance.py           write the JSON
    python3 tests/dashboards/governance.py --check   exit 1 when the committed JSON differs

Built with Grafana's dashboards-as-code SDK (grafana-foundation-sdk, pinned in tests/requirements.txt).
Every query reads the rule pack's normalised series (the contract's names, which every dialect is
renamed into at scrape time, and the pack's recording rules), so one dashboard serves every dialect.
Thresholds come from the prometheus role's defaults, so the colours change where the alerts fire.
"""

import argparse
import json
import sys
from pathlib import Path

import yaml
from grafana_foundation_sdk.builders import common as gcb
from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as gc
from grafana_foundation_sdk.models import dashboard as gm
from grafana_foundation_sdk.models import prometheus as gp

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "roles/grafana_dashboards/files/brain-governance.json"
DEFAULTS = yaml.safe_load((ROOT / "roles/prometheus/defaults/main/rule_pack.yml").read_text())

# The datasource is a dashboard variable: a provisioned dashboard cannot use import-time inputs
# (`__inputs`), and a variable works both provisioned and imported through the UI.
DS = gm.DataSourceRef(type_val="prometheus", uid="${datasource}")
# Backends are the targets of the collection's jobs (each carries its dialect) other than the
# evidence hosts' node_exporter.
BACKEND_TARGETS = 'up{dialect!="", dialect!="evidence_export"}'
B = 'instance=~"$backend"'
RATE = "$__rate_interval"
MODES = ["ONLINE", "OFFLINE", "SOVEREIGN", "QUARANTINE"]


def query(expr, legend="{{instance}}", ref="A", instant=False):
    q = prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DS)
    return q.instant().format(gp.PromQueryFormat.TABLE) if instant else q


def steps(*pairs):
    """Threshold steps: (value, colour) from the base (None) upwards."""
    return gd.ThresholdsConfig().mode(gm.ThresholdsMode.ABSOLUTE).steps([gm.Threshold(value=v, color=c) for v, c in pairs])


def texts(mapping):
    """Value mappings: {value: (text, colour)}."""
    return [gm.ValueMap(options={str(k): gm.ValueMappingResult(text=t, color=c, index=i) for i, (k, (t, c)) in enumerate(mapping.items())})]


def state(title, expr, description, mapping=None, thresholds=None, unit=None, no_value=None, width=4, legend="{{instance}}"):
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .with_target(query(expr, legend))
        .height(4)
        .span(width)
        .color_mode(gc.BigValueColorMode.BACKGROUND)
        .graph_mode(gc.BigValueGraphMode.NONE)
        # The newest value: a stat shows what holds now, not an average over the range.
        .reduce_options(gcb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(thresholds or steps((None, "green")))
    )
    if mapping:
        panel = panel.mappings(texts(mapping))
    if unit:
        panel = panel.unit(unit)
    # "No data" must never read as calm: say what missing data means for this panel.
    return panel.no_value(no_value or "no data: target down or series not exported (see pipeline health)")


def series(title, targets, description, unit="short", width=12, thresholds=None):
    panel = timeseries.Panel().title(title).description(description).datasource(DS).height(8).span(width).unit(unit)
    for target in targets:
        panel = panel.with_target(target)
    return panel.thresholds(thresholds or steps((None, "green")))


def timeline(title, targets, description, mapping, thresholds, width=24):
    panel = statetimeline.Panel().title(title).description(description).datasource(DS).height(7).span(width).mappings(texts(mapping)).thresholds(thresholds)
    for target in targets:
        panel = panel.with_target(target)
    return panel


def ref(i):
    return chr(ord("A") + i)


def counters(pairs):
    """Per-interval event counts of counters: (series, legend) pairs."""
    return [query(f"sum by (instance) (increase({name}{{{B}}}[{RATE}]))", f"{legend} {{{{instance}}}}", ref(i)) for i, (name, legend) in enumerate(pairs)]


def rates(pairs):
    return [query(f"sum by (instance) (rate({name}{{{B}}}[{RATE}]))", f"{legend} {{{{instance}}}}", ref(i)) for i, (name, legend) in enumerate(pairs)]


def firing_alerts(categories):
    """Firing alerts of the categories, 0 when none fire; no data (not 0) when the pack's groups
    are not loaded, so a Prometheus without the rules never shows a calm 0."""
    groups = "|".join(f"brain-{c}" for c in ("governance", "security-slo"))
    return f'count(ALERTS{{alertstate="firing", category=~"{categories}", {B}}}) or on () 0 * count(prometheus_rule_group_rules{{rule_group=~".+;({groups})"}})'


def build():
    override_max_age = DEFAULTS["prometheus_brain_override_max_age"]
    evidence_max_age = DEFAULTS["prometheus_brain_evidence_max_age"]
    failure_ratio = DEFAULTS["prometheus_brain_executor_failure_ratio_15m"]
    p95, p99 = DEFAULTS["prometheus_brain_latency_p95_slo"], DEFAULTS["prometheus_brain_latency_p99_slo"]
    onoff = {0: ("off", "green"), 1: ("ACTIVE", "red")}

    d = (
        gd.Dashboard("BRAiN governance")
        .uid("brain-governance")
        .description("Governance state, events, security, SLO, executor, evidence export and monitoring pipeline of BRAiN backends (brain.ops_assurance).")
        .tags(["brain", "governance", "brain-ops-assurance"])
        .editable()
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("utc")
        .tooltip(gm.DashboardCursorSync.CROSSHAIR)
        .with_variable(gd.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
        .with_variable(
            gd.QueryVariable("backend")
            .label("Backend")
            .datasource(DS)
            .query(f"label_values({BACKEND_TARGETS}, instance)")
            .refresh(gm.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(gm.VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".+")
        )
    )

    d = d.with_row(gd.Row("Governance state"))
    for panel in (
        state(
            "Override",
            f"max by (instance) (sovereign_override_active{{{B}}} or brain_override_active{{{B}}})",
            "An owner override bypasses governance checks (alert GovernanceOverrideActive). Every dialect exports it.",
            mapping=onoff,
            thresholds=steps((None, "green"), (1, "red")),
        ),
        state(
            "Override age",
            f"max by (instance) ((time() - sovereign_override_activated_timestamp_seconds{{{B}}}) * (sovereign_override_active{{{B}}} == bool 1))",
            f"How long the active override has lasted; 0 when none is active. Red from {override_max_age} s "
            "(prometheus_brain_override_max_age, alert GovernanceOverrideActiveTooLong). Only the contract dialect exports the start time.",
            thresholds=steps((None, "green"), (1, "orange"), (override_max_age, "red")),
            unit="s",
        ),
        state(
            "Safe mode",
            f"max by (instance) (brain_safe_mode_enabled{{{B}}})",
            "Safe mode (global kill switch) freezes all executions (alert GovernanceSafeModeEnabled).",
            mapping={0: ("off", "green"), 1: ("ENABLED", "orange")},
            thresholds=steps((None, "green"), (1, "orange")),
        ),
        state(
            "Mode",
            f"max by (instance) (brain_mode_current{{{B}}})",
            "The backend's mode (brain_mode_current). QUARANTINE fires GovernanceModeQuarantine.",
            mapping={i: (m, c) for i, (m, c) in enumerate(zip(MODES, ["green", "blue", "purple", "red"], strict=True))},
            thresholds=steps((None, "green"), (3, "red")),
        ),
        state(
            "Quarantined bundles",
            f"max by (instance) (sovereign_bundles_quarantined{{{B}}})",
            "Bundles in quarantine now (alert GovernanceBundleQuarantined). Dialects without the gauge: see the quarantine events below.",
            thresholds=steps((None, "green"), (1, "orange")),
        ),
        state(
            "Firing governance and security alerts",
            firing_alerts("governance|security"),
            "Alerts of the categories governance and security firing now. No data means the rule pack is not loaded.",
            thresholds=steps((None, "green"), (1, "red")),
            no_value="no data: the rule pack's governance groups are not loaded",
            legend="firing",
        ),
    ):
        d = d.with_panel(panel)
    d = d.with_panel(
        table.Panel()
        .title("Firing governance and security alerts: which")
        .description("Each firing alert of the categories governance and security, with its severity.")
        .datasource(DS)
        .height(6)
        .span(24)
        .with_target(
            query(
                f'max by (alertname, instance, severity, category) (ALERTS{{alertstate="firing", category=~"governance|security", {B}}})',
                legend="",
                instant=True,
            )
        )
        .no_value("none firing (the stat above says whether the rule pack is loaded)")
    )

    d = d.with_row(gd.Row("Event timelines"))
    d = d.with_panel(
        timeline(
            "Override, safe mode and mode",
            [
                query(f"max by (instance) (sovereign_override_active{{{B}}} or brain_override_active{{{B}}})", "override {{instance}}", "A"),
                query(f"max by (instance) (brain_safe_mode_enabled{{{B}}})", "safe mode {{instance}}", "B"),
                query(f"max by (instance) (brain_mode_current{{{B}}}) + 10", "mode {{instance}}", "C"),
            ],
            "When an override or safe mode was on, and the mode over time.",
            # Modes are offset by 10 so they do not share the on/off values.
            {0: ("off", "green"), 1: ("on", "red"), **{10 + i: (m, c) for i, (m, c) in enumerate(zip(MODES, ["green", "blue", "purple", "red"], strict=True))}},
            steps((None, "green")),
        )
    )
    d = d.with_panel(
        series(
            "Governance events per interval",
            counters(
                [
                    ("sovereign_override_activations_total", "override activations"),
                    ("brain_quarantine_total", "quarantines"),
                    ("brain_mode_switch_total", "mode switches"),
                    ("sovereign_preflight_failures_total", "preflight failures"),
                    ("sovereign_axe_trust_violations_total", "AXE trust violations"),
                ]
            ),
            "Events counted per interval from the normalised counters.",
            width=24,
        )
    )

    d = d.with_row(gd.Row("Security"))
    d = d.with_panel(
        series(
            "Security event rates",
            rates(
                [
                    ("brain_authn_failures_total", "rejected tokens"),
                    ("brain_authz_denials_total", "authorization denials"),
                    ("brain_policy_violations_total", "policy violations"),
                    ("sovereign_axe_trust_violations_total", "AXE trust violations"),
                ]
            ),
            "Per second. Alerts: BrainAuthnFailureSpike, BrainAuthzDenials, BrainPolicyViolations, GovernanceAxeTrustViolation.",
            unit="ops",
            width=24,
        )
    )

    d = d.with_row(gd.Row("SLO and error budget"))
    d = d.with_panel(
        series(
            "Request latency",
            [
                query(f"brain:request_duration_seconds:p95_5m{{{B}}}", "p95 {{instance}}", "A"),
                query(f"brain:request_duration_seconds:p99_5m{{{B}}}", "p99 {{instance}}", "B"),
            ],
            f"p95 and p99 over 5 minutes (recording rules). SLO bounds: p95 {p95} s, p99 {p99} s. No data while there is no traffic.",
            unit="s",
            width=8,
            thresholds=steps((None, "green"), (p95, "orange"), (p99, "red")),
        )
    )
    d = d.with_panel(
        series(
            "Requests within the SLO bounds",
            [
                query(f"brain:request_within_p95_slo:ratio_5m{{{B}}}", f"within {p95} s (objective 95 %) {{{{instance}}}}", "A"),
                query(f"brain:request_within_p99_slo:ratio_5m{{{B}}}", f"within {p99} s (objective 99 %) {{{{instance}}}}", "B"),
            ],
            "Share of requests answered within each bound over 5 minutes (alerts BrainLatencyP95AboveSLO, BrainLatencyP99AboveSLO).",
            unit="percentunit",
            width=8,
        )
    )
    for objective, ratio in ((0.95, "p95"), (0.99, "p99")):
        allowed = round(1 - objective, 2)
        d = d.with_panel(
            state(
                f"Error budget left ({ratio} objective, dashboard range)",
                f"1 - (1 - avg_over_time(brain:request_within_{ratio}_slo:ratio_5m{{{B}}}[$__range])) / {allowed}",
                f"The share of the error budget ({allowed:.0%} of requests may be slower than the bound) not used over the dashboard's time range. "
                "Below 0: the objective was missed.",
                thresholds=steps((None, "red"), (0.25, "orange"), (0.5, "green")),
                unit="percentunit",
                no_value="no data: no traffic in the range, or the SLO recording rules are not loaded",
            ).span(4)
        )

    d = d.with_row(gd.Row("Executor"))
    d = d.with_panel(
        series(
            "Executor runs per interval",
            counters(
                [
                    ("brain_decisions_total", "decisions"),
                    ("brain_executor_failures_total", "failed runs"),
                    ("brain_decisions_untraced_total", "untraced decisions"),
                ]
            ),
            "Decisions, failed runs and decisions without a complete trace (alerts BrainExecutorFailures, BrainTraceIncomplete).",
            width=12,
        )
    )
    d = d.with_panel(
        series(
            "Failed run ratio",
            [
                query(
                    f"sum by (instance) (rate(brain_executor_failures_total{{{B}}}[{RATE}]))"
                    f" / (sum by (instance) (rate(brain_decisions_total{{{B}}}[{RATE}])) > 0)",
                    "{{instance}}",
                )
            ],
            f"Failed runs / decisions (alert BrainExecutorFailureRatio above {failure_ratio}). No data without decisions.",
            unit="percentunit",
            width=6,
            thresholds=steps((None, "green"), (failure_ratio, "red")),
        )
    )
    d = d.with_panel(
        state(
            "Since the last successful run",
            f"time() - max by (instance) (brain_last_success_timestamp{{{B}}} > 0)",
            f"Orange from {DEFAULTS['prometheus_brain_last_success_max_age']} s (BrainLastSuccessTooOld fires when runs also fail).",
            thresholds=steps((None, "green"), (DEFAULTS["prometheus_brain_last_success_max_age"], "orange")),
            unit="s",
            no_value="never: no successful run since the backend started",
            width=6,
        )
    )

    d = d.with_row(gd.Row("Evidence export"))
    d = d.with_panel(
        state(
            "Since the last good export",
            "time() - max by (instance) (brain_evidence_export_last_success_timestamp_seconds)",
            f"Per evidence host. Red from {evidence_max_age} s (prometheus_brain_evidence_max_age, alert BrainEvidenceExportStale).",
            thresholds=steps((None, "green"), (evidence_max_age, "red")),
            unit="s",
            width=8,
        )
    )
    d = d.with_panel(
        state(
            "Last export run",
            "min by (instance) (brain_evidence_export_last_run_success)",
            "Whether the last run of brain-evidence-export succeeded (alert BrainEvidenceExportFailed).",
            mapping={0: ("FAILED", "red"), 1: ("ok", "green")},
            thresholds=steps((None, "red"), (1, "green")),
            width=8,
        )
    )
    d = d.with_panel(
        state(
            "Events in the last export",
            "max by (instance) (brain_evidence_export_last_run_events)",
            "Audit events the last run exported.",
            width=8,
        )
    )

    d = d.with_row(gd.Row("Monitoring pipeline"))
    d = d.with_panel(
        state(
            "Targets up",
            'min by (job, instance) (up{dialect!=""})',
            "Each backend and evidence target Prometheus scrapes (alert BrainTargetDown).",
            mapping={0: ("DOWN", "red"), 1: ("up", "green")},
            thresholds=steps((None, "red"), (1, "green")),
            no_value="no data: no target carries a dialect (is the prometheus role's config loaded?)",
            width=8,
            legend="{{job}} {{instance}}",
        ).text_mode(gc.BigValueTextMode.VALUE_AND_NAME)
    )
    d = d.with_panel(
        state(
            "Contract series missing",
            'count by (job, instance) (brain:contract_series_missing) or on (job, instance) 0 * max by (job, instance) (up{dialect!=""})',
            "Series a target's dialect always exports but that it does not (alert BrainContractMissing): alerts reading them are blind.",
            thresholds=steps((None, "green"), (1, "red")),
            width=8,
            legend="{{job}} {{instance}}",
        ).text_mode(gc.BigValueTextMode.VALUE_AND_NAME)
    )
    d = d.with_panel(
        state(
            "Watchdog",
            'count(ALERTS{alertname="Watchdog", alertstate="firing"})',
            "The dead man's switch: always firing while rule evaluation works.",
            mapping={1: ("firing", "green")},
            thresholds=steps((None, "green")),
            no_value="NOT FIRING: rule evaluation is broken",
            width=8,
            legend="Watchdog",
        )
    )
    d = d.with_panel(
        series(
            "Scrape success (share of scrapes per interval)",
            [query(f'avg by (job, instance) (avg_over_time(up{{dialect!=""}}[{RATE}]))', "{{job}} {{instance}}")],
            "Alert BrainScrapeFailing under 90 % over 15 minutes.",
            unit="percentunit",
            width=12,
            thresholds=steps((None, "red"), (0.9, "green")),
        )
    )
    d = d.with_panel(
        series(
            "Alerting pipeline",
            [
                query(f"sum by (instance) (increase(prometheus_rule_evaluation_failures_total[{RATE}]))", "rule evaluation failures {{instance}}", "A"),
                query(
                    f"sum by (instance) (increase(prometheus_notifications_errors_total[{RATE}]))"
                    f" + sum by (instance) (increase(prometheus_notifications_dropped_total[{RATE}]))",
                    "alerts not delivered to Alertmanager {{instance}}",
                    "B",
                ),
                query("min by (instance) (prometheus_config_last_reload_successful) - 1", "config reload failed (-1) {{instance}}", "C"),
                query("min by (instance) (prometheus_notifications_alertmanagers_discovered)", "Alertmanagers discovered {{instance}}", "D"),
            ],
            "Prometheus's own health: rule evaluation failures, undelivered alerts (all 0 when healthy), a failed configuration reload "
            "(-1) and the Alertmanagers it sends to (at least 1).",
            width=12,
        )
    )
    return d.build()


def render():
    return json.dumps(build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the committed JSON differs from the generator's output")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT} differs from the generator's output: run python3 tests/dashboards/governance.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
