#!/usr/bin/env bash
# make bench: requests/s on nginx for a JWT-protected route (HS256, and RS256)
# against the open route of the same app, side by side: alternating runs,
# the median of the per-pair ratios. examples/secure, 1 worker, loopback.
# Usage: bench/security_bench.sh [BUILD]   (port 18170)
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
PORT=${SECURITY_BENCH_PORT:-18170}
PAIRS=${PAIRS:-5}
DUR=${DUR:-3s}
EX=examples/secure
command -v wrk >/dev/null || { echo "security_bench: wrk not installed (scripts/deps.sh)"; exit 1; }
tmp=$(mktemp -d); server=""
trap '[ -n "$server" ] && kill $server 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
"$BUILD/bin/forge" run --host nginx --app "$BUILD/lib/secure.so" --config "$EX/forge.yaml" \
  --listen "127.0.0.1:$PORT" --workers 1 --log-level error >"$tmp/log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/public" && break; sleep 0.1; done

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
payload=$(printf '{"sub":"bench","iss":"forge-example","aud":"forge-api","iat":%d,"exp":%d}' "$now" $((now + 3600)) | b64url)
hin="$(printf '{"alg":"HS256"}' | b64url).$payload"
hs="$hin.$(printf %s "$hin" | openssl dgst -sha256 -mac HMAC -macopt "key:$(tr -d '\n' < $EX/keys/hs256.secret)" -binary | b64url)"
rin="$(printf '{"alg":"RS256"}' | b64url).$payload"
rs="$rin.$(printf %s "$rin" | openssl dgst -sha256 -sign $EX/keys/rs256.pem -binary | b64url)"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $hs" http://127.0.0.1:$PORT/private)" = 200 ] || { echo "token refused"; exit 1; }

rps() { wrk -t1 -c16 -d"$DUR" "$@" 2>/dev/null | awk '/Requests\/sec/ {print $2}'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for kind in hs rs; do
  tok=$hs; [ $kind = rs ] && tok=$rs
  : >"$tmp/ratios"
  for i in $(seq 1 "$PAIRS"); do
    open=$(rps "http://127.0.0.1:$PORT/public")
    prot=$(rps -H "Authorization: Bearer $tok" "http://127.0.0.1:$PORT/private")
    echo "pair $i ($kind): open $open req/s, jwt $prot req/s"
    awk -v a="$prot" -v b="$open" 'BEGIN {printf "%.3f\n", a / b}' >>"$tmp/ratios"
  done
  echo "security_bench: ${kind^^}256-protected / open = $(median <"$tmp/ratios") (median of $PAIRS pairs, wrk -c16 -d$DUR, 1 nginx worker)"
done
