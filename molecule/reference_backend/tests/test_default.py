"""The reference backend on a real systemd host: service, port, auth, restart survival."""

import json

from helpers import on_host

UNIT = "brain-backend.service"
testinfra_hosts = ["rb-backend"]


def call(host, method, path, body="", auth=True):
    return on_host.call(host, method, path, body, "token" if auth else "none")


def test_listens_on_its_port(host, running):
    assert host.socket("tcp://0.0.0.0:8000").is_listening, on_host.journal(host, UNIT)
    assert call(host, "GET", "/metrics/health", auth=False)["status"] == 200


def test_refuses_a_request_without_the_token(host, running):
    r = call(host, "GET", "/api/safe-mode/status", auth=False)
    assert r == {"status": 401, "body": {"error": "missing or invalid bearer token", "status": 401}}
    assert call(host, "GET", "/api/safe-mode/status")["status"] == 200


def test_token_is_not_on_the_command_line(host, running):
    assert on_host.ownership(host, "/etc/brain-backend/token") == ("root", "brain-backend", 0o640)
    assert host.file("/etc/brain-backend/token").content_string.strip() not in on_host.command_lines(host)


def test_runs_unprivileged(host, running):
    assert on_host.main_user(host, UNIT) == "brain-backend"


def test_seeded_history_is_exported(host, running):
    body = json.dumps({"start_time": "2000-01-01T00:00:00Z", "end_time": "2100-01-01T00:00:00Z", "limit": 1000})
    r = call(host, "POST", "/api/sovereign-mode/audit/export", body)
    assert r["status"] == 200 and r["body"]["event_count"] >= 500


def test_state_survives_a_restart(host, running):
    assert call(host, "POST", "/api/safe-mode/enable", json.dumps({"reason": "molecule restart test"}))["status"] == 200
    before = call(host, "GET", "/metrics", auth=False)["body"]
    seq = [line for line in before.splitlines() if line.startswith("brain_audit_last_seq")]
    host.check_output(f"systemctl restart {UNIT}")
    on_host.answers(host, "http://127.0.0.1:8000/metrics/health")
    status = call(host, "GET", "/api/safe-mode/status")
    assert status["body"]["enabled"] is True and status["body"]["reason"] == "molecule restart test", on_host.journal(host, UNIT)
    after = call(host, "GET", "/metrics", auth=False)["body"]
    assert seq and seq[0] in after.splitlines()
    assert call(host, "POST", "/api/safe-mode/disable", json.dumps({"reason": "cleanup"}))["body"]["changed"] is True
