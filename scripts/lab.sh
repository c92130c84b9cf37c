#!/usr/bin/env bash
# The quick-start lab (`npm run lab`): installs what is missing, starts a
# hostd for the lab on this machine (unless one already serves), and runs
# `pulumi up` on the root Pulumi.yaml with a local file backend.
#   npm run lab               bring the lab up and print the VM's state
#   npm run lab -- destroy    tear it down and stop the lab's hostd
#   npm run lab -- preview|refresh
#   npm run lab -- <pulumi args...>   any other pulumi command on the lab stack (e.g. stack output)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/bootstrap.sh"
cd "$root"

lab="$root/.cache/lab"
mkdir -p "$lab/backend" "$lab/home"
sock="$lab/hostd.sock"
export PULUMI_BACKEND_URL="file://$lab/backend"
export PULUMI_HOME="$lab/home"
# The lab's secrets passphrase: yours if PULUMI_CONFIG_PASSPHRASE is exported, else "quickstart".
if [ -n "${PULUMI_CONFIG_PASSPHRASE:-}" ]; then passphrase_from="PULUMI_CONFIG_PASSPHRASE from your environment"
else passphrase_from="the lab's default PULUMI_CONFIG_PASSPHRASE=quickstart (none was exported)"; fi
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-quickstart}"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true

hostd_up() { node -e 'require("net").createConnection(process.argv[1]).on("connect",()=>process.exit(0)).on("error",()=>process.exit(1))' "$sock"; }

if ! hostd_up; then
  echo "[lab] starting hostd (socket $sock, state $lab/state, log $lab/hostd.log)" >&2
  setsid node "$root/dist/hostd/cli.js" serve --socket "$sock" --state-dir "$lab/state" </dev/null >>"$lab/hostd.log" 2>&1 &
  for _ in $(seq 1 100); do hostd_up && break; sleep 0.1; done
  hostd_up || { echo "[lab] hostd did not start; see $lab/hostd.log" >&2; tail -5 "$lab/hostd.log" >&2; exit 1; }
fi

pulumi stack select --create lab --non-interactive >/dev/null
guard pulumi config set kvm:transport local --non-interactive
guard pulumi config set kvm:socketPath "$sock" --non-interactive

# Engine operations go through the real CLI attached to Pulumi's own Node language runtime
# (scripts/pulumi-inline.js): the standalone language host cannot be built on these machines.
# Where it is installed, `pulumi up` in this folder does the same.
op() { guard node "$root/scripts/pulumi-inline.js" "$@" --stack lab --program examples/quickstart/index.ts --non-interactive; }

# Runs a pulumi command; when it fails on the passphrase, says which variable and which stack.
guard() {
  local err rc=0
  err=$(mktemp)
  "$@" 2> >(tee "$err" >&2) || rc=$?
  wait
  if [ "$rc" -ne 0 ] && grep -q "incorrect passphrase" "$err"; then
    echo "[lab] stack 'lab' (backend $PULUMI_BACKEND_URL) was created with another passphrase than $passphrase_from." >&2
    echo "[lab] export PULUMI_CONFIG_PASSPHRASE with the one it was created with (unset it if that was the default, quickstart), then run npm run lab again." >&2
  fi
  rm -f "$err"
  return "$rc"
}

case "${1:-up}" in
  up)
    op up --yes
    echo
    node "$root/dist/hostd/cli.js" vm list --socket "$sock"
    ;;
  preview)
    op "$@"
    ;;
  refresh)
    op "$@" --yes
    ;;
  destroy)
    op "$@" --yes
    if hostd_up; then pkill -f "hostd/cli.js serve --socket $sock" || true; fi
    ;;
  *)
    guard pulumi "$@" --non-interactive
    ;;
esac
