"""Fixtures of the interop check: the real BRAiN routers from BRAIN_SRC, one throwaway key per run.

Run through `make interop BRAIN_SRC=<checkout>` (tests/interop/run.sh), which checks the checkout
and builds the interop venv; run directly, pytest stops with the same instruction.
"""

import os
from pathlib import Path

import pytest
from realbrain import RealBrain, throwaway_key

MISSING = [name for name in ("BRAIN_SRC", "BRAIN_OA_INTEROP_PYTHON") if not os.environ.get(name)]
# Collected along with other tests (`pytest tests`) without the interop setup, they stay out of the
# run; asked for by name, they stop it with the instruction.
collect_ignore_glob = ["test_*.py"] if MISSING else []


def pytest_configure(config):
    here = Path(__file__).resolve().parent
    asked = any(Path(arg.split("::")[0]).resolve().is_relative_to(here) for arg in config.args)
    if MISSING and asked:
        raise pytest.UsageError(f"the interop tests need {' and '.join(MISSING)}: run them with `make interop BRAIN_SRC=<BRAiN checkout>`")


def pytest_report_header(config):
    return f"real BRAiN: {os.environ.get('BRAIN_SRC')} (commit {os.environ.get('BRAIN_SRC_COMMIT', 'unknown')})"


@pytest.fixture(scope="session")
def key():
    return throwaway_key()


@pytest.fixture(scope="module")
def governance(tmp_path_factory, key):
    """sovereign_mode, safe_mode and monitoring: the governance routers that exist on main."""
    brain = RealBrain(tmp_path_factory.mktemp("governance"), "governance", key)
    yield brain
    brain.stop()


@pytest.fixture(scope="module")
def shipped(tmp_path_factory, key):
    """What backend/main.py mounts of them: sovereign_mode only."""
    brain = RealBrain(tmp_path_factory.mktemp("as-shipped"), "as-shipped", key)
    yield brain
    brain.stop()
