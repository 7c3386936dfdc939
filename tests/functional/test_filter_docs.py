"""ansible-doc documents every filter the collection exports as itself: several filters share one
Python file, and a DOCUMENTATION there would be shown for all of them."""

import importlib
import inspect
import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILTERS = {
    name: function
    for path in sorted((ROOT / "plugins/filter").glob("[!_]*.py"))
    for name, function in importlib.import_module(f"ansible_collections.brain.ops_assurance.plugins.filter.{path.stem}").FilterModule().filters().items()
}


@pytest.fixture(scope="module")
def docs():
    """Every filter's doc from one ansible-doc run, by filter name."""
    r = subprocess.run(
        ["ansible-doc", "-t", "filter", "--json", *(f"brain.ops_assurance.{name}" for name in FILTERS)], capture_output=True, text=True, check=False
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    return {fqcn.removeprefix("brain.ops_assurance."): entry for fqcn, entry in json.loads(r.stdout).items()}


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_each_filter_has_its_own_doc(docs, name):
    doc = docs[name]["doc"]
    assert doc["name"] == name
    others = {docs[other]["doc"]["short_description"] for other in FILTERS if other != name}
    assert doc["short_description"] not in others
    assert doc["version_added"]
    assert docs[name]["examples"].strip() and "_value" in docs[name]["return"]


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_the_doc_lists_the_filters_arguments(docs, name):
    """_input is the filtered value, every other option an argument of the function, required
    exactly when it has no default."""
    _filtered, *rest = inspect.signature(FILTERS[name]).parameters.values()
    options = docs[name]["doc"]["options"]
    assert set(options) == {"_input", *(p.name for p in rest)}
    required = {"_input", *(p.name for p in rest if p.default is inspect.Parameter.empty)}
    assert {option for option, spec in options.items() if spec.get("required")} == required
