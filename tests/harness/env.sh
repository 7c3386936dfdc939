# shellcheck shell=bash
# Source me (bash): the harness's tools from $BRAIN_OA_WORK/env.sh, and this checkout as the
# collection brain.ops_assurance. The collection path is keyed on the checkout's own directory, so
# two clones on one machine never load each other's code.
__brain_oa_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "${BRAIN_OA_WORK:-/var/tmp/brain-ops-assurance}/env.sh"
ANSIBLE_COLLECTIONS_PATH=$BRAIN_OA_WORK/checkouts/$(printf %s "$__brain_oa_root" | sha256sum | cut -c1-12)
mkdir -p "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/brain"
ln -sfn "$__brain_oa_root" "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/brain/ops_assurance"
export ANSIBLE_COLLECTIONS_PATH BRAIN_OA_CHECKOUT=$__brain_oa_root
unset __brain_oa_root
