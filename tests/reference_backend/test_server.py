"""The reference backend, exercised over real HTTP against a real server process."""

import hashlib
import http.client
import json
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from helpers.backend import ADMIN, ALL_TIME, GENESIS, READER, SERVER, Backend


@pytest.fixture
def backend(tmp_path):
    b = Backend(tmp_path, "--enable-drills")
    yield b
    b.stop()


def verify_chain(events, prev=GENESIS):
    """An independent implementation of the documented chain: h_N = SHA256(canonical(e_N - hash) || h_{N-1})."""
    for e in events:
        assert e["prev_hash"] == prev
        body = {k: v for k, v in e.items() if k != "hash"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert e["hash"] == hashlib.sha256(canonical + prev.encode()).hexdigest()
        prev = e["hash"]
    return prev


# ---- metrics -----------------------------------------------------------------------------------
SOVEREIGN = {
    "sovereign_override_active",
    "sovereign_override_activated_timestamp_seconds",
    "sovereign_override_activations_total",
    "sovereign_bundles_quarantined",
    "sovereign_axe_trust_violations_total",
    "sovereign_preflight_failures_total",
    'sovereign_mode_info{mode="ONLINE"}',
}
BRAIN = {
    "brain_mode_current",
    "brain_mode_switch_total",
    "brain_override_active",
    "brain_quarantine_total",
    "brain_executor_failures_total",
    "brain_last_success_timestamp",
    "brain_safe_mode_enabled",
    "brain_authn_failures_total",
    "brain_authz_denials_total",
    "brain_policy_violations_total",
    "brain_trace_completeness_ratio",
    "brain_executions_blocked_total",
    "brain_decisions_total",
    "brain_decisions_untraced_total",
    "brain_audit_last_seq",
}


@pytest.mark.parametrize("path,names", [("/api/sovereign-mode/metrics", SOVEREIGN), ("/metrics", BRAIN)])
def test_metrics_expose_the_contract_and_pass_promtool(backend, path, names):
    backend.ok("GET", "/api/safe-mode/status")  # so the latency histogram has a series
    assert names <= set(backend.metrics(path))
    text = requests.get(backend.url(path), timeout=10)
    assert text.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    lint = subprocess.run(["promtool", "check", "metrics"], input=text.text, capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_latency_histogram_counts_requests(backend):
    for _attempt in range(3):
        backend.ok("GET", "/api/safe-mode/status")
    m = backend.metrics()
    assert m['brain_request_duration_seconds_count{route="/api/safe-mode/status"}'] == 3
    assert m['brain_request_duration_seconds_bucket{route="/api/safe-mode/status",le="+Inf"}'] == 3


def test_health_is_public(backend):
    assert requests.get(backend.url("/metrics/health"), timeout=5).json() == {"status": "ok"}


# ---- auth --------------------------------------------------------------------------------------
API = [
    ("GET", "/api/safe-mode/status"),
    ("POST", "/api/safe-mode/enable"),
    ("POST", "/api/safe-mode/disable"),
    ("POST", "/api/sovereign-mode/audit/export"),
    ("POST", "/api/sovereign-mode/evidence/export"),
    ("POST", "/api/sovereign-mode/evidence/verify"),
    ("POST", "/api/drill/override/activate"),
]


@pytest.mark.parametrize("method,path", API)
@pytest.mark.parametrize("token", [None, "wrong", ""])
def test_api_refuses_a_missing_or_wrong_token(backend, method, path, token):
    r = backend.call(method, path, {"reason": "x"}, token=token)
    assert r.status_code == 401
    assert r.json() == {"error": "missing or invalid bearer token", "status": 401}
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_authn_failures_and_authz_denials_are_counted(backend):
    backend.call("GET", "/api/safe-mode/status", token="nope")
    r = backend.call("POST", "/api/safe-mode/enable", {"reason": "x"}, token=READER)
    assert r.status_code == 403
    assert r.json()["error"] == "the reader token may not call this endpoint"
    assert backend.ok("GET", "/api/safe-mode/status", token=READER)["enabled"] is False
    m = backend.metrics()
    assert (m["brain_authn_failures_total"], m["brain_authz_denials_total"]) == (1, 1)


def test_metrics_are_open_unless_protected(tmp_path):
    b = Backend(tmp_path, "--protect-metrics")
    try:
        for path in ("/metrics", "/api/sovereign-mode/metrics"):
            assert b.call("GET", path, token=None).status_code == 401
            assert b.call("GET", path, token=READER).status_code == 200
    finally:
        b.stop()


def test_without_a_token_file_the_api_is_open(tmp_path):
    b = Backend(tmp_path, tokens=False)
    try:
        r = b.call("POST", "/api/safe-mode/enable", {"reason": "open"}, token=None)
        assert r.json()["changed_by"] == "api:admin"
    finally:
        b.stop()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--token-file", "/nonexistent/token"], "cannot read token file /nonexistent/token"),
        (["--read-token-file", "/tmp/x"], "--read-token-file needs --token-file"),
        (["--seed-events", "-1"], "--seed-events must be >= 0"),
        (["--seed-end", "yesterday"], "--seed-end is not an ISO 8601 time"),
        (["--seed-end", "2020-01-01T00:00:00"], "--seed-end must carry a time zone"),
        (["--seed-end", "2999-01-01T00:00:00Z"], "not be in the future"),
    ],
)
def test_bad_start_options_fail_clearly(tmp_path, args, message):
    r = subprocess.run([sys.executable, SERVER, "--state-dir", str(tmp_path / "s"), *args], capture_output=True, text=True, check=False)
    assert r.returncode != 0
    assert message in r.stderr


# ---- safe mode ---------------------------------------------------------------------------------
def test_safe_mode_is_idempotent_and_each_change_audited(backend):
    first = backend.ok("POST", "/api/safe-mode/enable", {"reason": "INC-42 freeze"})
    assert first["changed"] is True and first["enabled"] is True and first["reason"] == "INC-42 freeze"
    again = backend.ok("POST", "/api/safe-mode/enable", {"reason": "again"})
    assert again["changed"] is False and again["reason"] == "INC-42 freeze"
    status = backend.ok("GET", "/api/safe-mode/status")
    assert status["enabled"] is True and status["changed_by"] == "api:admin"
    assert backend.metrics()["brain_safe_mode_enabled"] == 1
    off = backend.ok("POST", "/api/safe-mode/disable", {"reason": "INC-42 resolved"})
    assert off["changed"] is True and off["enabled"] is False
    assert backend.ok("POST", "/api/safe-mode/disable", {"reason": "x"})["changed"] is False
    events = backend.events(event_types=["system.safe_mode_enabled", "system.safe_mode_disabled"])
    assert [(e["event_type"], e["details"]["reason"]) for e in events] == [
        ("system.safe_mode_enabled", "INC-42 freeze"),
        ("system.safe_mode_disabled", "INC-42 resolved"),
    ]


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": 5}, {"reason": "x" * 501}])
def test_safe_mode_needs_a_reason(backend, body):
    r = backend.call("POST", "/api/safe-mode/enable", body)
    assert r.status_code == 400
    assert "reason" in r.json()["error"]
    assert backend.ok("GET", "/api/safe-mode/status")["enabled"] is False


def test_brain_safe_mode_env_enables_at_start(tmp_path):
    b = Backend(tmp_path, env={"BRAIN_SAFE_MODE": "true"})
    try:
        status = b.ok("GET", "/api/safe-mode/status")
        assert status["enabled"] is True and status["source"] == "env"
        assert len(b.events(event_types=["system.safe_mode_enabled"])) == 1
        b.restart()  # still set: no second event
        assert len(b.events(event_types=["system.safe_mode_enabled"])) == 1
    finally:
        b.stop()


# ---- audit export ------------------------------------------------------------------------------
def test_audit_export_hash_covers_exactly_the_content(backend):
    backend.ok("POST", "/api/drill/preflight/failure", {})
    r = backend.ok("POST", "/api/sovereign-mode/audit/export", ALL_TIME)
    assert r["format"] == "jsonl" and r["event_count"] == 1 and r["has_more"] is False and r["next_cursor"] is None
    assert r["content_hash"] == hashlib.sha256(r["content"].encode()).hexdigest()
    assert set(r) >= {"export_id", "event_count", "format", "content_hash"}


def test_audit_export_pages_by_cursor_and_chains_across_pages(tmp_path):
    b = Backend(tmp_path, "--seed-events", "2500", "--seed-days", "3", "--seed", "7")
    try:
        seen, cursor, prev, pages = [], 0, GENESIS, 0
        while True:
            r = b.call("POST", "/api/sovereign-mode/audit/export", {**ALL_TIME, "cursor": cursor, "limit": 1000}, headers={"Accept": "application/x-ndjson"})
            assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-ndjson"
            assert r.headers["X-Brain-Content-Hash"] == hashlib.sha256(r.content).hexdigest()
            events = [json.loads(line) for line in r.content.splitlines()]
            assert int(r.headers["X-Brain-Event-Count"]) == len(events)
            prev = verify_chain(events, prev)
            seen += [e["seq"] for e in events]
            pages += 1
            if r.headers["X-Brain-Has-More"] == "false":
                assert r.headers["X-Brain-Next-Cursor"] == ""
                break
            cursor = int(r.headers["X-Brain-Next-Cursor"])
        assert seen == list(range(1, 2501)) and pages == 3
    finally:
        b.stop()


def test_audit_export_by_day_is_a_contiguous_chain_segment(tmp_path):
    b = Backend(tmp_path, "--seed-events", "3000", "--seed-days", "3", "--seed", "1")
    try:
        day = (datetime.now(UTC) - timedelta(days=1)).date()
        window = {"start_time": f"{day}T00:00:00Z", "end_time": f"{day + timedelta(days=1)}T00:00:00Z"}
        events = b.events(**window)
        assert 900 < len(events) < 1100
        assert all(e["timestamp"].startswith(str(day)) for e in events)
        assert [e["seq"] for e in events] == list(range(events[0]["seq"], events[-1]["seq"] + 1))
        previous = b.events(end_time=window["start_time"])
        verify_chain(events, previous[-1]["hash"])
    finally:
        b.stop()


def test_audit_export_filters_types_and_can_omit_hashes(backend):
    backend.ok("POST", "/api/drill/preflight/failure", {})
    backend.ok("POST", "/api/drill/trust/violation", {"bundle_id": "b-1"})
    only = backend.events(event_types=["axe.trust_violation"], include_hash=False)
    assert [e["event_type"] for e in only] == ["axe.trust_violation"]
    assert "hash" not in only[0] and "prev_hash" not in only[0] and only[0]["details"] == {"bundle_id": "b-1"}


@pytest.mark.parametrize(
    "body,message",
    [
        ({}, "start_time must be an ISO 8601 string"),
        ({"start_time": "yesterday", "end_time": "2100-01-01T00:00:00Z"}, "start_time is not an ISO 8601 timestamp"),
        ({"start_time": "2026-01-01T00:00:00", "end_time": "2100-01-01T00:00:00Z"}, "start_time must carry a time zone"),
        ({"start_time": "2026-01-02T00:00:00Z", "end_time": "2026-01-01T00:00:00Z"}, "start_time must be before end_time"),
        ({**ALL_TIME, "limit": 0}, "limit must be an integer from 1 to 100000"),
        ({**ALL_TIME, "limit": 100001}, "limit must be an integer from 1 to 100000"),
        ({**ALL_TIME, "limit": "10"}, "limit must be an integer"),
        ({**ALL_TIME, "cursor": -1}, "cursor must be a non-negative integer"),
        ({**ALL_TIME, "cursor": True}, "cursor must be a non-negative integer"),
        ({**ALL_TIME, "event_types": "a"}, "event_types must be a list"),
        ({**ALL_TIME, "event_types": [1]}, "event_types must be a list"),
        ({**ALL_TIME, "include_hash": "yes"}, "include_hash must be a boolean"),
    ],
)
def test_audit_export_rejects_bad_input(backend, body, message):
    r = backend.call("POST", "/api/sovereign-mode/audit/export", body)
    assert r.status_code == 400
    assert message in r.json()["error"]


# ---- evidence packs ----------------------------------------------------------------------------
def test_evidence_scopes_contents_and_determinism(tmp_path):
    b = Backend(tmp_path, "--enable-drills", "--seed-events", "300", "--seed", "3")
    try:
        b.ok("POST", "/api/drill/mode/switch", {"mode": "SOVEREIGN"})
        b.ok("POST", "/api/drill/bundle/quarantine", {"bundle_id": "b-9", "reason": "bad signature"})
        audit = b.ok("POST", "/api/sovereign-mode/evidence/export", {"scope": "AUDIT"})
        assert len(audit["audit_events"]) == 100 and audit["audit_events"][0]["seq"] == 1
        assert audit["event_summary"]["total"] == 302
        assert audit["mode_history"][0]["from"] == "ONLINE" and audit["mode_history"][0]["to"] == "SOVEREIGN"
        assert audit["bundle_trust_summary"]["currently_quarantined"] == ["b-9"]
        assert audit["governance_config"]["mode"] == "SOVEREIGN"
        investor = b.ok("POST", "/api/sovereign-mode/evidence/export", {"scope": "investor"})
        assert "audit_events" not in investor and investor["executor_summary"]["succeeded"] > 0
        internal = b.ok("POST", "/api/sovereign-mode/evidence/export", {"scope": "INTERNAL", **ALL_TIME})
        assert len(internal["audit_events"]) == 302
        verify_chain(internal["audit_events"])
        again = b.ok("POST", "/api/sovereign-mode/evidence/export", {"scope": "INTERNAL", **ALL_TIME})
        assert again == internal
        body = {k: v for k, v in internal.items() if k != "content_hash"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert internal["content_hash"] == hashlib.sha256(canonical).hexdigest()
    finally:
        b.stop()


def test_evidence_verify_detects_any_change(backend):
    pack = backend.ok("POST", "/api/sovereign-mode/evidence/export", {"scope": "AUDIT"})
    assert backend.ok("POST", "/api/sovereign-mode/evidence/verify", pack)["valid"] is True
    pack["executor_summary"]["failed"] += 1
    result = backend.ok("POST", "/api/sovereign-mode/evidence/verify", pack)
    assert result["valid"] is False and result["computed_hash"] != result["content_hash"]


@pytest.mark.parametrize(
    "path,body,message",
    [
        ("/api/sovereign-mode/evidence/export", {}, "scope must be one of AUDIT, INVESTOR, INTERNAL"),
        ("/api/sovereign-mode/evidence/export", {"scope": "ALL"}, "scope must be one of"),
        ("/api/sovereign-mode/evidence/export", {"scope": "AUDIT", "start_time": "x"}, "start_time is not an ISO 8601"),
        ("/api/sovereign-mode/evidence/verify", {"scope": "AUDIT"}, "carrying its content_hash"),
    ],
)
def test_evidence_rejects_bad_input(backend, path, body, message):
    r = backend.call("POST", path, body)
    assert r.status_code == 400 and message in r.json()["error"]


# ---- drills ------------------------------------------------------------------------------------
DRILLS = [
    ("override/activate", {"reason": "owner"}, "sovereign.override_activated", "sovereign_override_active", 1),
    ("bundle/quarantine", {"bundle_id": "b-1", "reason": "sig"}, "bundle.quarantined", "sovereign_bundles_quarantined", 1),
    ("preflight/failure", {"check": "egress"}, "preflight.failed", "sovereign_preflight_failures_total", 1),
    ("trust/violation", {"bundle_id": "b-2"}, "axe.trust_violation", "sovereign_axe_trust_violations_total", 1),
    ("executor/run", {"outcome": "failure"}, "executor.run_failed", "brain_executor_failures_total", 1),
    ("policy/violation", {"policy": "egress"}, "policy.violation", "brain_policy_violations_total", 1),
    ("mode/switch", {"mode": "OFFLINE"}, "sovereign.mode_changed", "brain_mode_current", 1),
    ("trace/gap", {}, "decision.untraced", "brain_trace_completeness_ratio", 0),
    # The counters the rule pack alerts on: a short override and an untraced decision.
    ("override/activate", {"reason": "owner"}, "sovereign.override_activated", "sovereign_override_activations_total", 1),
    ("trace/gap", {}, "decision.untraced", "brain_decisions_untraced_total", 1),
]


@pytest.mark.parametrize("action,body,event,metric,value", DRILLS)
def test_each_drill_moves_its_metric_and_is_audited(backend, action, body, event, metric, value):
    before = {**backend.metrics(), **backend.metrics("/api/sovereign-mode/metrics")}
    assert backend.ok("POST", f"/api/drill/{action}", body)["changed"] is True
    after = {**backend.metrics(), **backend.metrics("/api/sovereign-mode/metrics")}
    assert after[metric] == value and before[metric] != value
    [recorded] = backend.events(event_types=[event])
    assert recorded["actor"] == "api:admin"


def test_override_lifecycle_and_timestamp(backend):
    t0 = time.time()
    backend.ok("POST", "/api/drill/override/activate", {"reason": "owner"})
    assert backend.ok("POST", "/api/drill/override/activate", {"reason": "again"})["changed"] is False
    since = backend.metrics("/api/sovereign-mode/metrics")["sovereign_override_activated_timestamp_seconds"]
    assert t0 - 1 <= since <= time.time() + 1
    assert backend.ok("POST", "/api/drill/override/clear", {"reason": "done"})["changed"] is True
    m = backend.metrics("/api/sovereign-mode/metrics")
    assert m["sovereign_override_active"] == 0 and m["sovereign_override_activated_timestamp_seconds"] == 0
    assert backend.metrics()["brain_override_active"] == 0


def test_safe_mode_blocks_executions(backend):
    backend.ok("POST", "/api/drill/executor/run", {"outcome": "success"})
    assert backend.metrics()["brain_last_success_timestamp"] > 0
    backend.ok("POST", "/api/safe-mode/enable", {"reason": "freeze"})
    r = backend.call("POST", "/api/drill/executor/run", {"outcome": "success"})
    assert r.status_code == 409 and r.json()["error"] == "safe mode is enabled: execution blocked"
    assert backend.metrics()["brain_executions_blocked_total"] == 1
    assert len(backend.events(event_types=["system.safe_mode_execution_blocked"])) == 1


def test_drills_are_off_unless_enabled(tmp_path):
    b = Backend(tmp_path)
    try:
        r = b.call("POST", "/api/drill/override/activate", {"reason": "x"})
        assert r.status_code == 404 and "--enable-drills" in r.json()["error"]
    finally:
        b.stop()


@pytest.mark.parametrize(
    "action,body",
    [
        ("nope", {}),
        ("mode/switch", {"mode": "FAST"}),
        ("executor/run", {"outcome": "maybe"}),
        ("bundle/quarantine", {"reason": "x"}),
        ("override/activate", {}),
    ],
)
def test_drills_reject_bad_input(backend, action, body):
    assert backend.call("POST", f"/api/drill/{action}", body).status_code in (400, 404)


# ---- restart survival --------------------------------------------------------------------------
def test_state_and_chain_survive_a_restart(tmp_path):
    b = Backend(tmp_path, "--enable-drills", "--seed-events", "50", "--seed", "2")
    try:
        b.ok("POST", "/api/safe-mode/enable", {"reason": "before restart"})
        b.ok("POST", "/api/drill/override/activate", {"reason": "owner"})
        b.ok("POST", "/api/drill/bundle/quarantine", {"bundle_id": "b-1", "reason": "sig"})
        b.call("GET", "/api/safe-mode/status", token="bad")
        before = b.events()
        b.restart("--seed-events", "50")  # an existing log is never reseeded
        status = b.ok("GET", "/api/safe-mode/status")
        assert status["enabled"] is True and status["reason"] == "before restart"
        m = {**b.metrics(), **b.metrics("/api/sovereign-mode/metrics")}
        assert m["sovereign_override_active"] == 1 and m["sovereign_bundles_quarantined"] == 1
        assert m["brain_authn_failures_total"] == 1 and m["brain_audit_last_seq"] == 53
        b.ok("POST", "/api/safe-mode/disable", {"reason": "after restart"})
        after = b.events()
        assert after[:53] == before
        verify_chain(after)
    finally:
        b.stop()


def test_seeded_history_is_spread_and_monotonic(tmp_path):
    b = Backend(tmp_path, "--seed-events", "1000", "--seed-days", "5")
    try:
        events = b.events()
        stamps = [e["timestamp"] for e in events]
        assert len(events) == 1000 and stamps == sorted(stamps)
        first = datetime.fromisoformat(stamps[0])
        assert timedelta(days=4.9) < datetime.now(UTC) - first < timedelta(days=5.1)
        verify_chain(events)
    finally:
        b.stop()


def test_seeded_history_can_end_at_a_given_time(tmp_path):
    b = Backend(tmp_path, "--seed-events", "300", "--seed-days", "3", "--seed-end", "2026-01-10T00:00:00Z")
    try:
        stamps = [e["timestamp"] for e in b.events()]
        assert stamps[0] == "2026-01-07T00:00:00.000000Z" and "2026-01-09T23" < stamps[-1] < "2026-01-10"
    finally:
        b.stop()


# ---- bad input never crashes it ----------------------------------------------------------------
@pytest.mark.parametrize("data", [b"{", b"[]", b"null", b"\xff\xfe", b'"text"', b"1e999999"])
def test_malformed_bodies_get_a_json_400(backend, data):
    r = requests.post(
        backend.url("/api/sovereign-mode/audit/export"), data=data, timeout=5, headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["status"] == 400


def test_unknown_paths_methods_and_sizes(backend):
    assert backend.call("GET", "/api/nothing").status_code == 404
    r = backend.call("DELETE", "/api/safe-mode/status")
    assert r.status_code == 405 and r.json()["error"] == "DELETE is not allowed on /api/safe-mode/status"
    assert backend.call("GET", "/api/drill/override/activate").status_code == 405
    conn = http.client.HTTPConnection("127.0.0.1", backend.port, timeout=5)
    conn.putrequest("POST", "/api/safe-mode/enable")
    conn.putheader("Authorization", f"Bearer {ADMIN}")
    conn.putheader("Content-Length", str(2**40))
    conn.endheaders()
    big = conn.getresponse()
    assert big.status == 413 and json.loads(big.read())["error"] == "the body must be at most 268435456 bytes"
    conn.close()
    assert backend.ok("GET", "/api/safe-mode/status")["enabled"] is False


def test_tokens_never_reach_the_log(tmp_path):
    b = Backend(tmp_path, "--enable-drills")
    b.call("GET", "/api/safe-mode/status")
    b.call("GET", "/api/safe-mode/status", token="wrong-secret")
    b.proc.terminate()
    err = b.proc.communicate(timeout=10)[1]
    assert ADMIN not in err and "wrong-secret" not in err


@pytest.fixture(scope="session", autouse=True)
def _promtool():
    if not shutil.which("promtool"):
        pytest.fail("promtool is required (apt install prometheus); run tests/harness/bootstrap.sh")
