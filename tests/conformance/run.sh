#!/usr/bin/env bash
# The cross-host conformance suite: the checks of checks.json against the
# in-process test host, nginx, Apache and Kore, each serving
# BUILD/lib/conformance.so. Prints a table of hosts x checks; exits non-zero
# on any failure or any difference between hosts.
#
# usage: tests/conformance/run.sh [BUILD] [run.py options: --hosts, --only, -v]
#   CONFORMANCE_REQUIRE_ALL=1   a host that cannot run (binding not built) fails the run
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
shift || true
for f in "$build/lib/conformance.so" "$build/tests/conformance_testhost" "$build/bin/forge"; do
    if [ ! -e "$f" ]; then
        echo "conformance: $f is missing; build first (cmake --build $build)" >&2
        exit 1
    fi
done
exec python3 "$here/run.py" "$build" "$@"
