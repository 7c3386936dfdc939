"""The governance rule pack, rendered by the prometheus role and unit-tested with real promtool."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from helpers.render import render_rules as render

ROOT = Path(__file__).resolve().parents[2]
CASES = yaml.safe_load((ROOT / "tests/rules/cases.yml").read_text())
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


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    return render(tmp_path_factory.mktemp("default"))


def test_every_file_passes_promtool_check(rendered):
    files = sorted(str(p) for p in rendered.glob("*.yml"))
    assert len(files) == 5
    r = subprocess.run([PROMTOOL, "check", "rules", *files], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_alert_has_a_case_and_annotations(rendered):
    found = alerts(rendered)
    assert sorted(found) == sorted(c["alert"] for c in CASES)
    for name, (_file, rule) in found.items():
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"]), name
        assert rule["labels"]["severity"] in {"critical", "warning", "none"}, name
        assert rule["annotations"]["runbook_url"].endswith(f"/alerting-policy.md#{name.lower()}")
    assert all(c["silent_at"] for c in CASES if c["alert"] != "Watchdog")


@pytest.mark.parametrize("case", CASES, ids=[c["alert"] for c in CASES])
def test_alert_fires_when_it_should_and_only_then(rendered, case, tmp_path):
    file, rule = alerts(rendered)[case["alert"]]
    labels = {**rule["labels"], **case["labels"]}
    expected = {k: expand(v, labels, case.get("value", "")) for k, v in rule["annotations"].items()}
    checks = [{"eval_time": t, "alertname": case["alert"], "exp_alerts": []} for t in case["silent_at"]]
    checks.append({"eval_time": case["fires_at"], "alertname": case["alert"], "exp_alerts": [{"exp_labels": labels, "exp_annotations": expected}]})
    test = {
        "rule_files": [str(rendered / file)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": case.get("interval", "1m"),
                "input_series": [{"series": s, "values": str(v)} for s, v in case["series"].items()],
                "alert_rule_test": checks,
            }
        ],
    }
    path = tmp_path / "test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    r = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


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


def test_a_removed_group_leaves_no_stale_file(tmp_path):
    out = render(tmp_path)
    (out / "old-group.yml").write_text("groups: []\n")
    render(tmp_path)
    assert sorted(p.name for p in out.iterdir()) == [
        "brain-evidence.yml",
        "brain-governance.yml",
        "brain-meta.yml",
        "brain-operations.yml",
        "brain-security-slo.yml",
    ]


def test_broken_promql_fails_with_promtools_message(tmp_path):
    bad = '{"prometheus_rule_groups_extra": [{"name": "broken", "rules": [{"alert": "Broken", "expr": "sum(rate(x[5m]"}]}]}'
    with pytest.raises(AssertionError) as err:
        render(tmp_path, bad)
    assert "unclosed left parenthesis" in str(err.value)
    assert not (tmp_path / "rules" / "broken.yml").exists()


@pytest.fixture(scope="module", autouse=True)
def _need_promtool():
    if not PROMTOOL:
        pytest.fail("promtool is required (apt install prometheus); run tests/harness/bootstrap.sh")
