#!/usr/bin/env bash
# Peer-benchmark setup: Debian libvirt + Terraform CLI + terraform-provider-libvirt,
# all built/installed from registries this machine reaches (Debian apt, Go module proxy).
# Idempotent: binaries are keyed by version and skipped when already built.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
source "$HERE/env.sh"

TF_VERSION="${TF_VERSION:-1.13.3}"
PROVIDER_VERSION="${PROVIDER_VERSION:-0.8.3}"

log() { printf '[setup] %s\n' "$*"; }

mkdir -p "$PEER_CACHE/bin" "$PEER_CACHE/build" "$PEER_CACHE/plugins" "$PEER_CACHE/tf-data"

# ---------------------------------------------------------------- apt packages
APT_PKGS=(libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu
          qemu-system-x86 dnsmasq-base iproute2 iptables util-linux
          xsltproc python3)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "apt-get install (--no-install-recommends): ${missing[*]}"
  # Never let package scripts start libvirtd/virtlogd on the host: deny service
  # starts via policy-rc.d for the duration of the install if none is present.
  added_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; added_policy=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  ((added_policy)) && rm -f /usr/sbin/policy-rc.d
else
  log "apt packages already installed: ${APT_PKGS[*]}"
fi
# Debian's libvirt-daemon-config-network ships a NAT'ed "default" network. We run
# libvirt with private state dirs (see libvirt.sh), so it is never defined there,
# but make sure it is not autostarted if someone runs the stock daemon.
rm -f /etc/libvirt/qemu/networks/autostart/default.xml

# --------------------------------------------------------- helper: module dir
moddir() { # module@version -> writable copy of the module source in build/
  local mod="$1" ver="$2" dst="$3" dir
  dir="$(cd /tmp && go mod download -json "$mod@$ver" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
  [[ -n "$dir" && -d "$dir" ]] || { echo "go mod download $mod@$ver failed" >&2; exit 1; }
  rm -rf "$dst"; cp -r "$dir" "$dst"; chmod -R u+w "$dst"
}

# ------------------------------------------------ terraform-provider-libvirt
PROV_BIN="$PEER_CACHE/bin/terraform-provider-libvirt_v$PROVIDER_VERSION"
if [[ -x "$PROV_BIN" ]]; then
  log "provider already built: $PROV_BIN"
else
  log "building github.com/dmacvicar/terraform-provider-libvirt@v$PROVIDER_VERSION (Go module proxy)"
  # `go install mod@ver` is refused (the proxy will not list the module's
  # versions for the deprecation check), so build inside a copy of the module.
  src="$PEER_CACHE/build/provider-src-$PROVIDER_VERSION"
  moddir github.com/dmacvicar/terraform-provider-libvirt "v$PROVIDER_VERSION" "$src"
  (cd "$src" && go build -trimpath -ldflags "-s -w -X main.version=$PROVIDER_VERSION" -o "$PROV_BIN.tmp" .)
  mv "$PROV_BIN.tmp" "$PROV_BIN"
fi
# Filesystem mirror layout (unpacked): HOST/NAMESPACE/TYPE/VERSION/OS_ARCH/terraform-provider-TYPE_vVERSION
PDIR="$PEER_CACHE/plugins/registry.terraform.io/dmacvicar/libvirt/$PROVIDER_VERSION/linux_amd64"
mkdir -p "$PDIR"
cp -f "$PROV_BIN" "$PDIR/terraform-provider-libvirt_v$PROVIDER_VERSION"

# ----------------------------------------------------------------- terraform
TF_BIN="$PEER_CACHE/bin/terraform_v$TF_VERSION"
if [[ -x "$TF_BIN" ]]; then
  log "terraform already built: $TF_BIN"
else
  log "building github.com/hashicorp/terraform@v$TF_VERSION (Go module proxy)"
  src="$PEER_CACHE/build/terraform-src-$TF_VERSION"
  moddir github.com/hashicorp/terraform "v$TF_VERSION" "$src"
  # Terraform's go.mod `replace`s the remote-state backends (azure, consul, cos,
  # gcs, kubernetes, oss, pg, s3, oci) and internal/legacy with nested modules
  # (./internal/...) that are NOT part of the published module zip, so neither
  # `go install` nor a plain build works. Those backends are only needed for
  # remote state; drop them from the backend registry and from go.mod. The
  # local backend (used here), http and inmem stay.
  gone='azure|consul|cos|gcs|kubernetes|oss|pg|s3|oci'
  sed -E -i "\#internal/backend/remote-state/($gone)\"#d; /backend(Azure|Consul|Cos|GCS|Kubernetes|OSS|Pg|S3|OCI)\.New/d" \
    "$src/internal/backend/init/init.go"
  sed -E -i "\#github.com/hashicorp/terraform/internal/(backend/remote-state/($gone)|legacy)( |$)#d" "$src/go.mod"
  if grep -qE "remote-state/($gone)|internal/legacy" "$src/go.mod" "$src/internal/backend/init/init.go"; then
    echo "patching terraform v$TF_VERSION failed" >&2; exit 1
  fi
  (cd "$src" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w -X github.com/hashicorp/terraform/version.dev=no" -o "$TF_BIN.tmp" .)
  mv "$TF_BIN.tmp" "$TF_BIN"
fi
ln -sf "$(basename "$TF_BIN")" "$PEER_CACHE/bin/terraform"

# ---------------------------------------------------------------- CLI config
cat > "$TF_CLI_CONFIG_FILE" <<EOF
# Generated by bench/peer/setup.sh: providers come only from the local mirror.
provider_installation {
  filesystem_mirror {
    path    = "$PEER_CACHE/plugins"
    include = ["registry.terraform.io/dmacvicar/libvirt"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
disable_checkpoint = true
EOF
log "wrote $TF_CLI_CONFIG_FILE"

# ------------------------------------------------------------------ versions
log "versions:"
# sed reads to the end: `head -1` could exit first and fail the pipeline (SIGPIPE under pipefail).
"$PEER_CACHE/bin/terraform" version | sed -n '1s/^/  /p'
echo "  terraform-provider-libvirt v$PROVIDER_VERSION ($PROV_BIN)"
echo "  $(libvirtd --version)"
echo "  $(qemu-system-x86_64 --version | sed -n 1p)"
echo "  $(go version)"
log "done. Next: bash $HERE/libvirt.sh start"
