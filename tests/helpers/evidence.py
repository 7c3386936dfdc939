"""Running the evidence scripts as users do: real processes, real HTTP, real files."""

import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from helpers.backend import ADMIN, Backend

ROOT = Path(__file__).resolve().parents[2]
EXPORT = ROOT / "scripts" / "brain-evidence-export"
AUDIT = ROOT / "scripts" / "brain-audit"


def today():
    return datetime.now(UTC).date()


def day(offset):
    """The UTC date `offset` days from today, as YYYY-MM-DD."""
    return str(today() + timedelta(days=offset))


def seeded_backend(tmp_path, events=3000, days=3, end_offset=-1, *extra):
    """A backend whose history covers whole past days: `days` days ending at 00:00 UTC of
    today + end_offset (so with the defaults day(-1) is empty)."""
    end = f"{day(end_offset)}T00:00:00Z"
    return Backend(tmp_path, "--seed-events", str(events), "--seed-days", str(days), "--seed-end", end, "--seed", "5", *extra)


def export(api_url, directory, *args, token=ADMIN, env=None, timeout=120):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BRAIN_")}
    if token is not None:
        environ["BRAIN_API_TOKEN"] = token
    environ.update(env or {})
    cmd = [sys.executable, str(EXPORT), "--api-url", api_url, "--dir", str(directory), "--retry-wait", "0.05", "--timeout", "5", *args]
    return subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=timeout, check=False)


def verify_log(path, *args):
    return subprocess.run([sys.executable, str(AUDIT), "verify-log", str(path), *args], capture_output=True, text=True, timeout=300, check=False)


def snapshot(directory):
    """name -> (inode, mtime_ns, sha256) for every file, hidden ones included."""
    found = {}
    for path in sorted(Path(directory).iterdir()):
        st = path.stat()
        found[path.name] = (st.st_ino, st.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def evidence_files(directory):
    """The published evidence (not the lock, not temp files)."""
    return sorted(p.name for p in Path(directory).iterdir() if not p.name.startswith("."))
