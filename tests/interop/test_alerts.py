"""A real Prometheus with the collection's rule pack and scrape jobs, scraping the real routers'
/metrics, in a drill-like check: the alerts the real-main dialect allows fire, none fires falsely
(issue 14, "Done when" 1: "the alerts that the dialect allows fire in a drill-like check")."""

import time

import pytest
from expectations import DRILLABLE_ON_REAL_MAIN, SCRAPE_DIALECT
from realbrain import Prometheus, RealBrain

LAST_SUCCESS_MAX_AGE = 5  # seconds: BrainLastSuccessTooOld's threshold, shortened so a drill can see it


@pytest.fixture(scope="module")
def drilled(tmp_path_factory, key):
    """A fresh backend, Prometheus scraping it every second, then the drill: five mode switches
    (more than the pack's three an hour) and a bundle that fails its hash check. Every `for:` is 5 s."""
    brain = RealBrain(tmp_path_factory.mktemp("drill-backend"), "governance", key)
    settings = {**SCRAPE_DIALECT, "prometheus_brain_last_success_max_age": LAST_SUCCESS_MAX_AGE}
    prom = Prometheus(tmp_path_factory.mktemp("drill-prometheus"), brain.port, settings=settings)
    try:
        prom.scraped(3)
        for mode in ("offline", "online", "offline", "online", "offline"):
            brain.switch_mode(mode)
            time.sleep(1.5)  # a scrape between switches, as a real flap would be seen
        brain.quarantine_tampered_bundle()
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and not all(prom.alerts().get(name) == "firing" for name in DRILLABLE_ON_REAL_MAIN):
            time.sleep(1)
        # Past the last-success threshold, its 5 s hold and an evaluation, so a false alarm has had time to fire.
        time.sleep(max(0.0, LAST_SUCCESS_MAX_AGE + 5 + 3 - (time.monotonic() - brain.started_at)))
        yield prom
    finally:
        prom.stop()
        brain.stop()


def test_the_rule_pack_loads_and_evaluates_against_real_series(drilled):
    groups = drilled.rule_groups()
    assert groups, "no rule groups loaded"
    broken = {rule.get("name"): rule.get("lastError") for g in groups for rule in g["rules"] if rule.get("health") != "ok"}
    assert not broken


def test_every_scrape_job_reaches_the_real_backend(drilled):
    """Scrape paths per backend: a real-main backend gets jobs whose paths exist (no job scraping a 404)."""
    targets = drilled.targets()
    assert {job: state[0] for job, state in targets.items()} == dict.fromkeys(targets, "up"), targets


def test_mode_flapping_fires(drilled):
    assert drilled.alerts().get("BrainModeFlapping") == "firing", drilled.alerts()


def test_a_quarantined_bundle_fires(drilled):
    """brain_quarantine_total (real main's counter) drives GovernanceBundleQuarantined."""
    assert drilled.alerts().get("GovernanceBundleQuarantined") == "firing", drilled.alerts()


def test_no_false_last_success_alert_after_a_restart(drilled):
    """Real main sets brain_last_success_timestamp at process start and never again: with no
    executor run, BrainLastSuccessTooOld must not fire (issue 14: it fires falsely an hour after
    every restart; here the threshold is LAST_SUCCESS_MAX_AGE seconds)."""
    assert "BrainLastSuccessTooOld" not in drilled.alerts(), drilled.alerts()
