#!/usr/bin/env bash
# Build the Pulumi CLI from Go modules, offline-capable:
# only the Go module proxy is needed (no GitHub release downloads).
#
# Usage: scripts/build-pulumi.sh [VERSION]
#
# Result: .cache/pulumi/<VERSION>/bin/ at the repo root, holding
#   pulumi                         the CLI, built from github.com/pulumi/pulumi/pkg/v3@v<VERSION>
#   pulumi-resource-pulumi-nodejs  the dynamic-provider shim (copied from the sdk/v3 module)
#
# Not built: the standalone Node.js language host (pulumi-language-nodejs). It is its own,
# untagged Go module (sdk/nodejs/cmd/pulumi-language-nodejs/v3), and the Go module proxy
# reachable here refuses it (403 "module version is not available", for the version list and
# for pseudo-versions alike). Programs therefore run through scripts/pulumi-inline.js, which
# attaches this CLI to Pulumi's own Node language runtime (the Automation API's
# LanguageServer) with `--client`; see there.
#
# VERSION: $1, else the version of node_modules/@pulumi/pulumi when the Go proxy serves that
# pulumi/pkg version, else DEFAULT_VERSION below.
#
# Environment knobs: GOFLAGS and GOTOOLCHAIN are respected as set; PULUMI_BUILD_JOBS (go build -p,
# default: number of CPUs); PULUMI_FORCE_REBUILD=1.
# The Go build cache stays at its default location, so rebuilds are fast.
set -euo pipefail

DEFAULT_VERSION=3.260.0

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE="$ROOT/.cache/pulumi"
PKG=github.com/pulumi/pulumi/pkg/v3
SDK=github.com/pulumi/pulumi/sdk/v3

log() { printf '[build-pulumi] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- which version -----------------------------------------------------------
version=${1:-}
if [ -z "$version" ]; then
  pkgjson="$ROOT/node_modules/@pulumi/pulumi/package.json"
  if [ -f "$pkgjson" ]; then
    npmver=$(sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$pkgjson" | head -n1)
    if [ -n "$npmver" ] && { [ -x "$CACHE/$npmver/bin/pulumi" ] ||
        go list -m "$PKG@v$npmver" >/dev/null 2>&1; }; then
      version=$npmver
      log "version $version (from node_modules/@pulumi/pulumi)"
    else
      log "node_modules/@pulumi/pulumi is $npmver, which the Go proxy does not serve as $PKG;" \
        "using $DEFAULT_VERSION"
    fi
  fi
fi
version=${version:-$DEFAULT_VERSION}
version=${version#v}
case "$version" in
  [0-9]*.[0-9]*.[0-9]*) ;;
  *) die "bad version '$version'" ;;
esac

DEST="$CACHE/$version"
BIN="$DEST/bin"

# --- fast path: already built ------------------------------------------------
is_complete() {
  local bin=$1
  [ -x "$bin/pulumi" ] || return 1
  [ "$(PULUMI_HOME="$CACHE/.pulumi-home" PULUMI_SKIP_UPDATE_CHECK=true \
        "$bin/pulumi" version 2>/dev/null)" = "v$version" ] || return 1
  [ -x "$bin/pulumi-resource-pulumi-nodejs" ] || return 1
  return 0
}
if [ "${PULUMI_FORCE_REBUILD:-0}" != 1 ] && is_complete "$BIN"; then
  log "up to date: $BIN (pulumi v$version)"
  exit 0
fi

command -v go >/dev/null || die "go is not on PATH"

# One build per version at a time; a run that waited may find the work done.
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock-$version"
if ! flock -n 9; then
  log "waiting for another build of v$version"
  flock 9
  if [ "${PULUMI_FORCE_REBUILD:-0}" != 1 ] && is_complete "$BIN"; then
    log "up to date: $BIN (pulumi v$version)"
    exit 0
  fi
fi

log "building pulumi v$version with $(go version) (GOFLAGS='$(go env GOFLAGS)')"
start=$(date +%s)

# --- wrapper main module --------------------------------------------------------
WORK="$CACHE/build-$version"
mkdir -p "$WORK"
cd "$WORK"

# Path of a module's go.mod in the module cache (downloads it if needed).
gomod_of() {
  local json
  json=$(go mod download -json "$1") || die "go mod download $1 failed: $json"
  printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"GoMod":[[:space:]]*"\(.*\)",\{0,1\}$/\1/p'
}
dir_of() {
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir":[[:space:]]*"\(.*\)",\{0,1\}$/\1/p'
}
# Print the replace directives of a go.mod, one "old => new" per line, minus folder replaces
# (those whose target is a path, i.e. has no version: they point into the pulumi repo itself).
module_replaces() {
  awk '
    /^replace[[:space:]]*\($/ { inblock = 1; next }
    inblock && /^\)/          { inblock = 0; next }
    inblock                   { print; next }
    /^replace[[:space:]]/     { sub(/^replace[[:space:]]+/, ""); print }
  ' "$1" | sed 's://.*$::; s/[[:space:]]*$//; s/^[[:space:]]*//' | awk -F'=>' '
    NF == 2 {
      split($2, t, " ")
      if (length(t) == 2 && t[1] !~ /^(\.|\/)/) print
    }'
}

log "resolving $PKG@v$version"
pkg_gomod=$(gomod_of "$PKG@v$version")
[ -f "$pkg_gomod" ] || die "cannot find go.mod of $PKG@v$version"
go_directive=$(sed -n 's/^go[[:space:]]\+\([0-9.]*\).*/\1/p' "$pkg_gomod" | head -n1)
sdk_dir=$(dir_of "$SDK@v$version")
[ -d "$sdk_dir" ] || die "cannot download $SDK@v$version"

replaces=$(module_replaces "$pkg_gomod")
replaces=$(printf '%s\n' "$replaces" | sed '/^$/d' | sort -u)
if [ -n "$replaces" ]; then
  log "replace directives carried over:"
  printf '%s\n' "$replaces" | sed 's/^/    /' >&2
fi

rm -rf "${WORK:?}"/*
{
  echo "// Generated by scripts/build-pulumi.sh: a wrapper to build the Pulumi CLI v$version."
  echo "module pulumi-build"
  echo
  echo "go ${go_directive:-1.26}"
  echo
  echo "require ("
  echo "	$PKG v$version"
  echo "	$SDK v$version"
  echo ")"
  if [ -n "$replaces" ]; then
    echo
    echo "replace ("
    printf '%s\n' "$replaces" | sed 's/^/	/'
    echo ")"
  fi
} > go.mod

targets=("$PKG/cmd/pulumi")
{
  echo "//go:build tools"
  echo
  echo "package tools"
  echo
  echo "import _ \"$PKG/cmd/pulumi\""
} > tools.go
log "go mod tidy (downloads the dependencies through the Go module proxy)"
go mod tidy

# Other requirements could raise pkg or sdk above the requested version: make sure they did not.
for m in "$PKG" "$SDK"; do
  got=$(go list -m -f '{{.Version}}' "$m")
  [ "$got" = "v$version" ] || die "$m resolved to $got, not v$version"
done

# --- build --------------------------------------------------------------------
TMP="$CACHE/.tmp-$version-$$"
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/bin"
jobs=${PULUMI_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}
ldflags="-w -s -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version"
log "go build -p $jobs -trimpath -tags osusergo,grpcnotrace ${targets[*]}"
go build -p "$jobs" -trimpath -tags osusergo,grpcnotrace -ldflags "$ldflags" \
  -o "$TMP/bin/" "${targets[@]}"

# Dynamic-provider shim: the same file that @pulumi/pulumi ships (Apache-2.0), from the sdk module.
shim="$sdk_dir/nodejs/dist/pulumi-resource-pulumi-nodejs"
[ -f "$shim" ] || die "missing $shim"
install -m 0755 "$shim" "$TMP/bin/pulumi-resource-pulumi-nodejs"
chmod -R u+w "$TMP"

is_complete "$TMP/bin" || die "the fresh build in $TMP/bin is incomplete or does not report v$version"

# --- move into place ------------------------------------------------------------
# rename(2) of the whole version folder: never a half-written bin/. (When a previous build of the
# same version is replaced, it is first renamed aside, so the folder is absent for an instant.)
old=
if [ -e "$DEST" ]; then old="$CACHE/.old-$version-$$"; mv -T "$DEST" "$old"; fi
mv -T "$TMP" "$DEST"
[ -n "$old" ] && rm -rf "$old"
trap - EXIT

log "done in $(( $(date +%s) - start ))s: $BIN"
ls -l "$BIN" >&2
