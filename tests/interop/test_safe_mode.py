"""The safe_mode and safe_mode_info modules against the real safe-mode router (issue 14, "Done when" 1:
"safe_mode enables and disables idempotently and confirms the state"). The backend's state is read
straight from its API (`safe_mode_enabled`) after each step, never taken from the module."""

import pytest
from realbrain import run_module

SAFE_MODE = "brain.ops_assurance.safe_mode"


@pytest.fixture
def brain(governance):
    """The shared backend, unfrozen before and after each test."""
    if governance.safe_mode_enabled():
        governance.ok("POST", "/api/safe-mode/disable", {"reason": "interop: reset"})
    yield governance
    if governance.safe_mode_enabled():
        governance.ok("POST", "/api/safe-mode/disable", {"reason": "interop: reset"})


def step(tmp_path, brain, name, state, check=False):
    return run_module(tmp_path / name, SAFE_MODE, {"state": state, "reason": f"interop {name}"}, brain.url(), brain.token(), check=check)


def test_enable_is_predicted_applied_confirmed_and_idempotent(brain, tmp_path):
    predicted = step(tmp_path, brain, "check", "enabled", check=True)
    assert not predicted.get("failed"), predicted.get("msg")
    assert predicted["changed"] is True and brain.safe_mode_enabled() is False  # check mode changes nothing
    applied = step(tmp_path, brain, "apply", "enabled")
    assert not applied.get("failed"), applied.get("msg")
    assert applied["changed"] is True and brain.safe_mode_enabled() is True
    assert applied["after"].get("enabled") is True, applied["after"]
    again = step(tmp_path, brain, "again", "enabled")
    assert not again.get("failed"), again.get("msg")
    assert again["changed"] is False and brain.safe_mode_enabled() is True


def test_disable_unfreezes_a_frozen_backend_and_is_idempotent(brain, tmp_path):
    """The dangerous case of issue 14: state=disabled on a frozen backend must unfreeze it."""
    brain.ok("POST", "/api/safe-mode/enable", {"reason": "interop: frozen by the incident"})
    applied = step(tmp_path, brain, "apply", "disabled")
    assert not applied.get("failed"), applied.get("msg")
    assert brain.safe_mode_enabled() is False, "state=disabled left the real backend frozen"
    assert applied["changed"] is True and applied["after"].get("enabled") is False, applied["after"]
    again = step(tmp_path, brain, "again", "disabled")
    assert not again.get("failed"), again.get("msg")
    assert again["changed"] is False and brain.safe_mode_enabled() is False


def test_safe_mode_info_reads_the_real_state(brain, tmp_path):
    brain.ok("POST", "/api/safe-mode/enable", {"reason": "interop: info"})
    r = run_module(tmp_path, "brain.ops_assurance.safe_mode_info", {}, brain.url(), brain.token("operator"))
    assert not r.get("failed"), r.get("msg")
    assert r["safe_mode"].get("enabled") is True, r["safe_mode"]


def test_an_operator_token_may_read_but_not_freeze(brain, tmp_path):
    """Real roles: the router requires admin to change. The module shows FastAPI's detail (the
    wording around it is the module's; the backend's reason must be there)."""
    r = run_module(tmp_path, SAFE_MODE, {"state": "enabled", "reason": "interop"}, brain.url(), brain.token("operator"))
    assert r.get("failed") is True and r["status"] == 403
    assert "HTTP 403" in r["msg"] and "Insufficient permissions. Required role: one of admin, SYSTEM_ADMIN" in r["msg"], r["msg"]
    assert brain.safe_mode_enabled() is False


def test_a_token_the_backend_did_not_sign_gets_its_reason(brain, tmp_path):
    r = run_module(tmp_path, "brain.ops_assurance.safe_mode_info", {}, brain.url(), "a-static-token-the-backend-never-issued")
    assert r.get("failed") is True and r["status"] == 401
    assert "HTTP 401" in r["msg"] and "Invalid token" in r["msg"], r["msg"]
