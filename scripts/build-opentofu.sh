#!/usr/bin/env bash
# Builds the OpenTofu CLI from Go modules (the module proxy is what this
# machine reaches; there is no release download) into
# .cache/opentofu/<version>/tofu, under a flock because .cache is shared by
# every checkout on the machine. Prints the binary's path. Idempotent.
# The same recipe as scripts/build-terraform.sh; test/terraform-e2e.test.ts
# runs terraform-provider-kvm under it as well.
set -euo pipefail
_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOFU_VERSION="${TOFU_VERSION:-1.10.10}"
_dir="$_root/.cache/opentofu/$TOFU_VERSION"
_bin="$_dir/tofu"
mkdir -p "$_dir"
exec 9>"$_dir.lock"
flock 9
if [ ! -x "$_bin" ]; then
  command -v go >/dev/null || { echo "build-opentofu: Go is needed to build OpenTofu $TOFU_VERSION (install golang, or put go on PATH)" >&2; exit 1; }
  printf '[build-opentofu] building github.com/opentofu/opentofu@v%s (Go module proxy)\n' "$TOFU_VERSION" >&2
  _mod=$(cd /tmp && go mod download -json "github.com/opentofu/opentofu@v$TOFU_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
  [ -n "$_mod" ] && [ -d "$_mod" ] || { echo "build-opentofu: go mod download github.com/opentofu/opentofu@v$TOFU_VERSION failed" >&2; exit 1; }
  _src="$_dir/src"
  rm -rf "$_src"; cp -r "$_mod" "$_src"; chmod -R u+w "$_src"
  (cd "$_src" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" -o "$_bin.tmp" ./cmd/tofu)
  mv "$_bin.tmp" "$_bin"
  rm -rf "$_src"
fi
echo "$_bin"
