#!/usr/bin/env bash
# The main job: bring up the local test hosts, run the reference backend on backend-1 (the
# contract) and backend-2 (real BRAiN main's profile), and brain.ops_assurance.site over the example
# inventory (docs/examples/site), then check the result and say where to look. A second run
# converges the running hosts again (idempotent).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bash "$ROOT/tests/harness/bootstrap.sh"
. "$ROOT/tests/harness/env.sh"
cd "$ROOT"
# Hosts removed behind this checkout's back (another checkout's `molecule test -s site`) leave
# Molecule's state saying they exist, and converge would fail on them: start afresh then.
for host in $(python3 -c 'import sys, yaml; print(*(p["name"] for p in yaml.safe_load(open(sys.argv[1]))["platforms"]))' molecule/site/molecule.yml); do
  podman container exists "$host" || { molecule destroy -s site; break; }
done
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
dialects=$(prom /api/v1/targets | json '", ".join(sorted({t["labels"]["instance"] + ": " + t["labels"]["dialect"] for t in d["data"]["activeTargets"] if t["labels"]["job"].startswith("brain-") and t["labels"]["instance"].endswith(":8000")}))')
groups=$(prom /api/v1/rules | json 'len(d["data"]["groups"])')
next_run=$(on evidence-1 systemctl show brain-evidence-export.timer -p NextElapseUSecRealtime --value)
verify() { on "$1" brain-audit verify-log /var/lib/brain/evidence --public-key /etc/brain-evidence-export/signing-key.pub --color never | tail -n 1; }
verified=$(verify evidence-1)
verified_main=$(verify backend-2)
vault="--vault-password-file $BRAIN_OA_WORK/site/vault-password $BRAIN_OA_WORK/site/vault.yml"
cat <<MSG

== local site is up ==
inventory   docs/examples/site (hosts and group_vars), secrets: ansible-vault view $vault
backend-1   the reference backend in this collection's contract, http://backend-1:8000 on the site's network
backend-2   the reference backend as real BRAiN main (brain_main profile), http://backend-2:8000;
            its admin token is vault_backend_2_api_token (made at the first converge, valid 7 days)
            evidence of its own audit file: $verified_main
monitor-1   Prometheus on its loopback (127.0.0.1:9090): $ready
            targets: $targets
            dialects found by backend_info: $dialects
            $groups rule groups loaded; Alertmanager on 127.0.0.1:9093
  query     podman exec monitor-1 curl -s 'http://127.0.0.1:9090/api/v1/query?query=sovereign_override_active'
  runbooks  podman exec monitor-1 ls /usr/share/doc/brain-ops-assurance/runbooks
            podman cp monitor-1:/usr/share/doc/brain-ops-assurance/runbooks ./runbooks
evidence-1  export timer: next run $next_run
            first export: $verified (brain-audit verify-log, signatures checked)
drill       ansible-playbook brain.ops_assurance.tabletop_drill -i docs/examples/site -i $BRAIN_OA_WORK/site/podman.yml \\
              -e @$BRAIN_OA_WORK/site/vault.yml --vault-password-file $BRAIN_OA_WORK/site/vault-password
            (Tabletop 001, timed; the report lands in ./drill-reports; -e drill_backend=backend-2 for main)
podman      . tests/harness/env.sh first; remove the site with: molecule destroy -s site
MSG
