#!/usr/bin/env python3
"""HTTP/1.1 client checks for tests/integration/nginx_test.sh.

Raw sockets (asyncio), so the test controls exactly what goes on the wire:
keep-alive, pipelining, malformed requests, aborted requests, and load while
nginx reloads. Each subcommand prints one line and exits non-zero on failure.

  nginx_client.py keepalive PORT CONNS REQS
  nginx_client.py pipeline PORT
  nginx_client.py blocking PORT
  nginx_client.py malformed PORT
  nginx_client.py abort PORT
  nginx_client.py head PORT
  nginx_client.py load PORT SECONDS CONNS     (prints counts; runs until SECONDS)
"""
import asyncio
import sys

HOST = "127.0.0.1"


class Closed(Exception):
    """The server closed the connection before any byte of a response."""


async def read_response(reader, head=False):
    """Read one response; returns (status, headers dict, body bytes).
    head: the response to a HEAD request, which has no body whatever it says."""
    line = await reader.readline()
    if not line:
        raise Closed()
    parts = line.decode("latin-1").split(" ", 2)
    status = int(parts[1])
    headers = {}
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    body = b""
    if head:
        pass
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                await reader.readline()
                break
            body += await reader.readexactly(size)
            await reader.readline()
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("connection", "").lower() == "close":
        body = await reader.read()
    return status, headers, body


def get(path, extra=""):
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode()


async def fetch(port, path):
    r, w = await asyncio.open_connection(HOST, port)
    w.write(get(path, "Connection: close\r\n"))
    await w.drain()
    res = await read_response(r)
    w.close()
    return res


async def keepalive(port, conns, reqs):
    async def one():
        r, w = await asyncio.open_connection(HOST, port)
        ok = 0
        for _ in range(reqs):
            w.write(get("/hello"))
            await w.drain()
            st, _, body = await read_response(r)
            ok += st == 200 and body == b"hello\n"
        w.close()
        return ok

    # open every connection first, so all of them are open at once
    results = await asyncio.gather(*(one() for _ in range(conns)), return_exceptions=True)
    good = sum(x for x in results if isinstance(x, int))
    errors = [x for x in results if not isinstance(x, int)]
    print(f"keepalive: {conns} connections x {reqs} requests: {good} ok, {len(errors)} errors")
    return good == conns * reqs


async def pipeline(port):
    r, w = await asyncio.open_connection(HOST, port)
    w.write(get("/hello") + get("/users/7") + get("/slow?ms=20") + get("/hello"))
    await w.drain()
    got = [await read_response(r) for _ in range(4)]
    w.close()
    want = [(200, b"hello\n"), (200, b'{"id":"7"}'), (200, b"slow\n"), (200, b"hello\n")]
    ok = [(s, b) for s, _, b in got] == want
    print(f"pipeline: {[(s, b) for s, _, b in got]}")
    return ok


async def blocking(port):
    """/hello keeps answering while blocking routes occupy Forge's pool."""
    slow = [asyncio.create_task(fetch(port, "/slow?ms=600")) for _ in range(12)]
    await asyncio.sleep(0.1)
    fast_ok = 0
    for _ in range(20):
        st, _, body = await fetch(port, "/hello")
        fast_ok += st == 200 and body == b"hello\n"
    pending_after_fast = sum(not t.done() for t in slow)
    done = await asyncio.gather(*slow)
    slow_ok = sum(st == 200 and body == b"slow\n" for st, _, body in done)
    print(f"blocking: /hello {fast_ok}/20 ok while {pending_after_fast} of 12 /slow were "
          f"still running; /slow {slow_ok}/12 ok")
    return fast_ok == 20 and slow_ok == 12 and pending_after_fast > 0


async def head(port):
    """HEAD answers carry the GET's headers and no body: the next response on
    the same connection starts right after them."""
    r, w = await asyncio.open_connection(HOST, port)
    w.write(b"HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n" + b"HEAD /stream HTTP/1.1\r\nHost: t\r\n\r\n"
            + get("/users/5"))
    await w.drain()
    s1, h1, _ = await read_response(r, head=True)
    s2, h2, _ = await read_response(r, head=True)
    s3, _, b3 = await read_response(r)
    w.close()
    print(f"head: /hello {s1} length {h1.get('content-length')}; /stream {s2}; then GET {s3} {b3}")
    return (s1, h1.get("content-length"), s2, s3, b3) == (200, "6", 200, 200, b'{"id":"5"}')


# (name, raw request, the statuses that are right)
MALFORMED = [
    ("bad percent-encoding in path", b"GET /users/%zz HTTP/1.1\r\nHost: t\r\n\r\n", {400}),
    ("bad percent-encoding in query", b"GET /hello?a=%G1 HTTP/1.1\r\nHost: t\r\n\r\n", {400}),
    ("encoded NUL in path", b"GET /users/a%00b HTTP/1.1\r\nHost: t\r\n\r\n", {400}),
    ("invalid method", b"G@T /hello HTTP/1.1\r\nHost: t\r\n\r\n", {400}),
    ("lowercase method", b"get /hello HTTP/1.1\r\nHost: t\r\n\r\n", {400}),
    ("unknown method", b"BREW /hello HTTP/1.1\r\nHost: t\r\n\r\n", {405, 501}),
    ("oversized header", b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
     {400, 431}),
    ("NUL in header", b"GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n", {400}),
    ("bad version", b"GET /hello HTTP/9.9\r\nHost: t\r\n\r\n", {400, 505}),
    ("no host on HTTP/1.1", b"GET /hello HTTP/1.1\r\n\r\n", {400}),
    ("bad content-length", b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n", {400}),
    ("two content-lengths", b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n"
                            b"Content-Length: 2\r\n\r\nab", {400}),
    ("bad chunk size", b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"zz\r\nabc\r\n0\r\n\r\n", {400}),
    ("body over the limit", b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n",
     {413}),
    ("target without slash", b"GET hello HTTP/1.1\r\nHost: t\r\n\r\n", {400}),
]


async def malformed(port):
    ok = True
    for name, raw, want in MALFORMED:
        r, w = await asyncio.open_connection(HOST, port)
        w.write(raw)
        await w.drain()
        try:
            st, _, _ = await asyncio.wait_for(read_response(r), 5)
        except (Closed, asyncio.IncompleteReadError, ConnectionError):
            st = 0
        w.close()
        good = st in want
        ok &= good
        print(f"malformed: {name}: {st} {'ok' if good else f'FAIL (want {sorted(want)})'}")
    # the worker still serves
    st, _, body = await fetch(port, "/hello")
    ok &= st == 200 and body == b"hello\n"
    return ok


async def abort(port):
    """Clients that leave mid-request: the server keeps serving."""
    for path in ("/slow?ms=300", "/stream", "/async", "/slow?ms=0"):
        for _ in range(5):
            r, w = await asyncio.open_connection(HOST, port)
            w.write(get(path))
            await w.drain()
            if path == "/stream":
                await r.readline()  # the status line: the stream has begun
            w.close()
    await asyncio.sleep(0.5)
    st, _, body = await fetch(port, "/hello")
    st2, _, body2 = await fetch(port, "/slow?ms=10")
    ok = (st, body, st2, body2) == (200, b"hello\n", 200, b"slow\n")
    print(f"abort: 20 requests abandoned mid-way; then /hello {st}, /slow {st2}")
    return ok


async def load(port, seconds, conns):
    """Load from two kinds of clients. Half keep connections alive: a request
    on a reused connection that the server closed before answering is retried
    once on a new connection, as HTTP clients do (RFC 9112 9.3.1: a server may
    close an idle connection at any time, so that race is not a loss). The
    other half send one request per connection, where no such race exists:
    every error or missing response there is a lost request. Any non-2xx
    status fails too."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    counts = {"ok": 0, "fail": 0, "retried": 0}
    paths = ["/hello", "/users/1", "/slow?ms=30", "/hello"]

    def failed(path, what):
        counts["fail"] += 1
        print(f"load: {path} -> {what}")

    async def keepalive_client(i):
        r = w = None
        n = i
        while loop.time() < end:
            path = paths[n % len(paths)]
            n += 1
            for attempt in range(2):
                reused = w is not None
                try:
                    if w is None:
                        r, w = await asyncio.open_connection(HOST, port)
                    w.write(get(path))
                    await w.drain()
                    st, h, _ = await read_response(r)
                    if 200 <= st < 300:
                        counts["ok"] += 1
                    else:
                        failed(path, st)
                    if h.get("connection", "").lower() == "close":
                        w.close()
                        w = None
                    break
                except (Closed, ConnectionResetError, BrokenPipeError) as e:
                    if w is not None:
                        w.close()
                    w = None
                    if reused and attempt == 0:
                        counts["retried"] += 1
                        continue
                    failed(path, type(e).__name__)
                    break
                except (OSError, asyncio.IncompleteReadError) as e:
                    if w is not None:
                        w.close()
                    w = None
                    failed(path, repr(e))
                    break
        if w is not None:
            w.close()

    async def oneshot_client(i):
        n = i
        while loop.time() < end:
            path = paths[n % len(paths)]
            n += 1
            try:
                st, _, _ = await fetch(port, path)
                if 200 <= st < 300:
                    counts["ok"] += 1
                else:
                    failed(path, st)
            except (Closed, OSError, asyncio.IncompleteReadError) as e:
                failed(path, repr(e))

    half = max(1, conns // 2)
    await asyncio.gather(*(keepalive_client(i) for i in range(half)),
                         *(oneshot_client(i) for i in range(conns - half)))
    print(f"load: {counts['ok']} ok, {counts['fail']} failed, "
          f"{counts['retried']} retried on idle keep-alive connections the server closed")
    return counts["fail"] == 0 and counts["ok"] > 0


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    args = [int(a) for a in sys.argv[3:]]
    fn = {"keepalive": keepalive, "pipeline": pipeline, "blocking": blocking,
          "malformed": malformed, "abort": abort, "head": head, "load": load}[cmd]
    ok = asyncio.run(fn(port, *args))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
