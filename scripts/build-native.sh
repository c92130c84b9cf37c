#!/usr/bin/env bash
# Builds hostd's native pieces, each one C file in hostd/native/ into
# dist/native/<name>.node against the running Node's N-API headers:
# peercred.c (SO_PEERCRED for the socket's peer check, flock for the state
# directory's lock and the uid-range claims), openas.c (opening a host path
# with a caller's rights) and memory.c (malloc_trim, to give the memory of a
# burst of connections back). Plain cc: one C file needs no node-gyp.
set -euo pipefail
_root=$(cd "$(dirname "$0")/.." && pwd)
_node=$(command -v node)
_inc="$(dirname "$(dirname "$_node")")/include/node"
[ -f "$_inc/node_api.h" ] || { echo "build-native: no N-API headers at $_inc" >&2; exit 1; }
mkdir -p "$_root/dist/native"
for _src in "$_root"/hostd/native/*.c; do
  _out="$_root/dist/native/$(basename "$_src" .c).node"
  if [ ! -f "$_out" ] || [ "$_src" -nt "$_out" ]; then
    cc -O2 -Wall -Wextra -Werror -shared -fPIC -pthread -I"$_inc" -o "$_out" "$_src"
  fi
done
