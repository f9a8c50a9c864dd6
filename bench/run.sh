#!/usr/bin/env bash
# make bench: in-process benchmarks (build/bench/bench_*), then host benchmarks
# (bench/*_bench.sh), each printing its numbers and ratios.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
for b in "$BUILD"/bench/bench_*; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b"
done
for s in bench/*_bench.sh; do
  [ -e "$s" ] || continue
  echo "== $s"
  bash "$s" "$BUILD"
done
