"""Fixtures of the reference_backend scenario's verifiers (one host per test module)."""

import pytest
from helpers import on_host

UNIT = "brain-backend.service"  # the reference_backend role's unit


@pytest.fixture
def running(host):
    """The backend's unit, checked to be running and enabled first."""
    return on_host.assert_active(host, UNIT)
