"""Every role's argument specs match its defaults (tests/functional/test_role_docs.py: ansible-doc renders them)."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta/argument_specs.yml").exists())


def defaults(role):
    """The role's own defaults: a linked file is another role's, documented by that role."""
    base = ROOT / "roles" / role / "defaults"
    files = [base / "main.yml"] if (base / "main.yml").exists() else sorted((base / "main").glob("*.yml"))
    merged = {}
    for f in (f for f in files if not f.is_symlink()):
        merged.update(yaml.safe_load(f.read_text()) or {})
    return merged


def options(role):
    return yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]


def test_every_role_has_specs():
    assert ROLES and sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir()) == ROLES


@pytest.mark.parametrize("role", ROLES)
def test_specs_and_defaults_name_the_same_variables(role):
    """Every option has a default, except required ones, which must have none (a default would
    satisfy `required` and hide a missing setting)."""
    required = sorted(name for name, spec in options(role).items() if spec.get("required"))
    assert sorted(options(role)) == sorted([*defaults(role), *required])
    assert not set(required) & set(defaults(role))


@pytest.mark.parametrize("role", ROLES)
def test_spec_defaults_equal_the_role_defaults(role):
    values = defaults(role)
    for name, spec in options(role).items():
        if spec.get("required"):
            assert "default" not in spec, name
            continue
        if "default" not in spec:
            # Only large data and defaults derived from other variables may leave their default to the
            # defaults file, and must say so.
            derived = "{{" in str(values[name]) and "Defaults to" in str(spec["description"])
            assert derived or (spec["type"] in ("list", "dict") and "defaults/main" in str(spec["description"])), name
            continue
        assert spec["default"] == values[name], name
