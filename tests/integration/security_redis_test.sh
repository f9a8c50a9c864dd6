#!/usr/bin/env bash
# Rate limits shared by machines through Redis: a redis-server on
# 127.0.0.1:18290 (temp dir) and TWO nginx servers running examples/secure
# (ports 18282, 18283, 2 workers each) share one limit: with limit L and M > L
# requests spread over both, exactly L pass. Then Redis goes away: a limiter
# with on_redis_error: closed answers 503, one with local counts per machine.
# Usage: tests/integration/security_redis_test.sh [BUILD]
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
RPORT=18290
P1=18282
P2=18283
L=10
M=31
pass=0; fail=0
tmp=$(mktemp -d)
pids=()
redis_pid=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }
check() { if eval "$2"; then ok; else bad "$1"; fi; }

[ -x "$BUILD/bin/forge" ] && [ -f "$BUILD/lib/secure.so" ] || { echo "build first ($BUILD)"; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server missing (scripts/deps.sh)"; exit 1; }

redis-server --port $RPORT --bind 127.0.0.1 --dir "$tmp" --save '' --appendonly no \
  --daemonize no --logfile "$tmp/redis.log" &
redis_pid=$!
for _ in $(seq 1 50); do redis-cli -p $RPORT ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done

cp -r examples/secure/keys "$tmp/keys"
cat > "$tmp/forge.yaml" <<YAML
security:
  redis: {url: "redis://127.0.0.1:$RPORT/0", timeout: 200ms, prefix: "forge-test:"}
  rate_limits:
    shared: {limit: $L, window: 1m, key: "header:X-Client", store: redis}
    strict: {limit: 1000, window: 1m, key: ip, store: redis, on_redis_error: closed}
    lenient: {limit: 1000, window: 1m, key: ip, store: redis, on_redis_error: open}
  policies:
    shared: {rate_limit: shared}
    strict: {rate_limit: strict}
    lenient: {rate_limit: lenient}
  routes:
    "GET /limited": shared
    "GET /public": strict
    "GET /admin": lenient
YAML
for port in $P1 $P2; do
  "$BUILD/bin/forge" run --host nginx --app "$BUILD/lib/secure.so" --config "$tmp/forge.yaml" \
    --listen "127.0.0.1:$port" --workers 2 >"$tmp/server$port.log" 2>&1 &
  pids+=($!)
done
for port in $P1 $P2; do
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/public" && break; sleep 0.1; done
done

# Stay inside one window (Redis's clock is this machine's clock).
s=$(( $(date +%s) % 60 )); [ "$s" -gt 50 ] && sleep $(( 61 - s ))
client="c$$-$RANDOM"
for i in $(seq 1 $M); do
  port=$([ $((i % 2)) = 0 ] && echo $P1 || echo $P2)
  curl -s -o /dev/null -D "$tmp/h$i" -w '%{http_code}\n' -H "X-Client: $client" \
    "http://127.0.0.1:$port/limited" &
done > "$tmp/codes"
wait_curls() { for j in $(jobs -p); do case " ${pids[*]} $redis_pid " in *" $j "*) ;; *) wait "$j";; esac; done; }
wait_curls
ok200=$(grep -c '^200$' "$tmp/codes"); n429=$(grep -c '^429$' "$tmp/codes")
check "exactly L=$L of M=$M pass over two servers (got $ok200 x 200, $n429 x 429)" '[ "$ok200" = $L ] && [ "$n429" = $((M - L)) ]'
h=$(grep -l '^HTTP/1.1 429' "$tmp"/h* | head -1)
check "429 has Retry-After" 'grep -qi "^Retry-After: [1-9]" "$h"'
check "429 has RateLimit headers" 'grep -qi "^RateLimit-Remaining: 0" "$h" && grep -qi "^RateLimit-Limit: $L" "$h" && grep -qi "^RateLimit-Policy: $L;w=60" "$h"'
h=$(grep -l '^HTTP/1.1 200' "$tmp"/h* | head -1)
check "200 has RateLimit headers" 'grep -qi "^RateLimit-Remaining: [0-9]" "$h" && grep -qi "^RateLimit-Reset: [0-9]" "$h"'
# the key in Redis is hashed: no client id in clear
keys=$(redis-cli -p $RPORT --scan --pattern 'forge-test:*')
check "one counter in Redis, hashed key ($keys)" '[ "$(echo "$keys" | grep -c "forge-test:{shared:")" = 1 ] && ! echo "$keys" | grep -q "$client"'
check "counter value is M" '[ "$(redis-cli -p $RPORT get "$(echo "$keys" | grep shared)")" = $M ]'
other=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Client: other-$client" "http://127.0.0.1:$P1/limited")
check "another client has its own count ($other)" '[ "$other" = 200 ]'

# Redis goes away
kill "$redis_pid"; wait "$redis_pid" 2>/dev/null; redis_pid=""
code=$(curl -s -o "$tmp/b" -D "$tmp/h" -w '%{http_code}' "http://127.0.0.1:$P1/public")
check "on_redis_error closed: 503 ($code)" '[ "$code" = 503 ] && grep -qi "^Retry-After: 1" "$tmp/h" && grep -q "problem" "$tmp/h"'
code=$(curl -s -o /dev/null -D "$tmp/h" -w '%{http_code}' "http://127.0.0.1:$P2/admin")
check "on_redis_error open: passes to the handler ($code)" '[ "$code" = 200 ]'
codes=""
for i in $(seq 1 $((L + 2))); do
  codes+=$(curl -s -o /dev/null -w '%{http_code} ' -H "X-Client: down-$client" "http://127.0.0.1:$P1/limited")
done
n200=$(echo "$codes" | tr ' ' '\n' | grep -c '^200$')
check "on_redis_error local (default): per-machine count, L pass ($codes)" '[ "$n200" = $L ]'
check "outage logged as a warning" 'grep -q "redis 127.0.0.1:$RPORT" "$tmp/server$P1.log"'

# config errors name the key
printf 'security:\n  rate_limits:\n    x: {limit: 1, window: 1m, store: redis}\n' > "$tmp/bad.yaml"
out=$(timeout 20 "$BUILD/bin/forge" run --host nginx --app "$BUILD/lib/secure.so" --config "$tmp/bad.yaml" \
  --listen "127.0.0.1:18284" 2>&1)
check "store: redis without security.redis refused" '[[ "$out" == *"security.rate_limits.x.store: redis, but security.redis.url is not set"* ]]'
printf 'security:\n  redis: {url: "http://x"}\n' > "$tmp/bad.yaml"
out=$(timeout 20 "$BUILD/bin/forge" run --host nginx --app "$BUILD/lib/secure.so" --config "$tmp/bad.yaml" \
  --listen "127.0.0.1:18284" 2>&1)
check "bad redis url refused" '[[ "$out" == *"security.redis.url: expected redis://"* ]]'

echo "security_redis_test: $pass passed, $fail failed"
[ "$fail" = 0 ]
