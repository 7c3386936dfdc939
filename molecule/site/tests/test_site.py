"""The site as site.yml deployed it (from the checkout, then again from the built collection with
the example inventory), and the Tabletop 001 drill that ran against it."""

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
monitor = testinfra.get_host("podman://monitor-1")
evidence = testinfra.get_host("podman://evidence-1")
RELEASE = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "release"
SECRETS = Path(os.environ["BRAIN_OA_WORK"]) / "site"
ROOT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
JOBS = {"alertmanager", "brain-evidence", "brain-governance", "brain-operations", "prometheus"}


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
    assert set(health.values()) == {"up"}, health


def test_the_rule_pack_is_loaded_and_healthy():
    groups = api("/api/v1/rules")["groups"]
    assert sorted(g["name"] for g in groups) == ["brain-contract", "brain-evidence", "brain-governance", "brain-meta", "brain-operations", "brain-security-slo"]
    assert {r["health"] for g in groups for r in g["rules"]} == {"ok"}


def test_the_first_export_reached_prometheus_through_node_exporter():
    [result] = query("brain_evidence_export_last_run_success")
    assert result["metric"]["instance"] == "evidence-1:9100" and result["value"][1] == "1"
    stale = [a for a in api("/api/v1/alerts")["alerts"] if a["labels"]["alertname"].startswith("BrainEvidence")]
    assert stale == []


def test_the_export_timer_is_scheduled():
    on_host.assert_active(evidence, "brain-evidence-export.timer")
    assert on_host.unit_property(evidence, "brain-evidence-export.timer", "NextElapseUSecRealtime").strip()


def test_the_first_export_verifies_with_the_key_auditors_got():
    out = evidence.check_output("brain-audit verify-log /var/lib/brain/evidence --public-key /etc/brain-evidence-export/signing-key.pub --color never")
    assert re.search(r"^PASS: [1-9]\d* checked, 0 failed$", out, re.M), out
    # The key fetched beside the example inventory is the host's.
    assert (RELEASE / "inventory/evidence-keys/evidence-1.pub").read_text() == evidence.file("/etc/brain-evidence-export/signing-key.pub").content_string


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
    for host in (backend, monitor, evidence):
        args = on_host.command_lines(host)
        assert not [name for name, token in secrets.items() if token in args], host.backend.hostname


@pytest.fixture(scope="module")
def drill():
    [path] = (RELEASE / "drill-reports").glob("tabletop-001-*Z.json")
    return path, json.loads(path.read_text())


def test_the_drill_passed_every_step(drill):
    report = drill[1]
    assert report["result"] == "pass" and report["failure"] is None
    assert [s["step"] for s in report["steps"]] == [
        "GovernanceOverrideActive firing in Prometheus",
        "GovernanceOverrideActive received by Alertmanager",
        "safe mode engaged",
        "evidence pack exported and verified",
        "override and safe mode cleared, alert resolved",
    ]
    assert [(a["source"], a["labels"]["alertname"], a["labels"]["instance"]) for a in report["alerts_seen"]] == [
        ("prometheus", "GovernanceOverrideActive", "backend-1:8000"),
        ("alertmanager", "GovernanceOverrideActive", "backend-1:8000"),
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
    path, report = drill
    pack_file = path.parent / report["evidence"]["file"]
    assert hashlib.sha256(pack_file.read_bytes()).hexdigest() == report["evidence"]["sha256"]
    pack = json.loads(pack_file.read_text())
    assert pack_hash(pack) == pack["content_hash"] == report["evidence"]["content_hash"]
    assert {e["event_type"] for e in pack["audit_events"]} >= {"sovereign.override_activated", "system.safe_mode_enabled"}


def test_the_drill_report_is_clean_markdown(drill):
    path = drill[0]
    md = path.with_suffix(".md")
    assert "# Tabletop 001 drill " in md.read_text() and ": PASS" in md.read_text()
    r = subprocess.run(["pymarkdown", "--config", str(ROOT / ".pymarkdown.json"), "scan", str(md)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_drill_left_the_backend_as_it_found_it():
    assert query("sovereign_override_active")[0]["value"][1] == "0"
    firing = [a for a in api("/api/v1/alerts")["alerts"] if a["labels"]["alertname"] == "GovernanceOverrideActive"]
    assert firing == []
    status = on_host.call(backend, "GET", "/api/safe-mode/status")
    assert status["status"] == 200 and status["body"]["enabled"] is False
