#!/usr/bin/env bash
# Start and stop the backing servers the data-layer tests use, on 127.0.0.1,
# each with its data in a directory of its own under DIR.
#
#   scripts/services.sh start   SERVICE DIR PORT   start and wait until it answers
#   scripts/services.sh stop    SERVICE DIR        stop it (waits for the exit)
#   scripts/services.sh url     SERVICE DIR        print the URL to reach it
#   scripts/services.sh stopall DIR                stop everything started under DIR
#   scripts/services.sh have    SERVICE            exit 0 when the server is installed
#   scripts/services.sh npm-reachable              exit 0 when the npm registry answers
#
# SERVICE: postgres (PostgreSQL 15), redis, mariadb, mongo (the MongoDB-wire
# stand-in from the npm package @push.rocks/smartmongo@2.2.0, installed into
# build/npm-cache, never system-wide). Servers run as children of this
# script's caller (no systemctl); PostgreSQL runs as the postgres user.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
NPM_DIR=${FORGE_NPM_DIR:-$ROOT/build/npm-cache}
SMARTMONGO=@push.rocks/smartmongo@2.2.0

die() { echo "services: $*" >&2; exit 1; }

wait_until() { # wait_until SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2; shift 2
  local i=0
  while ! "$@" >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -le $((secs * 10)) ] || die "$what did not become ready within ${secs}s"
    sleep 0.1
  done
}

pid_alive() { # a zombie counts as gone
  local pid=$1
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  local st; st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z)
  [ "$st" != Z ]
}

stop_pid() { # stop_pid PIDFILE SIGNAL
  local f=$1 sig=$2
  [ -f "$f" ] || return 0
  local pid; pid=$(head -1 "$f")
  if pid_alive "$pid"; then
    kill "-$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do pid_alive "$pid" || break; sleep 0.1; done
    pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

have() {
  case $1 in
    postgres) [ -x $PGBIN/initdb ] && id postgres >/dev/null 2>&1 ;;
    redis) command -v redis-server >/dev/null ;;
    mariadb) command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] ;;
    mongo) command -v node >/dev/null && command -v npm >/dev/null ;;
    *) return 1 ;;
  esac
}

# ---- PostgreSQL ----
pg_start() {
  local dir=$1/postgres port=$2
  chmod a+x "$1" # the postgres user must reach its directory
  mkdir -p "$dir"; chown postgres "$dir"; chmod 700 "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    runuser -u postgres -- $PGBIN/initdb -D "$dir/data" -U postgres -A trust -E UTF8 \
      --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  fi
  echo "$port" > "$dir/port"
  runuser -u postgres -- $PGBIN/pg_ctl -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
    start >/dev/null || { tail -20 "$dir/server.log" >&2; die "postgres did not start"; }
  wait_until 30 postgres $PGBIN/pg_isready -q -h 127.0.0.1 -p "$port"
}
pg_stop() {
  local dir=$1/postgres
  [ -f "$dir/data/postmaster.pid" ] || return 0
  local pid; pid=$(head -1 "$dir/data/postmaster.pid")
  kill -INT "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do pid_alive "$pid" || break; sleep 0.1; done
  pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  return 0
}
pg_url() { echo "postgres://postgres@127.0.0.1:$(cat "$1/postgres/port")/postgres?sslmode=disable"; }

# ---- Redis ----
redis_start() {
  local dir=$1/redis port=$2
  mkdir -p "$dir"; echo "$port" > "$dir/port"
  (cd "$dir" && exec redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
     --daemonize no --dir "$dir" >"$dir/server.log" 2>&1) &
  echo $! > "$dir/pid"
  wait_until 20 redis sh -c "redis-cli -h 127.0.0.1 -p $port ping | grep -q PONG"
}
redis_stop() { stop_pid "$1/redis/pid" TERM; }
redis_url() { echo "redis://127.0.0.1:$(cat "$1/redis/port")/0"; }

# ---- MariaDB ----
mariadb_start() {
  local dir=$1/mariadb port=$2
  mkdir -p "$dir"; echo "$port" > "$dir/port"
  if [ ! -d "$dir/data/mysql" ]; then
    mariadb-install-db --no-defaults --user=root --datadir="$dir/data" \
      --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1 \
      || { tail -20 "$dir/install.log" >&2; die "mariadb-install-db failed"; }
  fi
  (exec mariadbd --no-defaults --user=root --datadir="$dir/data" --socket="$dir/sock" \
     --port="$port" --bind-address=127.0.0.1 --pid-file="$dir/mariadbd.pid" \
     --log-error="$dir/server.log" --skip-log-bin --innodb-buffer-pool-size=64M \
     --innodb-flush-log-at-trx-commit=0 --max-connections=200) &
  echo $! > "$dir/pid"
  wait_until 60 mariadb mariadb-admin --no-defaults --protocol=tcp -h 127.0.0.1 -P "$port" -uroot ping
  mariadb --no-defaults --protocol=tcp -h 127.0.0.1 -P "$port" -uroot \
    -e "CREATE DATABASE IF NOT EXISTS forge CHARACTER SET utf8mb4" >/dev/null
}
mariadb_stop() { stop_pid "$1/mariadb/pid" TERM; }
mariadb_url() { echo "mysql://root@127.0.0.1:$(cat "$1/mariadb/port")/forge"; }

# ---- MongoDB-wire stand-in ----
# `npm i @push.rocks/smartmongo@2.2.0` fails (a dependency is gone from the
# registry), so: `npm pack` the package, extract it, and install only what its
# congodb server imports, at the versions checked to work with it. Everything
# (npm's own cache included) stays under $NPM_DIR; the install happens in a
# temporary directory, is checked by importing the server, and is moved into
# place only then, under a lock, so concurrent or interrupted runs never leave
# a half-installed copy that looks ready.
STANDIN_DEPS="bson@6.10.4 mingo@7.2.7 @push.rocks/smartfs@1.5.0 @push.rocks/smartpath@6.0.0
  @push.rocks/smartpromise@4.2.3 @push.rocks/smartrx@3.0.10"
# Exit 0 when the npm registry answers (tests tell "cannot fetch" from "broken").
npm_reachable() { timeout 30 npm --cache "$NPM_DIR/.npm" --fetch-retries 1 --fetch-timeout 10000 ping >/dev/null 2>&1; }
npm_q() { npm --cache "$NPM_DIR/.npm" --fetch-retries 3 --fetch-retry-maxtimeout 10000 --fetch-timeout 60000 --no-audit --no-fund --no-update-notifier "$@"; }
mongo_install() (
  set -e
  pkgdir=$NPM_DIR/smartmongo
  [ -f "$pkgdir/.ready" ] && exit 0
  mkdir -p "$NPM_DIR"
  exec 9>"$NPM_DIR/.lock"
  flock -w 600 9 || { echo "services: waited 10 min for $NPM_DIR/.lock" >&2; exit 1; }
  [ -f "$pkgdir/.ready" ] && exit 0
  npm_reachable || { echo "services: the npm registry does not answer: cannot install $SMARTMONGO" >&2; exit 1; }
  tmp=$(mktemp -d "$NPM_DIR/.install-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm_q pack "$SMARTMONGO" >pack.log 2>&1) || { tail -5 "$tmp/pack.log" >&2; exit 1; }
  tar -xzf "$tmp"/push.rocks-smartmongo-2.2.0.tgz -C "$tmp"
  printf '{"name":"forge-mongo-standin","private":true,"type":"module"}\n' > "$tmp/package.json"
  # shellcheck disable=SC2086 # the list is words
  (cd "$tmp" && npm_q install --ignore-scripts --save-exact $STANDIN_DEPS >install.log 2>&1) \
    || { tail -5 "$tmp/install.log" >&2; exit 1; }
  (cd "$tmp" && node --input-type=module -e \
     "const m = await import('$tmp/package/dist_ts/congodb/index.js'); if (!m.CongoServer) process.exit(1);") \
    || { echo "services: the stand-in's server does not load (see $tmp)" >&2; exit 1; }
  rm -rf "$pkgdir"
  mv "$tmp" "$pkgdir"
  touch "$pkgdir/.ready"
)
mongo_start() {
  local dir=$1/mongo port=$2
  mkdir -p "$dir"; echo "$port" > "$dir/port"
  mongo_install || die "could not install $SMARTMONGO into $NPM_DIR/smartmongo"
  local entry; entry=$(ls "$NPM_DIR"/smartmongo/package/dist_ts/congodb/index.js 2>/dev/null || true)
  [ -n "$entry" ] || die "the stand-in's congodb module is missing in $NPM_DIR/smartmongo"
  cat > "$dir/server.mjs" <<EOF
import { CongoServer } from '$entry';
const s = new CongoServer({ port: $port, host: '127.0.0.1', storage: 'memory' });
await s.start();
console.log('ready');
process.on('SIGTERM', async () => { await s.stop(); process.exit(0); });
EOF
  (cd "$NPM_DIR/smartmongo" && exec node "$dir/server.mjs" >"$dir/server.log" 2>&1) &
  echo $! > "$dir/pid"
  local i
  for i in $(seq 1 300); do
    grep -q ready "$dir/server.log" 2>/dev/null && return 0
    pid_alive "$(cat "$dir/pid")" || { tail -20 "$dir/server.log" >&2; die "the Mongo stand-in exited at start"; }
    sleep 0.1
  done
  tail -20 "$dir/server.log" >&2; die "the Mongo stand-in did not become ready within 30s"
}
mongo_stop() { stop_pid "$1/mongo/pid" TERM; }
mongo_url() { echo "mongodb://127.0.0.1:$(cat "$1/mongo/port")/forge"; }

cmd=${1:-}; shift || true
case $cmd in
  have) have "$1" ;;
  npm-reachable) npm_reachable ;;
  start)
    [ $# -eq 3 ] || die "usage: services.sh start SERVICE DIR PORT"
    have "$1" || die "$1 is not installed (run scripts/deps.sh)"
    mkdir -p "$2"; "${1/postgres/pg}_start" "$2" "$3" ;;
  stop) [ $# -eq 2 ] || die "usage: services.sh stop SERVICE DIR"; "${1/postgres/pg}_stop" "$2" ;;
  url) "${1/postgres/pg}_url" "$2" ;;
  stopall)
    for s in pg redis mariadb mongo; do "${s}_stop" "$1" || true; done ;;
  *) sed -n '2,15p' "$0"; exit 2 ;;
esac
