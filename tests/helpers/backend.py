"""Test helpers shared by the suites: the reference backend as a real server process."""

import base64
import contextlib
import functools
import hashlib
import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SERVER = str(Path(__file__).resolve().parents[1] / "reference_backend" / "server.py")
ADMIN = "admin-token-for-tests"
READER = "reader-token-for-tests"
ALL_TIME = {"start_time": "2000-01-01T00:00:00Z", "end_time": "2100-01-01T00:00:00Z"}
GENESIS = "0" * 64


@contextlib.contextmanager
def refused_port():
    """A loopback port where a connection is refused for as long as the block runs: the socket stays
    bound but never listens, so no other process (another xdist worker) can take the port meanwhile."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


_GIVEN = set()


def free_port():
    """A loopback port for a daemon that cannot listen on port 0 and say which port it got (Prometheus,
    Alertmanager, VictoriaMetrics). Drawn below the kernel's ephemeral range, where port-0 listeners
    land, and from a range of its own per xdist worker, so two workers never pick the same port."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:])
    first = 20000 + 1000 * (worker % 12)
    for port in random.sample(range(first, first + 1000), 1000):
        if port in _GIVEN:  # not yet listened on by the daemon it was given to
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {first}-{first + 999}")


class Backend:
    """A server process on a free loopback port; restartable on the same state."""

    def __init__(self, tmp_path, *extra, env=None, tokens=True):
        self.state = tmp_path / "state"
        (tmp_path / "admin").write_text(ADMIN + "\n")
        (tmp_path / "reader").write_text(READER + "\n")
        auth = ["--token-file", str(tmp_path / "admin"), "--read-token-file", str(tmp_path / "reader")] if tokens else []
        self.args = ["--state-dir", str(self.state), *auth, *extra]
        self.env = {**os.environ, **(env or {})}
        self.proc = None
        self.start()

    def start(self, *more):
        # Port 0: the server binds a free port itself and names it, so no other process can take the
        # port between choosing and binding it (tests run in parallel: docs/test-harness.md).
        self.proc = subprocess.Popen([sys.executable, SERVER, "--port", "0", *self.args, *more], env=self.env, stderr=subprocess.PIPE, text=True)
        for line in self.proc.stderr:
            if line.startswith("listening on"):
                self.port = int(line.rsplit(":", 1)[1])
                return
        raise AssertionError(f"server did not start (exit {self.proc.wait()})")

    def stop(self):
        self.proc.terminate()
        assert self.proc.wait(10) == 0

    def restart(self, *more):
        self.stop()
        self.start(*more)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def call(self, method, path, body=None, token=ADMIN, **kw):
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, self.url(path), json=body, headers=headers, timeout=30, **kw)

    def ok(self, method, path, body=None, **kw):
        r = self.call(method, path, body, **kw)
        assert r.status_code == 200, r.text
        return r.json()

    def metrics(self, path="/metrics"):
        text = requests.get(self.url(path), timeout=10).text
        return {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if line and not line.startswith("#")}

    def events(self, **filters):
        body = {**ALL_TIME, "limit": 100000, **filters}
        return [json.loads(line) for line in self.ok("POST", "/api/sovereign-mode/audit/export", body)["content"].splitlines()]


# ---- the brain_main profile (real BRAiN main at ad0f2d05) ---------------------------------------
ISSUER = "https://brain.falklabs.de"
AUDIENCE = "brain-api"
CLIENT_ID = "ops-assurance"
CLIENT_SECRET = "client-secret-for-tests"
LOGIN_EMAIL = "ops@example.org"
LOGIN_PASSWORD = "login-password-for-tests"
ANY = object()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(text):
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def kid_of(private_key):
    """The real kid rule, written out here again: SHA-256 of the public key's DER, 16 hex digits."""
    der = private_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


def sign_jwt(private_key, claims, header=None):
    """An RS256 JWT, built here independently of the server's code."""
    header = {"alg": "RS256", "typ": "JWT", "kid": kid_of(private_key)} if header is None else header
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    signature = private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url(signature)


@functools.cache
def test_key():
    """One RSA key for the session: generating one per test costs more than the test."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class BrainMain(Backend):
    """The reference backend with --profile brain_main; a login user and a service account set up."""

    def __init__(self, tmp_path, *extra, routers="sprint7", env=None):
        self.state = tmp_path / "state"
        self.key = test_key()
        pem = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        files = {"key.pem": pem.decode(), "client-id": CLIENT_ID, "client-secret": CLIENT_SECRET, "password": LOGIN_PASSWORD}
        for name, content in files.items():
            (tmp_path / name).write_text(content + "\n")
        self.args = [
            "--profile", "brain_main", "--brain-routers", routers, "--state-dir", str(self.state),
            "--jwt-key-file", str(tmp_path / "key.pem"),
            "--client-id-file", str(tmp_path / "client-id"), "--client-secret-file", str(tmp_path / "client-secret"), "--client-scopes", "read write",
            "--login-email", LOGIN_EMAIL, "--login-password-file", str(tmp_path / "password"),
            *extra,
        ]  # fmt: skip
        self.env = {**os.environ, **(env or {})}
        self.proc = None
        self.start()

    def token(self, roles=("admin",), sub="alice", **claims):
        """A token as jwt_middleware.create_token makes it; claims=None drops one, others override."""
        now = int(time.time())
        body = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 900, "scope": "", "roles": list(roles), "type": "human"}
        for name, value in claims.items():
            if value is None:
                body.pop(name, None)
            else:
                body[name] = value
        return sign_jwt(self.key, body)

    def call(self, method, path, body=None, token=ANY, **kw):
        return super().call(method, path, body, token=self.token() if token is ANY else token, **kw)

    def audit_file(self):
        path = self.state / "storage" / "sovereign_mode_audit.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
