"""Test helpers shared by the suites: the reference backend as a real server process."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import requests

SERVER = str(Path(__file__).resolve().parents[1] / "reference_backend" / "server.py")
ADMIN = "admin-token-for-tests"
READER = "reader-token-for-tests"
ALL_TIME = {"start_time": "2000-01-01T00:00:00Z", "end_time": "2100-01-01T00:00:00Z"}
GENESIS = "0" * 64


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, SERVER, "--port", str(self.port), *self.args, *more], env=self.env, stderr=subprocess.PIPE, text=True)
        for line in self.proc.stderr:
            if line.startswith("listening on"):
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
