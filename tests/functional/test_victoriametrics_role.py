"""The victoriametrics role's settings and unit, rendered by its own tasks (tests/victoriametrics/render.yml)
and run with the real victoria-metrics binary (Debian's package) as systemd would start the unit:
loopback by default, refusal of an unauthenticated network listener, 401 without credentials and no
secret in ps, the journal or the unit; and an HA pair of real Prometheus servers whose remote write
gives one series per backend (and two without the role's replica handling)."""

import re
import subprocess
import time

import pytest
import requests
from helpers.backend import Backend
from helpers.processes import command_lines
from helpers.victoriametrics import ROOT, UNIT, Prometheus, VictoriaMetrics, render, service

PASSWORD = "vm-password-for-tests-7f3a"
KEY = "vm-auth-key-for-tests-91c2"
AUTH = {"victoriametrics_auth_username": "prometheus", "victoriametrics_auth_password": PASSWORD, "victoriametrics_auth_key": KEY}


def recap(r):
    line = [x for x in r.stdout.splitlines() if x.startswith("localhost ")][-1]
    return {k: int(v) for k, v in (f.split("=") for f in line.split()[2:])}


def test_defaults_listen_on_loopback_drop_the_replica_label_and_deduplicate(tmp_path):
    out = tmp_path / "etc"
    predicted = render(out, check=True)
    assert predicted.returncode == 0, predicted.stdout[-3000:]
    assert not (out / UNIT).exists()
    first = render(out)
    assert first.returncode == 0, first.stdout[-3000:]
    assert recap(first)["changed"] == recap(predicted)["changed"] > 0  # check mode predicted the first run
    argv, env_file = service((out / UNIT).read_text())
    assert argv == [
        "/usr/bin/victoria-metrics",
        f"-storageDataPath={out / 'data'}",
        "-retentionPeriod=1y",
        "-dedup.minScrapeInterval=30s",
        f"-relabelConfig={out / 'relabel.yml'}",
        "-httpListenAddr=127.0.0.1:8428",
    ]
    assert env_file is None and not (out / "auth.env").exists()
    assert "- action: labeldrop\n  regex: replica\n" in (out / "relabel.yml").read_text()
    again = render(out)
    assert again.returncode == 0 and recap(again)["changed"] == 0, again.stdout[-3000:]
    assert recap(render(out, check=True))["changed"] == 0


def test_settings_reach_the_unit_and_unused_files_are_removed(tmp_path):
    out = tmp_path / "etc"
    assert render(out, **AUTH).returncode == 0
    assert (out / "auth.env").exists() and oct((out / "auth.env").stat().st_mode & 0o777) == "0o600"
    r = render(out, victoriametrics_retention_period="26w", victoriametrics_dedup_min_scrape_interval="0s",
               victoriametrics_replica_labels=["replica", "prometheus_replica"])  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:]
    argv, env_file = service((out / UNIT).read_text())
    assert "-retentionPeriod=26w" in argv and "-dedup.minScrapeInterval=0s" in argv
    assert env_file is None and not (out / "auth.env").exists()
    assert "regex: replica|prometheus_replica" in (out / "relabel.yml").read_text()
    assert render(out, victoriametrics_replica_labels=[]).returncode == 0
    assert not (out / "relabel.yml").exists()
    assert not any(a.startswith("-relabelConfig") for a in service((out / UNIT).read_text())[0])


@pytest.mark.parametrize("address", ["0.0.0.0:8428", ":8428", "10.0.0.5:8428", "[::]:8428", "vm.example.org:8428"])
def test_refuses_a_network_listener_without_authentication(tmp_path, address):
    r = render(tmp_path / "etc", victoriametrics_listen_address=address)
    assert r.returncode != 0
    assert f"victoriametrics_listen_address {address} is not a loopback address" in " ".join(r.stdout.split())
    assert not (tmp_path / "etc" / UNIT).exists()
    assert render(tmp_path / "ok", victoriametrics_listen_address=address, **AUTH).returncode == 0


@pytest.mark.parametrize("address", ["127.0.0.1:8428", "[::1]:8428", "localhost:8428", "127.0.0.2:9428"])
def test_a_loopback_listener_needs_no_authentication(tmp_path, address):
    assert render(tmp_path / "etc", victoriametrics_listen_address=address).returncode == 0


@pytest.mark.parametrize(
    "settings",
    [
        {"victoriametrics_auth_username": "prometheus"},
        {"victoriametrics_auth_username": "prometheus", "victoriametrics_auth_password": "pw"},
        {"victoriametrics_auth_password": "pw", "victoriametrics_auth_key": "k"},
        {"victoriametrics_retention_period": "1 year"},
        {"victoriametrics_dedup_min_scrape_interval": "30"},
        {"victoriametrics_replica_labels": ["re-plica"]},
    ],
)
def test_refuses_incomplete_or_malformed_settings(tmp_path, settings):
    r = render(tmp_path / "etc", **settings)
    assert r.returncode != 0 and "fatal" in r.stdout
    assert not (tmp_path / "etc" / UNIT).exists()
    assert "pw" not in r.stdout.replace("password", "")


def exposure(unit_file):
    out = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit_file)], capture_output=True, text=True, check=False).stdout
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out)
    assert found, out
    return float(found.group(1))


def test_unit_is_as_hardened_as_the_prometheus_unit(tmp_path):
    assert render(tmp_path / "etc", **AUTH).returncode == 0
    prometheus = tmp_path / "prometheus.service"
    play = tmp_path / "play.yml"
    play.write_text(
        f"""- hosts: localhost
  gather_facts: false
  vars_files: [{ROOT}/roles/prometheus/defaults/main/main.yml, {ROOT}/roles/prometheus/vars/main.yml]
  tasks:
    - ansible.builtin.template: {{src: {ROOT}/roles/prometheus/templates/prometheus.service.j2, dest: {prometheus}}}
"""
    )
    r = subprocess.run(["ansible-playbook", str(play)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout[-2000:]
    assert exposure(tmp_path / "etc" / UNIT) <= exposure(prometheus) <= 2.0


@pytest.fixture
def authenticated(tmp_path):
    vm = VictoriaMetrics(tmp_path / "vm", **AUTH)
    yield vm
    vm.stop()


def test_without_credentials_every_api_answers_401(authenticated):
    vm = authenticated
    for path in ("/api/v1/query?query=up", "/api/v1/series?match[]=up", "/api/v1/export?match[]=up", "/api/v1/labels", "/vmui/",
                 "/api/v1/admin/tsdb/delete_series?match[]=up", "/snapshot/list", "/internal/force_merge"):  # fmt: skip
        assert vm.get(path).status_code == 401, path
        assert vm.get(path, auth=("prometheus", "wrong")).status_code == 401, path
    assert requests.post(vm.url + "/api/v1/write", data=b"", timeout=10).status_code == 401
    assert vm.get("/api/v1/query?query=up", auth=("prometheus", PASSWORD)).status_code == 200
    # Basic auth does not cover these three: the key does.
    for path in ("/metrics", "/flags", "/debug/pprof/"):
        assert vm.get(path).status_code == 401, path
        assert vm.get(path, auth=("prometheus", PASSWORD)).status_code == 401, path
        assert vm.get(path, params={"authKey": "wrong"}).status_code == 401, path
        assert vm.get(path, params={"authKey": KEY}).status_code == 200, path
    assert vm.get("/health").status_code == 200  # the role's readiness check


def test_secrets_are_in_no_command_line_log_unit_or_answer(authenticated):
    vm = authenticated
    everything = " ".join(command_lines())
    assert any("-httpListenAddr=127.0.0.1:" + str(vm.port) in c for c in command_lines())
    assert PASSWORD not in everything and KEY not in everything
    # systemctl show prints ExecStart and Environment= from the unit; the secrets are only in the env file.
    unit = (vm.out / UNIT).read_text()
    assert PASSWORD not in unit and KEY not in unit and "Environment=" not in unit.replace("EnvironmentFile=", "")
    assert vm.get("/api/v1/query?query=up", auth=("prometheus", "wrong")).status_code == 401  # a failed login is logged
    flags = vm.get("/flags", params={"authKey": KEY}).text
    assert 'httpAuth.password="secret"' in flags and PASSWORD not in flags and KEY not in flags
    assert PASSWORD not in vm.get("/metrics", params={"authKey": KEY}).text
    vm.stop()
    log = (vm.out / "vm.log").read_text()
    assert 'flag "httpAuth.password"="secret"' in log  # the daemon read it from the environment
    assert PASSWORD not in log and KEY not in log
    assert PASSWORD not in vm.playbook_output and KEY not in vm.playbook_output


@pytest.fixture
def ha_pair(tmp_path):
    """Two backends, two Prometheus replicas (replica a and b) scraping both and writing to three
    VictoriaMetrics: the role's defaults (with the test's 2 s interval), without the replica label
    dropped nor deduplication, and with the label dropped but no deduplication."""
    for i in range(2):
        (tmp_path / f"backend-{i}").mkdir()
    backends = [Backend(tmp_path / f"backend-{i}") for i in range(2)]
    stores = {
        "role": VictoriaMetrics(tmp_path / "vm-role", victoriametrics_dedup_min_scrape_interval="2s"),
        "plain": VictoriaMetrics(tmp_path / "vm-plain", victoriametrics_dedup_min_scrape_interval="0s", victoriametrics_replica_labels=[]),
        "no-dedup": VictoriaMetrics(tmp_path / "vm-no-dedup", victoriametrics_dedup_min_scrape_interval="0s"),
    }
    jobs = [{"job_name": "brain-governance", "metrics_path": "/api/sovereign-mode/metrics",
             "static_configs": [{"targets": [f"127.0.0.1:{b.port}" for b in backends], "labels": {"dialect": "contract"}}]}]  # fmt: skip
    writes = [{"url": vm.url + "/api/v1/write"} for vm in stores.values()]
    replicas = [Prometheus(tmp_path / f"prom-{r}", external_labels={"site": "eu-1", "replica": r}, jobs=jobs, remote_write=writes) for r in "ab"]
    yield backends, stores
    for p in replicas + list(stores.values()) + backends:
        p.stop()


def test_an_ha_pair_gives_one_series_per_backend(ha_pair):
    backends, stores = ha_pair
    match = 'sovereign_override_active{job="brain-governance"}'
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # both replicas' samples for both backends arrived (the plain store shows them apart)
        stores["plain"].flush()
        if len(stores["plain"].series(match)) == 4:
            break
        time.sleep(1)
    time.sleep(12)  # six more scrapes
    for vm in stores.values():
        vm.flush()
    instances = sorted(f"127.0.0.1:{b.port}" for b in backends)

    role = stores["role"].series(match)
    assert sorted(s["instance"] for s in role) == instances  # one series per backend
    assert all("replica" not in s and s["site"] == "eu-1" for s in role)  # the site label stays
    # PromQL sees a sample 30 s after it arrived (-search.latencyOffset): ask about a moment that old.
    moment = min(min(stamps) for stamps in stores["role"].samples(match).values()) / 1000 + 4
    time.sleep(max(0.0, moment + 31 - time.time()))
    query = stores["role"].get("/api/v1/query", params={"query": f"count by (instance) ({match})", "time": str(moment)}).json()
    assert {r["metric"]["instance"]: r["value"][1] for r in query["data"]["result"]} == dict.fromkeys(instances, "1")

    # Without the role's replica handling the same writes are two series per backend.
    plain = stores["plain"].series(match)
    assert sorted((s["instance"], s["replica"]) for s in plain) == sorted((i, r) for i in instances for r in "ab")

    # Dropping the label alone gives one series, with both replicas' samples in it; deduplication
    # keeps one per interval.
    deduplicated, doubled = stores["role"].samples(match), stores["no-dedup"].samples(match)
    assert len(deduplicated) == len(doubled) == 2
    for labels, stamps in deduplicated.items():
        intervals = (stamps[-1] - stamps[0]) / 2000
        assert 6 <= len(stamps) <= intervals + 2, stamps  # one sample per 2 s interval...
        assert len(doubled[labels]) >= 1.6 * len(stamps), (len(doubled[labels]), len(stamps))  # ...where both replicas wrote
