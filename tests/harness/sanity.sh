#!/usr/bin/env bash
# ansible-test needs the collection at .../ansible_collections/brain/ops_assurance as a real
# directory: copy the files git would ship (tracked and untracked-not-ignored) and test there.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEST=$BRAIN_OA_WORK/sanity/ansible_collections/brain/ops_assurance
rm -rf "$DEST"
mkdir -p "$DEST"
(cd "$ROOT" && git ls-files -co --exclude-standard -z | rsync -a --from0 --files-from=- ./ "$DEST/")
cd "$DEST"
# --venv: each sanity test gets a venv with its own pinned requirements (cached after first use).
ansible-test sanity --venv --python 3.11 --color no "$@"
