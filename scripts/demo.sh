#!/usr/bin/env bash
# make demo: serve examples/hello on nginx through `forge run`, on loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}; LISTEN=${2:-127.0.0.1:8080}
echo "Try: curl http://$LISTEN/hello   (Ctrl-C stops the server)"
exec "$BUILD/bin/forge" run --host nginx --app "$BUILD/lib/hello.so" --listen "$LISTEN"
