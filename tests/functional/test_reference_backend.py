"""The reference backend, exercised over real HTTP against a real server process."""

import hashlib
import http.client
import json
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers.backend import (
    ADMIN,
    ALL_TIME,
    AUDIENCE,
    CLIENT_ID,
    CLIENT_SECRET,
    GENESIS,
    ISSUER,
    LOGIN_EMAIL,
    LOGIN_PASSWORD,
    READER,
    SERVER,
    Backend,
    BrainMain,
    b64url_json,
    kid_of,
    sign_jwt,
)

# Where seeded history ends when a test's expectations depend on it: a fixed instant, not today.
SEED_END = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)


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
    b = Backend(tmp_path, "--seed-events", "3000", "--seed-days", "3", "--seed", "1", "--seed-end", f"{SEED_END:%Y-%m-%dT%H:%M:%SZ}")
    try:
        day = (SEED_END - timedelta(days=1)).date()
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
    b = Backend(tmp_path, "--seed-events", "1000", "--seed-days", "5", "--seed-end", f"{SEED_END:%Y-%m-%dT%H:%M:%SZ}")
    try:
        events = b.events()
        stamps = [e["timestamp"] for e in events]
        assert len(events) == 1000 and stamps == sorted(stamps)
        first = datetime.fromisoformat(stamps[0])
        assert timedelta(days=4.9) < SEED_END - first < timedelta(days=5.1)
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


# ==== the brain-main profile: real BRAiN main at ad0f2d05 (docs/governance-api.md, Compatibility) ====
@pytest.fixture
def brain(tmp_path):
    b = BrainMain(tmp_path, "--enable-drills")
    yield b
    b.stop()


NOT_FOUND = {"detail": "Not Found"}
ADMIN_ONLY = {"detail": "Insufficient permissions. Required role: one of admin, SYSTEM_ADMIN"}
OPERATOR_OK = {"detail": "Insufficient permissions. Required role: one of admin, operator, SYSTEM_ADMIN"}
REAL_METRICS = """# HELP brain_info BRAiN monitoring metadata
# TYPE brain_info gauge
brain_info{{version="1.0.0",started_at="{started}"}} 1

# HELP brain_mode_current Current operation mode (0=online, 1=offline, 2=sovereign, 3=quarantine)
# TYPE brain_mode_current gauge
brain_mode_current{{mode="{mode}"}} {value}

# HELP brain_mode_switch_total Total number of mode switches
# TYPE brain_mode_switch_total counter
brain_mode_switch_total {switches}

# HELP brain_override_active Active override status (0=inactive, 1=active)
# TYPE brain_override_active gauge
brain_override_active {override}

# HELP brain_quarantine_total Total bundles quarantined
# TYPE brain_quarantine_total counter
brain_quarantine_total 0

# HELP brain_executor_failures_total Total executor hard failures
# TYPE brain_executor_failures_total counter
brain_executor_failures_total 0

# HELP brain_last_success_timestamp Last successful operation (unix timestamp)
# TYPE brain_last_success_timestamp gauge
brain_last_success_timestamp {last_success}
"""


def real_metrics(text, **values):
    """The monitoring router's exact text, with this scrape's start time filled in."""
    started = re.search(r'started_at="(\d+)"', text).group(1)
    last_success = re.search(r"^brain_last_success_timestamp (\S+)$", text, re.M).group(1)
    fields = {"mode": "online", "value": 0, "switches": 0, "override": 0, "started": started, "last_success": last_success, **values}
    return REAL_METRICS.format(**fields)


def test_brain_main_as_shipped_mounts_no_sprint7_routes(tmp_path):
    b = BrainMain(tmp_path, routers="shipped")
    try:
        for method, path in [
            ("GET", "/metrics"),
            ("GET", "/metrics/health"),
            ("GET", "/api/safe-mode/status"),
            ("POST", "/api/safe-mode/enable"),
            ("GET", "/api/sovereign-mode/metrics"),
            ("POST", "/api/sovereign-mode/audit/export"),
        ]:
            r = b.call(method, path, {"reason": "x"})
            assert (r.status_code, r.json()) == (404, NOT_FOUND), path
        assert b.ok("GET", "/api/health", token=None) == {"status": "ok", "message": "BRAiN Core Backend is running", "version": "0.3.0"}
        assert b.ok("GET", "/api/sovereign-mode/status")["mode"] == "online"
    finally:
        b.stop()


def test_brain_main_metrics_are_the_monitoring_routers_text(brain):
    t0 = time.time()
    r = requests.get(brain.url("/metrics"), timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert r.text == real_metrics(r.text)
    # brain_last_success_timestamp is the collector's start, and nothing in real main moves it
    assert t0 - 1 <= float(re.search(r"^brain_last_success_timestamp (\S+)$", r.text, re.M).group(1)) <= time.time()
    time.sleep(1.1)
    assert requests.get(brain.url("/metrics"), timeout=10).text == r.text
    lint = subprocess.run(["promtool", "check", "metrics"], input=r.text, capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert brain.ok("GET", "/metrics/health", token=None) == {"healthy": True, "message": "Metrics collector operational"}


def test_brain_main_mode_switch_moves_the_metrics_and_a_restart_resets_them(brain):
    assert brain.ok("POST", "/api/sovereign-mode/mode", {"target_mode": "offline", "reason": "drill"})["mode"] == "offline"
    assert brain.ok("POST", "/api/sovereign-mode/mode", {"target_mode": "offline"})["mode"] == "offline"  # no change, not counted
    text = requests.get(brain.url("/metrics"), timeout=10).text
    assert text == real_metrics(text, mode="offline", value=1, switches=1)
    brain.restart()
    text = requests.get(brain.url("/metrics"), timeout=10).text
    assert text == real_metrics(text)  # the gauge says online although the persisted mode is offline
    assert brain.ok("GET", "/api/sovereign-mode/status")["mode"] == "offline"


@pytest.mark.parametrize(
    "header,detail,www",
    [
        (None, "Authentication required", "Bearer"),
        ("Basic YWRtaW46YWRtaW4=", "Authentication required", "Bearer"),
        ("bearer {admin}", "Authentication required", "Bearer"),
        ("Bearer admin-token-for-tests", "Invalid token", "Bearer"),
        ("Bearer {expired}", "Token has expired", 'Bearer error="invalid_token" error_description="Token expired"'),
        ("Bearer {wrong_iss}", "Invalid token claims: Invalid issuer", "Bearer"),
        ("Bearer {wrong_aud}", "Invalid token claims: Invalid audience", "Bearer"),
        ("Bearer {foreign}", "Invalid token", "Bearer"),
        ("Bearer {no_kid}", "Invalid token", "Bearer"),
    ],
)
def test_brain_main_auth_errors_are_fastapis(brain, header, detail, www):
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    tokens = {
        "admin": brain.token(),
        "expired": brain.token(exp=now - 5),
        "wrong_iss": brain.token(iss="https://elsewhere.example"),
        "wrong_aud": brain.token(aud="other-api"),
        "foreign": sign_jwt(
            foreign, {"sub": "x", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 60, "roles": ["admin"]}, {"alg": "RS256", "kid": kid_of(brain.key)}
        ),
        "no_kid": sign_jwt(brain.key, {"sub": "x", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 60, "roles": ["admin"]}, {"alg": "RS256"}),
    }
    headers = {"Authorization": header.format(**tokens)} if header else {}
    r = brain.call("GET", "/api/safe-mode/status", token=None, headers=headers)
    assert (r.status_code, r.json(), r.headers["WWW-Authenticate"]) == (401, {"detail": detail}, www)


def test_brain_main_roles_admin_operator_viewer(brain):
    operator, viewer = brain.token(("operator",)), brain.token(("viewer",))
    assert brain.ok("GET", "/api/safe-mode/status", token=operator)["safe_mode_enabled"] is False
    r = brain.call("POST", "/api/safe-mode/enable", {"reason": "x"}, token=operator)
    assert (r.status_code, r.json()) == (403, ADMIN_ONLY) and "WWW-Authenticate" not in r.headers
    r = brain.call("GET", "/api/safe-mode/status", token=viewer)
    assert (r.status_code, r.json()) == (403, OPERATOR_OK)
    assert brain.call("GET", "/api/sovereign-mode/status", token=operator).json() == ADMIN_ONLY
    # a token without aud or exp passes, as python-jose 3.3.0 lets it; a 'role' string counts as a role
    assert brain.call("GET", "/api/sovereign-mode/status", token=brain.token(roles=(), role="SYSTEM_ADMIN", aud=None, exp=None)).status_code == 200


def test_brain_main_service_token_is_real_but_carries_no_role(brain):
    r = brain.call("POST", "/api/auth/service-token", {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, token=None)
    body = r.json()
    assert r.status_code == 200 and set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert (body["token_type"], body["expires_in"], sorted(body["scope"].split())) == ("bearer", 900, ["read", "write"])
    header_b64, claims_b64, _sig = body["access_token"].split(".")
    header, claims = b64url_json(header_b64), b64url_json(claims_b64)
    assert header["alg"] == "RS256" and header["kid"] == kid_of(brain.key)
    assert (claims["iss"], claims["aud"], claims["type"], claims["client_id"], claims["exp"] - claims["iat"]) == (ISSUER, AUDIENCE, "service", CLIENT_ID, 900)
    assert "roles" not in claims and "role" not in claims
    jwks = brain.ok("GET", "/api/auth/.well-known/jwks.json", token=None)
    assert [k["kid"] for k in jwks["keys"]] == [header["kid"]]
    # ... so every governance route refuses it (auth_service.py never puts the account's roles in the token)
    for method, path in [("GET", "/api/safe-mode/status"), ("POST", "/api/safe-mode/enable"), ("POST", "/api/sovereign-mode/evidence/export")]:
        assert brain.call(method, path, {"reason": "x"}, token=body["access_token"]).status_code == 403


@pytest.mark.parametrize(
    "kwargs,status,detail",
    [
        ({"json": {"client_id": CLIENT_ID, "client_secret": "wrong"}}, 401, "Invalid client credentials"),
        ({"json": {"client_id": "nobody", "client_secret": CLIENT_SECRET}}, 401, "Invalid client credentials"),
        ({"json": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "scope": "admin"}}, 401, "Invalid scopes requested: {'admin'}"),
        (
            {"json": {"client_id": CLIENT_ID}},
            422,
            [{"type": "missing", "loc": ["body", "client_secret"], "msg": "Field required", "input": {"client_id": CLIENT_ID}}],
        ),
        (
            {"data": {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}},
            422,
            [
                {
                    "type": "model_attributes_type",
                    "loc": ["body"],
                    "msg": "Input should be a valid dictionary or object to extract fields from",
                    "input": f"grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}",
                }
            ],
        ),
    ],
)
def test_brain_main_service_token_refusals(brain, kwargs, status, detail):
    r = requests.post(brain.url("/api/auth/service-token"), timeout=10, **kwargs)
    assert (r.status_code, r.json()) == (status, {"detail": detail})
    if status == 401:
        assert r.headers["WWW-Authenticate"] == "Bearer"


def test_brain_main_safe_mode_real_shapes_in_memory_only(brain):
    off = {
        "success": True,
        "safe_mode_enabled": False,
        "enabled_at": None,
        "enabled_reason": "",
        "enabled_by": "",
        "blocked_operations": [],
        "allowed_operations": ["Read-only APIs", "Monitoring", "Audit log access", "Metrics"],
    }
    assert brain.ok("GET", "/api/safe-mode/status") == off
    login = brain.ok("POST", "/api/auth/login", {"email": LOGIN_EMAIL, "password": LOGIN_PASSWORD}, token=None)
    assert set(login) == {"access_token", "refresh_token", "token_type", "expires_in"} and login["expires_in"] == 900
    user = b64url_json(login["access_token"].split(".")[1])
    assert user["role"] == "admin" and user["type"] == "human"
    on = brain.ok("POST", "/api/safe-mode/enable", {"reason": "INC-42 freeze"}, token=login["access_token"])
    assert list(on)[:3] == ["success", "message", "was_enabled"] and "enabled" not in on
    assert (on["message"], on["was_enabled"], on["safe_mode_enabled"], on["enabled_reason"], on["enabled_by"]) == (
        "Safe mode enabled successfully",
        True,
        True,
        "INC-42 freeze",
        user["sub"],
    )
    assert on["blocked_operations"] == ["Factory executions", "Deployments", "Bundle loads"] and "T" in on["enabled_at"] and "Z" not in on["enabled_at"]
    again = brain.ok("POST", "/api/safe-mode/enable", {"reason": "again"})
    assert (again["message"], again["was_enabled"], again["enabled_reason"]) == ("Safe mode was already enabled", False, "INC-42 freeze")
    disabled = brain.ok("POST", "/api/safe-mode/disable", {"reason": ""})  # an empty reason is accepted
    assert {k: v for k, v in disabled.items() if k not in ("message", "was_disabled")} == off
    assert (disabled["message"], disabled["was_disabled"]) == ("Safe mode disabled successfully", True)
    assert brain.ok("POST", "/api/safe-mode/disable", {"reason": "x"})["message"] == "Safe mode was already disabled"
    entries = [e for e in brain.audit_file() if e["event_type"].startswith("system.safe_mode")]
    assert [(e["event_type"], e["severity"], e["reason"], e["triggered_by"]) for e in entries] == [
        ("system.safe_mode_enabled", "critical", "INC-42 freeze", user["sub"]),
        ("system.safe_mode_disabled", "warning", "", "alice"),
    ]
    brain.ok("POST", "/api/safe-mode/enable", {"reason": "before restart"})
    brain.restart()
    assert brain.ok("GET", "/api/safe-mode/status") == off  # process memory: a restart unfreezes
    assert brain.ok("GET", "/api/sovereign-mode/audit") == []  # the in-memory list starts empty
    assert len(brain.audit_file()) == 3  # the file keeps all


@pytest.mark.parametrize(
    "body,errors",
    [
        (None, [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]),
        ({}, [{"type": "missing", "loc": ["body", "reason"], "msg": "Field required", "input": {}}]),
        ({"reason": 5}, [{"type": "string_type", "loc": ["body", "reason"], "msg": "Input should be a valid string", "input": 5}]),
    ],
)
def test_brain_main_safe_mode_bad_bodies_get_422(brain, body, errors):
    r = brain.call("POST", "/api/safe-mode/enable", body)
    assert (r.status_code, r.json()) == (422, {"detail": errors})
    assert brain.ok("GET", "/api/safe-mode/status")["safe_mode_enabled"] is False


def test_brain_main_unparsable_json_is_422_before_auth(brain):
    r = requests.post(brain.url("/api/safe-mode/enable"), data=b"{", headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"


def test_brain_main_safe_mode_from_the_environment_is_not_audited(tmp_path):
    b = BrainMain(tmp_path, env={"BRAIN_SAFE_MODE": "true"})
    try:
        status = b.ok("GET", "/api/safe-mode/status")
        assert (status["safe_mode_enabled"], status["enabled_reason"], status["enabled_by"]) == (True, "Environment variable", "env")
        assert b.audit_file() == []
    finally:
        b.stop()


SEED_EVIDENCE_REQUEST = {"scope": "AUDIT", "start_time": "2026-01-01T00:00:00Z", "end_time": "2027-01-01T00:00:00Z"}


def test_brain_main_refuses_the_seed_evidence_request(brain):
    r = brain.call("POST", "/api/sovereign-mode/evidence/export", SEED_EVIDENCE_REQUEST)
    assert r.status_code == 422
    assert [(e["type"], e["loc"]) for e in r.json()["detail"]] == [
        ("missing", ["body", "from_timestamp"]),
        ("missing", ["body", "to_timestamp"]),
        ("enum", ["body", "scope"]),
    ]
    assert r.json()["detail"][2]["msg"] == "Input should be 'audit', 'investor' or 'internal'"


def documented_hash(pack):
    """The hash rule of evidence_export.py, written out again: a subset, default json.dumps separators."""
    subset = {k: pack[k] for k in ("scope", "current_mode", "audit_summary", "mode_history", "bundle_summary", "executor_summary", "evidence_format_version")}
    for k in ("time_range_start", "time_range_end"):
        subset[k] = datetime.fromisoformat(pack[k].replace("Z", "+00:00")).isoformat()
    return hashlib.sha256(json.dumps(subset, sort_keys=True).encode()).hexdigest()


def test_brain_main_evidence_packs_hash_rule_z_times_and_verify(tmp_path):
    b = BrainMain(tmp_path, "--seed-events", "200", "--seed-days", "2", "--seed", "4")
    try:
        b.ok("POST", "/api/sovereign-mode/mode", {"target_mode": "offline", "reason": "drill"})
        start, end = (datetime.now(UTC) - timedelta(days=3)).replace(tzinfo=None), (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None)
        naive = {"from_timestamp": start.isoformat(), "to_timestamp": end.isoformat()}
        pack = b.ok("POST", "/api/sovereign-mode/evidence/export", naive)
        assert pack["scope"] == "audit" and len(pack["audit_events"]) == 100 and sum(pack["audit_summary"].values()) == 202
        assert pack["mode_history"][-1]["to"] == "offline" and pack["mode_history"][-1]["triggered_by"] == "api"
        assert pack["content_hash"] == documented_hash(pack) and pack["evidence_format_version"] == "1.0"
        internal = b.ok("POST", "/api/sovereign-mode/evidence/export", {**naive, "scope": "internal"})
        assert len(internal["audit_events"]) == 202 and {"loaded", "failed"} <= set(internal["bundle_summary"])
        assert set(internal["audit_events"][0]) == {
            "id", "timestamp", "event_type", "severity", "mode_before", "mode_after", "bundle_id",
            "reason", "triggered_by", "success", "error", "ipv6_related", "metadata",
        }  # fmt: skip
        zoned = b.ok("POST", "/api/sovereign-mode/evidence/export", {"from_timestamp": start.isoformat() + "Z", "to_timestamp": end.isoformat() + "Z"})
        assert zoned["audit_events"] == [] and zoned["audit_summary"] == {}  # 'Z' silently selects nothing
        time.sleep(1.05)
        later = b.ok("POST", "/api/sovereign-mode/evidence/export", naive)
        assert later["pack_id"] != pack["pack_id"] and later["generated_at"] != pack["generated_at"]
        assert later["content_hash"] == pack["content_hash"]
        verdict = b.ok("POST", "/api/sovereign-mode/evidence/verify", pack)
        assert verdict == {
            "is_valid": True,
            "original_hash": pack["content_hash"],
            "computed_hash": pack["content_hash"],
            "pack_id": pack["pack_id"],
            "message": "Evidence pack integrity verified",
        }
        pack["audit_events"] = []  # outside the hashed subset: still "valid"
        assert b.ok("POST", "/api/sovereign-mode/evidence/verify", pack)["is_valid"] is True
        pack["audit_summary"]["sovereign.mode_changed"] += 1
        tampered = b.ok("POST", "/api/sovereign-mode/evidence/verify", pack)
        assert (tampered["is_valid"], tampered["message"]) == (False, "Evidence pack integrity FAILED")
    finally:
        b.stop()


def test_brain_main_audit_file_and_route(brain):
    r = brain.call("POST", "/api/sovereign-mode/mode", {"target_mode": "sovereign", "reason": "go"})
    assert r.status_code == 200  # --ipv6-gate not_applicable: the switch goes through
    entries = brain.audit_file()
    assert [e["event_type"] for e in entries] == ["sovereign.ipv6_gate_checked", "sovereign.dmz_stopped", "sovereign.mode_changed"]
    assert all("hash" not in e and "seq" not in e and "Z" not in e["timestamp"] for e in entries)
    assert entries[-1]["id"].startswith("mode_changed_") and entries[-1]["severity"] == "info"
    assert brain.ok("GET", "/api/sovereign-mode/audit?limit=2") == entries[-2:]
    assert brain.ok("GET", "/api/sovereign-mode/audit?event_type=sovereign.mode_changed") == entries[-1:]
    r = brain.call("GET", "/api/sovereign-mode/audit?limit=1001")
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "less_than_equal"


def test_brain_main_ipv6_gate_failure_refuses_sovereign(tmp_path):
    b = BrainMain(tmp_path, "--ipv6-gate", "fail")
    try:
        r = b.call("POST", "/api/sovereign-mode/mode", {"target_mode": "sovereign"})
        assert r.status_code == 400 and r.json()["detail"].startswith("❌ Cannot activate Sovereign Mode: IPv6 gate check failed.")
        assert [e["event_type"] for e in b.audit_file()] == ["sovereign.ipv6_gate_checked", "sovereign.ipv6_gate_failed"]
        assert b.ok("POST", "/api/sovereign-mode/mode", {"target_mode": "sovereign", "force": True})["mode"] == "sovereign"
    finally:
        b.stop()


def test_brain_main_drills_move_only_what_real_main_can(brain):
    text = requests.get(brain.url("/metrics"), timeout=10).text
    assert brain.ok("POST", "/api/drill/override/activate", {"reason": "owner"})["changed"] is True
    text = requests.get(brain.url("/metrics"), timeout=10).text
    assert text == real_metrics(text, override=1)
    assert brain.ok("POST", "/api/drill/override/clear", {"reason": "done"})["changed"] is True
    before = float(re.search(r"^brain_last_success_timestamp (\S+)$", text, re.M).group(1))
    brain.ok("POST", "/api/drill/executor/run", {"outcome": "success"})
    after = requests.get(brain.url("/metrics"), timeout=10).text
    assert float(re.search(r"^brain_last_success_timestamp (\S+)$", after, re.M).group(1)) > before
    brain.ok("POST", "/api/safe-mode/enable", {"reason": "freeze"})
    r = brain.call("POST", "/api/drill/executor/run", {"outcome": "failure"})
    assert r.status_code == 409 and brain.audit_file()[-1]["event_type"] == "system.safe_mode_execution_blocked"
    for action in ("preflight/failure", "trust/violation", "policy/violation", "trace/gap"):
        r = brain.call("POST", f"/api/drill/{action}", {})
        assert r.status_code == 404 and "no counterpart in BRAiN main" in r.json()["detail"]
    assert brain.call("POST", "/api/drill/override/activate", {}, token=brain.token(("operator",))).status_code == 403


@pytest.mark.parametrize(
    "args,message",
    [
        (["--profile", "brain-main", "--token-file", "/tmp/x"], "--token-file: seed profile only"),
        (["--brain-routers", "sprint7"], "--brain-routers: needs --profile brain-main"),
        (["--jwt-key-file", "/tmp/x"], "--jwt-key-file: needs --profile brain-main"),
        (["--profile", "brain-main", "--client-id-file", "/tmp/x"], "--client-id-file and --client-secret-file go together"),
        (["--profile", "brain-main", "--jwt-key-file", "/nonexistent/key"], "cannot read JWT key file /nonexistent/key"),
    ],
)
def test_brain_main_bad_start_options_fail_clearly(tmp_path, args, message):
    r = subprocess.run([sys.executable, SERVER, "--state-dir", str(tmp_path / "s"), *args], capture_output=True, text=True, check=False)
    assert r.returncode != 0 and message in r.stderr


def test_brain_main_rejects_a_key_that_is_not_rsa(tmp_path):
    (tmp_path / "k").write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    r = subprocess.run(
        [sys.executable, SERVER, "--state-dir", str(tmp_path / "s"), "--profile", "brain-main", "--jwt-key-file", str(tmp_path / "k")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode != 0 and "the JWT key is not a usable RSA private key" in r.stderr


def test_brain_main_keeps_connections_sane_after_early_refusals(tmp_path):
    b = BrainMain(tmp_path, routers="shipped")  # no drills: /api/drill/* does not exist, as in real main
    try:
        with requests.Session() as s:
            for method, path in [("POST", "/api/nothing"), ("POST", "/api/drill/override/activate"), ("DELETE", "/api/health")]:
                r = s.request(method, b.url(path), json={"reason": "x" * 5000}, timeout=10)
                assert r.status_code in (404, 405) and r.json()["detail"] in ("Not Found", "Method Not Allowed")
                assert s.get(b.url("/api/health"), timeout=10).json()["status"] == "ok"
        conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=5)
        conn.putrequest("POST", "/api/auth/service-token")
        conn.putheader("Content-Length", str(2**40))
        conn.endheaders()
        big = conn.getresponse()
        assert big.status == 413 and big.getheader("connection") == "close"
        conn.close()
    finally:
        b.stop()


def test_connections_stay_sane_after_a_refusal_that_left_the_body_unread(backend):
    with requests.Session() as s:
        for method, path, token in [("POST", "/api/nothing", ADMIN), ("POST", "/api/safe-mode/enable", "wrong"), ("PUT", "/api/safe-mode/status", ADMIN)]:
            r = s.request(method, backend.url(path), json={"reason": "x" * 5000}, headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert r.status_code in (401, 404, 405)
            assert s.get(backend.url("/metrics/health"), timeout=10).json() == {"status": "ok"}
