#!/usr/bin/env bash
# The Kore binding against real Kore 4.1: build/lib/hello.so (every hello
# route, bodies, concurrency, streams, aborts, malformed requests) and the
# probe app (request translation) served by forge_kore.so on 127.0.0.1,
# a kodev project carrying a native page and a Forge app in one .so, ports
# 18120-18139, everything in a temporary directory.
#
#   bash tests/integration/kore_test.sh [BUILD]
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
LIB=$BUILD/lib

if ! command -v kore >/dev/null 2>&1; then
  echo "kore_test: skipped (kore is not installed; scripts/deps.sh installs it)"
  exit 0
fi
if [ ! -d /usr/include/kore ]; then
  echo "kore_test: skipped (no Kore headers: the binding was not built)"
  exit 0
fi
for f in forge_kore.so hello.so kore_probe.so; do
  if [ ! -f "$LIB/$f" ]; then
    echo "kore_test: $LIB/$f is missing (build first)"
    exit 1
  fi
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/forge-kore-test.XXXXXX")
pass=0
fail=0
INSTANCES=()

cleanup() {
  local d pid
  for d in "${INSTANCES[@]}"; do
    if [ -f "$d/kore.pid" ]; then
      pid=$(cat "$d/kore.pid")
      kill -TERM "$pid" 2>/dev/null
    fi
  done
  sleep 0.5
  for d in "${INSTANCES[@]}"; do
    if [ -f "$d/kore.pid" ]; then
      pid=$(cat "$d/kore.pid")
      kill -KILL "$pid" 2>/dev/null
    fi
  done
  [ -n "${SINK_PID:-}" ] && kill "$SINK_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1${2:+: $2}"; }
check() { # check NAME EXPECTED ACTUAL
  if [ "$2" == "$3" ]; then ok "$1"; else bad "$1" "expected [$2], got [$3]"; fi
}
check_has() { # check_has NAME NEEDLE HAYSTACK
  if grep -qiF -- "$2" <<<"$3"; then ok "$1"; else bad "$1" "no [$2] in [$(head -c 400 <<<"$3")]"; fi
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

next_port=18120
PORT=
free_port() { # sets PORT
  while [ $next_port -le 18139 ]; do
    PORT=$next_port
    next_port=$((next_port + 1))
    port_busy $PORT || return 0
  done
  return 1
}

# start NAME APP.so WORKERS [APP_CONFIG_TEXT]: sets PORT
start() {
  local name=$1 app=$2 workers=$3 cfg=${4:-} dir=$TMP/$1 port
  free_port || { echo "no free port in 18120-18139" >&2; return 1; }
  port=$PORT
  mkdir -p "$dir"
  cat >"$dir/kore.conf" <<EOF
# Written by kore_test.sh
server notls {
	bind 127.0.0.1 $port
	tls no
}
load $LIB/forge_kore.so
workers $workers
worker_death_policy terminate
http_hsts_enable 0
http_body_max 16777216
http_body_disk_offload 1048576
http_body_disk_path $dir/bodies
http_keepalive_time 20
pidfile $dir/kore.pid
domain * {
	attach notls
	route ^/ forge_kore_page
}
EOF
  echo "app $app" >"$dir/forge.conf"
  if [ -n "$cfg" ]; then
    printf '%s\n' "$cfg" >"$dir/app.yaml"
    echo "config app.yaml" >>"$dir/forge.conf"
  fi
  INSTANCES+=("$dir")
  (cd "$dir" && TMPDIR=$dir exec kore -f -n -r -c "$dir/kore.conf" >"$dir/kore.log" 2>&1) &
  for _ in $(seq 1 100); do
    if port_busy "$port"; then
      return 0
    fi
    sleep 0.1
  done
  echo "kore ($name) did not open 127.0.0.1:$port; its log:" >&2
  cat "$dir/kore.log" >&2
  return 1
}

# raw PORT: sends stdin on one connection and prints everything the server
# sends until it closes or goes quiet for 2 s. Lines of the input that say
# "@pause MS" (wait MS milliseconds) or "@until TEXT" (wait until TEXT has
# arrived) are not sent. Kore 4.1 does not pipeline (bytes after a request
# head in the same read are dropped), so a second request on a connection
# waits for a sign that the first one was read.
cat >"$TMP/raw.py" <<'EOF'
import re, socket, sys, time
parts = re.split(rb"\n@(pause|until) ([^\n]*)\n", sys.stdin.buffer.read())
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
out = b""
def drain(until, text=None):
    global out
    while text is None or text not in out:
        left = until - time.monotonic()
        if left <= 0:
            return True
        s.settimeout(left)
        try:
            b = s.recv(65536)
        except socket.timeout:
            return True
        if not b:
            return False
        out += b
    return True
i = 0
while i < len(parts):
    if i % 3 == 0:
        if parts[i]:
            s.sendall(parts[i])
        i += 1
        continue
    verb, arg = parts[i], parts[i + 1]
    i += 2
    if verb == b"pause":
        alive = drain(time.monotonic() + int(arg) / 1000)
    else:
        alive = drain(time.monotonic() + 5, arg.replace(b"\\n", b"\n"))
    if not alive:
        break
drain(time.monotonic() + 2)
sys.stdout.buffer.write(out)
EOF
raw() { python3 "$TMP/raw.py" "$1"; }

status_of() { head -n1 | awk '{print $2}'; }

# A collector for the app's trace export (outgoing connections from a
# worker's pool thread, through forge_kore's conditional seccomp filter).
free_port || exit 1
SINK=$PORT
cat >"$TMP/sink.py" <<'EOF'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(sys.argv[2], "a") as f:
            f.write("%s %d\n" % (self.path, len(body)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
python3 "$TMP/sink.py" "$SINK" "$TMP/sink.log" &
SINK_PID=$!

HELLO_CFG="http:
  max_body_size: 8m
observe:
  trace:
    endpoint: http://localhost:$SINK/v1/traces
    flush_interval: 200ms"
start hello "$LIB/hello.so" 2 "$HELLO_CFG" || exit 1
P=$PORT
U=http://127.0.0.1:$P
echo "kore_test: hello.so on $U (2 workers)"

# ---- routes ----
r=$(curl -s -D "$TMP/h" "$U/hello")
check "GET /hello body" "hello" "$r"
h=$(tr -d '\r' <"$TMP/h")
check_has "GET /hello status" "HTTP/1.1 200" "$h"
check_has "GET /hello content-type" "Content-Type: text/plain" "$h"
check_has "GET /hello content-length" "content-length: 6" "$h"
check "GET /users/42" '{"id":"42"}' "$(curl -s "$U/users/42")"
check "GET /users/a%20b decoded" '{"id":"a b"}' "$(curl -s "$U/users/a%20b")"
check "GET /users/%zz is 400" "400" "$(curl -s -o /dev/null -w '%{http_code}' "$U/users/%zz")"

r=$(curl -s -D "$TMP/h" -H 'Content-Type: text/x-test' --data-binary 'echo me' "$U/echo")
check "POST /echo body" "echo me" "$r"
check_has "POST /echo content-type" "Content-Type: text/x-test" "$(cat "$TMP/h")"

r=$(curl -s -D "$TMP/h" "$U/error")
check_has "GET /error 418" "HTTP/1.1 418" "$(cat "$TMP/h")"
check_has "GET /error problem+json" "Content-Type: application/problem+json" "$(cat "$TMP/h")"
check_has "GET /error body" '"status":418' "$r"

r=$(curl -s -D "$TMP/h" "$U/no/such/route")
check_has "404" "HTTP/1.1 404" "$(cat "$TMP/h")"
check_has "404 problem+json" "application/problem+json" "$(cat "$TMP/h")"
check_has "404 body" '"status":404' "$r"

r=$(curl -s -D "$TMP/h" -X DELETE "$U/hello")
check_has "DELETE /hello 405" "HTTP/1.1 405" "$(cat "$TMP/h")"
check_has "405 Allow" "Allow: GET" "$(cat "$TMP/h")"
check_has "405 problem+json" '"status":405' "$r"

curl -s -D "$TMP/h" -o /dev/null -X OPTIONS "$U/hello"
check_has "OPTIONS /hello 204" "HTTP/1.1 204" "$(cat "$TMP/h")"
check_has "OPTIONS Allow" "Allow: GET" "$(cat "$TMP/h")"

# HEAD: the GET head, no body, and the connection stays usable
r=$(printf 'HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n\n@until content-length\nGET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' | raw "$P" | tr -d '\r')
check "HEAD then GET on one connection: two responses" "2" "$(grep -c '^HTTP/1.1 200' <<<"$r")"
check "HEAD has no body (the next response follows the head)" "hello" "$(tail -n1 <<<"$r")"
check_has "HEAD content-length of GET" "content-length: 6" "$r"

# keepalive: curl reuses the connection for a second URL
r=$(curl -sv "$U/hello" "$U/users/1" 2>&1)
check_has "keepalive reuse" "Re-using existing connection" "$r"

# ---- async, streams ----
check "GET /async" "async" "$(curl -s "$U/async")"
r=$(curl -s -D "$TMP/h" "$U/stream")
check "GET /stream body" "$(printf 'chunk 1\nchunk 2\nchunk 3')" "$r"
check_has "GET /stream chunked" "transfer-encoding: chunked" "$(cat "$TMP/h")"
check "GET /stream?sync=1 body" "$(printf 'chunk 1\nchunk 2\nchunk 3')" "$(curl -s "$U/stream?sync=1")"
r=$(printf 'GET /stream HTTP/1.1\r\nHost: t\r\n\r\n' | raw "$P" | tr -d '\r')
check_has "raw chunked framing" "$(printf '8\nchunk 1\n\n8\nchunk 2\n\n8\nchunk 3\n\n0\n')" "$r"
r=$(printf 'GET /stream HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' | raw "$P" | tr -d '\r')
check_has "stream with Connection: close ends its chunks" "$(printf 'chunk 3\n\n0\n')" "$r"
check_has "stream with Connection: close says so" "connection: close" "$r"
r=$(curl -s --http1.0 -D "$TMP/h" "$U/stream")
check "HTTP/1.0 stream body (close-delimited)" "$(printf 'chunk 1\nchunk 2\nchunk 3')" "$r"
if grep -qi "transfer-encoding" "$TMP/h"; then bad "HTTP/1.0 stream has no chunked framing"; else ok "HTTP/1.0 stream has no chunked framing"; fi
r=$(printf 'HEAD /stream HTTP/1.1\r\nHost: t\r\n\r\n\n@until chunked\nGET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' | raw "$P" | tr -d '\r')
check "HEAD /stream: no body, connection reusable" "hello" "$(tail -n1 <<<"$r")"
# a request sent while a stream is still going is read once the stream ends
r=$(printf 'GET /stream HTTP/1.1\r\nHost: t\r\n\r\n\n@until chunk 1\nGET /users/7 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' | raw "$P" | tr -d '\r')
check "request after a stream on one connection" '{"id":"7"}' "$(tail -n1 <<<"$r")"

# ---- bodies ----
head -c 8388608 /dev/urandom >"$TMP/8m"
head -c 8388609 /dev/urandom >"$TMP/8m1"
head -c 16777217 /dev/zero >"$TMP/16m1"
want=$(sha256sum <"$TMP/8m" | cut -d' ' -f1)
got=$(curl -s -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/8m" "$U/echo" | sha256sum | cut -d' ' -f1)
check "8 MiB body echoed intact (offloaded to disk by Kore)" "$want" "$got"
head -c 700000 /dev/urandom >"$TMP/700k"
want=$(sha256sum <"$TMP/700k" | cut -d' ' -f1)
got=$(curl -s --data-binary @"$TMP/700k" "$U/echo" | sha256sum | cut -d' ' -f1)
check "700 KB body echoed intact (in memory)" "$want" "$got"
r=$(curl -s -D "$TMP/h" --data-binary @"$TMP/8m1" "$U/echo")
check_has "8 MiB + 1: 413" "HTTP/1.1 413" "$(cat "$TMP/h")"
check_has "8 MiB + 1: problem+json" '"status":413' "$r"
code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$TMP/16m1" "$U/echo")
check "past Kore's http_body_max: 413 from Kore" "413" "$code"
check "empty POST body" "" "$(curl -s -X POST -H 'Content-Length: 0' "$U/echo")"

# ---- blocking routes on Forge's pool do not stall the worker ----
pids=()
for i in 1 2 3 4 5 6; do
  curl -s "$U/slow?ms=2000" >"$TMP/slow$i" &
  pids+=($!)
done
sleep 0.3
fast=0
for i in 1 2 3 4 5; do
  [ "$(curl -s --max-time 10 "$U/hello")" == "hello" ] && fast=$((fast + 1))
done
running=0
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && running=$((running + 1)); done
check "/hello answers while /slow runs" "5" "$fast"
if [ $running -gt 0 ]; then ok "/slow still in flight meanwhile ($running of 6)"; else bad "/slow still in flight meanwhile" "all /slow already done"; fi
wait "${pids[@]}"
n=0
for i in 1 2 3 4 5 6; do [ "$(cat "$TMP/slow$i")" == "slow" ] && n=$((n + 1)); done
check "six concurrent /slow complete" "6" "$n"

# ---- clients that go away ----
curl -s --max-time 0.3 "$U/slow?ms=1000" >/dev/null 2>&1
curl -s --max-time 0.015 "$U/stream" >/dev/null 2>&1
printf 'POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\npartial' | timeout 1 python3 -c '
import socket,sys
s=socket.create_connection(("127.0.0.1",int(sys.argv[1])));s.sendall(sys.stdin.buffer.read());s.close()' "$P"
sleep 1.2
check "served after aborted requests" "hello" "$(curl -s "$U/hello")"

# ---- malformed requests: a 4xx, and the workers keep serving ----
m() { # m NAME EXPECTED-STATUS REQUEST
  local s
  s=$(printf "$3" | raw "$P" | status_of)
  check "malformed: $1 -> $2" "$2" "$s"
}
m "garbage line" 400 'GARBAGE\r\n\r\n'
m "no Host" 400 'GET /hello HTTP/1.1\r\n\r\n'
m "unknown method" 400 'BREW /hello HTTP/1.1\r\nHost: t\r\n\r\n'
m "header without colon" 400 'GET /hello HTTP/1.1\r\nHost: t\r\nNoColonHere\r\n\r\n'
m "POST without Content-Length" 411 'POST /echo HTTP/1.1\r\nHost: t\r\n\r\n'
m "negative Content-Length" 411 'POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -5\r\n\r\n'
m "bad percent escape" 400 'GET /users/%%zz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'
m "encoded NUL" 400 'GET /users/a%%00b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'
m "path without slash" 404 'GET hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'
long=$(head -c 3000 /dev/zero | tr '\0' 'a')
m "long URI" 414 "GET /$long HTTP/1.1\r\nHost: t\r\n\r\n"
m "Content-Length over http_body_max" 413 'POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n'
# A head over http_header_max (4096): Kore 4.1 closes the connection without
# an answer (docs/hosts/kore.md, limits); the worker must keep serving.
big=$(head -c 5000 /dev/zero | tr '\0' 'x')
printf "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: $big\r\n\r\n" | raw "$P" >/dev/null 2>&1
check "served after malformed requests" "hello" "$(curl -s "$U/hello")"

# ---- SIGHUP: Kore reloads its modules; the Forge app stays loaded ----
kill -HUP "$(cat "$TMP/hello/kore.pid")"
sleep 1
check "after SIGHUP: /hello" "hello" "$(curl -s "$U/hello")"
check "after SIGHUP: /slow on the pool" "slow" "$(curl -s "$U/slow?ms=50")"
check "after SIGHUP: /stream" "$(printf 'chunk 1\nchunk 2\nchunk 3')" "$(curl -s "$U/stream")"
check_has "after SIGHUP: module reloaded by Kore" "reloaded '$LIB/forge_kore.so'" "$(cat "$TMP/hello/kore.log")"

# ---- trace export from the workers reached the collector ----
for _ in $(seq 1 30); do [ -s "$TMP/sink.log" ] && break; sleep 0.1; done
check_has "spans exported to the collector (outgoing connection from a worker)" "/v1/traces" "$(cat "$TMP/sink.log" 2>/dev/null)"

# ---- request translation (probe app) ----
start probe "$LIB/kore_probe.so" 1 || exit 1
PP=$PORT
UP=http://127.0.0.1:$PP
r=$(curl -s -D "$TMP/h" -H 'X-Rep: one' -H 'X-Rep: two' -H 'X-Other: 3' "$UP/probe/a%2Fb/c?x=1&y=%20")
pj() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1" <<<"$r"; }
check "probe method" "GET" "$(pj 'd["method"]')"
check "probe raw path" "/probe/a%2Fb/c" "$(pj 'd["path"]')"
check "probe query" "x=1&y=%20" "$(pj 'd["query"]')"
check "probe repeated headers in order" "one,two" "$(pj '",".join(v for n,v in d["headers"] if n.lower()=="x-rep")')"
check "probe Host header" "127.0.0.1:$PP" "$(pj '[v for n,v in d["headers"] if n.lower()=="host"][0]')"
check "probe peer" "127.0.0.1" "$(pj 'd["peer"]')"
check "probe peer port" "True" "$(pj '0 < d["port"] < 65536')"
check "probe scheme" "http" "$(pj 'd["scheme"]')"
check "probe repeated response headers" "2" "$(grep -ci '^X-Probe:' "$TMP/h")"
r=$(curl -s -X PUT --data-binary '12345' "$UP/probe/x")
check "probe PUT body" "PUT 5" "$(pj 'd["method"] + " " + str(d["body_len"])')"
r=$(curl -s -X PATCH --data-binary 'abc' "$UP/probe/x")
check "probe PATCH body" "PATCH 3" "$(pj 'd["method"] + " " + str(d["body_len"])')"
r=$(curl -s -X DELETE "$UP/probe/x")
check "probe DELETE" "DELETE" "$(pj 'd["method"]')"
r=$(curl -s "$UP/probe/")
check "probe empty query" "" "$(pj 'd["query"]')"

# ---- an app with a database (SQLite through Forge's db API) ----
if [ -f "$LIB/notes.so" ] && [ -f "$LIB/forge_db_sqlite.so" ]; then
  start notes "$LIB/notes.so" 1 "app:
  notes:
    data_dir: $TMP/notes/data" || exit 1
  NP=$PORT
  r=$(curl -s -X POST -H 'Content-Type: application/json' --data '{"title":"t","body":"b"}' "http://127.0.0.1:$NP/notes")
  check_has "notes: POST stores in SQLite" '"title":"t"' "$r"
  check_has "notes: GET reads it back" '"body":"b"' "$(curl -s "http://127.0.0.1:$NP/notes/1")"
  check "notes: DELETE" "204" "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "http://127.0.0.1:$NP/notes/1")"
  check "notes: gone" "404" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NP/notes/1")"
fi

# ---- configuration errors stop Kore at startup, named ----
# badconf FORGE.CONF-TEXT EXPECTED-MESSAGE [APP-CONFIG-TEXT]
badconf() {
  local dir=$TMP/bad$((++nbad)) out rc
  mkdir -p "$dir"
  printf 'server notls {\n\tbind 127.0.0.1 18139\n\ttls no\n}\nload %s\nworkers 1\npidfile %s/kore.pid\ndomain * {\n\tattach notls\n\troute ^/ forge_kore_page\n}\n' \
    "$LIB/forge_kore.so" "$dir" >"$dir/kore.conf"
  [ -n "$1" ] && printf '%s\n' "$1" >"$dir/forge.conf"
  [ -n "${3:-}" ] && printf '%s\n' "$3" >"$dir/app.yaml"
  out=$(cd "$dir" && TMPDIR=$dir timeout 10 kore -f -n -r -c "$dir/kore.conf" 2>&1)
  rc=$?
  if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -qF -- "$2" <<<"$out"; then
    ok "bad config refused: $2"
  else
    bad "bad config refused: $2" "rc $rc: $(tail -n 3 <<<"$out")"
    [ -f "$dir/kore.pid" ] && kill -TERM "$(cat "$dir/kore.pid")" 2>/dev/null
  fi
}
nbad=0
badconf "" "forge.conf: No such file or directory"
badconf "ap $LIB/hello.so" 'forge.conf:1: unknown key "ap" (expected app or config)'
badconf "# no app" "no app line"
badconf "app $TMP/missing.so" "missing.so"
badconf "app $LIB/forge_kore.so" "forge_app_entry"
badconf "$(printf 'app %s\nconfig app.yaml' "$LIB/hello.so")" "http.max_body_size" 'http:
  max_body_size: lots'

# ---- migration/examples: the native Kore app and its Forge version agree ----
MIG=$ROOT/migration/examples
if [ -f "$LIB/kore_before.so" ] && [ -f "$LIB/kore_after.so" ] && free_port; then
  BP=$PORT
  free_port || exit 1
  AP=$PORT
  mkdir -p "$TMP/before" "$TMP/after"
  # the examples' own configs, with this test's ports and build directory
  sed -e "s|bind 127.0.0.1 8080|bind 127.0.0.1 $BP|" -e "s|\.\./\.\./\.\./build/lib|$LIB|" \
    -e "s|^workers 1|workers 1\npidfile $TMP/before/kore.pid|" \
    "$MIG/kore_before/kore_before.conf" >"$TMP/before/kore.conf"
  sed -e "s|bind 127.0.0.1 8080|bind 127.0.0.1 $AP|" -e "s|\.\./\.\./\.\./build/lib|$LIB|" \
    -e "s|^workers 1|workers 1\npidfile $TMP/after/kore.pid|" \
    "$MIG/kore_after/kore_after.conf" >"$TMP/after/kore.conf"
  sed -e "s|\.\./\.\./\.\./build/lib|$LIB|" "$MIG/kore_after/forge.conf" >"$TMP/after/forge.conf"
  INSTANCES+=("$TMP/before" "$TMP/after")
  for d in before after; do
    (cd "$TMP/$d" && TMPDIR=$TMP/$d exec kore -f -n -r -c "$TMP/$d/kore.conf" >"$TMP/$d/kore.log" 2>&1) &
  done
  for _ in $(seq 1 100); do port_busy "$BP" && port_busy "$AP" && break; sleep 0.1; done
  for path in /hello /users/42 /users/abc /nope; do
    b=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$BP$path")
    a=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AP$path")
    check "migration: GET $path status, before = after" "$b" "$a"
  done
  for path in /hello /users/42; do
    check "migration: GET $path body, before = after" "$(curl -s "http://127.0.0.1:$BP$path")" \
      "$(curl -s "http://127.0.0.1:$AP$path")"
  done
  b=$(curl -s -D "$TMP/hb" -H 'Content-Type: text/x-m' --data-binary @"$TMP/8m" "http://127.0.0.1:$BP/echo" -o "$TMP/b.out" -w '%{http_code}')
  a=$(curl -s -D "$TMP/ha" -H 'Content-Type: text/x-m' --data-binary 'short' "http://127.0.0.1:$AP/echo")
  check "migration: POST /echo before answers 413 past Kore's default body limit" "413" "$b"
  check "migration: POST /echo after" "short" "$a"
  check "migration: POST /echo before (small)" "short" "$(curl -s -H 'Content-Type: text/x-m' --data-binary 'short' "http://127.0.0.1:$BP/echo")"
  check_has "migration: POST /echo after keeps Content-Type" "Content-Type: text/x-m" "$(cat "$TMP/ha")"
  check "migration: GET /echo is 405 in both" "405 405" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$BP/echo") $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AP/echo")"
fi

# ---- forge run --host kore ----
if [ -x "$BUILD/bin/forge" ] && free_port; then
  FP=$PORT
  mkdir -p "$TMP/run"
  TMPDIR=$TMP/run "$BUILD/bin/forge" run --host kore --app "$LIB/hello.so" \
    --listen "127.0.0.1:$FP" --workers 2 >"$TMP/run.log" 2>&1 &
  fpid=$!
  for _ in $(seq 1 100); do grep -q "forge: serving" "$TMP/run.log" && break; sleep 0.1; done
  check_has "forge run prints the URL" "http://127.0.0.1:$FP/" "$(cat "$TMP/run.log")"
  check "forge run serves /hello" "hello" "$(curl -s "http://127.0.0.1:$FP/hello")"
  check "forge run: private config in a temp dir" "1" "$(ls "$TMP/run" | grep -c forge-run)"
  kill -TERM $fpid
  for _ in $(seq 1 100); do kill -0 $fpid 2>/dev/null || break; sleep 0.1; done
  if kill -0 $fpid 2>/dev/null; then bad "forge run stops on SIGTERM"; kill -KILL $fpid; else ok "forge run stops on SIGTERM"; fi
  wait $fpid
  check "forge run exit status" "0" "$?"
  check "forge run removes its temp dir" "0" "$(ls "$TMP/run" | grep -c forge-run)"
  if port_busy "$FP"; then bad "forge run: port closed after stop"; else ok "forge run: port closed after stop"; fi
  check_has "forge run: bad --listen refused" "loopback" "$("$BUILD/bin/forge" run --host kore --app "$LIB/hello.so" --listen 0.0.0.0:$FP 2>&1)"
fi

# ---- a kodev project: its native page and a Forge app in one .so ----
# As docs/hosts/kore.md says: the Forge app is another source file of the
# project, build.conf points at Forge's headers and library, the project's
# config loads forge_kore.so after the app, conf/forge.conf names ../myapp.so.
if command -v kodev >/dev/null 2>&1; then
  KD=$TMP/kodev
  P=$KD/myapp
  mkdir -p "$KD"
  if (cd "$KD" && kodev create myapp >"$KD/create.log" 2>&1) && [ -d "$P/src" ]; then
    cat >"$P/src/api.c" <<'EOF'
#include <forge/forge.h>

static int hello(forge_req *req, void *udata)
{
    return forge_res_text(req, 200, "hello from forge\n");
}

FORGE_APP("myapp", "0.1.0")
{
    return forge_app_route(app, "GET", "/api/hello", hello, NULL, NULL, err);
}
EOF
    printf 'cflags=-I%s\nldflags=-L%s -lforge-core -Wl,-rpath,%s\n' \
      "$ROOT/libforge-core/include" "$LIB" "$LIB" >>"$P/conf/build.conf"
    free_port || bad "kodev: a free port"
    printf 'server notls {\n\tbind 127.0.0.1 %s\n\ttls no\n}\nload ./myapp.so\nload %s/forge_kore.so\nworkers 1\npidfile %s/kore.pid\ndomain * {\n\tattach notls\n\troute / page\n\troute ^/api/ forge_kore_page\n}\n' \
      "$PORT" "$LIB" "$P" >"$P/conf/myapp.conf"
    printf 'app ../myapp.so\n' >"$P/conf/forge.conf"
    if (cd "$P" && kodev build >"$P/build.log" 2>&1) && [ -f "$P/myapp.so" ]; then
      ok "kodev build: the project's page and the Forge app in one myapp.so"
      (cd "$P" && exec kore -f -n -r -c conf/myapp.conf >"$P/kore.log" 2>&1) &
      INSTANCES+=("$P")
      for _ in $(seq 1 100); do port_busy "$PORT" && [ -s "$P/kore.pid" ] && break; sleep 0.1; done
      check "kodev: the native page" "200" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/")"
      check "kodev: the Forge route" "hello from forge" "$(curl -s "http://127.0.0.1:$PORT/api/hello")"
      check "kodev: Forge's 404 under its prefix" "404 application/problem+json" \
        "$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "http://127.0.0.1:$PORT/api/nope")"
    else
      bad "kodev build" "$(tail -n 5 "$P/build.log")"
    fi
  else
    bad "kodev create" "$(tail -n 5 "$KD/create.log")"
  fi
fi

# ---- logs and a clean stop ----
for d in "${INSTANCES[@]}"; do
  pid=$(cat "$d/kore.pid")
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  name=$(basename "$d")
  if kill -0 "$pid" 2>/dev/null; then bad "$name: stops on SIGTERM"; else ok "$name: stops on SIGTERM"; fi
  if grep -Eq "seccomp violation|sandbox violation|\) gone|restarting worker" "$d/kore.log"; then
    bad "$name: no worker died" "$(grep -E 'violation|\) gone|restarting' "$d/kore.log" | head -3)"
  else
    ok "$name: no worker died (no SIGSYS, no restart)"
  fi
  if [ "$name" != before ]; then
    check_has "$name: Forge logs through Kore" "INFO  request" "$(cat "$d/kore.log")"
  fi
  rm -f "$d/kore.pid"
done

echo "kore_test: $pass passed, $fail failed"
if [ $fail -ne 0 ]; then
  for d in "${INSTANCES[@]}"; do
    echo "---- $(basename "$d")/kore.log (last 30 lines)"
    tail -n 30 "$d/kore.log"
  done
fi
[ $fail -eq 0 ]
