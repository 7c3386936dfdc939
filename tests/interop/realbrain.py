"""The real BRAiN routers, Prometheus and the collection's tools as processes, for the interop tests.

The backend runs from BRAIN_SRC in the interop venv (tests/interop/run.sh sets both), through our
brain_app.py, which only imports its routers. Nothing here knows the backend's internals beyond
its HTTP API, its audit file's place and the facts in /work/shared/notes/real-brain.md.
"""

import ctypes
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
APP = HERE / "brain_app.py"
ROLE = ROOT / "roles" / "prometheus"
AUDIT_FILE = "storage/sovereign_mode_audit.jsonl"  # relative to the backend's working directory
TAMPERED_BUNDLE = "interop-tampered"
# libfaketime preloaded into the backend itself (not the faketime wrapper, whose child would
# outlive a terminated wrapper).
LIBFAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))


def _dies_with_the_tests():
    """In the child before exec: SIGTERM when the test process dies, however it dies (no orphaned
    backend or Prometheus after an interrupted run)."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def throwaway_key():
    """A fresh RSA key (PEM) for this run: the backend signs and checks its tokens with it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


class RealBrain:
    """brain_app.py serving one profile from its own working directory (config, audit JSONL)."""

    def __init__(self, workdir, profile, key, fake_offset=None):
        self.workdir = Path(workdir)
        self.profile = profile
        self.fake_offset = fake_offset  # e.g. "-1d": the backend's clock runs a day behind (libfaketime)
        storage = self.workdir / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        # Determinism (real-brain.md): no 30 s DNS/HTTP probes that switch an offline host to OFFLINE.
        config = storage / "sovereign_mode_config.json"
        if not config.exists():
            config.write_text(json.dumps({"network_check_enabled": False}))
        # A bundle whose model does not match its manifest's hash: loading it quarantines it.
        bundle = storage / "models" / "bundles" / TAMPERED_BUNDLE
        bundle.mkdir(parents=True, exist_ok=True)
        (bundle / "model.gguf").write_text("not the model the manifest describes\n")
        (bundle / "manifest.json").write_text(json.dumps({"id": TAMPERED_BUNDLE, "name": "tampered", "version": "1.0.0", "sha256_hash": "0" * 64}))
        venv_bin = str(Path(os.environ["BRAIN_OA_INTEROP_PYTHON"]).parent)
        self.env = {
            # /usr/sbin off PATH: the backend's read-only ip6tables probes stay off (real-brain.md).
            "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.workdir),
            "PYTHONPATH": str(Path(os.environ["BRAIN_SRC"]) / "backend"),
            "BRAIN_JWT_PRIVATE_KEY": key,
            "ENVIRONMENT": "development",
            "LANG": "C.UTF-8",
        }
        if fake_offset:
            assert LIBFAKETIME, "libfaketime is missing: apt-get install faketime"
            self.env.update({"LD_PRELOAD": LIBFAKETIME[0], "FAKETIME": fake_offset})
        self.proc = None
        self.log = self.workdir / "backend.log"
        self._tokens = {}
        self.start()

    def _cmd(self, *args):
        return [os.environ["BRAIN_OA_INTEROP_PYTHON"], str(APP), *args]

    def start(self):
        self.port = free_port()
        cmd = self._cmd("serve", "--profile", self.profile, "--port", str(self.port))
        with open(self.log, "ab") as log:
            # Its own process group, so stop() ends whatever it started too.
            self.proc = subprocess.Popen(cmd, cwd=self.workdir, env=self.env, stdout=log, stderr=log, start_new_session=True, preexec_fn=_dies_with_the_tests)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the real backend exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                requests.get(self.url("/openapi.json"), timeout=2)
                self.started_at = time.monotonic()
                return
            except requests.ConnectionError:
                time.sleep(0.3)
        self.stop()
        raise AssertionError(f"the real backend did not listen within 60 s:\n{self.log_tail()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def log_tail(self, lines=40):
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def url(self, path=""):
        return f"http://127.0.0.1:{self.port}{path}"

    def token(self, role="admin"):
        """An access token minted by the backend's own create_token (15 minutes, as the backend issues)."""
        cached = self._tokens.get(role)
        if cached and time.monotonic() - cached[1] < 600:
            return cached[0]
        r = subprocess.run(self._cmd("token", "--role", role), cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=60, check=False)
        assert r.returncode == 0, r.stderr[-2000:]
        token = r.stdout.strip().splitlines()[-1]
        self._tokens[role] = (token, time.monotonic())
        return token

    def call(self, method, path, body=None, role="admin", token=None):
        headers = {"Authorization": f"Bearer {token or self.token(role)}"}
        return requests.request(method, self.url(path), json=body, headers=headers, timeout=30)

    def ok(self, method, path, body=None, role="admin"):
        r = self.call(method, path, body, role)
        assert r.status_code == 200, f"{method} {path}: HTTP {r.status_code}: {r.text[:500]}"
        return r.json()

    def safe_mode_enabled(self):
        """The state as the real backend reports it (its own field, read here without the collection)."""
        return self.ok("GET", "/api/safe-mode/status")["safe_mode_enabled"]

    def switch_mode(self, mode, reason="interop drill"):
        return self.ok("POST", "/api/sovereign-mode/mode", {"target_mode": mode, "force": True, "reason": reason})

    def quarantine_tampered_bundle(self):
        """Load the tampered bundle: the backend refuses it (400) and quarantines it."""
        r = self.call("POST", "/api/sovereign-mode/bundles/load", {"bundle_id": TAMPERED_BUNDLE})
        assert r.status_code == 400 and "validation failed" in r.text, r.text[:500]

    @staticmethod
    def read_audit(path):
        """The entries of a backend's audit JSONL."""
        return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


# ---- the collection's modules through ansible-playbook --------------------------------------------
PLAY = """
- name: Interop play
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/brain.ops_assurance.api:
      api_url: "{{ brain_api_url }}"
      api_token: "{{ brain_api_token }}"
  tasks:
    - name: The task
      {module}: {args}
      check_mode: {check}
      diff: true
      ignore_errors: true
"""


def run_module(tmp_path, module, args, url, token, check=False):
    """One task of a collection module against `url`, as a playbook runs it; its result. The token
    travels in a vars file, as it would from Vault, and must not show in any output."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "play.yml").write_text(PLAY.replace("{module}", module).replace("{args}", json.dumps(args)).replace("{check}", str(check).lower()))
    (tmp_path / "vars.json").write_text(json.dumps({"brain_api_url": url, "brain_api_token": token, "ansible_python_interpreter": sys.executable}))
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "0", "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}
    cmd = ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", f"@{tmp_path / 'vars.json'}", str(tmp_path / "play.yml")]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert token not in r.stdout + r.stderr, "the token appeared in ansible-playbook's output"
    try:
        return json.loads(r.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError):
        raise AssertionError(f"ansible-playbook gave no task result (exit {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}") from None


# ---- Prometheus with the collection's rule pack and scrape configuration --------------------------
CONFIG_PLAY = """
- name: Render the prometheus role's configuration data
  hosts: localhost
  gather_facts: false
  vars_files: [{defaults}, {pack}, {vars}]
  tasks:
    - name: Write it
      ansible.builtin.copy:
        content: "{{{{ __prometheus_config | to_nice_yaml(sort_keys=False) }}}}"
        dest: {out}
"""


def _ansible(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode:
        raise AssertionError(r.stdout[-3000:] + r.stderr[-2000:])


def rendered_config(tmp_path, settings):
    """prometheus.yml as the prometheus role builds it from `settings` (extra vars)."""
    out, play = tmp_path / "prometheus.yml", tmp_path / "config-play.yml"
    defaults = ROLE / "defaults" / "main"
    play.write_text(CONFIG_PLAY.format(defaults=defaults / "main.yml", pack=defaults / "rule_pack.yml", vars=ROLE / "vars" / "main.yml", out=out))
    _ansible(["ansible-playbook", str(play), "-e", json.dumps(settings)])
    return yaml.safe_load(out.read_text())


def rendered_rules(tmp_path, settings):
    """The rule files as the prometheus role writes them (tests/rules/render.yml, checked by promtool)."""
    from helpers.render import render_rules

    tmp_path.mkdir(parents=True, exist_ok=True)
    return render_rules(tmp_path, json.dumps(settings))


def alerts_with_for(rules_dir):
    """Alert name -> its `for`, over the rendered files."""
    found = {}
    for path in rules_dir.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            found.update({rule["alert"]: rule.get("for") for rule in group["rules"] if "alert" in rule})
    return found


class Prometheus:
    """The Debian prometheus binary on a free loopback port, with a temp data directory."""

    def __init__(self, tmp_path, backend_port, settings=None, hold="5s"):
        """Scrape the backend at `backend_port` every second with the role's jobs and rule pack.
        Every alert's `for:` is shortened to `hold` through the role's own prometheus_alert_overrides,
        so a drill takes seconds; thresholds stay as the pack has them unless `settings` change them."""
        self.tmp = Path(tmp_path)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        settings = dict(settings or {})
        first = rendered_rules(self.tmp / "probe", settings)
        overrides = {name: {"for": hold} for name, hold_now in alerts_with_for(first).items() if hold_now}
        settings["prometheus_alert_overrides"] = {**overrides, **settings.get("prometheus_alert_overrides", {})}
        self.rules_dir = rendered_rules(self.tmp, settings)
        self.alert_names = set(alerts_with_for(self.rules_dir))
        config = rendered_config(
            self.tmp,
            {
                **settings,
                "prometheus_brain_targets": [f"127.0.0.1:{backend_port}"],
                "prometheus_web_listen_address": f"127.0.0.1:{self.port}",
                "prometheus_scrape_interval": "1s",
                "prometheus_evaluation_interval": "1s",
                "prometheus_scrape_timeout": "1s",
                "prometheus_brain_governance_scrape_interval": "1s",
                "prometheus_brain_operations_scrape_interval": "1s",
            },
        )
        config["rule_files"] = [str(self.rules_dir / "*.yml")]
        self.config = config
        (self.tmp / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        check = subprocess.run(["promtool", "check", "config", str(self.tmp / "prometheus.yml")], capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stdout + check.stderr
        self.log = open(self.tmp / "prometheus.log", "wb")  # noqa: SIM115 - open for the process's life
        self.proc = subprocess.Popen(
            [
                shutil.which("prometheus"),
                f"--config.file={self.tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=self.log,
            preexec_fn=_dies_with_the_tests,
        )
        try:
            self.wait(lambda: requests.get(self.url("/-/ready"), timeout=2).status_code == 200, 60, "Prometheus ready")
        except AssertionError:
            self.stop()
            raise

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def api(self, path, **params):
        body = requests.get(self.url(path), params=params, timeout=10).json()
        assert body["status"] == "success", body
        return body["data"]

    def wait(self, predicate, seconds, what):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if predicate():
                    return
            except requests.ConnectionError:
                if self.proc.poll() is not None:
                    break
            time.sleep(0.5)
        raise AssertionError(f"timed out after {seconds} s waiting for: {what}\n{(self.tmp / 'prometheus.log').read_text()[-2000:]}")

    def targets(self):
        """job -> (health, lastError) of the brain-* targets."""
        active = self.api("/api/v1/targets")["activeTargets"]
        return {t["labels"]["job"]: (t["health"], t["lastError"]) for t in active if t["labels"]["job"].startswith("brain-")}

    def scraped(self, times=3):
        """Wait until each brain-* job has been scraped `times` times (whatever it answered)."""
        self.wait(lambda: all(v >= times for v in self.scrape_counts().values()) and self.scrape_counts(), 60, f"{times} scrapes of each brain job")

    def scrape_counts(self):
        result = self.api("/api/v1/query", query='count_over_time(up{job=~"brain-.*"}[10m])')["result"]
        return {r["metric"]["job"]: float(r["value"][1]) for r in result}

    def alerts(self):
        """alertname -> state ("firing" or "pending") of the active alerts."""
        return {a["labels"]["alertname"]: a["state"] for a in self.api("/api/v1/alerts")["alerts"]}

    def alert_details(self):
        return self.api("/api/v1/alerts")["alerts"]

    def rule_groups(self):
        return self.api("/api/v1/rules")["groups"]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
