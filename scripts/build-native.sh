#!/usr/bin/env bash
# Builds hostd's native pieces against the running Node's N-API headers, one
# dist/native/<name>.node per hostd/native/<name>.c: peercred (SO_PEERCRED for
# the socket's peer check) and memory (malloc_trim, to give the memory of a
# burst of connections back). Plain cc: one C file each needs no node-gyp.
set -euo pipefail
_root=$(cd "$(dirname "$0")/.." && pwd)
_node=$(command -v node)
_inc="$(dirname "$(dirname "$_node")")/include/node"
[ -f "$_inc/node_api.h" ] || { echo "build-native: no N-API headers at $_inc" >&2; exit 1; }
mkdir -p "$_root/dist/native"
for _src in "$_root"/hostd/native/*.c; do
  _out="$_root/dist/native/$(basename "$_src" .c).node"
  if [ ! -f "$_out" ] || [ "$_src" -nt "$_out" ]; then
    cc -O2 -Wall -Wextra -Werror -shared -fPIC -I"$_inc" -o "$_out" "$_src"
  fi
done
