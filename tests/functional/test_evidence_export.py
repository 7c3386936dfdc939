"""brain-evidence-export against the real reference backend, and its fault suite: every failure
gives a one-line reason and its exit code, publishes nothing partial, overwrites nothing, and the
next run completes."""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers.backend import ADMIN, READER, refused_port
from helpers.evidence import EXPORT, MisbehavingApi, day, evidence_files, export, on_the_clock, seeded_backend, snapshot, verify_log
from helpers.fault_proxy import FaultProxy

THREE_DAYS = [day(-4), day(-3), day(-2)]


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    b = seeded_backend(tmp_path_factory.mktemp("backend"))
    yield b
    b.stop()


@pytest.fixture
def proxy(backend):
    p = FaultProxy(backend.url(""))
    yield p
    p.close()


@pytest.fixture
def evdir(tmp_path):
    d = tmp_path / "evidence"
    d.mkdir()
    return d


def day_set(d):
    return [f"audit-{d}.jsonl", f"audit-{d}.jsonl.sha256", f"manifest-{d}.json"]


def all_sets(days):
    return sorted(name for d in days for name in day_set(d))


def one_line_error(result, code, text):
    """The failure contract: exit code, and a single stderr line that says why."""
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert result.returncode == code, result.stderr
    assert len(errors) == 1 and text in errors[0], result.stderr
    assert ADMIN not in result.stderr + result.stdout


# ---- the normal path ---------------------------------------------------------------------------
def test_exports_catch_up_days_with_sidecars_and_chained_manifests(backend, evdir):
    r = export(backend.url(""), evdir, "--start-date", day(-4), "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert [d["date"] for d in summary["days"]] == [*THREE_DAYS, day(-1)]
    counts = [d["events"] for d in summary["days"]]
    assert sum(counts) == 3000 and min(counts[:3]) > 990 and counts[3] == 0
    assert evidence_files(evdir) == all_sets([*THREE_DAYS, day(-1)])
    sums = subprocess.run(["sha256sum", "-c", *sorted(p.name for p in evdir.glob("*.sha256"))], cwd=evdir, capture_output=True, text=True, check=False)
    assert sums.returncode == 0 and sums.stdout.count(": OK") == 4, sums.stdout
    v = verify_log(evdir)
    assert v.returncode == 0 and v.stdout.count("PASS ") == 12, v.stdout
    empty = json.loads((evdir / f"manifest-{day(-1)}.json").read_text())
    before = json.loads((evdir / f"manifest-{day(-2)}.json").read_text())
    assert empty["event_count"] == 0 and empty["chain_head"] == before["chain_head"] and empty["previous_manifest"]["date"] == day(-2)
    assert (evdir / f"audit-{day(-1)}.jsonl").stat().st_size == 0
    assert oct((evdir / f"audit-{day(-4)}.jsonl").stat().st_mode & 0o777) == "0o640"


def test_a_second_run_changes_nothing(backend, evdir):
    assert export(backend.url(""), evdir, "--start-date", day(-2)).returncode == 0
    before = snapshot(evdir)
    r = export(backend.url(""), evdir, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["days"][0]["result"] == "already exported"
    assert "already exported" in r.stderr
    assert snapshot(evdir) == before  # same inodes, mtimes and bytes


def test_an_explicit_date_that_is_done_is_a_success(backend, evdir):
    assert export(backend.url(""), evdir, "--start-date", day(-3)).returncode == 0
    before = snapshot(evdir)
    r = export(backend.url(""), evdir, "--date", day(-3))
    assert r.returncode == 0 and "already exported" in r.stderr and snapshot(evdir) == before


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["--date", day(0)], 2, "is not over yet in UTC"),
        (["--date", day(-1), "--start-date", day(-40)], 3, "more than --max-catch-up-days 31"),
        (["--date", day(-1), "--start-date", day(-5), "--max-catch-up-days", "2"], 3, "5 days to export"),
    ],
)
def test_refuses_days_it_cannot_export_honestly(backend, evdir, args, code, message):
    one_line_error(export(backend.url(""), evdir, *args), code, message)
    assert evidence_files(evdir) == []


def test_the_chain_only_grows_forward(backend, evdir):
    assert export(backend.url(""), evdir, "--date", day(-2)).returncode == 0
    one_line_error(export(backend.url(""), evdir, "--date", day(-3)), 2, "before the newest export")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--page-size", "0"], "--page-size must be from 1 to 20000"),
        (["--date", "2026-13-01"], "not a date in the form YYYY-MM-DD"),
        (["--retries", "-1"], "must be >= 0"),
    ],
)
def test_bad_options_are_usage_errors(backend, evdir, args, message):
    r = export(backend.url(""), evdir, *args)
    assert r.returncode == 2 and message in r.stderr


def test_pages_are_chained_across_requests(backend, evdir):
    r = export(backend.url(""), evdir, "--date", day(-2), "--page-size", "97")
    events, pages = map(int, re.search(r"(\d+) events in (\d+) pages", r.stderr).groups())
    assert r.returncode == 0 and events > 900 and pages == -(-events // 97)
    assert verify_log(evdir).returncode == 0


def test_signed_manifests_verify_with_the_public_key(backend, evdir, tmp_path):
    key = Ed25519PrivateKey.generate()
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (tmp_path / "key.pub").write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    assert export(backend.url(""), evdir, "--start-date", day(-3), "--signing-key", str(tmp_path / "key.pem")).returncode == 0
    assert (evdir / f"manifest-{day(-3)}.json.sig").exists()
    v = verify_log(evdir, "--public-key", str(tmp_path / "key.pub"))
    assert v.returncode == 0, v.stdout


def test_retention_removes_whole_old_days_and_stays_verifiable(backend, evdir):
    assert export(backend.url(""), evdir, "--start-date", day(-4)).returncode == 0
    r = export(backend.url(""), evdir, "--retention-days", "2", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["removed"] == [day(-4), day(-3)]
    assert f"retention: removed the evidence of {day(-4)}" in r.stderr
    assert evidence_files(evdir) == sorted([*all_sets([day(-2), day(-1)]), "chain-anchor.json"])
    v = verify_log(evdir)
    assert v.returncode == 0, v.stdout
    assert "evidence before " + day(-2) + " removed by retention" in v.stdout


def test_retention_never_removes_the_newest_day(backend, evdir):
    assert export(backend.url(""), evdir, "--date", day(-3)).returncode == 0
    # Nothing newer can be exported through this backend's view of time, so run retention alone.
    r = export(backend.url(""), evdir, "--date", day(-3), "--retention-days", "1")
    assert r.returncode == 0 and evidence_files(evdir) == all_sets([day(-3)])


def test_export_metrics_for_the_textfile_collector(backend, evdir, tmp_path, proxy):
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    assert export(backend.url(""), evdir, "--date", day(-2), "--textfile-dir", str(textfile)).returncode == 0
    prom = textfile / "brain_evidence_export.prom"
    good = prom.read_text()
    assert "brain_evidence_export_last_run_success 1" in good and re.search(r"^brain_evidence_export_last_run_events 9\d\d\d?$", good, re.M)
    check = subprocess.run(["promtool", "check", "metrics"], input=good, capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr + check.stdout
    stamp = next(line for line in good.splitlines() if line.startswith("brain_evidence_export_last_success_timestamp_seconds "))
    proxy.plan = ["status:500"] * 3
    r = export(proxy.url, evdir, "--date", day(-1), "--textfile-dir", str(textfile), "--retries", "2")
    assert r.returncode == 6
    bad = prom.read_text()
    assert "brain_evidence_export_last_run_success 0" in bad and stamp in bad  # the last success is kept


# ---- configuration and secrets -----------------------------------------------------------------
def test_token_from_an_env_file_that_only_the_owner_can_read(backend, evdir, tmp_path):
    env_file = tmp_path / "export.env"
    env_file.write_text(f"# exporter\nBRAIN_API_TOKEN={READER}\n")
    env_file.chmod(0o644)
    one_line_error(export(backend.url(""), evdir, "--env-file", str(env_file), token=None), 3, "has mode 0644")
    env_file.chmod(0o600)
    r = export(backend.url(""), evdir, "--date", day(-2), "--env-file", str(env_file), token=None)
    assert r.returncode == 0 and READER not in r.stderr + r.stdout


def test_no_token_is_a_configuration_error(backend, evdir):
    one_line_error(export(backend.url(""), evdir, token=None), 3, "no API token")


def test_the_token_is_never_on_the_command_line():
    # There is no option that takes a token: it can only come from the environment or a file.
    help_text = subprocess.run([sys.executable, str(EXPORT), "--help"], capture_output=True, text=True, check=False).stdout
    assert "--token" not in help_text and "BRAIN_API_TOKEN" in help_text


# ---- the fault suite ---------------------------------------------------------------------------
def test_api_down(evdir):
    with refused_port() as port:
        r = export(f"http://127.0.0.1:{port}", evdir, "--date", day(-2), "--retries", "1")
    one_line_error(r, 4, "cannot connect to")
    assert "retrying in" in r.stderr and evidence_files(evdir) == []


def test_wrong_token(backend, evdir):
    r = export(backend.url(""), evdir, "--date", day(-2), token="not-the-token")
    one_line_error(r, 5, "the API refused the token: HTTP 401")
    assert "not-the-token" not in r.stderr and evidence_files(evdir) == []


@pytest.mark.parametrize(
    "plan,args,code,message",
    [
        (["status:503"] * 3, ["--retries", "2"], 6, "the API answered HTTP 503: injected (after 3 attempts)"),
        (["status:429:0"] * 2, ["--retries", "1"], 6, "HTTP 429"),
        (["sleep:3"] * 2, ["--retries", "1", "--timeout", "1"], 4, "within 1 s"),
        (["truncate"] * 2, ["--retries", "1"], 7, "cut short"),
        (["garbage-rehash"], [], 7, "malformed response"),
        (["flip-byte"], [], 8, "content hash mismatch"),
        (["flip-byte-rehash"], [], 8, "hash mismatch: the event was altered"),
    ],
    ids=["5xx", "429", "timeout", "truncated-body", "malformed-json", "hash-mismatch", "altered-event"],
)
def test_faults_publish_nothing_and_the_next_run_completes(proxy, evdir, plan, args, code, message):
    assert export(proxy.url, evdir, "--date", day(-3)).returncode == 0  # an earlier good day
    before = snapshot(evdir)
    proxy.plan = list(plan)
    r = export(proxy.url, evdir, "--date", day(-2), *args)
    one_line_error(r, code, message)
    after = snapshot(evdir)
    assert {k: v for k, v in after.items() if k != ".lock"} == {k: v for k, v in before.items() if k != ".lock"}
    r = export(proxy.url, evdir, "--date", day(-2))
    assert r.returncode == 0, r.stderr
    assert verify_log(evdir).returncode == 0


def test_transient_faults_are_retried(proxy, evdir):
    proxy.plan = ["status:502", "truncate", "status:429:1"]
    started = time.monotonic()
    r = export(proxy.url, evdir, "--date", day(-2))
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("retrying in") == 3 and time.monotonic() - started >= 1.0  # Retry-After honoured
    assert proxy.requests == 4 and verify_log(evdir).returncode == 0


def test_disk_full(backend, tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=700k", "tmpfs", str(mnt)], check=False).returncode:
        pytest.fail("the fault suite needs root to mount a small tmpfs")
    try:
        assert export(backend.url(""), mnt, "--date", day(-4)).returncode == 0  # about 430 kB
        before = snapshot(mnt)
        r = export(backend.url(""), mnt, "--date", day(-3))
        one_line_error(r, 9, "no space left on the device")
        assert snapshot(mnt).keys() == before.keys()  # no partial file, no temp file
        subprocess.run(["mount", "-o", "remount,size=4m", str(mnt)], check=True)
        assert export(backend.url(""), mnt, "--date", day(-3)).returncode == 0
        assert verify_log(mnt, "--until", day(-3)).returncode == 0
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_a_concurrent_run_is_refused(proxy, evdir):
    proxy.plan = ["sleep:3"]
    first = subprocess.Popen(
        [sys.executable, str(EXPORT), "--api-url", proxy.url, "--dir", str(evdir), "--date", day(-2)],
        env=on_the_clock({**os.environ, "BRAIN_API_TOKEN": ADMIN}),
        stderr=subprocess.PIPE,
        text=True,
    )
    while proxy.requests == 0:
        time.sleep(0.05)
    r = export(proxy.url, evdir, "--date", day(-2))
    one_line_error(r, 10, "another export holds the lock")
    assert first.wait(30) == 0
    assert verify_log(evdir).returncode == 0


def test_sigkill_mid_write_leaves_no_partial_file(proxy, evdir):
    proxy.plan = ["pass", "sleep:30"]  # the second page hangs, after the first was written
    p = subprocess.Popen(
        [sys.executable, str(EXPORT), "--api-url", proxy.url, "--dir", str(evdir), "--date", day(-2), "--page-size", "400"],
        env=on_the_clock({**os.environ, "BRAIN_API_TOKEN": ADMIN}),
        stderr=subprocess.DEVNULL,
    )
    while proxy.requests < 2:
        time.sleep(0.05)
    temps = [p.name for p in evdir.iterdir() if ".tmp-" in p.name]
    assert temps and (evdir / temps[0]).stat().st_size > 0  # mid-write
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert evidence_files(evdir) == []
    proxy.plan = []
    r = export(proxy.url, evdir, "--date", day(-2))
    assert r.returncode == 0 and "left by an interrupted run" in r.stderr
    assert [p.name for p in evdir.iterdir() if ".tmp-" in p.name] == []
    assert verify_log(evdir).returncode == 0


def test_a_crash_between_data_and_sidecar_is_repaired(backend, evdir):
    assert export(backend.url(""), evdir, "--date", day(-2)).returncode == 0
    data = evdir / f"audit-{day(-2)}.jsonl"
    inode = data.stat().st_ino
    for name in (f"audit-{day(-2)}.jsonl.sha256", f"manifest-{day(-2)}.json"):
        (evdir / name).unlink()
    r = export(backend.url(""), evdir, "--date", day(-2))
    assert r.returncode == 0 and "repaired" in r.stderr
    assert data.stat().st_ino == inode and verify_log(evdir).returncode == 0


def test_an_existing_file_that_differs_is_never_overwritten(backend, evdir):
    data = evdir / f"audit-{day(-2)}.jsonl"
    data.write_text("something else\n")
    r = export(backend.url(""), evdir, "--date", day(-2))
    one_line_error(r, 8, "is not overwritten")
    assert data.read_text() == "something else\n" and evidence_files(evdir) == [data.name]


def test_evidence_altered_after_export_is_reported_not_reexported(backend, evdir):
    assert export(backend.url(""), evdir, "--date", day(-2)).returncode == 0
    data = evdir / f"audit-{day(-2)}.jsonl"
    data.write_bytes(data.read_bytes()[:-200])
    one_line_error(export(backend.url(""), evdir, "--date", day(-2)), 8, "no longer matches its manifest")


def test_stderr_is_the_journal_line(backend, evdir):
    r = export(backend.url(""), evdir, "--date", day(-2))
    assert r.stdout == ""  # human lines go to stderr, which the journal records
    assert re.fullmatch(rf"brain-evidence-export: exported audit-{day(-2)}\.jsonl: \d+ events in 1 pages, sha256 [0-9a-f]{{64}}\n", r.stderr)


@pytest.mark.parametrize(
    "content,message",
    [
        (None, "cannot load the signing key {path}: No such file or directory"),
        (b"not a key\n", "cannot load the signing key {path}: "),
        ("rsa", "the signing key {path} is not an Ed25519 key"),
    ],
    ids=["missing", "garbage", "rsa"],
)
def test_a_bad_signing_key_is_a_configuration_error(backend, evdir, tmp_path, content, message):
    path = tmp_path / "key.pem"
    if content == "rsa":
        content = subprocess.run(["openssl", "genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:1024"], capture_output=True, check=True).stdout
    if content is not None:
        path.write_bytes(content)
    one_line_error(export(backend.url(""), evdir, "--date", day(-2), "--signing-key", str(path)), 3, message.format(path=path))
    assert evidence_files(evdir) == []


# ---- files it does not own, hostile API lines, disk full after the data (issue 16) ---------------
def test_files_it_does_not_own_are_ignored_with_a_warning_and_a_metric(backend, evdir, tmp_path):
    (evdir / "audit-2026-13-45.jsonl").write_text("not mine\n")
    (evdir / "notes.txt").write_text("an operator's notes\n")
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    r = export(backend.url(""), evdir, "--date", day(-2), "--textfile-dir", str(textfile))
    assert r.returncode == 0, r.stderr
    assert f"warning: ignoring 'audit-2026-13-45.jsonl' in {evdir}: not a file this exporter writes" in r.stderr
    assert f"warning: ignoring 'notes.txt' in {evdir}" in r.stderr
    assert "brain_evidence_export_ignored_files 2\n" in (textfile / "brain_evidence_export.prom").read_text()
    assert (evdir / "audit-2026-13-45.jsonl").read_text() == "not mine\n"
    assert export(backend.url(""), evdir, "--date", day(-1)).returncode == 0  # the next run too


def hostile_line(details):
    event = {"actor": "system", "details": {}, "event_id": "e1", "event_type": "t", "prev_hash": "0" * 64, "seq": 1}
    event.update(severity="INFO", timestamp=f"{day(-2)}T00:00:00.000000Z", trace_id=None)
    entry = json.dumps(event, sort_keys=True, separators=(",", ":")).encode().replace(b'"details":{}', b'"details":' + details)
    digest = hashlib.sha256(entry + b"0" * 64).hexdigest().encode()
    return entry.replace(b',"prev_hash"', b',"hash":"' + digest + b'","prev_hash"') + b"\n"


@pytest.mark.parametrize(
    "details,message",
    [
        (b'{"a":"\\ud800"}', "not valid Unicode (a lone surrogate \\ud800)"),
        (b'{"a":' + b"[" * 50000 + b"]" * 50000 + b"}", "nested deeper than 32 levels"),
        (b'{"a":' + b"7" * 5000 + b"}", "Exceeds the limit (4300 digits)"),
    ],
    ids=["lone-surrogate", "deep-nesting", "huge-integer"],
)
def test_hostile_api_lines_are_a_malformed_response(evdir, details, message):
    api = MisbehavingApi(hostile_line(details))
    try:
        r = export(api.url, evdir, "--date", day(-2))
    finally:
        api.close()
    one_line_error(r, 7, f"malformed response: the API's events for {day(-2)}: line 1: ")
    assert message in r.stderr and "Traceback" not in r.stderr and evidence_files(evdir) == []


def test_disk_full_after_the_data_file_publishes_nothing_of_the_day(backend, tmp_path):
    """The data file fits, its sidecar does not: nothing of the day may be visible, and the error
    must say so truthfully."""
    probe = tmp_path / "probe"
    probe.mkdir()
    assert export(backend.url(""), probe, "--date", day(-4)).returncode == 0
    size = (probe / f"audit-{day(-4)}.jsonl").stat().st_size
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], check=False).returncode:
        pytest.fail("the fault suite needs root to mount a small tmpfs")
    try:
        # Leave room for the data file's pages and nothing more.
        free = os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize
        (mnt / ".filler").write_bytes(b"\0" * (free - -(-size // 4096) * 4096))
        r = export(backend.url(""), mnt, "--date", day(-4))
        one_line_error(r, 9, f"no space left on the device writing the evidence of {day(-4)}: nothing of {day(-4)} was published")
        assert evidence_files(mnt) == [] and [p.name for p in mnt.iterdir() if ".tmp-" in p.name] == []
        (mnt / ".filler").unlink()
        assert export(backend.url(""), mnt, "--date", day(-4)).returncode == 0
        assert evidence_files(mnt) == all_sets([day(-4)])
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
