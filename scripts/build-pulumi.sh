#!/usr/bin/env bash
# Build the Pulumi CLI (and its Node.js plugins) from Go modules, offline-capable:
# only the Go module proxy is needed (no GitHub release downloads).
#
# Usage: scripts/build-pulumi.sh [VERSION]
#
# Result: .cache/pulumi/<VERSION>/bin/ at the repo root, holding
#   pulumi                         the CLI, built from github.com/pulumi/pulumi/pkg/v3@v<VERSION>
#   pulumi-resource-pulumi-nodejs  the dynamic-provider shim (copied from the sdk/v3 module)
#   pulumi-language-nodejs         the Node.js language host, built from source when present (below)
#   pulumi-language-yaml           the YAML language host (github.com/pulumi/pulumi-yaml), only
#                                  with PULUMI_BUILD_YAML=1 (for a Node-free smoke test; it is built
#                                  with its own go.mod, as it does not compile against newer pkg/v3)
#
# VERSION: $1, else the version of node_modules/@pulumi/pulumi when the Go proxy serves that
# pulumi/pkg version, else DEFAULT_VERSION below.
#
# The Node.js language host is its own Go module (sdk/nodejs/cmd/pulumi-language-nodejs), which
# is untagged and which the Go module proxy here does not serve. The script therefore builds it,
# inside the same wrapper module as the CLI, from a folder holding that directory's *.go files
# (Apache-2.0): $PULUMI_LANGUAGE_NODEJS_SRC, else third_party/pulumi-language-nodejs/ at the repo
# root. Without such a folder it is skipped with a warning (PULUMI_REQUIRE_LANGUAGE_NODEJS=1 makes
# that an error). Without it, Node programs can still run through the Automation API's inline
# programs (`pulumi up --client=...`), which need no language host binary.
#
# Environment knobs: GOFLAGS and GOTOOLCHAIN are respected as set; PULUMI_BUILD_JOBS (go build -p,
# default: number of CPUs); PULUMI_YAML_VERSION (default below).
# The Go build cache stays at its default location, so rebuilds are fast.
set -euo pipefail

DEFAULT_VERSION=3.274.1
DEFAULT_YAML_VERSION=1.25.0

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE="$ROOT/.cache/pulumi"
PKG=github.com/pulumi/pulumi/pkg/v3
SDK=github.com/pulumi/pulumi/sdk/v3
YAML=github.com/pulumi/pulumi-yaml

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

nodejs_src=${PULUMI_LANGUAGE_NODEJS_SRC:-$ROOT/third_party/pulumi-language-nodejs}
if [ -f "$nodejs_src/main.go" ]; then
  want_nodejs=1
  nodejs_src=$(cd "$nodejs_src" && pwd)
elif [ "${PULUMI_REQUIRE_LANGUAGE_NODEJS:-0}" = 1 ]; then
  die "no Node.js language host source at $nodejs_src (need the *.go files of" \
    "github.com/pulumi/pulumi sdk/nodejs/cmd/pulumi-language-nodejs: the Go proxy here does not" \
    "serve that module); set PULUMI_LANGUAGE_NODEJS_SRC"
else
  want_nodejs=0
  nodejs_src=
fi
want_yaml=0
[ "${PULUMI_BUILD_YAML:-0}" = 1 ] && want_yaml=1
yaml_version=${PULUMI_YAML_VERSION:-$DEFAULT_YAML_VERSION}
yaml_version=${yaml_version#v}

DEST="$CACHE/$version"
BIN="$DEST/bin"

# --- fast path: already built ------------------------------------------------
is_complete() {
  local bin=$1
  [ -x "$bin/pulumi" ] || return 1
  [ "$(PULUMI_HOME="$CACHE/.pulumi-home" PULUMI_SKIP_UPDATE_CHECK=true \
        "$bin/pulumi" version 2>/dev/null)" = "v$version" ] || return 1
  [ -x "$bin/pulumi-resource-pulumi-nodejs" ] || return 1
  if [ "$want_nodejs" = 1 ]; then [ -x "$bin/pulumi-language-nodejs" ] || return 1; fi
  if [ "$want_yaml" = 1 ]; then [ -x "$bin/pulumi-language-yaml" ] || return 1; fi
  return 0
}
if is_complete "$BIN"; then
  log "up to date: $BIN (pulumi v$version)"
  exit 0
fi

if [ "$want_nodejs" = 0 ]; then
  log "WARNING: no Node.js language host source at $nodejs_src: building without" \
    "pulumi-language-nodejs (set PULUMI_LANGUAGE_NODEJS_SRC to build it)"
fi

command -v go >/dev/null || die "go is not on PATH"
log "building pulumi v$version with $(go version) (GOFLAGS='${GOFLAGS:-}')"
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
# The nodejs host's own go.mod (in the source folder, if present) may carry replaces too.
if [ -n "$nodejs_src" ] && [ -f "$nodejs_src/go.mod" ]; then
  replaces=$(printf '%s\n%s\n' "$replaces" "$(module_replaces "$nodejs_src/go.mod")")
fi
replaces=$(printf '%s\n' "$replaces" | sed '/^$/d' | sort -u)
if [ -n "$replaces" ]; then
  log "replace directives carried over:"
  printf '%s\n' "$replaces" | sed 's/^/    /' >&2
fi

rm -rf "$WORK"/*
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
if [ -n "$nodejs_src" ]; then
  mkdir -p pulumi-language-nodejs
  find "$nodejs_src" -maxdepth 1 -name '*.go' ! -name '*_test.go' -exec cp {} pulumi-language-nodejs/ \;
  targets+=("./pulumi-language-nodejs")
fi

log "go mod tidy (downloads the dependencies through the Go module proxy)"
go mod tidy

# MVS may not lower versions: make sure pkg and sdk are exactly the requested version.
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

if [ "$want_yaml" = 1 ]; then
  # Its own module graph (go install pkg@version): pulumi-yaml lags behind pkg/v3's Go API.
  log "go install $YAML/cmd/pulumi-language-yaml@v$yaml_version"
  (cd "$TMP" && GOBIN="$TMP/bin" go install -p "$jobs" -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-w -s -X $YAML/pkg/version.Version=v$yaml_version" \
    "$YAML/cmd/pulumi-language-yaml@v$yaml_version")
fi

# Dynamic-provider shim: the same file that @pulumi/pulumi ships (Apache-2.0), from the sdk module.
shim="$sdk_dir/nodejs/dist/pulumi-resource-pulumi-nodejs"
[ -f "$shim" ] || die "missing $shim"
install -m 0755 "$shim" "$TMP/bin/pulumi-resource-pulumi-nodejs"
chmod -R u+w "$TMP"

is_complete "$TMP/bin" || die "the fresh build in $TMP/bin is incomplete or does not report v$version"

# --- move into place ------------------------------------------------------------
# rename(2) of the whole version folder: readers see the old folder or the new one, never a mix.
old=
if [ -e "$DEST" ]; then old="$CACHE/.old-$version-$$"; mv -T "$DEST" "$old"; fi
mv -T "$TMP" "$DEST"
[ -n "$old" ] && rm -rf "$old"
trap - EXIT

log "done in $(( $(date +%s) - start ))s: $BIN"
ls -l "$BIN" >&2
