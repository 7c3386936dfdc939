"""The reference backend on a real systemd host: service, port, auth, restart survival."""

import json
import time

import pytest

testinfra_hosts = ["rb-backend"]
UNIT = "brain-backend.service"
# Runs on the host; reads the token from its root-only file so it never appears in argv or ps.
CALL = """
import json, sys, urllib.request, urllib.error
method, path, body, auth = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "auth"
req = urllib.request.Request("http://127.0.0.1:8000" + path, method=method, data=body.encode() or None)
if auth:
    req.add_header("Authorization", "Bearer " + open("/etc/brain-backend/token").read().strip())
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        print(json.dumps({"status": r.status, "body": json.load(r) if path.startswith("/api") else r.read().decode()}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "body": json.load(e)}))
"""


def call(host, method, path, body="", auth=True):
    out = host.check_output("python3 -c %s %s %s %s %s", CALL, method, path, body, "auth" if auth else "anon")
    return json.loads(out)


def journal(host):
    return host.run(f"journalctl -u {UNIT} --no-pager -n 40").stdout


@pytest.fixture
def running(host):
    svc = host.service(UNIT)
    assert svc.is_running and svc.is_enabled, journal(host)
    return svc


def test_listens_on_its_port(host, running):
    assert host.socket("tcp://0.0.0.0:8000").is_listening, journal(host)
    assert call(host, "GET", "/metrics/health", auth=False)["status"] == 200


def test_refuses_a_request_without_the_token(host, running):
    r = call(host, "GET", "/api/safe-mode/status", auth=False)
    assert r == {"status": 401, "body": {"error": "missing or invalid bearer token", "status": 401}}
    assert call(host, "GET", "/api/safe-mode/status")["status"] == 200


def test_token_is_not_on_the_command_line(host, running):
    token = host.file("/etc/brain-backend/token")
    assert (token.user, token.group, token.mode) == ("root", "brain-backend", 0o640)
    assert token.content_string.strip() not in host.check_output("ps -eo args")


def test_runs_unprivileged(host, running):
    pid = host.check_output(f"systemctl show -p MainPID --value {UNIT}")
    assert host.check_output(f"ps -o user= -p {pid}") == "brain-backend"


def test_seeded_history_is_exported(host, running):
    body = json.dumps({"start_time": "2000-01-01T00:00:00Z", "end_time": "2100-01-01T00:00:00Z", "limit": 1000})
    r = call(host, "POST", "/api/sovereign-mode/audit/export", body)
    assert r["status"] == 200 and r["body"]["event_count"] >= 500


def test_state_survives_a_restart(host, running):
    assert call(host, "POST", "/api/safe-mode/enable", json.dumps({"reason": "molecule restart test"}))["status"] == 200
    before = call(host, "GET", "/metrics", auth=False)["body"]
    seq = [line for line in before.splitlines() if line.startswith("brain_audit_last_seq")]
    host.check_output(f"systemctl restart {UNIT}")
    for _attempt in range(50):
        if host.run("curl -fsS http://127.0.0.1:8000/metrics/health").rc == 0:
            break
        time.sleep(0.2)
    status = call(host, "GET", "/api/safe-mode/status")
    assert status["body"]["enabled"] is True and status["body"]["reason"] == "molecule restart test", journal(host)
    after = call(host, "GET", "/metrics", auth=False)["body"]
    assert seq and seq[0] in after.splitlines()
    assert call(host, "POST", "/api/safe-mode/disable", json.dumps({"reason": "cleanup"}))["body"]["changed"] is True
