#!/usr/bin/env bash
# Runs `molecule test` for each scenario given, two at a time (BRAIN_OA_MOLECULE_JOBS), in the order
# given (longest first keeps both lanes busy). Scenarios share nothing but the host image: each has
# its own containers, podman network and ephemeral directory, and much of a scenario's time is
# spent waiting (alerts' `for`, drills, timers), which the other lane fills. Each output line
# carries its scenario's name; a table of results and durations closes the run. Exits non-zero
# when any scenario failed.
set -uo pipefail
if [ "${1:-}" = --one ]; then  # one scenario: $2, its result line appended to $3
  start=$SECONDS
  molecule test -s "$2" 2>&1 | sed -u "s/^/[$2] /"
  rc=${PIPESTATUS[0]}
  printf '%s %s %s\n' "$2" "$rc" "$((SECONDS - start))" >>"$3"
  exit "$rc"
fi
[ $# -gt 0 ] || { echo "usage: $0 SCENARIO..." >&2; exit 2; }
results=$(mktemp)
trap 'rm -f "$results"' EXIT
printf '%s\n' "$@" | xargs -P "${BRAIN_OA_MOLECULE_JOBS:-2}" -I{} "$0" --one {} "$results"
status=$?
echo "== molecule: scenario, exit code, seconds =="
awk '{ printf "%-20s %3s %6s\n", $1, $2, $3 }' "$results"
exit "$status"
