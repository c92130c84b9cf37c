#!/usr/bin/env bash
# Builds the Terraform CLI from Go modules (the module proxy is what this
# machine reaches; there is no release download) into
# .cache/terraform/<version>/terraform, under a flock because .cache is shared
# by every checkout on the machine. Prints the binary's path. Idempotent.
# The same recipe as bench/peer/setup.sh (which the peer benchmark uses).
set -euo pipefail
_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TF_VERSION="${TF_VERSION:-1.13.3}"
_dir="$_root/.cache/terraform/$TF_VERSION"
_bin="$_dir/terraform"
mkdir -p "$_dir"
exec 9>"$_dir.lock"
flock 9
if [ ! -x "$_bin" ]; then
  command -v go >/dev/null || { echo "build-terraform: Go is needed to build Terraform $TF_VERSION (install golang, or put go on PATH)" >&2; exit 1; }
  printf '[build-terraform] building github.com/hashicorp/terraform@v%s (Go module proxy)\n' "$TF_VERSION" >&2
  _mod=$(cd /tmp && go mod download -json "github.com/hashicorp/terraform@v$TF_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
  [ -n "$_mod" ] && [ -d "$_mod" ] || { echo "build-terraform: go mod download github.com/hashicorp/terraform@v$TF_VERSION failed" >&2; exit 1; }
  _src="$_dir/src"
  rm -rf "$_src"; cp -r "$_mod" "$_src"; chmod -R u+w "$_src"
  # go.mod `replace`s the remote-state backends and internal/legacy with nested
  # modules that the published module zip lacks: drop them (the local backend stays).
  gone='azure|consul|cos|gcs|kubernetes|oss|pg|s3|oci'
  sed -E -i "\#internal/backend/remote-state/($gone)\"#d; /backend(Azure|Consul|Cos|GCS|Kubernetes|OSS|Pg|S3|OCI)\.New/d" "$_src/internal/backend/init/init.go"
  sed -E -i "\#github.com/hashicorp/terraform/internal/(backend/remote-state/($gone)|legacy)( |$)#d" "$_src/go.mod"
  if grep -qE "remote-state/($gone)|internal/legacy" "$_src/go.mod" "$_src/internal/backend/init/init.go"; then
    echo "build-terraform: patching terraform v$TF_VERSION failed" >&2; exit 1
  fi
  (cd "$_src" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w -X github.com/hashicorp/terraform/version.dev=no" -o "$_bin.tmp" .)
  mv "$_bin.tmp" "$_bin"
  rm -rf "$_src"
fi
echo "$_bin"
