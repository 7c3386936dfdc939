"""The collection's roles and their argument specs. A public role has a `main` entry point; the
private role `internal` has only the entry points its task files give the other roles."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SPECS = {
    p.name: yaml.safe_load((p / "meta/argument_specs.yml").read_text())["argument_specs"]
    for p in sorted((ROOT / "roles").iterdir())
    if (p / "meta/argument_specs.yml").exists()
}
PUBLIC_ROLES = sorted(role for role, spec in SPECS.items() if "main" in spec)
PRIVATE_ROLES = ["internal"]
