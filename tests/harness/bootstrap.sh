#!/usr/bin/env bash
# Prepare this machine for the test suite and the local site deploy, from scratch and idempotently:
#   host packages (podman + runc, debootstrap, promtool/amtool, victoria-metrics), podman
#   configuration kept in $BRAIN_OA_WORK (never /etc), a Debian 12 image that boots systemd as
#   PID 1, and the tool venv.
# Writes $BRAIN_OA_WORK/env.sh, shared by every checkout; source tests/harness/env.sh to use podman,
# molecule and ansible-* from the venv with this checkout as the collection.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=${BRAIN_OA_WORK:-/var/tmp/brain-ops-assurance}
VENV=$WORK/venv-$(sha256sum "$ROOT/tests/requirements.txt" | cut -c1-12)

log() { printf '[bootstrap] %s\n' "$*" >&2; }

host_packages() {
  local pkgs=(podman runc conmon netavark aardvark-dns containernetworking-plugins slirp4netns
    uidmap iptables debootstrap python3-venv curl ca-certificates git rsync make
    prometheus prometheus-alertmanager victoria-metrics systemd shellcheck openssl faketime)
  local missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "apt install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # promtool and amtool are all the host needs from the Prometheus packages, and the prometheus and
  # victoria-metrics binaries (the functional tests start them): their services must not run here.
  # policy-rc.d stops the packages from starting them (an existing one is left as it is), and the
  # units this run installed are disabled afterwards, systemd running or not.
  local policy=/usr/sbin/policy-rc.d made_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && made_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || { [ -z "$made_policy" ] || rm -f "$policy"; return 1; }
  [ -z "$made_policy" ] || rm -f "$policy"
  local p unit
  for p in "${missing[@]}"; do
    case $p in prometheus | prometheus-alertmanager | victoria-metrics) ;; *) continue ;; esac
    for unit in $(dpkg-query -L "$p" | grep -E '^/lib/systemd/system/[^/]+\.service$' | xargs -rn1 basename); do
      systemctl disable --now --quiet "$unit" 2>/dev/null || systemctl disable --quiet "$unit" 2>/dev/null || true
    done
  done
}

podman_config() {
  mkdir -p "$WORK/cstore/tmp" "$WORK/cstore/networks"
  cat >"$WORK/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$WORK/cstore/graph"
runroot = "$WORK/cstore/run"
CONF
  # No CAP_SYS_RESOURCE here: podman's default ulimits would fail; crun rejects the hybrid
  # cgroup layout, runc with cgroupfs works.
  local nofile
  nofile=$(ulimit -Hn)
  cat >"$WORK/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$WORK/cstore/tmp"
[network]
network_config_dir = "$WORK/cstore/networks"
CONF
  cat >"$WORK/env.sh" <<CONF
export BRAIN_OA_WORK=$WORK
export BRAIN_OA_IMAGE=$IMAGE
export CONTAINERS_STORAGE_CONF=$WORK/storage.conf
export CONTAINERS_CONF=$WORK/containers.conf
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0
CONF
}

# The URIs of the host's apt sources: deb822 "URIs:" fields and one-line "deb [options] URI ..."
# entries; a mirror+file: URI (cloud images) names a file of mirrors, whose first one is used.
apt_uris() {
  local etc=${APT_ETC:-/etc/apt} uri
  {
    cat "$etc"/sources.list.d/*.sources 2>/dev/null | awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }'
    cat "$etc"/sources.list "$etc"/sources.list.d/*.list 2>/dev/null | sed -E 's/#.*//; s/\[[^]]*\]//' | awk '$1 == "deb" { print $2 }'
  } | while read -r uri; do
    case $uri in mirror+file:*) grep -m1 -oE '^[a-z]+://[^[:space:]]+' "${uri#mirror+file:}" 2>/dev/null || true ;; *) echo "$uri" ;; esac
  done
}

mirror() {  # the host's own mirror of the archive $1 (debian, debian-security)
  local uri
  for uri in $(apt_uris); do
    case ${uri%/} in *://*/"$1") echo "${uri%/}"; return ;; esac
  done
}

build_image() {
  if podman image exists "$IMAGE"; then return; fi
  local m s r=$WORK/rootfs
  m=${MIRROR:-$(mirror debian)}
  s=${SECURITY_MIRROR:-$(mirror debian-security)}
  : "${m:?no Debian mirror in the host apt sources; set MIRROR}"
  log "debootstrap Debian 12 with systemd from $m"
  rm -rf "$r"
  debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,iproute2,procps,ca-certificates,curl,less \
    bookworm "$r" "$m" >"$WORK/debootstrap.log"
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
    "$m" "$m" "${s:-$m}" >"$r/etc/apt/sources.list"
  : >"$r/etc/machine-id"
  rm -f "$r/var/lib/dbus/machine-id"
  # apt-daily timers fight converge for the dpkg lock; getty only slows boot.
  rm -f "$r"/etc/systemd/system/timers.target.wants/apt-daily*.timer \
    "$r"/etc/systemd/system/getty.target.wants/getty@tty1.service
  chroot "$r" apt-get clean
  rm -rf "$r"/var/lib/apt/lists/*
  # An empty lists dir with a fresh mtime makes apt's cache_valid_time skip the first update.
  touch -d @0 "$r/var/lib/apt/lists"
  tar -C "$r" -c . | podman import -q --change 'CMD ["/sbin/init"]' \
    --change 'ENV container=podman' --change 'STOPSIGNAL SIGRTMIN+3' - "$IMAGE" >/dev/null
  rm -rf "$r"
  # Older recipes' images only take space.
  podman images --format '{{.Repository}}:{{.Tag}}' |
    grep '^localhost/brain-oa-debian-systemd:' | grep -vx "$IMAGE" | xargs -r podman rmi -f >/dev/null || true
}

smoke_test() {
  local name=brain-oa-smoke state=
  podman rm -f "$name" >/dev/null 2>&1 || true
  podman run -d --name "$name" --systemd=always --cap-add SYS_ADMIN "$IMAGE" /sbin/init >/dev/null
  for _ in $(seq 1 150); do
    state=$(podman exec "$name" systemctl is-system-running 2>/dev/null || true)
    case $state in running | degraded) break ;; esac
    sleep 0.2
  done
  podman rm -f "$name" >/dev/null
  case $state in
    running | degraded) log "image $IMAGE boots systemd ($state)" ;;
    *) log "image $IMAGE did not boot systemd (state: '${state:-none}')"; exit 1 ;;
  esac
}

tool_venv() {
  # The stamp is written last: a venv whose pip died half-way is rebuilt, not taken as ready.
  if [ ! -e "$VENV/.complete" ]; then
    log "create tool venv $VENV"
    rm -rf "$VENV"
    "${PYTHON:-python3}" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/tests/requirements.txt"
    touch "$VENV/.complete"
  fi
}

# The local site's secrets, in Ansible Vault as docs/examples/site tells users to keep theirs:
# random tokens (never in the repo), the vault password beside them (the harness is the operator);
# and an inventory overlay that reaches the example inventory's hosts as local containers.
site_files() {
  local dir=$WORK/site
  mkdir -p "$dir" && chmod 0700 "$dir"
  printf '%s\n' '# The example inventory hosts are local containers: -i docs/examples/site -i <this file>' \
    'all:' '  vars:' '    ansible_connection: podman_pipelined  # tests/harness/connection_plugins, found through env.sh' \
    '    ansible_pipelining: true' '    ansible_python_interpreter: /usr/bin/python3' >"$dir/podman.yml"
  [ -s "$dir/vault.yml" ] && return
  log "generate the local site's tokens in $dir/vault.yml"
  (
    umask 077
    token() { "$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))'; }
    token > "$dir/vault-password"
    printf 'vault_brain_api_token: %s\nvault_brain_read_token: %s\n' "$(token)" "$(token)" |
      "$VENV/bin/ansible-vault" encrypt --vault-password-file "$dir/vault-password" --output "$dir/vault.yml.tmp" -
    mv "$dir/vault.yml.tmp" "$dir/vault.yml"
  )
}

# Sourced (by the tests), only the functions above.
if [ "${BASH_SOURCE[0]}" != "$0" ]; then return 0; fi
if [ "$(id -u)" -ne 0 ]; then
  log "run as root: it installs packages and runs containers"
  exit 1
fi
# The image tag carries a digest of the build recipe, so a changed recipe builds a new image.
IMAGE=localhost/brain-oa-debian-systemd:12-$(declare -f build_image | sha256sum | cut -c1-12)
mkdir -p "$WORK"
host_packages
podman_config
. "$WORK/env.sh"
build_image
smoke_test
tool_venv
site_files
log "ready: . tests/harness/env.sh"
