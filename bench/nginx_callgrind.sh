#!/usr/bin/env bash
# Instructions per request in nginx (one worker, no master, under callgrind):
# the native `return 200` location and Forge's GET /hello (examples/hello),
# with the default middleware and with it off. Counters are zeroed after a
# warm-up, N keep-alive requests are sent with ab, the counters dumped; the
# total divided by N is the worker's instructions per request (nginx's event
# loop and parsing included, so native and Forge compare directly).
#
# usage: bench/nginx_callgrind.sh [BUILD_DIR [N]]     env: PORT=18320
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
N=${2:-5000}
PORT=${PORT:-18320}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for f in "$NGINX" "$BUILD/lib/ngx_http_forge_module.so" "$BUILD/lib/hello.so" \
    "$(command -v valgrind || echo /nonexistent)" "$(command -v ab || echo /nonexistent)"; do
    [ -e "$f" ] || { echo "nginx_callgrind: missing $f"; exit 1; }
done
DIR=$(mktemp -d /tmp/forge-nginx-cg.XXXXXX)
chmod 755 "$DIR"
mkdir -m 1777 "$DIR/run" "$DIR/logs"
VG=
stop() {
    if [ -n "$VG" ]; then
        kill -QUIT "$VG" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$VG" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$VG" 2>/dev/null
        VG=
    fi
}
trap 'stop; rm -rf "$DIR"' EXIT
measure() { # measure LABEL CONFIG
    cat >"$DIR/nginx.conf" <<EOC
load_module $BUILD/lib/ngx_http_forge_module.so;
daemon off;
master_process off;
worker_processes 1;
pid nginx.pid;
error_log logs/error.log error;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path client_body;
    proxy_temp_path proxy;
    fastcgi_temp_path fastcgi;
    uwsgi_temp_path uwsgi;
    scgi_temp_path scgi;
    forge_app $BUILD/lib/hello.so;
    forge_config $2;
    server {
        listen 127.0.0.1:$PORT;
        location = /native { return 200 "hello\n"; }
        location / { forge; }
    }
}
EOC
    valgrind --tool=callgrind --compress-strings=no --compress-pos=no --callgrind-out-file="$DIR/cg.%p" \
        "$NGINX" -p "$DIR" -c "$DIR/nginx.conf" -e "$DIR/logs/error.log" >"$DIR/vg.log" 2>&1 &
    VG=$!
    for _ in $(seq 300); do curl -s -m 2 -o /dev/null "http://127.0.0.1:$PORT/native" && break; sleep 0.2; done
    [ "$(curl -s -m 5 "http://127.0.0.1:$PORT/hello")" = hello ] ||
        { echo "nginx_callgrind: /hello does not answer"; tail "$DIR/logs/error.log"; exit 1; }
    for path in /native /hello; do
        ab -q -k -n 500 -c 4 "http://127.0.0.1:$PORT$path" >/dev/null 2>&1
        callgrind_control -z "$VG" >/dev/null 2>&1
        ab -q -k -n "$N" -c 4 "http://127.0.0.1:$PORT$path" >"$DIR/ab.out" 2>&1
        callgrind_control -d "$VG" >/dev/null 2>&1
        sleep 1
        local f ir
        f=$(ls -t "$DIR"/cg.* | head -n 1)
        ir=$(sed -n 's/^summary: *//p;s/^totals: *//p' "$f" | head -n 1)
        printf '%-20s %-8s %8d instructions/request\n' "$1" "$path" $((ir / N))
        [ -n "${KEEP:-}" ] && cp "$f" "${KEEP}.${1// /_}${path//\//_}"
        rm -f "$DIR"/cg.*.*
    done
    stop
}
measure "default middleware" "$ROOT/bench/conf/default.yaml"
measure "middleware off" "$ROOT/bench/conf/bare.yaml"
