#!/usr/bin/env python3
"""Compares the nginx migration example's before and after, served by one nginx.

usage: migration_compare.py BEFORE_PORT AFTER_PORT DURING_PORT

BEFORE serves /api/ with the native module (hello_native), AFTER with Forge
(hello_after.so), DURING both: /api/users/ moved to Forge, the rest native.
Successful answers must be identical (status, Content-Type, body, length);
errors must have the same status (their bodies differ by design: nginx's HTML
page before, problem+json after). Exits 1 on any difference.
"""
import sys

from run import Conn, CheckFailed, pattern

SAME = "same"          # status, Content-Type and body identical
STATUS = "status"      # same status; the bodies differ by design

CASES = [
    ("GET", "/api/hello", [], b"", False, SAME),
    ("HEAD", "/api/hello", [], b"", False, SAME),
    ("GET", "/api/users/42", [], b"", False, SAME),
    ("GET", "/api/users/ada%20lovelace", [], b"", False, SAME),
    ("GET", "/api/users/%C3%A9t%C3%A9", [], b"", False, SAME),
    ("GET", "/api/users/quote%22back%5Cslash", [], b"", False, SAME),
    ("POST", "/api/echo", [("Content-Type", "text/x-note")], b"a note", False, SAME),
    ("POST", "/api/echo", [], b"", False, SAME),
    ("POST", "/api/echo", [("Content-Type", "application/octet-stream")], pattern(600 * 1024),
     False, SAME),
    ("POST", "/api/echo", [("Content-Type", "text/plain")], pattern(100 * 1024), True, SAME),
    ("GET", "/api/nope", [], b"", False, STATUS),
    ("GET", "/api/users/", [], b"", False, STATUS),
    ("DELETE", "/api/hello", [], b"", False, STATUS),
    ("GET", "/api/echo", [], b"", False, STATUS),
    ("POST", "/api/echo", [], pattern(2 * 1024 * 1024), False, STATUS),
]


def ask(port, method, target, headers, body, chunked):
    c = Conn(port)
    try:
        c.send({"method": method, "target": target, "headers": headers, "body": body,
                "chunked": chunked})
        return c.read_response(method)
    finally:
        c.close()


def signature(res, how):
    ct = ", ".join(res.values("Content-Type"))
    if how == STATUS:
        return (res.status,)
    return (res.status, ct, res.content_length, res.body)


def show(sig):
    return tuple(s if not isinstance(s, bytes) or len(s) < 60 else f"<{len(s)} bytes>" for s in sig)


def main():
    before, after, during = (int(p) for p in sys.argv[1:4])
    bad = 0
    for method, target, headers, body, chunked, how in CASES:
        name = f"{method} {target}" + (" (chunked)" if chunked else "") + \
            (f" [{len(body)} bytes]" if body else "")
        try:
            a = ask(before, method, target, headers, body, chunked)
            b = ask(after, method, target, headers, body, chunked)
        except (CheckFailed, OSError) as e:
            print(f"FAIL {name}: {e}")
            bad += 1
            continue
        sa, sb = signature(a, how), signature(b, how)
        ok = sa == sb
        bad += not ok
        print(f"{'same' if ok else 'DIFF'} {name}: before {show(sa)}" +
              ("" if ok else f", after {show(sb)}"))

    # During the move: /api/users/ is Forge's (it carries X-Request-ID), the rest native.
    for target, forge_answers in (("/api/users/7", True), ("/api/hello", False)):
        res = ask(during, "GET", target, [], b"", False)
        ref = ask(before, "GET", target, [], b"", False)
        by_forge = bool(res.values("X-Request-ID"))
        ok = by_forge == forge_answers and signature(res, SAME) == signature(ref, SAME)
        bad += not ok
        who = "Forge" if by_forge else "the native module"
        print(f"{'same' if ok else 'DIFF'} during the move, GET {target}: answered by {who}")
    print(f"migration: {len(CASES) + 2 - bad} same, {bad} different")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
