"""Running the evidence scripts as users do: real processes, real HTTP, real files."""

import hashlib
import http.server
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from helpers.backend import ADMIN, Backend

ROOT = Path(__file__).resolve().parents[2]
EXPORT = ROOT / "scripts" / "brain-evidence-export"
AUDIT = ROOT / "scripts" / "brain-audit"


# The evidence tests' clock. The exporter, the verifier and the modules take today's date from the
# system clock, so the tests run them with libfaketime (the `faketime` package), which starts each
# process's clock at NOW: the days a test expects are the days they see, on any date and in a run
# that crosses midnight UTC. 01:00, an hour before the daily export: the verifier's default
# max-age (28 hours) still accepts evidence that ends with the day before yesterday, as the tests
# that export only that far expect (on the real clock they failed from 04:00 UTC on).
# In November 2026, after the fixed dates other tests give (an evidence window from 2026-11-01),
# and before the machine's own date (the reference backend seeds no history in its future).
NOW = datetime(2026, 11, 15, 1, 0, tzinfo=UTC)


def on_the_clock(env=None, days_later=0):
    """The environment (default: ours) that runs a process, and its children, on the tests' clock
    (moved on by `days_later` days, for what changes as days pass: retention)."""
    start = NOW + timedelta(days=days_later)
    clock = {"LD_PRELOAD": "/usr/$LIB/faketime/libfaketime.so.1", "FAKETIME": start.strftime("@%Y-%m-%d %H:%M:%S"), "TZ": "UTC"}
    return {**(os.environ if env is None else env), **clock}


def today():
    return NOW.date()


def day(offset):
    """The UTC date `offset` days from the tests' today, as YYYY-MM-DD."""
    return str(today() + timedelta(days=offset))


def seeded_backend(tmp_path, events=3000, days=3, end_offset=-1, *extra):
    """A backend whose history covers whole past days: `days` days ending at 00:00 UTC of the
    tests' today + end_offset (so with the defaults day(-1) is empty)."""
    end = f"{day(end_offset)}T00:00:00Z"
    return Backend(tmp_path, "--seed-events", str(events), "--seed-days", str(days), "--seed-end", end, "--seed", "5", *extra)


def pem_private(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def pem_public(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def signed_evidence(root, start):
    """root/evidence: the real exporter's signed days from `start` to yesterday over a seeded backend,
    with the key pair beside it (root/signing.pem and root/signing.pub)."""
    backend = seeded_backend(root)
    key = Ed25519PrivateKey.generate()
    (root / "signing.pem").write_bytes(pem_private(key))
    (root / "signing.pub").write_bytes(pem_public(key))
    (root / "evidence").mkdir()
    try:
        r = export(backend.url(""), root / "evidence", "--start-date", start, "--signing-key", str(root / "signing.pem"))
        assert r.returncode == 0, r.stderr
    finally:
        backend.stop()
    return root


def exporter_module():
    """The exporter's code in this process, as a module (its script has no .py)."""
    loader = importlib.machinery.SourceFileLoader("brain_evidence_export_under_test", str(EXPORT))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


def export(api_url, directory, *args, token=ADMIN, env=None, timeout=120):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BRAIN_")}
    if token is not None:
        environ["BRAIN_API_TOKEN"] = token
    environ.update(env or {})
    cmd = [sys.executable, str(EXPORT), "--api-url", api_url, "--dir", str(directory), "--retry-wait", "0.05", "--timeout", "5", *args]
    return subprocess.run(cmd, env=on_the_clock(environ), capture_output=True, text=True, timeout=timeout, check=False)


def verify_log(path, *args):
    cmd = [sys.executable, str(AUDIT), "verify-log", str(path), *args]
    return subprocess.run(cmd, env=on_the_clock(), capture_output=True, text=True, timeout=300, check=False)


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


def ansible_module(module, args):
    """The result of one ad hoc module call on localhost, as a dict (ANSIBLE_STDOUT_CALLBACK=json)."""
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"}
    cmd = [
        "ansible",
        "localhost",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        "-m",
        module,
        "-a",
        json.dumps(args),
    ]
    r = subprocess.run(cmd, env=on_the_clock(env), capture_output=True, text=True, timeout=300, check=False)
    return json.loads(r.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


def playbook(name, *extra):
    """Run one of the collection's playbooks by name against localhost; (rc, stdout + stderr)."""
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1"}
    cmd = ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}", f"brain.ops_assurance.{name}", *extra]
    r = subprocess.run(cmd, env=on_the_clock(env), capture_output=True, text=True, timeout=300, check=False)
    return r.returncode, r.stdout + r.stderr


class MisbehavingApi:
    """An export endpoint that answers every request with the given NDJSON body and headers that
    match it (hash, count, seqs), as a backend with a broken or hostile log would."""

    def __init__(self, body):
        digest = hashlib.sha256(body).hexdigest()
        headers = {"Content-Type": "application/x-ndjson", "X-Brain-Content-Hash": digest, "X-Brain-Event-Count": str(body.count(b"\n"))}
        headers.update({"X-Brain-Has-More": "false", "X-Brain-First-Seq": "1", "X-Brain-Last-Seq": str(body.count(b"\n"))})

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def pack_hash(pack):
    """An evidence pack's content hash, recomputed independently of the code under test: SHA-256
    of its canonical JSON without the content_hash member."""
    body = {k: v for k, v in pack.items() if k != "content_hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()
