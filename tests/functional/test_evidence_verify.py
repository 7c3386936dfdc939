"""The tamper suite: brain-audit verify-log finds every kind of damage to exported evidence, says
where, and raises no false alarm on clean data. The evidence is made by the real exporter from
the real reference backend, then damaged the way an intruder or a broken disk would."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from ansible_collections.brain.ops_assurance.plugins.module_utils import evidence
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers.evidence import AUDIT, NOW, ansible_module, day, export, on_the_clock, pem_public, playbook, seeded_backend, signed_evidence, verify_log

DAYS = [day(-4), day(-3), day(-2), day(-1)]  # day(-1) has no events


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """A signed evidence directory of four days, and the auditor's public key."""
    return signed_evidence(tmp_path_factory.mktemp("clean"), DAYS[0])


@pytest.fixture
def ev(clean, tmp_path):
    d = tmp_path / "evidence"
    shutil.copytree(clean / "evidence", d)
    return d


@pytest.fixture
def pub(clean):
    return str(clean / "signing.pub")


def lines(path):
    return path.read_bytes().splitlines(keepends=True)


def rewrite(path, new_lines):
    path.write_bytes(b"".join(new_lines))


def data(ev, n=1):
    return ev / f"audit-{DAYS[n]}.jsonl"


def fails_with(ev, *messages, args=()):
    r = verify_log(ev, *args)
    assert r.returncode == 1, r.stdout
    assert r.stdout.splitlines()[-1].startswith("FAIL: ")
    for message in messages:
        assert message in r.stdout, f"{message!r} not in\n{r.stdout}"
    return r.stdout


# ---- no false alarms ---------------------------------------------------------------------------
def test_clean_evidence_passes_every_check(ev, pub):
    r = verify_log(ev, "--public-key", pub)
    assert r.returncode == 0, r.stdout
    assert r.stdout.count("PASS ") == 12 and "FAIL" not in r.stdout and r.stdout.splitlines()[-1] == "PASS: 12 checked, 0 failed"


def test_a_single_file_is_verified_with_its_sidecar_and_manifest(ev):
    r = verify_log(data(ev))
    assert r.returncode == 0 and r.stdout.count("PASS ") == 3, r.stdout


def test_json_output_lists_every_file(ev):
    r = verify_log(ev, "--json")
    result = json.loads(r.stdout)
    assert r.returncode == 0 and result["ok"] is True and len(result["results"]) == 12


def test_colour_only_on_request_or_a_terminal(ev):
    assert "\033[32mPASS" in verify_log(ev, "--color", "always").stdout
    assert "\033[" not in verify_log(ev).stdout  # captured output is not a terminal


# ---- the tamper suite --------------------------------------------------------------------------
def test_edited_line(ev):
    ls = lines(data(ev))
    ls[5] = ls[5].replace(b'"host":"exec-', b'"host":"exec-9')
    rewrite(data(ev), ls)
    fails_with(ev, "line 6: hash mismatch: the event was altered", "does not match the file's", "file_sha256 is")


def test_inserted_line(ev):
    ls = lines(data(ev))
    rewrite(data(ev), [*ls[:10], ls[3], *ls[10:]])
    fails_with(ev, "line 11: chain broken", "line 11: seq")


def test_deleted_line(ev):
    ls = lines(data(ev))
    rewrite(data(ev), ls[:7] + ls[8:])
    fails_with(ev, "line 8: chain broken", f"seq {json.loads(ls[8])['seq']} follows seq {json.loads(ls[6])['seq']}")


def test_reordered_lines(ev):
    ls = lines(data(ev))
    ls[20], ls[21] = ls[21], ls[20]
    rewrite(data(ev), ls)
    fails_with(ev, "line 21: chain broken", "line 22: chain broken")


def test_truncated_tail(ev):
    rewrite(data(ev), lines(data(ev))[:-3])
    fails_with(ev, "does not match the file's", "event_count is")


def test_truncated_tail_with_a_recomputed_sidecar(ev):
    """The intruder fixes the sidecar too: the manifest still knows the real length and head."""
    rewrite(data(ev), lines(data(ev))[:-3])
    digest = hashlib.sha256(data(ev).read_bytes()).hexdigest()
    (ev / f"audit-{DAYS[1]}.jsonl.sha256").write_text(f"{digest}  audit-{DAYS[1]}.jsonl\n")
    out = fails_with(ev, "event_count is", "chain_head does not match")
    assert f"PASS {ev}/audit-{DAYS[1]}.jsonl.sha256" in out


def test_truncated_mid_line(ev):
    raw = data(ev).read_bytes()
    data(ev).write_bytes(raw[:-100])
    fails_with(ev, "the last line has no newline (truncated file?)")


def test_deleted_day(ev):
    for name in (f"audit-{DAYS[1]}.jsonl", f"audit-{DAYS[1]}.jsonl.sha256", f"manifest-{DAYS[1]}.json", f"manifest-{DAYS[1]}.json.sig"):
        (ev / name).unlink()
    fails_with(ev, f"missing day: no audit file, sidecar or manifest for {DAYS[1]}", f"previous_manifest does not match manifest-{DAYS[0]}.json")


def test_deleted_oldest_day_without_retention(ev):
    for name in (f"audit-{DAYS[0]}.jsonl", f"audit-{DAYS[0]}.jsonl.sha256", f"manifest-{DAYS[0]}.json", f"manifest-{DAYS[0]}.json.sig"):
        (ev / name).unlink()
    fails_with(ev, f"the chain starts here but links to {DAYS[0]}, which is missing, and there is no retention anchor")


def test_deleted_data_file(ev):
    data(ev).unlink()
    fails_with(ev, f"missing: the audit file of {DAYS[1]} is gone")


def test_edited_sidecar(ev):
    sidecar = ev / f"audit-{DAYS[2]}.jsonl.sha256"
    sidecar.write_text("0" * 64 + sidecar.read_text()[64:])
    fails_with(ev, "sha256 000000000000... does not match the file's")


def test_edited_manifest(ev, pub):
    path = ev / f"manifest-{DAYS[1]}.json"
    manifest = json.loads(path.read_bytes())
    manifest["event_count"] += 1
    path.write_bytes(evidence.record_bytes(manifest))
    fails_with(ev, "event_count is", f"previous_manifest does not match manifest-{DAYS[1]}.json as stored", "bad signature", args=("--public-key", pub))


def test_manifest_rebuilt_to_match_an_altered_file_is_caught_by_the_next_day(ev):
    """Alter a line, recompute its hash chain to the end of the file, the sidecar and the
    manifest: only the link from the next day's manifest (and the signature) can tell."""
    path = data(ev)
    events = [json.loads(line) for line in lines(path)]
    prev = events[0]["prev_hash"]
    events[0]["details"]["host"] = "exec-forged"
    for e in events:
        e["prev_hash"] = prev
        body = {k: v for k, v in e.items() if k != "hash"}
        e["hash"] = prev = hashlib.sha256(evidence.canonical_json(body) + prev.encode()).hexdigest()
    path.write_bytes(b"".join(evidence.canonical_json(e) + b"\n" for e in events))
    result = evidence.verify_data_file(str(path), DAYS[1])
    assert result["problems"] == []  # internally consistent now
    (ev / f"audit-{DAYS[1]}.jsonl.sha256").write_text(evidence.sidecar_text(result["sha256"], path.name))
    previous = json.loads((ev / f"manifest-{DAYS[0]}.json").read_bytes())
    previous_raw = (ev / f"manifest-{DAYS[0]}.json").read_bytes()
    (ev / f"manifest-{DAYS[1]}.json").write_bytes(evidence.record_bytes(evidence.build_manifest(DAYS[1], result, (previous, previous_raw))))
    fails_with(ev, f"previous_manifest does not match manifest-{DAYS[1]}.json", f"the first event does not link to the last event of {DAYS[1]}")


def test_duplicate_key(ev):
    ls = lines(data(ev))
    ls[2] = ls[2].replace(b'{"actor":"system",', b'{"actor":"system","actor":"api:admin",')
    rewrite(data(ev), ls)
    fails_with(ev, 'line 3: duplicate key "actor"')


def test_whitespace_change(ev):
    ls = lines(data(ev))
    ls[4] = ls[4].replace(b'"severity":', b'"severity": ')
    rewrite(data(ev), ls)
    fails_with(ev, "line 5: not in canonical form")


def test_bad_signature(ev, pub):
    other = Ed25519PrivateKey.generate()
    manifest = ev / f"manifest-{DAYS[2]}.json"
    (ev / f"manifest-{DAYS[2]}.json.sig").write_bytes(evidence.sign(other, manifest.read_bytes()))
    fails_with(ev, f"bad signature: manifest-{DAYS[2]}.json.sig does not verify", args=("--public-key", pub))


def test_missing_signature(ev, pub):
    (ev / f"manifest-{DAYS[3]}.json.sig").unlink()
    fails_with(ev, "no signature (manifest-", args=("--public-key", pub))


def test_signatures_of_another_key(ev, tmp_path):
    (tmp_path / "other.pub").write_bytes(pem_public(Ed25519PrivateKey.generate()))
    out = fails_with(ev, "bad signature", args=("--public-key", str(tmp_path / "other.pub")))
    assert out.count("bad signature") == 4


def test_removed_retention_anchor(ev, clean):
    """Retention writes an anchor; without it the remaining chain does not start at its head."""
    anchor = evidence.build_anchor(json.loads((ev / f"manifest-{DAYS[1]}.json").read_bytes()), [DAYS[0]])
    (ev / "chain-anchor.json").write_bytes(evidence.record_bytes(anchor))
    for name in (f"audit-{DAYS[0]}.jsonl", f"audit-{DAYS[0]}.jsonl.sha256", f"manifest-{DAYS[0]}.json", f"manifest-{DAYS[0]}.json.sig"):
        (ev / name).unlink()
    assert verify_log(ev).returncode == 0
    (ev / "chain-anchor.json").unlink()
    fails_with(ev, "there is no retention anchor")


def test_a_leftover_day_older_than_the_anchor_is_skipped_not_failed(ev):
    """An interrupted retention run: anchor written, the old day not yet removed."""
    anchor = evidence.build_anchor(json.loads((ev / f"manifest-{DAYS[1]}.json").read_bytes()), [DAYS[0]])
    (ev / "chain-anchor.json").write_bytes(evidence.record_bytes(anchor))
    r = verify_log(ev)
    assert r.returncode == 0 and f"SKIP {ev}/manifest-{DAYS[0]}.json: older than the retention anchor" in r.stdout


# ---- the verifier's own rules ------------------------------------------------------------------
def test_since_and_until_limit_the_days_but_keep_the_links(ev):
    r = verify_log(ev, "--since", DAYS[1], "--until", DAYS[2])
    assert r.returncode == 0 and r.stdout.count("PASS ") == 6, r.stdout
    (ev / f"manifest-{DAYS[0]}.json").write_bytes((ev / f"manifest-{DAYS[0]}.json").read_bytes().replace(b'"date"', b'"date" '))
    fails_with(ev, f"previous_manifest does not match manifest-{DAYS[0]}.json", args=("--since", DAYS[1]))


@pytest.mark.parametrize(
    "args,message",
    [
        (["--since", "yesterday"], "not a date in the form YYYY-MM-DD"),
        (["--jobs", "-1"], "--jobs must be >= 0"),
    ],
)
def test_bad_usage(ev, args, message):
    r = verify_log(ev, *args)
    assert r.returncode == 2 and message in r.stderr


def test_a_missing_path_is_an_error_not_a_pass(tmp_path):
    r = verify_log(tmp_path / "nothing-here")
    assert r.returncode == 2 and "is neither a file nor a directory" in r.stderr


def test_parallel_verification_numbers_lines_across_parts(ev, monkeypatch):
    """Large files are split across processes: problems keep their real line numbers, and a
    break exactly at a split point is still found."""
    monkeypatch.setattr(evidence, "_PARALLEL_MIN_SIZE", 0)
    ls = lines(data(ev))
    size = sum(map(len, ls))
    cut = next(i for i in range(len(ls)) if sum(map(len, ls[: i + 1])) > size // 2)  # first line of part 2
    rewrite(data(ev), ls[:cut] + ls[cut + 1 :])
    serial = evidence.verify_data_file(str(data(ev)), DAYS[1], jobs=1)
    parallel = evidence.verify_data_file(str(data(ev)), DAYS[1], jobs=2)
    assert serial == parallel and serial["problems"][0].startswith(f"line {cut + 1}: chain broken")
    monkeypatch.setattr(evidence, "_BLOCK_SIZE", 100)  # lines longer than a block; state carries over
    assert evidence.verify_data_file(str(data(ev)), DAYS[1], jobs=1) == serial
    assert evidence.verify_data_file(str(data(ev)), DAYS[1], jobs=3) == serial


def test_an_unusable_public_key_is_a_usage_error(ev, tmp_path):
    (tmp_path / "bad.pub").write_text("not a key\n")
    r = verify_log(ev, "--public-key", str(tmp_path / "bad.pub"))
    assert r.returncode == 2 and f"cannot load the public key {tmp_path / 'bad.pub'}" in r.stderr


def test_cryptography_is_loaded_only_for_signatures(ev, pub, monkeypatch):
    """Without a key nothing imports cryptography (it costs every run start-up time and memory,
    forked workers included); with a key and no cryptography the error says what to install."""
    code = f"import sys, evidence; assert evidence.verify_path({str(ev)!r}).ok; print(sorted(m for m in sys.modules if m.startswith('cryptography')))"
    r = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(evidence.__file__), env=on_the_clock(), capture_output=True, text=True, check=True)
    assert r.stdout == "[]\n"
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.asymmetric.ed25519", None)
    with pytest.raises(evidence.EvidenceError, match=r"^checking signatures needs the Python package cryptography \(Debian: python3-cryptography\)$"):
        evidence.verify_path(str(ev), pub)


# ---- deletion of the newest days, and nothing to verify (issue 16) -------------------------------
def day_files(ev, d):
    return [ev / f"audit-{d}.jsonl", ev / f"audit-{d}.jsonl.sha256", ev / f"manifest-{d}.json", ev / f"manifest-{d}.json.sig"]


def delete_days(ev, *days):
    for d in days:
        for path in day_files(ev, d):
            path.unlink()


def hours_since_end_of(d):
    """Whole hours from the end (24:00 UTC) of day `d` to the tests' clock, rounded down."""
    return int((NOW - datetime.combine(date.fromisoformat(d) + timedelta(days=1), time(0), UTC)).total_seconds() // 3600)


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_deleting_the_newest_day_is_found(ev, pub, signed):
    delete_days(ev, DAYS[3])
    args = ("--public-key", pub) if signed else ()
    age = hours_since_end_of(DAYS[2])  # 25: the day before the deleted one
    r = verify_log(ev, "--max-age", str(age - 1), *args)
    expected = f"FAIL {ev}/manifest-{DAYS[3]}.json: missing day {DAYS[3]}: the newest evidence is of {DAYS[2]}, but the newest day may have ended at most"
    assert r.returncode == 1 and expected in r.stdout, r.stdout
    # The default (28 hours) at a time of day after the 02:00 export and its two hours, in-process:
    # between 00:00 and 04:00 UTC the newest day may still be the one before yesterday.
    noon = datetime.combine(date.fromisoformat(DAYS[3]) + timedelta(days=1), time(12), UTC)
    report = evidence.verify_path(str(ev), pub if signed else None, now=noon)
    assert [e["problems"] for e in report.failed] == [
        [expected.split(": ", 1)[1] + f" 28 hours ago (now {noon:%Y-%m-%dT%H:%MZ}): newest days deleted, or the export stopped?"]
    ]
    assert evidence.verify_path(str(ev), now=noon - timedelta(hours=9)).ok  # 03:00: the export may be running


def test_until_requires_every_day_up_to_it(ev, pub):
    delete_days(ev, DAYS[2], DAYS[3])
    expected = f"missing days {DAYS[2]} to {DAYS[3]}: the newest evidence is of {DAYS[1]}, but every day up to {DAYS[3]} was asked for"
    fails_with(ev, expected, args=("--until", DAYS[3], "--public-key", pub))
    fails_with(ev, expected, args=("--until", DAYS[3], "--max-age", "0"))  # the auditor's own expectation wins


def test_max_age_zero_is_the_off_switch_for_an_old_copy(ev):
    delete_days(ev, DAYS[2], DAYS[3])
    r = verify_log(ev, "--max-age", "0")
    assert r.returncode == 0 and r.stdout.splitlines()[-1].startswith("PASS: 6 checked"), r.stdout
    age = hours_since_end_of(DAYS[1])
    assert verify_log(ev, "--max-age", str(age + 1)).returncode == 0
    fails_with(ev, f"missing day {DAYS[2]}: the newest evidence is of {DAYS[1]}", args=("--max-age", str(age - 1)))
    assert verify_log(ev, "--max-age", "-1").returncode == 2


@pytest.mark.parametrize("content", [[], ["README", ".lock"]], ids=["empty", "no-evidence"])
def test_a_directory_without_evidence_fails(tmp_path, content):
    for name in content:
        (tmp_path / name).write_text("x\n")
    r = verify_log(tmp_path)
    assert r.returncode == 1 and r.stdout.splitlines() == [
        f"FAIL {tmp_path}: no evidence found: no audit-YYYY-MM-DD.jsonl or manifest-YYYY-MM-DD.json in the directory",
        "FAIL: 1 checked, 1 failed",
    ]


def test_a_range_with_no_day_in_it_fails(ev):
    fails_with(ev, f"nothing checked: the evidence ({DAYS[0]} to {DAYS[3]}) has no day from {day(3)} to the last", args=("--since", day(3)))


# ---- the chain start: an empty first day (issue 16) ---------------------------------------------
def test_a_chain_whose_first_day_is_empty_verifies(tmp_path):
    """A first timer run on a quiet backend: the first day has no events (chain_head null), the
    next day's first event starts the chain. The exporter accepts it; so must the verifier."""
    backend = seeded_backend(tmp_path, 500, 2, -2)  # events on day(-4) and day(-3) only
    (tmp_path / "ev").mkdir()
    try:
        r = export(backend.url(""), tmp_path / "ev", "--start-date", day(-5), "--date", day(-3))
        assert r.returncode == 0, r.stderr
    finally:
        backend.stop()
    first = json.loads((tmp_path / "ev" / f"manifest-{day(-5)}.json").read_bytes())
    assert first["chain_head"] is None and first["event_count"] == 0
    r = verify_log(tmp_path / "ev", "--until", day(-3))
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == "PASS: 9 checked, 0 failed", r.stdout


# ---- single-file mode (issue 16) -----------------------------------------------------------------
def test_a_single_file_needs_its_manifest(ev):
    rewrite(data(ev), lines(data(ev))[:-3])
    digest = hashlib.sha256(data(ev).read_bytes()).hexdigest()
    (ev / f"audit-{DAYS[1]}.jsonl.sha256").write_text(f"{digest}  audit-{DAYS[1]}.jsonl\n")
    (ev / f"manifest-{DAYS[1]}.json").unlink()
    r = verify_log(data(ev))
    assert r.returncode == 1 and f"FAIL {ev}/manifest-{DAYS[1]}.json: missing: {DAYS[1]} has no manifest" in r.stdout, r.stdout


def test_a_data_file_that_is_a_symlink_is_refused(ev, tmp_path):
    copy = tmp_path / "elsewhere.jsonl"
    copy.write_bytes(data(ev).read_bytes())
    data(ev).unlink()
    data(ev).symlink_to(copy)
    expected = f"FAIL {data(ev)}: a symbolic link: refused, evidence is read from regular files only"
    for target in (data(ev), ev):
        r = verify_log(target)
        assert r.returncode == 1 and expected in r.stdout, r.stdout


def test_a_single_file_is_checked_with_the_public_key(ev, pub):
    other = Ed25519PrivateKey.generate()
    manifest = ev / f"manifest-{DAYS[1]}.json"
    (ev / f"manifest-{DAYS[1]}.json.sig").write_bytes(evidence.sign(other, manifest.read_bytes()))
    r = verify_log(data(ev), "--public-key", pub)
    assert r.returncode == 1 and "bad signature" in r.stdout, r.stdout


# ---- malformed input is a FAIL line, never a traceback (issue 16) ---------------------------------
def no_traceback(r):
    assert "Traceback" not in r.stderr and r.stderr == "", r.stderr
    return r


@pytest.mark.parametrize(
    "member,value,message",
    [
        ("chain_head", 5, "the manifest has chain_head that is not 64 lower-case hex digits or null"),
        ("last_seq", "7", "the manifest has last_seq that is not a seq or null"),
        ("previous_manifest", {"date": 1, "sha256": "x"}, 'the manifest has previous_manifest that is not null or {"date": YYYY-MM-DD, "sha256": hex}'),
        ("event_count", True, "the manifest has event_count that is not a count"),
        ("format_version", 1.0, "the manifest has format_version 1.0; this verifier reads 1"),
    ],
)
def test_manifest_members_of_the_wrong_type(ev, member, value, message):
    path = ev / f"manifest-{DAYS[1]}.json"
    manifest = json.loads(path.read_bytes())
    manifest[member] = value
    path.write_bytes(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    no_traceback(verify_log(ev))
    fails_with(ev, f"FAIL {path}: {message}")


def test_deeply_nested_json(ev):
    ls = lines(data(ev))
    ls[1] = ls[1].replace(b'"details":{', b'"details":{"deep":' + b"[" * 100000 + b"]" * 100000 + b",", 1)
    rewrite(data(ev), ls)
    (ev / f"manifest-{DAYS[2]}.json").write_bytes(b"[" * 100000 + b"]" * 100000 + b"\n")
    no_traceback(verify_log(ev))
    fails_with(ev, "line 2: nested deeper than 32 levels", f"FAIL {ev}/manifest-{DAYS[2]}.json: the manifest is nested deeper than 32 levels")


def test_lone_surrogates(ev):
    ls = lines(data(ev))
    ls[0] = ls[0].replace(b'"details":{', b'"details":{"a":"\\ud800",', 1)
    rewrite(data(ev), ls)
    no_traceback(verify_log(ev))
    fails_with(ev, "line 1: not valid Unicode (a lone surrogate \\ud800)")


@pytest.mark.parametrize("where", ["seq", "details"])
def test_integers_longer_than_4300_digits(ev, where):
    ls = lines(data(ev))
    big = b"9" * 5000
    ls[2] = re.sub(rb'"seq":\d+', b'"seq":' + big, ls[2]) if where == "seq" else ls[2].replace(b'"details":{', b'"details":{"a":' + big + b",", 1)
    rewrite(data(ev), ls)
    no_traceback(verify_log(ev))
    fails_with(ev, "line 3: not valid JSON (Exceeds the limit (4300 digits) for integer string conversion")


def test_a_line_longer_than_the_bound(ev, monkeypatch):
    ls = lines(data(ev))
    ls[4] = ls[4].replace(b'"details":{', b'"details":{"a":"' + b"x" * (evidence.MAX_LINE_BYTES + 10) + b'",', 1)
    rewrite(data(ev), ls)
    r = no_traceback(verify_log(ev))
    assert f"line 5: longer than {evidence.MAX_LINE_BYTES} bytes" in r.stdout and "line 6: chain broken" in r.stdout, r.stdout
    assert evidence.verify_data_file(str(data(ev)), DAYS[1], jobs=1)["problems"] == evidence.verify_data_file(str(data(ev)), DAYS[1], jobs=1)["problems"]


def test_a_stray_file_name_does_not_stop_the_directory(ev):
    (ev / "audit-2026-02-30.jsonl").write_text("")
    (ev / "manifest-2026-13-01.json").write_text("")
    out = fails_with(
        ev, f"FAIL {ev}/audit-2026-02-30.jsonl: not evidence: the name does not hold a real date", f"FAIL {ev}/manifest-2026-13-01.json: not evidence"
    )
    assert out.count("PASS ") == 12


def test_a_name_that_is_not_utf8_is_printed_not_raised(ev):
    os.close(os.open(os.path.join(os.fsencode(ev), b"audit-\xff.jsonl"), os.O_CREAT | os.O_WRONLY))
    r = no_traceback(verify_log(ev))
    assert r.returncode == 1 and "audit-\\udcff.jsonl: not evidence" in r.stdout, r.stdout
    assert json.loads(verify_log(ev, "--json").stdout)["ok"] is False


@pytest.mark.parametrize("victim", ["sidecar", "manifest", "signature", "data"])
def test_a_fifo_in_place_of_evidence_is_refused_without_blocking(ev, pub, victim):
    path = {"sidecar": data(ev).with_name(data(ev).name + ".sha256"), "manifest": ev / f"manifest-{DAYS[1]}.json", "data": data(ev)}.get(
        victim, ev / f"manifest-{DAYS[1]}.json.sig"
    )
    path.unlink()
    os.mkfifo(path)
    cmd = [sys.executable, str(AUDIT), "verify-log", str(ev), "--public-key", pub]
    r = subprocess.run(cmd, env=on_the_clock(), capture_output=True, text=True, timeout=60, check=False)
    no_traceback(r)
    name = path.name
    assert r.returncode == 1 and "a FIFO: refused, evidence is read from regular files only" in r.stdout and name in r.stdout, r.stdout


# ---- signatures that were not checked (issue 16) ----------------------------------------------------
def test_signatures_not_checked_is_said_on_every_signed_line_and_in_json(ev):
    r = verify_log(ev)
    signed = [line for line in r.stdout.splitlines() if "/manifest-" in line]
    assert r.returncode == 0 and len(signed) == 4 and all(line.endswith("; signatures NOT checked") for line in signed), r.stdout
    assert r.stdout.splitlines()[-1] == "PASS: 12 checked, 0 failed; signatures NOT checked (4 signature files, no public key given)"
    result = json.loads(verify_log(ev, "--json").stdout)
    assert result["signatures"] == "NOT checked"
    assert [e["notes"] for e in result["results"] if "/manifest-" in e["path"]] == [["signatures NOT checked"]] * 4


def test_signatures_checked_is_said_too(ev, pub):
    assert json.loads(verify_log(ev, "--json", "--public-key", pub).stdout)["signatures"] == "checked"
    for sig in ev.glob("*.sig"):
        sig.unlink()
    assert json.loads(verify_log(ev, "--json").stdout)["signatures"] == "none found"


# ---- the evidence_verify module and the verify_evidence playbook (issue 17) ----------------------
def test_the_module_fails_on_a_directory_without_evidence(tmp_path):
    r = ansible_module("brain.ops_assurance.evidence_verify", {"path": str(tmp_path)})
    assert r["failed"] and r["ok"] is False and r["checked"] == 1
    assert r["msg"] == f"1 problem(s) in the evidence: {tmp_path}: no evidence found: no audit-YYYY-MM-DD.jsonl or manifest-YYYY-MM-DD.json in the directory"


def test_the_module_requires_the_days_up_to_until(ev, pub):
    delete_days(ev, DAYS[3])
    r = ansible_module("brain.ops_assurance.evidence_verify", {"path": str(ev), "until": DAYS[3], "public_key": pub})
    assert r["failed"] and f"missing day {DAYS[3]}: the newest evidence is of {DAYS[2]}, but every day up to {DAYS[3]} was asked for" in r["msg"]
    r = ansible_module("brain.ops_assurance.evidence_verify", {"path": str(ev), "max_age": hours_since_end_of(DAYS[2]) - 1})
    assert r["failed"] and f"missing day {DAYS[3]}" in r["msg"]
    r = ansible_module("brain.ops_assurance.evidence_verify", {"path": str(ev), "max_age": 0, "public_key": pub})
    assert not r.get("failed") and r["ok"] is True and r["signatures"] == "checked"


def test_the_module_says_when_signatures_were_not_checked(ev):
    r = ansible_module("brain.ops_assurance.evidence_verify", {"path": str(ev)})
    assert r["ok"] is True and r["signatures"] == "NOT checked"
    assert r["warnings"] == ["signatures NOT checked: 4 signature files, no public_key given"]


def test_the_playbook_prints_a_failure_once(ev):
    ls = lines(data(ev))
    ls[5] = ls[5].replace(b'"host":"exec-', b'"host":"exec-9')
    rewrite(data(ev), ls)
    rc, out = playbook("verify_evidence", "-e", "verify_evidence_hosts=localhost", "-e", f"evidence_export_dir={ev}")
    assert rc != 0 and out.count("line 6: hash mismatch") == 1, out
    assert "FAIL: 12 checked, 3 failed; signatures NOT checked: 4 problem(s) in the evidence: " in out
    assert "the evidence does not verify (the problems are in the summary above)" in out


# ---- the scripts run on Debian 12, which has no `python` (issue 19) ------------------------------
@pytest.mark.parametrize("script", ["brain-audit", "brain-evidence-export"])
def test_the_scripts_start_with_the_python3_that_debian_has(script):
    path = Path(AUDIT).parent / script
    assert path.read_text().splitlines()[0] == "#!/usr/bin/python3"
    r = subprocess.run([str(path), "--help"], env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0 and r.stdout.startswith("usage: "), r.stderr
