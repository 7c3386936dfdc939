"""The reference backend's brain-main profile on a real systemd host: real BRAiN main's shapes."""

import json
import time

import pytest

testinfra_hosts = ["rb-brain"]
UNIT = "brain-backend.service"
AUDIT = "/var/lib/brain-backend/storage/sovereign_mode_audit.jsonl"
# Runs on the host: logs in with the password from its root-only file (never in argv), then calls.
CALL = """
import json, sys, urllib.request, urllib.error
method, path, body, auth = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
def request(method, path, body, headers):
    req = urllib.request.Request("http://127.0.0.1:8000" + path, method=method, data=body.encode() or None, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read().decode()
            return {"status": r.status, "body": json.loads(raw) if r.headers.get_content_type() == "application/json" else raw}
    except urllib.error.HTTPError as e:
        return {"status": e.code, "body": json.load(e)}
headers = {"Content-Type": "application/json"}
if auth == "login":
    cred = {"email": "ops@example.org", "password": open("/etc/brain-backend/login-password").read().strip()}
    headers["Authorization"] = "Bearer " + request("POST", "/api/auth/login", json.dumps(cred), headers)["body"]["access_token"]
elif auth == "service":
    cred = {"client_id": open("/etc/brain-backend/client-id").read().strip(), "client_secret": open("/etc/brain-backend/client-secret").read().strip()}
    headers["Authorization"] = "Bearer " + request("POST", "/api/auth/service-token", json.dumps(cred), headers)["body"]["access_token"]
print(json.dumps(request(method, path, body, headers)))
"""


def call(host, method, path, body="", auth="login"):
    return json.loads(host.check_output("python3 -c %s %s %s %s %s", CALL, method, path, body, auth))


def journal(host):
    return host.run(f"journalctl -u {UNIT} --no-pager -n 40").stdout


@pytest.fixture
def running(host):
    svc = host.service(UNIT)
    assert svc.is_running and svc.is_enabled, journal(host)
    return svc


def restart(host):
    host.check_output(f"systemctl restart {UNIT}")
    for _attempt in range(50):
        if host.run("curl -fsS http://127.0.0.1:8000/api/health").rc == 0:
            return
        time.sleep(0.2)
    pytest.fail("no answer after a restart: " + journal(host))


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
    args = host.check_output("ps -eo args")
    for name in ("client-secret", "login-password", "jwt-key.pem"):
        f = host.file(f"/etc/brain-backend/{name}")
        assert (f.user, f.group, f.mode) == ("root", "brain-backend", 0o640)
        if name != "jwt-key.pem":
            assert f.content_string.strip() not in args
    pid = host.check_output(f"systemctl show -p MainPID --value {UNIT}")
    assert host.check_output(f"ps -o user= -p {pid}") == "brain-backend"
    assert host.file(AUDIT).user == "brain-backend"
