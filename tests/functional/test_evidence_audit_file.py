"""brain-evidence-export --audit-file: daily evidence from the backend's own audit JSONL (real BRAiN
writes one, without a hash chain). The file comes from the reference backend's brain-main profile,
written by its real HTTP API; the evidence must pass brain-audit verify-log, and a malformed file
or one that changes while it is read must publish nothing."""

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from helpers.backend import BrainMain
from helpers.evidence import EXPORT, day, evidence_files, exporter_module, on_the_clock, snapshot, verify_log


def export_file(audit_file, directory, *args):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BRAIN_")}
    cmd = [sys.executable, str(EXPORT), "--audit-file", str(audit_file), "--dir", str(directory), *args]
    return subprocess.run(cmd, env=on_the_clock(environ), capture_output=True, text=True, timeout=120, check=False)


def one_line_error(result, code, text):
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert result.returncode == code, result.stderr
    assert len(errors) == 1 and text in errors[0], result.stderr


@pytest.fixture(scope="module")
def brain(tmp_path_factory):
    """brain-main with three past days of audit entries in the real format, plus today's from API calls."""
    end = f"{day(0)}T00:00:00Z"
    b = BrainMain(tmp_path_factory.mktemp("brain"), "--seed-events", "120", "--seed-days", "3", "--seed-end", end, "--seed", "7", env=on_the_clock({}))
    b.ok("POST", "/api/sovereign-mode/mode", {"target_mode": "offline", "reason": "audit-file test", "force": True})
    b.ok("POST", "/api/safe-mode/enable", {"reason": "audit-file test"})
    yield b
    b.stop()


@pytest.fixture
def audit(brain, tmp_path):
    """A copy of the backend's audit file, free to damage."""
    path = tmp_path / "sovereign_mode_audit.jsonl"
    path.write_bytes((brain.state / "storage" / "sovereign_mode_audit.jsonl").read_bytes())
    return path


@pytest.fixture
def evdir(tmp_path):
    d = tmp_path / "evidence"
    d.mkdir()
    return d


def entries_of(path, d):
    return [json.loads(line) for line in path.read_text().splitlines() if json.loads(line)["timestamp"].startswith(d)]


def test_the_backend_writes_its_audit_file_in_the_real_format(brain):
    written = brain.audit_file()
    assert written[-1]["event_type"] == "system.safe_mode_enabled"
    assert list(written[-1]) == [
        "id", "timestamp", "event_type", "severity", "mode_before", "mode_after", "bundle_id",
        "reason", "triggered_by", "success", "error", "ipv6_related", "metadata",
    ]  # fmt: skip
    assert not written[-1]["timestamp"].endswith("Z") and written[-1]["triggered_by"] == "alice"


def test_daily_evidence_from_the_audit_file_verifies_and_keeps_every_entry(brain, evdir):
    live = brain.state / "storage" / "sovereign_mode_audit.jsonl"
    days = [day(-3), day(-2), day(-1)]
    r = export_file(live, evdir, "--start-date", days[0], "--json")
    assert r.returncode == 0, r.stderr
    assert [d["date"] for d in json.loads(r.stdout)["days"]] == days
    for d in days:
        source = entries_of(live, d)
        exported = [json.loads(line) for line in (evdir / f"audit-{d}.jsonl").read_text().splitlines()]
        assert source and [e["event_id"] for e in exported] == [e["id"] for e in sorted(source, key=lambda e: e["timestamp"])]
        first = exported[0]
        original = next(e for e in source if e["id"] == first["event_id"])
        assert first["actor"] == original["triggered_by"] and first["severity"] == original["severity"].upper()
        # Naive UTC as the backend writes it (pydantic drops zero microseconds) to the contract's form.
        assert datetime.fromisoformat(first["timestamp"]) == datetime.fromisoformat(original["timestamp"]).replace(tzinfo=UTC)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", first["timestamp"]) and first["details"]["success"] is original["success"]
    v = verify_log(evdir)
    assert v.returncode == 0 and v.stdout.count("PASS ") == 9, v.stdout
    # Today's entries (the API calls above) are not exported: the day is not over.
    assert not (evdir / f"audit-{day(0)}.jsonl").exists()


def test_each_day_is_chained_onto_the_previous_days_manifest(audit, evdir, tmp_path):
    """One run a day, as the timer does, gives the same bytes as one catch-up run."""
    for d in (day(-3), day(-2), day(-1)):
        r = export_file(audit, evdir, "--date", d, "--start-date", day(-3))
        assert r.returncode == 0, r.stderr
    before = json.loads((evdir / f"manifest-{day(-3)}.json").read_text())
    after = json.loads((evdir / f"manifest-{day(-2)}.json").read_text())
    assert after["chain_prev"] == before["chain_head"] and after["first_seq"] == before["last_seq"] + 1
    assert before["chain_prev"] == "0" * 64 and before["first_seq"] == 1
    once = tmp_path / "once"
    once.mkdir()
    assert export_file(audit, once, "--start-date", day(-3)).returncode == 0
    assert {n: (once / n).read_bytes() for n in evidence_files(once)} == {n: (evdir / n).read_bytes() for n in evidence_files(evdir)}
    # Already exported: a success that touches nothing.
    again = export_file(audit, evdir, "--date", day(-2))
    assert again.returncode == 0 and "already exported" in again.stderr


def test_an_entry_edited_before_the_export_is_not_detected(audit, evdir):
    """The weaker guarantee, as documented: the chain is made at export time."""
    text = audit.read_text()
    target = entries_of(audit, day(-1))[0]
    audit.write_text(text.replace(f'"id":"{target["id"]}"', f'"id":"{target["id"]}-forged"'))
    assert export_file(audit, evdir, "--date", day(-1)).returncode == 0
    assert verify_log(evdir).returncode == 0


@pytest.mark.parametrize(
    ("line", "text"),
    [
        (b"not json", "line 5: not valid JSON"),
        (b'{"id":"a","id":"b"}', 'line 5: duplicate key "id"'),
        (b"[1, 2]", "line 5: not a JSON object"),
        (b'{"id":"x","timestamp":"yesterday","event_type":"t","severity":"info","triggered_by":"s"}', "line 5: timestamp 'yesterday' is not an ISO 8601 time"),
        (b'{"id":"x","timestamp":"2026-01-01T00:00:00","event_type":"t","severity":"fatal","triggered_by":"s"}', "line 5: severity is not one of"),
        (b'{"id":"x","timestamp":"2026-01-01T00:00:00","severity":"info","triggered_by":"s"}', "line 5: event_type missing or not a string"),
        (b'{"id":"\xff"}', "line 5: not valid UTF-8"),
        (
            b'{"id":"x","timestamp":"2026-01-01T00:00:00","event_type":"t","severity":"info","triggered_by":"s","metadata":' + b"[" * 40 + b"]" * 40 + b"}",
            "line 5: nested deeper than 32 levels",
        ),
    ],
)
def test_a_malformed_line_anywhere_publishes_nothing(audit, evdir, line, text):
    assert export_file(audit, evdir, "--date", day(-3), "--start-date", day(-3)).returncode == 0
    lines = audit.read_bytes().splitlines(keepends=True)
    audit.write_bytes(b"".join([*lines[:4], line + b"\n", *lines[4:]]))
    before = snapshot(evdir)
    r = export_file(audit, evdir)
    one_line_error(r, 7, f"malformed audit file: {audit} {text}")
    assert snapshot(evdir) == before
    # Nothing lost: with the line repaired, the run completes the chain.
    audit.write_bytes(b"".join(lines))
    assert export_file(audit, evdir).returncode == 0 and verify_log(evdir).returncode == 0


def test_an_incomplete_last_line_of_an_exported_day_is_not_left_out(audit, evdir):
    last = entries_of(audit, day(-1))[-1]
    partial = json.dumps({**last, "id": "being-written"}, separators=(",", ":"))[:120].encode()
    audit.write_bytes(audit.read_bytes() + partial)
    one_line_error(export_file(audit, evdir, "--start-date", day(-1)), 7, "is incomplete (no newline) and may belong to")
    assert evidence_files(evdir) == []
    # A line too short to say its day counts the same.
    audit.write_bytes(audit.read_bytes()[: -len(partial)] + b'{"id":"x","tim')
    one_line_error(export_file(audit, evdir, "--start-date", day(-1)), 7, "is incomplete")


def test_an_incomplete_last_line_of_today_is_being_written_and_left_out(audit, evdir):
    today = entries_of(audit, day(0))[-1]
    audit.write_bytes(audit.read_bytes() + json.dumps(today, separators=(",", ":"))[:150].encode())
    r = export_file(audit, evdir, "--start-date", day(-1))
    assert r.returncode == 0, r.stderr
    assert verify_log(evdir).returncode == 0


def test_a_missing_audit_file_is_an_error_not_an_empty_day(tmp_path, evdir):
    one_line_error(export_file(tmp_path / "nothing.jsonl", evdir), 3, f"no audit file at {tmp_path / 'nothing.jsonl'}")
    assert evidence_files(evdir) == []


def test_a_directory_as_audit_file_is_refused(tmp_path, evdir):
    one_line_error(export_file(tmp_path, evdir), 3, "is not a regular file")


def test_audit_file_and_api_url_together_are_refused(audit, evdir):
    r = export_file(audit, evdir, "--api-url", "http://127.0.0.1:1")
    assert r.returncode == 2 and "--audit-file and --api-url are two sources" in r.stderr


# ---- the file changing while it is read: the exporter in process, its reader hooked -------------


@pytest.fixture
def exporter():
    return exporter_module()


def while_reading(exporter, monkeypatch, at_line, change):
    """Run `change()` once, when the exporter has parsed line `at_line` of the audit file."""
    parse = exporter.audit_event

    def hooked(raw, what):
        if what.endswith(f" line {at_line}"):
            change()
        return parse(raw, what)

    monkeypatch.setattr(exporter, "audit_event", hooked)


def run_in_process(exporter, capsys, audit, evdir, *args):
    code = exporter.main(["--audit-file", str(audit), "--dir", str(evdir), *args])
    return code, capsys.readouterr().err


def test_a_file_truncated_while_it_is_read_gives_no_complete_day(exporter, monkeypatch, capsys, audit, evdir):
    size = audit.stat().st_size
    while_reading(exporter, monkeypatch, 10, lambda: os.truncate(audit, size // 2))
    code, err = run_in_process(exporter, capsys, audit, evdir, "--start-date", day(-3))
    assert code == 8 and "shrank while it was read (truncated?): nothing exported" in err, err
    assert evidence_files(evdir) == []


def test_a_file_truncated_after_it_was_read_gives_no_complete_day(exporter, monkeypatch, capsys, audit, evdir):
    """Cut after the last line was read, before the exporter looked again."""
    count = len(audit.read_bytes().splitlines())
    while_reading(exporter, monkeypatch, count, lambda: os.truncate(audit, 10))
    code, err = run_in_process(exporter, capsys, audit, evdir, "--start-date", day(-3))
    assert code == 8 and "shrank while it was read" in err, err
    assert evidence_files(evdir) == []


def test_a_file_rewritten_in_place_while_it_is_read_gives_no_complete_day(exporter, monkeypatch, capsys, audit, evdir):
    def rewrite():
        with open(audit, "r+b") as fh:
            text = fh.read()
            fh.seek(0)
            fh.write(text.replace(b'"severity":"info"', b'"severity":"INFO"', 1))

    while_reading(exporter, monkeypatch, 10, rewrite)
    code, err = run_in_process(exporter, capsys, audit, evdir, "--start-date", day(-3))
    assert code == 8 and "changed while it was read (not only appended to): nothing exported" in err, err
    assert evidence_files(evdir) == []


def test_a_file_replaced_while_it_is_read_gives_no_complete_day(exporter, monkeypatch, capsys, audit, evdir, tmp_path):
    def rotate():
        (tmp_path / "new.jsonl").write_bytes(audit.read_bytes())
        os.replace(tmp_path / "new.jsonl", audit)

    while_reading(exporter, monkeypatch, 10, rotate)
    code, err = run_in_process(exporter, capsys, audit, evdir, "--start-date", day(-3))
    assert code == 8 and "was replaced while it was read (rotated?)" in err, err
    assert evidence_files(evdir) == []


def test_entries_appended_while_the_file_is_read_are_normal(exporter, monkeypatch, capsys, audit, evdir):
    """The backend keeps writing today's entries during an export: that is no reason to fail."""
    line = audit.read_bytes().splitlines(keepends=True)[-1]

    def append():
        with open(audit, "ab") as fh:
            fh.write(line)

    while_reading(exporter, monkeypatch, 10, append)
    code, err = run_in_process(exporter, capsys, audit, evdir, "--start-date", day(-3))
    assert code == 0, err
    assert verify_log(evdir).returncode == 0
