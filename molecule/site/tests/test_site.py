"""The site as site.yml deployed it (from the checkout, then again from the built collection with
the example inventory), and the Tabletop 001 drills that ran against it: backend-1 speaks this
collection's contract, backend-2 real BRAiN main (the reference backend's brain_main profile)."""

import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import testinfra
import yaml
from helpers import on_host
from helpers.evidence import pack_hash

backend = testinfra.get_host("podman://backend-1")
main = testinfra.get_host("podman://backend-2")
monitor = testinfra.get_host("podman://monitor-1")
evidence = testinfra.get_host("podman://evidence-1")
RELEASE = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "release"
SECRETS = Path(os.environ["BRAIN_OA_WORK"]) / "site"
ROOT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
JOBS = {"alertmanager", "brain-evidence", "brain-governance", "brain-operations", "prometheus"}
MAIN_AUDIT = "/var/lib/brain-backend/storage/sovereign_mode_audit.jsonl"
MAIN_LOGIN = "ops@example.org"  # the brain_main user of prepare.yml


def api(path):
    return on_host.prometheus_api(monitor, path)["data"]


def query(expr):
    return api(f"/api/v1/query?query={expr}")["result"]


def test_prometheus_scrapes_every_group_of_the_inventory():
    # Right after a (re)deploy a target may still wait for its first scrape (30 s).
    for _attempt in range(40):
        targets = api("/api/v1/targets?state=active")["activeTargets"]
        health = {(t["labels"]["job"], t["labels"]["instance"]): t["health"] for t in targets}
        if "unknown" not in health.values():
            break
        time.sleep(1)
    assert {key[0] for key in health} == JOBS
    assert health[("brain-governance", "backend-1:8000")] == "up"
    assert health[("brain-evidence", "evidence-1:9100")] == "up"
    assert health[("brain-evidence", "backend-2:9100")] == "up"
    assert set(health.values()) == {"up"}, health


def test_each_backend_is_scraped_in_the_dialect_backend_info_found():
    """Nothing in the inventory names a dialect: backend_info told them apart at deploy time."""
    targets = api("/api/v1/targets?state=active")["activeTargets"]
    backends = [t for t in targets if t["labels"]["instance"].endswith(":8000")]
    scraped = {(t["labels"]["job"], t["labels"]["instance"], t["labels"]["dialect"], urlsplit(t["scrapeUrl"]).path) for t in backends}
    assert scraped == {
        ("brain-governance", "backend-1:8000", "contract", "/api/sovereign-mode/metrics"),
        ("brain-operations", "backend-1:8000", "contract", "/metrics"),
        ("brain-operations", "backend-2:8000", "brain_main", "/metrics"),  # main has no governance endpoint
    }
    # Main's series reach the rule pack under the normalised names, and its contract is complete.
    assert query('brain_override_active{instance="backend-2:8000"}')[0]["value"][1] == "0"
    assert query('brain:contract_series_missing{instance="backend-2:8000"}') == []


def test_the_rule_pack_is_loaded_and_healthy():
    groups = api("/api/v1/rules")["groups"]
    assert sorted(g["name"] for g in groups) == ["brain-contract", "brain-evidence", "brain-governance", "brain-meta", "brain-operations", "brain-security-slo"]
    assert {r["health"] for g in groups for r in g["rules"]} == {"ok"}


def test_the_first_export_reached_prometheus_through_node_exporter():
    results = query("brain_evidence_export_last_run_success")
    assert {(r["metric"]["instance"], r["value"][1]) for r in results} == {("evidence-1:9100", "1"), ("backend-2:9100", "1")}
    stale = [a for a in api("/api/v1/alerts")["alerts"] if a["labels"]["alertname"].startswith("BrainEvidence")]
    assert stale == []


@pytest.mark.parametrize("host", [evidence, main], ids=["evidence-1", "backend-2"])
def test_the_export_timer_is_scheduled(host):
    on_host.assert_active(host, "brain-evidence-export.timer")
    assert on_host.unit_property(host, "brain-evidence-export.timer", "NextElapseUSecRealtime").strip()


@pytest.mark.parametrize("host", [evidence, main], ids=["evidence-1", "backend-2"])
def test_the_first_export_verifies_with_the_key_auditors_got(host):
    out = host.check_output("brain-audit verify-log /var/lib/brain/evidence --public-key /etc/brain-evidence-export/signing-key.pub --color never")
    assert re.search(r"^PASS: [1-9]\d* checked, 0 failed$", out, re.M), out
    # The key fetched beside the example inventory is the host's.
    name = host.backend.hostname
    assert (RELEASE / f"inventory/evidence-keys/{name}.pub").read_text() == host.file("/etc/brain-evidence-export/signing-key.pub").content_string


def test_backend_2s_evidence_is_its_own_audit_file_read_without_credentials():
    """Real main has no audit export: backend-2 exports yesterday's lines of its audit JSONL, every one."""
    unit = main.file("/etc/systemd/system/brain-evidence-export.service").content_string
    assert f"--audit-file {MAIN_AUDIT}" in unit and "--api-url" not in unit
    assert not main.file("/etc/brain-evidence-export/env").exists
    [manifest] = [json.loads(main.file(p).content_string) for p in main.check_output("ls /var/lib/brain/evidence/manifest-*.json").split()]
    day = manifest["date"]
    written = [json.loads(line) for line in main.file(MAIN_AUDIT).content_string.splitlines()]
    assert manifest["event_count"] == len([e for e in written if e["timestamp"].startswith(day)]) > 0


def test_every_alert_links_to_a_deployed_runbook_section():
    rules = [r for g in api("/api/v1/rules?type=alert")["groups"] for r in g["rules"]]
    for rule in rules:
        url = urlsplit(rule["annotations"]["runbook_url"])
        assert url.scheme == "file", rule["name"]
        page = monitor.file(url.path)
        assert page.exists, rule["name"]
        assert f"### {rule['name']}\n" in page.content_string


def test_no_token_on_a_command_line():
    secrets = yaml.safe_load(
        subprocess.run(
            ["ansible-vault", "view", "--vault-password-file", str(SECRETS / "vault-password"), str(SECRETS / "vault.yml")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    for host in (backend, main, monitor, evidence):
        args = on_host.command_lines(host)
        assert not [name for name, token in secrets.items() if token in args], host.backend.hostname


# The drill of each backend: backend-1 by default, backend-2 with -e drill_backend=backend-2.
@pytest.fixture(scope="module", params=[("drill-reports", "backend-1"), ("drill-reports-backend-2", "backend-2")], ids=["backend-1", "backend-2"])
def drill(request):
    directory, name = request.param
    [path] = (RELEASE / directory).glob("tabletop-001-*Z.json")
    return path, json.loads(path.read_text()), name


def test_the_drill_passed_every_step(drill):
    report, name = drill[1], drill[2]
    assert report["result"] == "pass" and report["failure"] is None
    assert report["backend"] == name and report["instance"] == f"{name}:8000"
    assert [s["step"] for s in report["steps"]] == [
        "GovernanceOverrideActive firing in Prometheus",
        "GovernanceOverrideActive received by Alertmanager",
        "safe mode engaged",
        "evidence pack exported and verified",
        "override and safe mode cleared, alert resolved",
    ]
    assert [(a["source"], a["labels"]["alertname"], a["labels"]["instance"]) for a in report["alerts_seen"]] == [
        ("prometheus", "GovernanceOverrideActive", f"{name}:8000"),
        ("alertmanager", "GovernanceOverrideActive", f"{name}:8000"),
    ]


def test_the_drill_detection_is_within_what_the_deployed_settings_allow(drill):
    report = drill[1]
    detection = report["detection"]
    deployed = detection["deployed"]
    # GovernanceOverrideActive has no `for:` (keep_firing_for covers a missed scrape): one scrape plus two evaluations.
    assert deployed == {"for_seconds": 0, "evaluation_interval_seconds": 30, "scrape_interval_seconds": 30, "expected_worst_case_seconds": 90}
    # Never before the alert's `for:` has passed; never later than the worst case plus one poll and the calls' latency.
    assert deployed["for_seconds"] <= detection["seconds"] <= deployed["expected_worst_case_seconds"] + detection["poll_interval_seconds"] + 10
    assert detection["met"] and detection["target_seconds"] == 900


def test_the_drill_evidence_pack_is_the_one_reported_and_hashes_right(drill):
    path, report, name = drill
    pack_file = path.parent / report["evidence"]["file"]
    assert hashlib.sha256(pack_file.read_bytes()).hexdigest() == report["evidence"]["sha256"]
    pack = json.loads(pack_file.read_text())
    if name == "backend-1":
        assert pack_hash(pack) == pack["content_hash"] == report["evidence"]["content_hash"]
        assert {e["event_type"] for e in pack["audit_events"]} >= {"sovereign.override_activated", "system.safe_mode_enabled"}
    else:  # main's own pack: its hash rule, and no override audit (main has none), only safe mode
        assert pack["content_hash"] == report["evidence"]["content_hash"] and "audit_summary" in pack
        drill_events = [e for e in pack["audit_events"] if e["reason"] == f"Tabletop 001 drill {report['id']}"]
        assert [e["event_type"] for e in drill_events] == ["system.safe_mode_enabled"]


def test_the_drill_report_is_clean_markdown(drill):
    path = drill[0]
    md = path.with_suffix(".md")
    assert "# Tabletop 001 drill " in md.read_text() and ": PASS" in md.read_text()
    r = subprocess.run(["pymarkdown", "--config", str(ROOT / ".pymarkdown.json"), "scan", str(md)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_drills_left_the_backends_as_they_found_them():
    assert query("sovereign_override_active")[0]["value"][1] == "0"
    assert query('brain_override_active{instance="backend-2:8000"}')[0]["value"][1] == "0"
    firing = [a for a in api("/api/v1/alerts")["alerts"] if a["labels"]["alertname"] == "GovernanceOverrideActive"]
    assert firing == []
    status = on_host.call(backend, "GET", "/api/safe-mode/status")
    assert status["status"] == 200 and status["body"]["enabled"] is False
    status = on_host.call(main, "GET", "/api/safe-mode/status", auth="login", login=MAIN_LOGIN)
    assert status["status"] == 200 and status["body"]["safe_mode_enabled"] is False


def test_safe_mode_on_backend_2_was_set_and_cleared_in_its_own_dialect():
    """The drill and the incident guard each enabled and disabled it once on backend-2; main audits
    each change (not a repeated request) in its audit file."""
    events = [json.loads(line) for line in main.file(MAIN_AUDIT).content_string.splitlines()]
    changes = [(e["event_type"], e["reason"]) for e in events if e["event_type"].startswith("system.safe_mode_")]
    assert changes[-2:] == [("system.safe_mode_enabled", "INC-drill-guard"), ("system.safe_mode_disabled", "INC-drill-guard")]
    assert [c[0] for c in changes].count("system.safe_mode_enabled") == 2  # the drill's and the guard's, not the repeated freeze


def test_the_runbooks_audit_queries_call_the_backend_that_has_the_audit_export():
    page = monitor.file("/usr/share/doc/brain-ops-assurance/runbooks/operations.md").content_string
    assert "- Backend API: <http://backend-1:8000>, the one backend the audit queries below call" in page
    assert "http://backend-1:8000/api/sovereign-mode/audit/export" in page and "backend-2:8000" not in page


def test_the_other_alerts_main_allows_fire_for_backend_2():
    """Beyond the drill's override: what main's /metrics carries (quarantines, executor failures, the
    mode and its switches) reaches the rule pack in its dialect and fires for backend-2."""

    def drill(action, body="{}"):
        r = on_host.call(main, "POST", f"/api/drill/{action}", body, auth="login", login=MAIN_LOGIN)
        assert r["status"] == 200, r

    expected = {"GovernanceBundleQuarantined", "BrainExecutorFailures", "GovernanceModeQuarantine", "BrainModeFlapping"}
    try:
        drill("bundle/quarantine")
        drill("executor/run", '{"outcome": "failure"}')
        for mode in ("offline", "online", "offline", "quarantine"):  # four switches: more than the three an hour allows
            drill("mode/switch", json.dumps({"mode": mode}))
        firing = set()
        for _attempt in range(120):  # one scrape and an evaluation or two: 90 s with the deployed settings
            alerts = api("/api/v1/alerts")["alerts"]
            firing = {a["labels"]["alertname"] for a in alerts if a["labels"].get("instance") == "backend-2:8000" and a["state"] == "firing"}
            if expected <= firing:
                break
            time.sleep(2)
        assert expected <= firing, firing
    finally:
        drill("mode/switch", '{"mode": "online"}')
