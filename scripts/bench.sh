#!/usr/bin/env bash
# The benchmark command (`npm run bench`, `npm run bench -- --quick`):
# installs what is missing (the same bootstrap as the tests), then runs
# bench/run.ts. Options go to it: --quick, --only boot,calls,…, --no-write.
# The lab benchmark installs its peer (Terraform, terraform-provider-libvirt,
# libvirt) itself, through bench/peer/setup.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/bootstrap.sh"
cd "$root"
exec node dist/bench/run.js "$@"
