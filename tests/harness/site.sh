#!/usr/bin/env bash
# The main job: bring up the local test hosts, run the reference backend on backend-1 and
# brain.ops_assurance.site over the example inventory (docs/examples/site), then check the result
# and say where to look. A second run converges the running hosts again (idempotent).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bash "$ROOT/tests/harness/bootstrap.sh"
. "$ROOT/tests/harness/env.sh"
cd "$ROOT"
molecule converge -s site

on() { local host=$1; shift; podman exec "$host" "$@"; }
prom() { on monitor-1 curl -fsS "http://127.0.0.1:9090$1"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
ready=$(prom /-/ready)
# A new target is first scraped within one scrape interval (30 s).
for _ in $(seq 1 40); do
  targets=$(prom /api/v1/targets | json '", ".join(sorted(t["labels"]["job"] + "=" + t["health"] for t in d["data"]["activeTargets"]))')
  case $targets in '' | *unknown*) sleep 1 ;; *) break ;; esac
done
groups=$(prom /api/v1/rules | json 'len(d["data"]["groups"])')
next_run=$(on evidence-1 systemctl show brain-evidence-export.timer -p NextElapseUSecRealtime --value)
verified=$(on evidence-1 brain-audit verify-log /var/lib/brain/evidence --public-key /etc/brain-evidence-export/signing-key.pub --color never | tail -n 1)
vault="--vault-password-file $BRAIN_OA_WORK/site/vault-password $BRAIN_OA_WORK/site/vault.yml"
cat <<MSG

== local site is up ==
inventory   docs/examples/site (hosts and group_vars), secrets: ansible-vault view $vault
backend-1   the reference backend, http://backend-1:8000 on the site's network
monitor-1   Prometheus on its loopback (127.0.0.1:9090): $ready
            targets: $targets
            $groups rule groups loaded; Alertmanager on 127.0.0.1:9093
  query     podman exec monitor-1 curl -s 'http://127.0.0.1:9090/api/v1/query?query=sovereign_override_active'
  runbooks  podman exec monitor-1 ls /usr/share/doc/brain-ops-assurance/runbooks
            podman cp monitor-1:/usr/share/doc/brain-ops-assurance/runbooks ./runbooks
evidence-1  export timer: next run $next_run
            first export: $verified (brain-audit verify-log, signatures checked)
drill       ansible-playbook brain.ops_assurance.tabletop_drill -i docs/examples/site -i $BRAIN_OA_WORK/site/podman.yml \\
              -e @$BRAIN_OA_WORK/site/vault.yml --vault-password-file $BRAIN_OA_WORK/site/vault-password
            (Tabletop 001, timed; the report lands in ./drill-reports)
podman      . tests/harness/env.sh first; remove the site with: molecule destroy -s site
MSG
