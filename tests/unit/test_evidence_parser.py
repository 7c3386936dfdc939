"""The evidence verifier's parser, in-process: its fast path never accepts what the full parser
rejects, and no line or directory makes it raise (tests/functional/test_evidence_verify.py runs
brain-audit on evidence the real exporter made)."""

import contextlib
import datetime
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from ansible_collections.brain.ops_assurance.plugins.module_utils import evidence
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir


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


def test_the_chain_start_rule_is_one_function():
    assert evidence.chain_continues(None, "a" * 64)  # nothing exported before: the chain starts here
    assert evidence.chain_continues("b" * 64, "b" * 64)
    assert not evidence.chain_continues("b" * 64, "a" * 64)
    export_source = (Path(evidence.__file__).parents[2] / "scripts" / "brain-evidence-export").read_text()
    assert "evidence.chain_continues(" in export_source and 'chain_head"] and data["count"] and data["chain_prev"] !=' not in export_source


# ---- the fast path on first lines (issue 16) -------------------------------------------------------
def honest_line(**changes):
    """A valid event line, or one with `changes` applied to its members, with a hash that is
    honest for its bytes (as an intruder would recompute it)."""
    event = {"actor": "system", "details": {"a": 1}, "event_id": "e", "event_type": "t", "prev_hash": "0" * 64, "seq": 1}
    event.update(severity="INFO", timestamp="2026-01-01T00:00:00.000000Z", trace_id=None, **changes)
    entry = evidence.canonical_json(event)
    h = hashlib.sha256(entry + event["prev_hash"].encode()).hexdigest().encode()
    return entry.replace(b',"prev_hash"', b',"hash":"' + h + b'","prev_hash"') + b"\n"


@pytest.mark.parametrize(
    "prev_hash,message",
    [("A" * 64, "prev_hash is not 64 lower-case hex digits"), ("g" * 64, "prev_hash is not 64 lower-case hex digits")],
    ids=["upper-case", "not-hex"],
)
def test_a_first_line_the_full_parser_rejects_is_rejected(prev_hash, message):
    chain = evidence.verify_lines(honest_line(prev_hash=prev_hash))
    assert chain.malformed == 1 and chain.messages() == [f"line 1: {message}"]


def test_a_first_line_whose_prev_hash_holds_a_raw_newline_is_rejected():
    line = honest_line().replace(b'"prev_hash":"' + b"0" * 64, b'"prev_hash":"' + b"0" * 30 + b"\n" + b"0" * 33)
    chain = evidence.verify_lines(line)
    assert chain.malformed == 2 and chain.count == 0, chain.messages()


# ---- properties (Hypothesis): fast path and full parser agree; nothing raises -------------------
# Bounded: 900 examples in all (500 + 300 + 100), under a minute on 2 busy CPUs; derandomized, so a run is reproducible and
# `make test` never fails on an example the previous run did not try.
# Its caches go outside the checkout, which is packaged as the collection.
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "brain-oa-hypothesis"))
PROPERTY = settings(max_examples=500, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
NEVER = re.compile(rb"(?!)")  # a fast path that matches nothing: every line takes the full parser
HEX = "0123456789abcdef"
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=6)  # lone surrogates and controls included
SCALARS = st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats(allow_nan=False) | TEXT
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=6)
SIMPLE = st.text(st.characters(codec="utf-8", exclude_characters="\ud800"), max_size=6)
VALID = st.fixed_dictionaries(
    {
        "actor": SIMPLE,
        "details": st.dictionaries(st.text('ab !"\\é', max_size=3), st.none() | st.booleans() | st.integers(-(10**19), 10**19) | SIMPLE, max_size=3),
        "event_id": SIMPLE,
        "event_type": SIMPLE,
        "prev_hash": st.text(HEX, min_size=64, max_size=64),
        "seq": st.integers(1, 3) | st.integers(10**17, 2**63),
        "severity": st.sampled_from(evidence.SEVERITIES),
        "timestamp": st.sampled_from(["2026-01-01T00:00:00.000000Z", "2026-01-01T23:59:59.999999Z"]),
        "trace_id": st.none() | SIMPLE,
    }
)
# One change at a time to a valid event, so that most lines are one step from valid: where the
# fast path and the full parser could disagree. Each is (member, strategy for its new value).
EDGES = [
    ("prev_hash", st.text(HEX.upper() + "gz", min_size=64, max_size=64) | st.text(HEX + 'A\n\t"\\\x00é', min_size=63, max_size=65)),
    ("hash", st.text(HEX.upper() + "\n", min_size=64, max_size=64) | VALUES),
    ("seq", st.sampled_from([0, -1, 2**63, 10**19, True, 1.0, "1", 10**5000 // 10**700])),
    ("details", st.dictionaries(TEXT, VALUES, max_size=5) | VALUES),
    ("timestamp", st.sampled_from(["2026-01-02T00:00:00.000000Z", "2026-01-01T00:00:00Z", "٢٠٢٦-01-01T00:00:00.000000Z", "2026-01-01T00:00:00.000000Z\n"])),
    ("severity", st.sampled_from(["info", "", 1, None])),
    ("trace_id", VALUES),
    ("actor", TEXT | VALUES),
]


@st.composite
def lines_(draw):
    """An event line as a backend or an intruder might write it: a valid event, or one changed in
    one way (a member's value, a member missing or extra, another serialisation, raw bytes), with
    a hash that is honest for its bytes (as an intruder would recompute it) unless the change is
    to the hash itself."""
    event = draw(VALID)
    change = draw(st.sampled_from(["none", "none", "member", "member", "member", "drop", "extra", "style", "bytes", "newline"]))
    hash_value = None
    if change == "member":
        member, values = draw(st.sampled_from(EDGES))
        if member == "hash":
            hash_value = draw(values)
        else:
            event[member] = draw(values)
    elif change == "drop":
        del event[draw(st.sampled_from(sorted(event)))]
    elif change == "extra":
        event["zzz"] = 1
    dump = {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False}
    if change == "style":
        dump = draw(st.sampled_from([{"sort_keys": True, "separators": (",", ":")}, {"sort_keys": True, "ensure_ascii": False}, {"ensure_ascii": False}]))
    try:
        entry = json.dumps(event, **dump).encode("utf-8", "surrogatepass")
    except ValueError:  # an infinite float: not JSON at all
        entry = b"{}"
    if change == "bytes":
        at = draw(st.integers(0, len(entry)))
        entry = entry[:at] + draw(st.binary(max_size=2)) + entry[at + draw(st.integers(0, 2)) :]
    elif change == "newline":  # a raw newline inside a member, as in the prev_hash the old fast path took
        at = entry.find(b'"prev_hash":"') + 13 + draw(st.integers(0, 63))
        entry = entry[:at] + b"\n" + entry[at + 1 :]
    # The hash the fast path would compute: over the entry and the 64 bytes after "prev_hash":"
    prev = re.search(rb'"prev_hash":"(.{64})', entry, re.S)
    honest = hashlib.sha256(entry + (prev.group(1) if prev else b"")).hexdigest()
    member = json.dumps(honest if hash_value is None else hash_value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    if b'"prev_hash"' in entry:
        return entry.replace(b'"prev_hash"', b'"hash":' + member + b',"prev_hash"', 1)
    return entry[:-1] + b',"hash":' + member + b"}" if entry.endswith(b"}") else entry


def chain_state(block, day):
    chain = evidence.verify_lines(block, day)
    return chain.lines, chain.count, chain.malformed, chain.first, chain.last, chain.total_problems, chain.messages()


@PROPERTY
@given(st.lists(lines_(), min_size=1, max_size=3), st.sampled_from([None, "2026-01-01"]))
def test_the_fast_path_and_the_full_parser_agree_on_every_line(block_lines, day):
    """Whole chain states compared: counts, first and last event, every message. The first line
    of a block is where the old fast path trusted any 64 bytes as prev_hash."""
    block = b"\n".join(block_lines) + b"\n"
    fast = chain_state(block, day)
    with mock.patch.object(evidence, "_line_re", lambda _day: NEVER):
        slow = chain_state(block, day)
    assert fast == slow


@settings(PROPERTY, max_examples=300)
@given(st.binary(max_size=300) | lines_())
def test_no_line_makes_the_verifier_raise(raw):
    evidence.verify_lines(raw)
    evidence.verify_lines(raw, "2026-01-01")
    for parse in (evidence.parse_event, lambda r: evidence.parse_record(r, evidence.MANIFEST_KEYS, "the manifest")):
        with contextlib.suppress(evidence.EvidenceError):
            parse(raw)


MANIFEST = {
    "chain_head": "a" * 64,
    "chain_prev": "b" * 64,
    "date": "2026-01-01",
    "event_count": 1,
    "file": "audit-2026-01-01.jsonl",
    "file_sha256": "c" * 64,
    "file_size": 10,
    "first_seq": 1,
    "format_version": 1,
    "last_seq": 1,
    "previous_manifest": None,
}
NOW = datetime.datetime(2026, 1, 3, 12, 0, tzinfo=datetime.UTC)  # the verifier's clock: noon after the newest day the names hold
NAMES = st.sampled_from(["audit-2026-01-01.jsonl", "audit-2026-01-01.jsonl.sha256", "manifest-2026-01-01.json", "manifest-2026-01-01.json.sig"])
NAMES |= st.sampled_from(["audit-2026-01-02.jsonl", "manifest-2026-01-02.json", "chain-anchor.json", "chain-anchor.json.sig", "manifest-2026-02-30.json"])
NAMES |= st.binary(min_size=1, max_size=12).filter(lambda b: b"/" not in b and b"\x00" not in b and b not in (b".", b"..")).map(os.fsdecode)


@st.composite
def records(draw):
    record = dict(draw(st.sampled_from([MANIFEST, {"first_date": "2026-01-01", "format_version": 1, "previous_manifest": None, "removed": []}])))
    for key in draw(st.lists(st.sampled_from(sorted(record)), max_size=2)):
        record[key] = draw(VALUES)
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n"


@settings(PROPERTY, max_examples=100)
@given(st.dictionaries(NAMES, st.binary(max_size=200) | lines_() | records() | st.just("fifo") | st.just("symlink"), max_size=6), st.booleans())
def test_no_directory_makes_the_verifier_raise(files, with_until):
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in files.items():
            path = os.path.join(tmp, name)
            if content == "fifo":
                os.mkfifo(path)
            elif content == "symlink":
                os.symlink("/etc/hostname", path)
            else:
                with open(path, "wb") as fh:
                    fh.write(content)
        report = evidence.verify_path(tmp, until="2026-01-02" if with_until else None, now=NOW)
        json.dumps(report.as_json())
        assert all(e["problems"] for e in report.failed) and (report.ok or report.failed)
        if not any(n.startswith(("audit-2026-01-0", "manifest-2026-01-0")) for n in files):
            assert not report.ok  # no evidence is never a PASS
