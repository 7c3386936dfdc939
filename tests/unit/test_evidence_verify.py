"""The tamper suite: brain-audit verify-log finds every kind of damage to exported evidence, says
where, and raises no false alarm on clean data. The evidence is made by the real exporter from
the real reference backend, then damaged the way an intruder or a broken disk would."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest
from ansible_collections.brain.ops_assurance.plugins.module_utils import evidence
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers.evidence import day, export, seeded_backend, verify_log

DAYS = [day(-4), day(-3), day(-2), day(-1)]  # day(-1) has no events


def pem_private(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def pem_public(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """A signed evidence directory of four days, and the auditor's public key."""
    root = tmp_path_factory.mktemp("clean")
    backend = seeded_backend(root)
    key = Ed25519PrivateKey.generate()
    (root / "signing.pem").write_bytes(pem_private(key))
    (root / "signing.pub").write_bytes(pem_public(key))
    (root / "evidence").mkdir()
    try:
        r = export(backend.url(""), root / "evidence", "--start-date", DAYS[0], "--signing-key", str(root / "signing.pem"))
        assert r.returncode == 0, r.stderr
    finally:
        backend.stop()
    return root


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


def test_the_fast_path_never_accepts_what_the_definition_rejects():
    """Lines whose hash is honest for their bytes (an intruder recomputed it) but that are not
    canonical must still fail: the hash does not make a line valid."""
    base = {"actor": "system", "details": {"a": 1, "b": "x"}, "event_id": "e", "event_type": "t", "prev_hash": "0" * 64, "seq": 1}
    base.update(severity="INFO", timestamp="2026-01-01T00:00:00.000000Z", trace_id=None)
    good = evidence.canonical_json(base)

    def with_hash(entry):
        h = hashlib.sha256(entry + b"0" * 64).hexdigest().encode()
        return entry.replace(b',"prev_hash"', b',"hash":"' + h + b'","prev_hash"') + b"\n"

    assert evidence.verify_lines(with_hash(good)).total_problems == 0
    cases = {
        b'"details":{"b":"x","a":1}': "not in canonical form",
        b'"details":{"a":1,"a":2}': 'duplicate key "a"',
        b'"details":{"a":1,"b":"x","c":3,"d":4,"d":5}': 'duplicate key "d"',
        b'"details":{"a":1.50,"b":"x"}': "not in canonical form",
        b'"details":{"a":1,"b":"\\u00e9"}': "not in canonical form",
        b'"details":{"a":1,"b":"\xff"}': "not valid UTF-8",
    }
    for details, message in cases.items():
        line = with_hash(good.replace(b'"details":{"a":1,"b":"x"}', details))
        chain = evidence.verify_lines(line)
        assert chain.malformed == 1 and message in chain.messages()[0], (details, chain.messages())
    # The key order test of the fast path at its edges: a key that is a prefix of the next, empty
    # keys, a key continued with a character below the quote; sorted ones pass, the rest fail.
    orders = {
        (): True,
        ("",): True,
        ("", "a"): True,
        ("a", "ab"): True,
        ("a", "a!", "a !"): False,
        ("a", "a !", "a!"): True,
        ("a", "b", "c"): True,
        ("ab", "a"): False,
        ("a", "a"): False,
        ("a", "c", "b"): False,
        ("a", "b", "b"): False,
        ("", ""): False,
    }
    for keys, valid in orders.items():
        details = b"{" + b",".join(b'"%s":%d' % (k.encode(), n) for n, k in enumerate(keys)) + b"}"
        chain = evidence.verify_lines(with_hash(good.replace(b'{"a":1,"b":"x"}', details)))
        assert (chain.total_problems == 0) is valid and chain.malformed == (not valid), (keys, chain.messages())
    # The day is part of the fast path: a line of another day is reported, not passed.
    chain = evidence.verify_lines(with_hash(good), day="2026-01-02")
    assert chain.messages() == ["line 1: timestamp 2026-01-01T00:00:00.000000Z is outside the file's day"]


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
    r = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(evidence.__file__), capture_output=True, text=True, check=True)
    assert r.stdout == "[]\n"
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.asymmetric.ed25519", None)
    with pytest.raises(evidence.EvidenceError, match=r"^checking signatures needs the Python package cryptography \(Debian: python3-cryptography\)$"):
        evidence.verify_path(str(ev), pub)
