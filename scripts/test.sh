#!/usr/bin/env bash
# The test command (`npm test`): installs what is missing, then runs every
# test, unit and integration, against real QEMU, sshd, hostd and Pulumi.
# Extra arguments go to jest (e.g. `npm test -- test/ssh.test.ts`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/bootstrap.sh"
cd "$root"
# In band: integration suites share the machine's cores and boot real guests.
exec npx jest --runInBand "$@"
