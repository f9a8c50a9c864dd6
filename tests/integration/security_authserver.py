#!/usr/bin/env python3
"""A small OAuth2 authorization server for Forge's security tests.

POST /introspect  RFC 7662 (client auth: Basic api:s3cr3t, or client_id/client_secret
                  in the form). The token's prefix picks the answer: good-, short- (exp in
                  1 s), noexp-, wrongaud-, inactive-, boom- (500), garbage- (not JSON),
                  noactive- (no "active"), slow- (answers after 3 s).
POST /token       RFC 6749 client credentials; scope "short" gets expires_in 1.
GET  /jwks        the file given as the second argument, re-read on every request.
GET  /hits        how many times each endpoint (and each introspected token) was hit.
Usage: security_authserver.py PORT [JWKS_FILE]
"""
import base64, json, sys, threading, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
JWKS = sys.argv[2] if len(sys.argv) > 2 else None
lock = threading.Lock()
hits = {"introspect": {}, "token": 0, "jwks": 0, "bad_client": 0}
issued = [0]


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def client_ok(self, form):
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            user, pw = urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(pw)
        else:
            user, pw = form.get("client_id", [""])[0], form.get("client_secret", [""])[0]
        return user == "api" and pw == "s3cr3t:&="

    def do_GET(self):
        if self.path == "/hits":
            with lock:
                return self.send(200, hits)
        if self.path == "/jwks" and JWKS:
            with lock:
                hits["jwks"] += 1
            with open(JWKS, "rb") as f:
                return self.send(200, f.read())
        self.send(404, {"error": "not_found"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        if not self.client_ok(form):
            with lock:
                hits["bad_client"] += 1
            return self.send(401, {"error": "invalid_client"})
        now = int(time.time())
        if self.path == "/introspect":
            tok = form.get("token", [""])[0]
            with lock:
                hits["introspect"][tok] = hits["introspect"].get(tok, 0) + 1
            kind = tok.split("-", 1)[0]
            good = {"active": True, "sub": "alice", "scope": "read write", "exp": now + 3600,
                    "aud": "forge-api", "iss": "https://as.test", "roles": ["admin"],
                    "client_id": "web"}
            if kind == "good":
                return self.send(200, good)
            if kind == "short":
                return self.send(200, dict(good, exp=now + 1))
            if kind == "noexp":
                good.pop("exp")
                return self.send(200, good)
            if kind == "wrongaud":
                return self.send(200, dict(good, aud="other"))
            if kind == "boom":
                return self.send(500, {"error": "server_error"})
            if kind == "garbage":
                return self.send(200, b"<html>not json</html>", "text/html")
            if kind == "noactive":
                return self.send(200, {"sub": "x"})
            if kind == "slow":
                time.sleep(3)
                return self.send(200, good)
            return self.send(200, {"active": False})
        if self.path == "/token":
            if form.get("grant_type", [""])[0] != "client_credentials":
                return self.send(400, {"error": "unsupported_grant_type"})
            scope = form.get("scope", [""])[0]
            with lock:
                hits["token"] += 1
                issued[0] += 1
                tok = "at-%d" % issued[0]
            return self.send(200, {"access_token": tok, "token_type": "Bearer",
                                   "expires_in": 1 if scope == "short" else 3600,
                                   "scope": scope})
        self.send(404, {"error": "not_found"})


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
