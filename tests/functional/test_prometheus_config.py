"""The prometheus role's configuration data, rendered by Ansible and checked by real promtool."""

import json
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "prometheus"
PLAY = """
- hosts: localhost
  gather_facts: false
  vars_files: [{defaults}, {pack}, {vars}]
  tasks:
    - ansible.builtin.copy:
        content: "{{{{ __prometheus_config | to_nice_yaml(sort_keys=False) }}}}"
        dest: {out}
"""


def render(tmp_path, inventory=None, **settings):
    """Render __prometheus_config with these settings (as extra vars) and check it with promtool."""
    out = tmp_path / "prometheus.yml"
    play = tmp_path / "play.yml"
    play.write_text(PLAY.format(defaults=ROLE / "defaults/main/main.yml", pack=ROLE / "defaults/main/rule_pack.yml", vars=ROLE / "vars/main.yml", out=out))
    cmd = ["ansible-playbook", str(play), "-e", json.dumps(settings)] + (["-i", str(inventory)] if inventory else [])
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout[-2000:]
    lint = subprocess.run(["promtool", "check", "config", "--syntax-only", str(out)], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    return yaml.safe_load(out.read_text())


def jobs(config):
    return {job["job_name"]: job for job in config["scrape_configs"]}


def test_defaults_scrape_the_backend_group_and_itself(tmp_path):
    config = render(tmp_path, prometheus_brain_targets=["b1:8000", "b2:8000"])
    found = jobs(config)
    assert sorted(found) == ["brain-governance", "brain-operations", "prometheus"]  # no evidence group, no brain-evidence
    # Each target group carries its dialect (the contract alert and BrainTargetDown select on it)
    # and the dialect's metrics path.
    assert found["brain-governance"]["static_configs"] == [
        {"targets": ["b1:8000", "b2:8000"], "labels": {"dialect": "contract", "__metrics_path__": "/api/sovereign-mode/metrics"}}
    ]
    assert found["brain-governance"]["scrape_interval"] == "30s"
    assert found["brain-operations"]["static_configs"] == [{"targets": ["b1:8000", "b2:8000"], "labels": {"dialect": "contract"}}]
    assert "metric_relabel_configs" not in found["brain-governance"] and "metric_relabel_configs" not in found["brain-operations"]
    assert "authorization" not in found["brain-governance"]
    assert found["prometheus"]["static_configs"] == [{"targets": ["127.0.0.1:9090"]}]
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    assert "alerting" not in config and "remote_write" not in config


def test_every_option_reaches_the_configuration(tmp_path):
    config = render(
        tmp_path,
        prometheus_brain_targets=["b1:8000"],
        prometheus_brain_token="t",
        prometheus_brain_scheme="https",
        prometheus_file_sd_targets={"node": [{"targets": ["db-1:9100"]}], "blackbox": []},
        prometheus_external_labels={"site": "eu-1"},
        prometheus_remote_write=[{"url": "https://mimir.example.org/api/v1/push"}],
        prometheus_alertmanager_targets=["127.0.0.1:9093"],
        prometheus_scrape_configs=[{"job_name": "extra", "static_configs": [{"targets": ["x:1"]}]}],
        prometheus_web_listen_address="0.0.0.0:9090",
        prometheus_web_config={"basic_auth_users": {"ops": "$2b$10$abcdefghijklmnopqrstuu"}},
        prometheus_web_client_username="ops",
        prometheus_web_client_password="pw",
    )
    found = jobs(config)
    assert sorted(found) == ["alertmanager", "blackbox", "brain-governance", "brain-operations", "extra", "node", "prometheus"]
    assert found["brain-governance"]["authorization"] == {"type": "Bearer", "credentials_file": "/etc/prometheus/brain-token"}
    assert found["brain-operations"]["scheme"] == "https"
    assert found["node"]["file_sd_configs"] == [{"files": ["/etc/prometheus/file_sd/node.yml"]}]
    assert found["prometheus"]["static_configs"] == [{"targets": ["127.0.0.1:9090"]}]  # a wildcard listener is reached on loopback
    assert found["prometheus"]["basic_auth"] == {"username": "ops", "password_file": "/etc/prometheus/web-client-password"}
    assert config["global"]["external_labels"] == {"site": "eu-1"}
    assert config["alerting"] == {"alertmanagers": [{"static_configs": [{"targets": ["127.0.0.1:9093"]}]}]}
    assert config["remote_write"] == [{"url": "https://mimir.example.org/api/v1/push"}]
    assert "pw" not in json.dumps(config)


@pytest.mark.parametrize("group", [[], ["b8", "b9"]])
def test_backend_group_hosts_become_targets(tmp_path, group):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"backends": {"hosts": dict.fromkeys(group)}}}}))
    targets = jobs(render(tmp_path, inventory))["brain-governance"]["static_configs"][0]["targets"]
    assert targets == [f"{h}:8000" for h in group]


@pytest.mark.parametrize(("settings", "targets"), [({}, ["ev-1:9100"]), ({"prometheus_evidence_targets": ["ev-9:9101"]}, ["ev-9:9101"])])
def test_evidence_hosts_are_scraped_as_brain_evidence(tmp_path, settings, targets):
    """The evidence alerts watch the exporter's metrics, served by node_exporter on each evidence host."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"evidence": {"hosts": {"ev-1": None}}}}}))
    job = jobs(render(tmp_path, inventory, **settings))["brain-evidence"]
    assert job["static_configs"] == [{"targets": targets, "labels": {"dialect": "evidence_export"}}]
    assert "metrics_path" not in job  # node_exporter's /metrics


def test_each_backend_is_scraped_in_its_dialect(tmp_path):
    """Real BRAiN main has only /metrics; the governance branch's names are renamed at scrape time,
    keyed on the target's dialect label so a contract backend's series are never touched."""
    config = render(
        tmp_path,
        prometheus_brain_targets=["b1:8000", "b2:8000", "b3:8000"],
        prometheus_brain_target_dialects={"b2:8000": "brain_main", "b3:8000": "governance_branch"},
    )
    found = jobs(config)
    assert found["brain-operations"]["static_configs"] == [
        {"targets": ["b2:8000"], "labels": {"dialect": "brain_main"}},
        {"targets": ["b1:8000"], "labels": {"dialect": "contract"}},
    ]
    assert [g["labels"]["dialect"] for g in found["brain-governance"]["static_configs"]] == ["contract", "governance_branch"]
    assert found["brain-governance"]["static_configs"][1]["targets"] == ["b3:8000"]
    renames = {r["regex"]: r["replacement"] for r in found["brain-governance"]["metric_relabel_configs"]}
    assert renames["governance_branch;sovereign_override_usage_total"] == "sovereign_override_activations_total"
    assert renames["governance_branch;axe_trust_violation_total"] == "sovereign_axe_trust_violations_total"
    assert all(r["source_labels"] == ["dialect", "__name__"] and r["target_label"] == "__name__" for r in found["brain-governance"]["metric_relabel_configs"])
    assert "metric_relabel_configs" not in found["brain-operations"]


def test_the_dialect_names_of_0_1_0_still_work_with_a_deprecation_warning(tmp_path):
    """seed and upstream_main shipped in 0.1.0: they scrape as contract and brain_main (the label values
    are the new names) and say so, until 2.0.0."""
    out = tmp_path / "prometheus.yml"
    play = tmp_path / "play.yml"
    play.write_text(PLAY.format(defaults=ROLE / "defaults/main/main.yml", pack=ROLE / "defaults/main/rule_pack.yml", vars=ROLE / "vars/main.yml", out=out))
    settings = {
        "prometheus_brain_targets": ["b1:8000", "b2:8000"],
        "prometheus_brain_dialect": "seed",
        "prometheus_brain_target_dialects": {"b2:8000": "upstream_main"},
    }
    r = subprocess.run(["ansible-playbook", str(play), "-e", json.dumps(settings)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout[-2000:]
    found = jobs(yaml.safe_load(out.read_text()))
    assert found["brain-operations"]["static_configs"] == [
        {"targets": ["b2:8000"], "labels": {"dialect": "brain_main"}},
        {"targets": ["b1:8000"], "labels": {"dialect": "contract"}},
    ]
    said = " ".join((r.stdout + r.stderr).split())
    for old, new in (("seed", "contract"), ("upstream_main", "brain_main")):
        assert f"the dialect name '{old}' is deprecated; use '{new}'" in said, said[-2000:]
    assert "2.0.0" in said


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"prometheus_brain_dialect": "brain_mian"}, "no such metric dialect: brain_mian"),
        ({"prometheus_brain_target_dialects": {"b1:8000": "nope"}}, "no such metric dialect: nope"),
        ({"prometheus_brain_target_dialects": {"b9:8000": "contract"}}, "names targets that are not scraped: b9:8000"),
    ],
)
def test_a_wrong_dialect_fails_with_its_name(tmp_path, settings, message):
    out = tmp_path / "prometheus.yml"
    play = tmp_path / "play.yml"
    play.write_text(PLAY.format(defaults=ROLE / "defaults/main/main.yml", pack=ROLE / "defaults/main/rule_pack.yml", vars=ROLE / "vars/main.yml", out=out))
    r = subprocess.run(
        ["ansible-playbook", str(play), "-e", json.dumps({"prometheus_brain_targets": ["b1:8000"], **settings})], capture_output=True, text=True, check=False
    )
    assert r.returncode != 0 and message in r.stdout, r.stdout[-2000:]


# ---- the alertmanager role's configuration ----------------------------------------------------
AM_ROLE = ROOT / "roles" / "alertmanager"
AM_PLAY = """
- hosts: localhost
  gather_facts: false
  vars_files: [{defaults}, {vars}]
  tasks:
    - ansible.builtin.include_tasks: {preflight}
    - ansible.builtin.copy:
        content: "{{{{ __alertmanager_config | to_nice_yaml(sort_keys=False) }}}}"
        dest: {out}
"""
SINK = [{"name": "oncall", "webhook_configs": [{"url": "http://hooks.example.org/brain"}]}]


def render_alertmanager(tmp_path, **settings):
    """Run the role's preflight and render its configuration; (returncode, output, config)."""
    out = tmp_path / "alertmanager.yml"
    play = tmp_path / "am.yml"
    play.write_text(AM_PLAY.format(defaults=AM_ROLE / "defaults/main.yml", vars=AM_ROLE / "vars/main.yml", preflight=AM_ROLE / "tasks/preflight.yml", out=out))
    r = subprocess.run(["ansible-playbook", str(play), "-e", json.dumps(settings)], capture_output=True, text=True, check=False)
    if r.returncode:
        return r.returncode, r.stdout, None
    check = subprocess.run(["amtool", "check-config", str(out)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    return 0, r.stdout, yaml.safe_load(out.read_text())


def test_a_default_receiver_without_integration_is_refused(tmp_path):
    rc, out, _config = render_alertmanager(tmp_path)
    assert rc != 0 and 'The default receiver "default" has no integration' in out
    rc, _out, config = render_alertmanager(tmp_path, alertmanager_allow_silent_receivers=True)
    assert rc == 0 and config["receivers"] == [{"name": "default"}]


def test_watchdog_goes_to_the_heartbeat_first_and_often(tmp_path):
    rc, out, config = render_alertmanager(
        tmp_path,
        alertmanager_receivers=SINK,
        alertmanager_route={"receiver": "oncall", "routes": [{"receiver": "oncall", "matchers": ['severity="critical"']}]},
        alertmanager_heartbeat_url="https://hc.example.org/ping/secret-uuid",
        alertmanager_heartbeat_interval="30s",
    )
    assert rc == 0, out
    first, user = config["route"]["routes"]
    assert first == {
        "receiver": "brain-ops-assurance-heartbeat",
        "matchers": ['alertname="Watchdog"'],
        "group_by": ["alertname"],
        "group_wait": "0s",
        "group_interval": "30s",
        "repeat_interval": "30s",
    }
    assert user == {"receiver": "oncall", "matchers": ['severity="critical"']}
    assert config["receivers"][-1] == {
        "name": "brain-ops-assurance-heartbeat",
        "webhook_configs": [{"url": "https://hc.example.org/ping/secret-uuid", "send_resolved": False}],
    }
    assert "secret-uuid" not in out


def test_no_heartbeat_url_no_heartbeat_route(tmp_path):
    rc, _out, config = render_alertmanager(tmp_path, alertmanager_receivers=SINK, alertmanager_route={"receiver": "oncall"})
    assert rc == 0 and config["route"] == {"receiver": "oncall"} and [r["name"] for r in config["receivers"]] == ["oncall"]


@pytest.mark.parametrize(
    "settings",
    [
        {"alertmanager_heartbeat_url": "hc.example.org/ping"},
        {"alertmanager_heartbeat_url": "https://hc.example.org/ping", "alertmanager_heartbeat_interval": "often"},
        {"alertmanager_receivers": [*SINK, {"name": "brain-ops-assurance-heartbeat"}]},
    ],
)
def test_bad_heartbeat_settings_are_refused(tmp_path, settings):
    rc, out, _config = render_alertmanager(tmp_path, alertmanager_route={"receiver": "oncall"}, **{"alertmanager_receivers": SINK, **settings})
    assert rc != 0 and "alertmanager_heartbeat_url must be an http(s) URL" in out


PREFLIGHT_PLAY = """
- hosts: localhost
  gather_facts: false
  vars_files: [{defaults}, {pack}, {vars}]
  tasks:
    - ansible.builtin.include_tasks: {preflight}
"""


@pytest.mark.parametrize(
    ("settings", "ok"),
    [
        ({}, True),
        ({"prometheus_brain_governance_scrape_interval": "90s"}, False),
        (
            {
                "prometheus_brain_governance_scrape_interval": "90s",
                "prometheus_rule_missed_scrape_tolerance": "3m",
                "prometheus_brain_contract_missing_for": "3m",
            },
            True,
        ),
        ({"prometheus_brain_contract_missing_for": "45s"}, False),
    ],
)
def test_missing_data_windows_must_cover_two_scrapes(tmp_path, settings, ok):
    play = tmp_path / "preflight.yml"
    play.write_text(
        PREFLIGHT_PLAY.format(
            defaults=ROLE / "defaults/main/main.yml",
            pack=ROLE / "defaults/main/rule_pack.yml",
            vars=ROLE / "vars/main.yml",
            preflight=ROLE / "tasks/preflight.yml",
        )
    )
    r = subprocess.run(
        ["ansible-playbook", str(play), "-e", json.dumps({"prometheus_brain_targets": ["b1:8000"], **settings})], capture_output=True, text=True, check=False
    )
    assert (r.returncode == 0) == ok, r.stdout[-2000:]
    if not ok:
        assert "must be at least two scrape intervals" in r.stdout


# ---- HA: Alertmanager client, alert relabelling, remote write secrets, extra flags -------------
def preflight(tmp_path, **settings):
    """Run the prometheus role's preflight with these settings; the CompletedProcess."""
    play = tmp_path / "preflight.yml"
    play.write_text(
        PREFLIGHT_PLAY.format(
            defaults=ROLE / "defaults/main/main.yml",
            pack=ROLE / "defaults/main/rule_pack.yml",
            vars=ROLE / "vars/main.yml",
            preflight=ROLE / "tasks/preflight.yml",
        )
    )
    return subprocess.run(
        ["ansible-playbook", str(play), "-e", json.dumps({"prometheus_brain_targets": ["b1:8000"], **settings})], capture_output=True, text=True, check=False
    )


def test_an_ha_replica_sends_alerts_with_relabelling_tls_and_basic_auth(tmp_path):
    settings = {
        "prometheus_brain_targets": ["b1:8000"],
        "prometheus_external_labels": {"site": "eu-1", "replica": "prom-a"},
        "prometheus_alert_relabel_configs": [{"action": "labeldrop", "regex": "replica"}],
        "prometheus_alertmanager_targets": ["am-1:9093", "am-2:9093"],
        "prometheus_alertmanager_scheme": "https",
        "prometheus_alertmanager_tls_config": {"ca_file": "/etc/prometheus/credentials/ca.pem"},
        "prometheus_alertmanager_basic_auth": {"username": "prometheus", "password_file": "/etc/prometheus/credentials/am-password"},
    }
    assert preflight(tmp_path, **settings).returncode == 0
    config = render(tmp_path, **settings)
    client = {"scheme": "https", "tls_config": settings["prometheus_alertmanager_tls_config"], "basic_auth": settings["prometheus_alertmanager_basic_auth"]}
    assert config["alerting"] == {
        "alert_relabel_configs": [{"action": "labeldrop", "regex": "replica"}],
        "alertmanagers": [{"static_configs": [{"targets": ["am-1:9093", "am-2:9093"]}], **client}],
    }
    assert jobs(config)["alertmanager"] == {"job_name": "alertmanager", "static_configs": [{"targets": ["am-1:9093", "am-2:9093"]}], **client}


@pytest.mark.parametrize(
    ("settings", "found"),
    [
        ({"prometheus_alertmanager_basic_auth": {"username": "p", "password": "s3cret-am"}}, "password"),
        ({"prometheus_remote_write": [{"url": "https://vm/api/v1/write", "basic_auth": {"username": "u", "password": "s3cret-rw"}}]}, "password"),
        ({"prometheus_remote_write": [{"url": "https://vm/api/v1/write", "bearer_token": "s3cret-bt"}]}, "bearer_token"),
        ({"prometheus_remote_write": [{"url": "https://vm/api/v1/write", "authorization": {"credentials": "s3cret-cr"}}]}, "credentials"),
        ({"prometheus_remote_write": [{"url": "https://vm/api/v1/write", "oauth2": {"client_id": "c", "client_secret": "s3cret-os"}}]}, "client_secret"),
    ],
)
def test_a_secret_inline_in_the_configuration_is_refused_without_showing_it(tmp_path, settings, found):
    r = preflight(tmp_path, **settings)
    said = " ".join(r.stdout.split())
    assert r.returncode != 0 and f"instead of {found}." in said, said[-1500:]
    assert "s3cret" not in r.stdout + r.stderr


def test_secrets_by_file_and_a_quote_in_a_value_pass(tmp_path):
    settings = {
        "prometheus_remote_write": [
            {"url": "https://vm/api/v1/write", "basic_auth": {"username": 'a "password": b', "password_file": "/etc/prometheus/credentials/vm"}}
        ],
        "prometheus_credential_files": {"vm": "x", "vm-ca.pem": "y"},
    }
    r = preflight(tmp_path, **settings)
    assert r.returncode == 0, r.stdout[-2000:]


@pytest.mark.parametrize("name", ["../etc/passwd", ".hidden/x", "a b"])
def test_a_credential_file_name_must_be_a_plain_name(tmp_path, name):
    r = preflight(tmp_path, prometheus_credential_files={name: "x"})
    assert r.returncode != 0 and "prometheus_credential_files keys are file names" in " ".join(r.stdout.split())


def test_the_grouping_labels_may_not_be_dropped_from_alerts(tmp_path):
    r = preflight(
        tmp_path, prometheus_rule_grouping_labels=["replica", "instance"], prometheus_alert_relabel_configs=[{"action": "labeldrop", "regex": "replica"}]
    )
    assert r.returncode != 0 and "prometheus_alert_relabel_configs drops replica" in " ".join(r.stdout.split())
    ok = preflight(
        tmp_path, prometheus_rule_grouping_labels=["site", "instance"], prometheus_alert_relabel_configs=[{"action": "labeldrop", "regex": "replica"}]
    )
    assert ok.returncode == 0, ok.stdout[-2000:]


@pytest.mark.parametrize(
    ("settings", "ok"),
    [
        ({"prometheus_extra_flags": ["--query.max-concurrency=4", "--enable-feature=exemplar-storage", "--storage.remote.flush-deadline=30s"]}, True),
        ({"prometheus_extra_flags": ["--storage.agent.path=/srv/agent"]}, False),
        ({"prometheus_extra_flags": ["--enable-feature=agent"], "prometheus_remote_write": [{"url": "https://vm/api/v1/write"}]}, True),
        ({"prometheus_extra_flags": ["--enable-feature=agent"]}, False),  # an agent without remote write keeps nothing
        (
            {
                "prometheus_extra_flags": ["--enable-feature=agent"],
                "prometheus_remote_write": [{"url": "https://vm/api/v1/write"}],
                "prometheus_storage_retention_size": "5GB",
            },
            False,
        ),
        ({"prometheus_extra_flags": ["--storage.tsdb.retention.time=1d"]}, False),
        ({"prometheus_extra_flags": ["--web.listen-address=0.0.0.0:9090"]}, False),
        ({"prometheus_extra_flags": ["--config.file=/tmp/x.yml"]}, False),
        ({"prometheus_extra_flags": ["query.timeout=1m"]}, False),
        ({"prometheus_extra_flags": ["--web.page-title=$HOME"]}, False),
        ({"prometheus_extra_flags": ["--a=b --config.file=/x"]}, False),
    ],
)
def test_extra_flags_that_conflict_with_the_role_are_refused(tmp_path, settings, ok):
    r = preflight(tmp_path, **settings)
    assert (r.returncode == 0) == ok, r.stdout[-2000:]
    if not ok:
        assert "prometheus_extra_flags must be --name or --name=value" in " ".join(r.stdout.split())


def test_agent_mode_config_has_no_rules_nor_alerting(tmp_path):
    config = render(
        tmp_path,
        prometheus_brain_targets=["b1:8000"],
        prometheus_extra_flags=["--enable-feature=agent"],
        prometheus_alertmanager_targets=["am:9093"],
        prometheus_alert_relabel_configs=[{"action": "labeldrop", "regex": "replica"}],
        prometheus_remote_write=[{"url": "https://vm/api/v1/write"}],
    )
    assert "rule_files" not in config and "alerting" not in config and config["remote_write"]


# ---- the alertmanager role: web TLS and basic auth, clustering ---------------------------------
def render_alertmanager_unit(tmp_path, **settings):
    """Run the role's preflight and render its unit; (returncode, output, ExecStart arguments)."""
    out = tmp_path / "am.service"
    play = tmp_path / "am-unit.yml"
    play.write_text(
        AM_PLAY.format(
            defaults=AM_ROLE / "defaults/main.yml", vars=AM_ROLE / "vars/main.yml", preflight=AM_ROLE / "tasks/preflight.yml", out=tmp_path / "am.yml"
        )
        + f"""
    - ansible.builtin.template:
        src: {AM_ROLE / "templates/prometheus-alertmanager.service.j2"}
        dest: {out}
"""
    )
    r = subprocess.run(
        ["ansible-playbook", str(play), "-e", json.dumps({"alertmanager_allow_silent_receivers": True, **settings})],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode:
        return r.returncode, " ".join(r.stdout.split()), None
    exec_start = out.read_text().split("ExecStart=", 1)[1].split("\nExecReload", 1)[0]
    return 0, r.stdout, exec_start.replace("\\\n", " ").split()[1:]


def test_no_peers_no_gossip_port(tmp_path):
    """--cluster.listen-address= (empty) is what turns gossip off; Alertmanager's own default is 0.0.0.0:9094."""
    rc, out, args = render_alertmanager_unit(tmp_path)
    assert rc == 0, out
    assert [a for a in args if a.startswith("--cluster.")] == ["--cluster.listen-address="]
    assert not [a for a in args if a.startswith("--web.config.file")]


def test_peers_advertise_and_web_config_reach_the_unit(tmp_path):
    rc, out, args = render_alertmanager_unit(
        tmp_path,
        alertmanager_cluster_peers=["10.0.0.6:9094", "10.0.0.7:9094"],
        alertmanager_cluster_listen_address="0.0.0.0:9094",
        alertmanager_cluster_advertise_address="10.0.0.5:9094",
        alertmanager_web_config={"tls_server_config": {"cert_file": "/etc/a.crt", "key_file": "/etc/a.key"}, "basic_auth_users": {"p": "$2y$10$abc"}},
        alertmanager_web_client_username="p",
        alertmanager_web_client_password="am-client-s3cret",
    )
    assert rc == 0, out
    assert [a for a in args if a.startswith("--cluster.")] == [
        "--cluster.peer=10.0.0.6:9094",
        "--cluster.peer=10.0.0.7:9094",
        "--cluster.advertise-address=10.0.0.5:9094",
        "--cluster.listen-address=0.0.0.0:9094",
    ]
    assert "--web.config.file=/etc/prometheus/alertmanager-web.yml" in args
    assert "am-client-s3cret" not in out


@pytest.mark.parametrize(
    "settings",
    [
        {"alertmanager_cluster_listen_address": "10.0.0.5:9094"},  # a gossip port with nobody to talk to
        {"alertmanager_cluster_peers": ["10.0.0.6:9094"]},  # peers without a listener
        {"alertmanager_cluster_peers": ["10.0.0.6:9094"], "alertmanager_cluster_listen_address": "0.0.0.0:9094"},  # wildcard, no advertise
        {"alertmanager_cluster_peers": ["10.0.0.6"], "alertmanager_cluster_listen_address": "10.0.0.5:9094"},  # no port
        {"alertmanager_cluster_advertise_address": "10.0.0.5:9094"},
    ],
)
def test_incomplete_cluster_settings_are_refused(tmp_path, settings):
    rc, out, _args = render_alertmanager_unit(tmp_path, **settings)
    assert rc != 0 and "Clustering needs both alertmanager_cluster_peers" in out, out[-1500:]


@pytest.mark.parametrize(
    "settings",
    [
        {"alertmanager_cluster_listen_address": "localhost:9094"},  # Alertmanager 0.25 would bind every address
        {"alertmanager_cluster_listen_address": "mon-a:9094"},
        {"alertmanager_cluster_listen_address": "0.0.0.0:9094", "alertmanager_cluster_advertise_address": "mon-a:9094"},  # it would not start
    ],
)
def test_gossip_addresses_that_are_names_are_refused(tmp_path, settings):
    rc, out, _args = render_alertmanager_unit(tmp_path, alertmanager_cluster_peers=["mon-b:9094"], **settings)
    assert rc != 0 and "take an IP address, not a host name" in out, out[-1500:]


@pytest.mark.parametrize(
    "listen,advertise",
    [("10.0.0.5:9094", ""), ("[fd00::5]:9094", "[fd00::5]:9094"), ("[::]:9094", "10.0.0.5:9094")],
)
def test_gossip_ip_addresses_and_wildcards_are_accepted(tmp_path, listen, advertise):
    settings = {"alertmanager_cluster_listen_address": listen, "alertmanager_cluster_advertise_address": advertise}
    rc, out, args = render_alertmanager_unit(tmp_path, alertmanager_cluster_peers=["mon-b:9094"], **settings)
    assert rc == 0, out[-1500:]
    assert f"--cluster.listen-address={listen}" in args and "--cluster.peer=mon-b:9094" in args


@pytest.mark.parametrize(
    "settings",
    [
        {
            "alertmanager_web_config": {"basic_auth_users": {"p": "plain-text"}},
            "alertmanager_web_client_username": "p",
            "alertmanager_web_client_password": "x",
        },
        {"alertmanager_web_config": {"basic_auth_users": {"p": "$2y$10$abc"}}},  # the role could not check readiness
        {"alertmanager_web_config": {"tls_server_config": {"cert_file": "/etc/a.crt"}}},
        {"alertmanager_web_config": {"tls_config": {}}},
    ],
)
def test_bad_web_settings_are_refused(tmp_path, settings):
    rc, out, _args = render_alertmanager_unit(tmp_path, **settings)
    assert rc != 0 and "alertmanager_web_config takes tls_server_config" in out, out[-1500:]
