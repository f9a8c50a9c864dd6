#!/usr/bin/env bash
# Forge in nginx against nginx itself, side by side in one server.
#
# One nginx, one worker: `location = /native { return 200 "hello\n"; }` (A)
# beside Forge's GET /hello (B, examples/hello). wrk alternates A, B, A, B...
# (PAIRS pairs of SECONDS each, -t1 -c32), and the script prints each run's
# requests/s and the worker's CPU time per request, each pair's ratios
# (requests/s B/A, and CPU per request A/B, which is steadier on a shared
# machine), and the median of each with its spread. Twice: with Forge's
# default middleware (request id, access log, error mapping, HTTP metrics,
# tracing) and with all of it turned off.
#
# usage: bench/nginx_bench.sh [BUILD_DIR]     env: PAIRS=5 SECONDS_PER_RUN=5 PORT=18095
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. "$ROOT/bench/pin.sh"
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
PAIRS=${PAIRS:-5}
SECS=${SECONDS_PER_RUN:-5}
PORT=${PORT:-18095}
MODULE=$BUILD/lib/ngx_http_forge_module.so
APP=$BUILD/lib/hello.so
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

for f in "$NGINX" "$MODULE" "$APP" "$(command -v wrk || echo /nonexistent/wrk)"; do
    if [ ! -e "$f" ]; then
        echo "nginx_bench: missing $f (scripts/deps.sh, then build)"
        exit 1
    fi
done

DIR=$(mktemp -d /tmp/forge-nginx-bench.XXXXXX)
chmod 755 "$DIR"
mkdir -m 1777 "$DIR/run" "$DIR/logs"
MASTER=
stop() {
    if [ -n "$MASTER" ]; then
        kill -QUIT "$MASTER" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$MASTER" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$MASTER" 2>/dev/null
        MASTER=
    fi
}
trap 'stop; rm -rf "$DIR"' EXIT

write_conf() { # write_conf APP_CONFIG
    cat >"$DIR/nginx.conf" <<EOF
load_module $MODULE;
daemon off;
master_process on;
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
    forge_app $APP;
    forge_config $1;
    server {
        listen 127.0.0.1:$PORT;
        location = /native { return 200 "hello\n"; }
        location / { forge; }
    }
}
EOF
}

cpu_ticks() { # utime + stime of a process, in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat"
}

# run_wrk PATH -> "REQ_PER_S REQUESTS CPU_US_PER_REQ"
run_wrk() {
    local worker=$1 path=$2 before after out rps reqs
    before=$(cpu_ticks "$worker")
    out=$("${LOAD_CPU[@]}" wrk -t1 -c32 -d"${SECS}s" "http://127.0.0.1:$PORT$path" 2>&1)
    after=$(cpu_ticks "$worker")
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    if grep -q "Non-2xx" <<<"$out" || [ -z "$rps" ]; then
        echo "nginx_bench: wrk on $path failed:" >&2
        echo "$out" >&2
        exit 1
    fi
    awk -v r="$rps" -v n="$reqs" -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%.0f %d %.1f\n", r, n, t / hz * 1e6 / n }'
}

median() { # median LABEL VALUES...
    local label=$1
    shift
    printf '%s\n' "$@" | sort -n | awk -v l="$label" '
        { r[NR] = $1 }
        END { m = (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2;
              printf "%s: median %.3f (spread %.3f to %.3f)\n", l, m, r[1], r[NR] }'
}

bench() { # bench LABEL APP_CONFIG
    local label=$1 ratios=() cpu_ratios=() worker
    write_conf "$2"
    "${SERVER_CPU[@]}" "$NGINX" -p "$DIR" -c "$DIR/nginx.conf" -e "$DIR/logs/error.log" &
    MASTER=$!
    for _ in $(seq 50); do curl -s -m 1 -o /dev/null "http://127.0.0.1:$PORT/native" && break; sleep 0.1; done
    worker=$(pgrep -P "$MASTER" | head -n 1)
    if [ -z "$worker" ] || [ "$(curl -s -m 2 "http://127.0.0.1:$PORT/hello")" != hello ]; then
        echo "nginx_bench: Forge's /hello does not answer; $DIR/logs/error.log says:"
        tail -n 5 "$DIR/logs/error.log"
        exit 1
    fi
    wrk -t1 -c32 -d1s "http://127.0.0.1:$PORT/hello" >/dev/null # warm-up
    echo "== $label ($PAIRS pairs, ${SECS}s each, wrk -t1 -c32, 1 nginx worker)$PIN_NOTE"
    printf '%-6s %12s %12s %10s %10s %8s %10s\n' pair "native r/s" "forge r/s" "native us" "forge us" ratio "cpu ratio"
    for i in $(seq "$PAIRS"); do
        read -r a_rps _ a_us <<<"$(run_wrk "$worker" /native)"
        read -r b_rps _ b_us <<<"$(run_wrk "$worker" /hello)"
        ratio=$(awk -v a="$a_rps" -v b="$b_rps" 'BEGIN { printf "%.3f", b / a }')
        cpu_ratio=$(awk -v a="$a_us" -v b="$b_us" 'BEGIN { printf "%.3f", a / b }')
        ratios+=("$ratio")
        cpu_ratios+=("$cpu_ratio")
        printf '%-6s %12s %12s %10s %10s %8s %10s\n' "$i" "$a_rps" "$b_rps" "$a_us" "$b_us" "$ratio" "$cpu_ratio"
    done
    median "$label: requests/s forge/native" "${ratios[@]}"
    median "$label: CPU per request native/forge" "${cpu_ratios[@]}"
    stop
}


bench "default middleware" "$ROOT/bench/conf/default.yaml"
bench "middleware off" "$ROOT/bench/conf/bare.yaml"
echo "targets: >= 0.95 with middleware off, >= 0.85 with the default middleware"
