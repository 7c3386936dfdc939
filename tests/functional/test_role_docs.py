"""ansible-doc renders every role's argument specs."""

import subprocess
from pathlib import Path

import pytest
from helpers.roles import PUBLIC_ROLES, SPECS

ROOT = Path(__file__).resolve().parents[2]
ROLES = PUBLIC_ROLES


def options(role):
    return SPECS[role]["main"]["options"]


@pytest.mark.parametrize("role", ROLES)
def test_ansible_doc_renders_the_role(role):
    r = subprocess.run(["ansible-doc", "-t", "role", f"brain.ops_assurance.{role}"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    missing = [name for name in options(role) if name not in r.stdout]
    assert missing == []
