"""Prometheus and Alertmanager watching the reference backend, on real systemd hosts."""

import json
import re
import time
from urllib.parse import urlsplit

import pytest
import testinfra
from helpers import on_host

GROUPS = ["brain-contract", "brain-evidence", "brain-governance", "brain-meta", "brain-operations", "brain-security-slo"]
monitor = testinfra.get_host("podman://prom-monitor")
archive = testinfra.get_host("podman://prom-archive")
backend = testinfra.get_host("podman://prom-backend")
get, api = on_host.prometheus_get, on_host.prometheus_api  # Prometheus's API on a host: body, JSON


def drill(action):
    assert on_host.call(backend, "POST", f"/api/drill/{action}", '{"reason": "molecule"}')["status"] == 200


@pytest.mark.parametrize("host,unit", [(monitor, "prometheus"), (monitor, "prometheus-alertmanager"), (archive, "prometheus")])
def test_services_run(host, unit):
    on_host.assert_active(host, unit)


@pytest.mark.parametrize("host", [monitor, archive])
def test_ready_and_both_targets_up(host):
    assert get(host, "/-/ready").startswith("Prometheus Server is Ready")
    for _attempt in range(30):
        targets = api(host, "/api/v1/targets")["data"]["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in targets}
        if all(health.get(job) == "up" for job in ("brain-governance", "brain-operations", "prometheus")):
            break
        time.sleep(1)
    assert health["brain-governance"] == health["brain-operations"] == health["prometheus"] == "up", targets


@pytest.mark.parametrize("host", [monitor, archive])
def test_governance_metric_is_queryable(host):
    result = api(host, "/api/v1/query?query=sovereign_override_active")["data"]["result"]
    assert result and result[0]["metric"]["job"] == "brain-governance"


@pytest.mark.parametrize("host", [monitor, archive])
def test_every_rule_group_is_loaded(host):
    groups = api(host, "/api/v1/rules")["data"]["groups"]
    assert sorted(g["name"] for g in groups) == GROUPS
    assert all(g["rules"] and all(r["health"] != "err" for r in g["rules"]) for g in groups)


def test_listeners_are_loopback_only():
    listening = monitor.check_output("ss -Htlnp")
    assert "127.0.0.1:9090" in listening and "127.0.0.1:9093" in listening
    for line in listening.splitlines():
        if "prometheus" in line:
            assert " 127.0.0.1:" in line, line
    assert ":9094" not in listening  # no Alertmanager gossip port


def test_scrape_token_is_protected():
    assert on_host.ownership(monitor, "/etc/prometheus/brain-token") == ("root", "prometheus", 0o640)
    config = monitor.file("/etc/prometheus/prometheus.yml").content_string
    assert "credentials_file: /etc/prometheus/brain-token" in config
    assert monitor.file("/etc/prometheus/brain-token").content_string not in config


@pytest.mark.parametrize("host,unit,limit", [(monitor, "prometheus", 2.0), (monitor, "prometheus-alertmanager", 2.0), (archive, "prometheus", 2.0)])
def test_unit_is_hardened(host, unit, limit):
    exposure, out = on_host.exposure(host, "--offline=true", f"/etc/systemd/system/{unit}.service")
    assert exposure <= limit, out


def test_web_config_requires_tls_and_basic_auth():
    assert on_host.ownership(archive, "/etc/prometheus/web.yml") == ("root", "prometheus", 0o640)
    code = "curl -s -o /dev/null -w '%{http_code}' --cacert /etc/prometheus-tls/cert.pem https://127.0.0.1:9090/api/v1/targets"
    assert archive.check_output(code) == "401"
    # Plain HTTP to a TLS listener: Go's server answers 400 and serves nothing.
    assert archive.check_output("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9090/api/v1/targets") == "400"
    assert monitor.check_output("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9090/api/v1/targets") == "200"


def test_archive_install_uses_the_release_binaries():
    assert archive.file("/usr/local/bin/prometheus").linked_to == "/opt/prometheus/prometheus-2.42.0.linux-amd64/prometheus"
    assert not archive.package("prometheus").is_installed


def test_override_alert_fires_and_reaches_alertmanager():
    drill("override/activate")
    try:
        deadline = time.time() + 120
        seen = None
        while time.time() < deadline:
            for note in on_host.webhook_notes(monitor):
                for alert in note["alerts"]:
                    if alert["labels"]["alertname"] == "GovernanceOverrideActive" and alert["status"] == "firing":
                        seen = alert
            if seen:
                break
            time.sleep(2)
        assert seen, api(monitor, "/api/v1/alerts")
        assert seen["labels"]["severity"] == "critical"
        assert seen["annotations"]["runbook_url"].endswith("alerting-policy.md#governanceoverrideactive")
        firing = [a for a in api(monitor, "/api/v1/alerts")["data"]["alerts"] if a["labels"]["alertname"] == "GovernanceOverrideActive"]
        assert firing and firing[0]["state"] == "firing"
    finally:
        drill("override/clear")


def test_watchdog_heartbeat_reaches_the_sink_through_the_dead_mans_route():
    """Watchdog goes to the heartbeat receiver only (the route ahead of all others), again and
    again (alertmanager_heartbeat_interval: 10s), and never to the ordinary receiver."""
    deadline = time.time() + 90
    while time.time() < deadline:
        beats = [n for n in on_host.webhook_notes(monitor) if n["receiver"] == "brain-ops-assurance-heartbeat"]
        if len(beats) >= 3:
            break
        time.sleep(3)
    assert len(beats) >= 3, on_host.webhook_notes(monitor)[-5:]
    assert all(n["status"] == "firing" and [a["labels"]["alertname"] for a in n["alerts"]] == ["Watchdog"] for n in beats)
    others = [n for n in on_host.webhook_notes(monitor) if n["receiver"] != "brain-ops-assurance-heartbeat"]
    assert not [a for n in others for a in n["alerts"] if a["labels"]["alertname"] == "Watchdog"]
    config = monitor.file("/etc/prometheus/alertmanager.yml").content_string
    assert "http://127.0.0.1:9095/heartbeat" in config


def firing_in_prometheus():
    return {a["labels"]["alertname"] for a in api(monitor, "/api/v1/alerts")["data"]["alerts"] if a["state"] == "firing"}


def test_delivery_meta_alerts_fire_when_alertmanager_stops():
    """With Alertmanager stopped nothing can notify, so the alerts about it are seen in Prometheus."""
    monitor.check_output("systemctl stop prometheus-alertmanager")
    try:
        wanted = {"AlertmanagerDown", "PrometheusNotificationsFailing"}
        deadline = time.time() + 240
        while time.time() < deadline and not wanted <= firing_in_prometheus():
            time.sleep(5)
        assert wanted <= firing_in_prometheus(), api(monitor, "/api/v1/alerts")
    finally:
        monitor.check_output("systemctl start prometheus-alertmanager")
    assert monitor.service("prometheus-alertmanager").is_running, on_host.journal(monitor, "prometheus-alertmanager")


RUNBOOKS = "/usr/share/doc/brain-ops-assurance/runbooks"


def shell_commands(text, start):
    """Commands in the ```sh blocks of a runbook that begin with `start`, continuation lines joined."""
    blocks = re.findall(r"^ *```sh\n(.*?)^ *```$", text, flags=re.M | re.S)
    joined = [line.strip() for block in blocks for line in re.sub(r"\\\n\s*", " ", block).splitlines()]
    return [line for line in joined if line.startswith(start)]


def test_every_alert_links_to_its_section_of_the_deployed_runbooks():
    rules = [r for g in api(monitor, "/api/v1/rules")["data"]["groups"] for r in g["rules"] if r["type"] == "alerting"]
    policy = monitor.file(f"{RUNBOOKS}/alerting-policy.md")
    assert len(rules) == 37 and policy.mode == 0o644 and policy.user == "root"
    text = policy.content_string
    for rule in rules:
        url = urlsplit(rule["annotations"]["runbook_url"])
        assert (url.scheme, url.path, url.fragment) == ("file", f"{RUNBOOKS}/alerting-policy.md", rule["name"].lower())
        section = text.split(f"\n### {rule['name']}\n")[1].split("\n### ")[0]
        runbook = re.search(r"^- Runbook: \[[^]]+\]\(([^)#]+)#([^)]+)\)$", section, re.M)
        assert monitor.file(f"{RUNBOOKS}/{runbook.group(1)}").exists, section
        assert re.search(r"^#+ .*$", monitor.file(f"{RUNBOOKS}/{runbook.group(1)}").content_string, re.M)


def test_the_runbook_queries_run_on_the_monitoring_host():
    text = "\n".join(monitor.file(f"{RUNBOOKS}/{name}").content_string for name in ("alerting-policy.md", "operations.md", "tabletop-001-owner-override.md"))
    queries = sorted(set(shell_commands(text, "curl -fsS http://127.0.0.1:9090/api/v1/query ")))
    assert len(queries) > 25
    for cmd in queries:
        assert json.loads(monitor.check_output(cmd))["status"] == "success", cmd


def test_the_runbook_audit_query_runs_on_the_monitoring_host():
    """The token comes from a file on the host, as a responder's would come from a prompt."""
    text = monitor.file(f"{RUNBOOKS}/tabletop-001-owner-override.md").content_string
    (cmd,) = [c for c in shell_commands(text, "curl -fsS -H @<(") if "override-events.jsonl" in c]
    assert "http://prom-backend:8000/api/sovereign-mode/audit/export" in cmd
    script = f"cd $(mktemp -d) && BRAIN_TOKEN=$(cat /etc/prometheus/brain-token) && {cmd} && cat override-events.jsonl"
    r = monitor.run("bash -c %s", script)
    assert r.rc == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert {e["event_type"] for e in events} <= {"sovereign.override_activated", "sovereign.override_cleared"}


def test_alertmanager_api_needs_tls_and_the_password_and_prometheus_has_both():
    """alertmanager_web_config: no password, no API; Prometheus sends over HTTPS with its password file
    (the override test above shows the alerts arrive)."""
    plain = monitor.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9093/api/v2/status")
    assert plain.stdout != "200"
    anonymous = monitor.run("curl -s -o /dev/null -w '%{http_code}' --cacert /etc/prometheus-tls/cert.pem https://127.0.0.1:9093/api/v2/status")
    assert anonymous.stdout == "401"
    assert on_host.ownership(monitor, "/etc/prometheus/credentials/alertmanager-password") == ("root", "prometheus", 0o640)
    config = monitor.file("/etc/prometheus/prometheus.yml").content_string
    assert "password_file: /etc/prometheus/credentials/alertmanager-password" in config
    assert monitor.file("/etc/prometheus/credentials/alertmanager-password").content_string not in config
    # The alertmanager scrape job uses the same client: up means TLS and the password worked.
    up = api(monitor, '/api/v1/query?query=up{job="alertmanager"}')["data"]["result"]
    assert [s["value"][1] for s in up] == ["1"], up
