#!/usr/bin/env bash
# Builds hostd's one native piece, hostd/native/peercred.c (SO_PEERCRED for the
# socket's peer check, flock for the state directory's lock and the uid-range
# claims), into dist/native/peercred.node against the running Node's N-API
# headers. Plain cc: one C file needs no node-gyp.
set -euo pipefail
_root=$(cd "$(dirname "$0")/.." && pwd)
_node=$(command -v node)
_inc="$(dirname "$(dirname "$_node")")/include/node"
_out="$_root/dist/native/peercred.node"
[ -f "$_inc/node_api.h" ] || { echo "build-native: no N-API headers at $_inc" >&2; exit 1; }
mkdir -p "$(dirname "$_out")"
if [ ! -f "$_out" ] || [ "$_root/hostd/native/peercred.c" -nt "$_out" ]; then
  cc -O2 -Wall -Wextra -Werror -shared -fPIC -I"$_inc" -o "$_out" "$_root/hostd/native/peercred.c"
fi
