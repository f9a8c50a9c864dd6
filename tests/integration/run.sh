#!/usr/bin/env bash
# Runs every tests/integration/*_test.sh against the build in $1.
# Each script starts the servers it needs on 127.0.0.1 and stops them.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
pass=0; fail=0
for t in tests/integration/*_test.sh; do
  [ -e "$t" ] || continue
  echo "== $t"
  if bash "$t" "$BUILD"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAILED: $t"; fi
done
echo "integration: $pass passed, $fail failed"
[ $fail -eq 0 ]
