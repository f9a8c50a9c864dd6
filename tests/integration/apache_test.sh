#!/usr/bin/env bash
# tests/integration/apache_test.sh BUILD: mod_forge in a real Apache httpd.
#
# Starts apache2 (mpm_event) on 127.0.0.1:18100 with build/lib/hello.so
# behind `Forge On`, a native handler location and a static file beside it,
# and checks every hello route, HEAD/OPTIONS/404/405, bodies up to 8 MiB
# (Content-Length and chunked) and 413 past the limit, blocking routes under
# concurrency, async and streamed responses, malformed requests, `apache2 -t`
# on bad configurations, and a graceful restart under load that must lose no
# request. Then a few checks under mpm_prefork (127.0.0.1:18101) and
# mpm_worker (18107), the migration example (18106), HTTP/2 through mod_http2
# (18108) and `forge run` (18104).
# Prints "N passed, M failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
LIB=$(cd "$BUILD/lib" 2>/dev/null && pwd) || { echo "apache_test: no $BUILD/lib"; exit 1; }
MODDIR=/usr/lib/apache2/modules
PORT=18100
PORT_PREFORK=18101
PORT_WORKER=18107

if ! command -v apache2 >/dev/null || [ ! -f "$MODDIR/mod_mpm_event.so" ]; then
  echo "apache_test: FAILED: apache2 is not installed (scripts/deps.sh installs it)"
  exit 1
fi
for f in mod_forge.so mod_native_hello.so hello.so forge_no_symbol.so forge_bad_abi.so; do
  [ -f "$LIB/$f" ] || { echo "apache_test: FAILED: $LIB/$f is not built"; exit 1; }
done
command -v python3 >/dev/null || { echo "apache_test: FAILED: python3 is needed"; exit 1; }

# An ASan/UBSan build (-DFORGE_SANITIZE=ON) of mod_forge runs in an uninstrumented
# apache2 with the sanitizer runtimes preloaded: FORGE_APACHE_SANITIZE=1.
# Only apache2 (and forge run, which starts it) get the runtimes: curl and
# python are left alone.
APACHE_PRELOAD=""
if [ "${FORGE_APACHE_SANITIZE:-0}" = 1 ]; then
  APACHE_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
apache2() { LD_PRELOAD="$APACHE_PRELOAD" command apache2 "$@"; }
export APACHE_PRELOAD

DIR=$(mktemp -d /tmp/forge-apache-test.XXXXXX)
chmod 755 "$DIR"
mkdir -p "$DIR/tmp" "$DIR/htdocs/files" && chmod 1777 "$DIR/tmp"
echo "static file" >"$DIR/htdocs/files/a.txt"
export TMPDIR="$DIR/tmp" # Forge's machine lock, writable by the children's user

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1${2:+: $2}"; }
expect_eq() { # name actual expected
  if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got [$2], want [$3]"; fi
}
expect_match() { # name actual regex
  if [[ "$2" =~ $3 ]]; then ok "$1"; else bad "$1" "[$2] does not match /$3/"; fi
}

USERLINE=""
[ "$(id -u)" -eq 0 ] && USERLINE=$'User www-data\nGroup www-data'

# conf FILE MPM PORT [extra lines]
write_conf() {
  local file=$1 mpm=$2 port=$3 extra=${4:-}
  local mpmconf
  if [ "$mpm" = event ] || [ "$mpm" = worker ]; then
    mpmconf=$'StartServers 2\nServerLimit 4\nThreadsPerChild 25\nMaxRequestWorkers 50\nMinSpareThreads 1\nMaxSpareThreads 50'
  else
    mpmconf=$'StartServers 3\nMinSpareServers 1\nMaxSpareServers 5\nServerLimit 8\nMaxRequestWorkers 8'
  fi
  cat >"$file" <<EOF
ServerRoot "$DIR"
ServerName 127.0.0.1
PidFile "$file.pid"
DefaultRuntimeDir "$DIR"
ErrorLog "$file.error.log"
LogLevel warn
Listen 127.0.0.1:$port
$USERLINE
LoadModule mpm_${mpm}_module $MODDIR/mod_mpm_${mpm}.so
LoadModule authz_core_module $MODDIR/mod_authz_core.so
LoadModule forge_module $LIB/mod_forge.so
LoadModule native_hello_module $LIB/mod_native_hello.so
$mpmconf
GracefulShutdownTimeout 10
DocumentRoot "$DIR/htdocs"
<Directory "$DIR/htdocs">
    Require all granted
</Directory>
$extra
EOF
}

APP_CONF="$DIR/app.yaml"
printf 'http:\n  max_body_size: 8m\n' >"$APP_CONF"

FORGE_LOCATIONS="ForgeApp \"$LIB/hello.so\"
ForgeConfig \"$APP_CONF\"
<Location />
    Forge On
</Location>
<Location /native>
    Forge Off
    NativeHello On
</Location>
<Location /files/>
    Forge Off
</Location>"

start() { # conf
  rm -f "$1.pid"
  if ! apache2 -f "$1" -k start; then
    cat "$1.error.log" 2>/dev/null
    return 1
  fi
  for _ in $(seq 100); do
    [ -f "$1.pid" ] && curl -s -o /dev/null "http://127.0.0.1:$2/native" && return 0
    sleep 0.1
  done
  cat "$1.error.log"
  return 1
}
stop() { # conf
  [ -f "$1.pid" ] || return 0
  local pid
  pid=$(cat "$1.pid")
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
}
cleanup() {
  for c in "$DIR"/*.conf; do [ -e "$c" ] && stop "$c"; done
  rm -rf "$DIR"
}
trap cleanup EXIT

# req METHOD PATH [curl args...]: sets STATUS, HDRS, BODY
req() {
  local m=$1 p=$2
  shift 2
  local base=${BASE:-http://127.0.0.1:$PORT}
  STATUS=$(curl -s -o "$DIR/body" -D "$DIR/hdrs" -w '%{http_code}' -X "$m" "$@" "$base$p")
  HDRS=$(tr -d '\r' <"$DIR/hdrs")
  BODY=$(head -c 65536 "$DIR/body" | tr -d '\000') # binary bodies: compare $DIR/body
}
header() { # name -> value of the last such header in HDRS
  awk -v n="$(echo "$1" | tr 'A-Z' 'a-z')" -F': ' 'tolower($1) == n {v=$2} END {print v}' <<<"$HDRS"
}

# ---------------------------------------------------------------- apache2 -t
echo "== apache2 -t refuses bad configurations"
T="$DIR/t.conf"
config_test() { # name extra-config regex
  write_conf "$T" event 18102 "$2"
  local out rc
  out=$(apache2 -t -f "$T" 2>&1)
  rc=$?
  if [ $rc -ne 0 ] && [[ "$out" =~ $3 ]]; then ok "$1"; else bad "$1" "rc=$rc: $out"; fi
}
config_test "-t: missing ForgeApp file" "ForgeApp $DIR/nope.so" "ForgeApp $DIR/nope.so: No such file"
config_test "-t: .so without the entry symbol" "ForgeApp $LIB/forge_no_symbol.so" \
  "does not export the symbol forge_app_entry"
config_test "-t: app built for another ABI" "ForgeApp $LIB/forge_bad_abi.so" "ABI"
printf 'http:\n  max_body_size: lots\n' >"$DIR/bad.yaml"
config_test "-t: bad app config names the key" \
  "ForgeApp $LIB/hello.so
ForgeConfig $DIR/bad.yaml" "http.max_body_size"
config_test "-t: Forge On without ForgeApp" "<Location /x>
Forge On
</Location>" "no ForgeApp"
config_test "-t: ForgeApp inside a virtual host" "<VirtualHost 127.0.0.1:18102>
ForgeApp $LIB/hello.so
</VirtualHost>" "ForgeApp cannot occur within <VirtualHost>"
write_conf "$T" event 18102 "$FORGE_LOCATIONS"
out=$(apache2 -t -f "$T" 2>&1)
expect_match "-t: a good configuration passes" "$out" "Syntax OK"

# ----------------------------------------------------------------- mpm_event
echo "== mpm_event on 127.0.0.1:$PORT"
E="$DIR/event.conf"
write_conf "$E" event "$PORT" "$FORGE_LOCATIONS"
if ! start "$E" "$PORT"; then
  bad "apache2 (mpm_event) starts"
  echo "$pass passed, $fail failed"
  exit 1
fi
ok "apache2 (mpm_event) starts with mod_forge"

req GET /hello
expect_eq "GET /hello status" "$STATUS" 200
expect_eq "GET /hello body" "$BODY" hello
expect_eq "GET /hello Content-Type" "$(header Content-Type)" "text/plain; charset=utf-8"
expect_eq "GET /hello Content-Length" "$(header Content-Length)" 6
expect_match "GET /hello has Apache's Date" "$(header Date)" "GMT$"
expect_match "GET /hello has Apache's Server" "$(header Server)" "^Apache"
expect_match "GET /hello has a request id" "$(header X-Request-ID)" "^[0-9a-f]+$"

req GET /hello -H "X-Request-ID: trace-abc-123"
expect_eq "request headers reach Forge (X-Request-ID kept)" "$(header X-Request-ID)" trace-abc-123

req GET /users/42
expect_eq "GET /users/42 status" "$STATUS" 200
expect_eq "GET /users/42 body" "$BODY" '{"id":"42"}'
expect_eq "GET /users/42 Content-Type" "$(header Content-Type)" application/json
req GET '/users/a%20b?x=1'
expect_eq "GET /users/a%20b decodes the parameter" "$BODY" '{"id":"a b"}'

req GET '/users/a%2Fb'
expect_eq "GET /users/a%2Fb: the path reaches Forge undecoded" "$STATUS/$BODY" '200/{"id":"a/b"}'
req GET '/users/a%00b'
expect_eq "GET /users/a%00b is Forge's 400" "$STATUS/$(header Content-Type)" "400/application/problem+json"

req POST /echo -H "Content-Type: application/x-test" --data-binary "ping pong"
expect_eq "POST /echo status" "$STATUS" 200
expect_eq "POST /echo body" "$BODY" "ping pong"
expect_eq "POST /echo Content-Type" "$(header Content-Type)" application/x-test

req GET /error
expect_eq "GET /error status" "$STATUS" 418
expect_eq "GET /error Content-Type" "$(header Content-Type)" application/problem+json
expect_match "GET /error problem body" "$BODY" '"status":418.*"detail":"This server brews no coffee."'

req GET /nope
expect_eq "GET /nope status" "$STATUS" 404
expect_eq "GET /nope Content-Type" "$(header Content-Type)" application/problem+json
expect_match "GET /nope problem body" "$BODY" '"instance":"/nope"'

req DELETE /hello
expect_eq "DELETE /hello status" "$STATUS" 405
expect_eq "DELETE /hello Allow" "$(header Allow)" "GET, HEAD, OPTIONS"

req OPTIONS /hello
expect_eq "OPTIONS /hello status" "$STATUS" 204
expect_eq "OPTIONS /hello Allow" "$(header Allow)" "GET, HEAD, OPTIONS"

req HEAD /hello -I
expect_eq "HEAD /hello status" "$STATUS" 200
expect_eq "HEAD /hello Content-Length is the GET length" "$(header Content-Length)" 6
# HEAD then GET on one connection: the GET's status line must follow the
# HEAD's headers directly (no body bytes in between)
python3 - "$PORT" <<'PY' && ok "HEAD /hello sends no body (keepalive intact)" || bad "HEAD /hello sends no body (keepalive intact)"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
head, rest = data.split(b"\r\n\r\n", 1)
sys.exit(0 if head.startswith(b"HTTP/1.1 200") and rest.startswith(b"HTTP/1.1 200") and rest.endswith(b"hello\n") else 1)
PY

req GET /async
expect_eq "GET /async status" "$STATUS" 200
expect_eq "GET /async body" "$BODY" async

req GET /stream
expect_eq "GET /stream status" "$STATUS" 200
expect_eq "GET /stream is chunked" "$(header Transfer-Encoding)" chunked
expect_eq "GET /stream body" "$BODY" $'chunk 1\nchunk 2\nchunk 3'
req GET '/stream?sync=1'
expect_eq "GET /stream?sync=1 body" "$BODY" $'chunk 1\nchunk 2\nchunk 3'
req GET '/stream' -H "Connection: keep-alive" --http1.0
expect_eq "GET /stream over HTTP/1.0 (close-delimited)" "$BODY" $'chunk 1\nchunk 2\nchunk 3'

# the head of a stream reaches the client before its body is complete
python3 - "$PORT" <<'EOF' && ok "stream head and first chunk arrive before the end" || bad "stream head and first chunk arrive before the end"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
data = b""
while b"chunk 1" not in data:
    d = s.recv(65536)
    if not d:
        sys.exit(1)
    data += d
# the terminating zero-length chunk has not come with the first chunk
sys.exit(0 if b"\r\n0\r\n\r\n" not in data else 1)
EOF

out=$(curl -sv "http://127.0.0.1:$PORT/hello" "http://127.0.0.1:$PORT/users/7" 2>&1)
expect_match "keepalive: the second request reuses the connection" "$out" "Re-using existing connection"

# ---- native locations beside Forge's
req GET /native
expect_eq "native handler location beside Forge" "$BODY" hello
expect_eq "native location is not Forge's (no request id)" "$(header X-Request-ID)" ""
req GET /files/a.txt
expect_eq "static file under Forge Off" "$BODY" "static file"
req GET /files/missing.txt
expect_eq "missing static file is Apache's 404" "$STATUS" 404
expect_eq "Apache's 404 is not problem+json" "$([[ $(header Content-Type) == application/problem+json ]] && echo yes || echo no)" no

# ---- bodies
python3 -c "import sys; sys.stdout.buffer.write(bytes(range(256)) * (8 * 4096))" >"$DIR/8m.bin"
python3 -c "import sys; sys.stdout.buffer.write(b'x' * (8 * 1024 * 1024 + 1))" >"$DIR/8m1.bin"
SUM=$(sha256sum <"$DIR/8m.bin" | cut -d' ' -f1)
req POST /echo -H "Content-Type: application/octet-stream" --data-binary "@$DIR/8m.bin"
expect_eq "POST 8 MiB (Content-Length) status" "$STATUS" 200
expect_eq "POST 8 MiB (Content-Length) echoed intact" "$(sha256sum <"$DIR/body" | cut -d' ' -f1)" "$SUM"
req POST /echo -H "Content-Type: application/octet-stream" -H "Transfer-Encoding: chunked" --data-binary "@$DIR/8m.bin"
expect_eq "POST 8 MiB (chunked) status" "$STATUS" 200
expect_eq "POST 8 MiB (chunked) echoed intact" "$(sha256sum <"$DIR/body" | cut -d' ' -f1)" "$SUM"
req POST /echo -H "Content-Type: application/octet-stream" --data-binary "@$DIR/8m1.bin"
expect_eq "POST 8 MiB + 1 (Content-Length) is 413" "$STATUS" 413
expect_eq "413 is problem+json" "$(header Content-Type)" application/problem+json
req POST /echo -H "Content-Type: application/octet-stream" -H "Transfer-Encoding: chunked" --data-binary "@$DIR/8m1.bin"
expect_eq "POST 8 MiB + 1 (chunked) is 413" "$STATUS" 413
req POST /echo -H "Content-Type: text/plain" --data-binary ""
expect_eq "POST empty body" "$STATUS/$BODY" "200/"
req GET /hello
expect_eq "server serves after 413s" "$STATUS" 200

# ---- blocking route under concurrency while /hello answers
for i in $(seq 8); do
  curl -s -o "$DIR/slow.$i" "http://127.0.0.1:$PORT/slow?ms=1500" &
done
sleep 0.3
req GET /hello
running=0
for p in $(jobs -p); do kill -0 "$p" 2>/dev/null && running=$((running + 1)); done
expect_eq "/hello answers while 8 /slow requests block" "$STATUS/$BODY" "200/hello"
expect_eq "the 8 /slow requests were still in flight" "$running" 8
wait
slow_ok=0
for i in $(seq 8); do [ "$(cat "$DIR/slow.$i")" = slow ] && slow_ok=$((slow_ok + 1)); done
expect_eq "all 8 /slow requests answered" "$slow_ok" 8
req GET '/slow?ms=99999'
expect_eq "/slow with a bad parameter is a 400 problem" "$STATUS/$(header Content-Type)" "400/application/problem+json"

# a client that gives up on a blocking request does not wedge its thread
curl -s -m 0.3 "http://127.0.0.1:$PORT/slow?ms=800" >/dev/null
req GET /hello
expect_eq "server serves after a client gave up" "$STATUS" 200

# ---- malformed requests: a 4xx, and the server keeps serving
raw() { # bytes -> status code of the first response line (or "closed")
  python3 - "$PORT" "$1" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
try:
    s.shutdown(socket.SHUT_WR)
except OSError:
    pass
data = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
except OSError:
    pass
line = data.split(b"\r\n", 1)[0].decode("latin-1")
print(line.split(" ")[1] if line.startswith("HTTP/") else "closed")
EOF
}
expect_match "malformed: garbage request line" "$(raw 'GARBAGE\r\n\r\n')" "^4[0-9][0-9]$"
expect_match "malformed: header without a colon" "$(raw 'GET /hello HTTP/1.1\r\nHost: x\r\nBroken\r\n\r\n')" "^4[0-9][0-9]$"
expect_match "malformed: bad Content-Length" "$(raw 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n')" "^4[0-9][0-9]$"
expect_match "malformed: bad chunk size" "$(raw 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n')" "^4[0-9][0-9]$"
expect_match "malformed: bad percent-encoding" "$(raw 'GET /users/%zz HTTP/1.1\r\nHost: x\r\n\r\n')" "^4[0-9][0-9]$"
expect_match "malformed: unknown method" "$(raw 'BREW /hello HTTP/1.1\r\nHost: x\r\n\r\n')" "^[45][0-9][0-9]$"
expect_match "malformed: HTTP/1.1 without Host" "$(raw 'GET /hello HTTP/1.1\r\n\r\n')" "^4[0-9][0-9]$"
expect_match "malformed: absolute-form target is routed" "$(raw 'GET http://127.0.0.1/hello?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')" "^200$"
req GET /hello
expect_eq "server serves after malformed requests" "$STATUS/$BODY" "200/hello"

# ---- graceful restart under load loses no request
echo "== graceful restart under load"
python3 - "$PORT" "$E" >"$DIR/load.out" <<'EOF' &
import http.client, os, subprocess, sys, threading, time
port, conf = int(sys.argv[1]), sys.argv[2]
ok = 0
failures = []
lock = threading.Lock()
stop = time.time() + 4.0

def worker():
    global ok
    while time.time() < stop:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/hello")
            r = c.getresponse()
            body = r.read()
            c.close()
            with lock:
                if r.status == 200 and body == b"hello\n":
                    ok += 1
                else:
                    failures.append(f"{r.status} {body[:40]!r}")
        except Exception as e:
            with lock:
                failures.append(repr(e))

threads = [threading.Thread(target=worker) for _ in range(6)]
for t in threads:
    t.start()
for _ in range(2):
    time.sleep(1.2)
    env = dict(os.environ, LD_PRELOAD=os.environ.get("APACHE_PRELOAD", ""))
    subprocess.run(["apache2", "-f", conf, "-k", "graceful"], check=True, env=env)
for t in threads:
    t.join()
print(ok, len(failures), "; ".join(failures[:5]))
EOF
wait $!
read -r load_ok load_fail load_why <"$DIR/load.out"
echo "   graceful load: $load_ok answered, $load_fail failed ${load_why:-}"
expect_eq "graceful restart x2 under load: no failed request" "$load_fail" 0
[ "${load_ok:-0}" -gt 100 ] && ok "graceful restart: load ran ($load_ok requests)" || bad "graceful restart: load ran" "$load_ok requests"
sleep 0.5
req GET /hello
expect_eq "serves after graceful restarts" "$STATUS/$BODY" "200/hello"
expect_eq "no child failed to start the app" "$(grep -c 'could not start app' "$E.error.log")" 0

stop "$E"
expect_eq "clean stop: no crash in the error log" "$(grep -ciE 'segmentation|signal 11|signal 6|AH00052|AddressSanitizer|runtime error' "$E.error.log")" 0

# ---------------------------------------------------------------- mpm_prefork
# a few checks under another MPM: mpm_checks MPM PORT
mpm_checks() {
  local mpm=$1 port=$2 conf="$DIR/$1.conf"
  echo "== mpm_$mpm on 127.0.0.1:$port"
  write_conf "$conf" "$mpm" "$port" "$FORGE_LOCATIONS"
  if ! start "$conf" "$port"; then
    bad "apache2 (mpm_$mpm) starts with mod_forge"
    return
  fi
  ok "apache2 (mpm_$mpm) starts with mod_forge"
  BASE="http://127.0.0.1:$port"
  req GET /hello
  expect_eq "$mpm: GET /hello" "$STATUS/$BODY" "200/hello"
  req POST /echo -H "Content-Type: text/x-p" --data-binary "$mpm body"
  expect_eq "$mpm: POST /echo" "$STATUS/$BODY/$(header Content-Type)" "200/$mpm body/text/x-p"
  req GET /async
  expect_eq "$mpm: GET /async" "$BODY" async
  req GET /stream
  expect_eq "$mpm: GET /stream" "$BODY" $'chunk 1\nchunk 2\nchunk 3'
  for i in 1 2; do curl -s -o "$DIR/$mpm-slow.$i" "$BASE/slow?ms=800" & done
  sleep 0.2
  req GET /hello
  expect_eq "$mpm: /hello answers while /slow blocks" "$STATUS" 200
  wait
  expect_eq "$mpm: /slow answered" "$(cat "$DIR/$mpm-slow.1")$(cat "$DIR/$mpm-slow.2")" "slowslow"
  req GET /native
  expect_eq "$mpm: native location" "$BODY" hello
  apache2 -f "$conf" -k graceful
  sleep 1
  req GET /hello
  expect_eq "$mpm: serves after a graceful restart" "$STATUS/$BODY" "200/hello"
  unset BASE
  stop "$conf"
  expect_eq "$mpm: no child failed to start the app" "$(grep -c 'could not start app' "$conf.error.log")" 0
  expect_eq "$mpm: no crash in the error log" "$(grep -ciE 'AH00052|AddressSanitizer|runtime error' "$conf.error.log")" 0
}
mpm_checks prefork "$PORT_PREFORK"
mpm_checks worker "$PORT_WORKER"

# ------------------------------------- migration/apache-handler.md: before, after
echo "== migration example: native module (before) and Forge app (after) on 127.0.0.1:18106"
if [ -f "$LIB/mod_hello_native.so" ] && [ -f "$LIB/apache_after.so" ]; then
  M="$DIR/migration.conf"
  BASE="http://127.0.0.1:18106"
  for side in before after; do
    if [ $side = before ]; then
      loc=$'LoadModule hello_native_module '"$LIB"$'/mod_hello_native.so\n<Location /api/>\n    SetHandler hello-native\n</Location>'
    else
      loc=$'ForgeApp '"$LIB"$'/apache_after.so\n<Location /api/>\n    Forge On\n</Location>'
    fi
    write_conf "$M" event 18106 "$loc"
    sed -i '/native_hello_module/d' "$M"
    # a native location answers the readiness probe of start()
    printf '<Location /native>\n    SetHandler none\n</Location>\n' >>"$M"
    if ! start "$M" 18106; then
      bad "migration: the $side server starts"
      continue
    fi
    out=""
    req GET /api/hello
    out+="$STATUS $(header Content-Type) $BODY|"
    req GET /api/users/7
    out+="$STATUS $(header Content-Type) $BODY|"
    req POST /api/echo -H "Content-Type: text/x-m" --data-binary "moved"
    out+="$STATUS $(header Content-Type) $BODY|"
    req DELETE /api/hello
    out+="$STATUS $(header Allow | grep -o GET)|" # Apache lists "HEAD,GET,TRACE"
    eval "migration_$side=\$out"
    stop "$M"
  done
  expect_eq "migration: the Forge app answers as the native module did" "$migration_after" "$migration_before"
  expect_match "migration: before and after both served" "$migration_before" "^200 text/plain; charset=utf-8 hello\|200 application/json"
  unset BASE
else
  bad "migration: example modules are built"
fi

# ------------------------------------------------- HTTP/2 through mod_http2 (h2c)
# mod_http2 runs each stream as a request on a secondary connection of its
# own: Forge must see the same requests and its answers must come back whole.
if [ -f "$MODDIR/mod_http2.so" ] && curl -V | grep -q HTTP2; then
  echo "== HTTP/2 (mod_http2, h2c) on 127.0.0.1:18108"
  H2="$DIR/h2.conf"
  write_conf "$H2" event 18108 "LoadModule http2_module $MODDIR/mod_http2.so
Protocols h2c http/1.1
$FORGE_LOCATIONS"
  if start "$H2" 18108; then
    H2C=(curl -s --http2-prior-knowledge)
    U=http://127.0.0.1:18108
    expect_eq "h2: GET /hello over HTTP/2" \
      "$("${H2C[@]}" -w ' %{http_version} %{http_code}' "$U/hello")" $'hello\n 2 200'
    expect_eq "h2: a route parameter" "$("${H2C[@]}" "$U/users/7")" '{"id":"7"}'
    head -c $((3 * 1024 * 1024)) "$DIR/8m.bin" >"$DIR/3m.bin"
    expect_eq "h2: a 3 MiB POST body comes back whole" \
      "$("${H2C[@]}" -X POST --data-binary "@$DIR/3m.bin" -o "$DIR/h2echo" -w '%{http_version} %{http_code}' "$U/echo"; cmp -s "$DIR/3m.bin" "$DIR/h2echo" && echo ' same')" \
      "2 200 same"
    expect_match "h2: a streamed response" "$("${H2C[@]}" "$U/stream")" "chunk 3"
    expect_eq "h2: async and blocking routes" "$("${H2C[@]}" "$U/async") $("${H2C[@]}" "$U/slow")" "async slow"
    expect_eq "h2: 404 as problem+json" \
      "$("${H2C[@]}" -o /dev/null -w '%{http_code} %{content_type}' "$U/nope")" "404 application/problem+json"
    # 20 blocking requests at once, each on its own HTTP/2 connection. (Many
    # streams on one connection are not checked: curl 7.88's --parallel
    # multiplexing over h2c fails here for static files too, Forge or not.)
    h2pids=()
    for i in $(seq 20); do
      "${H2C[@]}" -o /dev/null -w '%{http_version}/%{http_code}\n' "$U/slow" >"$DIR/h2par.$i" &
      h2pids+=($!)
    done
    wait "${h2pids[@]}"
    expect_eq "h2: 20 concurrent blocking requests, all 200 over HTTP/2" \
      "$(cat "$DIR"/h2par.* | sort | uniq -c | tr -s ' ')" " 20 2/200"
    stop "$H2"
    if grep -q "AH00052\|segfault\|exit signal" "$H2.error.log"; then
      bad "h2: no child crashed" "$(grep -m3 'AH00052\|segfault\|exit signal' "$H2.error.log")"
    else
      ok "h2: no child crashed"
    fi
  else
    bad "h2: apache2 with mod_http2 starts"
  fi
fi

# ------------------------------------------------------ forge run --host apache
echo "== forge run --host apache on 127.0.0.1:18104"
FORGE="$BUILD/bin/forge"
if [ -x "$FORGE" ]; then
  TMPDIR="$DIR/tmp" LD_PRELOAD="$APACHE_PRELOAD" "$FORGE" run --host apache --app "$LIB/hello.so" --config "$APP_CONF" \
    --listen 127.0.0.1:18104 --workers 2 >"$DIR/run.out" 2>&1 &
  run_pid=$!
  for _ in $(seq 100); do grep -q "serving" "$DIR/run.out" && break; sleep 0.1; done
  expect_match "forge run prints the URL when ready" "$(cat "$DIR/run.out")" "http://127.0.0.1:18104/"
  BASE="http://127.0.0.1:18104"
  req GET /users/5
  expect_eq "forge run: GET /users/5" "$STATUS/$BODY" '200/{"id":"5"}'
  head -c $((2 * 1024 * 1024)) "$DIR/8m.bin" >"$DIR/2m.bin"
  req POST /echo -H "Content-Type: application/octet-stream" --data-binary "@$DIR/2m.bin"
  expect_eq "forge run: --config applies (2 MiB body under an 8m limit)" "$STATUS" 200
  unset BASE
  kill -TERM "$run_pid"
  for _ in $(seq 150); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$run_pid" 2>/dev/null; then
    bad "forge run stops on SIGTERM"
    kill -KILL "$run_pid"
  else
    wait "$run_pid"
    expect_eq "forge run stops on SIGTERM with status 0" "$?" 0
  fi
  expect_match "forge run stopped apache gracefully" "$(cat "$DIR/run.out")" "apache stopped"
  expect_eq "forge run removed its temporary directory" "$(ls -d "$DIR"/tmp/forge-run-* 2>/dev/null | wc -l)" 0
  expect_eq "forge run left no apache2 running" "$(pgrep -f "forge-run-.*/httpd.conf" | wc -l)" 0
  out=$("$FORGE" run --host apache --app "$LIB/hello.so" --listen 0.0.0.0:18105 2>&1)
  expect_match "forge run refuses a non-loopback address" "$out" "not a loopback address"
else
  bad "forge run: $FORGE is not built"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
