"""Against what backend/main.py mounts of the governance and auth routers (sovereign_mode and auth):
the collection must say which capabilities are missing instead of deploying silent alerts (issue 14,
"Done when" 2)."""

import ast
import os
from pathlib import Path

import pytest
from brain_app import PROFILES, ROUTERS
from expectations import ACCEPT_OPTION, ALERTS_KEY, BACKEND_INFO, REQUIRE_OPTION, SCRAPE_DIALECT
from realbrain import Prometheus, run_module


def mounted_routers(main_py):
    """Which of brain_app's ROUTERS main.py imports and passes to include_router, read from its syntax tree."""
    tree = ast.parse(Path(main_py).read_text())
    wanted = {target: name for name, target in ROUTERS.items()}
    imported = {}  # local name -> router name
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if (node.module, alias.name) in wanted:
                    imported[alias.asname or alias.name] = wanted[node.module, alias.name]
    included = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "include_router" and node.args and isinstance(node.args[0], ast.Name):
            included.add(imported.get(node.args[0].id))
    return included - {None}


def test_the_as_shipped_profile_mounts_what_main_py_mounts():
    """Guards the second mode's claim: it serves exactly what main.py mounts of these routers."""
    assert mounted_routers(Path(os.environ["BRAIN_SRC"]) / "backend" / "main.py") == set(PROFILES["as-shipped"])


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/metrics"),
        ("GET", "/api/sovereign-mode/metrics"),
        ("GET", "/api/safe-mode/status"),
        ("POST", "/api/safe-mode/enable"),
        ("POST", "/api/sovereign-mode/audit/export"),
    ],
)
def test_the_shipped_backend_lacks_the_contract_endpoints(shipped, method, path):
    """The facts the collection has to cope with (issue 14, "Why"): each answers 404."""
    assert shipped.call(method, path, {}).status_code == 404


def test_the_shipped_backend_serves_sovereign_mode_and_evidence_packs(shipped):
    assert shipped.ok("GET", "/api/sovereign-mode/status")["mode"] == "online"
    assert shipped.call("POST", "/api/sovereign-mode/evidence/export", {}).status_code == 422  # there, with its own request shape


def test_the_capability_table_names_what_is_missing(shipped, tmp_path):
    """backend_info against the shipped backend: no safe mode, no metrics of either kind, no audit
    export; evidence packs and the service-token route there."""
    r = run_module(tmp_path, BACKEND_INFO, {}, shipped.url(), shipped.token())
    assert not r.get("failed"), r.get("msg")
    caps = r["capabilities"]
    assert {name: caps[name]["available"] for name in caps} == {
        "governance_metrics": False,
        "operations_metrics": False,
        "safe_mode": False,
        "audit_export": False,
        "evidence_packs": True,
        "service_tokens": True,
    }
    assert not [alert for name in ("safe_mode", "operations_metrics", "governance_metrics") for alert in caps[name].get(ALERTS_KEY, [])]


def test_a_required_capability_the_backend_lacks_fails_unless_accepted(shipped, tmp_path):
    refused = run_module(tmp_path / "refused", BACKEND_INFO, {REQUIRE_OPTION: ["safe_mode", "operations_metrics"]}, shipped.url(), shipped.token())
    assert refused.get("failed") is True
    assert "safe_mode" in refused["msg"] and "operations_metrics" in refused["msg"]
    accepted = run_module(
        tmp_path / "accepted",
        BACKEND_INFO,
        {REQUIRE_OPTION: ["safe_mode", "operations_metrics"], ACCEPT_OPTION: ["safe_mode", "operations_metrics"]},
        shipped.url(),
        shipped.token(),
    )
    assert not accepted.get("failed"), accepted.get("msg")


def test_safe_mode_info_says_the_endpoint_is_missing(shipped, tmp_path):
    """FastAPI's error body shown: the operator reads "Not Found", not "the API gave no reason"."""
    r = run_module(tmp_path, "brain.ops_assurance.safe_mode_info", {}, shipped.url(), shipped.token())
    assert r.get("failed") is True
    assert r["status"] == 404
    assert "HTTP 404" in r["msg"] and "Not Found" in r["msg"], r["msg"]


def test_prometheus_is_not_silent_about_the_as_shipped_backend(shipped, tmp_path):
    """Main as shipped serves no metrics: /metrics answers 404. Prometheus cannot tell a 404 from a dead
    backend (no series says why a scrape failed), so the rule pack cannot name the missing contract;
    the deploy-time capability check does (test_capabilities.py). What Prometheus must not be is
    silent: BrainTargetDown fires for the target, and the target's last error says HTTP 404."""
    prom = Prometheus(tmp_path, shipped.port, settings=SCRAPE_DIALECT)
    try:
        prom.scraped(5)
        prom.wait(lambda: prom.alerts().get("BrainTargetDown") == "firing", 60, "BrainTargetDown firing")
        down = [a["labels"]["job"] for a in prom.alert_details() if a["labels"]["alertname"] == "BrainTargetDown" and a["state"] == "firing"]
        targets = prom.targets()
        assert sorted(down) == sorted(targets), down
        assert all(health == "down" and "404" in error for health, error in targets.values()), targets
    except AssertionError as err:
        raise AssertionError(f"{err}\nactive alerts: {prom.alerts()}\ntargets: {prom.targets()}") from None
    finally:
        prom.stop()
