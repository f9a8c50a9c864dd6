#!/usr/bin/env bash
# Instructions per request in Apache httpd (`apache2 -X`: one process,
# mpm_event, under callgrind): the native handler of bench/apache_bench.sh
# (bench/native/mod_native_hello.c, GET /native) and Forge's GET /hello
# (examples/hello through mod_forge), in the same server. For each path, N
# keep-alive requests are sent on one connection (ab -k -c1) after a warm-up,
# with the counters zeroed before and dumped after; a connection that sends
# no request is measured the same way and subtracted, so accept/close cost
# cancels and the figure is Apache's per-request work plus the handler's.
#
# usage: bench/apache_callgrind.sh [BUILD_DIR [N]]   env: PORT=18111, KEEP=prefix
# (KEEP=/tmp/ac keeps the callgrind files for callgrind_annotate.)
# Not part of `make bench` (the name does not end in _bench.sh): needs valgrind.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
N=${2:-2000}
PORT=${PORT:-18111}
MODDIR=/usr/lib/apache2/modules
for f in "$(command -v apache2 || echo /nonexistent)" "$BUILD/lib/mod_forge.so" \
    "$BUILD/lib/mod_native_hello.so" "$BUILD/lib/hello.so" \
    "$(command -v valgrind || echo /nonexistent)" "$(command -v ab || echo /nonexistent)" \
    "$(command -v python3 || echo /nonexistent)"; do
    [ -e "$f" ] || { echo "apache_callgrind: missing $f"; exit 1; }
done
DIR=$(mktemp -d /tmp/forge-apache-cg.XXXXXX)
chmod 755 "$DIR"
mkdir "$DIR/tmp" "$DIR/cg"
export TMPDIR="$DIR/tmp"
# As root, Apache would switch to another user after start-up, and vgdb
# (callgrind_control) could no longer reach it: run everything as www-data.
AS=()
if [ "$(id -u)" -eq 0 ]; then
    AS=(setpriv --reuid=www-data --regid=www-data --init-groups)
    chown -R www-data "$DIR"
fi
cat >"$DIR/httpd.conf" <<EOF
ServerRoot "$DIR"
ServerName 127.0.0.1
PidFile "$DIR/httpd.pid"
DefaultRuntimeDir "$DIR"
ErrorLog "$DIR/error.log"
LogLevel warn
Listen 127.0.0.1:$PORT
LoadModule mpm_event_module $MODDIR/mod_mpm_event.so
LoadModule authz_core_module $MODDIR/mod_authz_core.so
LoadModule forge_module $BUILD/lib/mod_forge.so
LoadModule native_hello_module $BUILD/lib/mod_native_hello.so
ThreadsPerChild 4
ThreadLimit 4
ServerLimit 1
MaxRequestWorkers 4
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 30
ForgeApp "$BUILD/lib/hello.so"
<Location /hello>
    Forge On
</Location>
<Location /native>
    NativeHello On
</Location>
EOF
VG=
stop() {
    if [ -n "$VG" ]; then
        kill -TERM "$VG" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$VG" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$VG" 2>/dev/null
        VG=
    fi
}
trap 'stop; [ -n "${KEEPDIR:-}" ] || rm -rf "$DIR"' EXIT

"${AS[@]}" valgrind --tool=callgrind --compress-strings=no --compress-pos=no \
    --callgrind-out-file="$DIR/cg/cg.%p" apache2 -X -f "$DIR/httpd.conf" >"$DIR/vg.log" 2>&1 &
VG=$!
for _ in $(seq 300); do curl -s -m 2 -o /dev/null "http://127.0.0.1:$PORT/native" && break; sleep 0.2; done
[ "$(curl -s -m 5 "http://127.0.0.1:$PORT/hello")" = hello ] ||
    { echo "apache_callgrind: /hello does not answer"; tail "$DIR/error.log" "$DIR/vg.log"; exit 1; }

CG_NAME=apache_callgrind
CG_CTL=("${AS[@]}" callgrind_control)
CG_PID=$VG
CG_DUMPS="$DIR/cg/cg.*.*"
. "$ROOT/bench/callgrind_session.sh"
cg_report /native /hello
