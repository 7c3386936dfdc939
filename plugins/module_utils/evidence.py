# Copyright: brain.ops_assurance contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Evidence integrity: the one source of the on-disk evidence format and of its verification.

brain-evidence-export writes by these rules; brain-audit verify-log and the evidence_verify
module check by them. The format is described in docs/evidence-format.md. Standard library only
(Ed25519 signatures need the optional `cryptography` package), because the same file runs as an
Ansible module_util on managed hosts and beside the scripts.
"""

import base64
import binascii
import datetime
import errno
import functools
import hashlib
import itertools
import json
import multiprocessing
import os
import re
import stat
from concurrent.futures import ProcessPoolExecutor

FORMAT_VERSION = 1
GENESIS = "0" * 64
ANCHOR_NAME = "chain-anchor.json"
EVENT_KEYS = ("actor", "details", "event_id", "event_type", "hash", "prev_hash", "seq", "severity", "timestamp", "trace_id")
SEVERITIES = ("INFO", "WARNING", "ERROR", "CRITICAL")
MANIFEST_KEYS = (
    "chain_head",
    "chain_prev",
    "date",
    "event_count",
    "file",
    "file_sha256",
    "file_size",
    "first_seq",
    "format_version",
    "last_seq",
    "previous_manifest",
)
ANCHOR_KEYS = ("first_date", "format_version", "previous_manifest", "removed")
NAME_RE = re.compile(r"(audit-([0-9]{4}-[0-9]{2}-[0-9]{2})\.jsonl(?:\.sha256)?|manifest-([0-9]{4}-[0-9]{2}-[0-9]{2})\.json(?:\.sig)?)")
# Both used with fullmatch(). A name that claims to be evidence (NAME_RE with any text for the day): refused, not ignored.
EVIDENCE_LIKE_RE = re.compile(r"(audit-.*\.jsonl(?:\.sha256)?|manifest-.*\.json(?:\.sig)?|chain-anchor\.json(?:\.sig)?)", re.S)
# Used with fullmatch(): `$` would also accept a trailing newline, `\d` any Unicode digit.
HEX64_RE = re.compile(r"[0-9a-f]{64}")
_HEX64_BYTES = re.compile(rb"[0-9a-f]{64}")
TS_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
MAX_PROBLEMS = 20  # per file: enough to see the shape of the damage, bounded output
# Bounds on what a stored line or record may hold, so hostile input costs bounded time and memory
# and never reaches Python's own limits (recursion, 4300-digit integers) as an exception.
MAX_LINE_BYTES = 1 << 20  # an audit line, a manifest, an anchor, a signature
MAX_DEPTH = 32  # nesting of JSON objects and arrays in a line
MAX_SEQ = 2**63 - 1  # the backend's sequence numbers are 64-bit integers
# How long ago the newest day may have ended: the daily export at 02:00 UTC exports the day that
# ended two hours before, so the newest day is up to 26 hours old just before a run; two more
# hours for the run to finish (retries, catch-up). Older: the export stopped or days were deleted.
DEFAULT_MAX_AGE_HOURS = 28
MAX_AGE_HOURS = 24 * 366 * 100  # a bound that keeps the date arithmetic in range
SIGNATURES_NOT_CHECKED = "signatures NOT checked"

# The fast path: one regular expression that accepts a subset of valid event lines (canonical
# JSON, the contract's members in order, a flat `details` object of at most three keys without
# escapes, with string, integer, boolean or null values, a timestamp on the file's day) and
# captures what the chain checks need. Anything else goes through parse_event(), which is the
# definition of a valid line. It accepts nothing parse_event() rejects, first lines included (the
# Hypothesis tests compare both): integers are short enough for any limit, and `hash` and
# `prev_hash` match any 64 bytes (a class would cost every line 128 tests) but are proven
# lower-case hex in verify_lines() before a line is accepted.
_STR = rb'[^"\\\x00-\x1f]*+(?:\\(?:["\\bfnrt]|u00(?:0[0-7bef]|1[0-9a-f]))[^"\\\x00-\x1f]*+)*+'
_INT = rb"(?:0|[1-9][0-9]{0,17})"  # below MAX_SEQ and Python's 4300-digit limit; longer ones: slow path
_VALUE = rb'(?:"' + _STR + rb'"|-?' + _INT + rb"|true|false|null)"
_KEY = rb'"[^"\\\x00-\x1f]*+'  # a key's opening quote and text: the key order test below needs both
_ABSENT = b"\xff"  # an absent key group: above any UTF-8 byte
_NO_MATCH = (None,) * 10


@functools.lru_cache(maxsize=8)
def _line_re(day):
    """The fast-path expression for lines of `day` (bytes), or of any day (None). Each details key
    is captured as `"key"` and the next one also as `"key` (no closing quote): `"a" <= "b` holds
    only if a < b, so two byte comparisons prove the keys sorted and unique. The converse fails
    only where a key continues the one before with a space or "!", which sends the line down the
    slow path, never past a check."""
    date = re.escape(day) if day else rb"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    return re.compile(
        rb'(\{"actor":"' + _STR + rb'","details":\{(?:(' + _KEY + rb'"):' + _VALUE
        + rb"(?:,((" + _KEY + rb')"):' + _VALUE + rb"(?:,(" + _KEY + rb')":' + _VALUE + rb")?)?)?\}"
        rb',"event_id":"' + _STR + rb'","event_type":"' + _STR + rb'"),"hash":"((?s:.{64}))"(,"prev_hash":"((?s:.{64}))","seq":([1-9][0-9]{0,17})'
        rb',"severity":"(?:INFO|WARNING|ERROR|CRITICAL)","timestamp":"(' + date + rb'T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z)"'
        rb',"trace_id":(?:null|"' + _STR + rb'")\})\n'
    )  # fmt: skip


_BLOCK_SIZE = 1 << 18  # fits a core's L2 cache; memory stays flat whatever the file size
_PARALLEL_MIN_SIZE = 32 << 20  # below this, forking costs more than it saves


class EvidenceError(Exception):
    """A problem with evidence input that is not a verification finding (unreadable, bad key)."""


class LineError(EvidenceError, ValueError):
    """An audit line that is not a valid event."""


class _DuplicateKey(ValueError):
    pass


def canonical_json(obj):
    """The one byte form that is hashed and stored: sorted keys, no whitespace, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def chain_hash(entry_bytes, prev_hash):
    """h_N = SHA256(canonical(entry_N without "hash") || h_{N-1}), both as bytes."""
    return hashlib.sha256(entry_bytes + prev_hash).hexdigest()


def data_name(day):
    return f"audit-{day}.jsonl"


def sidecar_name(day):
    return data_name(day) + ".sha256"


def manifest_name(day):
    return f"manifest-{day}.json"


def signature_name(name):
    return name + ".sig"


def sidecar_text(digest, name):
    """The sidecar line `sha256sum -c` accepts."""
    return f"{digest}  {name}\n"


def parse_day(value):
    """A YYYY-MM-DD string to a date; ValueError with a clear message otherwise."""
    if isinstance(value, str) and len(value) == 10 and value.isascii():
        try:
            day = datetime.date.fromisoformat(value)
        except ValueError:
            pass
        else:
            if str(day) == value:  # not another ISO 8601 form of 10 characters (2026-W47-6)
                return day
    raise ValueError(f"not a date in the form YYYY-MM-DD: {value!r}")


class FileProblem(EvidenceError):
    """An evidence file that cannot be read as one: reported as a FAIL of that file."""


_FILE_TYPES = {stat.S_IFIFO: "a FIFO", stat.S_IFDIR: "a directory", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device"}


def open_regular(path):
    """Open an evidence file for reading, refusing anything but a regular file: a symlink (it can
    point at a copy anywhere) or a special file (a FIFO would block the reader for ever). The
    checks are on the open descriptor, so nothing can be swapped in between."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise FileProblem("a symbolic link: refused, evidence is read from regular files only") from None
        if err.errno == errno.ENXIO:
            raise FileProblem("a socket: refused, evidence is read from regular files only") from None
        raise FileProblem(f"unreadable: {err.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise FileProblem(f"{_FILE_TYPES.get(stat.S_IFMT(mode), 'not a regular file')}: refused, evidence is read from regular files only")
    return os.fdopen(fd, "rb")


def file_sha256(path):
    h = hashlib.sha256()
    with open_regular(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- audit lines ------------------------------------------------------------------------------


def _no_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


_STRINGS_RE = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)


def _depth(text):
    """The deepest nesting of objects and arrays in JSON text (strings taken out first)."""
    depth = deepest = 0
    for char in _STRINGS_RE.sub("", text):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _loads(raw, what):
    """JSON text (bytes) to a value, or LineError: UTF-8, no duplicate keys, no NaN, bounded
    nesting, and a value that has a canonical form (no lone surrogates, no infinite floats)."""
    prefix = f"{what} is " if what else ""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise LineError(f"{prefix}not valid UTF-8 at byte {err.start}") from None
    if ("[" in text or "{" in text) and _depth(text) > MAX_DEPTH:
        raise LineError(f"{prefix}nested deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except _DuplicateKey as err:
        raise LineError("{}duplicate key {}".format(f"{what} has a " if what else "", json.dumps(err.args[0]))) from None
    except (ValueError, RecursionError) as err:  # RecursionError: unreachable below MAX_DEPTH, kept as a net
        raise LineError("{}not valid JSON ({})".format(prefix, getattr(err, "msg", None) or err)) from None
    try:
        canonical = canonical_json(value)
    except UnicodeEncodeError as err:
        raise LineError(f"{prefix}not valid Unicode (a lone surrogate \\u{ord(err.object[err.start]):04x})") from None
    except ValueError as err:  # a number too large for a float
        raise LineError(f"{prefix}not valid JSON ({err})") from None
    return value, canonical


def parse_event(line):
    """Parse one stored line (bytes, without its newline) into an event, or raise LineError.

    This is the definition of a valid line: UTF-8 JSON without duplicate keys, exactly the
    contract's members with their types, and byte-identical to its canonical form.
    """
    event, canonical = _loads(line, "")
    if not isinstance(event, dict):
        raise LineError("not a JSON object")
    keys = set(event)
    if keys != set(EVENT_KEYS):
        missing, extra = sorted(set(EVENT_KEYS) - keys), sorted(keys - set(EVENT_KEYS))
        raise LineError("members differ from the contract (missing: {}; unexpected: {})".format(", ".join(missing) or "none", ", ".join(extra) or "none"))
    for key in ("actor", "event_id", "event_type"):
        if not isinstance(event[key], str):
            raise LineError(f"{key} is not a string")
    if not isinstance(event["details"], dict):
        raise LineError("details is not an object")
    for key in ("hash", "prev_hash"):
        if not isinstance(event[key], str) or not HEX64_RE.fullmatch(event[key]):
            raise LineError(f"{key} is not 64 lower-case hex digits")
    if not _is_int(event["seq"], 1, MAX_SEQ):
        raise LineError(f"seq is not an integer from 1 to {MAX_SEQ}")
    if event["severity"] not in SEVERITIES:
        raise LineError("severity is not one of {}".format(", ".join(SEVERITIES)))
    if not isinstance(event["timestamp"], str) or not TS_RE.fullmatch(event["timestamp"]):
        raise LineError("timestamp is not UTC in the form YYYY-MM-DDTHH:MM:SS.ffffffZ")
    if event["trace_id"] is not None and not isinstance(event["trace_id"], str):
        raise LineError("trace_id is neither a string nor null")
    if canonical != line:
        raise LineError("not in canonical form (whitespace, key order or escaping differ)")
    return event


def _is_int(value, low, high=MAX_SEQ):
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _slow_fields(line):
    """hash, prev_hash, seq, timestamp and the hashed entry of a line, through parse_event()."""
    event = parse_event(line)
    entry = canonical_json({k: v for k, v in event.items() if k != "hash"})
    return event["hash"].encode(), event["prev_hash"].encode(), event["seq"], event["timestamp"].encode(), entry


class Chain:
    """The state of a hash-chain check: events counted, the first and last event, problems."""

    __slots__ = ("count", "first", "last", "lines", "malformed", "problems", "total_problems")

    def __init__(self):
        self.lines = 0  # lines read, valid or not
        self.count = 0  # valid events
        self.malformed = 0  # lines that are not valid events (as opposed to altered ones)
        self.first = None  # (seq, prev_hash, timestamp) of the first event
        self.last = None  # (seq, hash, timestamp) of the last event
        self.problems = []
        self.total_problems = 0

    def problem(self, lineno, message):
        self.total_problems += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append((lineno, message))

    def link(self, lineno, last, seq, prev_hash, ts):
        """Report how an event fails to follow `last` (the event before it)."""
        last_seq, last_hash, last_ts = last
        if prev_hash != last_hash:
            self.problem(lineno, f"chain broken: prev_hash {prev_hash[:12].decode()}... is not the hash of the event before it ({last_hash[:12].decode()}...)")
        if seq != last_seq + 1:
            self.problem(lineno, f"seq {seq} follows seq {last_seq}")
        if ts < last_ts:
            self.problem(lineno, f"timestamp {ts.decode()} is earlier than the event before it ({last_ts.decode()})")

    def join(self, other):
        """Append the state of the next part of the same file (parallel verification)."""
        offset = self.lines
        if other.first is not None and self.last is not None:
            self.link(offset + 1, self.last, *other.first)
        self.first = self.first or other.first
        self.last = other.last or self.last
        self.lines += other.lines
        self.count += other.count
        self.malformed += other.malformed
        self.total_problems += other.total_problems
        self.problems.extend((n + offset, m) for n, m in other.problems[: MAX_PROBLEMS - len(self.problems)])

    def summary(self, sha256, size):
        """What a manifest records about the file these events came from."""
        first, last = self.first, self.last
        return {
            "sha256": sha256,
            "size": size,
            "count": self.count,
            "first_seq": first[0] if first else None,
            "last_seq": last[0] if last else None,
            "chain_prev": first[1].decode() if first else None,
            "chain_head": last[1].decode() if last else None,
            "problems": self.messages(),
        }

    def messages(self):
        found = [f"line {n}: {m}" for n, m in sorted(self.problems)]
        if self.total_problems > len(found):
            found.append(f"... and {self.total_problems - len(found)} more problems")
        return found


def verify_lines(block, day=None, chain=None, end=None):
    """Verify the event lines in `block[:end]` (bytes, whole lines) and return the Chain state,
    continuing `chain` when given (the next block of the same file or export). Problems are
    numbered by line from the start of the chain."""
    chain = chain or Chain()
    day = day.encode() if day else None
    match, sha256 = _line_re(day).match, hashlib.sha256
    lineno, first, skipped = chain.lines + 1, chain.first, 0
    last_seq, last_hash, last_ts = chain.last or (None, None, None)
    size = len(block) if end is None else end
    if size:
        if block[size - 1 : size] != b"\n":
            block = block[:size] + b"\n"
            size += 1
            chain.problem(lineno + block.count(b"\n") - 1, "the last line has no newline (truncated file?)")
        fast = block.isascii() or _is_utf8(block[:size])  # the expression does not check UTF-8
        pos = 0
        while pos < size:
            m = match(block, pos) if fast else None
            head, k1, k2, k2_open, k3_open, hsh, tail, prev, seq, ts = m.groups(_ABSENT) if m is not None else _NO_MATCH
            # Taken when the details keys are sorted and unique, `hash` equals the computed digest
            # (so it is lower-case hex) and `prev_hash` equals the hash before it or is hex (a
            # chain's first line, a break); anything else gets the full parser's verdict.
            if (
                m is not None
                and k1 <= k2_open
                and k2 <= k3_open
                and (digest := sha256(head + tail + prev).hexdigest().encode()) == hsh
                and (prev == last_hash or _HEX64_BYTES.fullmatch(prev))
            ):
                pos, seq = m.end(), int(seq)
            else:
                nl = block.index(b"\n", pos)
                line, pos = block[pos:nl], nl + 1
                try:
                    hsh, prev, seq, ts, entry = _slow_fields(line)
                except LineError as err:
                    chain.problem(lineno, str(err))
                    lineno, skipped = lineno + 1, skipped + 1
                    continue
                if day is not None and ts[:10] != day:
                    chain.problem(lineno, f"timestamp {ts.decode()} is outside the file's day")
                digest = sha256(entry + prev).hexdigest().encode()
            if digest != hsh:
                chain.problem(lineno, f"hash mismatch: the event was altered after it was written (seq {seq})")
            if prev != last_hash or seq != last_seq + 1 or ts < last_ts:  # cheap test; link() says what is wrong
                if last_hash is None:
                    first = (seq, prev, ts)
                else:
                    chain.link(lineno, (last_seq, last_hash, last_ts), seq, prev, ts)
            last_seq, last_hash, last_ts = seq, hsh, ts
            lineno += 1
    chain.count += lineno - 1 - chain.lines - skipped
    chain.malformed += skipped
    chain.lines, chain.first = lineno - 1, first
    if last_hash is not None:
        chain.last = (last_seq, last_hash, last_ts)
    return chain


def _is_utf8(block):
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _verify_range(path, start, end, day, digest=None):
    """Verify whole lines of a file from byte `start` to `end`, reading it in blocks (memory
    stays bounded whatever the size); also feeds the bytes to `digest` when given."""
    chain = Chain()
    with open_regular(path) as fh:
        pos, want = start, _BLOCK_SIZE
        while pos < end:
            fh.seek(pos)
            block = fh.read(min(want, end - pos))
            if not block:  # the file shrank while it was read; the size and hash show it
                break
            cut = len(block) if pos + len(block) >= end else block.rfind(b"\n") + 1
            if cut == 0 and want <= MAX_LINE_BYTES:  # a line longer than the block: read more at once
                want = min(2 * want, MAX_LINE_BYTES + 1)
                continue
            if cut == 0:  # no newline in MAX_LINE_BYTES + 1 bytes: skip the line, bounded memory
                cut = _line_end(fh, pos + len(block), end, digest, block) - pos
                chain.lines += 1
                chain.malformed += 1
                chain.problem(chain.lines, f"longer than {MAX_LINE_BYTES} bytes")
            else:
                if digest is not None:
                    digest.update(memoryview(block)[:cut])
                verify_lines(block, day, chain, cut)  # the partial line after `cut` is read again
            pos, want = pos + cut, _BLOCK_SIZE
    return chain


def _line_end(fh, pos, end, digest=None, head=b""):
    """The offset after the newline that ends the line running through `pos` (or `end`),
    reading forward in bounded blocks; feeds `head` and the bytes read to `digest`."""
    if digest is not None:
        digest.update(head)
    fh.seek(pos)
    while pos < end:
        block = fh.read(min(1 << 20, end - pos))
        if not block:
            return end
        nl = block.find(b"\n")
        if digest is not None:
            digest.update(block if nl < 0 else block[: nl + 1])
        if nl >= 0:
            return pos + nl + 1
        pos += len(block)
    return end


def _split(path, size, parts):
    """Byte offsets that cut the file into `parts` ranges at line ends."""
    cuts = [0]
    with open_regular(path) as fh:
        for k in range(1, parts):
            cut = _line_end(fh, size * k // parts, size)
            if cuts[-1] < cut < size:
                cuts.append(cut)
    cuts.append(size)
    return list(itertools.pairwise(cuts))


def verify_data_file(path, day=None, jobs=None):
    """Verify one audit file: every line, the chain inside it. Returns a dict:

    sha256, size, count, first_seq, last_seq, chain_prev (prev_hash of the first event),
    chain_head (hash of the last event), problems (list of str). Raises FileProblem for a file
    that is not a readable regular file.
    """
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
    jobs = max(1, jobs if jobs else min(os.cpu_count() or 1, 4))
    if jobs == 1 or size < _PARALLEL_MIN_SIZE:
        digest = hashlib.sha256()
        chain = _verify_range(path, 0, size, day, digest)
    else:
        context = multiprocessing.get_context("fork")  # the workers need no pickled code
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            # More parts than workers: a worker slowed by the hashing below takes fewer of them.
            futures = [pool.submit(_verify_range, path, start, end, day) for start, end in _split(path, size, jobs * 4)]
            with open_regular(path) as fh:  # the file's hash, while the workers check its lines
                digest = hashlib.sha256()
                for block in iter(lambda: fh.read(min(1 << 20, size - fh.tell())), b""):
                    digest.update(block)
            chain = Chain()
            for future in futures:
                chain.join(future.result())
    return chain.summary(digest.hexdigest(), size)


# --- manifests, anchor, signatures -----------------------------------------------------------


def chain_continues(previous_head, chain_prev):
    """The one rule for where a day's first event may link (exporter and verifier): to the last
    event exported before it. When nothing was exported before (the first day of a chain, or
    only empty days so far: chain_head null), the chain starts at this event, whose prev_hash
    is the backend's last event before the export began and is recorded as chain_prev."""
    return previous_head is None or chain_prev == previous_head


def build_manifest(day, data, previous):
    """The manifest of one day: `data` is verify_data_file()'s result, `previous` the previous
    day's manifest as (dict, its bytes) or None for the first day of a chain. Deterministic, so a
    manifest rebuilt after a crash is byte-identical (and so is its Ed25519 signature)."""
    prev_manifest, prev_bytes = previous or (None, None)
    head = data["chain_head"] or (prev_manifest["chain_head"] if prev_manifest else None)
    return {
        "chain_head": head,
        "chain_prev": data["chain_prev"] or head,
        "date": str(day),
        "event_count": data["count"],
        "file": data_name(day),
        "file_sha256": data["sha256"],
        "file_size": data["size"],
        "first_seq": data["first_seq"],
        "format_version": FORMAT_VERSION,
        "last_seq": data["last_seq"],
        "previous_manifest": {"date": prev_manifest["date"], "sha256": hashlib.sha256(prev_bytes).hexdigest()} if prev_manifest else None,
    }


def record_bytes(record):
    """A manifest or anchor as stored: canonical JSON and a newline."""
    return canonical_json(record) + b"\n"


def _is_hex(value):
    return isinstance(value, str) and HEX64_RE.fullmatch(value) is not None


def _is_day(value):
    try:
        parse_day(value)
    except ValueError:
        return False
    return True


def _is_link(value):
    return value is None or (isinstance(value, dict) and set(value) == {"date", "sha256"} and _is_day(value["date"]) and _is_hex(value["sha256"]))


# The type of every member of a manifest or an anchor: what the verifier compares and prints is
# known to be of this type, so no stored value can make it raise.
_RECORD_TYPES = {
    "chain_head": ("64 lower-case hex digits or null", lambda v: v is None or _is_hex(v)),
    "chain_prev": ("64 lower-case hex digits or null", lambda v: v is None or _is_hex(v)),
    "date": ("a date YYYY-MM-DD", _is_day),
    "event_count": ("a count", lambda v: _is_int(v, 0)),
    "file": ("a string", lambda v: isinstance(v, str)),
    "file_sha256": ("64 lower-case hex digits", _is_hex),
    "file_size": ("a size in bytes", lambda v: _is_int(v, 0)),
    "first_seq": ("a seq or null", lambda v: v is None or _is_int(v, 1)),
    "last_seq": ("a seq or null", lambda v: v is None or _is_int(v, 1)),
    "previous_manifest": ('null or {"date": YYYY-MM-DD, "sha256": hex}', _is_link),
    "first_date": ("a date YYYY-MM-DD", _is_day),
    "removed": ("a list of dates YYYY-MM-DD", lambda v: isinstance(v, list) and all(map(_is_day, v))),
}


def parse_record(raw, keys, what):
    """Parse a manifest or anchor (canonical JSON plus a newline) or raise LineError."""
    record, canonical = _loads(raw, what)
    if not isinstance(record, dict) or set(record) != set(keys):
        raise LineError("{} does not have the members {}".format(what, ", ".join(keys)))
    if record["format_version"] != FORMAT_VERSION or not _is_int(record["format_version"], FORMAT_VERSION):
        raise LineError(f"{what} has format_version {canonical_json(record['format_version'])[:20].decode()}; this verifier reads {FORMAT_VERSION}")
    for key in keys:
        if key != "format_version" and not _RECORD_TYPES[key][1](record[key]):
            raise LineError(f"{what} has {key} that is not {_RECORD_TYPES[key][0]}")
    if canonical + b"\n" != raw:
        raise LineError(f"{what} is not in canonical form")
    return record


def _load_key(path, private):
    what = "signing key" if private else "public key"
    # Imported here: signatures are optional, and the import costs every verification run time
    # and memory (forked workers included) when no key is given.
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
        from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
    except ImportError:
        raise EvidenceError(f"{'signing' if private else 'checking signatures'} needs the Python package cryptography (Debian: python3-cryptography)") from None
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        key = load_pem_private_key(data, password=None) if private else load_pem_public_key(data)
    except (OSError, ValueError, TypeError) as err:
        raise EvidenceError(f"cannot load the {what} {path}: {getattr(err, 'strerror', None) or err}") from None
    if not isinstance(key, Ed25519PrivateKey if private else Ed25519PublicKey):
        raise EvidenceError(f"the {what} {path} is not an Ed25519 key")
    return key


def load_private_key(path):
    return _load_key(path, private=True)


def load_public_key(path):
    return _load_key(path, private=False)


def sign(private_key, raw):
    """The .sig file content: base64 of the Ed25519 signature of the exact bytes, and a newline."""
    return base64.b64encode(private_key.sign(raw)) + b"\n"


def signature_valid(public_key, raw, sig_file_bytes):
    from cryptography.exceptions import InvalidSignature  # importable: public_key came from _load_key()

    try:
        public_key.verify(base64.b64decode(sig_file_bytes.strip(), validate=True), raw)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


# --- a directory of evidence -------------------------------------------------------------------


def read_record(path):
    """A small evidence file (sidecar, manifest, signature, anchor), read whole; FileProblem if it
    is not a regular file or larger than any such file can be."""
    with open_regular(path) as fh:
        raw = fh.read(MAX_LINE_BYTES + 1)
    if len(raw) > MAX_LINE_BYTES:
        raise FileProblem(f"larger than {MAX_LINE_BYTES} bytes: not an evidence record")
    return raw


class Report:
    """Per-file results of a verification: one PASS/FAIL entry per file and per missing piece,
    and whether signatures were checked."""

    def __init__(self, public_key=None):
        self.entries = []  # dicts: path, status (PASS, FAIL, SKIP), problems, info, notes
        self.public_key = public_key
        self.unchecked_signatures = 0  # signature files seen without a key to check them

    def add(self, path, problems=(), info="", status=None, notes=()):
        problems = list(problems)
        self.entries.append({"path": path, "status": status or ("FAIL" if problems else "PASS"), "problems": problems, "info": info, "notes": list(notes)})

    @property
    def failed(self):
        return [e for e in self.entries if e["status"] == "FAIL"]

    @property
    def ok(self):
        return not self.failed

    @property
    def signatures(self):
        """checked (a key was given), NOT checked (signatures present, no key) or none found."""
        if self.public_key is not None:
            return "checked"
        return "NOT checked" if self.unchecked_signatures else "none found"

    def as_json(self):
        return {"ok": self.ok, "checked": len(self.entries), "failed": len(self.failed), "signatures": self.signatures, "results": self.entries}

    def summary(self):
        """The last line of brain-audit's output (without the verdict)."""
        text = f"{len(self.entries)} checked, {len(self.failed)} failed"
        if self.unchecked_signatures:
            text += f"; {SIGNATURES_NOT_CHECKED} ({self.unchecked_signatures} signature files, no public key given)"
        return text


def _check_sidecar(report, path, name, digest):
    if not os.path.lexists(path):
        report.add(path, ["missing: every audit file needs its .sha256 sidecar"])
        return
    try:
        text = read_record(path).decode("utf-8")
    except FileProblem as err:
        report.add(path, [str(err)])
        return
    except UnicodeDecodeError:
        report.add(path, [f"not a sha256sum line for {name}"])
        return
    if text != sidecar_text(digest, name):
        parts = text.split()
        if len(parts) == 2 and parts[1] == name and HEX64_RE.fullmatch(parts[0]):
            report.add(path, [f"sha256 {parts[0][:12]}... does not match the file's {digest[:12]}..."])
        else:
            report.add(path, [f"not a sha256sum line for {name}"])
        return
    report.add(path, info=f"sha256 {digest[:12]}...")


def verify_path(path, public_key=None, since=None, until=None, jobs=None, max_age=DEFAULT_MAX_AGE_HOURS, now=None, anchor=None):
    """Verify an audit file or an evidence directory; the entry point of brain-audit verify-log
    and the evidence_verify module. public_key is a path; since/until are YYYY-MM-DD strings;
    max_age (hours, 0 for no limit) and now (an aware datetime, default the current time) apply
    to a directory without `until`; anchor is the path of a trusted anchor (a directory only, see
    verify_directory). Raises only EvidenceError (bad arguments, an unusable key, no such path)."""
    since = parse_day(since) if since else None
    until = parse_day(until) if until else None
    if not _is_int(max_age, 0, MAX_AGE_HOURS):
        raise EvidenceError(f"max age must be 0 (no limit) or a number of hours up to {MAX_AGE_HOURS}, not {max_age!r}")
    key = load_public_key(public_key) if public_key else None
    if os.path.isdir(path):
        return verify_directory(path, key, since, until, jobs, max_age, now, anchor)
    if since or until or anchor:
        raise EvidenceError("since, until and anchor apply to a directory, not a file")
    if not os.path.lexists(path):
        raise EvidenceError(f"{path} is neither a file nor a directory")
    return verify_file(path, key, jobs)


def verify_file(path, public_key=None, jobs=None):
    """Verify one audit file on its own: its lines and chain, its sidecar and its manifest (both
    must lie beside it). Returns a Report."""
    report = Report(public_key)
    name = os.path.basename(path)
    m = NAME_RE.fullmatch(name)
    day = m.group(2) if m and name.endswith(".jsonl") and _is_day(m.group(2)) else None
    try:
        data = verify_data_file(path, day, jobs)
    except FileProblem as err:
        report.add(path, [str(err)])
        return report
    unnamed = [] if day else ["not named audit-YYYY-MM-DD.jsonl, so it has no sidecar or manifest to check: only its lines were verified"]
    report.add(path, data["problems"] + unnamed, _data_info(data))
    if day:
        directory = os.path.dirname(path) or "."
        _check_sidecar(report, os.path.join(directory, sidecar_name(day)), name, data["sha256"])
        mpath = os.path.join(directory, manifest_name(day))
        raw = _read_manifest(report, mpath, day)
        if raw is not None:
            _check_manifest(report, mpath, raw, day, data, None)
    return report


def _data_info(data):
    if not data["count"]:
        return "no events"
    return f"{data['count']} events, seq {data['first_seq']}-{data['last_seq']}"


def _read_manifest(report, path, day):
    """A day's manifest as stored, or None after reporting why there is none."""
    if not os.path.lexists(path):
        report.add(path, [f"missing: {day} has no manifest"])
        return None
    try:
        return read_record(path)
    except FileProblem as err:
        report.add(path, [str(err)])
        return None


def _check_manifest(report, path, raw, day, data, previous):
    """Check one manifest against its day's data and the day before's manifest, given as
    (parsed manifest or None if unreadable, its bytes, its day)."""
    try:
        manifest = parse_record(raw, MANIFEST_KEYS, "the manifest")
    except LineError as err:
        report.add(path, [str(err)])
        return None
    problems = []
    if manifest["date"] != day or manifest["file"] != data_name(day):
        problems.append("names day {} / file {}, not {}".format(manifest["date"], json.dumps(manifest["file"])[:80], day))
    if data is not None:
        expected = build_manifest(day, data, None)
        for key in ("file_sha256", "file_size", "event_count", "first_seq", "last_seq"):
            if manifest[key] != expected[key]:
                problems.append(f"{key} is {manifest[key]} but the file has {expected[key]}")
        if data["count"]:
            for key in ("chain_prev", "chain_head"):
                if manifest[key] != expected[key]:
                    problems.append(f"{key} does not match the file's events")
    if previous is not None:
        prev_manifest, prev_raw, prev_day = previous
        if manifest["previous_manifest"] != {"date": prev_day, "sha256": hashlib.sha256(prev_raw).hexdigest()}:
            problems.append(f"previous_manifest does not match manifest-{prev_day}.json as stored (was it altered or replaced?)")
    if previous is not None and prev_manifest is not None:
        if data is not None and data["count"] and not chain_continues(prev_manifest["chain_head"], manifest["chain_prev"]):
            problems.append("the first event does not link to the last event of {} (events missing between the days)".format(prev_manifest["date"]))
        elif data is not None and not data["count"] and manifest["chain_head"] != prev_manifest["chain_head"]:
            problems.append("an empty day must carry the chain head of {} forward".format(prev_manifest["date"]))
        if manifest["first_seq"] is not None and prev_manifest["last_seq"] is not None and manifest["first_seq"] != prev_manifest["last_seq"] + 1:
            problems.append(f"first_seq {manifest['first_seq']} does not follow seq {prev_manifest['last_seq']} of {prev_manifest['date']}")
    notes = _check_signature(report, problems, path, raw)
    report.add(path, problems, "chain head {}...".format((manifest["chain_head"] or "none")[:12]), notes=notes)
    return manifest


def _check_signature(report, problems, path, raw):
    """Check the signature of a manifest or anchor with the report's key; without a key, a
    signature that is present is noted as not checked (it proves nothing until it is)."""
    sig_path = signature_name(path)
    name = os.path.basename(sig_path)
    if report.public_key is None:
        if os.path.lexists(sig_path):
            report.unchecked_signatures += 1
            return [SIGNATURES_NOT_CHECKED]
        return []
    if not os.path.lexists(sig_path):
        problems.append(f"no signature ({name}); with a public key every manifest must be signed")
        return []
    try:
        valid = signature_valid(report.public_key, raw, read_record(sig_path))
    except FileProblem as err:
        problems.append(f"{name}: {err}")
        return []
    if not valid:
        problems.append(f"bad signature: {name} does not verify with the public key")
    return []


def scan_directory(directory):
    """Sort the entries of an evidence directory: ({day: set of kinds}, {name: reason}). Kinds are
    data, sidecar, manifest, signature. The second dict holds every other name: with a reason
    when the name claims to be evidence but cannot be (an impossible date), with None otherwise.
    Whether a file is a regular file is checked when it is read."""
    days, others = {}, {}
    for name in os.listdir(directory):
        m = NAME_RE.fullmatch(name)
        if m and _is_day(m.group(2) or m.group(3)):
            kind = {".jsonl": "data", ".sha256": "sidecar", ".json": "manifest", ".sig": "signature"}[os.path.splitext(name)[1]]
            days.setdefault(m.group(2) or m.group(3), set()).add(kind)
        elif EVIDENCE_LIKE_RE.fullmatch(name) and name not in (ANCHOR_NAME, signature_name(ANCHOR_NAME)):
            others[name] = "not evidence: the name does not hold a real date YYYY-MM-DD"
        elif name not in (ANCHOR_NAME, signature_name(ANCHOR_NAME)):
            others[name] = None
    return days, others


def _days(first, last):
    """The dates (YYYY-MM-DD) from first to last, both included."""
    first, last = parse_day(first), parse_day(last)
    return [str(first + datetime.timedelta(days=n)) for n in range((last - first).days + 1)]


def verify_directory(directory, public_key=None, since=None, until=None, jobs=None, max_age=DEFAULT_MAX_AGE_HOURS, now=None, anchor=None):
    """Verify an evidence directory: every day set (data, sidecar, manifest, signature), the
    chains of events and of manifests across days, missing days and the retention anchor.

    since/until (dates) limit the days whose data is verified; the links into the first of them
    are still checked against the manifest before it when it is present. Every day up to
    `until` must be there; without `until`, the newest day must have ended at most `max_age`
    hours before `now` (0: no limit). Nothing verified is a failure. Returns a Report.

    anchor: the path of a retention anchor the caller trusts (the off-host archive's own, kept
    where the evidence host cannot write), used in place of the directory's chain-anchor.json and
    needing no signature: the archive holds no private key to sign it with.
    """
    report = Report(public_key)
    now = now or datetime.datetime.now(datetime.UTC)
    if not os.path.isdir(directory):
        raise EvidenceError(f"{directory} is not a directory")
    present, others = scan_directory(directory)
    for name, reason in sorted(others.items()):
        if reason:
            report.add(os.path.join(directory, name), [reason])
    anchor_path = os.path.join(directory, ANCHOR_NAME) if anchor is None else anchor
    anchor = _load_anchor(report, directory) if anchor is None else _load_trusted_anchor(report, anchor)
    days = sorted(present)
    start = anchor["first_date"] if anchor else (days[0] if days else None)
    for day in days:
        if start and day < start:
            report.add(os.path.join(directory, manifest_name(day)), info=f"older than the retention anchor ({start}): removed by the next run", status="SKIP")
    days = [d for d in days if not start or d >= start]
    if not days:
        if anchor:
            report.add(anchor_path, [f"the retention anchor names {start} but no evidence is left"])
        else:
            report.add(directory, ["no evidence found: no audit-YYYY-MM-DD.jsonl or manifest-YYYY-MM-DD.json in the directory"])
        return report
    for day in sorted(set(_days(days[0], days[-1])) - set(days)):
        report.add(os.path.join(directory, manifest_name(day)), [f"missing day: no audit file, sidecar or manifest for {day}"])
    _check_newest(report, directory, days[-1], until, max_age, now)
    previous, verified = None, 0
    for day in days:
        mpath = os.path.join(directory, manifest_name(day))
        if (not since or day >= str(since)) and (not until or day <= str(until)):
            verified += 1
            raw = _read_manifest(report, mpath, day)
            manifest = _verify_day(report, directory, day, present[day], raw, previous, (anchor, anchor_path), jobs, first=day == days[0])
        else:
            try:  # out of range: only the link into the range is checked
                raw = read_record(mpath) if "manifest" in present[day] else None
            except FileProblem:
                raw = None
            try:
                manifest = parse_record(raw, MANIFEST_KEYS, "the manifest") if raw is not None else None
            except LineError:
                manifest = None
        previous = (manifest, raw, day) if raw is not None else None
    if not verified:
        report.add(directory, [f"nothing checked: the evidence ({days[0]} to {days[-1]}) has no day from {since or 'the first'} to {until or 'the last'}"])
    return report


def _check_newest(report, directory, newest, until, max_age, now):
    """The days after the newest one that should be there: up to `until` if given, else every
    day that ended more than `max_age` hours before `now`. Without this, deleting the newest
    days would go unnoticed."""
    if until:
        through, why = str(until), f"every day up to {until} was asked for"
    elif max_age:
        now = now.astimezone(datetime.UTC)
        cutoff = now - datetime.timedelta(hours=max_age)
        one_day = datetime.timedelta(days=1)
        # The newest day must end at or after the cutoff: the day before the first midnight from it.
        through = str((cutoff.date() if cutoff.time() == datetime.time(0) else cutoff.date() + one_day) - one_day)
        why = f"the newest day may have ended at most {max_age} hours ago (now {now:%Y-%m-%dT%H:%MZ}): newest days deleted, or the export stopped?"
    else:
        return
    if newest < through:
        first = str(parse_day(newest) + datetime.timedelta(days=1))
        missing = f"missing day {first}" if first == through else f"missing days {first} to {through}"
        report.add(os.path.join(directory, manifest_name(first)), [f"{missing}: the newest evidence is of {newest}, but {why}"])


def _verify_day(report, directory, day, kinds, raw, previous, anchor, jobs, first):
    dpath = os.path.join(directory, data_name(day))
    data = None
    if "data" in kinds:
        try:
            data = verify_data_file(dpath, day, jobs)
        except FileProblem as err:
            report.add(dpath, [str(err)])
        else:
            report.add(dpath, data["problems"], _data_info(data))
            _check_sidecar(report, os.path.join(directory, sidecar_name(day)), data_name(day), data["sha256"])
    else:
        report.add(dpath, [f"missing: the audit file of {day} is gone"])
    if raw is None:
        return None
    manifest = _check_manifest(report, os.path.join(directory, manifest_name(day)), raw, day, data, previous)
    if manifest is not None and first:
        _check_chain_start(report, directory, manifest, anchor)
    return manifest


def _check_chain_start(report, directory, manifest, anchor):
    """The oldest day either starts the chain or is where retention says it now starts. anchor is
    (the parsed anchor or None, its path)."""
    path = os.path.join(directory, manifest_name(manifest["date"]))
    ref = manifest["previous_manifest"]
    anchor, anchor_path = anchor
    if anchor is not None:
        if anchor["previous_manifest"] != ref:
            report.add(anchor_path, ["the retention anchor does not match {}'s link to the day before".format(manifest["date"])])
    elif ref is not None:
        report.add(path, ["the chain starts here but links to {}, which is missing, and there is no retention anchor (days deleted?)".format(ref["date"])])


def _load_anchor(report, directory):
    path = os.path.join(directory, ANCHOR_NAME)
    if not os.path.lexists(path):
        return None
    try:
        raw = read_record(path)
        anchor = parse_record(raw, ANCHOR_KEYS, "the retention anchor")
    except (FileProblem, LineError) as err:
        report.add(path, [str(err)])
        return None
    problems = []
    notes = _check_signature(report, problems, path, raw)
    report.add(path, problems, "evidence before {} removed by retention".format(anchor["first_date"]), notes=notes)
    return anchor


def _load_trusted_anchor(report, path):
    """The caller's anchor: parsed like a retention anchor, its signature not asked for."""
    try:
        anchor = parse_record(read_record(path), ANCHOR_KEYS, "the trusted anchor")
    except (FileProblem, LineError) as err:
        report.add(path, [str(err)])
        return None
    report.add(path, info="trusted anchor (not signed, vouched for by where it is kept): the chain starts at {}".format(anchor["first_date"]))
    return anchor


def build_anchor(first_manifest, removed, old_anchor=None):
    """The retention anchor written before the days before `first_manifest` are removed."""
    earlier = old_anchor["removed"] if old_anchor else []
    return {
        "first_date": first_manifest["date"],
        "format_version": FORMAT_VERSION,
        "previous_manifest": first_manifest["previous_manifest"],
        "removed": sorted(set(earlier) | set(removed)),
    }
