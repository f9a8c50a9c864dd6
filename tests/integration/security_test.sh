#!/usr/bin/env bash
# End-to-end security tests on real nginx (4 workers) with examples/secure:
# JWT negative matrix, RBAC, API keys, CORS preflights, validation errors,
# and rate-limit exactness across the workers. Tokens are made here with the
# openssl CLI, independently of Forge's own signer.
# Usage: tests/integration/security_test.sh [BUILD]   (ports 18160-18179)
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
PORT=${SECURITY_TEST_PORT:-18161}
BASE="http://127.0.0.1:$PORT"
EX=examples/secure
pass=0; fail=0
tmp=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }
# expect NAME WANT_STATUS curl-args...: the status, and the headers in $tmp/h, body in $tmp/b
expect() {
  local name=$1 want=$2; shift 2
  local got
  got=$(curl -s -o "$tmp/b" -D "$tmp/h" -w '%{http_code}' "$@")
  if [ "$got" = "$want" ]; then ok; else bad "$name: status $got, want $want ($(head -c 300 "$tmp/b"))"; fi
}
has_header() { # NAME REGEX
  if grep -qiE "$2" "$tmp/h"; then ok; else bad "$1: no header matching /$2/"; fi
}
no_header() {
  if grep -qiE "$2" "$tmp/h"; then bad "$1: unexpected header /$2/"; else ok; fi
}
body_has() {
  if grep -qF -- "$2" "$tmp/b"; then ok; else bad "$1: body lacks $2 ($(head -c 300 "$tmp/b"))"; fi
}

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
jwt_hs() { # HEADER_JSON PAYLOAD_JSON [KEY_FILE]
  local in sig keyhex
  in="$(printf %s "$1" | b64url).$(printf %s "$2" | b64url)"
  keyhex=$(tr -d '\n' < "${3:-$EX/keys/hs256.secret}" | od -An -tx1 | tr -d ' \n')
  [ -n "${3:-}" ] && keyhex=$(od -An -tx1 < "$3" | tr -d ' \n')
  sig=$(printf %s "$in" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$keyhex" -binary | b64url)
  printf '%s.%s' "$in" "$sig"
}
jwt_rs() {
  local in sig
  in="$(printf %s "$1" | b64url).$(printf %s "$2" | b64url)"
  sig=$(printf %s "$in" | openssl dgst -sha256 -sign "$EX/keys/rs256.pem" -binary | b64url)
  printf '%s.%s' "$in" "$sig"
}
now=$(date +%s)
claims() { # SUB [EXTRA_JSON_MEMBERS]
  printf '{"sub":"%s","iss":"forge-example","aud":"forge-api","iat":%d,"exp":%d%s}' \
    "$1" "$now" $((now + 600)) "${2:-}"
}
HS='{"alg":"HS256","typ":"JWT"}'
RS='{"alg":"RS256","typ":"JWT"}'

[ -x "$BUILD/bin/forge" ] && [ -f "$BUILD/lib/secure.so" ] || { echo "build first ($BUILD)"; exit 1; }
"$BUILD/bin/forge" run --host nginx --app "$BUILD/lib/secure.so" --config "$EX/forge.yaml" \
  --listen "127.0.0.1:$PORT" --workers 4 >"$tmp/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "$BASE/public" && break; sleep 0.1; done

# ---- open route and headers
expect "public" 200 "$BASE/public"
has_header "public nosniff" '^X-Content-Type-Options: nosniff'
has_header "public frame" '^X-Frame-Options: DENY'
has_header "public hsts" '^Strict-Transport-Security: max-age='
has_header "public csp" "^Content-Security-Policy: default-src 'none'"

# ---- JWT
expect "no token" 401 "$BASE/private"
has_header "no token challenge" '^WWW-Authenticate: Bearer realm="forge"'
body_has "problem json" '"status":401'
expect "hs256" 200 -H "Authorization: Bearer $(jwt_hs "$HS" "$(claims alice)")" "$BASE/private"
body_has "hs256 sub" '"sub":"alice"'
expect "rs256" 200 -H "Authorization: Bearer $(jwt_rs "$RS" "$(claims carol)")" "$BASE/private"
body_has "rs256 sub" '"sub":"carol"'
tok=$(jwt_hs "$HS" "$(claims alice)")
declare -A neg=(
  [wrong_signature]="${tok%.*}.$(printf 'x%.0s' $(seq 1 43))"
  [alg_none]="$(printf '{"alg":"none"}' | b64url).$(claims alice | b64url)."
  [key_confusion]="$(jwt_hs "$HS" "$(claims alice)" "$EX/keys/rs256.pub.pem")"
  [rs_header_hs_sig]="$(printf %s "$RS" | b64url).${tok#*.}"
  [expired]="$(jwt_hs "$HS" "$(printf '{"sub":"a","iss":"forge-example","aud":"forge-api","exp":%d}' $((now - 120)))")"
  [not_yet_valid]="$(jwt_hs "$HS" "$(claims alice ",\"nbf\":$((now + 3600))")")"
  [wrong_issuer]="$(jwt_hs "$HS" "$(printf '{"sub":"a","iss":"evil","aud":"forge-api","exp":%d}' $((now + 600)))")"
  [wrong_audience]="$(jwt_hs "$HS" "$(printf '{"sub":"a","iss":"forge-example","aud":"other","exp":%d}' $((now + 600)))")"
  [missing_sub]="$(jwt_hs "$HS" "$(printf '{"iss":"forge-example","aud":"forge-api","exp":%d}' $((now + 600)))")"
  [malformed_base64]="eyJhbGciOiJIUzI1NiJ9!.e30.abc"
  [malformed_json]="$(jwt_hs '{"alg":"HS256"' "$(claims alice)")"
  [payload_not_object]="$(jwt_hs "$HS" '"alice"')"
  [two_parts]="${tok%.*}"
  [oversized]="$(jwt_hs "$HS" "$(claims alice ",\"pad\":\"$(head -c 4500 /dev/zero | tr '\0' 'a')\"")")"
)
for k in "${!neg[@]}"; do
  expect "jwt $k" 401 -H "Authorization: Bearer ${neg[$k]}" "$BASE/private"
  has_header "jwt $k challenge" '^WWW-Authenticate: Bearer realm="forge", error="invalid_token"'
done

# ---- RBAC and API keys
expect "admin as user" 403 -H "Authorization: Bearer $(jwt_hs "$HS" "$(claims bob ',"roles":["user"]')")" "$BASE/admin"
has_header "admin as user scope" 'error="insufficient_scope"'
expect "admin as admin" 200 -H "Authorization: Bearer $(jwt_rs "$RS" "$(claims root ',"roles":["admin"]')")" "$BASE/admin"
expect "admin no creds" 401 "$BASE/admin"
expect "admin api key" 200 -H "X-API-Key: $(cat $EX/keys/admin.apikey)" "$BASE/admin"
body_has "admin api key subject" '"subject":"ops-console"'
expect "reports api key" 403 -H "X-API-Key: $(cat $EX/keys/reports.apikey)" "$BASE/admin"
expect "unknown api key" 401 -H "X-API-Key: fk_admin_0000" "$BASE/admin"

# ---- CORS
expect "preflight" 204 -X OPTIONS -H "Origin: https://app.example.com" \
  -H "Access-Control-Request-Method: GET" -H "Access-Control-Request-Headers: authorization" "$BASE/private"
has_header "preflight origin" '^Access-Control-Allow-Origin: https://app.example.com'
has_header "preflight creds" '^Access-Control-Allow-Credentials: true'
has_header "preflight methods" '^Access-Control-Allow-Methods: GET, POST'
has_header "preflight headers" '^Access-Control-Allow-Headers: .*Authorization'
has_header "preflight max-age" '^Access-Control-Max-Age: 600'
has_header "preflight vary" '^Vary: Origin'
curl -s -o /dev/null -D "$tmp/h" -X OPTIONS -H "Origin: https://evil.example.com" \
  -H "Access-Control-Request-Method: GET" "$BASE/private"
no_header "preflight evil" '^Access-Control-Allow-Origin'
expect "cors actual" 200 -H "Origin: https://app.example.com" "$BASE/public"
has_header "cors actual origin" '^Access-Control-Allow-Origin: https://app.example.com'
expect "cors evil actual" 200 -H "Origin: https://evil.example.com" "$BASE/public"
no_header "cors evil actual" '^Access-Control-Allow-Origin'

# ---- validation
J=(-H "Content-Type: application/json" -X POST)
expect "valid body" 200 "${J[@]}" -d '{"name":"Ada","age":36}' "$BASE/validate"
expect "invalid body" 422 "${J[@]}" -d '{"age":151,"extra":true}' "$BASE/validate"
body_has "422 name" '{"pointer":"/name","message":"is required"}'
body_has "422 age" '{"pointer":"/age","message":"must be at most 150"}'
body_has "422 extra" '{"pointer":"/extra","message":"is not an allowed property"}'
expect "wrong types" 422 "${J[@]}" -d '{"name":7,"age":"old"}' "$BASE/validate"
body_has "422 type" '"must be of type integer"'
expect "not json" 400 "${J[@]}" -d '{"name":' "$BASE/validate"
expect "too deep" 400 "${J[@]}" -d '{"name":[[[[[[[[[["x"]]]]]]]]]]}' "$BASE/validate"

# ---- rate limit: 5 per minute per address, 24 requests over 4 workers, exactly 5 pass
s=$(date +%s); [ $((s % 60)) -gt 50 ] && sleep $((61 - s % 60))   # stay inside one window
for w in 1 2 3 4; do
  ( for _ in 1 2 3 4 5 6; do curl -s -o /dev/null -w '%{http_code}\n' "$BASE/limited"; done ) >"$tmp/rl.$w" &
done
wait $(jobs -p | grep -v "^$server\$") 2>/dev/null
okc=$(cat "$tmp"/rl.* | grep -c '^200$'); limc=$(cat "$tmp"/rl.* | grep -c '^429$')
if [ "$okc" = 5 ] && [ "$limc" = 19 ]; then ok; else bad "rate limit: $okc passed, $limc limited (want 5 and 19)"; fi
expect "limited" 429 "$BASE/limited"
has_header "429 retry-after" '^Retry-After: [0-9]+'
has_header "429 ratelimit" '^RateLimit-Remaining: 0'
has_header "429 policy" '^RateLimit-Policy: 5;w=60'

echo "security: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
