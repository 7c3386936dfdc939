"""Every role's argument specs match its defaults (tests/functional/test_role_docs.py: ansible-doc renders them)."""

import re
from pathlib import Path

import pytest
import yaml
from helpers.roles import PRIVATE_ROLES, PUBLIC_ROLES, SPECS

ROOT = Path(__file__).resolve().parents[2]
ROLES = PUBLIC_ROLES


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
    assert ROLES and sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir()) == sorted([*ROLES, *PRIVATE_ROLES])


@pytest.mark.parametrize("role", PRIVATE_ROLES)
def test_private_entry_points_are_its_task_files(role):
    assert sorted(SPECS[role]) == sorted(p.stem for p in (ROOT / "roles" / role / "tasks").glob("*.yml"))


def tasks_of(items):
    """Every task of a task or handler list, blocks opened."""
    for task in items or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from tasks_of(task.get(key))


def includes():
    """(file, kind, argument) of each include or import in the roles' task and handler files: kind
    `role` with include_role's arguments, or `tasks` with the task file."""
    for path in sorted((ROOT / "roles").glob("*/*/*.yml")):
        if path.parent.name not in ("tasks", "handlers"):
            continue
        for task in tasks_of(yaml.safe_load(path.read_text())):
            for action, arg in task.items():
                kind = re.fullmatch(r"(?:ansible\.builtin\.)?(?:include|import)_(role|tasks)", action)
                if kind:
                    yield path.relative_to(ROOT).as_posix(), kind[1], arg["file"] if kind[1] == "tasks" and isinstance(arg, dict) else arg


PRIVATE = {f"brain.ops_assurance.{r}": r for r in PRIVATE_ROLES}
# A handler cannot include a role, so handlers include the private role's task files by path.
PRIVATE_FILE = re.compile(r"\{\{ role_path \}\}/\.\./(" + "|".join(PRIVATE_ROLES) + r")/tasks/(\w+)\.yml")


def private_calls():
    """(file, private role, entry point) of each call of the private role."""
    for f, kind, arg in includes():
        if kind == "role" and arg["name"] in PRIVATE:
            yield f, PRIVATE[arg["name"]], arg["tasks_from"]
        elif kind == "tasks" and (m := PRIVATE_FILE.fullmatch(arg)):
            yield f, m[1], m[2]


def test_no_role_reaches_into_another_public_role():
    """Shared internals live in the private role: a role includes its own task files or the private
    role's, never another public role's (by role name or by a path out of its directory)."""
    found = list(includes())
    assert {include[1] for include in found} == {"role", "tasks"}, "the walk found no include of some kind"
    bad = [(f, arg) for f, kind, arg in found if (arg["name"] not in PRIVATE if kind == "role" else "/" in arg and not PRIVATE_FILE.fullmatch(arg))]
    assert bad == []


def test_playbooks_read_no_role_internals():
    """A playbook passes data to a role through its documented options only: a role's `__<role>_*`
    variables (vars/main.yml) may change in any release."""
    internal = re.compile(r"\b__(" + "|".join(PUBLIC_ROLES + PRIVATE_ROLES) + r")_\w+")
    found = {(f.name, m[0]) for f in sorted((ROOT / "playbooks").glob("*.yml")) for m in internal.finditer(f.read_text())}
    defined = {(f.name, m[1]) for f in sorted((ROOT / "playbooks").glob("*.yml")) for m in re.finditer(r"^\s+(__\w+):", f.read_text(), re.M)}
    assert found - defined == set()


def test_the_private_role_is_called_by_its_entry_points():
    """`tasks_from: service`, not `service.yml`: Ansible checks the argument spec of the entry point
    named exactly as `tasks_from`, so a file name would check nothing. A handler's include names
    an entry point's file."""
    calls = list(private_calls())
    assert {call[2] for call in calls} == {"service", "reload"}
    assert [(f, entry) for f, role, entry in calls if entry not in SPECS[role]] == []


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
