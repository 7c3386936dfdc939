"""The governance dashboard as the grafana_dashboards role installs it: every query of every panel
runs against the monitoring host's real Prometheus and returns data for the reference backend. A
panel without data would look like "all fine", so an empty result fails."""

import json
import re
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
import testinfra
import yaml
from dashboards.panels import queries
from helpers import on_host

ROOT = Path(__file__).resolve().parents[3]
DIR = "/var/lib/grafana/dashboards/brain-ops-assurance"
PROVIDER = "/etc/grafana/provisioning/dashboards/brain-ops-assurance.yml"
monitor = testinfra.get_host("podman://prom-monitor")
backend = testinfra.get_host("podman://prom-backend")

BUNDLE = {"bundle_id": "bundle-dashboard"}


def drill(action, body=None):
    answer = on_host.call(backend, "POST", f"/api/drill/{action}", json.dumps({"reason": "molecule dashboard", **(body or {})}))
    assert answer["status"] == 200, answer


def instant(expr):
    """The result of an instant query on the monitoring host's Prometheus (errors fail the test)."""
    out = on_host.prometheus_api(monitor, "/api/v1/query?" + urlencode({"query": expr}))
    assert out["status"] == "success", (expr, out)
    return out["data"]["result"]


def installed():
    return json.loads(monitor.file(f"{DIR}/brain-governance.json").content_string)


def test_the_role_installed_the_shipped_dashboard_and_its_provider():
    dashboard = monitor.file(f"{DIR}/brain-governance.json")
    assert (dashboard.user, dashboard.group, dashboard.mode) == ("root", "root", 0o644)
    assert json.loads(dashboard.content_string) == json.loads((ROOT / "roles/grafana_dashboards/files/brain-governance.json").read_text())
    provider = monitor.file(PROVIDER)
    assert (provider.user, provider.mode) == ("root", 0o644)
    [entry] = yaml.safe_load(provider.content_string)["providers"]
    assert entry["type"] == "file" and entry["options"]["path"] == DIR and entry["folder"] == "BRAiN"
    assert entry["allowUiUpdates"] is False and entry["updateIntervalSeconds"] == 60


def backends(dashboard):
    """The values of the `backend` variable, from its own label_values() query."""
    [variable] = [v for v in dashboard["templating"]["list"] if v["name"] == "backend"]
    selector, label = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"]).groups()
    return sorted({s["metric"][label] for s in instant(selector)})


@pytest.fixture(scope="module")
def events():
    """What the dashboard shows on a backend that is not idle: an active override, a quarantined
    bundle, executor runs that succeed and fail, security events, and one evidence export run."""
    drill("override/activate")
    drill("bundle/quarantine", BUNDLE)
    for outcome in ("success", "failure", "success"):
        drill("executor/run", {"outcome": outcome})
    drill("preflight/failure")
    drill("policy/violation")
    r = backend.run("systemctl start brain-evidence-export.service")
    assert r.rc == 0, backend.run("journalctl -u brain-evidence-export --no-pager -n 30").stdout
    try:
        yield
    finally:
        drill("bundle/release", BUNDLE)
        drill("override/clear")


def test_every_panel_query_returns_data(events):
    dashboard = installed()
    values = backends(dashboard)
    assert values == ["prom-backend:8000"]
    found = queries(dashboard, {"backend": "|".join(values), "datasource": "prometheus"})
    assert len(found) >= 30
    # Scrapes, rule evaluations and alerts' `for` take a few intervals (5 s here): wait for them.
    deadline = time.time() + 150
    while True:
        empty = [(title, ref, expr) for title, ref, expr in found if not instant(expr)]
        if not empty or time.time() > deadline:
            break
        time.sleep(5)
    assert empty == [], "\n".join(f"{title} {ref}: {expr}" for title, ref, expr in empty)


def test_the_check_sees_an_empty_result():
    """The assertion above can fail: a series nobody exports gives an empty result, not an error."""
    assert instant('max by (instance) (brain_no_such_series{instance=~"prom-backend:8000"})') == []


def test_the_state_panels_show_the_drills(events):
    """Not just any data: the override, the quarantine and a firing governance alert are visible."""
    by_title = {p["title"]: p for p in installed()["panels"]}

    def value(title):
        [(_title, _ref, expr)] = queries({"panels": [by_title[title]]}, {"backend": "prom-backend:8000"})
        return [float(s["value"][1]) for s in instant(expr)]

    assert value("Override") == [1.0]
    assert value("Quarantined bundles") == [1.0]
    assert value("Firing governance and security alerts")[0] >= 1
    assert 0 <= value("Override age")[0] < 600
    assert value("Last export run") == [1.0]
