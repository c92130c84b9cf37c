#!/usr/bin/env bash
# Run the locally built terraform on bench/peer/lab with everything wired up:
# CLI config (local provider mirror only), the private libvirtd URI, and the
# tiny guest's kernel/initrd/cmdline. The working dir (.terraform, lock file,
# state) is .cache/peer/work, a copy of lab/*.tf, so the repo stays clean.
#   bash bench/peer/tf.sh init
#   bash bench/peer/tf.sh apply -auto-approve -var vm_count=10
#   bash bench/peer/tf.sh destroy -auto-approve
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
source "$HERE/env.sh"

[[ -x "$PEER_CACHE/bin/terraform" ]] || { echo "terraform not built: run bench/peer/setup.sh" >&2; exit 1; }
GUEST="${GUEST_DIR:-$PEER_REPO/.cache/guest/tiny}"
if [[ ! -f "$GUEST/manifest.json" ]]; then
  echo "[tf] tiny guest missing: building it (scripts/build-tiny-guest.sh)" >&2
  bash "$PEER_REPO/scripts/build-tiny-guest.sh" >&2
fi
mf() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$GUEST/manifest.json" "$1"; }

W="$PEER_CACHE/work"
mkdir -p "$W"
rm -f "$W"/*.tf
cp "$HERE"/lab/*.tf "$W"/
# The provider is built here, so its checksum changes with every rebuild: init
# always starts from no lock file rather than refusing the new binary.
[[ "${1:-}" == init ]] && rm -rf "$W/.terraform" "$W/.terraform.lock.hcl"

export TF_VAR_libvirt_uri="${TF_VAR_libvirt_uri:-$LIBVIRT_DEFAULT_URI}"
export TF_VAR_kernel="${TF_VAR_kernel:-$GUEST/$(mf kernel)}"
export TF_VAR_initrd="${TF_VAR_initrd:-$GUEST/$(mf initrd)}"
export TF_VAR_cmdline="${TF_VAR_cmdline:-$(mf cmdline)}"

exec terraform -chdir="$W" "$@"
