# shellcheck shell=bash
# Source me (bash): podman's configuration from $BRAIN_OA_WORK/env.sh (shared by every checkout), and
# this checkout's own tool venv (named by a digest of its tests/requirements.txt) and collection
# path (named by a digest of its directory), so two clones on one machine never use each other's
# code or tools.
__brain_oa_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "${BRAIN_OA_WORK:-/var/tmp/brain-ops-assurance}/env.sh"
VIRTUAL_ENV=$BRAIN_OA_WORK/venv-$(sha256sum "$__brain_oa_root/tests/requirements.txt" | cut -c1-12)
[ -e "$VIRTUAL_ENV/.complete" ] || echo "tests/harness/env.sh: no complete venv for this checkout's tests/requirements.txt: run tests/harness/bootstrap.sh" >&2
PATH=$VIRTUAL_ENV/bin:$PATH
ANSIBLE_COLLECTIONS_PATH=$BRAIN_OA_WORK/checkouts/$(printf %s "$__brain_oa_root" | sha256sum | cut -c1-12)
mkdir -p "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/brain"
ln -sfn "$__brain_oa_root" "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/brain/ops_assurance"
# The test hosts' connection (podman with pipelining), named by $BRAIN_OA_WORK/site/podman.yml.
ANSIBLE_CONNECTION_PLUGINS=$__brain_oa_root/tests/harness/connection_plugins
export VIRTUAL_ENV PATH ANSIBLE_COLLECTIONS_PATH ANSIBLE_CONNECTION_PLUGINS BRAIN_OA_CHECKOUT=$__brain_oa_root
unset __brain_oa_root
