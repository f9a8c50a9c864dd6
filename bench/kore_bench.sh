#!/usr/bin/env bash
# Forge on Kore against a native Kore page, side by side in one Kore.
#
# One Kore, one worker, no accesslog; the native page (bench/native/
# kore_native.c, route /native) and Forge's GET /hello (hello.so through
# forge_kore.so, catch-all route ^/) answer the same 6 bytes. Runs alternate
# A (native), B (forge) with `wrk -t1 -c32`, PAIRS pairs of SECS seconds,
# and print each run's requests/s and the worker's CPU time per request
# (utime+stime from /proc, steadier than requests/s on a shared machine),
# the B/A ratio of each pair for both (CPU: A's time over B's), their
# median and spread. Target: >= 0.95. Kore runs on CPU 0 and wrk on CPU 1
# (bench/pin.sh; PIN=0 to let the scheduler place them).
#
# Two Forge configurations, one Kore run each: "default" (the app's
# defaults: request id, metrics, tracing; only the access log line is off,
# Kore's accesslog being off too) and "lean" (request id, metrics and
# tracing off as well), which leaves the binding and the core's dispatch.
#
#   bash bench/kore_bench.sh [BUILD]     (PAIRS=3 SECS=5 by default)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
LIB=$BUILD/lib
PAIRS=${PAIRS:-3}
SECS=${SECS:-5}
. "$ROOT/bench/pin.sh"

for t in kore wrk; do
  command -v $t >/dev/null 2>&1 || { echo "kore_bench: skipped ($t is not installed)"; exit 0; }
done
for f in forge_kore.so kore_native.so hello.so; do
  [ -f "$LIB/$f" ] || { echo "kore_bench: skipped ($LIB/$f not built)"; exit 0; }
done

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=
for p in $(seq 18130 18139); do
  port_busy "$p" || { PORT=$p; break; }
done
[ -n "$PORT" ] || { echo "kore_bench: no free port in 18130-18139"; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/forge-kore-bench.XXXXXX")
cleanup() {
  [ -f "$TMP/kore.pid" ] && kill -TERM "$(cat "$TMP/kore.pid")" 2>/dev/null
  sleep 0.5
  rm -rf "$TMP"
}
trap cleanup EXIT

cat >"$TMP/kore.conf" <<EOF
server notls {
	bind 127.0.0.1 $PORT
	tls no
}
load $LIB/kore_native.so
load $LIB/forge_kore.so
workers 1
pidfile $TMP/kore.pid
http_hsts_enable 0
domain * {
	attach notls
	route /native native_hello
	route /hello forge_kore_page
}
EOF
# Both pages sit on exact routes, so both pay the same routing (a strcmp):
# this compares the handlers. A regex route such as `^/` costs Kore a
# regexec per request (~630 instructions measured with bench/kore_callgrind.sh),
# whichever page it leads to.
printf 'app %s\nconfig app.yaml\n' "$LIB/hello.so" >"$TMP/forge.conf"

U=http://127.0.0.1:$PORT
TCK=$(getconf CLK_TCK)
WORKER=

cpu_ticks() { awk '{print $14 + $15}' "/proc/$WORKER/stat"; }

# run URL: prints "req/s us-cpu-per-request"
run() {
  local before after out rps n
  before=$(cpu_ticks)
  out=$("${LOAD_CPU[@]}" wrk -t1 -c32 -d"${SECS}s" "$1")
  after=$(cpu_ticks)
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  awk -v r="$rps" -v n="$n" -v t=$((after - before)) -v hz="$TCK" \
    'BEGIN { printf "%.0f %.2f\n", r, (n > 0 ? t / hz / n * 1e6 : 0) }'
}

summary() { # summary LABEL RATIOS...
  local label=$1
  shift
  printf '%s\n' "$@" | sort -n | awk -v label="$label" '
    { v[NR] = $1 }
    END {
      med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "kore_bench: %s median %.3f, spread %.3f to %.3f (%d pairs; target >= 0.95)\n",
        label, med, v[1], v[NR], NR
    }'
}

# variant NAME APP-YAML: one Kore, PAIRS alternating pairs
variant() {
  local name=$1 i a acpu b bcpu r cr ratios=() cratios=()
  printf '%s' "$2" >"$TMP/app.yaml"
  rm -f "$TMP/kore.pid"
  (cd "$TMP" && TMPDIR=$TMP exec "${SERVER_CPU[@]}" kore -f -n -r -q -c "$TMP/kore.conf" >"$TMP/kore.log" 2>&1) &
  for _ in $(seq 1 100); do port_busy "$PORT" && [ -s "$TMP/kore.pid" ] && break; sleep 0.1; done
  if ! port_busy "$PORT"; then
    echo "kore_bench: kore did not start:"
    cat "$TMP/kore.log"
    return 1
  fi
  WORKER=$(pgrep -P "$(cat "$TMP/kore.pid")" | head -n1)
  [ "$(curl -s "$U/native")" == "hello" ] || { echo "kore_bench: /native does not answer"; return 1; }
  [ "$(curl -s "$U/hello")" == "hello" ] || { echo "kore_bench: /hello does not answer"; return 1; }
  wrk -t1 -c32 -d1s "$U/native" >/dev/null
  wrk -t1 -c32 -d1s "$U/hello" >/dev/null

  echo "-- forge config: $name"
  printf '%-5s %12s %10s %12s %10s %8s %8s\n' pair "native r/s" "us/req" "forge r/s" "us/req" "r/s B/A" "cpu A/B"
  for i in $(seq 1 "$PAIRS"); do
    read -r a acpu < <(run "$U/native")
    read -r b bcpu < <(run "$U/hello")
    r=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", (a > 0 ? b / a : 0) }')
    cr=$(awk -v a="$acpu" -v b="$bcpu" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
    ratios+=("$r")
    cratios+=("$cr")
    printf '%-5s %12s %10s %12s %10s %8s %8s\n' "$i" "$a" "$acpu" "$b" "$bcpu" "$r" "$cr"
  done

  kill -TERM "$(cat "$TMP/kore.pid")"
  for _ in $(seq 1 50); do port_busy "$PORT" || break; sleep 0.1; done
  sleep 0.3
  if grep -Eq "violation|\) gone" "$TMP/kore.log"; then
    echo "kore_bench: a worker died during the run:"
    grep -E "violation|\) gone" "$TMP/kore.log"
    return 1
  fi
  summary "$name: forge/native req/s" "${ratios[@]}"
  summary "$name: native/forge CPU per request" "${cratios[@]}"
}

echo "kore_bench: Kore $(kore -v | cut -d' ' -f1), 1 worker, wrk -t1 -c32, $PAIRS pairs x ${SECS}s per config$PIN_NOTE"
variant default $'http:\n  middleware:\n    access_log: false\nlog:\n  level: warn\n' || exit 1
variant lean $'http:\n  middleware:\n    access_log: false\n    request_id: false\nobserve:\n  metrics:\n    enabled: false\n  trace:\n    enabled: false\nlog:\n  level: warn\n' || exit 1
