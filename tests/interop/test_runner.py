"""`make interop` itself: without a BRAiN checkout it says so and exits 2, before building anything."""

import os
import subprocess

import pytest
from realbrain import HERE

RUN = str(HERE / "run.sh")


def run(brain_src):
    env = {k: v for k, v in os.environ.items() if k != "BRAIN_SRC"}
    if brain_src is not None:
        env["BRAIN_SRC"] = str(brain_src)
    return subprocess.run([RUN], env=env, capture_output=True, text=True, timeout=60, check=False)


CASES = {
    "unset": "make interop: BRAIN_SRC is not set: point it at a satoshiflow/BRAiN checkout",
    "empty": "make interop: BRAIN_SRC is not set: point it at a satoshiflow/BRAiN checkout",
    "missing": "is not a directory",
    "not-brain": "is not a BRAiN checkout: backend/main.py is missing",
    "no-safe-mode": "is not a BRAiN checkout: backend/app/modules/safe_mode/router.py is missing",
}


@pytest.mark.parametrize("case", CASES)
def test_without_a_brain_checkout_it_exits_2_and_says_why(tmp_path, case):
    src = {"unset": None, "empty": "", "missing": tmp_path / "nowhere", "not-brain": tmp_path}.get(case)
    if case == "no-safe-mode":
        src = tmp_path / "brain"
        for f in ("backend/main.py", "backend/app/core/jwt_middleware.py", "backend/app/core/token_keys.py", "backend/app/modules/sovereign_mode/router.py"):
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            (src / f).write_text("")
    r = run(src)
    assert r.returncode == 2 and CASES[case] in r.stderr, r.stderr
    assert "building" not in r.stderr and not r.stdout
