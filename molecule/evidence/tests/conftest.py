"""Fixtures of the evidence scenario's verifiers."""

import pytest


@pytest.fixture
def backend(host):
    """The reference backend's host, beside the evidence host under test."""
    return host.get_host("podman://ev-backend")
