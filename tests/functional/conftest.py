"""Renders that several test files read and none changes: made once per session (once per xdist
worker), as each render is a whole ansible-playbook run."""

import pytest
from helpers.render import render_rules, render_runbooks


@pytest.fixture(scope="session")
def default_rules(tmp_path_factory):
    """The rule files the prometheus role writes with its defaults. Read only: a test that changes
    rule files renders its own."""
    return render_rules(tmp_path_factory.mktemp("default-rules"))


@pytest.fixture(scope="session")
def default_runbooks(tmp_path_factory):
    """The runbooks the runbooks role writes with its defaults. Read only, like default_rules."""
    return render_runbooks(tmp_path_factory.mktemp("default-runbooks"))
