#!/usr/bin/env bash
# make demo: serve an example app on nginx through `forge run`, on loopback only,
# with embedded defaults (no external server). DEMO_APP picks the example:
#   hello  (default) GET /hello, /users/:id, POST /echo, /error
#   notes  CRUD on SQLite (a file in a temporary directory, migrated at start)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}; LISTEN=${2:-127.0.0.1:8080}; APP=${3:-${DEMO_APP:-hello}}
case "$APP" in
hello)
  echo "Try: curl http://$LISTEN/hello   (Ctrl-C stops the server)" ;;
notes)
  echo "Try: curl -d '{\"title\":\"hi\",\"body\":\"there\"}' -H 'Content-Type: application/json' http://$LISTEN/notes"
  echo "     curl http://$LISTEN/notes   (Ctrl-C stops the server)" ;;
*)
  [ -f "$BUILD/lib/$APP.so" ] || { echo "demo: no app $BUILD/lib/$APP.so" >&2; exit 2; } ;;
esac
exec "$BUILD/bin/forge" run --host nginx --app "$BUILD/lib/$APP.so" --listen "$LISTEN"
