"""The built collection installs, and ships exactly what the README's table says."""

import re
import subprocess
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def readme_table():
    """(kind, name) rows of the README's "What is inside" table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## What is inside", 1)[1].split("\n## ", 1)[0]
    return {(m[1], m[2]) for m in re.finditer(r"^\| (\w+) \| `([^`]+)` \|", section, re.M)}


def shipped(names):
    """(kind, name) of every role, module, filter, playbook, script and doc in the tarball."""
    found = set()
    for name in names:
        parts = name.split("/")
        if parts[0] == "roles" and len(parts) == 2:
            found.add(("role", f"brain.ops_assurance.{parts[1]}"))
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


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    subprocess.run(["ansible-galaxy", "collection", "build", str(ROOT), "--output-path", str(out)], check=True, capture_output=True)
    [path] = out.glob("brain-ops_assurance-*.tar.gz")
    return path


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
