#!/usr/bin/env bash
# The main job: bring up the local test hosts, deploy onto them, and say how to reach them.
# A second run converges the running hosts again (idempotent).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bash "$ROOT/tests/harness/bootstrap.sh"
. "${BRAIN_OA_WORK:-/var/tmp/brain-ops-assurance}/env.sh"
mkdir -p "$BRAIN_OA_WORK/site"
cd "$ROOT"
molecule converge -s site

addr() { podman inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }
backend=$(addr site-backend)
health=$(curl -fsS "http://$backend:8000/metrics/health")
last_seq=$(curl -fsS "http://$backend:8000/metrics" | awk '$1 == "brain_audit_last_seq" {print $2}')
cat <<MSG

== local site is up ==
backend   site-backend  http://$backend:8000   health: $health, audit log at seq $last_seq
  token   $BRAIN_OA_WORK/site/api-token (mode 0600)
  try     curl -s http://$backend:8000/api/sovereign-mode/metrics
          curl -s -H @<(printf 'Authorization: Bearer %s' "\$(cat $BRAIN_OA_WORK/site/api-token)") \\
               http://$backend:8000/api/safe-mode/status
shell     . $BRAIN_OA_WORK/env.sh && podman exec -it site-backend bash
remove    . $BRAIN_OA_WORK/env.sh && molecule destroy -s site
MSG
