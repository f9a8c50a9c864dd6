#!/usr/bin/env bash
# Runs each built fuzzer for a bounded time on its seed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-fuzz}; SECS=${2:-30}
for f in "$BUILD"/fuzz/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  corpus=$(mktemp -d)
  [ -d "fuzz/corpus/$name" ] && cp -r "fuzz/corpus/$name/." "$corpus/"
  echo "== $name (${SECS}s)"
  "$f" -max_total_time="$SECS" -print_final_stats=1 "$corpus" 2>&1 | tail -n 5
  rm -rf "$corpus"
done
