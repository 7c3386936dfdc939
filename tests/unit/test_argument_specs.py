"""Every role's argument specs match its defaults, and ansible-doc renders them."""

import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SPECS = {
    p.name: yaml.safe_load((p / "meta/argument_specs.yml").read_text())["argument_specs"]
    for p in (ROOT / "roles").iterdir()
    if (p / "meta/argument_specs.yml").exists()
}
# Public roles have a `main` entry point; the private role `_common` only task files other roles import.
ROLES = sorted(role for role, spec in SPECS.items() if "main" in spec)


def defaults(role):
    """The role's own defaults: a linked file is another role's, documented by that role."""
    base = ROOT / "roles" / role / "defaults"
    files = [base / "main.yml"] if (base / "main.yml").exists() else sorted((base / "main").glob("*.yml"))
    merged = {}
    for f in (f for f in files if not f.is_symlink()):
        merged.update(yaml.safe_load(f.read_text()) or {})
    return merged


def options(role):
    return SPECS[role]["main"]["options"]


def test_every_role_has_specs():
    assert ROLES and sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir()) == sorted([*ROLES, "_common"])


def test_private_entry_points_are_their_task_files():
    assert sorted(SPECS["_common"]) == sorted(p.stem for p in (ROOT / "roles/_common/tasks").glob("*.yml"))


def test_no_role_reaches_into_another_public_role():
    """Shared internals live in `_common`; a public role never includes or imports another one's tasks."""
    for tasks in (ROOT / "roles").glob("*/tasks/*.yml"):
        for task in yaml.safe_load(tasks.read_text()) or []:
            for key in ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role", "import_role"):
                if key in task:
                    assert task[key]["name"] == "brain.ops_assurance._common", f"{tasks.relative_to(ROOT)}: {task['name']}"


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


@pytest.mark.parametrize("role", ROLES)
def test_ansible_doc_renders_the_role(role):
    r = subprocess.run(["ansible-doc", "-t", "role", f"brain.ops_assurance.{role}"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    missing = [name for name in options(role) if name not in r.stdout]
    assert missing == []
