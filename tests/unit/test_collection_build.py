"""The built collection installs, ships exactly what the README's table says and nothing else of the
tree, and says exactly which ansible-core releases were tested."""

import importlib
import json
import posixpath
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml
from helpers.roles import PRIVATE_ROLES, PUBLIC_ROLES, SPECS
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def readme_table():
    """(kind, name) rows of the README's "What is inside" table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## What is inside", 1)[1].split("\n## ", 1)[0]
    return {(m[1], m[2]) for m in re.finditer(r"^\| ([a-z ]+) \| `([^`]+)` \|", section, re.M)}


def shipped(names):
    """(kind, name) of every role, module, filter, playbook, script and doc in the tarball."""
    found = set()
    for name in names:
        parts = name.split("/")
        if parts[0] == "roles" and len(parts) == 2:
            found.add(("private role" if parts[1] in PRIVATE_ROLES else "role", f"brain.ops_assurance.{parts[1]}"))
        elif parts[:2] == ["plugins", "modules"] and name.endswith(".py") and not parts[-1].startswith("_"):
            found.add(("module", f"brain.ops_assurance.{Path(name).stem}"))
        elif parts[:2] == ["plugins", "filter"] and name.endswith(".py"):
            found.add(("filter", f"brain.ops_assurance.{Path(name).stem}"))
        elif parts[0] == "playbooks" and name.endswith(".yml") and len(parts) == 2:
            found.add(("playbook", f"brain.ops_assurance.{Path(name).stem}"))
        elif parts[0] == "scripts" and len(parts) == 2:
            found.add(("script", parts[1]))
        elif parts[0] == "docs" and name.endswith(".md"):
            found.add(("doc", name if len(parts) == 2 else f"docs/{parts[1]}/"))
    return found


def build(tree, out):
    subprocess.run(["ansible-galaxy", "collection", "build", str(tree), "--output-path", str(out)], check=True, capture_output=True)
    [path] = out.glob("brain-ops_assurance-*.tar.gz")
    return path


def members(path):
    with tarfile.open(path) as tar:
        return tar.getnames()


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    return build(ROOT, tmp_path_factory.mktemp("build"))


def test_tarball_matches_the_readme_table(tarball):
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert shipped(names) == readme_table()


def test_tarball_leaves_out_test_trees(tarball):
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    leaked = [n for n in names if n.split("/")[0] in {"tests", "molecule", "bench", "Makefile"} or n.startswith(".")]
    assert leaked == []


def test_tarball_installs(tarball, tmp_path, monkeypatch):
    # Only the fresh path: the harness points ANSIBLE_COLLECTIONS_PATH at this checkout.
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(tmp_path))
    subprocess.run(["ansible-galaxy", "collection", "install", str(tarball), "-p", str(tmp_path)], check=True, capture_output=True)
    installed = tmp_path / "ansible_collections" / "brain" / "ops_assurance"
    assert (installed / "MANIFEST.json").is_file() and (installed / "meta" / "runtime.yml").is_file()
    listing = subprocess.run(["ansible-galaxy", "collection", "list", "brain.ops_assurance", "-p", str(tmp_path)], check=True, capture_output=True, text=True)
    assert str(tmp_path) in listing.stdout and "0.1.0" in listing.stdout
    # The runbooks role reads the other roles' defaults through links inside the collection.
    assert (installed / "roles/runbooks/defaults/main/rule_pack.yml").is_symlink()
    out = tmp_path / "runbooks"
    r = subprocess.run(
        ["ansible-playbook", str(ROOT / "tests/runbooks/render.yml"), "-e", f"runbooks_dir={out}", "-e", '{"runbooks_packages": []}'],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stdout[-2000:]
    assert "### GovernanceOverrideActive\n" in (out / "alerting-policy.md").read_text()


# The top level of the tarball: the collection and nothing else.
SHIPPED = {"MANIFEST.json", "FILES.json", "README.md", "LICENSE", "CHANGELOG.rst", "changelogs", "docs", "meta", "playbooks", "plugins", "roles", "scripts"}

# What lands in a checkout beside the collection: drill reports, evidence packs and keys (audit
# data), tool caches, test output, Molecule's and pytest's leftovers.
LOCAL_DATA = [
    "drill-reports/tabletop-001-20261130T0100Z.md",
    "evidence-packs/audit-pack.json",
    "evidence-keys/evidence-1.pub",
    "playbooks/evidence-keys/evidence-1.pub",
    ".ansible/collections/x.yml",
    ".cache/ansible-compat/x.json",
    "tests/output/junit/x.xml",
    "molecule/site/.ephemeral/x",
    "roles/prometheus/.cache/x.yml",
    "plugins/modules/__pycache__/safe_mode.cpython-311.pyc",
    ".benchmarks/x.json",
    "changelogs/.plugin-cache.yaml",
]


def test_tarball_from_a_tree_with_local_data_ships_only_the_collection(tmp_path):
    tree = tmp_path / "ops_assurance"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True, text=True).stdout
    for name in filter(None, files.split("\0")):
        if (ROOT / name).exists():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tree / name, follow_symlinks=False)
    for name in LOCAL_DATA:
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text("local data\n")
    out = tmp_path / "out"
    out.mkdir()
    names = members(build(tree, out))
    # Every file of LOCAL_DATA and the directories above it, less those the collection has anyway.
    local = {"/".join(d.split("/")[: i + 1]) for d in LOCAL_DATA for i in range(d.count("/") + 1)}
    local = {n for n in local if not (ROOT / n).is_dir()}
    assert [n for n in names if n in local or any(p.startswith(".") or p == "__pycache__" for p in n.split("/"))] == []
    assert {n.split("/")[0] for n in names} == SHIPPED


def test_manifest_carries_the_spdx_license(tarball):
    with tarfile.open(tarball) as tar:
        info = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
    assert info["license"] == ["GPL-3.0-or-later"]
    assert "LICENSE" in members(tarball)


def test_shipped_markdown_links_resolve_inside_the_tarball(tarball):
    """Galaxy shows the README and docs from the tarball: a relative link to a file the build
    leaves out is a dead link there."""
    names = members(tarball)
    present = set(names) | {posixpath.dirname(n) for n in names}
    with tarfile.open(tarball) as tar:
        docs = {n: tar.extractfile(n).read().decode() for n in names if n.endswith(".md")}
    dead = []
    for name, text in docs.items():
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = posixpath.normpath(posixpath.join(posixpath.dirname(name), target.split("#")[0]))
            if path not in present:
                dead.append(f"{name} -> {target}")
    assert docs and dead == []


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
    assert [e.split()[:2] for e in entries] == [["scripts/brain-audit", "shebang"], ["scripts/brain-evidence-export", "shebang"]]


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
    expected = {("role", r, str(role_spec(r)["version_added"])) for r in PUBLIC_ROLES}
    for kind, folder in (("module", "modules"), ("filter", "filter")):
        for path in (ROOT / "plugins" / folder).glob("[!_]*.py"):
            added = re.search(r"^version_added: (\S+)", path.read_text(), re.M)[1]
            names = [path.stem]
            if kind == "filter":  # a filter file may define several filters
                module = importlib.import_module(f"ansible_collections.brain.ops_assurance.plugins.filter.{path.stem}")
                names = list(module.FilterModule().filters())
            expected |= {(kind, name, added) for name in names}
    assert listed == expected
    assert (ROOT / "CHANGELOG.rst").read_text().count("\nv0.1.0\n======\n") == 1
