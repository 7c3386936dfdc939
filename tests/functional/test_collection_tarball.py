"""The built collection installs, ships exactly what the README's table says and nothing else of the
tree (ansible-galaxy builds and installs it)."""

import json
import posixpath
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml
from helpers.roles import PRIVATE_ROLES

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
        elif parts[:2] == ["plugins", "filter"] and name.endswith(".yml"):  # one doc per filter, several filters a .py
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
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    assert str(tmp_path) in listing.stdout and version in listing.stdout
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


def test_shipped_text_cites_no_design_document_or_issue(tarball):
    """What users get says things in its own words: the design documents and issues it grew from
    are not part of it, so a reference to them is one a reader cannot follow."""
    cited = []
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            if member.isfile():
                text = tar.extractfile(member).read().decode(errors="replace")
                cited += [f"{member.name}: {m[0]}" for m in re.finditer(r"\bseeds? \d\d\b|shared/seeds|\bissue #?\d+", text, re.I)]
    assert cited == []
