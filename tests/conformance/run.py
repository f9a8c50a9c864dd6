#!/usr/bin/env python3
"""The Forge conformance suite: one table of checks (checks.json), every host.

usage: run.py BUILD_DIR [--hosts test,nginx,apache,kore] [--only SUBSTR] [-v]

The checks are data. This runner evaluates them the same way for every host;
only the transport differs: HTTP/1.1 over a socket for nginx, Apache and Kore
(each started with `forge run --host H` on 127.0.0.1), and the framed pipe of
build/tests/conformance_testhost for the in-process test host. Design and
file format: docs/adr/0120-conformance.md.

Exit status: 0 when every check that ran passed on every host and every
host answered the same statuses; 1 otherwise. A host whose binding is not
built is SKIPped with its reason (CONFORMANCE_REQUIRE_ALL=1 makes that a
failure too, as the final CI wants). Python standard library only.
"""
import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PORTS = {"nginx": 18241, "apache": 18242, "kore": 18243}
KIND = {"test": "test", "nginx": "nginx", "apache": "apache", "kore": "kore"}
IO_TIMEOUT = 60.0

# ---------------------------------------------------------------- values


def pattern(n):
    """n bytes whose byte i is i % 251 (the same pattern as /c/big)."""
    base = bytes(range(251))
    return (base * (n // 251 + 1))[:n]


class Ctx:
    def __init__(self, host, token):
        self.vars = {"token": token, "host_kind": KIND[host]}

    def text(self, s):
        return re.sub(r"\{(token|host_kind)\}", lambda m: self.vars[m.group(1)], s)

    def value(self, v):
        """Templates expanded, generators ({"pattern":N}, {"repeat":s,"count":k}) made."""
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, dict) and set(v) == {"pattern"}:
            return pattern(v["pattern"])
        if isinstance(v, dict) and set(v) == {"repeat", "count"}:
            return self.text(v["repeat"]) * v["count"]
        if isinstance(v, dict):
            return {k: self.value(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self.value(x) for x in v]
        return v

    def request(self, spec):
        body = self.value(spec.get("body", b""))
        if isinstance(body, str):
            body = body.encode()
        return {
            "method": spec["method"],
            "target": self.text(spec["target"]),
            "headers": [(self.text(n), self.value(v)) for n, v in spec.get("headers", [])],
            "body": body,
            "chunked": bool(spec.get("chunked")),
        }


class Response:
    """What a client saw. framing: 'length' (a Content-Length), 'stream'
    (chunked, or -1 from the test host) or 'close' (read to EOF)."""

    def __init__(self, status, headers, body, framing, content_length):
        self.status = status
        self.headers = headers  # [(name, value)] in order
        self.body = body
        self.framing = framing
        self.content_length = content_length
        self.closes = any(n.lower() == "connection" and "close" in v.lower() for n, v in headers)

    def values(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]


class CheckFailed(Exception):
    pass


# ---------------------------------------------------------------- expectations


def subset(actual, expected, path="$"):
    """None when `expected` is a JSON subset of `actual`, else a description."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path}: expected an object, got {short(actual)}"
        for k, v in expected.items():
            if k not in actual:
                return f"{path}.{k}: missing"
            why = subset(actual[k], v, f"{path}.{k}")
            if why:
                return why
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{path}: expected {short(expected)}, got {short(actual)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            why = subset(a, e, f"{path}[{i}]")
            if why:
                return why
        return None
    return None if actual == expected else f"{path}: expected {short(expected)}, got {short(actual)}"


def short(v, n=120):
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= n else s[:n] + f"... ({len(s)} chars)"


def check_header(res, name, pred):
    vals = res.values(name)
    joined = ", ".join(vals)
    if pred.get("absent"):
        return None if not vals else f"{name}: expected absent, got {short(joined)}"
    if not vals:
        return f"{name}: missing"
    if "equals" in pred and (len(vals) != 1 or vals[0] != pred["equals"]):
        return f"{name}: expected {pred['equals']!r}, got {short(vals)}"
    if "prefix" in pred and not joined.startswith(pred["prefix"]):
        return f"{name}: expected a value starting {pred['prefix']!r}, got {short(joined)}"
    if "suffix" in pred and not joined.endswith(pred["suffix"]):
        return f"{name}: expected a value ending {pred['suffix']!r}, got {short(joined)}"
    if "matches" in pred and not re.search(pred["matches"], joined):
        return f"{name}: {short(joined)} does not match {pred['matches']}"
    if "tokens" in pred:
        got = {t.strip() for t in joined.split(",") if t.strip()}
        if got != set(pred["tokens"]):
            return f"{name}: expected {sorted(pred['tokens'])}, got {sorted(got)}"
    if "list" in pred and joined != ", ".join(pred["list"]):
        # Separate fields or one comma-joined field are the same list (RFC 9110 5.3).
        return f"{name}: expected the list {pred['list']}, got {short(vals)}"
    return None


def json_body(res):
    try:
        return json.loads(res.body)
    except ValueError as e:
        raise CheckFailed(f"body is not JSON ({e}): {short(res.body)}")


def evaluate(ctx, res, exp, req=None):
    """Raise CheckFailed naming the first unmet expectation."""
    exp = ctx.value(exp)
    st = exp.get("status")
    if st is not None and not status_ok(res.status, st):
        raise CheckFailed(f"status {res.status}, expected {st}; body {short(res.body)}")
    for name, pred in exp.get("headers", {}).items():
        why = check_header(res, name, pred)
        if why:
            raise CheckFailed(why)
    if "content_length" in exp and res.content_length != exp["content_length"]:
        raise CheckFailed(f"content length {res.content_length}, expected {exp['content_length']}")
    fr = exp.get("framing")
    if fr and res.framing != fr:
        raise CheckFailed(f"framing {res.framing}, expected {fr}")
    if fr == "length" and res.content_length != len(res.body):
        raise CheckFailed(f"Content-Length {res.content_length} but {len(res.body)} body bytes")
    if exp.get("problem"):
        ct = ", ".join(res.values("Content-Type"))
        if not ct.startswith("application/problem+json"):
            raise CheckFailed(f"Content-Type {ct!r}, expected application/problem+json")
        p = json_body(res)
        if not isinstance(p, dict) or p.get("status") != res.status or \
                not isinstance(p.get("title"), str) or not isinstance(p.get("type"), str):
            raise CheckFailed(f"not a problem document for {res.status}: {short(res.body)}")
    body = exp.get("body", {})
    if "equals" in body and res.body != body["equals"].encode():
        raise CheckFailed(f"body {short(res.body)}, expected {body['equals']!r}")
    if body.get("empty") and res.body:
        raise CheckFailed(f"body should be empty, got {short(res.body)}")
    if "not_contains" in body and body["not_contains"].encode() in res.body:
        raise CheckFailed(f"body contains {body['not_contains']!r}")
    if "bytes" in body and res.body != body["bytes"]:
        raise CheckFailed(f"{len(res.body)} body bytes differ from the {len(body['bytes'])} "
                          f"expected (first difference at {first_diff(res.body, body['bytes'])})")
    if body.get("same_as_request") and res.body != req["body"]:
        raise CheckFailed(f"{len(res.body)} body bytes differ from the {len(req['body'])} sent "
                          f"(first difference at {first_diff(res.body, req['body'])})")
    if "json" in body:
        why = subset(json_body(res), body["json"])
        if why:
            raise CheckFailed(why)
    for field, header in body.get("json_from_header", {}).items():
        got, want = json_body(res).get(field), ", ".join(res.values(header))
        if got != want:
            raise CheckFailed(f"body {field} {got!r} differs from header {header} {want!r}")


def status_ok(got, want):
    if isinstance(want, str):
        return str(got)[0] == want[0] and want.endswith("xx")
    return got == want


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


# ---------------------------------------------------------------- HTTP transport


class Conn:
    """One HTTP/1.1 client connection. Reads exactly what the server framed."""

    def __init__(self, port):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rf = self.sock.makefile("rb", buffering=65536)
        self.send_error = None

    def close(self):
        try:
            self.rf.close()
            self.sock.close()
        except OSError:
            pass

    def send(self, req):
        head = [f"{req['method']} {req['target']} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        head += [f"{n}: {v}" for n, v in req["headers"]]
        body = req["body"]
        if req["chunked"]:
            head.append("Transfer-Encoding: chunked")
            step = max(1, min(65536, len(body) // 3 or 1))
            parts = [b"%x\r\n%s\r\n" % (len(body[i:i + step]), body[i:i + step])
                     for i in range(0, len(body), step)]
            body = b"".join(parts) + b"0\r\n\r\n"
        elif body or req["method"] in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        self.send_raw(data)

    def send_raw(self, data):
        """Sends in a thread: a server may answer (413) before it read it all."""
        def run():
            try:
                self.sock.sendall(data)
            except OSError as e:
                self.send_error = e
        if len(data) < 65536:
            run()
            return
        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.sender = t

    def line(self):
        ln = self.rf.readline(65537)
        if not ln:
            raise CheckFailed("the server closed the connection" +
                              (f" (send failed: {self.send_error})" if self.send_error else ""))
        return ln

    def read_head(self):
        while True:
            status_line = self.line().decode("latin-1").rstrip("\r\n")
            m = re.match(r"HTTP/1\.[01] (\d{3})", status_line)
            if not m:
                raise CheckFailed(f"not an HTTP status line: {short(status_line)}")
            headers = []
            while True:
                ln = self.line().decode("latin-1").rstrip("\r\n")
                if not ln:
                    break
                n, _, v = ln.partition(":")
                headers.append((n.strip(), v.strip()))
            status = int(m.group(1))
            if status >= 200:
                return status, headers

    def read_chunks(self):
        """Yields the data of each chunk of a chunked body."""
        while True:
            size = int(self.line().split(b";")[0].strip(), 16)
            if size == 0:
                while self.line() not in (b"\r\n", b"\n"):
                    pass
                return
            data = self.rf.read(size)
            if len(data) != size:
                raise CheckFailed("the stream ended inside a chunk")
            self.line()
            yield data

    def read_response(self, method, head=None):
        status, headers = head or self.read_head()
        te = ", ".join(v for n, v in headers if n.lower() == "transfer-encoding").lower()
        cls = [v for n, v in headers if n.lower() == "content-length"]
        cl = int(cls[0]) if cls else None
        if method == "HEAD" or status in (204, 304):
            return Response(status, headers, b"", "length" if cl is not None else "close", cl)
        if "chunked" in te:
            return Response(status, headers, b"".join(self.read_chunks()), "stream", None)
        if cl is not None:
            body = self.rf.read(cl)
            if len(body) != cl:
                raise CheckFailed(f"Content-Length {cl} but the connection ended after {len(body)}")
            return Response(status, headers, body, "length", cl)
        return Response(status, headers, self.rf.read(), "close", None)


class HttpTransport:
    wire = True

    def __init__(self, port):
        self.port = port

    def request(self, req):
        c = Conn(self.port)
        try:
            c.send(req)
            return c.read_response(req["method"])
        finally:
            c.close()

    def same_connection(self, reqs, check):
        """Each request on one connection; check(i, res) judges each in turn."""
        c = Conn(self.port)
        try:
            for i, req in enumerate(reqs):
                try:
                    c.send(req)
                    res = c.read_response(req["method"])
                except (CheckFailed, OSError) as e:
                    raise CheckFailed(f"request {i + 1} on the kept-alive connection: {e}")
                check(i, res)
                if res.closes and i + 1 < len(reqs):
                    raise CheckFailed(f"the server closed the connection after request {i + 1}")
        finally:
            c.close()

    def concurrent(self, req, count, meanwhile):
        """count requests at once; meanwhile() runs while they are in flight."""
        out = [None] * count

        def one(i):
            try:
                out[i] = self.request(req)
            except (CheckFailed, OSError) as e:
                out[i] = e
        ts = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
        for t in ts:
            t.start()
        try:
            meanwhile()
        finally:
            for t in ts:
                t.join(IO_TIMEOUT)
        return out

    def gate(self, stream_req, first, open_req):
        c = Conn(self.port)
        try:
            c.send(stream_req)
            status, headers = c.read_head()
            te = ", ".join(v for n, v in headers if n.lower() == "transfer-encoding").lower()
            if "chunked" not in te:
                # Not a stream on the wire: read it whole and let the expectations say so.
                return None, None, c.read_response(stream_req["method"], (status, headers))
            chunks = c.read_chunks()
            got = b""
            for data in chunks:
                got += data
                if len(got) >= len(first):
                    break
            opened = self.request(open_req)
            got += b"".join(chunks)
            return got, opened, Response(status, headers, got, "stream", None)
        finally:
            c.close()

    def raw(self, data):
        c = Conn(self.port)
        try:
            c.sock.settimeout(20)
            c.send_raw(data)
            status, _ = c.read_head()
            return status
        finally:
            c.close()


# ---------------------------------------------------------------- test host transport


class TestHostTransport:
    """Drives build/tests/conformance_testhost over its stdin/stdout."""
    wire = False

    def __init__(self, driver, app, log):
        self.p = subprocess.Popen([driver, app], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=log)
        self.ids = 0

    def _send(self, msg, body=b""):
        msg = dict(msg, body_len=len(body))
        self.p.stdin.write(json.dumps(msg).encode() + b"\n" + body)
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise CheckFailed(f"the test host driver exited ({self.p.wait()})")
        r = json.loads(line)
        body = self.p.stdout.read(r["body_len"]) if r["body_len"] else b""
        if "error" in r:
            raise CheckFailed(f"test host: {r['error']}")
        framing = "stream" if r["content_length"] < 0 else "length"
        cl = r["content_length"] if r["content_length"] >= 0 else None
        res = Response(r["status"], [tuple(h) for h in r["headers"]], body, framing, cl)
        res.complete = r["complete"]
        return res

    @staticmethod
    def _wire_text(v):
        # The socket transports send header text as latin-1 bytes; JSON carries text, which the
        # driver receives as UTF-8: hand it the text whose UTF-8 is those same bytes.
        try:
            return v.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return v

    def _msg(self, op, req, **kw):
        return dict(op=op, method=req["method"], target=req["target"],
                    headers=[[k, self._wire_text(v)] for k, v in req["headers"]], **kw), req["body"]

    def request(self, req):
        return self._send(*self._msg("request", req))

    def concurrent(self, req, count, meanwhile):
        ids = list(range(count))
        for i in ids:
            self._send(*self._msg("begin", req, id=i))
        out = []
        try:
            meanwhile()
        finally:
            for i in ids:
                try:
                    out.append(self._send({"op": "wait", "id": i}))
                except CheckFailed as e:
                    out.append(e)
        return out

    def gate(self, stream_req, first, open_req):
        res = self._send(*self._msg("begin", stream_req, id=0))
        while len(res.body) < len(first) and not res.complete:
            res = self._send({"op": "wait_wake", "id": 0})
        got = res.body
        opened = self.request(open_req)
        final = self._send({"op": "wait", "id": 0})
        return got, opened, final

    def close(self):
        self.p.stdin.close()
        try:
            return self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return "did not exit within 30 s of stdin closing"


# ---------------------------------------------------------------- running a check


def run_check(ctx, t, chk, statuses):
    """Returns None (pass) or raises CheckFailed / returns ('SKIP', why)."""
    if chk.get("wire") and not t.wire:
        return ("SKIP", chk["wire"])

    def judged(req, exp):
        res = t.request(req)
        statuses.append(res.status)
        evaluate(ctx, res, exp, req)
        return res

    if "request" in chk:
        judged(ctx.request(chk["request"]), chk["expect"])
    elif "steps" in chk:
        reqs = [ctx.request(s["request"]) for s in chk["steps"]]
        if chk.get("same_connection"):
            def step_check(i, res):
                statuses.append(res.status)
                try:
                    evaluate(ctx, res, chk["steps"][i]["expect"], reqs[i])
                except CheckFailed as e:
                    raise CheckFailed(f"step {i + 1} ({reqs[i]['method']} {reqs[i]['target']}): {e}")
            t.same_connection(reqs, step_check)
        else:
            for i, (req, s) in enumerate(zip(reqs, chk["steps"])):
                try:
                    judged(req, s["expect"])
                except CheckFailed as e:
                    raise CheckFailed(f"step {i + 1} ({req['method']} {req['target']}): {e}")
    elif "concurrent" in chk:
        cc = chk["concurrent"]
        req = ctx.request(cc["request"])

        def meanwhile():
            for i, s in enumerate(cc.get("meanwhile", [])):
                mreq = ctx.request(s["request"])
                if "until" in s:
                    last = None
                    for _ in range(s.get("tries", 100)):
                        last = t.request(mreq)
                        try:
                            evaluate(ctx, last, s["until"], mreq)
                            break
                        except CheckFailed as e:
                            last = e
                            time.sleep(0.01)
                    else:
                        raise CheckFailed(f"meanwhile {i + 1}: never reached: {last}")
                    continue
                try:
                    judged(mreq, s["expect"])
                except CheckFailed as e:
                    raise CheckFailed(f"meanwhile {i + 1} ({mreq['target']}): {e}")
        results = t.concurrent(req, cc["count"], meanwhile)
        for i, r in enumerate(results):
            if isinstance(r, Exception):
                raise CheckFailed(f"concurrent request {i + 1}: {r}")
            statuses.append(r.status)
            try:
                evaluate(ctx, r, cc["expect"], req)
            except CheckFailed as e:
                raise CheckFailed(f"concurrent request {i + 1}: {e}")
    elif "gate" in chk:
        g = chk["gate"]
        first = ctx.text(g["first"]).encode()
        got, opened, final = t.gate(ctx.request(g["stream"]), first, ctx.request(g["open"]))
        if got is not None and not got.startswith(first):
            raise CheckFailed(f"before the gate opened the client had {short(got)}, expected "
                              f"{first!r} (the stream was not flushed)")
        if opened is not None:
            statuses.append(opened.status)
            evaluate(ctx, opened, g["open_expect"])
        statuses.append(final.status)
        evaluate(ctx, final, g["expect"])
    elif "raw" in chk:
        parts = [ctx.value(p) for p in chk["raw"]["send"]]
        data = b"".join(p.encode("latin-1") if isinstance(p, str) else p for p in parts)
        try:
            st = t.raw(data)
        except (CheckFailed, OSError) as e:
            raise CheckFailed(f"no status for the raw request: {e}")
        statuses.append(st if not chk.get("status_may_differ") else f"{str(st)[0]}xx")
        if not status_ok(st, chk["raw"]["status"]):
            raise CheckFailed(f"status {st}, expected {chk['raw']['status']}")
    if "then" in chk:
        try:
            judged(ctx.request(chk["then"]["request"]), chk["then"]["expect"])
        except (CheckFailed, OSError) as e:
            raise CheckFailed(f"the next request: {e}")
    return None


def run_host(host, t, checks, token, verbose):
    ctx = Ctx(host, token)
    results = {}
    for chk in checks:
        statuses = []
        try:
            r = run_check(ctx, t, chk, statuses)
            results[chk["id"]] = (r[0], r[1], statuses) if r else ("PASS", "", statuses)
        except (CheckFailed, OSError, ValueError) as e:
            results[chk["id"]] = ("FAIL", str(e), statuses)
        if verbose:
            st, why, _ = results[chk["id"]]
            print(f"  {host:7} {chk['id']:28} {st} {why}", flush=True)
    return results


# ---------------------------------------------------------------- servers


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def known_hosts(forge):
    out = subprocess.run([forge, "run", "--help"], capture_output=True, text=True).stdout
    m = re.search(r"--host NAME.*?:([^\n]*)", out)
    return m.group(1).split() if m else []


class Server:
    """A server in its own session, stopped with SIGTERM (graceful): `forge run
    --host H`, or for Kore while forge cannot run it yet, kore with a config of
    our own (kore_command)."""

    def __init__(self, build, host, logdir):
        self.forge = os.path.join(build, "bin", "forge")
        self.host, self.port = host, PORTS[host]
        self.log_path = os.path.join(logdir, f"{host}.log")
        self.log = open(self.log_path, "wb")
        self.p = None
        self.tmp = None

    def tail(self, n=6):
        with open(self.log_path, "rb") as f:
            lines = f.read().decode(errors="replace").strip().splitlines()
        return " | ".join(lines[-n:])

    def forge_command(self, app):
        return [self.forge, "run", "--host", self.host, "--app", app,
                "--listen", f"127.0.0.1:{self.port}"], None

    def kore_command(self, app, build):
        """Kore as tests/integration/kore_test.sh runs it, with forge run's defaults."""
        kore = shutil.which("kore")
        module = os.path.join(build, "lib", "forge_kore.so")
        if not kore or not os.path.exists(module):
            return None, f"kore binary or {module} missing"
        self.tmp = tempfile.mkdtemp(prefix="forge-conformance-kore-")
        with open(os.path.join(self.tmp, "kore.conf"), "w") as f:
            f.write(f"""# Written by tests/conformance/run.py
server notls {{
\tbind 127.0.0.1 {self.port}
\ttls no
}}
load {module}
workers 1
worker_death_policy terminate
http_hsts_enable 0
http_body_max 67108864
pidfile {self.tmp}/kore.pid
domain * {{
\tattach notls
\troute ^/ forge_kore_page
}}
""")
        with open(os.path.join(self.tmp, "forge.conf"), "w") as f:
            f.write(f"app {app}\n")
        return [kore, "-f", "-n", "-r", "-c", os.path.join(self.tmp, "kore.conf")], None

    def start(self, cmd):
        if port_open(self.port):
            return ("FAIL", f"port {self.port} is already in use")
        env = dict(os.environ, TMPDIR=self.tmp) if self.tmp else None
        self.p = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.tmp,
                                  env=env, start_new_session=True)
        for _ in range(600):
            if port_open(self.port):
                return None
            if self.p.poll() is not None:
                why = f"{' '.join(cmd[:4])} exited ({self.p.returncode}): {self.tail()}"
                # A binding that is not built is a skip; anything else a failure.
                if re.search(r"not found|no .* binary|unknown host", why):
                    return ("SKIP", why)
                return ("FAIL", why)
            time.sleep(0.05)
        return ("FAIL", f"port {self.port} not open after 30 s: {self.tail()}")

    def stop(self):
        """None when the server stopped cleanly, else why not."""
        try:
            return self._stop()
        finally:
            self.log.close()
            if self.tmp:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def _stop(self):
        if not self.p or self.p.poll() is not None:
            return f"the server had exited ({self.p.returncode if self.p else '-'})"
        self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()
            return "the server did not stop within 30 s of SIGTERM (killed)"
        for _ in range(100):
            if not port_open(self.port):
                break
            time.sleep(0.05)
        else:
            return f"port {self.port} still open after the server exited"
        return None if rc == 0 else f"the server exited with {rc}: {self.tail()}"


# ---------------------------------------------------------------- report


def apply_known(results, known):
    """A known host limitation that fails becomes KNOWN; one that passes, a failure."""
    for (h, cid), why in known.items():
        st = results.get(h, {}).get(cid)
        if not st:
            continue
        if st[0] == "FAIL":
            results[h][cid] = ("KNOWN", f"{why} [saw: {st[1]}]", st[2])
        elif st[0] == "PASS":
            results[h][cid] = ("FAIL", "listed in known.json as a host limitation but it passes: "
                               "remove the entry", st[2])


def print_table(hosts, checks, results, skipped):
    ids = [c["id"] for c in checks] + ["server.stop"]
    w = max(len(i) for i in ids) + 2
    print("\n" + "check".ljust(w) + "".join(h.ljust(8) for h in hosts) + "  same")
    print("-" * (w + 8 * len(hosts) + 6))
    diffs = []
    for cid in ids:
        cells, seen = [], {}
        for h in hosts:
            st, _, statuses = results[h].get(cid, ("SKIP", "", []))
            cells.append(st)
            if st not in ("SKIP", "KNOWN"):
                seen[h] = (st, tuple(statuses))
        same = len({v for v in seen.values()}) <= 1
        if not same:
            diffs.append((cid, seen))
        print(cid.ljust(w) + "".join(c.ljust(8) for c in cells) + ("  yes" if same else "  DIFF"))
    for h in hosts:
        if h in skipped:
            print(f"\n!!! {h}: SKIPPED ENTIRELY: {skipped[h]}")
    fails = [(h, cid, results[h][cid][1]) for h in hosts for cid in results[h]
             if results[h][cid][0] == "FAIL"]
    if fails:
        print("\nfailures:")
        for h, cid, why in fails:
            print(f"  {h} {cid}: {why}")
    if diffs:
        print("\ndifferences between hosts (result, statuses seen):")
        for cid, seen in diffs:
            print(f"  {cid}: " + "; ".join(f"{h} {st} {list(s)}" for h, (st, s) in seen.items()))
    knowns = [(h, cid, results[h][cid][1]) for h in hosts for cid in results[h]
              if results[h][cid][0] == "KNOWN"]
    if knowns:
        print("\nKNOWN host limitations (tests/conformance/known.json; CONFORMANCE_STRICT=1 fails on them):")
        for h, cid, why in knowns:
            print(f"  {h} {cid}: {why}")
    skips = [(h, cid, results[h][cid][1]) for h in hosts if h not in skipped
             for cid in results[h] if results[h][cid][0] == "SKIP"]
    if skips:
        print("\nskipped checks:")
        for h, cid, why in skips:
            print(f"  {h} {cid}: {why}")
    return fails, diffs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--hosts", default="test,nginx,apache,kore")
    ap.add_argument("--only", default="", help="run checks whose id contains this")
    ap.add_argument("--app", default=None, help="default: BUILD/lib/conformance.so")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    app = os.path.abspath(a.app or os.path.join(build, "lib", "conformance.so"))
    with open(os.path.join(HERE, "checks.json")) as f:
        checks = [c for c in json.load(f)["checks"] if a.only in c["id"]]
    with open(os.path.join(HERE, "known.json")) as f:
        known = {(k["host"], k["check"]): k["why"] for k in json.load(f)["known"]}
    strict = os.environ.get("CONFORMANCE_STRICT") == "1"
    hosts = [h for h in a.hosts.split(",") if h]
    logdir = os.environ.get("CONFORMANCE_LOGDIR") or os.path.join(build, "conformance-logs")
    os.makedirs(logdir, exist_ok=True)
    if not os.path.exists(app):
        print(f"conformance: {app} is missing (build the 'conformance' target)", file=sys.stderr)
        return 1

    results, skipped = {}, {}
    forge_hosts = known_hosts(os.path.join(build, "bin", "forge"))
    for h in hosts:
        token = secrets.token_hex(4)
        print(f"== {h}", flush=True)
        if h == "test":
            driver = os.path.join(build, "tests", "conformance_testhost")
            log = open(os.path.join(logdir, "test.log"), "wb")
            t = TestHostTransport(driver, app, log)
            results[h] = run_host(h, t, checks, token, a.verbose)
            rc = t.close()
            results[h]["server.stop"] = ("PASS", "", []) if rc == 0 else \
                ("FAIL", f"the test host driver exited with {rc}", [])
            continue
        if h not in PORTS:
            print(f"conformance: unknown host {h}", file=sys.stderr)
            return 2
        srv = Server(build, h, logdir)
        if h in forge_hosts:
            cmd, why = srv.forge_command(app)
        elif h == "kore":
            cmd, why = srv.kore_command(app, build)
            print(f"   (forge run --host kore is not available: Kore runs with its own config)")
        else:
            cmd, why = None, f"`forge run --host {h}` is not available (forge knows: " \
                             f"{' '.join(forge_hosts) or 'none'}): the {h} binding is not built"
        bad = ("SKIP", why) if not cmd else srv.start(cmd)
        if bad:
            if bad[0] == "SKIP":
                skipped[h] = bad[1]
            results[h] = {c["id"]: (bad[0], bad[1], []) for c in checks}
            if cmd:
                srv.stop()
            continue
        try:
            results[h] = run_host(h, HttpTransport(srv.port), checks, token, a.verbose)
        finally:
            why = srv.stop()
        results[h]["server.stop"] = ("PASS", "", []) if not why else ("FAIL", why, [])

    if not strict:
        apply_known(results, known)
    fails, diffs = print_table(hosts, checks, results, skipped)
    ran = [h for h in hosts if h not in skipped]
    print(f"\nconformance: {len(checks)} checks x {len(hosts)} hosts; ran on {', '.join(ran) or 'none'}"
          f"; {len(fails)} failures, {len(diffs)} differences, {len(skipped)} hosts skipped"
          f" (logs in {logdir})")
    if skipped and os.environ.get("CONFORMANCE_REQUIRE_ALL") == "1":
        print("conformance: CONFORMANCE_REQUIRE_ALL=1 and a host was skipped: failing")
        return 1
    return 1 if fails or diffs else 0


if __name__ == "__main__":
    sys.exit(main())
