"""Make the collection importable as ansible_collections.brain.ops_assurance (the harness links it there)."""

import os
import sys

for path in reversed(os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep)):
    if path and path not in sys.path:
        sys.path.insert(0, path)
