"""The governance rule pack, rendered by the prometheus role and unit-tested with real promtool."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers.backend import Backend
from helpers.render import render_rules as render

# tests/rules holds the linter; it is not a package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rules"))
import lint

ROOT = Path(__file__).resolve().parents[2]
# BaseLoader: every scalar a string, so promtool values like `0x20` (zero, 21 times) are not read as hex.
CASES = yaml.load((ROOT / "tests/rules/cases.yml").read_text(), Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader builds no objects
PROMTOOL = shutil.which("promtool")


def alerts(rules_dir):
    found = {}
    for path in sorted(rules_dir.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    found[rule["alert"]] = (path.name, rule)
    return found


def expand(text, labels, value):
    """What promtool prints for an annotation: $labels.X and $value filled in."""
    text = re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", lambda m: labels[m.group(1)], text)
    return re.sub(r"\{\{\s*\$value[^}]*\}\}", lambda m: value, text)


# The edges every alert is tested at (docs/rule-pack.md has what each means per alert).
KINDS = {"fires", "silent", "threshold", "stale", "absent", "idle"}
GROUPS = ["brain-contract", "brain-evidence", "brain-governance", "brain-meta", "brain-operations", "brain-security-slo"]


def test_every_file_passes_promtool_check(default_rules):
    files = sorted(str(p) for p in default_rules.glob("*.yml"))
    assert [Path(f).name for f in files] == ["brain-ops-assurance.yml"]
    r = subprocess.run([PROMTOOL, "check", "rules", *files], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_alert_has_a_case_of_every_kind_and_annotations(default_rules):
    found = alerts(default_rules)
    assert sorted(found) == sorted(c["alert"] for c in CASES)
    for name, (_file, rule) in found.items():
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"]), name
        assert rule["labels"]["severity"] in {"critical", "warning", "none"}, name
        assert rule["annotations"]["runbook_url"].endswith(f"/alerting-policy.md#{name.lower()}")
    for case in CASES:
        kinds = [c["kind"] for c in case["cases"]]
        assert len(kinds) == len(set(kinds)), case["alert"]
        assert set(kinds) == ({"fires"} if case["alert"] == "Watchdog" else KINDS), case["alert"]
        assert all(c.get("silent_at") or c.get("fires_at") for c in case["cases"]), case["alert"]


# Series keys in cases.yml may end in `@<target>`: the labels the scrape gives that target.
TARGETS = {
    "gov": {"instance": "b1:8000", "job": "brain-governance", "dialect": "contract"},
    "ops": {"instance": "b1:8000", "job": "brain-operations", "dialect": "contract"},
    "gov2": {"instance": "b2:8000", "job": "brain-governance", "dialect": "contract"},
    "ops2": {"instance": "b2:8000", "job": "brain-operations", "dialect": "contract"},
    "main": {"instance": "b1:8000", "job": "brain-operations", "dialect": "brain_main"},
    "ev": {"instance": "e1:9100", "job": "brain-evidence", "dialect": "evidence_export"},
    "arc": {"instance": "a1:9100", "job": "brain-evidence-archive", "dialect": "evidence_archive"},
    "prom": {"instance": "127.0.0.1:9090", "job": "prometheus"},
    "am": {"instance": "127.0.0.1:9093", "job": "alertmanager"},
}


def labels_of(key):
    """`name@target` -> (name, the target's labels)."""
    name, target = key.split("@") if "@" in key else (key, "")
    return name, dict(TARGETS[target]) if target else {}


def series(key):
    if "@" not in key:
        return key
    name, labels = labels_of(key)
    extra = ""
    if "{" in name:
        name, extra = name[:-1].split("{", 1)
    return name + "{" + ",".join([f'{k}="{v}"' for k, v in labels.items()] + ([extra] if extra else [])) + "}"


def expected(rule, labels, value):
    labels = {**rule["labels"], **labels}
    return {"exp_labels": labels, "exp_annotations": {k: expand(v, labels, value) for k, v in rule["annotations"].items()}}


def contract_missing(found, key, at):
    """BrainContractMissing fires for `metric@target` at `at` (other missing series may fire too)."""
    metric, target = labels_of(key)
    labels = {**found["BrainContractMissing"][1]["labels"], **target, "metric": metric, "alertname": "BrainContractMissing", "alertstate": "firing"}
    selector = ",".join(f'{k}="{v}"' for k, v in labels.items() if k in ("alertname", "alertstate", "metric", "instance", "job"))
    return {
        "expr": f"ALERTS{{{selector}}}",
        "eval_time": at,
        "exp_samples": [{"labels": "ALERTS{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}", "value": 1}],
    }


def promtool_test(rule_files, case, checks, exprs, tmp_path):
    test = {
        "rule_files": [str(f) for f in rule_files],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": case.get("interval", "1m"),
                "input_series": [{"series": series(s), "values": str(v)} for s, v in case["series"].items()],
                "alert_rule_test": checks,
                **({"promql_expr_test": exprs} if exprs else {}),
            }
        ],
    }
    path = tmp_path / "test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    return subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, check=False)


def checks_of(found, alert, case):
    """promtool checks for one case: silent at each `silent_at`; at each `fires_at`, firing with
    the alert's labels (or each label set of the case's `firing` list)."""
    rule = found[alert["alert"]][1]
    firing = case.get("firing", [case.get("labels", alert.get("labels", {}))])
    value = str(case.get("value", alert.get("value", "")))
    checks = [{"eval_time": t, "alertname": alert["alert"], "exp_alerts": []} for t in case.get("silent_at", [])]
    checks += [
        {"eval_time": t, "alertname": alert["alert"], "exp_alerts": [expected(rule, labels, value) for labels in firing]} for t in case.get("fires_at", [])
    ]
    return checks


PARAMS = [(alert, case) for alert in CASES for case in alert["cases"]]


@pytest.mark.parametrize("alert,case", PARAMS, ids=[f"{a['alert']}-{c['kind']}" for a, c in PARAMS])
def test_alert_at_its_edges(default_rules, alert, case, tmp_path):
    """Every rule file is loaded: an alert may read the contract group's records. A case whose
    series lack a contract series also checks that BrainContractMissing says so."""
    found = alerts(default_rules)
    exprs = [contract_missing(found, key, case.get("contract_at", "5m")) for key in case.get("contract_missing", [])]
    r = promtool_test(sorted(default_rules.glob("*.yml")), case, checks_of(found, alert, case), exprs, tmp_path)
    assert r.returncode == 0, f"{case.get('why', '')}\n{r.stdout}{r.stderr}"


def test_thresholds_and_overrides_change_the_rendered_rules(tmp_path):
    out = render(
        tmp_path,
        "prometheus_brain_override_max_age=60",
        '{"prometheus_alerts_disabled": ["Watchdog"], "prometheus_alert_overrides": {"GovernanceOverrideActive": {"for": "5s", "labels": {"team": "gov"}}}}',
        "prometheus_runbook_base_url=https://runbooks.example.org/brain",
    )
    found = alerts(out)
    assert "Watchdog" not in found
    too_long = found["GovernanceOverrideActiveTooLong"][1]
    assert too_long["expr"].endswith("> 60") and "over 60 s" in too_long["annotations"]["summary"]
    active = found["GovernanceOverrideActive"][1]
    assert active["for"] == "5s" and active["labels"] == {"severity": "critical", "category": "governance", "team": "gov"}
    assert active["annotations"]["runbook_url"] == "https://runbooks.example.org/brain/alerting-policy.md#governanceoverrideactive"


def test_one_rule_file_and_no_stale_files(tmp_path):
    """Every group in one file; other files (an earlier release's one file per group) are removed."""
    out = render(tmp_path)
    (out / "brain-governance.yml").write_text("groups: []\n")
    render(tmp_path)
    assert [p.name for p in out.iterdir()] == ["brain-ops-assurance.yml"]
    groups = yaml.safe_load((out / "brain-ops-assurance.yml").read_text())["groups"]
    assert sorted(g["name"] for g in groups) == GROUPS


def test_broken_promql_fails_with_promtools_message(tmp_path):
    bad = '{"prometheus_rule_groups_extra": [{"name": "broken", "rules": [{"alert": "Broken", "expr": "sum(rate(x[5m]"}]}]}'
    good = render(tmp_path) / "brain-ops-assurance.yml"
    before = good.read_text()
    with pytest.raises(AssertionError) as err:
        render(tmp_path, bad)
    assert "unclosed left parenthesis" in str(err.value)
    assert good.read_text() == before


@pytest.fixture(scope="module", autouse=True)
def _need_promtool():
    if not PROMTOOL:
        pytest.fail("promtool is required (apt install prometheus); run tests/harness/bootstrap.sh")


# ---- the pack linter (tests/rules/lint.py) -------------------------------------------------------
@pytest.mark.parametrize("grouping", [None, '{"prometheus_rule_grouping_labels": ["site", "instance"]}'])
def test_the_rendered_pack_passes_the_linter(default_rules, tmp_path, grouping):
    out = render(tmp_path, grouping) if grouping else default_rules
    assert lint.lint(sorted(out.glob("*.yml"))) == []


BAD = {
    "Naked": ("up == 0", {}, "has neither `for` nor `keep_firing_for`"),
    "ZeroFor": ("up == 0", {"for": "0s"}, "has neither `for` nor `keep_firing_for`"),
    "RawCounter": ("brain_authn_failures_total > 10", {"for": "1m"}, "counter brain_authn_failures_total is read outside"),
    "CounterDelta": (
        "brain_authn_failures_total - brain_authn_failures_total offset 5m > 1",
        {"for": "1m"},
        "counter brain_authn_failures_total is read outside",
    ),
    "CounterOverTime": ("max_over_time(brain_policy_violations_total[5m]) > 1", {"for": "1m"}, "counter brain_policy_violations_total is read outside"),
    "Regex": ('up{job=~"brain-.*"} == 0', {"for": "1m"}, 'regex matcher job=~"brain-.*" where equality works'),
    "Unknown": ("brain_overide_active == 1", {"for": "1m"}, "brain_overide_active is not in the contract"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_the_linter_names_each_problem(tmp_path, name):
    expr, extra, problem = BAD[name]
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [{"alert": name, "expr": expr, **extra}]}]}))
    errors = lint.lint([path])
    assert len(errors) == 1 and errors[0].startswith(f"bad.yml: {name}: {problem}"), errors
    r = subprocess.run([sys.executable, str(ROOT / "tests/rules/lint.py"), str(path)], capture_output=True, text=True, check=False)
    assert r.returncode == 1 and r.stdout.strip() == errors[0]


def test_the_linter_accepts_what_the_pack_relies_on(tmp_path):
    """Counters under rate/increase/resets, the exact count, the right side of unless, `le` regexes."""
    good = [
        "sum by (instance) (increase(brain_authn_failures_total[5m])) > 0",
        "(last_over_time(brain_authn_failures_total[2m]) - last_over_time(brain_authn_failures_total[2m] offset 5m)) > 10",
        'up{dialect="contract"} == 1 unless on (instance) last_over_time(brain_mode_switch_total[2m])',
        'rate(brain_request_duration_seconds_bucket{le=~"0[.]50*"}[5m]) > 0',
    ]
    path = tmp_path / "good.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [{"alert": f"A{i}", "expr": e, "for": "1m"} for i, e in enumerate(good)]}]}))
    assert lint.lint([path]) == []


def test_the_reference_backend_exports_the_contract_dialects_series_from_the_first_scrape(tmp_path):
    """The contract dialect's `contract` lists are what a fresh reference backend serves on each job's
    path, before anything happened: else BrainContractMissing would fire on a healthy backend."""
    defaults = yaml.safe_load((ROOT / "roles/prometheus/defaults/main/rule_pack.yml").read_text())
    backend = Backend(tmp_path, tokens=False)
    try:
        for job, spec in defaults["prometheus_brain_dialects"]["contract"].items():
            served = {name.split("{")[0] for name in backend.metrics(spec["metrics_path"])}
            assert set(spec["contract"]) <= served, (job, sorted(set(spec["contract"]) - served))
    finally:
        backend.stop()


# ---- backend_info's alerts per capability (module_utils/_capabilities.py ALERTS) ----------------
def _possible(node, provided, records):
    """Whether an expression can give a value when only `provided` series exist: `or` needs either side,
    `unless` its left, anything else every series it reads; a recorded series as its own expression."""
    pp = lint.pp
    if isinstance(node, pp.VectorSelector):
        return node.name in provided or (node.name in records and _possible(records[node.name], provided, records))
    if isinstance(node, pp.BinaryExpr):
        op = str(node.op)
        if op == "or":
            return _possible(node.lhs, provided, records) or _possible(node.rhs, provided, records)
        if op == "unless":
            return _possible(node.lhs, provided, records)
        return _possible(node.lhs, provided, records) and _possible(node.rhs, provided, records)
    if isinstance(node, pp.MatrixSelector):
        return _possible(node.vector_selector, provided, records)
    if isinstance(node, pp.Call):
        return all(_possible(arg, provided, records) for arg in node.args)
    if isinstance(node, (pp.AggregateExpr, pp.ParenExpr, pp.UnaryExpr, pp.SubqueryExpr)):
        return _possible(node.expr, provided, records)
    return True  # numbers, strings


def test_backend_info_lists_exactly_the_alerts_each_capability_and_dialect_makes_possible(default_rules):
    """The table backend_info returns is derived by hand; this derives it from the rendered pack and the role's
    dialects (the series a scrape job carries in a dialect: its contract and its renames' targets)."""
    from ansible_collections.brain.ops_assurance.plugins.module_utils._capabilities import ALERTS

    rules = [rule for path in sorted(default_rules.glob("*.yml")) for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]
    records = {rule["record"]: lint.pp.parse(str(rule["expr"])) for rule in rules if "record" in rule}
    alerts_by_name = {rule["alert"]: lint.pp.parse(str(rule["expr"])) for rule in rules if "alert" in rule}
    dialects = yaml.safe_load((ROOT / "roles/prometheus/defaults/main/rule_pack.yml").read_text())["prometheus_brain_dialects"]
    jobs = {"governance_metrics": "brain-governance", "operations_metrics": "brain-operations", "audit_export": "brain-evidence"}
    # alerts on scraping and on Prometheus itself, possible whatever the backend provides
    everywhere = {"BrainTargetDown", "BrainScrapeFailing", "BrainContractMissing", "Watchdog"}
    everywhere |= {name for name in alerts_by_name if name.startswith(("Prometheus", "Alertmanager"))}
    # alerts on the evidence archive's own series: the archive host provides them, not a backend
    archived = set(dialects["evidence_archive"]["brain-evidence-archive"]["contract"])
    everywhere |= {name for name, tree in alerts_by_name.items() if _possible(tree, archived, records)}

    def derived(capability, dialect):
        spec = dialects["evidence_export" if capability == "audit_export" else dialect].get(jobs[capability])
        provided = set(spec["contract"]) | set(spec["renames"].values()) if spec else set()
        if (capability, dialect) == ("operations_metrics", "contract"):
            # the contract's latency histogram (docs/governance-api.md); not in the always-exported list, as it has
            # no series before a first request
            provided |= {f"brain_request_duration_seconds_{suffix}" for suffix in ("bucket", "count", "sum")}
        return {name for name, tree in alerts_by_name.items() if _possible(tree, provided, records)} - everywhere

    table = {(capability, dialect): set(names) for capability, by_dialect in ALERTS.items() for dialect, names in by_dialect.items()}
    expected = {
        (capability, dialect): derived(capability, dialect)
        for capability in jobs
        for dialect in ("contract", "brain_main", "governance_branch")
        if capability != "audit_export" or dialect == "contract"
    }
    wrong = {key: sorted(table.get(key, set()) ^ names) for key, names in expected.items() if table.get(key, set()) != names}
    assert wrong == {}, "listed or possible, not both"
    assert set(table) <= set(expected)
    # Every alert on a backend is made possible by one capability of a contract backend: none needs two at once.
    listed = set().union(*(table[(capability, "contract")] for capability in jobs))
    assert set(alerts_by_name) - listed - everywhere == set()


# ---- several sites and HA replicas in one evaluation ----------------------------------------
def test_a_site_grouping_label_keeps_sites_apart_and_folds_replicas(tmp_path):
    """A central evaluation (a global store fed by two sites' HA pairs, each series carrying the
    sender's external labels) with `prometheus_rule_grouping_labels: [site, instance]`: the same
    backend name at two sites is two alerts, and the two replicas of a site are one."""
    rules = render(tmp_path, '{"prometheus_rule_grouping_labels": ["site", "instance"]}')
    rule = alerts(rules)["GovernanceOverrideActive"][1]
    gov = 'job="brain-governance",dialect="contract",instance="backend-1:8000"'
    case = {
        "series": {
            f'sovereign_override_active{{{gov},site="eu-1",replica="prom-a"}}': "1x5",
            f'sovereign_override_active{{{gov},site="eu-1",replica="prom-b"}}': "1x5",
            f'sovereign_override_active{{{gov},site="us-1",replica="prom-a"}}': "1x5",
        }
    }
    firing = [{"instance": "backend-1:8000", "site": site} for site in ("eu-1", "us-1")]
    checks = [{"eval_time": "2m", "alertname": "GovernanceOverrideActive", "exp_alerts": [expected(rule, labels, "") for labels in firing]}]
    r = promtool_test(sorted(rules.glob("*.yml")), case, checks, [], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
