#!/usr/bin/env bash
# `forge secret keygen|encrypt|decrypt` and an encrypted value served by a
# real nginx: the app sees the plaintext, the config dump and logs do not.
# Usage: tests/integration/security_secret_test.sh [BUILD]   (port 18281)
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
FORGE=$BUILD/bin/forge
PORT=18281
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
check() { if eval "$2"; then ok; else bad "$1"; fi; }

[ -x "$FORGE" ] || { echo "build first ($BUILD)"; exit 1; }
unset FORGE_SECRETS_KEY FORGE_SECRETS_KEY_FILE

# keygen: stdout, or a new 0600 file it refuses to overwrite
key=$("$FORGE" secret keygen)
check "keygen prints 44 base64 chars" '[[ "$key" =~ ^[A-Za-z0-9+/]{43}=$ ]]'
check "keygen --out" '"$FORGE" secret keygen --out "$tmp/k" 2>/dev/null && [ "$(stat -c %a "$tmp/k")" = 600 ]'
check "keygen --out refuses to overwrite" '! "$FORGE" secret keygen --out "$tmp/k" 2>/dev/null'
check "two keys differ" '[ "$("$FORGE" secret keygen)" != "$key" ]'

# encrypt / decrypt with each key source
v=$(printf 'hunter2-secret\n' | FORGE_SECRETS_KEY=$key "$FORGE" secret encrypt)
check "encrypt prints a config value" '[[ "$v" =~ ^\$\{enc:v1:[A-Za-z0-9+/=]+\}$ ]]'
check "value hides the plaintext" '[[ "$v" != *hunter2* ]]'
check "decrypt (env key)" '[ "$(printf %s "$v" | FORGE_SECRETS_KEY=$key "$FORGE" secret decrypt)" = hunter2-secret ]'
echo "$key" > "$tmp/key"
check "decrypt (--key-file)" '[ "$(printf %s "$v" | "$FORGE" secret decrypt --key-file "$tmp/key")" = hunter2-secret ]'
check "decrypt (FORGE_SECRETS_KEY_FILE)" '[ "$(printf %s "$v" | FORGE_SECRETS_KEY_FILE=$tmp/key "$FORGE" secret decrypt)" = hunter2-secret ]'
check "decrypt (--key-env)" '[ "$(printf %s "$v" | MYK=$key "$FORGE" secret decrypt --key-env MYK)" = hunter2-secret ]'
v2=$(printf 'hunter2-secret' | FORGE_SECRETS_KEY=$key "$FORGE" secret encrypt)
check "fresh nonce each time" '[ "$v" != "$v2" ]'

# refusals
err=$(printf %s "$v" | "$FORGE" secret decrypt --key-file "$tmp/k" 2>&1 >/dev/null); rc=$?
check "wrong key fails" '[ $rc = 1 ]'
check "wrong key names the key file" '[[ "$err" == *"another key"*"$tmp/k"* ]]'
check "wrong key never prints plaintext" '[[ "$err" != *hunter2* ]]'
t=$(printf %s "$v" | sed 's/.\(.\)}$/A\1}/;t;s/x/y/'); [ "$t" = "$v" ] && t=$(printf %s "$v" | sed 's/.\(.\)}$/B\1}/')
err=$(printf %s "$t" | FORGE_SECRETS_KEY=$key "$FORGE" secret decrypt 2>&1 >/dev/null); rc=$?
check "tampered value fails" '[ $rc = 1 ] && [[ "$err" == *tampered* ]]'
err=$("$FORGE" secret encrypt hunter2 2>&1 </dev/null); rc=$?
check "plaintext in argv refused" '[ $rc = 2 ] && [[ "$err" == *stdin* ]]'
err=$(printf x | "$FORGE" secret encrypt 2>&1); rc=$?
check "no key: clear error" '[ $rc = 1 ] && [[ "$err" == *FORGE_SECRETS_KEY* ]]'
err=$(printf x | FORGE_SECRETS_KEY=short "$FORGE" secret encrypt 2>&1); rc=$?
check "bad key text" '[ $rc = 1 ] && [[ "$err" == *"32 bytes"* ]]'
err=$(printf 'a\0b' | FORGE_SECRETS_KEY=$key "$FORGE" secret encrypt 2>&1); rc=$?
check "NUL in plaintext refused" '[ $rc = 1 ]'
err=$(printf garbage | FORGE_SECRETS_KEY=$key "$FORGE" secret decrypt 2>&1); rc=$?
check "garbage value refused" '[ $rc = 1 ] && [[ "$err" == *"unknown format"* ]]'
check "unknown subcommand" '! "$FORGE" secret frobnicate 2>/dev/null'
check "help" '"$FORGE" secret --help | grep -q keygen'

# served: examples/secure with its first API-key hash encrypted in the config
# (key file beside the config): the key works, the log never shows the value.
if [ -f "$BUILD/lib/secure.so" ]; then
  ak_hash="sha256:$(printf %s 'fk_enc_test_key_0123456789abcdef' | sha256sum | cut -d' ' -f1)"
  enc_hash=$(printf %s "$ak_hash" | FORGE_SECRETS_KEY=$key "$FORGE" secret encrypt)
  cp -r examples/secure/keys "$tmp/keys"
  sed "0,/\"sha256:[0-9a-f]*\"/s||\"$enc_hash\"|" examples/secure/forge.yaml > "$tmp/forge.yaml"
  printf 'secrets: {key_file: key}\n' >> "$tmp/forge.yaml"
  "$FORGE" run --host nginx --app "$BUILD/lib/secure.so" --config "$tmp/forge.yaml" \
    --listen "127.0.0.1:$PORT" --workers 2 --log-level debug >"$tmp/server.log" 2>&1 &
  server=$!
  up=0
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/public" && { up=1; break; }; sleep 0.1; done
  check "server with encrypted values starts" '[ $up = 1 ]'
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-API-Key: fk_enc_test_key_0123456789abcdef' "http://127.0.0.1:$PORT/admin")
  check "decrypted api key hash works (200, got $code)" '[ "$code" = 200 ]'
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-API-Key: fk_wrong' "http://127.0.0.1:$PORT/admin")
  check "other keys refused ($code)" '[ "$code" = 401 ]'
  kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; server=""
  check "plaintext never logged" '! grep -q "$ak_hash" "$tmp/server.log"'
  # a wrong key: the server refuses to start, naming the key path
  "$FORGE" secret keygen > "$tmp/key"
  timeout 20 "$FORGE" run --host nginx --app "$BUILD/lib/secure.so" --config "$tmp/forge.yaml" \
    --listen "127.0.0.1:$PORT" --workers 1 >"$tmp/server2.log" 2>&1

  check "wrong key: start fails naming the key path" 'grep -q "security.api_keys.keys\[0\].hash.*another key" "$tmp/server2.log"'
fi

echo "security_secret_test: $pass passed, $fail failed"
[ "$fail" = 0 ]
