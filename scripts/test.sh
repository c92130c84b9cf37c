#!/usr/bin/env bash
# The test command (`npm test`): installs what is missing, then runs every
# test, unit and integration, against real QEMU, sshd, hostd and Pulumi.
# Extra arguments go to jest (e.g. `npm test -- test/ssh.test.ts`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/bootstrap.sh"
cd "$root"
results="$root/.cache/jest-results.json"
rm -f "$results"
# In band: integration suites share the machine's cores and boot real guests.
status=0
npx jest --runInBand --json --outputFile="$results" "$@" || status=$?
# One plain closing line, counted from jest's own results.
if [ -f "$results" ]; then
  node -e 'const r=require(process.argv[1]); console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`)' "$results"
fi
exit "$status"
