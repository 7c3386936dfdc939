"""The governance dashboard: the committed JSON is the generator's output, and its queries read only
series the rule pack defines (the Molecule scenario `prometheus` runs each against real Prometheus)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dashboards import governance
from dashboards.panels import queries, substitute

# tests/rules holds the linter; it is not a package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rules"))
import lint

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "roles/grafana_dashboards/files/brain-governance.json"
# Series Prometheus writes itself that the rule pack's documents do not list: ALERTS (the firing
# alerts) and the loaded rules per group (the firing-alert count is "no data" without the pack).
PROMETHEUS_OWN = {"ALERTS": "gauge", "prometheus_rule_group_rules": "gauge"}


@pytest.fixture(scope="module")
def dashboard():
    return json.loads(DASHBOARD.read_text())


def test_the_committed_json_is_the_generators_output():
    assert DASHBOARD.read_text() == governance.render(), "run python3 tests/dashboards/governance.py"


def test_the_check_mode_fails_on_a_stale_json(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "brain-governance.json"
    stale.write_text(governance.render().replace('"BRAiN governance"', '"edited by hand"'))
    monkeypatch.setattr(governance, "OUTPUT", stale)
    assert governance.main(["--check"]) == 1
    assert "differs from the generator's output" in capsys.readouterr().err
    stale.write_text(governance.render())
    assert governance.main(["--check"]) == 0


def test_the_generator_runs_as_a_script():
    r = subprocess.run([sys.executable, str(ROOT / "tests/dashboards/governance.py"), "--check"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr


def test_it_is_ready_for_provisioning(dashboard):
    """No numeric id (Grafana assigns one), a fixed uid, and the datasource as a variable: a
    provisioned dashboard cannot resolve import-time `${DS_...}` inputs."""
    assert "id" not in dashboard and "__inputs" not in dashboard
    assert dashboard["uid"] == "brain-governance"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert all(t["datasource"] == panel["datasource"] for t in panel["targets"]), panel["title"]


def test_every_section_of_the_issue_has_its_row(dashboard):
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Governance state", "Event timelines", "Security", "SLO and error budget", "Executor", "Evidence export", "Monitoring pipeline"]
    titles = {p["title"] for p in dashboard["panels"]}
    assert {"Override", "Override age", "Safe mode", "Mode", "Quarantined bundles", "Firing governance and security alerts"} <= titles


def test_every_panel_says_what_no_data_means(dashboard):
    """A stat without data would otherwise look like "all fine"."""
    for panel in dashboard["panels"]:
        if panel["type"] in ("stat", "table"):
            assert panel["fieldConfig"]["defaults"].get("noValue"), panel["title"]


def test_thresholds_come_from_the_prometheus_roles_defaults(dashboard):
    defaults = yaml.safe_load((ROOT / "roles/prometheus/defaults/main/rule_pack.yml").read_text())
    by_title = {p["title"]: p for p in dashboard["panels"]}

    def top(title):
        return by_title[title]["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"]

    assert top("Override age") == defaults["prometheus_brain_override_max_age"]
    assert top("Since the last good export") == defaults["prometheus_brain_evidence_max_age"]


@pytest.fixture(scope="module")
def recorded(default_rules):
    """The series the rule pack records, from the rule files the prometheus role renders."""
    return {r["record"] for p in default_rules.glob("*.yml") for g in yaml.safe_load(p.read_text())["groups"] for r in g["rules"] if "record" in r}


def test_every_query_reads_only_series_of_the_rule_pack(dashboard, recorded):
    """The contract's names (what every dialect is renamed into), the pack's recording rules and the
    documented self-monitoring and evidence metrics; counters only through rate or increase."""
    found = queries(dashboard, {"backend": "backend-1:8000", "datasource": "prometheus"})
    assert len(found) >= 30
    types = {**lint.contract(), **PROMETHEUS_OWN}
    for title, ref, expr in found:
        # A multi-value variable is a regex matcher: the linter's rule against regexes does not apply.
        problems = [p for p in lint.problems_in(expr, types, recorded) if not p.startswith("regex matcher")]
        assert problems == [], f"{title} {ref}: {expr}"


def test_the_linter_would_catch_an_invented_name(recorded):
    types = {**lint.contract(), **PROMETHEUS_OWN}
    assert lint.problems_in("max by (instance) (brain_override_age_seconds)", types, recorded) == ["brain_override_age_seconds is not in the contract"]


def test_an_unknown_variable_is_an_error_not_left_in_the_query():
    assert substitute('up{instance=~"$backend"}[$__range]', {"backend": "a:1", "__range": "1h"}) == 'up{instance=~"a:1"}[1h]'
    with pytest.raises(KeyError, match=r"\$site"):
        substitute('up{site=~"${site}"}', {})
