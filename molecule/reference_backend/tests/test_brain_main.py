"""The reference backend's brain-main profile on a real systemd host: real BRAiN main's shapes."""

import json

import pytest
from helpers import on_host

UNIT = "brain-backend.service"
testinfra_hosts = ["rb-brain"]
AUDIT = "/var/lib/brain-backend/storage/sovereign_mode_audit.jsonl"
LOGIN = "ops@example.org"  # reference_backend_login_email in molecule.yml


def call(host, method, path, body="", auth="login"):
    return on_host.call(host, method, path, body, auth, LOGIN)


def restart(host):
    host.check_output(f"systemctl restart {UNIT}")
    if not on_host.answers(host, "http://127.0.0.1:8000/api/health"):
        pytest.fail("no answer after a restart: " + on_host.journal(host, UNIT))


def test_answers_as_real_main(host, running):
    assert call(host, "GET", "/api/health", auth="none")["body"]["status"] == "ok"
    assert call(host, "GET", "/api/sovereign-mode/metrics", auth="none") == {"status": 404, "body": {"detail": "Not Found"}}
    assert call(host, "GET", "/api/safe-mode/status", auth="none") == {"status": 401, "body": {"detail": "Authentication required"}}
    assert 'brain_mode_current{mode="online"} 0' in call(host, "GET", "/metrics", auth="none")["body"].splitlines()


def test_service_token_has_no_role(host, running):
    r = call(host, "GET", "/api/safe-mode/status", auth="service")
    assert r == {"status": 403, "body": {"detail": "Insufficient permissions. Required role: one of admin, operator, SYSTEM_ADMIN"}}


def test_safe_mode_lives_in_process_memory_and_the_audit_file_stays(host, running):
    r = call(host, "POST", "/api/safe-mode/enable", json.dumps({"reason": "molecule freeze"}))
    assert r["status"] == 200 and r["body"]["was_enabled"] is True and r["body"]["safe_mode_enabled"] is True, r
    lines = host.file(AUDIT).content_string.splitlines()
    assert len(lines) >= 501 and json.loads(lines[-1])["event_type"] == "system.safe_mode_enabled"
    restart(host)
    assert call(host, "GET", "/api/safe-mode/status")["body"]["safe_mode_enabled"] is False
    assert host.file(AUDIT).content_string.splitlines()[: len(lines)] == lines


def test_secrets_stay_in_files(host, running):
    args = on_host.command_lines(host)
    for name in ("client-secret", "login-password", "jwt-key.pem"):
        path = f"/etc/brain-backend/{name}"
        assert on_host.ownership(host, path) == ("root", "brain-backend", 0o640)
        if name != "jwt-key.pem":
            assert host.file(path).content_string.strip() not in args
    assert on_host.main_user(host, UNIT) == "brain-backend"
    assert host.file(AUDIT).user == "brain-backend"
