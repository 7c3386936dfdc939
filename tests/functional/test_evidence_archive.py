"""brain-evidence-archive with real rsync and real rrsync: the origin is reached through a remote
shell that does what sshd does for a key with command="rrsync -ro DIR" (sets SSH_ORIGINAL_COMMAND
and runs the forced command), and the copy is verified with the real verifier. The evidence is
made by the real exporter from the real reference backend; the origin is then attacked as a root
on the evidence host would: deleting the newest day, rewriting history and re-signing it."""

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest
from ansible_collections.brain.ops_assurance.plugins.module_utils import evidence
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers.evidence import EXPORT, NOW, ROOT, day, evidence_files, on_the_clock, signed_evidence, snapshot, verify_log

ARCHIVE = ROOT / "scripts" / "brain-evidence-archive"
RRSYNC = shutil.which("rrsync") or "/usr/bin/rrsync"
DAYS = [day(-4), day(-3), day(-2), day(-1)]  # day(-1) has no events
# sshd for `command="rrsync -ro DIR",restrict`: the client's command goes to SSH_ORIGINAL_COMMAND.
SSHD = """#!/bin/sh
dir=$1; shift
while [ "$1" != rsync ]; do shift; done  # ssh options, the user and the host
SSH_ORIGINAL_COMMAND="$*" exec {rrsync} -ro "$dir"
"""
# The same, with the origin's answers slowed down (to kill a pull mid-way) or cut off.
SLOW = """#!/bin/sh
dir=$1; shift
while [ "$1" != rsync ]; do shift; done  # ssh options, the user and the host
SSH_ORIGINAL_COMMAND="$*" {rrsync} -ro "$dir" | {python} -c '
import sys, time
while chunk := sys.stdin.buffer.read1(16384):
    sys.stdout.buffer.write(chunk); sys.stdout.buffer.flush(); time.sleep(0.05)'
"""
CUT = """#!/bin/sh
dir=$1; shift
while [ "$1" != rsync ]; do shift; done  # ssh options, the user and the host
SSH_ORIGINAL_COMMAND="$*" {rrsync} -ro "$dir" | head -c 40000
"""


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """Four signed days from the real exporter, and the key pair (the host's, which a root on the
    evidence host holds; the archive only gets the public half)."""
    return signed_evidence(tmp_path_factory.mktemp("clean"), DAYS[0])


class Site:
    """An origin (evidence directory), an archive and a config that pulls one from the other."""

    def __init__(self, clean, tmp_path, days=None, shell=SSHD, origin_retention_days=0):
        self.clean, self.tmp = clean, tmp_path
        self.origin = tmp_path / "origin"
        self.origin.mkdir()
        for d in DAYS if days is None else days:
            self.add_day(d)
        (self.origin / ".lock").write_text("")  # the exporter's own files are not pulled
        self.base = tmp_path / "archive"
        self.base.mkdir()
        self.archive = self.base / "ev-host"
        self.metrics = tmp_path / "metrics"
        self.metrics.mkdir()
        self.config = tmp_path / "archive.json"
        self.origin_retention_days = origin_retention_days
        self.shell(shell)

    def shell(self, template):
        sshd = self.tmp / "sshd"
        sshd.write_text(template.format(rrsync=RRSYNC, python=sys.executable))
        sshd.chmod(0o755)
        origins = [
            {
                "name": "ev-host",
                "source": "brain-archive@ev-host:",
                "public_key": str(self.clean / "signing.pub"),
                "origin_retention_days": self.origin_retention_days,
            }
        ]
        self.config.write_text(json.dumps({"rsh": [str(sshd), str(self.origin)], "origins": origins}))

    def add_day(self, d):
        for name in os.listdir(self.clean / "evidence"):
            if d in name:
                shutil.copy(self.clean / "evidence" / name, self.origin / name)

    def run(self, *args, popen=False, days_later=0):
        cmd = [sys.executable, str(ARCHIVE), "--config", str(self.config), "--archive-dir", str(self.base), "--textfile-dir", str(self.metrics), *args]
        env = on_the_clock(days_later=days_later)
        if popen:
            return subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, start_new_session=True, env=env)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, env=env)

    def origin_retention(self, days, days_later=0):
        """The real exporter's retention on the origin (the newest day is already exported, so the
        run exports nothing and needs no backend), signed with the host's key."""
        cmd = [sys.executable, str(EXPORT), "--api-url", "http://127.0.0.1:9", "--dir", str(self.origin), "--date", max(self.days_on_origin())]
        cmd += ["--retention-days", str(days), "--signing-key", str(self.clean / "signing.pem"), "--json"]
        env = on_the_clock({**os.environ, "BRAIN_API_TOKEN": "unused"}, days_later=days_later)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, env=env)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["removed"]

    def days_on_origin(self):
        return sorted(d for d, kinds in evidence.scan_directory(self.origin)[0].items() if "manifest" in kinds)

    def held(self):
        """The archive's day files as a snapshot (not its state files: findings, anchor)."""
        return {n: v for n, v in snapshot(self.archive).items() if n.startswith(("audit-", "manifest-"))}

    def metric(self, name):
        text = (self.metrics / "brain_evidence_archive_ev-host.prom").read_text()
        return float(re.search(rf'^brain_evidence_archive_{name}{{origin="ev-host"}} (\S+)$', text, re.M).group(1))

    def hidden(self):
        return sorted(p.name for p in self.base.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock"))


def one_line_error(result, code, text):
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert result.returncode == code, result.stderr
    assert len(errors) == 1 and text in errors[0], result.stderr


def day_names(d, signed=True):
    names = [f"audit-{d}.jsonl", f"audit-{d}.jsonl.sha256", f"manifest-{d}.json"]
    return sorted([*names, f"manifest-{d}.json.sig"] if signed else names)


def all_names(days):
    return sorted(n for d in days for n in day_names(d))


def rechain(directory, first, key_file):
    """What a root on the evidence host can do: rebuild the manifests from `first` on, in order,
    each linking to the rebuilt one before it, and sign them with the host's own key."""
    key = evidence.load_private_key(key_file)
    for d in DAYS[DAYS.index(first) :]:
        if not (directory / f"manifest-{d}.json").exists():
            break
        result = evidence.verify_data_file(str(directory / f"audit-{d}.jsonl"), d)
        (directory / f"audit-{d}.jsonl.sha256").write_text(evidence.sidecar_text(result["sha256"], f"audit-{d}.jsonl"))
        prev = directory / f"manifest-{evidence.parse_day(d) - timedelta(days=1)}.json"
        previous = (json.loads(prev.read_bytes()), prev.read_bytes()) if prev.exists() else None
        raw = evidence.record_bytes(evidence.build_manifest(d, result, previous))
        (directory / f"manifest-{d}.json").write_bytes(raw)
        (directory / f"manifest-{d}.json.sig").write_bytes(evidence.sign(key, raw))


def rewrite_history(site, d):
    """Drop the first event of day d (a rewrite that keeps every line valid: the rest of the day
    and of the chain is recomputed), then re-chain and re-sign from d on."""
    path = site.origin / f"audit-{d}.jsonl"
    events = [json.loads(line) for line in path.read_bytes().splitlines()]
    prev = events[0]["prev_hash"]
    events[0]["details"] = {"note": "forged"}
    later = []
    for e in events:
        e["prev_hash"] = prev
        body = {k: v for k, v in e.items() if k != "hash"}
        e["hash"] = prev = evidence.chain_hash(evidence.canonical_json(body), prev.encode())
        later.append(e)
    path.write_bytes(b"".join(evidence.canonical_json(e) + b"\n" for e in later))
    for nd in DAYS[DAYS.index(d) + 1 :]:  # the next days' first events link to the new head
        nxt = site.origin / f"audit-{nd}.jsonl"
        if not nxt.exists() or not nxt.stat().st_size:
            continue
        events = [json.loads(line) for line in nxt.read_bytes().splitlines()]
        for e in events:
            e["prev_hash"] = prev
            body = {k: v for k, v in e.items() if k != "hash"}
            e["hash"] = prev = evidence.chain_hash(evidence.canonical_json(body), prev.encode())
        nxt.write_bytes(b"".join(evidence.canonical_json(e) + b"\n" for e in events))
    rechain(site.origin, d, site.clean / "signing.pem")


@pytest.fixture
def site(clean, tmp_path):
    return Site(clean, tmp_path)


# ---- the normal pull -----------------------------------------------------------------------------
def test_a_pull_archives_every_day_verified_and_reports_it(site):
    r = site.run("--json")
    assert r.returncode == 0, r.stderr
    assert evidence_files(site.archive) == all_names(DAYS)
    assert ".lock" not in os.listdir(site.archive) and site.hidden() == []
    assert verify_log(site.archive, "--public-key", str(site.clean / "signing.pub"), "--max-age", "0").returncode == 0
    for d in DAYS:
        assert f"ev-host: archived {d}" in r.stderr
    summary = json.loads(r.stdout)
    assert summary["exit_code"] == 0 and summary["origins"][0]["archived"] == DAYS
    assert site.metric("last_run_success") == 1 and site.metric("copy_verified") == 1
    assert site.metric("origin_deleted_days") == 0 and site.metric("origin_rewritten_days") == 0
    assert abs(site.metric("last_success_timestamp_seconds") - NOW.timestamp()) < 60  # on the tests' clock
    assert site.metric("newest_day_timestamp_seconds") == datetime.fromisoformat(DAYS[-1] + "T00:00:00+00:00").timestamp()
    assert oct((site.metrics / "brain_evidence_archive_ev-host.prom").stat().st_mode & 0o777) == "0o644"


def test_a_second_pull_changes_nothing_and_new_days_are_added(clean, tmp_path):
    site = Site(clean, tmp_path, days=DAYS[:2])
    assert site.run().returncode == 0
    before = site.held()
    r = site.run()
    assert r.returncode == 0, r.stderr
    assert site.held() == before  # same inodes, times and bytes
    site.add_day(DAYS[2])
    site.add_day(DAYS[3])
    r = site.run()
    assert r.returncode == 0, r.stderr
    assert evidence_files(site.archive) == all_names(DAYS)
    assert all(site.held()[n] == before[n] for n in before)


# ---- what a root on the evidence host does -------------------------------------------------------
def test_the_newest_day_deleted_on_the_origin_is_reported_and_kept(site):
    assert site.run().returncode == 0
    before = site.held()
    for name in day_names(DAYS[-1]):
        (site.origin / name).unlink()
    # The origin alone still verifies when the auditor allows a day's age: the deletion is invisible there.
    assert verify_log(site.origin, "--public-key", str(site.clean / "signing.pub"), "--max-age", "0").returncode == 0
    r = site.run()
    one_line_error(r, 8, "ev-host: the origin differs from the archive: 1 days deleted, 0 rewritten")
    assert f"ev-host: DELETED ON ORIGIN: {DAYS[-1]} is in the archive but gone from the origin" in r.stderr
    assert site.held() == before
    assert site.metric("origin_deleted_days") == 1 and site.metric("origin_rewritten_days") == 0
    assert site.metric("last_run_success") == 0 and site.metric("copy_verified") == 1
    assert verify_log(site.archive, "--public-key", str(site.clean / "signing.pub"), "--max-age", "0").returncode == 0
    # Restored byte for byte (the exporter re-exports the same day identically), the finding clears.
    site.add_day(DAYS[-1])
    assert site.run().returncode == 0
    assert site.metric("origin_deleted_days") == 0


def test_an_old_day_rewritten_and_re_signed_on_the_origin_is_reported_and_kept(site):
    assert site.run().returncode == 0
    before = site.held()
    rewrite_history(site, DAYS[1])
    # With the host's key the forged history verifies on the host itself: only the copy can tell.
    r = verify_log(site.origin, "--public-key", str(site.clean / "signing.pub"), "--max-age", "0")
    assert r.returncode == 0, r.stdout
    r = site.run()
    one_line_error(r, 8, "ev-host: the origin differs from the archive: 0 days deleted, 3 rewritten")
    for d in DAYS[1:]:
        assert f"ev-host: REWRITTEN ON ORIGIN: the origin's files of {d} differ from the archived copy" in r.stderr
    assert site.held() == before
    assert site.metric("origin_rewritten_days") == 3 and site.metric("copy_verified") == 1
    assert verify_log(site.archive, "--public-key", str(site.clean / "signing.pub"), "--max-age", "0").returncode == 0


def test_a_rewrite_that_keeps_size_and_time_is_still_seen(site):
    """rsync's quick check (size and mtime) would miss it; the pull compares contents."""
    assert site.run().returncode == 0
    path = site.origin / f"audit-{DAYS[0]}.jsonl"
    st = path.stat()
    raw = bytearray(path.read_bytes())
    raw[raw.index(b'"severity":"INFO"') + 12 : raw.index(b'"severity":"INFO"') + 16] = b"INFX"
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    r = site.run()
    assert r.returncode == 8 and f"REWRITTEN ON ORIGIN: the origin's files of {DAYS[0]}" in r.stderr, r.stderr


def test_new_days_that_follow_a_rewritten_history_are_never_published(clean, tmp_path):
    site = Site(clean, tmp_path, days=DAYS[:3])
    assert site.run().returncode == 0
    before = site.held()
    site.add_day(DAYS[3])
    rewrite_history(site, DAYS[1])  # the new day links to the forged history
    r = site.run()
    one_line_error(r, 8, f"ev-host: the new days {DAYS[3]} to {DAYS[3]} fail verification")
    assert "nothing was published" in r.stderr
    assert site.held() == before and site.hidden() == []
    assert site.metric("origin_rewritten_days") == 2 and site.metric("copy_verified") == 1


def test_a_day_that_fails_verification_is_never_published(clean, tmp_path):
    site = Site(clean, tmp_path, days=DAYS[:2])
    assert site.run().returncode == 0
    before = site.held()
    site.add_day(DAYS[2])
    data = site.origin / f"audit-{DAYS[2]}.jsonl"
    data.write_bytes(data.read_bytes().replace(b'"severity":"INFO"', b'"severity":"WARNING"', 1))
    r = site.run()
    one_line_error(r, 8, f"the new days {DAYS[2]} to {DAYS[2]} fail verification (audit-{DAYS[2]}.jsonl")
    assert site.held() == before and site.hidden() == []
    assert site.metric("last_run_success") == 0 and site.metric("copy_verified") == 1


def test_a_day_signed_with_another_key_is_never_published(clean, tmp_path):
    site = Site(clean, tmp_path, days=DAYS[:2])
    assert site.run().returncode == 0
    site.add_day(DAYS[2])
    raw = (site.origin / f"manifest-{DAYS[2]}.json").read_bytes()
    (site.origin / f"manifest-{DAYS[2]}.json.sig").write_bytes(evidence.sign(Ed25519PrivateKey.generate(), raw))
    r = site.run()
    assert r.returncode == 8 and "bad signature" in r.stderr, r.stderr
    assert evidence_files(site.archive) == all_names(DAYS[:2])


# ---- partial pulls -------------------------------------------------------------------------------
def test_a_pull_killed_mid_way_leaves_nothing_visible_and_the_next_run_completes(clean, tmp_path):
    site = Site(clean, tmp_path, shell=SLOW)
    proc = site.run(popen=True)
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".ev-host.pull-") and any(p.iterdir()) for p in site.base.iterdir() if p.is_dir()):
        assert time.monotonic() < deadline and proc.poll() is None, "the pull never started receiving"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert evidence_files(site.archive) == []
    assert site.hidden() != []  # the killed run's pull directory, hidden beside the archive
    site.shell(SSHD)
    r = site.run()
    assert r.returncode == 0, r.stderr
    assert "removing .ev-host.pull-" in r.stderr and site.hidden() == []
    assert evidence_files(site.archive) == all_names(DAYS)


def test_the_clean_up_of_a_killed_run_spares_another_origin_whose_name_extends_this_one(clean, tmp_path):
    """Origin names may hold dots and dashes (host names): `ev-host.b-1` is another origin, its
    running pull's directory and its lock are not leftovers of `ev-host`."""
    site = Site(clean, tmp_path)
    other_pull = site.base / ".ev-host.b-1.pull-999"
    other_pull.mkdir()
    (other_pull / "audit-2026-01-01.jsonl").write_text("in flight\n")
    (site.base / ".ev-host.b-1.lock").write_text("")
    (site.base / ".ev-host.staging-12").mkdir()  # this origin's own leftover goes
    r = site.run()
    assert r.returncode == 0, r.stderr
    assert (other_pull / "audit-2026-01-01.jsonl").read_text() == "in flight\n"
    assert (site.base / ".ev-host.b-1.lock").is_file()
    assert "removing .ev-host.staging-12" in r.stderr and not (site.base / ".ev-host.staging-12").exists()


def test_a_connection_cut_mid_way_publishes_nothing(clean, tmp_path):
    site = Site(clean, tmp_path, shell=CUT)
    r = site.run("--timeout", "3")  # the cut origin stalls: rsync's I/O timeout ends the pull
    one_line_error(r, 4, "rsync from brain-archive@ev-host: failed with exit")
    assert evidence_files(site.archive) == [] and site.hidden() == []
    assert site.metric("last_run_success") == 0 and site.metric("last_success_timestamp_seconds") == 0


def test_an_unreachable_origin_keeps_the_findings_of_the_last_comparison(site):
    assert site.run().returncode == 0
    (site.origin / f"manifest-{DAYS[-1]}.json").unlink()
    assert site.run().returncode == 8 and site.metric("origin_deleted_days") == 1
    stamp = site.metric("last_success_timestamp_seconds")
    site.shell(CUT)  # a root on the origin cannot clear the finding by making pulls fail
    assert site.run("--timeout", "3").returncode == 4
    assert site.metric("origin_deleted_days") == 1 and site.metric("last_success_timestamp_seconds") == stamp


# ---- hostile input from the origin ---------------------------------------------------------------
def test_symlinks_and_special_files_never_reach_the_archive(clean, tmp_path):
    site = Site(clean, tmp_path, days=DAYS[:2])
    secret = tmp_path / "outside-secret"
    secret.write_text("root-only secret\n")
    os.symlink(secret, site.origin / f"audit-{DAYS[2]}.jsonl")
    os.symlink(secret, site.origin / f"manifest-{DAYS[2]}.json")
    os.mkfifo(site.origin / f"audit-{DAYS[3]}.jsonl.sha256")
    r = site.run()
    assert r.returncode == 0, r.stderr
    assert evidence_files(site.archive) == all_names(DAYS[:2])
    assert site.hidden() == []
    for path in site.base.rglob("*"):
        assert not path.is_symlink() and b"root-only secret" not in (path.read_bytes() if path.is_file() else b"")


def test_odd_names_and_directories_are_not_pulled(clean, tmp_path):
    site = Site(clean, tmp_path, days=DAYS[:2])
    for name in ["notes.txt", "audit-2026-02-30.jsonl", "-rf", "new\nline", "..manifest", "chain-anchor.json", b"bad-\xff".decode("utf-8", "surrogateescape")]:
        (site.origin / name).write_text("x")
    (site.origin / f"manifest-{DAYS[2]}.json").mkdir()
    (site.origin / f"manifest-{DAYS[2]}.json" / "inside").write_text("x")
    (site.origin / "sub").mkdir()
    (site.origin / "sub" / f"audit-{DAYS[3]}.jsonl").write_text("x")
    r = site.run()
    assert r.returncode == 0, r.stderr
    assert os.listdir(site.archive) and evidence_files(site.archive) == all_names(DAYS[:2])


def test_a_huge_file_on_the_origin_is_refused(clean, tmp_path):
    site = Site(clean, tmp_path, days=DAYS[:2])
    assert site.run().returncode == 0
    site.add_day(DAYS[2])
    with open(site.origin / f"audit-{DAYS[2]}.jsonl", "ab") as fh:
        fh.truncate(50 << 20)  # sparse: 50 MiB that cost no disk on the origin
    r = site.run("--max-file-size", str(10 << 20))
    one_line_error(r, 7, f"the origin holds a file larger than --max-file-size {10 << 20}")
    assert evidence_files(site.archive) == all_names(DAYS[:2]) and site.hidden() == []


def test_the_restricted_key_cannot_write_or_read_outside_the_evidence_directory(site, tmp_path):
    sshd = [str(tmp_path / "sshd"), str(site.origin)]
    (tmp_path / "outside").write_text("secret\n")
    up = subprocess.run(["rsync", "-e", " ".join(sshd), str(tmp_path / "outside"), "h:"], capture_output=True, text=True, check=False)
    assert up.returncode != 0 and "read-only" in up.stderr + up.stdout, up.stderr
    assert not (site.origin / "outside").exists()
    down = subprocess.run(["rsync", "-e", " ".join(sshd), "h:../outside", str(tmp_path / "got")], capture_output=True, text=True, check=False)
    assert down.returncode != 0 and not (tmp_path / "got").exists(), down.stderr


# ---- locks and configuration ---------------------------------------------------------------------
def test_one_lock_per_origin(site):
    with open(site.base / ".ev-host.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        r = site.run()
    one_line_error(r, 10, "another pull holds the lock on origin ev-host")
    assert not site.archive.exists() or evidence_files(site.archive) == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("not json", "cannot read the configuration"),
        ('{"rsh": [], "origins": []}', "needs a list 'origins' and a non-empty argv list 'rsh'"),
        ('{"rsh": ["ssh"], "origins": [{"name": "../x", "source": "a:", "public_key": "/k"}]}', "origin name '../x' is not unique"),
        ('{"rsh": ["ssh"], "origins": [{"name": "x", "source": "a:"}]}', "every origin needs the strings name, source and public_key"),
    ],
)
def test_a_bad_configuration_is_exit_3(site, config, message):
    site.config.write_text(config)
    one_line_error(site.run(), 3, message)


def test_a_missing_public_key_is_a_configuration_error_and_publishes_nothing(site):
    cfg = json.loads(site.config.read_text())
    cfg["origins"][0]["public_key"] = str(site.tmp / "nope.pub")
    site.config.write_text(json.dumps(cfg))
    r = site.run()
    assert r.returncode == 3, r.stderr
    assert evidence_files(site.archive) == []


def test_an_interrupted_publish_is_completed_but_a_differing_file_is_never_replaced(clean, tmp_path):
    site = Site(clean, tmp_path, days=DAYS[:1])
    assert site.run().returncode == 0
    site.add_day(DAYS[1])
    # A publish cut after the data file: the same bytes are kept and the day is completed.
    shutil.copy(site.origin / f"audit-{DAYS[1]}.jsonl", site.archive / f"audit-{DAYS[1]}.jsonl")
    assert site.run().returncode == 0
    assert evidence_files(site.archive) == all_names(DAYS[:2])
    # Other bytes under a name the archive is about to publish: never replaced.
    site.add_day(DAYS[2])
    (site.archive / f"audit-{DAYS[2]}.jsonl.sha256").write_text("not this\n")
    r = site.run()
    one_line_error(r, 8, f"audit-{DAYS[2]}.jsonl.sha256 exists with other content; the archive is never overwritten")
    assert (site.archive / f"audit-{DAYS[2]}.jsonl.sha256").read_text() == "not this\n"
    assert not (site.archive / f"manifest-{DAYS[2]}.json").exists()


# ---- the origin's retention against deletions on the origin --------------------------------------
def test_days_the_origin_removed_by_its_own_retention_are_not_deletions(clean, tmp_path):
    site = Site(clean, tmp_path, origin_retention_days=2)
    assert site.run().returncode == 0
    assert site.origin_retention(2) == DAYS[:2]
    r = site.run()
    assert r.returncode == 0, r.stderr
    assert "ev-host: 2 days older than the origin's retention are gone from it (kept in the archive)" in r.stderr
    assert site.metric("origin_deleted_days") == 0 and evidence_files(site.archive) == all_names(DAYS)


def test_a_hole_older_than_the_origin_retention_is_a_deletion(clean, tmp_path):
    """The origin's retention removes its oldest days first: a missing day with an older one still
    there (the export failed, so retention did not run) was not removed by it."""
    site = Site(clean, tmp_path, origin_retention_days=2)
    assert site.run().returncode == 0
    for name in day_names(DAYS[1]):
        (site.origin / name).unlink()
    r = site.run()
    one_line_error(r, 8, "ev-host: the origin differs from the archive: 1 days deleted, 0 rewritten")
    assert f"DELETED ON ORIGIN: {DAYS[1]}" in r.stderr and site.metric("origin_deleted_days") == 1


def test_a_day_deleted_early_stays_a_deletion_when_it_grows_older_than_the_origin_retention(clean, tmp_path):
    site = Site(clean, tmp_path, origin_retention_days=10)
    assert site.run().returncode == 0
    for name in day_names(DAYS[0]):  # well inside the 10 days the origin keeps
        (site.origin / name).unlink()
    assert site.run().returncode == 8 and site.metric("origin_deleted_days") == 1
    # Eight days on, the origin's own retention would have removed it by now: the finding stays.
    r = site.run(days_later=8)
    one_line_error(r, 8, "ev-host: the origin differs from the archive: 1 days deleted, 0 rewritten")
    assert site.metric("origin_deleted_days") == 1
    # Put back byte for byte, it clears; removed again by the origin's retention, it is no deletion.
    site.add_day(DAYS[0])
    assert site.run(days_later=8).returncode == 0 and site.metric("origin_deleted_days") == 0
    assert site.origin_retention(10, days_later=8) == DAYS[:2]
    r = site.run(days_later=8)
    assert r.returncode == 0 and site.metric("origin_deleted_days") == 0, r.stderr


def test_findings_the_archive_cannot_read_fail_the_run_instead_of_starting_afresh(site):
    assert site.run().returncode == 0
    (site.origin / f"manifest-{DAYS[-1]}.json").unlink()
    assert site.run().returncode == 8
    (site.archive / ".findings.json").write_text("{}\n")
    r = site.run()
    one_line_error(r, 8, "ev-host/.findings.json: not the archive's findings; the archive does not start afresh on its own")


# ---- the archive's own retention ------------------------------------------------------------------
def test_the_archive_retention_removes_old_days_and_what_is_left_verifies_from_its_anchor(clean, tmp_path):
    site = Site(clean, tmp_path, origin_retention_days=2)
    r = site.run("--retention-days", "2", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["origins"][0]["pruned"] == DAYS[:2]
    assert f"ev-host: retention: removed {DAYS[0]} to {DAYS[1]} (older than 2 days)" in r.stderr
    assert evidence_files(site.archive) == sorted([*all_names(DAYS[2:]), "archive-anchor.json"])
    anchor = json.loads((site.archive / "archive-anchor.json").read_text())
    link = json.loads((site.origin / f"manifest-{DAYS[2]}.json").read_text())["previous_manifest"]
    assert anchor == {"first_date": DAYS[2], "format_version": 1, "previous_manifest": link, "removed": DAYS[:2]}
    key = ["--public-key", str(site.clean / "signing.pub"), "--max-age", "0"]
    v = verify_log(site.archive, *key, "--anchor", str(site.archive / "archive-anchor.json"))
    assert v.returncode == 0 and "trusted anchor" in v.stdout and v.stdout.splitlines()[-1] == "PASS: 7 checked, 0 failed", v.stdout
    assert verify_log(site.archive, *key).returncode == 1  # without it, the chain starts at a missing day
    assert site.metric("anchor_day_timestamp_seconds") == datetime.fromisoformat(DAYS[2] + "T00:00:00+00:00").timestamp()
    # The origin still holds the days the archive removed: not pulled again, not compared.
    before = site.held()
    r = site.run("--retention-days", "2")
    assert r.returncode == 0 and site.held() == before and "archived" not in r.stderr, r.stderr
    # Then the origin's own retention removes them: no deletion either.
    assert site.origin_retention(2) == DAYS[:2]
    assert site.run("--retention-days", "2").returncode == 0 and site.metric("origin_deleted_days") == 0


def test_a_hole_is_a_deletion_even_below_days_the_archive_removed(clean, tmp_path):
    """The origin still holds days the archive's retention removed (its own retention has not run):
    a day missing above them is a hole, not the origin's retention."""
    site = Site(clean, tmp_path, origin_retention_days=2)
    assert site.run("--retention-days", "2").returncode == 0  # the archive now starts at DAYS[2]
    for name in day_names(DAYS[2]):
        (site.origin / name).unlink()
    r = site.run("--retention-days", "2", days_later=1)  # DAYS[2] is now older than the origin's window
    one_line_error(r, 8, "ev-host: the origin differs from the archive: 1 days deleted, 0 rewritten")
    assert f"DELETED ON ORIGIN: {DAYS[2]}" in r.stderr and (site.archive / f"manifest-{DAYS[2]}.json").exists()


def test_the_archive_anchor_holds_against_a_removed_oldest_day(clean, tmp_path):
    site = Site(clean, tmp_path, origin_retention_days=2)
    assert site.run("--retention-days", "2").returncode == 0
    for name in day_names(DAYS[2]):  # the archive's oldest kept day, gone without its retention (and from the origin)
        (site.archive / name).unlink()
        (site.origin / name).unlink()
    r = site.run("--retention-days", "2")
    one_line_error(r, 8, "ev-host: the archive's copy fails verification: archive-anchor.json: the retention anchor does not match")
    assert site.metric("copy_verified") == 0


def test_the_archive_retention_keeps_a_day_with_an_open_finding_and_every_day_after(clean, tmp_path):
    site = Site(clean, tmp_path, origin_retention_days=2)
    assert site.run().returncode == 0
    path = site.origin / f"audit-{DAYS[1]}.jsonl"
    path.write_bytes(path.read_bytes().replace(b'"severity":"INFO"', b'"severity":"INFX"', 1))
    for later in (0, 5):
        r = site.run("--retention-days", "2", "--json", days_later=later)
        one_line_error(r, 8, "ev-host: the origin differs from the archive: 0 days deleted, 1 rewritten")
        assert evidence_files(site.archive) == sorted([*all_names(DAYS[1:]), "archive-anchor.json"])
        assert site.metric("origin_rewritten_days") == 1 and site.metric("copy_verified") == 1


@pytest.mark.parametrize(("origin_days", "archive_days"), [(0, 30), (10, 9)])
def test_the_archive_retention_must_keep_what_the_origin_keeps(clean, tmp_path, origin_days, archive_days):
    site = Site(clean, tmp_path, origin_retention_days=origin_days)
    r = site.run("--retention-days", str(archive_days))
    one_line_error(r, 3, f"--retention-days {archive_days} is shorter than what origin ev-host keeps")
    assert evidence_files(site.archive) == [] if site.archive.exists() else True


# ---- an archive that starts after the origin removed days -----------------------------------------
def test_a_first_pull_after_the_origin_removed_days_takes_its_oldest_day_on_trust_once_and_says_so(clean, tmp_path):
    site = Site(clean, tmp_path)
    assert site.origin_retention(2) == DAYS[:2]
    r = site.run()
    assert r.returncode == 0, r.stderr
    assert f"ev-host: TRUST ON FIRST USE: the origin's oldest day {DAYS[2]} links to {DAYS[1]}" in r.stderr
    assert evidence_files(site.archive) == sorted([*all_names(DAYS[2:]), "archive-anchor.json"])
    assert site.metric("anchor_day_timestamp_seconds") == datetime.fromisoformat(DAYS[2] + "T00:00:00+00:00").timestamp()
    key = ["--public-key", str(site.clean / "signing.pub"), "--max-age", "0"]
    assert verify_log(site.archive, *key, "--anchor", str(site.archive / "archive-anchor.json")).returncode == 0
    # Only once: later pulls verify from that anchor, and a rewrite of the anchored day is seen.
    r = site.run()
    assert r.returncode == 0 and "TRUST ON FIRST USE" not in r.stderr, r.stderr
    path = site.origin / f"audit-{DAYS[2]}.jsonl"
    path.write_bytes(path.read_bytes().replace(b'"severity":"INFO"', b'"severity":"INFX"', 1))
    assert site.run().returncode == 8 and site.metric("origin_rewritten_days") == 1


def test_verify_log_anchor_is_for_a_directory_and_a_bad_one_fails(clean, tmp_path):
    site = Site(clean, tmp_path, origin_retention_days=2)
    assert site.run("--retention-days", "2").returncode == 0
    key = ["--public-key", str(site.clean / "signing.pub"), "--max-age", "0"]
    r = verify_log(site.archive / f"audit-{DAYS[2]}.jsonl", *key, "--anchor", str(site.archive / "archive-anchor.json"))
    assert r.returncode == 2 and "since, until and anchor apply to a directory, not a file" in r.stderr, r.stderr
    bad = tmp_path / "bad-anchor.json"
    for content, problem in [("{}\n", "the trusted anchor does not have the members"), (None, "unreadable")]:
        if content is not None:
            bad.write_text(content)
        r = verify_log(site.archive, *key, "--anchor", str(bad if content is not None else tmp_path / "none.json"))
        assert r.returncode == 1 and problem in r.stdout, r.stdout


def test_a_first_pull_whose_oldest_manifest_is_not_one_fails_verification_and_trusts_nothing(clean, tmp_path):
    site = Site(clean, tmp_path, days=DAYS[1:])
    (site.origin / f"manifest-{DAYS[1]}.json").write_text("not a manifest\n")
    r = site.run()
    one_line_error(r, 8, f"ev-host: the new days {DAYS[1]} to {DAYS[3]} fail verification")
    assert "Traceback" not in r.stderr and "TRUST ON FIRST USE" not in r.stderr
    assert evidence_files(site.archive) == []
