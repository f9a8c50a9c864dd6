#!/bin/sh
# Instructions per request through the core, counted by valgrind's callgrind
# (repeatable on a shared, loaded machine, unlike times).
#
#   bench/callgrind.sh [BUILD [N]]
#
# Runs build/bench/bench_hotpath for each suite and target twice, with N and
# 2N requests, and prints (Ir(2N) - Ir(N)) / N: start-up and tear-down cancel.
# Not run by `make bench` (the name does not end in _bench.sh): it takes a
# minute and needs valgrind.
set -eu
BUILD=${1:-build}
N=${2:-2000}
BIN=$BUILD/bench/bench_hotpath
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not installed" >&2; exit 1; }
[ -x "$BIN" ] || { echo "callgrind.sh: $BIN not built" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
ir() {
    valgrind --tool=callgrind --callgrind-out-file="$TMP/out" "$BIN" "$1" "$2" "$3" \
        >/dev/null 2>"$TMP/err" || { cat "$TMP/err" >&2; exit 1; }
    sed -n 's/^summary: *//p' "$TMP/out"
}
for suite in default json bare none; do
    for target in /hello /users/42; do
        a=$(ir "$suite" "$target" "$N")
        b=$(ir "$suite" "$target" $((2 * N)))
        echo "$suite $target $(( (b - a) / N )) instructions/request"
    done
done
