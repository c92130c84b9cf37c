#!/usr/bin/env bash
# Installs the package itself into node_modules/pulumi-kvm as a real copy of
# what `npm pack` ships, so Pulumi programs in this repo (the quick start,
# examples, tests) load it exactly as users do after `npm install pulumi-kvm`.
# A symlink would not do: Pulumi's closure serializer records provider
# modules by their node_modules path, and follows symlinks to the real path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out="$root/.cache/pack"
rm -rf "$out" && mkdir -p "$out"
npm pack --silent --ignore-scripts --pack-destination "$out" >/dev/null
rm -rf node_modules/pulumi-kvm
mkdir -p node_modules/pulumi-kvm
tar -xzf "$out"/pulumi-kvm-*.tgz -C node_modules/pulumi-kvm --strip-components=1
