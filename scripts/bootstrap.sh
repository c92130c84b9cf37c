#!/usr/bin/env bash
# Installs what this project needs on a fresh machine, idempotently and
# quickly when everything is already there:
#   apt packages (QEMU, qemu-img, OpenSSH, busybox, ...), Node 24 from the npm
#   registry, npm dependencies (native addons built against Node 24), the
#   TypeScript build, the packed package in node_modules, the test guests (tiny
#   ones, boot ISOs and a Debian cloud image), and the Pulumi CLI built from Go modules.
# Source it (`. scripts/bootstrap.sh`) to get Node 24 and Pulumi on PATH.
set -euo pipefail
_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_log() { printf '[bootstrap] %s\n' "$*" >&2; }

# 1. Debian packages: the one list (scripts/debian-packages), which .ci/run installs too.
mapfile -t _apt < <(grep -v '^#' "$_root/scripts/debian-packages" | grep -v '^$')
_missing=()
for p in "${_apt[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || _missing+=("$p")
done
if [ ${#_missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    _log "missing Debian packages: ${_missing[*]} (run as root, or: sudo apt-get install ${_missing[*]})"
    exit 1
  fi
  _log "installing ${_missing[*]}"
  apt-get update -qq -o Acquire::Retries=5
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Acquire::Retries=5 --no-install-recommends "${_missing[@]}" >/dev/null
fi

# hostd runs each VM's QEMU as an unprivileged user of its own, which opens its
# tap through /dev/net/tun: Debian makes it 0666, some containers (ours) 0600.
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ] && [ "$(id -u)" = 0 ]; then
  _log "chmod 0666 /dev/net/tun (Debian's default; unprivileged QEMU opens its tap through it)"
  chmod 0666 /dev/net/tun
fi

# 2. Node 24 (the machine's Node 20 is too old for @pulumi/pulumi).
_nodebin=$("$_root/scripts/setup-node.sh")
export PATH="$_nodebin:$PATH"

# 3. npm dependencies, native addons against Node 24's headers.
_stamp="$_root/node_modules/.pulumi-kvm-installed"
if [ ! -f "$_stamp" ] || [ "$_root/package-lock.json" -nt "$_stamp" ] || [ "$_root/package.json" -nt "$_stamp" ]; then
  _log "npm ci"
  (cd "$_root" && npm ci --no-audit --no-fund --nodedir="$(dirname "$_nodebin")" >/dev/null)
  touch "$_stamp"
fi

# 4. Build and install the package into node_modules as users get it.
_log "build (tsc, native peer-credential module)"
(cd "$_root" && npm run --silent build)
chmod +x "$_root/dist/hostd/cli.js"
"$_root/scripts/install-self.sh"

# 5. The test guests: a tiny one (Debian cloud kernel + busybox initramfs), the
#    same on Debian's generic kernel (drivers for emulated sata and e1000e), two
#    GRUB rescue ISOs (BIOS + UEFI) and a Debian 12 cloud image (debootstrap,
#    cloud-init, guest agent, BIOS + UEFI boot).
"$_root/scripts/build-tiny-guest.sh" >&2
"$_root/scripts/build-tiny-guest.sh" --flavour=generic >&2
"$_root/scripts/build-boot-iso.sh" >&2
# One retry: the build downloads ~200 packages, and the mirror can fail once.
"$_root/scripts/build-debian-image.sh" >&2 || "$_root/scripts/build-debian-image.sh" >&2

# 6. The Pulumi CLI at the version of our @pulumi/pulumi.
_pulumi_version=$(node -p 'require(process.argv[1]).version' "$_root/node_modules/@pulumi/pulumi/package.json")
"$_root/scripts/build-pulumi.sh" "$_pulumi_version" >&2
export PATH="$_root/.cache/pulumi/$_pulumi_version/bin:$PATH"
# 7. The Terraform CLI (for terraform-provider-kvm's tests), built from Go modules.
_tf=$("$_root/scripts/build-terraform.sh")
export PATH="$(dirname "$_tf"):$PATH"
# 8. The OpenTofu CLI (terraform-provider-kvm under OpenTofu), built the same way.
_tofu=$("$_root/scripts/build-opentofu.sh")
export PATH="$(dirname "$_tofu"):$PATH"
_log "ready: node $(node --version), pulumi $(pulumi version), $(terraform version | sed -n 1p), $(tofu version | sed -n 1p)"
