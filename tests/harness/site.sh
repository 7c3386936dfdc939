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
prom() { podman exec site-monitor curl -fsS "http://127.0.0.1:9090$1"; }
ready=$(prom /-/ready)
# The first scrape of a new target comes within one scrape interval (30 s).
for _ in $(seq 1 40); do
  targets=$(prom /api/v1/targets | python3 -c 'import json,sys; print(", ".join(sorted(t["labels"]["job"] + "=" + t["health"] for t in json.load(sys.stdin)["data"]["activeTargets"])))')
  case $targets in '' | *unknown*) sleep 1 ;; *) break ;; esac
done
groups=$(prom /api/v1/rules | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["groups"]))')
cat <<MSG

== local site is up ==
backend     site-backend  http://$backend:8000   health: $health
  token     $BRAIN_OA_WORK/site/api-token (mode 0600)
  try       curl -s -H @<(printf 'Authorization: Bearer %s' "\$(cat $BRAIN_OA_WORK/site/api-token)") \\
                 http://$backend:8000/api/safe-mode/status
monitoring  site-monitor  Prometheus and Alertmanager on its loopback (127.0.0.1:9090, :9093)
  status    $ready; targets: $targets; $groups rule groups loaded
  try       . $BRAIN_OA_WORK/env.sh && podman exec site-monitor curl -s 'http://127.0.0.1:9090/api/v1/query?query=sovereign_override_active'
shell       . $BRAIN_OA_WORK/env.sh && podman exec -it site-monitor bash
remove      . $BRAIN_OA_WORK/env.sh && molecule destroy -s site
MSG
