"""Shared by every tier (unit, functional, interop): the collection importable as
ansible_collections.brain.ops_assurance, from the path the harness links to this checkout."""

import os
import sys

for path in reversed(os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep)):
    if path and path not in sys.path:
        sys.path.insert(0, path)
