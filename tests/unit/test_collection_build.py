"""The collection says exactly which ansible-core releases were tested, and its role READMEs and
release notes match what it ships."""

import importlib
import re
from pathlib import Path

import pytest
import yaml
from helpers.roles import PRIVATE_ROLES, PUBLIC_ROLES, SPECS
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def legs():
    """(ansible-core, Python) of every sanity leg."""
    lines = (ROOT / "tests/sanity/legs.txt").read_text().splitlines()
    return [tuple(line.split()) for line in lines if line.strip() and not line.startswith("#")]


def cores():
    return [core for core, python in legs()]


def minor(version):
    return Version(version).release[:2]


def test_requires_ansible_spans_exactly_the_tested_releases():
    spec = SpecifierSet(yaml.safe_load((ROOT / "meta/runtime.yml").read_text())["requires_ansible"])
    tested = sorted({minor(core) for core in cores()})
    (major, low), high = tested[0], tested[-1][1]
    # Every minor release in the range has a leg: a gap would be claimed without being tested.
    assert tested == [(major, m) for m in range(low, high + 1)]
    assert spec == SpecifierSet(f">={major}.{low}.0,<{major}.{high + 1}.0")


def test_the_tool_venv_runs_a_sanity_leg():
    pin = re.search(r"^ansible-core==(\S+)", (ROOT / "tests/requirements.txt").read_text(), re.M)[1]
    assert pin in cores()


def test_each_leg_has_the_same_reasoned_ignore_file_and_no_other_version_has_one():
    """Every entry says why (the only ones: the scripts' python3 shebang, which ansible-test does not allow)."""
    files = {p.name: p.read_text() for p in (ROOT / "tests/sanity").glob("ignore-*.txt")}
    assert sorted(files) == sorted(f"ignore-{'.'.join(map(str, minor(core)))}.txt" for core in cores())
    assert len(set(files.values())) == 1
    entries = next(iter(files.values())).splitlines()
    assert all(re.fullmatch(r"\S+ [\w-]+ # .{20,}", e) for e in entries), entries
    scripts = ["scripts/brain-audit", "scripts/brain-evidence-archive", "scripts/brain-evidence-export"]
    assert [e.split()[:2] for e in entries] == [[s, "shebang"] for s in scripts]


def test_readme_version_table_is_what_ran():
    section = (ROOT / "README.md").read_text().split("## Requirements", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\s*\| ([0-9.]+) \| ([0-9.]+) \|", section, re.M)
    assert sorted(rows) == sorted(legs())
    assert yaml.safe_load((ROOT / "meta/runtime.yml").read_text())["requires_ansible"] in section


def role_readme(role):
    return (ROOT / "roles" / role / "README.md").read_text()


def role_spec(role):
    return SPECS[role]["main"]


@pytest.mark.parametrize("role", PUBLIC_ROLES)
def test_role_readme_points_at_ansible_doc_and_its_table_matches_the_specs(role):
    text = role_readme(role)
    assert text.startswith(f"# brain.ops_assurance.{role}\n")
    assert f"`ansible-doc -t role brain.ops_assurance.{role}`" in text
    assert "## License\n\nGPL-3.0-or-later" in text
    options = role_spec(role)["options"]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]*) \|", text, re.M)
    assert rows
    for name, default in rows:
        assert name in options, name
        default = default.strip()
        if default == "required":
            assert options[name].get("required"), name
        elif re.fullmatch(r"`[^`]*`", default):
            assert yaml.safe_load(default.strip("`")) == options[name]["default"], name


@pytest.mark.parametrize("role", PRIVATE_ROLES)
def test_private_role_readme_says_it_is_internal_and_points_at_ansible_doc(role):
    text = role_readme(role)
    assert text.startswith(f"# brain.ops_assurance.{role}\n\nInternal only: ")
    assert f"`ansible-doc -t role brain.ops_assurance.{role}`" in text
    assert "## License\n\nGPL-3.0-or-later" in text
    assert "```yaml" not in text  # no example: a playbook does not call it


@pytest.mark.parametrize("role", PUBLIC_ROLES)
def test_role_readme_example_sets_only_real_options_and_every_required_one(role):
    [block] = re.findall(r"```yaml\n(.*?)```", role_readme(role), re.S)
    [play] = yaml.safe_load(block)
    [entry] = play["roles"]
    assert entry["role"] == f"brain.ops_assurance.{role}"
    options = role_spec(role)["options"]
    assert set(entry.get("vars", {})) <= set(options)
    assert {n for n, o in options.items() if o.get("required")} <= set(entry.get("vars", {}))


def test_the_release_lists_every_role_module_and_filter_at_its_version_added():
    """A role without version_added would be missing from the release notes' "New Roles". The
    private role has no `main` entry point, hence no version_added, and is never listed."""
    releases = yaml.safe_load((ROOT / "changelogs/changelog.yaml").read_text())["releases"]
    listed = set()
    for version, release in releases.items():
        listed |= {("role", r["name"], version) for r in release.get("objects", {}).get("role", [])}
        listed |= {("module", m["name"], version) for m in release.get("modules", [])}
        listed |= {("filter", f["name"], version) for f in release.get("plugins", {}).get("filter", [])}
    added = {("role", r, str(role_spec(r)["version_added"])) for r in PUBLIC_ROLES}
    for path in (ROOT / "plugins/modules").glob("[!_]*.py"):
        added.add(("module", path.stem, re.search(r"^version_added: (\S+)", path.read_text(), re.M)[1]))
    for path in (ROOT / "plugins/filter").glob("[!_]*.py"):  # several filters a file, each documented in <name>.yml
        module = importlib.import_module(f"ansible_collections.brain.ops_assurance.plugins.filter.{path.stem}")
        for name in module.FilterModule().filters():
            added.add(("filter", name, str(yaml.safe_load((path.parent / f"{name}.yml").read_text())["DOCUMENTATION"]["version_added"])))
    # What is added after the last release is listed when the version being prepared is released (antsibull-changelog).
    preparing = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    assert {entry[2] for entry in added} <= {*releases, preparing}
    assert listed == {entry for entry in added if entry[2] in releases}
    assert (ROOT / "CHANGELOG.rst").read_text().count("\nv0.1.0\n======\n") == 1
