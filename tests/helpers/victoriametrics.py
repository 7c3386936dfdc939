"""The victoriametrics role's unit and settings rendered into a directory (tests/victoriametrics/render.yml),
and VictoriaMetrics started from them as systemd would: the unit's ExecStart with its EnvironmentFile;
and Prometheus as a real process writing to it. Used by the functional tests and bench/capacity.py."""

import json
import os
import shlex
import subprocess
import time
from pathlib import Path

import requests
import yaml

from helpers.backend import free_port

ROOT = Path(__file__).resolve().parents[2]
UNIT = "victoria-metrics.service"


def render(out, *, check=False, **settings):
    """Run the role's preflight and configure tasks into `out`; the CompletedProcess."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "__victoriametrics_config_dir": str(out),
        "__victoriametrics_relabel_file": str(out / "relabel.yml"),
        "__victoriametrics_env_file": str(out / "auth.env"),
        "__victoriametrics_unit_dir": str(out),
        "__victoriametrics_data_dir": str(out / "data"),
    }
    cmd = ["ansible-playbook", str(ROOT / "tests/victoriametrics/render.yml"), "-e", json.dumps({**paths, **settings})]
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(cmd + (["--check"] if check else []), capture_output=True, text=True, check=False, env=env)


def service(unit_text):
    """The unit's ExecStart as an argument list and its EnvironmentFile (or None)."""
    joined = unit_text.replace("\\\n", " ")
    lines = [line.split("=", 1) for line in joined.splitlines() if "=" in line and not line.startswith("#")]
    found = {}
    for key, value in lines:
        found.setdefault(key.strip(), value.strip())
    return shlex.split(found["ExecStart"]), found.get("EnvironmentFile")


def environment_file(path):
    """KEY=VALUE lines, as systemd reads an EnvironmentFile."""
    return dict(line.split("=", 1) for line in Path(path).read_text().splitlines() if line and not line.startswith("#"))


class VictoriaMetrics:
    """VictoriaMetrics started from a rendered unit, on a free loopback port, data under `out`."""

    def __init__(self, out, **settings):
        self.port = free_port()
        self.out = out
        r = render(out, victoriametrics_listen_address=f"127.0.0.1:{self.port}", **settings)
        assert r.returncode == 0, r.stdout[-3000:]
        self.playbook_output = r.stdout + r.stderr
        self.argv, env_file = service((out / UNIT).read_text())
        env = {"PATH": "/usr/bin:/bin"} | (environment_file(env_file) if env_file else {})
        self.log = (out / "vm.log").open("w")
        self.proc = subprocess.Popen(self.argv, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        for _attempt in range(100):
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"victoria-metrics did not start: {(out / 'vm.log').read_text()[-2000:]}")

    def get(self, path, **kw):
        return requests.get(self.url + path, timeout=30, **kw)

    def flush(self, auth=None):
        """Make the samples received so far searchable."""
        assert self.get("/internal/force_flush", auth=auth).status_code == 200

    def series(self, match, auth=None):
        """The label sets of the series that `match` selects."""
        r = self.get("/api/v1/series", params={"match[]": match, "start": "0"}, auth=auth)
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def samples(self, match, auth=None):
        """Raw samples per series, as /api/v1/export returns them: {labels (frozen): [timestamps]}."""
        r = self.get("/api/v1/export", params={"match[]": match}, auth=auth)
        assert r.status_code == 200, r.text
        rows = [json.loads(line) for line in r.text.splitlines() if line]
        return {tuple(sorted(row["metric"].items())): row["timestamps"] for row in rows}

    def metrics(self, key=None):
        text = self.get("/metrics", params={"authKey": key} if key else {}).text
        return [line for line in text.splitlines() if line and not line.startswith("#")]

    def stop(self):
        """Stop it (again: a no-op)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.log.close()


class Prometheus:
    """A real Prometheus (Debian's binary) scraping `jobs` and writing to `remote_write`."""

    def __init__(self, out, *, external_labels, jobs, remote_write, interval="2s"):
        out.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval, "external_labels": external_labels},
            "scrape_configs": jobs,
            # Small batches sent within a second: the test reads VictoriaMetrics seconds later.
            "remote_write": [{**rw, "queue_config": {"batch_send_deadline": "1s", "max_samples_per_send": 500}} for rw in remote_write],
        }
        (out / "prometheus.yml").write_text(yaml.safe_dump(config))
        cmd = [
            "prometheus", f"--config.file={out / 'prometheus.yml'}", f"--storage.tsdb.path={out / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn",
        ]  # fmt: skip
        self.log = (out / "prometheus.log").open("w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()
