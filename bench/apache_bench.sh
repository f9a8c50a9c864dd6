#!/usr/bin/env bash
# bench/apache_bench.sh BUILD: Forge's GET /hello under mod_forge against a
# minimal native Apache handler (bench/native/mod_native_hello.c), in one
# Apache (mpm_event, 1 process x 64 threads, no access log). Both claim their
# URIs in translate_name and skip the directory walk, so the ratio measures
# the binding and Forge's core, not Apache's configuration.
#
# Alternates native, forge, native, forge ... (PAIRS pairs of SECONDS s, `wrk
# -t1 -c32`), prints req/s of each, the per-pair ratio forge/native, their
# median and spread, and the server's CPU time per request for each side.
# Target: median ratio >= 0.95.
set -uo pipefail
cd "$(dirname "$0")/.."
. bench/pin.sh
BUILD=${1:-build}
PAIRS=${PAIRS:-4}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-4}
PORT=${PORT:-18110}
LIB=$(cd "$BUILD/lib" 2>/dev/null && pwd) || { echo "apache_bench: no $BUILD/lib"; exit 1; }
MODDIR=/usr/lib/apache2/modules

for need in apache2 wrk python3; do
  command -v "$need" >/dev/null || { echo "apache_bench: skipped ($need not installed)"; exit 0; }
done
for f in mod_forge.so mod_native_hello.so hello.so; do
  [ -f "$LIB/$f" ] || { echo "apache_bench: skipped ($LIB/$f not built; needs apache2-dev)"; exit 0; }
done

DIR=$(mktemp -d /tmp/forge-apache-bench.XXXXXX)
mkdir -p "$DIR/tmp" && chmod 1777 "$DIR/tmp" && chmod 755 "$DIR"
USERLINE=""
[ "$(id -u)" -eq 0 ] && USERLINE=$'User www-data\nGroup www-data'
cat >"$DIR/httpd.conf" <<EOF
ServerRoot "$DIR"
ServerName 127.0.0.1
PidFile "$DIR/httpd.pid"
DefaultRuntimeDir "$DIR"
ErrorLog "$DIR/error.log"
LogLevel warn
Listen 127.0.0.1:$PORT
$USERLINE
LoadModule mpm_event_module $MODDIR/mod_mpm_event.so
LoadModule authz_core_module $MODDIR/mod_authz_core.so
LoadModule forge_module $LIB/mod_forge.so
LoadModule native_hello_module $LIB/mod_native_hello.so
StartServers 1
ServerLimit 1
ThreadsPerChild 64
ThreadLimit 64
MaxRequestWorkers 64
MinSpareThreads 1
MaxSpareThreads 64
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
ForgeApp "$LIB/hello.so"
<Location /hello>
    Forge On
</Location>
<Location /native>
    NativeHello On
</Location>
EOF

cleanup() {
  if [ -f "$DIR/httpd.pid" ]; then
    kill -TERM "$(cat "$DIR/httpd.pid")" 2>/dev/null
    for _ in $(seq 50); do [ -f "$DIR/httpd.pid" ] || break; sleep 0.1; done
  fi
  rm -rf "$DIR"
}
trap cleanup EXIT

TMPDIR="$DIR/tmp" "${SERVER_CPU[@]}" apache2 -f "$DIR/httpd.conf" -k start || { cat "$DIR/error.log"; exit 1; }
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$PORT/hello" >/dev/null 2>&1 && curl -sf "http://127.0.0.1:$PORT/native" >/dev/null 2>&1 && break
  sleep 0.1
done
[ "$(curl -s "http://127.0.0.1:$PORT/hello")" = hello ] || { echo "apache_bench: forge /hello did not answer"; cat "$DIR/error.log"; exit 1; }
[ "$(curl -s "http://127.0.0.1:$PORT/native")" = hello ] || { echo "apache_bench: native did not answer"; exit 1; }

PARENT=$(cat "$DIR/httpd.pid")
CHILD=$(pgrep -P "$PARENT" | head -1)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$CHILD/stat"; }
CLK=$(getconf CLK_TCK)

# warm both paths
wrk -t1 -c32 -d1s "http://127.0.0.1:$PORT/hello" >/dev/null
wrk -t1 -c32 -d1s "http://127.0.0.1:$PORT/native" >/dev/null

RESULTS="$DIR/results"
: >"$RESULTS"
run() { # name path
  local t0 t1 out rps reqs
  t0=$(cpu_ticks)
  out=$("${LOAD_CPU[@]}" wrk -t1 -c32 -d"${SECONDS_PER_RUN}s" "http://127.0.0.1:$PORT$2")
  t1=$(cpu_ticks)
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  echo "$1 $rps $reqs $((t1 - t0))" >>"$RESULTS"
  printf '  %-7s %10s req/s\n' "$1" "$rps"
}
echo "apache_bench: mpm_event 1x64 threads, wrk -t1 -c32, $PAIRS pairs of ${SECONDS_PER_RUN}s$PIN_NOTE"
for i in $(seq "$PAIRS"); do
  echo "pair $i"
  run native /native
  run forge /hello
done

python3 - "$RESULTS" "$CLK" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
clk = int(sys.argv[2])
native = [r for r in rows if r[0] == "native"]
forge = [r for r in rows if r[0] == "forge"]
ratios = [float(f[1]) / float(n[1]) for n, f in zip(native, forge)]
for i, r in enumerate(ratios, 1):
    print(f"pair {i}: forge/native = {r:.3f}")
med = statistics.median(ratios)
print(f"median ratio forge/native: {med:.3f} (spread {min(ratios):.3f} .. {max(ratios):.3f})")
def us_per_req(rs):
    ticks = sum(int(r[3]) for r in rs)
    reqs = sum(int(r[2]) for r in rs)
    return ticks / clk / reqs * 1e6 if reqs else float("nan")
print(f"median req/s: native {statistics.median(float(r[1]) for r in native):.0f}, "
      f"forge {statistics.median(float(r[1]) for r in forge):.0f}")
print(f"server CPU per request: native {us_per_req(native):.1f} us, forge {us_per_req(forge):.1f} us")
# CPU per request is steadier than req/s on a shared machine: native/forge per pair
cpu = [us_per_req([n]) / us_per_req([f]) for n, f in zip(native, forge) if int(f[3]) and int(n[3])]
if cpu:
    print(f"CPU efficiency native/forge per pair: {' '.join(f'{c:.3f}' for c in cpu)}; "
          f"median {statistics.median(cpu):.3f}")
print("target: median ratio >= 0.95:", "met" if med >= 0.95 else "NOT met")
EOF
