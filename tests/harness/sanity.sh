#!/usr/bin/env bash
# ansible-test sanity on every ansible-core of tests/sanity/legs.txt, one leg each: the tool venv's
# own (tests/requirements.txt), and the others from their own venvs made once with the Python they
# need (ansible-core 2.20 and later need 3.12; pyenv has it on these machines).
# Every leg runs even when one fails; the exit status is non-zero when any failed.
# Usage: sanity.sh [ansible-test sanity options...]     (SANITY_LEGS="2.21.5" picks legs)
# ansible-test runs one at a time machine-wide: flock /var/tmp/oa-ansible-test.lock make sanity
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DEST=$BRAIN_OA_WORK/sanity/ansible_collections/brain/ops_assurance

log() { printf '[sanity] %s\n' "$*" >&2; }

python_for() {  # an interpreter of that minor version: on PATH, else pyenv's newest
  local v=$1 py
  py=$(command -v "python$v" 2>/dev/null) && "$py" -c '' 2>/dev/null && { echo "$py"; return; }
  # pyenv's versions directory, also when pyenv itself is not on PATH (a CI shell with a bare PATH)
  local found=("${PYENV_ROOT:-$HOME/.pyenv}/versions/$v".*/bin/"python$v")
  for py in $(printf '%s\n' "${found[@]}" | sort -V -r); do
    [ -x "$py" ] && "$py" -c '' 2>/dev/null && { echo "$py"; return; }
  done
  log "no Python $v here (not on PATH, not in ${PYENV_ROOT:-$HOME/.pyenv}/versions): the ansible-core leg that needs it cannot run"
  return 1
}

leg_venv() {  # the venv of a leg, made once; the stamp is written only after pip succeeded
  # Called in a command substitution, where errexit does not hold: every step checks itself.
  local core=$1 py=$2 venv=$BRAIN_OA_WORK/venv-sanity-$1 python
  if [ ! -e "$venv/.complete" ]; then
    python=$(python_for "$py") || return 1
    log "create $venv (ansible-core $core, Python $py)"
    rm -rf "$venv"
    "$python" -m venv "$venv" || return 1
    "$venv/bin/pip" install -q --disable-pip-version-check "ansible-core==$core" || return 1
    touch "$venv/.complete"
  fi
  echo "$venv"
}

get_pip_cache() {  # $1: a venv's bin directory
  # ansible-test bootstraps pip into its sanity venvs with a get-pip script from a host we cannot
  # reach; it takes a cached copy first, so put our stand-in there under the version it asks for.
  local pip_version
  pip_version=$(grep -ohE "pip='[0-9.]+'" "$1"/../lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | tr -dc '0-9.')
  [ -n "$pip_version" ] || return 1
  install -D -m 0644 "$HERE/get_pip.py" "$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
}

run_leg() {  # $1: venv bin directory, $2: Python version, then ansible-test options
  # Called as `run_leg ... || failed=1`, where errexit does not hold: every step checks itself.
  local bin=$1 py=$2 core start rc=0
  shift 2
  if ! core=$("$bin/python" -c 'from ansible.release import __version__; print(__version__)') || ! get_pip_cache "$bin"; then
    RESULTS+=("$bin: FAIL (no ansible-core or ansible-test there)")
    return 1
  fi
  log "ansible-core $core on Python $py: ansible-test sanity"
  start=$SECONDS
  # The leg's bin first: ansible-test finds python$py there (its controller Python).
  (cd "$DEST" && PATH=$bin:$PATH "$bin/ansible-test" sanity --venv --python "$py" --color no "$@") || rc=$?
  RESULTS+=("ansible-core $core on Python $py: $([ $rc -eq 0 ] && echo PASS || echo "FAIL (exit $rc)") in $((SECONDS - start)) s")
  return $rc
}

# ansible-test needs the collection at .../ansible_collections/brain/ops_assurance as a real
# directory: copy the files git would ship (tracked and untracked-not-ignored, less deleted ones)
# and test there.
rm -rf "$DEST"
mkdir -p "$DEST"
(cd "$ROOT" && git ls-files -co --exclude-standard -z | rsync -a --from0 --ignore-missing-args --files-from=- ./ "$DEST/")

RESULTS=()
failed=0
tool_bin=$(dirname "$(command -v ansible-test)")
tool_core=$("$tool_bin/python" -c 'from ansible.release import __version__; print(__version__)')
mapfile -t legs < <(grep -v '^#' "$ROOT/tests/sanity/legs.txt")
for leg in "${legs[@]}"; do
  read -r core py <<<"$leg"
  [ -n "${SANITY_LEGS:-}" ] && [[ " $SANITY_LEGS " != *" $core "* ]] && continue
  if [ "$core" = "$tool_core" ]; then
    run_leg "$tool_bin" "$py" "$@" || failed=1
  else
    venv=$(leg_venv "$core" "$py") || { RESULTS+=("ansible-core $core on Python $py: FAIL (no venv)"); failed=1; continue; }
    run_leg "$venv/bin" "$py" "$@" || failed=1
  fi
done
[ ${#RESULTS[@]} -gt 0 ] || { log "no leg matches SANITY_LEGS='${SANITY_LEGS:-}'"; exit 2; }
printf '[sanity] %s\n' "${RESULTS[@]}" >&2
exit $failed
