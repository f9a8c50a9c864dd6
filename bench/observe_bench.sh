#!/usr/bin/env bash
# bench/observe_bench.sh BUILD: the cost of metrics on nginx.
#
# Two `forge run --host nginx` servers with one worker each serve
# build/lib/hello.so side by side: one with observe.metrics.enabled true
# (automatic HTTP metrics on every request), one with it false; the rest of
# the configuration is the same. Alternates off, on, off, on ... (PAIRS pairs
# of SECONDS_PER_RUN s, `wrk -t1 -c32` on GET /hello), prints req/s of each
# run, the per-pair ratio on/off, the median ratio and its spread.
# Target: median ratio >= 0.95. Ports 18150-18151.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
PAIRS=${PAIRS:-4}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-4}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "observe_bench: no build dir"; exit 1; }
FORGE="$BUILD/bin/forge"
APP="$BUILD/lib/hello.so"

for need in nginx wrk python3 curl; do
  command -v "$need" >/dev/null || { echo "observe_bench: skipped ($need not installed)"; exit 0; }
done
[ -f "$BUILD/lib/ngx_http_forge_module.so" ] && [ -x "$FORGE" ] && [ -f "$APP" ] ||
  { echo "observe_bench: skipped (nginx binding, forge or hello.so not built)"; exit 0; }

DIR=$(mktemp -d /tmp/forge-observe-bench.XXXXXX)
mkdir -p "$DIR/tmp"
export TMPDIR="$DIR/tmp"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$DIR"
}
trap cleanup EXIT

start() { # name port enabled
  printf 'log:\n  level: warn\nobserve:\n  metrics:\n    enabled: %s\n' "$3" >"$DIR/$1.yaml"
  "$FORGE" run --host nginx --app "$APP" --workers 1 --listen "127.0.0.1:$2" \
    --config "$DIR/$1.yaml" >"$DIR/$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 200); do
    curl -sf -o /dev/null "http://127.0.0.1:$2/_/health/live" && return 0
    curl -sf -o /dev/null "http://127.0.0.1:$2/hello" && return 0
    sleep 0.05
  done
  echo "observe_bench: $1 did not start: $(tail -3 "$DIR/$1.log")"
  exit 1
}

start off 18150 false
start on 18151 true

# The nginx worker of the server listening on a port (child of its master).
worker_pid() { # forge-pid
  local master
  master=$(pgrep -P "$1" nginx | head -1)
  pgrep -P "$master" nginx | head -1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# rps PORT WORKER-PID: prints "req/s cpu-us-per-request"
rps() {
  local t0 t1 out reqs
  t0=$(cpu_ticks "$2")
  out=$(wrk -t1 -c32 -d"${SECONDS_PER_RUN}s" "http://127.0.0.1:$1/hello" 2>/dev/null)
  t1=$(cpu_ticks "$2")
  reqs=$(printf '%s\n' "$out" | awk '/requests in/ {print $1}')
  printf '%s %s\n' "$(printf '%s\n' "$out" | awk '/Requests\/sec/ {print $2}')" \
    "$(python3 -c "print(f'{($t1 - $t0) * 1e6 / $(getconf CLK_TCK) / max($reqs, 1):.2f}')")"
}

WOFF=$(worker_pid "${PIDS[0]}")
WON=$(worker_pid "${PIDS[1]}")
rps 18150 "$WOFF" >/dev/null # warm both
rps 18151 "$WON" >/dev/null
ratios=()
cpus=()
for i in $(seq 1 "$PAIRS"); do
  read -r off coff < <(rps 18150 "$WOFF")
  read -r on con < <(rps 18151 "$WON")
  r=$(python3 -c "print(f'{$on / $off:.3f}')")
  ratios+=("$r")
  cpus+=("$coff/$con")
  printf 'pair %d: metrics off %8.0f req/s %6s us cpu/req   on %8.0f req/s %6s us cpu/req   ratio %s\n' \
    "$i" "$off" "$coff" "$on" "$con" "$r"
done
python3 - "${ratios[@]}" -- "${cpus[@]}" <<'EOF'
import statistics, sys
a = sys.argv[1:]
k = a.index("--")
r = sorted(float(x) for x in a[:k])
c = [x.split("/") for x in a[k + 1:]]
off = statistics.median(float(x[0]) for x in c)
on = statistics.median(float(x[1]) for x in c)
print(f"median ratio on/off: {statistics.median(r):.3f}  (spread {r[0]:.3f} .. {r[-1]:.3f}; target >= 0.95)")
print(f"median worker cpu per request: off {off:.2f} us, on {on:.2f} us (ratio off/on {off / on:.3f})")
EOF
curl -s "http://127.0.0.1:18151/_/metrics" | grep '^forge_http_requests_total{method="GET",route="/hello"'
