"""backend_info against the real governance routers (issue 14, "Done when" 1: "the capability
table is right"). What is right is checked against the backend itself: a capability is available
exactly when its real endpoint answers, and no capability promises an alert whose series real
main never exports."""

import pytest
from expectations import ALERTS_KEY, BACKEND_INFO, CAPABILITIES, DRILLABLE_ON_REAL_MAIN, IMPOSSIBLE_ON_REAL_MAIN
from realbrain import run_module


@pytest.fixture(scope="module")
def info(governance, tmp_path_factory):
    """backend_info's result, run once; a failure to run it is each test's failure, not a setup error."""
    try:
        return run_module(tmp_path_factory.mktemp("backend-info"), BACKEND_INFO, {}, governance.url(), governance.token())
    except AssertionError as err:
        return {"failed": True, "msg": str(err)}


def table_of(info):
    assert not info.get("failed"), info.get("msg")
    return info["capabilities"]


def test_every_capability_is_in_the_table(info):
    table = table_of(info)
    assert set(CAPABILITIES) <= set(table)
    assert all(isinstance(table[name]["available"], bool) for name in CAPABILITIES)


def test_availability_matches_the_real_endpoints(info, governance):
    table = table_of(info)
    assert governance.call("GET", "/api/safe-mode/status").status_code == 200
    assert governance.call("GET", "/metrics", token="none").status_code == 200
    assert governance.call("GET", "/api/sovereign-mode/metrics").status_code == 404
    assert governance.call("POST", "/api/sovereign-mode/audit/export", {}).status_code == 404
    assert governance.call("GET", "/api/auth/service-token").status_code == 405  # POST only: mounted
    assert {name: table[name]["available"] for name in ("safe_mode", "operations_metrics", "evidence_packs", "audit_export", "service_tokens")} == {
        "safe_mode": True,
        "operations_metrics": True,
        "evidence_packs": True,
        "audit_export": False,
        "service_tokens": True,
    }


def test_the_alerts_it_promises_are_the_ones_real_main_can_fire(info):
    table = table_of(info)
    promised = {alert for cap in table.values() if cap["available"] for alert in cap.get(ALERTS_KEY, [])}
    assert promised >= DRILLABLE_ON_REAL_MAIN
    assert not promised & IMPOSSIBLE_ON_REAL_MAIN
