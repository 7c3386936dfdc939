"""Render the rule pack and the runbooks through the roles' own tasks, with ansible-playbook."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def playbook(path, *extra):
    """Run a test playbook with extra vars (`k=v` strings); return the CompletedProcess."""
    cmd = ["ansible-playbook", str(ROOT / path)]
    for item in extra:
        cmd += ["-e", item]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def _checked(r):
    if r.returncode:
        raise AssertionError(r.stdout[-3000:] + r.stderr[-2000:])


def render_rules(tmp_path, *extra):
    """The rule files, in tmp_path/rules, as the prometheus role writes them."""
    out = tmp_path / "rules"
    out.mkdir(exist_ok=True)
    _checked(playbook("tests/rules/render.yml", f"__prometheus_rules_dir={out}", "__prometheus_bin_dir=/usr/bin", *extra))
    return out


def render_runbooks(out, *extra):
    """The runbooks, in `out`, as the runbooks role writes them (no packages installed)."""
    _checked(playbook("tests/runbooks/render.yml", f"runbooks_dir={out}", '{"runbooks_packages": []}', *extra))
    return out
