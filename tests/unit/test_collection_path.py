"""The collection that the tests, ansible-doc and ansible-playbook load is this checkout, never another clone's."""

import os
from pathlib import Path

import ansible_collections.brain.ops_assurance as collection

ROOT = Path(__file__).resolve().parents[2]


def test_the_imported_collection_is_this_checkout():
    assert [Path(p).resolve() for p in collection.__path__] == [ROOT]


def test_every_collection_path_entry_holding_the_collection_points_here():
    entries = [Path(p) / "ansible_collections/brain/ops_assurance" for p in os.environ["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep) if p]
    found = [e.resolve() for e in entries if e.exists()]
    assert found == [ROOT]
