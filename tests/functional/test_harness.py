"""The harness's bootstrap: which Debian mirror it finds in the host's apt sources, and its refusal to run unprivileged."""

import subprocess
from pathlib import Path

import pytest

BOOTSTRAP = Path(__file__).resolve().parents[1] / "harness" / "bootstrap.sh"


def mirror(apt_etc, archive):
    r = subprocess.run(
        ["bash", "-c", f'. "{BOOTSTRAP}" && mirror {archive}'],
        env={"APT_ETC": str(apt_etc), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return r.stdout.strip()


@pytest.mark.parametrize(
    ("files", "debian", "security"),
    [
        (
            {
                "sources.list.d/debian.sources": (
                    "Types: deb\nURIs: http://ftp.example.org/debian/\nSuites: bookworm\n\nTypes: deb\nURIs: http://sec.example.org/debian-security\n"
                )
            },
            "http://ftp.example.org/debian",
            "http://sec.example.org/debian-security",
        ),
        (
            {"sources.list": "# deb http://old.example.org/debian bookworm main\ndeb [signed-by=/k.gpg] https://m.example.org/debian bookworm main\n"},
            "https://m.example.org/debian",
            "",
        ),
        (
            {
                "sources.list.d/debian.sources": "Types: deb deb-src\nURIs: mirror+file:{etc}/mirrors/debian.list\nSuites: bookworm\n",
                "mirrors/debian.list": "https://cdn.example.org/debian\tpriority:1\nhttp://other.example.org/debian\n",
            },
            "https://cdn.example.org/debian",
            "",
        ),
        ({"sources.list.d/x.list": "deb http://deb.example.org/debian-security bookworm-security main\n"}, "", "http://deb.example.org/debian-security"),
        ({}, "", ""),
    ],
)
def test_mirror_formats(tmp_path, files, debian, security):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text.replace("{etc}", str(tmp_path)))
    assert (mirror(tmp_path, "debian"), mirror(tmp_path, "debian-security")) == (debian, security)


def test_bootstrap_refuses_to_run_unprivileged():
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bash", str(BOOTSTRAP)], capture_output=True, text=True, check=False)
    assert (r.returncode, r.stderr) == (1, "[bootstrap] run as root: it installs packages and runs containers\n")
