#!/usr/bin/env bash
# Run a command with the release tools (tests/requirements-release.txt: galaxy-importer,
# antsibull-changelog) first on PATH, from their own venv, made once per requirements digest:
#   tests/harness/release_tools.sh antsibull-changelog release --version 0.2.0 --date YYYY-MM-DD --reload-plugins
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REQ=$HERE/../requirements-release.txt
VENV=${BRAIN_OA_WORK:-/var/tmp/brain-ops-assurance}/venv-release-$(sha256sum "$REQ" | cut -c1-12)
mkdir -p "$(dirname "$VENV")"
(
  # Two checkouts may ask at once; the stamp is written only after pip succeeded.
  flock 9
  if [ ! -e "$VENV/.complete" ]; then
    printf '[release-tools] create %s\n' "$VENV" >&2
    rm -rf "$VENV"
    "${PYTHON:-python3}" -m venv "$VENV"
    # pip's own warnings would read as the wrapped command's (build.sh fails on WARNING lines).
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ" >"$VENV.log" 2>&1 ||
      { cat "$VENV.log" >&2; exit 1; }
    touch "$VENV/.complete"
  fi
) 9>"$VENV.lock"
export VIRTUAL_ENV=$VENV PATH=$VENV/bin:$PATH
exec "$@"
