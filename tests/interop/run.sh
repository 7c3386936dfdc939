#!/usr/bin/env bash
# make interop BRAIN_SRC=<checkout>: the collection against the real BRAiN governance routers.
# BRAIN_SRC is a satoshiflow/BRAiN checkout or a `git archive` extraction (the directory holding
# backend/). Not part of `make test`: that code is not in this repository and has no licence to
# copy, so it is only read and run from where the user keeps it. Exit 2: BRAIN_SRC unset or not a
# BRAiN checkout; 3: a host tool is missing; otherwise pytest's exit code.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
say() { printf 'make interop: %s\n' "$*" >&2; }

if [[ -z ${BRAIN_SRC:-} ]]; then
  say "BRAIN_SRC is not set: point it at a satoshiflow/BRAiN checkout, e.g. make interop BRAIN_SRC=~/src/BRAiN"
  exit 2
fi
src=$(cd "$BRAIN_SRC" 2>/dev/null && pwd) || { say "BRAIN_SRC=$BRAIN_SRC is not a directory"; exit 2; }
# The files the check imports or reads; any missing means this is not (this layout of) BRAiN.
for f in backend/main.py backend/app/core/jwt_middleware.py backend/app/core/token_keys.py \
         backend/app/modules/sovereign_mode/router.py backend/app/modules/safe_mode/router.py \
         backend/app/modules/monitoring/router.py; do
  [[ -f $src/$f ]] || { say "BRAIN_SRC=$src is not a BRAiN checkout: $f is missing"; exit 2; }
done
commit=$(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null || echo "unknown (not a git checkout)")
say "BRAiN at $src, commit $commit"

for tool in prometheus promtool; do
  command -v "$tool" >/dev/null || { say "$tool is missing: apt-get install prometheus faketime"; exit 3; }
done
compgen -G '/usr/lib/*/faketime/libfaketime.so.1' >/dev/null || { say "libfaketime is missing: apt-get install prometheus faketime"; exit 3; }

# shellcheck disable=SC1091  # the harness environment, sourced from this checkout
. "$root/tests/harness/env.sh"
# Its own venv, named after the pinned requirements, complete only once the marker is written.
venv=$BRAIN_OA_WORK/interop-venv-$(sha256sum "$here/requirements.txt" | cut -c1-12)
if [[ ! -f $venv/.complete ]]; then
  say "building $venv"
  rm -rf "$venv"
  python3.11 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
  touch "$venv/.complete"
fi

export BRAIN_SRC=$src BRAIN_SRC_COMMIT=$commit BRAIN_OA_INTEROP_PYTHON=$venv/bin/python
cd "$root"
read -ra extra <<<"${PYTEST_ARGS:-}"  # e.g. PYTEST_ARGS="-k safe_mode -x"
exec pytest tests/interop -p no:cacheprovider -v -rA --durations=5 "${extra[@]}"
