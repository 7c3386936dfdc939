"""Evidence against the real backend (issue 14, "Done when" 1): evidence packs from the real
evidence router verify, and daily evidence made from the real audit JSONL verifies with brain-audit."""

import datetime
import json
import os
import subprocess
import sys

import pytest
from expectations import EXPORTER_AUDIT_FILE_OPTION
from realbrain import AUDIT_FILE, ROOT, RealBrain, run_module

EXPORTER = str(ROOT / "scripts" / "brain-evidence-export")
AUDIT = str(ROOT / "scripts" / "brain-audit")


def test_an_evidence_pack_exports_and_the_real_backend_verifies_it(governance, tmp_path):
    governance.switch_mode("offline", reason="interop: evidence")
    governance.switch_mode("online", reason="interop: evidence")
    now, hour = datetime.datetime.now(datetime.UTC), datetime.timedelta(hours=1)
    # Times with Z, as users write them (the module's documented form); the real backend compares naive times.
    window = {"start_time": (now - hour).strftime("%Y-%m-%dT%H:%M:%SZ"), "end_time": (now + hour).strftime("%Y-%m-%dT%H:%M:%SZ")}
    dest = tmp_path / "pack.json"
    args = {"scope": "audit", "dest": str(dest), **window}
    r = run_module(tmp_path / "play", "brain.ops_assurance.evidence_pack", args, governance.url(), governance.token())
    assert not r.get("failed"), r.get("msg")
    assert r["event_count"] >= 2, "the window holds the two mode changes just made (times with Z must not select zero events)"
    verdict = governance.ok("POST", "/api/sovereign-mode/evidence/verify", json.loads(dest.read_text()))
    assert verdict["is_valid"] is True and verdict["computed_hash"] == r["content_hash"]


def test_the_exporter_says_the_real_api_has_no_audit_export(governance, tmp_path):
    """Today's API path against real main: it must fail loudly, never write an empty day."""
    env = {**os.environ, "BRAIN_API_TOKEN": governance.token()}
    (tmp_path / "evidence").mkdir()
    r = subprocess.run(
        [sys.executable, EXPORTER, "--api-url", governance.url(), "--dir", str(tmp_path / "evidence"), "--retries", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode != 0 and "404" in r.stderr, r.stderr
    assert not [p.name for p in (tmp_path / "evidence").iterdir() if p.name.startswith(("audit-", "manifest-"))]


@pytest.fixture(scope="module")
def two_days_of_audit_log(tmp_path_factory, key):
    """The real backend's own audit JSONL over two completed UTC days: the same working directory
    served the day before yesterday and yesterday (libfaketime), with mode switches and safe mode."""
    workdir = tmp_path_factory.mktemp("audit-days")
    days = []
    for offset in ("-2d", "-1d"):
        brain = RealBrain(workdir, "governance", key, fake_offset=offset)
        try:
            brain.switch_mode("offline", reason=f"interop {offset}")
            brain.ok("POST", "/api/safe-mode/enable", {"reason": f"interop {offset}"})
            brain.ok("POST", "/api/safe-mode/disable", {"reason": f"interop {offset}"})
            brain.switch_mode("online", reason=f"interop {offset}")
        finally:
            brain.stop()
        days.append(str(datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=int(offset[:-1]))))
    entries = RealBrain.read_audit(workdir / AUDIT_FILE)
    ids = {day: [e["id"] for e in entries if e["timestamp"].startswith(day)] for day in days}
    assert all(ids.values()), f"the backend wrote no audit entries on some day: {ids}"
    return workdir / AUDIT_FILE, days, ids


def test_daily_evidence_from_the_real_audit_log_verifies(two_days_of_audit_log, tmp_path):
    """As the timer runs it on the backend host: one run a day, each day chained to the one before."""
    audit_file, days, ids = two_days_of_audit_log
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    for day in days:
        r = subprocess.run(
            [sys.executable, EXPORTER, EXPORTER_AUDIT_FILE_OPTION, str(audit_file), "--dir", str(evidence), "--date", day],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert r.returncode == 0, r.stderr[-2000:]
        exported = (evidence / f"audit-{day}.jsonl").read_text()
        assert len(exported.splitlines()) == len(ids[day]), f"{day}: {len(exported.splitlines())} exported, {len(ids[day])} in the backend's audit log"
        assert all(f'"{entry_id}"' in exported for entry_id in ids[day]), f"{day}: an entry of the backend's audit log is missing"
    verified = subprocess.run([sys.executable, AUDIT, "verify-log", str(evidence)], capture_output=True, text=True, timeout=120, check=False)
    assert verified.returncode == 0 and verified.stdout.splitlines()[-1].startswith("PASS"), verified.stdout + verified.stderr
    # The check can fail: one changed byte in the first day breaks it.
    first = evidence / f"audit-{days[0]}.jsonl"
    os.chmod(first, 0o600)
    first.write_text(first.read_text().replace("interop", "intErop", 1))
    tampered = subprocess.run([sys.executable, AUDIT, "verify-log", str(evidence)], capture_output=True, text=True, timeout=120, check=False)
    assert tampered.returncode == 1, tampered.stdout
