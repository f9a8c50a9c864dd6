#!/usr/bin/env bash
# Data layer benchmark against a real PostgreSQL (started here on 127.0.0.1:18230):
#  - GET /notes/:id (a point query by primary key, cache off) through a Forge
#    route on nginx (`forge run`, 1 worker), measured with wrk;
#  - the same query issued directly with libpq in one process, and through
#    forge_db in the same process (build/bench-data/data_bench_pg).
# In-process pool and cache costs on SQLite are printed by build/bench/bench_db.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
PG_PORT=18230 HTTP_PORT=18231 SECS=${DATA_BENCH_SECS:-5}
D=$(mktemp -d /tmp/forge-data-bench-XXXXXX)
RUN=""
cleanup() {
  [ -n "$RUN" ] && kill -INT "$RUN" 2>/dev/null && wait "$RUN" 2>/dev/null
  scripts/services.sh stopall "$D" >/dev/null 2>&1
  rm -rf "$D"
}
trap cleanup EXIT
for b in "$BUILD/bench-data/data_bench_pg" "$BUILD/lib/notes.so" "$BUILD/lib/forge_db_postgres.so"; do
  [ -e "$b" ] || { echo "data_bench: $b missing (libpq-dev?); skipped"; exit 0; }
done
command -v wrk >/dev/null || { echo "data_bench: wrk missing; skipped"; exit 0; }
scripts/services.sh start postgres "$D" $PG_PORT || exit 1
psql -q -h 127.0.0.1 -p $PG_PORT -U postgres -c "CREATE DATABASE notes" postgres || exit 1
URL="postgres://postgres@127.0.0.1:$PG_PORT/notes?sslmode=disable"
cat > "$D/notes.yaml" <<YAML
log:
  level: warn
http:
  middleware:
    access_log: false
app:
  notes:
    cache: false
    data_dir: $D/data
db:
  main:
    url: "$URL"
    max_conns: 8
YAML
"$BUILD/bin/forge" run --host nginx --app "$BUILD/lib/notes.so" --config "$D/notes.yaml" \
  --listen 127.0.0.1:$HTTP_PORT >"$D/run.log" 2>&1 &
RUN=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/notes/0" && break; sleep 0.1; done
for i in $(seq 1 100); do
  curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
    -d "{\"title\":\"note $i\",\"body\":\"body of note $i\"}" "http://127.0.0.1:$HTTP_PORT/notes"
done
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/notes/42")
[ "$code" = 200 ] || { echo "data_bench: GET /notes/42 gave $code"; cat "$D/run.log"; exit 1; }
echo "PostgreSQL 15 on 127.0.0.1, notes table with 100 rows; GET /notes/42 = SELECT by primary key"
for c in 1 8; do
  out=$(wrk -t1 -c$c -d${SECS}s --latency "http://127.0.0.1:$HTTP_PORT/notes/42")
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $4}')
  printf "nginx + Forge route (blocking, pool), %d conn: %9s req/s  p50 %s  p99 %s%s\n" \
    "$c" "$rps" "$p50" "$p99" "${non2xx:+  NON-2XX: $non2xx}"
done
"$BUILD/bench-data/data_bench_pg" "$URL" 20000
