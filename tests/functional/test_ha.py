"""High availability with real daemons (Debian's prometheus, prometheus-alertmanager, amtool) started
from what the prometheus and alertmanager roles render: an Alertmanager cluster, an HA pair that
pages once through TLS and basic auth, and remote write failing."""

import json
import subprocess
import time
import warnings
from pathlib import Path

import pytest
import requests
import yaml
from helpers.backend import free_port
from helpers.loopback import LoopbackServer
from helpers.processes import command_lines
from helpers.render import render_rules

ROOT = Path(__file__).resolve().parents[2]
BINARIES = {
    "prometheus": "/usr/bin/prometheus",
    "alertmanager": "/usr/bin/prometheus-alertmanager",
    "amtool": "/usr/bin/amtool",
    "promtool": "/usr/bin/promtool",
}
PLAY = """
- hosts: localhost
  gather_facts: false
  vars_files: {files}
  tasks:
    - ansible.builtin.copy:
        content: "{{{{ {{{names}}} | to_json }}}}"
        dest: {out}
    - ansible.builtin.template:
        src: {unit}
        dest: {out}.service
"""


def test_the_debian_binaries_are_there():
    """tests/harness/bootstrap.sh installs them (services off); everything below runs them."""
    missing = [name for name, path in BINARIES.items() if not Path(path).exists()]
    assert not missing, f"install Debian's prometheus and prometheus-alertmanager (tests/harness/bootstrap.sh): {missing}"


def render(tmp_path, role, names, settings):
    """The role's variables `names` and its unit's ExecStart arguments for these settings."""
    base = ROOT / "roles" / role
    files = [base / "defaults/main/main.yml", base / "defaults/main/rule_pack.yml"] if role == "prometheus" else [base / "defaults/main.yml"]
    unit = base / "templates" / ("prometheus.service.j2" if role == "prometheus" else "prometheus-alertmanager.service.j2")
    out = tmp_path / f"{role}-{free_port()}.json"
    play = out.with_suffix(".yml")
    wanted = ", ".join(f"'{n}': {n}" for n in names)
    play.write_text(PLAY.format(files=[str(f) for f in [*files, base / "vars/main.yml"]], names=wanted, out=out, unit=unit))
    r = subprocess.run(["ansible-playbook", str(play), "-e", json.dumps(settings)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout[-3000:]
    text = Path(f"{out}.service").read_text()
    exec_start = text.split("ExecStart=", 1)[1].split("\nExecReload", 1)[0]
    args = [a for a in exec_start.replace("\\\n", " ").split() if a]
    return json.loads(out.read_text()), args[1:]


def relocate(args, **paths):
    """The unit's arguments with the host paths it names replaced by test paths (flag -> path)."""
    out = []
    for arg in args:
        flag = arg.split("=", 1)[0]
        out.append(f"{flag}={paths[flag]}" if flag in paths else arg)
    return out


class Daemon:
    def __init__(self, argv, log):
        self.log = log
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log.open("w"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:  # a queue to a dead store waits a minute to flush on shutdown
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def daemons():
    started = []
    yield started
    for d in started:
        d.stop()


def wait(what, check, timeout=60, logs=()):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (requests.RequestException, OSError) as exc:
            last = exc
        time.sleep(0.5)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in logs)
    raise AssertionError(f"timed out waiting for {what}; last: {last}\n{tails}")


# ---- an Alertmanager cluster ------------------------------------------------------------------
def start_alertmanager(tmp_path, daemons, name, settings):
    config, args = render(tmp_path, "alertmanager", ["__alertmanager_config"], {"alertmanager_allow_silent_receivers": True, **settings})
    home = tmp_path / name
    home.mkdir()
    (home / "alertmanager.yml").write_text(yaml.safe_dump(config["__alertmanager_config"]))
    paths = {"--config.file": home / "alertmanager.yml", "--storage.path": home / "data"}
    if settings.get("alertmanager_web_config"):
        (home / "web.yml").write_text(yaml.safe_dump(settings["alertmanager_web_config"]))
        paths["--web.config.file"] = home / "web.yml"
    argv = [BINARIES["alertmanager"], *relocate(args, **paths)]
    daemons.append(Daemon(argv, home / "log"))
    return argv, home / "log"


def test_without_peers_there_is_no_gossip_port(tmp_path, daemons):
    web = free_port()
    argv, log = start_alertmanager(tmp_path, daemons, "am", {"alertmanager_web_listen_address": f"127.0.0.1:{web}"})
    assert "--cluster.listen-address=" in argv and not any(a.startswith("--cluster.peer") for a in argv)
    status = wait("Alertmanager", lambda: requests.get(f"http://127.0.0.1:{web}/api/v2/status", timeout=2).json(), logs=[log])
    assert status["cluster"]["status"] == "disabled"


def test_two_members_form_a_cluster_and_a_silence_propagates(tmp_path, daemons):
    web = [free_port(), free_port()]
    gossip = [free_port(), free_port()]
    logs = []
    for i in (0, 1):
        argv, log = start_alertmanager(
            tmp_path,
            daemons,
            f"am{i}",
            {
                "alertmanager_web_listen_address": f"127.0.0.1:{web[i]}",
                "alertmanager_cluster_listen_address": f"127.0.0.1:{gossip[i]}",
                "alertmanager_cluster_advertise_address": f"127.0.0.1:{gossip[i]}",
                "alertmanager_cluster_peers": [f"127.0.0.1:{gossip[1 - i]}"],
            },
        )
        assert f"--cluster.peer=127.0.0.1:{gossip[1 - i]}" in argv and f"--cluster.advertise-address=127.0.0.1:{gossip[i]}" in argv
        logs.append(log)

    def formed(i):
        status = requests.get(f"http://127.0.0.1:{web[i]}/api/v2/status", timeout=2).json()["cluster"]
        return status["status"] == "ready" and sorted(p["address"] for p in status["peers"]) == sorted(f"127.0.0.1:{g}" for g in gossip)

    for i in (0, 1):
        wait(f"member {i} to see both members", lambda i=i: formed(i), logs=logs)

    added = subprocess.run(
        [BINARIES["amtool"], f"--alertmanager.url=http://127.0.0.1:{web[0]}", "silence", "add", "alertname=HaTest", "--comment=ha test", "--duration=1h"],
        capture_output=True,
        text=True,
        check=True,
    )
    silence = added.stdout.strip()
    seen = wait(
        "the silence on the other member",
        lambda: [s for s in requests.get(f"http://127.0.0.1:{web[1]}/api/v2/silences", timeout=2).json() if s["id"] == silence],
        logs=logs,
    )
    assert seen[0]["status"]["state"] == "active" and seen[0]["matchers"][0]["value"] == "HaTest"


# ---- an HA pair paging once, through TLS with client certificates and basic auth ------------
def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def pki(tmp_path):
    """A CA made here, a server certificate for 127.0.0.1 and a client certificate, both signed by it."""
    d = tmp_path / "pki"
    d.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca", "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            f"{name}.ext",
            "-out",
            f"{name}.pem",
            cwd=d,
        )
    return d


def bcrypt(password):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # deprecated (3.13 drops it): glibc's bcrypt, as in the Molecule prepare step

    return crypt.crypt(password, "$2b$10$brainopsassurancetest.")


class Sink(LoopbackServer):
    """The webhook receiver: records every notification."""

    def __init__(self):
        self.received = []
        self.serve()

    def handle(self, h):
        self.received.append(json.loads(h.rfile.read(int(h.headers["Content-Length"]))))
        h.send_response(200)
        h.send_header("Content-Length", "0")
        h.end_headers()


def start_prometheus(tmp_path, daemons, name, settings, rules):
    """A Prometheus with the role's configuration and unit flags for these settings; its rule files are `rules`."""
    port = free_port()
    settings = {
        "prometheus_brain_targets": ["127.0.0.1:1"],
        "prometheus_scrape_interval": "1s",
        "prometheus_evaluation_interval": "1s",
        "prometheus_scrape_timeout": "1s",
        "prometheus_web_listen_address": f"127.0.0.1:{port}",
        **settings,
    }
    config, args = render(tmp_path, "prometheus", ["__prometheus_config"], settings)
    config = config["__prometheus_config"]
    home = tmp_path / name
    home.mkdir()
    if "rule_files" in config:
        config["rule_files"] = [str(rules / "*.yml")]
    (home / "prometheus.yml").write_text(yaml.safe_dump(config))
    check = subprocess.run([BINARIES["promtool"], "check", "config", str(home / "prometheus.yml")], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    argv = [
        BINARIES["prometheus"],
        *relocate(args, **{"--config.file": home / "prometheus.yml", "--storage.tsdb.path": home / "data", "--storage.agent.path": home / "data"}),
    ]
    daemons.append(Daemon(argv, home / "log"))
    url = f"http://127.0.0.1:{port}"
    wait(f"{name} ready", lambda: requests.get(f"{url}/-/ready", timeout=2).ok, logs=[home / "log"])
    return url, home, config


@pytest.mark.parametrize("relabel", [True, False], ids=["replica-dropped", "replica-kept"])
def test_an_ha_pair_pages_once_through_tls_and_basic_auth(tmp_path, daemons, pki, relabel):
    """Both replicas send the same alert to an Alertmanager that requires a client certificate and a
    password; with the replica label dropped it arrives once, as one alert. Kept (no
    alert_relabel_configs, as before), the pair pages twice: the test can tell."""
    password = "am-pass-" + tmp_path.name[-8:]
    sink = Sink()
    am_port = free_port()
    web_config = {
        "tls_server_config": {
            "cert_file": str(pki / "server.pem"),
            "key_file": str(pki / "server.key"),
            "client_auth_type": "RequireAndVerifyClientCert",
            "client_ca_file": str(pki / "ca.pem"),
        },
        "basic_auth_users": {"prometheus": bcrypt(password)},
    }
    _argv, am_log = start_alertmanager(
        tmp_path,
        daemons,
        "am",
        {
            "alertmanager_web_listen_address": f"127.0.0.1:{am_port}",
            "alertmanager_web_config": web_config,
            "alertmanager_route": {"receiver": "sink", "group_by": ["alertname"], "group_wait": "2s", "group_interval": "1h", "repeat_interval": "4h"},
            "alertmanager_receivers": [{"name": "sink", "webhook_configs": [{"url": sink.url + "/alerts"}]}],
        },
    )
    am = f"https://127.0.0.1:{am_port}"
    client = {"verify": str(pki / "ca.pem"), "cert": (str(pki / "client.pem"), str(pki / "client.key"))}
    wait("Alertmanager over TLS", lambda: requests.get(f"{am}/-/ready", auth=("prometheus", password), timeout=2, **client).ok, logs=[am_log])
    assert requests.get(f"{am}/api/v2/alerts", timeout=2, **client).status_code == 401  # no password, no API
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{am}/api/v2/alerts", auth=("prometheus", password), verify=str(pki / "ca.pem"), timeout=2)  # no client certificate

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "page.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "page", "rules": [{"alert": "HaPage", "expr": "vector(1)", "labels": {"severity": "critical"}}]}]})
    )
    (tmp_path / "am-password").write_text(password)
    logs = [am_log]
    replicas = []
    for replica in ("a", "b"):
        url, home, config = start_prometheus(
            tmp_path,
            daemons,
            f"prom-{replica}",
            {
                "prometheus_external_labels": {"site": "s1", "replica": replica},
                "prometheus_alert_relabel_configs": [{"action": "labeldrop", "regex": "replica"}] if relabel else [],
                "prometheus_alertmanager_targets": [f"127.0.0.1:{am_port}"],
                "prometheus_alertmanager_scheme": "https",
                "prometheus_alertmanager_tls_config": {
                    "ca_file": str(pki / "ca.pem"),
                    "cert_file": str(pki / "client.pem"),
                    "key_file": str(pki / "client.key"),
                },
                "prometheus_alertmanager_basic_auth": {"username": "prometheus", "password_file": str(tmp_path / "am-password")},
            },
            rules,
        )
        logs.append(home / "log")
        replicas.append(url)
        assert password not in (home / "prometheus.yml").read_text()
        scraped = {j["job_name"]: j for j in config["scrape_configs"]}["alertmanager"]
        assert scraped["scheme"] == "https" and scraped["basic_auth"]["password_file"] == str(tmp_path / "am-password")
    assert not [line for line in command_lines() if password in line]

    for url in replicas:  # each replica delivered its alert (over TLS, with the password)
        wait(f"{url} to deliver", lambda url=url: sent(url) >= 1, logs=logs)
    wait("a notification", lambda: sink.received, logs=logs)
    time.sleep(3)  # past group_wait (2s): a notification for a second alert would be here by now
    in_am = requests.get(f"{am}/api/v2/alerts", auth=("prometheus", password), timeout=2, **client).json()
    if relabel:
        alerts = [a for n in sink.received for a in n["alerts"]]
        assert len(sink.received) == 1 and len(alerts) == 1, sink.received
        assert alerts[0]["labels"] == {"alertname": "HaPage", "severity": "critical", "site": "s1"}
        assert [a["labels"] for a in in_am] == [alerts[0]["labels"]]
    else:
        assert sorted(a["labels"]["replica"] for a in in_am) == ["a", "b"], in_am


def sent(url):
    """Alerts this Prometheus delivered to Alertmanager (its own counter, summed over Alertmanagers)."""
    lines = requests.get(f"{url}/metrics", timeout=2).text.splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("prometheus_notifications_sent_total"))


# ---- remote write failing and falling behind --------------------------------------------------
class Refusing(LoopbackServer):
    """A store that refuses every write for good (HTTP 400): a misbehaving API."""

    def __init__(self):
        self.serve()

    def handle(self, h):
        h.rfile.read(int(h.headers.get("Content-Length", 0)))
        h.send_response(400)
        h.send_header("Content-Length", "0")
        h.end_headers()


def query(url, expr):
    r = requests.get(f"{url}/api/v1/query", params={"query": expr}, timeout=5)
    r.raise_for_status()
    return {s["metric"]["remote_name"] for s in r.json()["data"]["result"]}


def remote_write_receiver(tmp_path, daemons, web_config=None):
    """A real Prometheus that only receives remote writes (behind `web_config` when given): its port and directory."""
    port = free_port()
    recv = tmp_path / "receiver"
    recv.mkdir()
    (recv / "empty.yml").write_text("global: {}\n")
    argv = [
        BINARIES["prometheus"],
        f"--config.file={recv / 'empty.yml'}",
        f"--storage.tsdb.path={recv / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-remote-write-receiver",
    ]
    if web_config:
        (recv / "web.yml").write_text(yaml.safe_dump(web_config))
        argv.append(f"--web.config.file={recv / 'web.yml'}")
    daemons.append(Daemon(argv, recv / "log"))
    return port, recv


def test_remote_write_failing_and_behind_are_what_the_rule_pack_sees(tmp_path, daemons):
    """Three queues: a store that refuses (400), one that is not there, and a real Prometheus
    receiver with basic auth (password from a file). The rule pack's expressions name exactly the
    broken queues; the healthy one stays out of both."""
    password = "rw-pass-" + tmp_path.name[-8:]
    receiver_port, recv = remote_write_receiver(tmp_path, daemons, {"basic_auth_users": {"site-1": bcrypt(password)}})
    wait("the receiver", lambda: requests.get(f"http://127.0.0.1:{receiver_port}/-/ready", auth=("site-1", password), timeout=2).ok, logs=[recv / "log"])
    refusing = Refusing()
    (tmp_path / "rw-password").write_text(password)
    rules = render_rules(tmp_path)
    groups = yaml.safe_load((rules / "brain-ops-assurance.yml").read_text())["groups"]
    meta = next(g for g in groups if g["name"] == "brain-meta")["rules"]
    expr = {r["alert"]: r["expr"] for r in meta if r.get("alert", "").startswith("PrometheusRemoteWrite")}
    assert sorted(expr) == ["PrometheusRemoteWriteBehind", "PrometheusRemoteWriteFailing"]

    url, home, _config = start_prometheus(
        tmp_path,
        daemons,
        "prom",
        {
            "prometheus_remote_write": [
                {"name": "refusing", "url": refusing.url + "/api/v1/write"},
                {"name": "absent", "url": f"http://127.0.0.1:{free_port()}/api/v1/write"},
                {
                    "name": "healthy",
                    "url": f"http://127.0.0.1:{receiver_port}/api/v1/write",
                    "basic_auth": {"username": "site-1", "password_file": str(tmp_path / "rw-password")},
                },
            ],
        },
        rules,
    )
    logs = [home / "log", recv / "log"]
    wait(
        "PrometheusRemoteWriteFailing's expression to name the refusing store",
        lambda: query(url, expr["PrometheusRemoteWriteFailing"]) == {"refusing"},
        logs=logs,
    )
    wait("PrometheusRemoteWriteBehind's expression to name the absent store", lambda: query(url, expr["PrometheusRemoteWriteBehind"]) == {"absent"}, logs=logs)
    # The healthy queue delivers: its samples are in the receiver, and neither expression names it.
    landed = requests.get(
        f"http://127.0.0.1:{receiver_port}/api/v1/query", params={"query": 'up{job="prometheus"}'}, auth=("site-1", password), timeout=5
    ).json()
    assert landed["data"]["result"], landed
    assert query(url, expr["PrometheusRemoteWriteFailing"]) == {"refusing"}
    assert query(url, expr["PrometheusRemoteWriteBehind"]) == {"absent"}


def test_agent_mode_runs_with_the_roles_flags(tmp_path, daemons):
    """--enable-feature=agent: the role leaves out rule_files and alerting and the TSDB flags,
    which agent mode refuses; the real binary starts and writes remote."""
    receiver_port, recv = remote_write_receiver(tmp_path, daemons)
    url, home, config = start_prometheus(
        tmp_path,
        daemons,
        "agent",
        {
            "prometheus_extra_flags": ["--enable-feature=agent"],
            "prometheus_alertmanager_targets": ["127.0.0.1:9"],
            "prometheus_remote_write": [{"url": f"http://127.0.0.1:{receiver_port}/api/v1/write"}],
        },
        tmp_path,
    )
    assert "rule_files" not in config and "alerting" not in config
    assert "Agent mode" in (home / "log").read_text() or "agent mode" in (home / "log").read_text().lower()

    def landed():
        r = requests.get(f"http://127.0.0.1:{receiver_port}/api/v1/query", params={"query": 'up{job="prometheus"}'}, timeout=5).json()
        return r["data"]["result"]

    wait("the agent's samples in the receiver", landed, logs=[home / "log", recv / "log"])
    rules = requests.get(f"{url}/api/v1/rules", timeout=5)
    assert rules.status_code != 200 or not rules.json()["data"]["groups"]  # an agent evaluates nothing
