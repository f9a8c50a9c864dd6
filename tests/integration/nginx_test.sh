#!/usr/bin/env bash
# Forge inside a real nginx: build/lib/hello.so behind ngx_http_forge_module.
#
# Starts nginx (master + 2 workers) on 127.0.0.1:18081 (plain), 18082 (TLS +
# HTTP/2, self-signed certificate made here) and 18083 (a larger nginx body
# limit, so Forge's own limit answers), everything in a temp dir, and checks
# every hello route, bodies and limits, keep-alive at 1000 connections,
# pipelining, blocking routes, streaming, a native location beside Forge,
# malformed requests, aborted requests, a reload under load, and the errors
# `nginx -t` gives for bad forge_app settings.
#
# usage: tests/integration/nginx_test.sh [BUILD_DIR]
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac

MODULE=$BUILD/lib/ngx_http_forge_module.so
APP=$BUILD/lib/hello.so
CLIENT="python3 $ROOT/tests/integration/nginx_client.py"
P=18081 PTLS=18082 PBIG=18083

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "  ok   $*"; }
bad() { fail=$((fail + 1)); echo "  FAIL $*"; }
check() { # check NAME COMMAND...: passes when the command succeeds
    local name=$1; shift
    local out
    if out=$("$@" 2>&1); then ok "$name"; else bad "$name"; echo "$out" | sed 's/^/       /' | tail -n 20; fi
}
expect_eq() { # expect_eq NAME GOT WANT
    if [ "$2" == "$3" ]; then ok "$1"; else bad "$1: got [$2], want [$3]"; fi
}
summary() {
    echo "nginx: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for f in "$NGINX" "$MODULE" "$APP"; do
    if [ ! -e "$f" ]; then
        bad "missing $f (install nginx and nginx-dev: scripts/deps.sh; build: cmake --build $BUILD)"
        summary
        exit 1
    fi
done

DIR=$(mktemp -d /tmp/forge-nginx-test.XXXXXX)
# Started as root, nginx runs its workers as nobody: they must reach the temp
# paths (nginx creates those itself) and write Forge's machine lock in run/.
chmod 755 "$DIR"
mkdir -m 1777 "$DIR/run"
MASTER=
cleanup() {
    if [ -n "$MASTER" ] && kill -0 "$MASTER" 2>/dev/null; then
        kill -QUIT "$MASTER" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$MASTER" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$MASTER" 2>/dev/null
    fi
    if [ -n "${KEEP:-}" ]; then echo "kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT

# ---- configuration ----

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$DIR/key.pem" -out "$DIR/cert.pem" \
    -days 1 -subj /CN=127.0.0.1 >/dev/null 2>&1

cat >"$DIR/app.yaml" <<EOF
http:
  max_body_size: 8m
runtime:
  machine_lock: $DIR/run/forge.lock
EOF

conf_head() { # the parts every test config shares
    cat <<EOF
load_module $MODULE;
daemon off;
master_process on;
worker_processes 2;
worker_rlimit_nofile 8192;
pid nginx.pid;
error_log logs/error.log info;
events { worker_connections 4096; }
EOF
}

http_common() {
    cat <<EOF
    access_log off;
    client_body_temp_path client_body;
    proxy_temp_path proxy;
    fastcgi_temp_path fastcgi;
    uwsgi_temp_path uwsgi;
    scgi_temp_path scgi;
EOF
}

mkdir -p "$DIR/logs"
{
    conf_head
    cat <<EOF
http {
$(http_common)
    client_max_body_size 8m;
    client_body_buffer_size 64k;

    forge_app $APP;
    forge_config $DIR/app.yaml;

    server {
        listen 127.0.0.1:$P;
        location = /native { return 200 "native\n"; }
        location /static/ { return 200 "static\n"; }
        location / { forge; }
    }

    server {
        listen 127.0.0.1:$PTLS ssl http2;
        ssl_certificate $DIR/cert.pem;
        ssl_certificate_key $DIR/key.pem;
        location / { forge; }
    }

    server {
        listen 127.0.0.1:$PBIG;
        client_max_body_size 16m;
        location / { forge; }
    }
}
EOF
} >"$DIR/nginx.conf"

# ---- nginx -t: configuration errors name the problem ----

echo "== nginx -t"
cat >"$DIR/no_symbol.c" <<'EOF'
int not_a_forge_app(void) { return 0; }
EOF
cat >"$DIR/bad_abi.c" <<'EOF'
#include <forge/app.h>
static int init(forge_app *app, forge_error *err) { return 0; }
FORGE_EXPORT const struct forge_app_entry forge_app_entry = {
    FORGE_ABI_VERSION + 41, sizeof(struct forge_app_entry), "bad_abi", "0", init, {0}};
EOF
cc -shared -fPIC -o "$DIR/no_symbol.so" "$DIR/no_symbol.c"
cc -shared -fPIC -I"$ROOT/libforge-core/include" -o "$DIR/bad_abi.so" "$DIR/bad_abi.c"

nginx_t() { # nginx_t NAME HTTP_BODY EXPECTED_MESSAGE_REGEX
    local name=$1 body=$2 want=$3 conf=$DIR/t.conf out
    { conf_head; printf 'http {\n%s\n%s\n}\n' "$(http_common)" "$body"; } >"$conf"
    if out=$("$NGINX" -t -p "$DIR" -c "$conf" -e "$DIR/logs/t.log" 2>&1); then
        bad "nginx -t $name: accepted"
    elif grep -Eq "$want" <<<"$out"; then
        ok "nginx -t $name: $(grep -Eo "$want" <<<"$out" | head -n 1)"
    else
        bad "nginx -t $name: message does not match /$want/:"
        echo "$out" | sed 's/^/       /'
    fi
}
nginx_t "missing app" "forge_app $DIR/nope.so;" "nope\.so.*(No such file|cannot open)"
nginx_t "app without entry symbol" "forge_app $DIR/no_symbol.so;" "no_symbol\.so.*forge_app_entry"
nginx_t "app for another ABI" "forge_app $DIR/bad_abi.so;" "bad_abi\.so.*ABI 42"
nginx_t "forge without forge_app" "server { listen 127.0.0.1:$P; location / { forge; } }" \
    '"forge" is used in a location but no "forge_app"'
nginx_t "bad forge_config" "forge_app $APP; forge_config $DIR/nope.yaml;" "nope\.yaml"
nginx_t "forge_app outside http" "server { listen 127.0.0.1:$P; location / { forge_app $APP; } }" \
    '"forge_app" directive is not allowed here'
check "nginx -t accepts the test configuration" "$NGINX" -t -p "$DIR" -c "$DIR/nginx.conf" -e "$DIR/logs/t.log"

# ---- start ----

"$NGINX" -p "$DIR" -c "$DIR/nginx.conf" -e "$DIR/logs/error.log" &
MASTER=$!
for _ in $(seq 100); do
    curl -s -m 1 -o /dev/null "http://127.0.0.1:$P/native" && curl -sk -m 1 -o /dev/null "https://127.0.0.1:$PTLS/" && break
    sleep 0.1
done
workers() { pgrep -P "$MASTER" | sort | tr '\n' ' '; }
WORKERS=$(workers)
echo "== nginx master $MASTER, workers $WORKERS"

U=http://127.0.0.1:$P
req() { curl -s -m 20 -o "$DIR/body" -D "$DIR/head" -w '%{http_code}' "$@"; }
header() { grep -i "^$1:" "$DIR/head" | head -n 1 | cut -d' ' -f2- | tr -d '\r'; }
body() { cat "$DIR/body"; }

echo "== hello routes"
expect_eq "GET /hello status" "$(req "$U/hello")" 200
expect_eq "GET /hello body" "$(body)" "hello"
expect_eq "GET /hello content-type" "$(header Content-Type)" "text/plain; charset=utf-8"
expect_eq "GET /users/42" "$(req "$U/users/42")$(body)" '200{"id":"42"}'
expect_eq "GET /users/a%20b (decoded parameter)" "$(req "$U/users/a%20b")$(body)" '200{"id":"a b"}'
expect_eq "POST /echo" "$(req -H 'Content-Type: application/json' -d '{"x":[1,2]}' "$U/echo")$(body)" '200{"x":[1,2]}'
expect_eq "POST /echo content-type back" "$(header Content-Type)" "application/json"
expect_eq "GET /error status" "$(req "$U/error")" 418
expect_eq "GET /error problem+json" "$(header Content-Type)" "application/problem+json"
check "GET /error detail" grep -q '"detail":"This server brews no coffee."' "$DIR/body"
expect_eq "GET /nope 404" "$(req "$U/nope")$(header Content-Type)" "404application/problem+json"
expect_eq "DELETE /hello 405" "$(req -X DELETE "$U/hello")" 405
expect_eq "DELETE /hello Allow" "$(header Allow)" "GET, HEAD, OPTIONS"
check "HEAD: headers of the GET, no body (keep-alive intact)" $CLIENT head $P
expect_eq "GET /async" "$(req "$U/async")$(body)" "200async"
expect_eq "GET /slow (blocking route)" "$(req "$U/slow?ms=50")$(body)" "200slow"
expect_eq "X-Request-ID passes through" "$(req -H 'X-Request-ID: test-req-7' "$U/hello")$(header X-Request-ID)" "200test-req-7"
expect_eq "query string reaches Forge" "$(req "$U/slow?ms=x9999999")" 200
expect_eq "HTTP/1.0 without Host" "$(curl -s -0 -H 'Host:' "$U/hello")" "hello"

echo "== native locations beside Forge"
expect_eq "location = /native (nginx return)" "$(req "$U/native")$(body)" "200native"
expect_eq "location /static/ (nginx return)" "$(req "$U/static/x")$(body)" "200static"
expect_eq "other paths go to Forge" "$(req "$U/static")$(header Content-Type)" "404application/problem+json"

echo "== streaming"
expect_eq "GET /stream chunks" "$(req -N "$U/stream" | tr -d '\n')$(body | tr '\n' ,)" "200chunk 1,chunk 2,chunk 3,"
expect_eq "GET /stream is chunked" "$(header Transfer-Encoding)" "chunked"
expect_eq "GET /stream?sync=1" "$(req "$U/stream?sync=1")$(body | tr '\n' ,)" "200chunk 1,chunk 2,chunk 3,"

echo "== bodies and limits"
head -c 1048576 /dev/urandom >"$DIR/1m"
head -c 8388608 /dev/urandom >"$DIR/8m"
head -c 8388609 /dev/urandom >"$DIR/8m1"
head -c 9437184 /dev/urandom >"$DIR/9m"
for f in 1m 8m; do
    code=$(curl -s -o "$DIR/out" -w '%{http_code}' -H 'Content-Type: application/octet-stream' \
        --data-binary "@$DIR/$f" "$U/echo")
    if [ "$code" = 200 ] && cmp -s "$DIR/$f" "$DIR/out"; then ok "POST /echo $f (temp file) echoed intact"; else bad "POST /echo $f: $code"; fi
done
code=$(curl -s -o "$DIR/out" -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary "@$DIR/1m" "$U/echo")
if [ "$code" = 200 ] && cmp -s "$DIR/1m" "$DIR/out"; then ok "POST /echo 1m chunked echoed intact"; else bad "POST /echo 1m chunked: $code"; fi
expect_eq "8 MiB + 1 past client_max_body_size: nginx 413" \
    "$(curl -s -o /dev/null -w '%{http_code}' --data-binary "@$DIR/8m1" "$U/echo")" 413
expect_eq "chunked past client_max_body_size: nginx 413" \
    "$(curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary "@$DIR/9m" "$U/echo")" 413
expect_eq "Content-Length past Forge's limit: Forge 413 problem+json" \
    "$(req --data-binary "@$DIR/9m" "http://127.0.0.1:$PBIG/echo")$(header Content-Type)" "413application/problem+json"
expect_eq "chunked past Forge's limit: Forge 413" \
    "$(req -H 'Transfer-Encoding: chunked' --data-binary "@$DIR/9m" "http://127.0.0.1:$PBIG/echo")$(header Content-Type)" "413application/problem+json"
expect_eq "8 MiB within both limits" \
    "$(curl -s -o /dev/null -w '%{http_code}' --data-binary "@$DIR/8m" "http://127.0.0.1:$PBIG/echo")" 200

echo "== connections"
check "1000 concurrent keep-alive connections" $CLIENT keepalive $P 1000 3
check "pipelined requests answered in order" $CLIENT pipeline $P
check "blocking routes run on Forge's pool, /hello keeps answering" $CLIENT blocking $P
check "aborted requests (blocking, stream, async)" $CLIENT abort $P

echo "== malformed requests"
check "malformed requests get a 4xx" $CLIENT malformed $P
expect_eq "workers unchanged (no crash)" "$(workers)" "$WORKERS"

echo "== TLS and HTTP/2"
T=https://127.0.0.1:$PTLS
expect_eq "HTTP/2 GET /hello" "$(curl -sk --http2 -o "$DIR/body" -w '%{http_version} %{http_code}' "$T/hello")$(body)" "2 200hello"
expect_eq "HTTP/2 POST /echo 1m" "$(curl -sk --http2 -o "$DIR/out" -w '%{http_version} %{http_code}' --data-binary "@$DIR/1m" "$T/echo")$(cmp -s "$DIR/1m" "$DIR/out" && echo same)" "2 200same"
expect_eq "HTTP/2 GET /stream" "$(curl -sk --http2 -N "$T/stream" | tr '\n' ,)" "chunk 1,chunk 2,chunk 3,"
expect_eq "HTTP/2 GET /slow" "$(curl -sk --http2 "$T/slow?ms=20")" "slow"
expect_eq "HTTP/2 HEAD /hello" "$(curl -sk --http2 -I -o /dev/null -w '%{http_code}' "$T/hello")" 200
expect_eq "HTTP/2 scheme is https (404 instance from Forge)" "$(curl -sk --http2 -o /dev/null -w '%{http_code}' "$T/nope")" 404
expect_eq "HTTP/1.1 over TLS" "$(curl -sk --http1.1 -o /dev/null -w '%{http_version} %{http_code}' "$T/hello")" "1.1 200"
expect_eq "HTTP/2 many streams on one connection" \
    "$(curl -sk --http2 -o /dev/null -o /dev/null -o /dev/null -o /dev/null -w '%{http_code}%{num_connects} ' "$T/hello" "$T/slow?ms=10" "$T/users/3" "$T/stream" | tr -d ' ')" "2001200020002000"

echo "== reload under load"
$CLIENT load $P 6 32 >"$DIR/load.out" 2>&1 &
LOAD=$!
sleep 1.5
"$NGINX" -p "$DIR" -c "$DIR/nginx.conf" -e "$DIR/logs/error.log" -s reload
sleep 2
"$NGINX" -p "$DIR" -c "$DIR/nginx.conf" -e "$DIR/logs/error.log" -s reload
if wait $LOAD; then ok "no failed request across two reloads: $(tail -n 1 "$DIR/load.out")"; else bad "reload under load: $(cat "$DIR/load.out")"; fi
sleep 1
NEW=$(workers)
if [ -n "$NEW" ] && [ "$NEW" != "$WORKERS" ]; then ok "reload replaced the workers"; else bad "workers after reload: [$NEW] (before: $WORKERS)"; fi
expect_eq "serving after reload" "$(curl -s "$U/hello")" "hello"

echo "== stop"
kill -QUIT "$MASTER"
for _ in $(seq 100); do kill -0 "$MASTER" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$MASTER" 2>/dev/null; then bad "nginx did not stop on SIGQUIT"; else ok "graceful stop"; fi
MASTER=

if grep -E '\[(alert|emerg|crit)\]|exited on signal|open socket' "$DIR/logs/error.log"; then
    bad "error.log has alerts or crashes (above)"
else
    ok "error.log: no alert, crash or leaked socket"
fi
check "Forge's log lines reach nginx's error log" grep -q 'forge: .*INFO  request' "$DIR/logs/error.log"

summary
