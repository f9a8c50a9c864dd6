#!/usr/bin/env bash
# The nginx migration example (migration/nginx-content-handler.md): one nginx
# serving the native content handler (before), the Forge app (after) and a
# server that has moved one location to Forge (during); the answers must match.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$(cd "${1:-build}" && pwd)
lib=$build/lib
for f in ngx_http_forge_module.so ngx_http_hello_native_module.so hello_after.so; do
    if [ ! -f "$lib/$f" ]; then
        echo "migration_test: $lib/$f is missing (nginx-dev installed? cmake --build $build)" >&2
        exit 1
    fi
done
nginx=$(command -v nginx || echo /usr/sbin/nginx)
ports=(18250 18251 18252)

dir=$(mktemp -d "${TMPDIR:-/tmp}/forge-migration-XXXXXX")
chmod 755 "$dir"
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -QUIT "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

user=""
[ "$(id -u)" -eq 0 ] && user="user root root;"
cat >"$dir/nginx.conf" <<CONF
load_module $lib/ngx_http_forge_module.so;
load_module $lib/ngx_http_hello_native_module.so;
daemon off;
master_process on;
worker_processes 1;
pid nginx.pid;
error_log $dir/error.log notice;
$user
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path client_body;
    proxy_temp_path proxy;
    fastcgi_temp_path fastcgi;
    uwsgi_temp_path uwsgi;
    scgi_temp_path scgi;

    forge_app $lib/hello_after.so;

    # before: the native content handler owns /api/
    server {
        listen 127.0.0.1:${ports[0]};
        location /api/ { hello_native; }
    }
    # after: Forge owns /api/
    server {
        listen 127.0.0.1:${ports[1]};
        location /api/ { forge; }
    }
    # during: one location moved to Forge, the rest still native
    server {
        listen 127.0.0.1:${ports[2]};
        location /api/ { hello_native; }
        location /api/users/ { forge; }
    }
}
CONF

for p in "${ports[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        echo "migration_test: port $p is in use" >&2
        exit 1
    fi
done
"$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" &
pid=$!
for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/${ports[2]}") 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { echo "migration_test: nginx exited:"; cat "$dir/error.log"; exit 1; }
    sleep 0.05
done

rc=0
python3 tests/conformance/migration_compare.py "${ports[@]}" || rc=$?
if grep -E '\[(alert|emerg|crit)\]' "$dir/error.log"; then
    echo "migration_test: nginx logged errors above" >&2
    rc=1
fi
exit $rc
