#!/usr/bin/env python3
"""test_lsp_e2e.py — `sparkd lsp` end to end, over pipes, as an editor runs it.

Covers the command line (--help, --version, usage errors), the handshake
(reply checked field by field, frame header byte by byte), document sync with
UTF-16 positions (surrogate pairs, CRLF, lone CR, chunk boundaries), position
encoding negotiation, sparkd/stats, shutdown/exit and every way a client can
leave (exit with and without shutdown, EOF, dead stdout), message splitting
(many messages per write, one byte per write), $/logTrace, a slow reader.

The server's copy of a document is not readable over LSP, so it is checked
through its line structure: a no-op edit at (line, n) is clamped (and logged
as such, naming contentChanges[i]) exactly when n is past the end of the line,
so one didChange of probes pins the length of every line in code units and the
number of lines. tests/e2e/lspclient.py keeps a model of what the text must be.

Run: SPARKD_BIN=build-e2e/sparkd python3 tests/e2e/test_lsp_e2e.py
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lspclient import (Checks, DocModel, Server, Timeout, clamped_indexes, edit,  # noqa: E402
                       expect, frame, notification, probe_changes, request, run_cli,
                       sanitizer_report)

C = Checks("test_lsp_e2e")
VERSION = None


def warnings(log):
    """Warning lines of a log, without the marker lines sync_stderr() causes."""
    return [ln for ln in log.splitlines() if " warn " in ln and "e2e/marker/" not in ln]


def clean_log(srv):
    """The server's stderr must hold no sanitizer report."""
    rep = sanitizer_report(srv.stderr_text())
    expect(rep is None, f"sanitizer report on stderr: {rep}")


# ---------------------------------------------------------------- command line

def cli_cases():
    global VERSION
    rc, out, err = run_cli("--version")
    m = re.fullmatch(r"sparkd (\d+\.\d+\.\d+\S*)\n", out)
    C.ok("cli --version: exit 0, prints 'sparkd X.Y.Z'", rc == 0 and m is not None and err == "",
         f"rc={rc} out={out!r} err={err!r}")
    VERSION = m.group(1) if m else None

    for args in (["--help"], ["-h"], ["help"]):
        rc, out, err = run_cli(*args)
        C.ok(f"cli {' '.join(args)}: exit 0, usage on stdout",
             rc == 0 and out.startswith("usage: sparkd") and "lsp" in out and err == "",
             f"rc={rc} out={out[:80]!r} err={err[:200]!r}")
    for args in (["lsp", "--help"], ["lsp", "-h"]):
        rc, out, err = run_cli(*args)
        C.ok(f"cli {' '.join(args)}: exit 0, lsp usage on stdout",
             rc == 0 and out.startswith("usage: sparkd lsp") and "--log-level" in out
             and "--max-message" in out and err == "",
             f"rc={rc} out={out[:80]!r} err={err[:200]!r}")

    # Usage errors: exit 2, nothing on stdout (an editor reads it as LSP), and
    # a message on stderr naming the problem.
    usage_errors = [
        ([], [r"usage: sparkd"]),
        (["frobnicate"], [r"unknown command 'frobnicate'"]),
        (["--frobnicate"], [r"unknown command '--frobnicate'"]),
        (["lsp", "--bogus-flag", "1"], [r"unknown", r"bogus"]),
        (["lsp", "--bogus-flag"], [r"unknown", r"bogus"]),
        (["lsp", "-x"], [r"unknown option '-x'"]),
        (["lsp", "stray"], [r"unexpected argument 'stray'"]),
        (["lsp", "--log-level", "loud"], [r"log.level", r"error, warn, info, debug, trace"]),
        (["lsp", "--log-level=loud"], [r"log.level"]),
        (["lsp", "--log-level"], [r"'--log-level' needs a value"]),
        (["lsp", "--max-message", "abc"], [r"max_message must be a number, not 'abc'"]),
        (["lsp", "--max-message", "10"], [r"max_message must be between"]),
        (["lsp", "--max-message", "4096.5"], [r"max_message must be an integer"]),
        (["lsp", "--threads", "-1"], [r"threads must be between"]),
        (["lsp", "--no-cache=maybe"], [r"no.cache"]),
        (["lsp", "--="], [r"bad option '--='"]),
    ]
    for args, pats in usage_errors:
        rc, out, err = run_cli(*args)
        missing = [p for p in pats if not re.search(p, err)]
        C.ok(f"cli {' '.join(args) or '(no args)'}: exit 2, stdout empty, stderr names the problem",
             rc == 2 and out == "" and not missing,
             f"rc={rc} out={out[:80]!r} missing {missing} in stderr {err[:300]!r}")

    rc, out, err = run_cli("lsp", "--log-file", "/nonexistent-dir/sparkd.log")
    C.ok("cli lsp --log-file in a missing directory: exit 1 with a message",
         rc == 1 and out == "" and "/nonexistent-dir/sparkd.log" in err,
         f"rc={rc} out={out!r} err={err[:300]!r}")


# ---------------------------------------------------------------- handshake

INIT_PARAMS = {"processId": None, "rootUri": None, "capabilities": {},
               "clientInfo": {"name": "sparkd-e2e", "version": "1"}}


def handshake():
    with Server() as s:
        s.send(request(1, "initialize", INIT_PARAMS))
        m = s.read_message()
        want = b"Content-Length: %d\r\n\r\n" % len(m.body)
        diff = next((i for i in range(max(len(want), len(m.header)))
                     if i >= len(want) or i >= len(m.header) or want[i] != m.header[i]), None)
        C.ok("handshake: frame header is exactly 'Content-Length: N\\r\\n\\r\\n' (byte by byte)",
             diff is None, f"first difference at byte {diff}: {m.header!r} vs {want!r}")
        C.ok("handshake: Content-Length equals the UTF-8 body length",
             int(m.header[16:-4]) == len(m.body))
        r = m.json
        C.eq("handshake: reply keys", sorted(r), ["id", "jsonrpc", "result"])
        C.eq("handshake: jsonrpc", r.get("jsonrpc"), "2.0")
        C.ok("handshake: id echoed as the integer 1", r.get("id") == 1 and type(r.get("id")) is int,
             repr(r.get("id")))
        res = r.get("result") or {}
        C.eq("handshake: result keys", sorted(res), ["capabilities", "serverInfo"])
        caps = res.get("capabilities") or {}
        C.eq("handshake: capabilities.positionEncoding", caps.get("positionEncoding"), "utf-16")
        C.eq("handshake: capabilities.textDocumentSync",
             caps.get("textDocumentSync"),
             {"openClose": True, "change": 2, "save": {"includeText": False}})
        C.eq("handshake: capabilities.experimental.sparkdStats",
             (caps.get("experimental") or {}).get("sparkdStats"), {"supported": True})
        C.eq("handshake: serverInfo.name", (res.get("serverInfo") or {}).get("name"), "sparkd")
        C.eq("handshake: serverInfo.version equals --version",
             (res.get("serverInfo") or {}).get("version"), VERSION)

        s.notify("initialized", {})
        st = s.stats()   # the next message must be this reply: initialized has none
        C.eq("handshake: stats after initialize+initialized",
             {k: st.get(k) for k in ("requests", "notifications", "errors", "bad_frames",
                                     "cancel_requests", "documents", "position_encoding")},
             {"requests": 1, "notifications": 1, "errors": 0, "bad_frames": 0,
              "cancel_requests": 0, "documents": 0, "position_encoding": "utf-16"})
        lat = st.get("latency") or {}
        C.ok("handshake: stats latency counts the initialize request",
             lat.get("count") == 1 and sum(b["count"] for b in lat.get("histogram", [])) == 1,
             repr(lat))
        C.ok("handshake: stats has uptime_ms and config", isinstance(st.get("uptime_ms"), int)
             and (st.get("config") or {}).get("max_message") == 64 << 20, repr(st)[:300])

        sid = s.request("shutdown")
        m = s.read_message()
        C.ok("shutdown: reply is exactly {jsonrpc, id, result: null}",
             m.json == {"jsonrpc": "2.0", "id": sid, "result": None}, repr(m.json))
        C.ok("shutdown: reply frame header exact",
             m.header == b"Content-Length: %d\r\n\r\n" % len(m.body), repr(m.header))
        s.notify("exit")
        rc = s.wait_exit()
        C.eq("exit after shutdown: exit status 0", rc, 0)
        C.run("handshake: no sanitizer report", clean_log, s)


def handshake_string_id():
    with Server() as s:
        s.send(request("init-é", "initialize", INIT_PARAMS))
        r = s.read_json()
        C.ok("handshake: string id echoed unchanged", r.get("id") == "init-é" and "result" in r,
             repr(r)[:200])


def negotiation():
    cases = [
        (None, "utf-16"),
        (["utf-16"], "utf-16"),
        (["utf-8", "utf-16"], "utf-8"),
        (["utf-32", "utf-16"], "utf-32"),
        (["utf-16", "utf-32", "utf-8"], "utf-8"),
        (["latin-1", 7, None], "utf-16"),
        ("utf-8", "utf-16"),          # not an array: ignored
    ]
    for offered, want in cases:
        with Server() as s:
            caps = {} if offered is None else {"general": {"positionEncodings": offered}}
            if offered is None:
                caps = {"general": 5}     # a mistyped "general" is ignored too
            res = s.initialize({"capabilities": caps})
            got = res["capabilities"]["positionEncoding"]
            st = s.stats()
            C.ok(f"negotiation: offered {offered} -> {want}",
                 got == want and st["position_encoding"] == want, f"got {got}, stats {st['position_encoding']}")
            # The negotiated unit must be what positions are counted in.
            text = "aé😀z\r\nb"
            model = DocModel(text, want)
            uri = "file:///enc.txt"
            s.notify("textDocument/didOpen", {"textDocument": {
                "uri": uri, "languageId": "plaintext", "version": 1, "text": text}})
            check_probe(s, uri, model, 2, f"negotiation {want}: line lengths counted in {want} units")


# ---------------------------------------------------------------- documents

def probe(s, uri, model, version):
    """Probes the server's line structure of uri; returns (got, want) clamped sets."""
    changes, want = probe_changes(model.line_units())
    start = s.stderr_len()
    s.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                        "contentChanges": changes})
    log, _ = s.sync_stderr(start)
    return clamped_indexes(log, uri), want, log


def check_probe(s, uri, model, version, name):
    got, want, log = probe(s, uri, model, version)
    C.ok(name, got == want,
         f"lines {model.line_units()}: clamped probes {sorted(got)[:20]}, want {sorted(want)[:20]}"
         f" (text {model.text[:120]!r})")


def document_sync():
    uri = "file:///tmp/sparkd-e2e/main.c"
    text = ("int main() {\r\n"
            "  // h\u00e9llo \U0001F600 w\u00f6rld \U0001F389\r\n"
            "  return 0;\n"
            "}\r"
            "last \U0001D11E line")
    with Server("--log-level", "debug") as s:
        s.initialize()
        n_notif = 1
        s.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "c", "version": 1, "text": text}})
        n_notif += 1
        log, _ = s.sync_stderr()
        n_notif += 1
        nbytes = len(text.encode())
        C.ok("didOpen: logged with the UTF-8 byte length and version",
             f"opened {uri} (c, {nbytes} bytes, version 1)" in log, log[-400:])
        model = DocModel(text)
        version = 1

        def step(name, changes):
            nonlocal version, n_notif
            version += 1
            start = s.stderr_len()
            s.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                                "contentChanges": changes})
            n_notif += 1
            want_clamped = {i for i, ch in enumerate(changes) if model.apply(ch)}
            log, _ = s.sync_stderr(start)
            n_notif += 1
            got_clamped = clamped_indexes(log, uri)
            others = [w for w in warnings(log) if "range is past the end" not in w]
            C.ok(f"didChange {name}: clamping warnings as expected, no other warning",
                 got_clamped == want_clamped and not others,
                 f"got {got_clamped}, want {want_clamped}; other warnings {others}")
            version += 1
            got, want, _ = probe(s, uri, model, version)
            n_notif += 2
            C.ok(f"didChange {name}: document has the expected lines", got == want,
                 f"lines {model.line_units()}: clamped probes {sorted(got)}, want {sorted(want)};"
                 f" text {model.text!r}")

        version += 1
        got, want, _ = probe(s, uri, model, version)
        n_notif += 2
        C.ok("didOpen: line lengths in UTF-16 units (surrogate pairs = 2), CRLF, lone CR",
             got == want, f"lines {model.line_units()}: clamped {sorted(got)}, want {sorted(want)}")

        # Line 1 is "  // héllo 😀 wörld 🎉": 😀 is UTF-16 units 11-12.
        step("insert after a surrogate pair", [edit(1, 13, 1, 13, "X")])
        step("delete a surrogate pair (2 units)", [edit(1, 11, 1, 13, "")])
        step("insert at a column inside a surrogate pair (moves to its start)",
             [edit(1, 20, 1, 20, "Y")])
        step("delete range that starts inside a surrogate pair", [edit(1, 21, 1, 22, "")])
        step("insert text with a surrogate pair and CRLF",
             [edit(2, 2, 2, 2, "\U0001F680\r\nx\U0001F680")])
        step("multi-line replace joining lines", [edit(0, 10, 2, 3, " { ok")])
        step("delete a CRLF terminator (join two lines)", [edit(0, 1000, 1, 0, "")])
        step("several changes in one notification, each on the previous result",
             [edit(0, 0, 0, 0, "A\r\n"), edit(1, 0, 1, 1, "\U0001F600"), edit(0, 1, 1, 0, "")])
        step("insert between a lone CR and LF text: '\\r' + 'X\\n' -> delete X makes one CRLF",
             [edit(0, 0, 0, 0, "p\rX\nq\r\n")])
        step("delete the X between CR and LF: two line breaks become one CRLF",
             [edit(1, 0, 1, 1, "")])
        step("position past the end of a line (clamped, warned)", [edit(0, 500, 0, 600, "!")])
        step("position past the last line (clamped to the end, warned)",
             [edit(99, 0, 99, 5, "<eof>")])
        step("full-document replacement (no range)", [{"text": "full\r\nnew \U0001F600 text\n"}])
        step("append at the end of the document", [edit(2, 0, 2, 0, "tail")])
        step("empty the document", [edit(0, 0, 2, 4, "")])
        step("refill after empty", [edit(0, 0, 0, 0, "\U0001F600\r\n\r\n\n\r")])

        st = s.stats()
        C.eq("stats after sync: documents, errors, bad frames",
             (st["documents"], st["errors"], st["bad_frames"]), (1, 0, 0))
        C.eq("stats after sync: notifications counted", st["notifications"], n_notif)
        C.eq("stats after sync: requests counted (initialize + 1 stats)", st["requests"], 1)

        s.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
        start = s.stderr_len()
        s.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        log, _ = s.sync_stderr(start)
        C.ok("didSave/didClose: no warning", not warnings(log), log)
        st = s.stats()
        C.eq("didClose: stats documents back to 0", st["documents"], 0)

        # Reopen: a new text replaces nothing left over.
        s.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "c", "version": 7, "text": "one\ntwo"}})
        check_probe(s, uri, DocModel("one\ntwo"), 8, "reopen after close: fresh text")
        s.request("shutdown")
        s.read_json()
        s.notify("exit")
        C.eq("document session: exit status 0", s.wait_exit(), 0)
        C.run("document session: no sanitizer report", clean_log, s)


def big_document():
    """Edits across the document store's 4 KiB chunk boundaries, CRLF at a boundary."""
    uri = "file:///big.txt"
    lines = [f"line {i:04d} \U0001F600 caf\u00e9\r\n" for i in range(700)]
    text = "".join(lines)
    head = "x" * 37   # shifts every chunk boundary (and the CRLFs near them)
    with Server() as s:
        s.initialize()
        s.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "plaintext", "version": 1, "text": text}})
        model = DocModel(text)
        v = 2
        check_probe(s, uri, model, v, f"big document ({len(text.encode())} bytes): all "
                    f"{len(lines) + 1} lines correct after open")
        edits = [
            [edit(100, 5, 400, 3, "J\r\n\U0001F389")],           # spans several chunks
            [edit(0, 0, 0, 0, head)],                              # shift every chunk boundary
            [edit(50, 0, 50, 0, "y" * 9000)],                      # one line longer than a chunk
            [edit(10, 0, 20, 0, "")],                              # delete whole lines
            [edit(300, 0, 300, 0, "\r"), edit(300, 1, 300, 1, "\n")],   # CR then LF -> one break?
            [{"text": text[:5000]}],                               # full replacement
        ]
        for i, ch in enumerate(edits):
            v += 1
            s.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": v},
                                                "contentChanges": ch})
            for c in ch:
                model.apply(c)
            v += 1
            check_probe(s, uri, model, v, f"big document edit {i + 1}: all lines correct")
        st = s.stats()
        C.eq("big document: no errors", (st["errors"], st["bad_frames"], st["documents"]), (0, 0, 1))


# ---------------------------------------------------------------- leaving

def lifecycle():
    with Server() as s:
        s.initialize()
        s.notify("exit")
        C.eq("exit without shutdown: exit status 1", s.wait_exit(), 1)
        C.run("exit without shutdown: no sanitizer report", clean_log, s)

    with Server() as s:
        s.notify("exit")
        C.eq("exit before initialize: exit status 1", s.wait_exit(), 1)

    with Server() as s:
        s.initialize()
        s.stats()
        t0 = time.monotonic()
        s.close_stdin()
        try:
            rc = s.wait_exit()
        except Timeout:
            rc = "hang"
        dt = time.monotonic() - t0
        C.eq(f"EOF on stdin without shutdown: exits with 1 (after {dt * 1000:.0f} ms)", rc, 1)
        C.ok("EOF on stdin: logged", "input closed before shutdown" in s.stderr_text(),
             s.stderr_text()[-300:])

    with Server() as s:
        s.close_stdin()
        C.eq("EOF on stdin before initialize: exits with 1", s.wait_exit(), 1)

    with Server() as s:
        s.initialize()
        s.call("shutdown")
        s.close_stdin()
        C.eq("EOF on stdin after shutdown (no exit): exit status 0", s.wait_exit(), 0)

    with Server() as s:
        s.initialize()
        s.call("shutdown")
        r = s.call("sparkd/stats")
        C.eq("request after shutdown: -32600", (r.get("error") or {}).get("code"), -32600)
        s.notify("textDocument/didOpen", {"textDocument": {
            "uri": "file:///x", "languageId": "c", "version": 1, "text": ""}})
        r = s.call("shutdown")
        C.eq("second shutdown: -32600", (r.get("error") or {}).get("code"), -32600)
        s.notify("exit")
        C.eq("exit after shutdown + rejected requests: exit status 0", s.wait_exit(), 0)

    # Dead client: nobody reads stdout any more. The next reply hits EPIPE and
    # the server must leave, even though stdin is still open.
    with Server() as s:
        s.initialize()
        s.stats()
        s.close_stdout()
        s.request("sparkd/stats")
        try:
            rc = s.wait_exit()
        except Timeout:
            rc = "hang"
        C.eq("dead client (stdout closed, stdin open): server exits with 1", rc, 1)
        C.ok("dead client: logged", "client is gone" in s.stderr_text(), s.stderr_text()[-300:])
        C.run("dead client: no sanitizer report", clean_log, s)

    with Server() as s:   # a lot queued for a reader that went away
        s.initialize()
        s.close_stdout()
        try:
            s.send_raw(b"".join(frame(request(i, "sparkd/stats")) for i in range(2000)))
        except BrokenPipeError:
            pass
        try:
            rc = s.wait_exit()
        except Timeout:
            rc = "hang"
        C.eq("dead client with 2000 replies pending: server exits with 1", rc, 1)

    with Server() as s:   # the editor crashed: both pipes gone at once
        s.initialize()
        s.close_stdout()
        s.close_stdin()
        try:
            rc = s.wait_exit()
        except Timeout:
            rc = "hang"
        C.eq("client killed (stdin and stdout closed): server exits with 1", rc, 1)


# ---------------------------------------------------------------- splitting

def splitting():
    with Server() as s:
        uri = "file:///split.txt"
        blob = b"".join([
            frame(request(1, "initialize", INIT_PARAMS)),
            frame(notification("initialized", {})),
            frame(notification("textDocument/didOpen", {"textDocument": {
                "uri": uri, "languageId": "plaintext", "version": 1, "text": "a\U0001F600b"}})),
            frame(request(2, "sparkd/stats")),
            frame(request("three", "no/such/method")),
            frame(request(4, "sparkd/stats")),
        ])
        s.send_raw(blob)
        got = [s.read_json() for _ in range(4)]
        C.eq("several messages in one write: replies in order", [g.get("id") for g in got],
             [1, 2, "three", 4])
        C.ok("several messages in one write: results", "result" in got[0]
             and got[1]["result"]["documents"] == 1 and got[1]["result"]["notifications"] == 2
             and got[2]["error"]["code"] == -32601 and got[3]["result"]["errors"] == 1,
             repr(got)[:400])

        # One byte per write, with a pause so reads really see single bytes.
        blob = b"".join([
            frame(notification("textDocument/didChange", {
                "textDocument": {"uri": uri, "version": 2},
                "contentChanges": [edit(0, 3, 0, 3, "\u00e9\r\n")]})),
            frame(request(5, "sparkd/stats")),
        ])
        s.send_raw(blob, chunk=1, pause=0.001)
        r = s.read_json()
        C.ok("message split byte by byte: answered", r.get("id") == 5
             and r["result"]["notifications"] == 3 and r["result"]["bad_frames"] == 0, repr(r)[:300])
        model = DocModel("a\U0001F600b")
        model.apply(edit(0, 3, 0, 3, "\u00e9\r\n"))
        check_probe(s, uri, model, 3, "message split byte by byte: edit applied")

        # Split at every interesting boundary: inside the header name, between
        # \r and \n, between header and body, inside a UTF-8 sequence.
        body = ('{"jsonrpc":"2.0","id":6,"method":"sparkd/stats","params":{"x":"\u00e9\U0001F600"}}'
                ).encode()
        raw = frame(body)
        cuts = [3, raw.index(b"\r"), raw.index(b"\r") + 1, raw.index(b"{"),
                raw.index("\U0001F600".encode()) + 2]
        prev = 0
        for c in cuts + [len(raw)]:
            s.send_raw(raw[prev:c])
            time.sleep(0.02)
            prev = c
        r = s.read_json()
        C.ok("message split at header/CRLF/body/UTF-8 boundaries: answered",
             r.get("id") == 6 and "result" in r, repr(r)[:200])

        # Three messages, two of them cut in the middle, in two writes.
        a, b2, c2 = (frame(request(i, "sparkd/stats")) for i in (7, 8, 9))
        whole = a + b2 + c2
        s.send_raw(whole[:len(a) + 10])
        time.sleep(0.02)
        s.send_raw(whole[len(a) + 10:])
        ids = [s.read_json().get("id") for _ in range(3)]
        C.eq("messages straddling writes: all answered in order", ids, [7, 8, 9])


def slow_reader():
    """The client does not read while sending: replies queue up, none lost."""
    with Server() as s:
        s.initialize()
        n = 3000
        s.send_raw(b"".join(frame(request(i, "sparkd/stats")) for i in range(1, n + 1)))
        ids = [s.read_json().get("id") for _ in range(n)]
        C.ok(f"{n} requests in one write: {n} replies, in order", ids == list(range(1, n + 1)),
             f"first mismatch at {next((i for i, x in enumerate(ids) if x != i + 1), None)}")


def tracing():
    with Server() as s:
        s.initialize({"trace": "messages"})
        s.notify("custom/unknownThing")
        m = s.read_message().json
        C.ok("trace messages: a warning is mirrored as $/logTrace",
             m.get("method") == "$/logTrace" and "custom/unknownThing" in
             (m.get("params") or {}).get("message", ""), repr(m)[:300])
        s.notify("$/setTrace", {"value": "off"})
        s.notify("custom/unknownThing2")
        sid = s.request("sparkd/stats")
        r = s.read_message().json
        C.ok("$/setTrace off: the next message is the stats reply, no $/logTrace",
             r.get("id") == sid, repr(r)[:300])
    with Server() as s:
        r = s.call("initialize", dict(INIT_PARAMS, trace="loud"))
        C.eq("initialize with trace 'loud': -32602", (r.get("error") or {}).get("code"), -32602)
        r = s.call("initialize", {"capabilities": []})
        C.eq("initialize with capabilities not an object: -32602",
             (r.get("error") or {}).get("code"), -32602)
        r = s.call("initialize")
        C.eq("initialize without params: -32602", (r.get("error") or {}).get("code"), -32602)
        r = s.call("initialize", INIT_PARAMS)
        C.ok("initialize after rejected attempts: succeeds", "result" in r, repr(r)[:200])
        r = s.call("initialize", INIT_PARAMS)
        C.eq("initialize twice: -32600", (r.get("error") or {}).get("code"), -32600)


def many_documents():
    """40 documents: the table grows and closing swaps entries; each keeps its text."""
    with Server() as s:
        s.initialize()
        texts = {f"file:///many/{i}.txt": "\U0001F600" * i + "\r\n" + "x" * (40 - i) for i in range(40)}
        for uri, text in texts.items():
            s.notify("textDocument/didOpen", {"textDocument": {
                "uri": uri, "languageId": "plaintext", "version": 1, "text": text}})
        C.eq("40 documents open", s.stats()["documents"], 40)
        for i, uri in enumerate(list(texts)):
            if i % 3 == 0:
                s.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
                del texts[uri]
        C.eq("every third closed", s.stats()["documents"], len(texts))
        bad = []
        for uri, text in texts.items():
            got, want, _ = probe(s, uri, DocModel(text), 2)
            if got != want:
                bad.append(uri)
        C.ok("each remaining document keeps its own text", not bad, f"wrong: {bad}")


def log_file():
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"sparkd-e2e-{os.getpid()}.log")
    try:
        with Server("--log-file", path, "--log-level", "debug") as s:
            s.initialize()
            s.call("shutdown")
            s.notify("exit")
            rc = s.wait_exit()
            s.kill()
            err = s.stderr_text()
        with open(path) as f:
            log = f.read()
        C.ok("--log-file: log goes to the file, stderr stays empty, exit 0",
             rc == 0 and "serving on stdin/stdout" in log and "exiting with status 0" in log
             and err == "", f"rc={rc} stderr={err[:200]!r} file={log[:200]!r}")
        C.ok("--log-file: created with mode 0600", (os.stat(path).st_mode & 0o777) == 0o600,
             oct(os.stat(path).st_mode))
    finally:
        if os.path.exists(path):
            os.unlink(path)


def options():
    with Server("--max-message=4096", "--log-level", "warn") as s:
        s.initialize({"initializationOptions": {"max_message": 9999, "log_level": "debug"}})
        cfg = s.stats()["config"]
        C.ok("flags (--x=V and --x V) pin config over initializationOptions",
             cfg["max_message"] == 4096 and cfg["log_level"] == "warn", repr(cfg))
    with Server() as s:
        s.initialize({"initializationOptions": {"sparkd": {"debounce_ms": 40}}})
        s.notify("workspace/didChangeConfiguration", {"settings": {"n_predict": 17}})
        cfg = s.stats()["config"]
        C.ok("initializationOptions and didChangeConfiguration applied",
             cfg["debounce_ms"] == 40 and cfg["n_predict"] == 17, repr(cfg))


def main():
    cli_cases()
    steps = [handshake, handshake_string_id, negotiation, document_sync, big_document, lifecycle,
             splitting, slow_reader, tracing, many_documents, log_file, options]
    for fn in steps:
        C.run(f"{fn.__name__}: ran to the end", fn)
    C.finish()


if __name__ == "__main__":
    main()
