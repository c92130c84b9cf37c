# Sourced by the bench/peer scripts (and by you: `source bench/peer/env.sh`).
PEER_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PEER_CACHE="${PEER_CACHE:-$PEER_REPO/.cache/peer}"
export PEER_NETNS="${PEER_NETNS:-pkvm-peer}"
# Private libvirt state, bind-mounted over /etc/libvirt, /var/lib/libvirt, ...
# inside the daemon's mount namespace (see libvirt.sh).
export PEER_STATE="$PEER_CACHE/libvirt"
export PEER_SOCK="$PEER_STATE/run/libvirt-sock"
export LIBVIRT_DEFAULT_URI="qemu+unix:///system?socket=$PEER_SOCK"
export TF_CLI_CONFIG_FILE="$PEER_CACHE/terraformrc"
export TF_PLUGIN_CACHE_DIR=""
export TF_IN_AUTOMATION=1
export CHECKPOINT_DISABLE=1
export PATH="$PEER_CACHE/bin:$PATH"
