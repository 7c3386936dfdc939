#!/usr/bin/env bash
# Build the collection as a maintainer publishes it and import the tarball with galaxy-importer,
# the check Galaxy and Automation Hub run on upload (tests/harness/galaxy-importer.cfg).
# Any ERROR or WARNING line in the import log fails, as does a non-zero exit.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
ansible-galaxy collection build "$ROOT" --output-path "$OUT" >/dev/null
tarball=$(echo "$OUT"/brain-ops_assurance-*.tar.gz)
rc=0
# A HOME of its own: ansible-lint (run by the importer) puts ~/.ansible/collections first on the
# collections path, where an installed copy of this collection would be linted instead of the tarball.
mkdir "$OUT/home"
(cd "$OUT" && HOME=$OUT/home GALAXY_IMPORTER_CONFIG=$HERE/galaxy-importer.cfg "$HERE/release_tools.sh" \
  python -m galaxy_importer.main "$tarball") >"$OUT/import.log" 2>&1 || rc=$?
cat "$OUT/import.log"
findings=$(grep -cE '^(WARNING|ERROR|CRITICAL):' "$OUT/import.log" || true)
if [ "$rc" -ne 0 ] || [ "$findings" -ne 0 ]; then
  printf '[build] galaxy-importer on %s: FAIL (exit %s, %s error or warning lines)\n' "${tarball##*/}" "$rc" "$findings" >&2
  exit 1
fi
printf '[build] galaxy-importer on %s: PASS (exit 0, no error or warning lines)\n' "${tarball##*/}" >&2
