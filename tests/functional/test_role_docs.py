"""ansible-doc renders every role's argument specs."""

import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta/argument_specs.yml").exists())


def options(role):
    return yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]


@pytest.mark.parametrize("role", ROLES)
def test_ansible_doc_renders_the_role(role):
    r = subprocess.run(["ansible-doc", "-t", "role", f"brain.ops_assurance.{role}"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    missing = [name for name in options(role) if name not in r.stdout]
    assert missing == []
