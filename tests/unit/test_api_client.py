"""The API modules' pure helpers, in-process: error bodies, Retry-After, printable URLs, the safe-mode
dialects, and the evidence pack window."""

import datetime
import hashlib
import json

import pytest
from ansible_collections.brain.ops_assurance.plugins.module_utils._api import _error_detail, _retry_after, display_url
from ansible_collections.brain.ops_assurance.plugins.module_utils._safe_mode import UnknownAnswer, changed_flag, normalise, predict
from ansible_collections.brain.ops_assurance.plugins.modules.evidence_pack import brain_content_hash, export_request, same_pack, window, z_time

NOW = datetime.datetime(2026, 11, 30, 23, 59, 59, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    "raw,detail",
    [
        (b'{"error": "missing or invalid bearer token", "status": 401}', "missing or invalid bearer token"),
        (b'{"detail": "Invalid or missing authentication token"}', "Invalid or missing authentication token"),
        (
            b'{"detail": [{"type": "missing", "loc": ["body", "reason"], "msg": "Field required", "input": {"secret": "s3cr3t"}},'
            b' {"loc": ["body", "scope"], "msg": "Input should be \'audit\'"}]}',
            "body.reason: Field required; body.scope: Input should be 'audit'",
        ),
        (b'{"detail": ' + b'"' + b"x" * 400 + b'"}', "x" * 297 + "..."),
        (b'{"detail": null}', "the API gave no reason"),
        (b"<html>Bad Gateway</html>", "the API gave no reason"),
        (b"", "the API gave no reason"),
        (b"[1]", "the API gave no reason"),
    ],
)
def test_error_detail_shows_the_contract_and_fastapi_reasons_bounded(raw, detail):
    assert _error_detail(raw) == detail
    assert "s3cr3t" not in _error_detail(raw)  # a validation error's input echoes the request: never shown


@pytest.mark.parametrize("value,seconds", [(None, None), ("", None), ("2", 2.0), ("0", 0.0), ("-5", 0.0), ("100000", 120), ("soon", None)])
def test_retry_after(value, seconds):
    assert _retry_after(value) == seconds


def test_retry_after_as_a_date():
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=30)
    assert 25 <= _retry_after(later.strftime("%a, %d %b %Y %H:%M:%S GMT")) <= 31


@pytest.mark.parametrize(
    "url,shown",
    [
        ("https://user:pw@brain.example.org:8443/api/x?token=abc#f", "https://brain.example.org:8443/api/x"),
        ("http://[::1]:8000/api", "http://[::1]:8000/api"),
        ("http://host:notaport/api", "http://host/api"),
    ],
)
def test_display_url_drops_credentials_and_query(url, shown):
    assert display_url(url) == shown


CONTRACT = {"enabled": True, "reason": "INC-1", "changed_at": "2026-11-30T00:00:00Z", "changed_by": "api:admin", "source": "api"}
BRAIN = {"success": True, "safe_mode_enabled": True, "enabled_at": "2026-11-30T00:00:00", "enabled_reason": "INC-1", "enabled_by": "admin-1"}


@pytest.mark.parametrize(
    "body,dialect,state",
    [
        (CONTRACT, "contract", {k: CONTRACT[k] for k in ("enabled", "reason", "changed_at", "changed_by", "source")}),
        ({"enabled": False}, "contract", {"enabled": False, "reason": None, "changed_at": None, "changed_by": None, "source": None}),
        (BRAIN, "brain", {"enabled": True, "reason": "INC-1", "changed_at": "2026-11-30T00:00:00", "changed_by": "admin-1", "source": "api"}),
        (
            {**BRAIN, "safe_mode_enabled": False, "enabled_at": None, "enabled_reason": "", "enabled_by": ""},
            "brain",
            {"enabled": False, "reason": None, "changed_at": None, "changed_by": None, "source": None},
        ),
        (
            {**BRAIN, "enabled_by": "env", "enabled_reason": "Environment variable"},
            "brain",
            {**CONTRACT, "reason": "Environment variable", "changed_at": "2026-11-30T00:00:00", "changed_by": "env", "source": "env"},
        ),
    ],
)
def test_normalise_reads_both_dialects_into_one_shape(body, dialect, state):
    assert normalise(body, "x") == (dialect, state)


@pytest.mark.parametrize(
    "body,message",
    [
        ({"ok": True, "state": "on"}, "the answer does not say whether safe mode is on (no enabled or safe_mode_enabled): an object with keys [ok, state]"),
        ({}, "the answer does not say whether safe mode is on (no enabled or safe_mode_enabled): an empty object"),
        ({"enabled": "false"}, "the answer: enabled is 'false' (str), not true or false"),
        ({"enabled": 1}, "the answer: enabled is 1 (int), not true or false"),
        ({"safe_mode_enabled": None}, "the answer: safe_mode_enabled is None (NoneType), not true or false"),
        ({**BRAIN, "success": False}, "the answer: success is False, not true"),
    ],
)
def test_normalise_refuses_what_it_does_not_understand(body, message):
    with pytest.raises(UnknownAnswer) as err:
        normalise(body, "the answer")
    assert str(err.value) == message


@pytest.mark.parametrize(
    "body,dialect,action,flag",
    [
        ({"changed": False}, "contract", "enable", False),
        ({"changed": True}, "contract", "disable", True),
        ({"was_enabled": False}, "brain", "enable", False),
        ({"was_disabled": True}, "brain", "disable", True),
        ({"was_enabled": True}, "brain", "disable", None),  # the other action's key says nothing about this one
        ({}, "contract", "enable", None),
    ],
)
def test_changed_flag(body, dialect, action, flag):
    assert changed_flag(body, dialect, action, "x") is flag


def test_changed_flag_must_be_a_boolean():
    with pytest.raises(UnknownAnswer, match=r"^the answer: changed is 'no' \(str\), not true or false$"):
        changed_flag({"changed": "no"}, "contract", "enable", "the answer")


def test_predict_follows_the_dialect():
    assert predict("contract", False, "r") == {"enabled": False, "reason": "r", "changed_at": None, "changed_by": None, "source": "api"}
    assert predict("brain", False, "r") == {"enabled": False, "reason": None, "changed_at": None, "changed_by": None, "source": None}
    assert predict("brain", True, "r") == predict("contract", True, "r")


def zwindow(start, end, now=NOW):
    return tuple(z_time(t) for t in window(start, end, now))


def test_window_defaults_to_whole_utc_days_so_two_runs_agree():
    assert zwindow(None, None) == ("1970-01-01T00:00:00Z", "2026-12-01T00:00:00Z")
    assert zwindow(None, None, NOW.replace(hour=0, second=0)) == zwindow(None, None)
    assert zwindow("2026-11-01", "2026-11-02T01:00:00+01:00") == ("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z")
    assert zwindow("2026-11-01T00:00:00.5Z", None)[0] == "2026-11-01T00:00:00.500000Z"


def test_export_request_in_each_dialect():
    start, end = window("2026-11-01", "2026-12-01", NOW)
    assert export_request("contract", "audit", start, end) == {"scope": "AUDIT", "start_time": "2026-11-01T00:00:00Z", "end_time": "2026-12-01T00:00:00Z"}
    # BRAiN: naive UTC (a zone selects no events there), lower-case scope, its inclusive end just before ours
    assert export_request("brain", "audit", start, end) == {
        "scope": "audit",
        "from_timestamp": "2026-11-01T00:00:00",
        "to_timestamp": "2026-11-30T23:59:59.999999",
    }


BRAIN_PACK = {
    "pack_id": "evidence_20261130_010000_audit",
    "generated_at": "2026-11-30T01:00:00",
    "scope": "audit",
    "time_range_start": "2026-11-01T00:00:00",
    "time_range_end": "2026-11-30T23:59:59.999999",
    "current_mode": "online",
    "audit_events": [{"id": "x"}],
    "audit_summary": {"system.safe_mode_enabled": 1},
    "mode_history": [],
    "bundle_summary": {"total_bundles": 0, "validated": 0, "quarantined": 0},
    "executor_summary": None,
    "evidence_format_version": "1.0",
}


def test_brain_hash_covers_its_documented_subset_with_default_separators():
    subset = '{"audit_summary": {"system.safe_mode_enabled": 1}, "bundle_summary": {"quarantined": 0, "total_bundles": 0, "validated": 0}, '
    subset += '"current_mode": "online", "evidence_format_version": "1.0", "executor_summary": null, "mode_history": [], "scope": "audit", '
    subset += '"time_range_end": "2026-11-30T23:59:59.999999", "time_range_start": "2026-11-01T00:00:00"}'
    assert brain_content_hash(BRAIN_PACK) == hashlib.sha256(subset.encode()).hexdigest()
    assert brain_content_hash({**BRAIN_PACK, "audit_events": []}) == brain_content_hash(BRAIN_PACK)  # BRAiN's weaker guarantee


def test_same_pack_ignores_only_brains_per_export_identifiers():
    new = {**BRAIN_PACK, "pack_id": "evidence_20261130_020000_audit", "generated_at": "2026-11-30T02:00:00"}
    assert same_pack("brain", json.dumps(BRAIN_PACK).encode(), new)
    assert not same_pack("brain", json.dumps(BRAIN_PACK).encode(), {**new, "audit_events": []})
    assert not same_pack("brain", b"not json", new)
    assert not same_pack("contract", json.dumps(BRAIN_PACK).encode(), new)


@pytest.mark.parametrize(
    "start,end,message",
    [
        ("2026-11-02", "2026-11-01", "start_time 2026-11-02T00:00:00Z must be before end_time 2026-11-01T00:00:00Z"),
        ("2026-12-01T00:00:00.5Z", None, "start_time 2026-12-01T00:00:00.500000Z must be before end_time 2026-12-01T00:00:00Z"),
        ("November", None, "start_time must be ISO 8601 with a time zone (2026-11-01T00:00:00Z) or a date (2026-11-01), got 'November'"),
        (None, "2026-11-01T00:00:00", "end_time must be ISO 8601 with a time zone (2026-11-01T00:00:00Z) or a date (2026-11-01), got '2026-11-01T00:00:00'"),
    ],
)
def test_window_refuses_bad_input(start, end, message):
    with pytest.raises(ValueError) as err:
        window(start, end, NOW)
    assert str(err.value) == message
