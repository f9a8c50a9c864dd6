#!/usr/bin/env bash
# Instructions per request in Kore (one worker, foreground, under callgrind
# with --trace-children=yes so the forked worker is measured): the native
# page of bench/kore_bench.sh (bench/native/kore_native.c, GET /native) and
# Forge's GET /hello (examples/hello through forge_kore.so), in the same
# Kore. For each path, N keep-alive requests are sent on one connection
# (ab -k -c1) after a warm-up, with the worker's counters zeroed before and
# dumped after; a connection that sends no request is measured the same way
# and subtracted, so accept/close cost cancels and the figure is Kore's
# per-request work plus the page's.
#
# usage: bench/kore_callgrind.sh [BUILD_DIR [N]]   env: PORT=18131, KEEP=prefix,
# APP_YAML=yaml text for the Forge app (default: access log off, warn level)
# (KEEP=/tmp/kc keeps the callgrind files for callgrind_annotate.)
# Not part of `make bench` (the name does not end in _bench.sh): needs valgrind.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
N=${2:-2000}
PORT=${PORT:-18131}
LIB=$BUILD/lib
for f in "$(command -v kore || echo /nonexistent)" "$LIB/forge_kore.so" \
    "$LIB/kore_native.so" "$LIB/hello.so" \
    "$(command -v valgrind || echo /nonexistent)" "$(command -v ab || echo /nonexistent)" \
    "$(command -v python3 || echo /nonexistent)"; do
    [ -e "$f" ] || { echo "kore_callgrind: missing $f"; exit 1; }
done
DIR=$(mktemp -d /tmp/forge-kore-cg.XXXXXX)
mkdir "$DIR/cg"
# Valgrind's own system calls trip Kore's seccomp filter and the worker is
# killed: a preloaded prctl() leaves PR_SET_SECCOMP undone (measurement only).
cat >"$DIR/noseccomp.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <sys/prctl.h>
int prctl(int op, ...)
{
	va_list ap;
	unsigned long a[4];
	int (*real)(int, ...) = (int (*)(int, ...))dlsym(RTLD_NEXT, "prctl");
	va_start(ap, op);
	for (int i = 0; i < 4; i++)
		a[i] = va_arg(ap, unsigned long);
	va_end(ap);
	if (op == PR_SET_SECCOMP)
		return 0;
	return real(op, a[0], a[1], a[2], a[3]);
}
EOF
cc -shared -fPIC -o "$DIR/noseccomp.so" "$DIR/noseccomp.c" -ldl || exit 1
cat >"$DIR/kore.conf" <<EOF
server notls {
	bind 127.0.0.1 $PORT
	tls no
}
load $LIB/kore_native.so
load $LIB/forge_kore.so
workers 1
pidfile $DIR/kore.pid
http_hsts_enable 0
http_keepalive_time 60
domain * {
	attach notls
	route /native native_hello
	route /hello forge_kore_page
}
EOF
# Exact routes for both pages, as in kore_bench.sh: a regex route such as
# `route ^/` adds a regexec per request (~630 instructions) to either page.
printf 'app %s\nconfig app.yaml\n' "$LIB/hello.so" >"$DIR/forge.conf"
printf '%s' "${APP_YAML:-$'http:\n  middleware:\n    access_log: false\nlog:\n  level: warn\n'}" >"$DIR/app.yaml"

VG=
stop() {
    if [ -n "$VG" ]; then
        [ -f "$DIR/kore.pid" ] && kill -TERM "$(cat "$DIR/kore.pid")" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$VG" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$VG" 2>/dev/null
        VG=
    fi
}
trap 'stop; [ -n "${KEEPDIR:-}" ] || rm -rf "$DIR"' EXIT

(cd "$DIR" && TMPDIR=$DIR LD_PRELOAD=$DIR/noseccomp.so exec valgrind --tool=callgrind --trace-children=yes \
    --compress-strings=no --compress-pos=no --callgrind-out-file="$DIR/cg/cg.%p" \
    kore -f -n -r -q -c "$DIR/kore.conf" >"$DIR/vg.log" 2>&1) &
VG=$!
for _ in $(seq 300); do curl -s -m 2 -o /dev/null "http://127.0.0.1:$PORT/native" && break; sleep 0.2; done
[ "$(curl -s -m 5 "http://127.0.0.1:$PORT/hello")" = hello ] ||
    { echo "kore_callgrind: /hello does not answer"; tail "$DIR/vg.log"; exit 1; }
WORKER=$(pgrep -P "$(cat "$DIR/kore.pid")" | head -n 1)
[ -n "$WORKER" ] || { echo "kore_callgrind: no worker"; exit 1; }

CG_NAME=kore_callgrind
CG_CTL=(env TMPDIR="$DIR" callgrind_control)
CG_PID=$WORKER
CG_DUMPS="$DIR/cg/cg.$WORKER.*"
. "$ROOT/bench/callgrind_session.sh"
cg_report /native /hello
