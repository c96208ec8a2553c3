#!/usr/bin/env python3
"""test_malformed.py — malformed input for `sparkd lsp`, and it must keep serving.

Every case goes to ONE long-lived server (a few need a fresh one). After EVERY
case the server must answer a normal `sparkd/stats` request as the very next
message after the case's own expected replies, and that reply must account for
what happened: requests answered, error replies, notifications, bad frames and
open documents, all counted here independently. Warnings that the case must
produce are looked for on stderr (the server runs with --log-level debug); a
marker notification makes sure stderr has caught up before looking.

Documents touched by a case are checked afterwards with no-op probe edits that
reveal every line's length (see lspclient.probe_changes), against a model of
what the text must be (unchanged when the message was rejected).

Framing and resynchronisation (protocol/lsp_frame.h): after a bad header line
the framer looks for the next "Content-Length:"/"Content-Type:" from one byte
after that line's start; after a header block without Content-Length, from
after the block. So a bad frame costs its own body, nothing more, and the next
good frame is found. A body that is *shorter* than its Content-Length cannot
be detected: it swallows bytes of the next frame by design. Those cases are
built so the outcome is determinate and documented case by case (what is
answered, what is lost).

The battery runs twice: with the default maximum message size, and with
--max-message 4096, where every body above 4096 bytes must be skipped as one
bad frame (no reply) while the stream stays in sync.

Run: SPARKD_BIN=build-e2e/sparkd python3 tests/e2e/test_malformed.py
"""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lspclient import (Checks, DocModel, Server, Timeout, clamped_indexes, edit, expect,  # noqa: E402
                       frame, notification, probe_changes, request, sanitizer_report)

C = Checks("test_malformed")
ANY = object()
DEFAULT_MAX = 64 << 20
POST_TIMEOUT = float(os.environ.get("SPARKD_E2E_POST_TIMEOUT", "20"))   # valgrind needs more

DOC = "file:///battery/doc.c"
DOC_TEXT = "int f(void) {\r\n  return 1; // \U0001F600 ok\n}\n"


def j(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def stats_body(id_):
    return j(request(id_, "sparkd/stats"))


def warnings(log):
    return [ln for ln in log.splitlines() if " warn " in ln and "e2e/marker/" not in ln]


class SyncLost(AssertionError):
    """The server died or stopped answering: the stream is out of sync."""


class Battery:
    """A long-lived server plus the counters it must report."""

    def __init__(self, max_message=None):
        self.max_message = max_message
        self.max = max_message or DEFAULT_MAX
        self.restarts = 0       # after any failed case (counters/model are reset)
        self.lost = 0           # of which: server dead or out of sync
        self.start_server()

    def start_server(self):
        args = ["--log-level", "debug"]
        if self.max_message:
            args += ["--max-message", str(self.max_message)]
        self.s = Server(*args)
        self.replies = self.errors = self.notifs = self.bad = 0
        self.docs = {}        # uri -> DocModel
        self.version = {}     # uri -> the version the server holds
        self.next_ver = 100
        self.s.initialize()
        self.replies += 1
        self.notifs += 1
        self.open_doc(DOC, DOC_TEXT)

    def open_doc(self, uri, text):
        self.s.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "c", "version": 1, "text": text}})
        self.notifs += 1
        self.docs[uri] = DocModel(text)
        self.version[uri] = 1

    def ver(self):
        self.next_ver += 1
        return self.next_ver

    # ------------------------------------------------------------ case API

    def begin(self):
        self.want_replies = []     # (code or None for a result, id or ANY)
        self.want_logs = []
        self.want_quiet = False
        self.touched = set()
        self.want_bad = 0
        self.want_notifs = 0

    def raw(self, data, **kw):
        self.s.send_raw(data, **kw)

    def body(self, body, reply=None, rid=ANY, notifs=0, log=None):
        """Sends one well-framed body. reply: None (no reply), 'result', or an
        error code; rid: the id the reply must carry. A body above the maximum
        is instead expected to be skipped as one bad frame."""
        body = body if isinstance(body, bytes) else j(body)
        self.raw(frame(body))
        if len(body) > self.max:
            self.oversize()
            return
        if reply is not None:
            self.reply(reply, rid)
        self.want_notifs += notifs
        if log:
            self.log(log)

    def oversize(self):
        self.bad_frame("message body larger than the maximum size")

    def reply(self, code, rid=ANY):
        self.want_replies.append((code, rid))

    def bad_frame(self, why):
        self.want_bad += 1
        self.log("bad frame: " + why)

    def log(self, pattern):
        """pattern: a substring, or a tuple of substrings all on one log line."""
        self.want_logs.append(pattern)

    def quiet(self):
        """The case must log no warning at all."""
        self.want_quiet = True

    def notify(self, method, params, log=None):
        self.body(notification(method, params), notifs=1, log=log)

    def did_change(self, uri, changes, version=None, apply=True, log=None):
        """A didChange; apply=True: the model applies it (it must be accepted)."""
        version = self.ver() if version is None else version
        self.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                               "contentChanges": changes}, log=log)
        if apply:
            for ch in changes:
                self.docs[uri].apply(ch)
            self.version[uri] = version
        self.touched.add(uri)

    # ------------------------------------------------------------ checking

    def finish(self):
        """Reads the case's replies and the post-check stats reply, then checks
        counters, logs and documents. Raises AssertionError on any mismatch."""
        s = self.s
        sid = s.new_id()
        s.send(request(sid, "sparkd/stats"))
        got = []
        while True:
            try:
                m = s.read_json(timeout=POST_TIMEOUT)
            except Timeout:
                alive = s.proc.poll() is None
                raise SyncLost(f"no reply to the post-case sparkd/stats (server "
                                     f"{'alive' if alive else 'exited %s' % s.proc.returncode}); "
                                     f"replies so far {got}") from None
            if m.get("id") == sid and "result" in m:
                break
            got.append(m)
        problems = []
        if len(got) != len(self.want_replies):
            problems.append(f"{len(got)} replies before the stats reply, want "
                            f"{len(self.want_replies)}: {[short(g) for g in got]}")
        for g, (code, rid) in zip(got, self.want_replies):
            gcode = (g.get("error") or {}).get("code") if "error" in g else None
            if "result" in g and "error" in g or ("result" not in g and "error" not in g):
                problems.append(f"not a response: {short(g)}")
            if code == "result":
                if "result" not in g:
                    problems.append(f"want a result, got {short(g)}")
            elif isinstance(code, tuple):
                if gcode not in code:
                    problems.append(f"want one of error codes {code}, got {short(g)}")
            elif gcode != code:
                problems.append(f"want error {code}, got {short(g)}")
            if rid is not ANY and (g.get("id") != rid or type(g.get("id")) is not type(rid)):
                problems.append(f"want id {rid!r}, got {g.get('id')!r}")
            if "error" in g and not isinstance((g["error"] or {}).get("message"), str):
                problems.append(f"error without a message: {short(g)}")
        for g in got:
            self.replies += 1
            self.errors += "error" in g
        self.bad += self.want_bad
        self.notifs += self.want_notifs
        st = m["result"]
        want = {"requests": self.replies, "errors": self.errors, "notifications": self.notifs,
                "bad_frames": self.bad, "documents": len(self.docs)}
        have = {k: st.get(k) for k in want}
        if have != want:
            problems.append(f"stats {have}, want {want}")
        self.replies += 1
        # Logs: the expected warnings, and nothing alarming.
        log, end = s.sync_stderr(self.start_off)
        self.notifs += 1
        lines = log.splitlines()
        for p in self.want_logs:
            parts = p if isinstance(p, tuple) else (p,)
            if not any(all(x in ln for x in parts) for ln in lines):
                problems.append(f"stderr has no line with {' ... '.join(map(repr, parts))}")
        if self.want_quiet and warnings(log):
            problems.append(f"unexpected warnings: {warnings(log)[:3]}")
        rep = sanitizer_report(log)
        if rep:
            problems.append(f"sanitizer: {rep}")
        # Bad input must never look like resource exhaustion. (Other error-level
        # lines, e.g. the engine failing to load a model in the background,
        # depend on the machine, not on the input.)
        for ln in log.splitlines():
            if re.match(r"\S+ sparkd error ", ln) and "out of memory" in ln:
                problems.append(f"error-level log line: {ln[:200]}")
                break
        for uri in sorted(self.touched):
            if uri in self.docs:
                problems += self.check_doc(uri)
        if problems:
            raise AssertionError("; ".join(problems))

    def check_doc(self, uri):
        model = self.docs[uri]
        changes, want = probe_changes(model.line_units())
        start = self.s.stderr_len()
        self.s.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": self.ver()},
                                                 "contentChanges": changes})
        self.version[uri] = self.next_ver
        log, _ = self.s.sync_stderr(start)
        self.notifs += 2
        got = clamped_indexes(log, uri)
        if got != want:
            return [f"document {uri} differs from the model: line lengths {model.line_units()}, "
                    f"clamped probes {sorted(got)}, want {sorted(want)}"]
        return []

    def run(self, name, fn):
        label = f"[max {self.max}] {name}"
        if self.s.proc.poll() is not None:
            self.lost += 1
            self.restarts += 1
            self.start_server()
        self.start_off = self.s.stderr_len()
        self.begin()
        try:
            fn(self)
            self.finish()
        except Exception as e:   # noqa: BLE001 - reported, then the server is replaced
            C.ok(label, False, f"{type(e).__name__}: {e}")
            self.lost += isinstance(e, SyncLost) or self.s.proc.poll() is not None
            self.s.kill()
            self.restarts += 1
            self.start_server()
            return
        C.ok(label, True)

    def close(self):
        s = self.s
        s.send(request("bye", "shutdown"))
        r = s.read_json()
        s.notify("exit")
        try:
            rc = s.wait_exit()
        except Timeout:
            rc = "hang"
        C.ok(f"[max {self.max}] battery server: still healthy at the end, shutdown+exit -> 0",
             r.get("result", 1) is None and rc == 0, f"shutdown reply {r}, exit status {rc}")
        rep = sanitizer_report(s.stderr_text())
        C.ok(f"[max {self.max}] battery server: no sanitizer report", rep is None, str(rep))
        s.kill()


def short(m):
    t = json.dumps(m)
    return t if len(t) < 240 else t[:240] + "..."


# ================================================================ framing cases
# Each function sends one case; `b` is the Battery. Good frames that a case
# sends itself use ids >= 1_000_000 so they cannot collide with post-checks.

def valid_lowercase_header(b):
    body = stats_body(1_000_001)
    b.raw(b"content-length: %d\r\n\r\n" % len(body) + body)
    b.reply("result", 1_000_001)
    b.quiet()


def valid_uppercase_header(b):
    body = stats_body(1_000_002)
    b.raw(b"CONTENT-LENGTH: %d\r\n\r\n" % len(body) + body)
    b.reply("result", 1_000_002)
    b.quiet()


def valid_content_type_first(b):
    body = stats_body(1_000_003)
    b.raw(b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: %d\r\n\r\n"
          % len(body) + body)
    b.reply("result", 1_000_003)
    b.quiet()


def valid_content_type_after(b):
    body = stats_body(1_000_004)
    b.raw(b"Content-Length: %d\r\ncontent-type: application/vscode-jsonrpc; charset=utf8\r\n\r\n"
          % len(body) + body)
    b.reply("result", 1_000_004)
    b.quiet()


def valid_unknown_header(b):
    body = stats_body(1_000_005)
    b.raw(b"X-Trace-Id: 42\r\nContent-Length: %d\r\nX-Other: a b c\r\n\r\n" % len(body) + body)
    b.reply("result", 1_000_005)
    b.quiet()


def valid_whitespace_in_value(b):
    body = stats_body(1_000_006)
    b.raw(b"Content-Length:\t %d \t\r\n\r\n" % len(body) + body)
    b.reply("result", 1_000_006)
    b.quiet()


def valid_no_space_after_colon(b):
    body = stats_body(1_000_007)
    b.raw(b"Content-Length:%d\r\n\r\n" % len(body) + body)
    b.reply("result", 1_000_007)
    b.quiet()


def missing_content_length(b):
    # Block without Content-Length: skipped with its body (which has no header name).
    b.raw(b"Content-Type: application/vscode-jsonrpc\r\n\r\n" + stats_body(1_000_010))
    b.bad_frame("missing Content-Length header")


def no_header_at_all(b):
    # A bare body: it has no "\n", so it becomes the start of the next header
    # line (the post-check's); '{' is not a header-name character -> one bad
    # frame, resync inside that same line at "Content-Length:". Nothing lost.
    b.raw(stats_body(1_000_011))
    b.bad_frame("malformed header name")


def bare_lf_line_endings(b):
    body = stats_body(1_000_012)
    b.raw(b"Content-Length: %d\n\n" % len(body) + body)
    b.bad_frame("header line not terminated by CRLF")


def bare_lf_blank_line(b):
    body = stats_body(1_000_013)
    b.raw(b"Content-Length: %d\r\n\n" % len(body) + body)
    b.bad_frame("header line not terminated by CRLF")


def bare_cr_in_value(b):
    body = stats_body(1_000_014)
    b.raw(b"Content-Length: %d\r5\r\n\r\n" % len(body) + body)
    b.bad_frame("bare CR in header")


def duplicate_content_length_same(b):
    body = stats_body(1_000_015)
    b.raw(b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(body), len(body)) + body)
    b.bad_frame("duplicate Content-Length")


def duplicate_content_length_differ(b):
    body = stats_body(1_000_016)
    b.raw(b"Content-Length: %d\r\nContent-Length: 5\r\n\r\n" % len(body) + body)
    b.bad_frame("duplicate Content-Length")


def content_length_negative(b):
    b.raw(b"Content-Length: -5\r\n\r\n{}")
    b.bad_frame("negative Content-Length")


def content_length_not_a_number(b):
    b.raw(b"Content-Length: abc\r\n\r\n" + stats_body(1_000_017))
    b.bad_frame("Content-Length is not a decimal number")


def content_length_hex(b):
    b.raw(b"Content-Length: 0x30\r\n\r\n" + stats_body(1_000_018))
    b.bad_frame("Content-Length is not a decimal number")


def content_length_plus_sign(b):
    body = stats_body(1_000_019)
    b.raw(b"Content-Length: +%d\r\n\r\n" % len(body) + body)
    b.bad_frame("Content-Length is not a decimal number")


def content_length_inner_space(b):
    b.raw(b"Content-Length: 4 8\r\n\r\n" + stats_body(1_000_020))
    b.bad_frame("Content-Length is not a decimal number")


def content_length_empty(b):
    b.raw(b"Content-Length:   \r\n\r\n" + stats_body(1_000_021))
    b.bad_frame("empty Content-Length")


def content_length_above_limit(b):
    # Above the 4 GiB hard limit: a bad header (resync), not a body to skip.
    b.raw(b"Content-Length: 99999999999999999999999\r\n\r\n" + stats_body(1_000_022))
    b.bad_frame("Content-Length is too large")


def content_length_over_max_skipped(b):
    # Above --max-message but within the hard limit: the body is skipped as it
    # arrives (never buffered), in several writes, then the stream goes on.
    n = b.max + 1
    b.raw(b"Content-Length: %d\r\n\r\n" % n)
    chunk = b"x" * min(n, 1 << 20)
    left = n
    while left:
        k = min(left, len(chunk))
        b.raw(chunk[:k])
        left -= k
    b.oversize()


def content_length_exactly_max(b):
    # A body of exactly the maximum is accepted (only done when that is cheap).
    if b.max > (4 << 20):
        size = 4 << 20
    else:
        size = b.max
    head = b'{"jsonrpc":"2.0","id":1000023,"method":"sparkd/stats","params":{"pad":"'
    tail = b'"}}'
    body = head + b"p" * (size - len(head) - len(tail)) + tail
    b.body(body, "result", 1_000_023)


def content_length_zero(b):
    b.raw(b"Content-Length: 0\r\n\r\n")
    b.reply(-32700, None)


def content_length_smaller_than_body(b):
    # The first 10 bytes are the body (parse error, answered with id null);
    # the rest, ':"2.0",...}', has no "\n" and joins the post-check's first
    # header line, which then has an empty name (one bad frame); resync finds
    # the Content-Length inside that line. Nothing else is lost.
    body = stats_body(1_000_024)
    b.raw(b"Content-Length: 10\r\n\r\n" + body)
    b.reply(-32700, None)
    b.bad_frame("empty header name")


def content_length_larger_than_body(b):
    # The body is 20 bytes short, and a good frame follows. Its header line
    # "Content-Length: NN\r\n" (exactly 20 bytes) completes the short body:
    # parse error (id null). Then "\r\n" is an empty header block: one bad
    # frame (missing Content-Length), and the following frame's body holds no
    # header name, so it is discarded. The good request is lost by design.
    body = stats_body(1_000_025)
    swallowed = stats_body(1_000_026)
    hdr = b"Content-Length: %d\r\n" % len(swallowed)
    expect(len(hdr) == 20, "test construction: the swallowed header must be 20 bytes")
    b.raw(b"Content-Length: %d\r\n\r\n" % (len(body) + 20) + body + frame(swallowed))
    b.reply(-32700, None)
    b.bad_frame("missing Content-Length header")


def blank_line_before_frame(b):
    # A stray "\r\n" between frames (some old clients add one): an empty header
    # block, one bad frame, and the frame right after it is still found.
    b.raw(b"\r\n" + frame(stats_body(1_000_027)))
    b.bad_frame("missing Content-Length header")
    b.reply("result", 1_000_027)


def garbage_line_between_frames(b):
    b.raw(b"hello world\r\n" + frame(stats_body(1_000_028)))
    b.bad_frame("malformed header name")
    b.reply("result", 1_000_028)


def garbage_word_between_frames(b):
    b.raw(b"hello\r\n" + frame(stats_body(1_000_033)))
    b.bad_frame("header line without ':'")
    b.reply("result", 1_000_033)


def garbage_before_header_same_line(b):
    # Junk glued to the front of a header line: resync finds the name inside the line.
    b.raw(b"@@junk@@" + frame(stats_body(1_000_029)))
    b.bad_frame("malformed header name")
    b.reply("result", 1_000_029)


def nul_in_header(b):
    b.raw(b"Content-Length: 5\x00\r\n\r\n{}")
    b.bad_frame("control character in header value")


def space_in_header_name(b):
    b.raw(b"Content Length: 48\r\n\r\n" + stats_body(1_000_030))
    b.bad_frame("malformed header name")


def header_block_too_long(b):
    # Content-Length first, then > 8 KiB of unknown headers: the block is too
    # long; nothing after it is a header name, so the body goes too.
    body = stats_body(1_000_031)
    pads = b"".join(b"X-Pad-%03d: %s\r\n" % (i, b"p" * 100) for i in range(90))
    b.raw(b"Content-Length: %d\r\n" % len(body) + pads + b"\r\n" + body)
    b.bad_frame("header block too long")


def header_line_too_long_then_frame(b):
    # One 10 KB header line: too long; the resync scan then finds the
    # Content-Length of the same frame after it, and that frame is served.
    body = stats_body(1_000_032)
    b.raw(b"X-Long: " + b"a" * 10000 + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    b.bad_frame("header block too long")
    b.reply("result", 1_000_032)


# ================================================================ JSON-RPC cases

def invalid_json(b):
    b.body(b'{"jsonrpc":"2.0","id":1,', -32700, None)


def trailing_garbage(b):
    b.body(stats_body(1_000_040) + b" x", -32700, None)


def two_objects_in_one_body(b):
    b.body(stats_body(1_000_041) + stats_body(1_000_042), -32700, None)


def empty_object(b):
    b.body(b"{}", -32600, None)


def batch_array(b):
    b.body(b"[" + stats_body(1_000_043) + b"]", -32600, None)


def empty_array(b):
    b.body(b"[]", -32600, None)


def top_level_number(b):
    b.body(b"42", -32600, None)


def top_level_string(b):
    b.body(b'"sparkd/stats"', -32600, None)


def top_level_null(b):
    b.body(b"null", -32600, None)


def top_level_true(b):
    b.body(b"true", -32600, None)


def missing_jsonrpc(b):
    b.body({"id": 5, "method": "sparkd/stats"}, -32600, 5)


def jsonrpc_1_0(b):
    b.body({"jsonrpc": "1.0", "id": 6, "method": "sparkd/stats"}, -32600, 6)


def jsonrpc_number(b):
    b.body(b'{"jsonrpc":2.0,"id":7,"method":"sparkd/stats"}', -32600, 7)


def id_float(b):
    b.body(b'{"jsonrpc":"2.0","id":1.5,"method":"sparkd/stats"}', -32600, None)


def id_float_integral(b):
    b.body(b'{"jsonrpc":"2.0","id":8.0,"method":"sparkd/stats"}', -32600, None)


def id_bool(b):
    b.body(b'{"jsonrpc":"2.0","id":true,"method":"sparkd/stats"}', -32600, None)


def id_object(b):
    b.body(b'{"jsonrpc":"2.0","id":{"n":1},"method":"sparkd/stats"}', -32600, None)


def id_array(b):
    b.body(b'{"jsonrpc":"2.0","id":[1],"method":"sparkd/stats"}', -32600, None)


def id_null(b):
    b.body(b'{"jsonrpc":"2.0","id":null,"method":"sparkd/stats"}', -32600, None)


def id_too_big(b):
    b.body(b'{"jsonrpc":"2.0","id":100000000000000000000000000,"method":"sparkd/stats"}',
           (-32700, -32600), None)


def id_edge_values_valid(b):
    for rid in (0, -1, 9223372036854775807, -9223372036854775808, "", "\U0001F600 id"):
        b.body(request(rid, "sparkd/stats"), "result", rid)
    b.quiet()


def method_number(b):
    b.body({"jsonrpc": "2.0", "id": 9, "method": 5}, -32600, 9)


def method_null(b):
    b.body({"jsonrpc": "2.0", "id": 10, "method": None}, -32600, 10)


def method_missing(b):
    b.body({"jsonrpc": "2.0", "id": 11}, -32600, 11)


def params_string(b):
    b.body({"jsonrpc": "2.0", "id": 12, "method": "sparkd/stats", "params": "x"}, -32600, 12)


def params_number(b):
    b.body({"jsonrpc": "2.0", "id": 13, "method": "sparkd/stats", "params": 3}, -32600, 13)


def params_array_accepted(b):
    b.body({"jsonrpc": "2.0", "id": 14, "method": "sparkd/stats", "params": []}, "result", 14)


def unknown_method(b):
    b.body(request(15, "textDocument/noSuchThing", {}), -32601, 15)


def unknown_dollar_request(b):
    b.body(request(16, "$/noSuchThing", {}), -32601, 16)


def unknown_notification(b):
    b.notify("custom/noSuchNotification", {}, log="ignored unknown notification 'custom/noSuchNotification'")


def unknown_dollar_notification_quiet(b):
    b.notify("$/noSuchNotification", {})
    b.quiet()


def notification_with_id(b):
    # didOpen sent as a request: rejected, and the document is NOT opened.
    b.body(request(17, "textDocument/didOpen", {"textDocument": {
        "uri": "file:///battery/with-id.c", "languageId": "c", "version": 1, "text": "x"}}),
        -32600, 17)


def exit_with_id(b):
    # `exit` carrying an id is not the exit notification: must not stop the server.
    b.body(request(18, "exit"), -32600, 18)


def request_without_id(b):
    b.notify("sparkd/stats", None, log="ignored 'sparkd/stats' sent as a notification")


def shutdown_without_id(b):
    b.notify("shutdown", None, log="ignored 'shutdown' sent as a notification")


def client_response_ignored(b):
    b.body({"jsonrpc": "2.0", "id": 19, "result": None})
    b.body({"jsonrpc": "2.0", "id": "x", "error": {"code": -32601, "message": "nope"}})
    b.quiet()


def response_with_result_and_error(b):
    b.body({"jsonrpc": "2.0", "id": 20, "result": 1, "error": {"code": 1, "message": "m"}},
           -32600, ANY)


def non_utf8_in_method(b):
    b.body(b'{"jsonrpc":"2.0","id":21,"method":"sparkd/st\xffats"}', -32700, None)


def non_utf8_overlong(b):
    b.body(b'{"jsonrpc":"2.0","id":22,"method":"\xc0\xaf"}', -32700, None)


def non_utf8_encoded_surrogate(b):
    b.body(b'{"jsonrpc":"2.0","id":23,"method":"\xed\xa0\x80"}', -32700, None)


def non_utf8_truncated_sequence(b):
    b.body(b'{"jsonrpc":"2.0","id":24,"method":"ab\xe2\x82"}', -32700, None)


def non_utf8_in_document_text(b):
    b.body(b'{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":'
           b'{"uri":"file:///battery/latin1.c","languageId":"c","version":1,"text":"caf\xe9"}}}',
           -32700, None)


def lone_surrogate_escape(b):
    # "\ud800" alone is no character: it cannot become UTF-8 text.
    b.body(b'{"jsonrpc":"2.0","id":25,"method":"sparkd/stats","params":{"s":"\\ud800"}}',
           -32700, None)


def deeply_nested_arrays(b):
    b.body(b"[" * 100_000, -32700, None)


def deeply_nested_objects(b):
    b.body(b'{"a":' * 50_000 + b"1" + b"}" * 50_000, -32700, None)


def nested_params_depth_ok(b):
    # Moderately deep but valid params are accepted (no arbitrary small limit).
    b.body(b'{"jsonrpc":"2.0","id":26,"method":"sparkd/stats","params":{"a":'
           + b"[" * 200 + b"]" * 200 + b"}}", "result", 26)


def nul_byte_after_object(b):
    b.body(stats_body(27) + b"\x00", -32700, None)


def nul_byte_in_string(b):
    b.body(b'{"jsonrpc":"2.0","id":28,"method":"sparkd/\x00stats"}', -32700, None)


def escaped_nul_in_method(b):
    # "sparkd/stats\u0000x" is not "sparkd/stats": it must not be answered as one.
    b.body(b'{"jsonrpc":"2.0","id":29,"method":"sparkd/stats\\u0000x"}',
           (-32700, -32600, -32601), ANY)


def duplicate_keys(b):
    # An "id" that could be read two ways is not answered on a guess.
    b.body(b'{"jsonrpc":"2.0","id":32,"id":33,"method":"sparkd/stats"}', -32700, None)


def did_open_text_with_nul(b):
    # U+0000 is legal in JSON strings and in documents: the text is kept whole.
    uri = "file:///battery/nul-text.c"
    text = "a\u0000b\r\n\u0000"
    b.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "c", "version": 1, "text": text}})
    b.docs[uri] = DocModel(text)
    b.version[uri] = 1
    b.touched.add(uri)


def uri_with_nul_does_not_alias(b):
    # "file:///battery/alias\u0000x" is not "file:///battery/alias": opening and
    # closing it (accepted as its own document or rejected, either is fine)
    # must leave the other document open and unchanged.
    uri = "file:///battery/alias"
    if uri not in b.docs:
        b.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "c", "version": 1, "text": "alias text\n"}})
        b.docs[uri] = DocModel("alias text\n")
        b.version[uri] = 1
    evil = uri + "\u0000x"
    b.notify("textDocument/didOpen", {"textDocument": {
        "uri": evil, "languageId": "c", "version": 1, "text": "EVIL\r\nEVIL\r\n"}})
    b.notify("textDocument/didClose", {"textDocument": {"uri": evil}})
    b.touched.add(uri)


def very_long_method_name(b):
    name = "m" * 200_000
    b.body(request(30, name), -32601, 30)


def long_method_name_small(b):
    name = "x/" + "m" * 3000
    b.body(request(31, name), -32601, 31)


def ten_thousand_tiny_messages(b):
    out = []
    for i in range(10_000):
        if i % 2:
            out.append(frame(b'{"jsonrpc":"2.0","id":%d,"method":"t"}' % (2_000_000 + i)))
            b.reply(-32601, 2_000_000 + i)
        else:
            out.append(frame(b'{"jsonrpc":"2.0","method":"$/t"}'))
            b.want_notifs += 1
    b.raw(b"".join(out))


def ten_thousand_messages_odd_splits(b):
    blob = b"".join(frame(b'{"jsonrpc":"2.0","method":"$/t","params":{"i":%d}}' % i)
                    for i in range(10_000))
    b.want_notifs += 10_000
    b.raw(blob, chunk=4093)


# ================================================================ document cases

def bad_open(params, why):
    def case(b):
        b.notify("textDocument/didOpen", params, log=(" warn ", "textDocument/didOpen: ", why))
        b.touched.add(DOC)
    return case


def good_td(**over):
    td = {"uri": "file:///battery/new.c", "languageId": "c", "version": 1, "text": "x\n"}
    td.update(over)
    return {"textDocument": td}


OPEN_CASES = [
    ("didOpen without params", None, "params.textDocument is missing"),
    ("didOpen params an array", [], "params.textDocument is missing"),
    ("didOpen textDocument a string", {"textDocument": "x"}, "params.textDocument must be an object"),
    ("didOpen uri a number", good_td(uri=5), "textDocument.uri must be a string"),
    ("didOpen uri missing", {"textDocument": {"languageId": "c", "version": 1, "text": ""}},
     "textDocument.uri is missing"),
    ("didOpen languageId a number", good_td(languageId=1), "textDocument.languageId must be a string"),
    ("didOpen version a string", good_td(version="1"), "textDocument.version must be an integer"),
    ("didOpen version a float", good_td(version=1.5), "textDocument.version must be an integer"),
    ("didOpen version null", good_td(version=None), "textDocument.version must be an integer"),
    ("didOpen text a number", good_td(text=7), "textDocument.text must be a string"),
    ("didOpen text null", good_td(text=None), "textDocument.text must be a string"),
    ("didOpen text missing", {"textDocument": {"uri": "file:///battery/new.c", "languageId": "c",
                                               "version": 1}}, "textDocument.text is missing"),
    ("didOpen of an open document with text a number (document unchanged)",
     good_td(uri=DOC, text=7), "textDocument.text must be a string"),
]


def bad_change(params, why):
    def case(b):
        b.notify("textDocument/didChange", params, log=(" warn ", "textDocument/didChange: ", why))
        b.touched.add(DOC)
    return case


def chg(changes, uri=DOC, version=10_000):
    return {"textDocument": {"uri": uri, "version": version}, "contentChanges": changes}


def with_range(**over):
    r = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}}
    for k, v in over.items():
        side, field = k.split("_")
        if v is DROP:
            del r[side][field]
        else:
            r[side][field] = v
    return [{"range": r, "text": "Z"}]


DROP = object()

CHANGE_CASES = [
    ("didChange without params", None, "params.textDocument is missing"),
    ("didChange textDocument missing", {"contentChanges": []}, "params.textDocument is missing"),
    ("didChange uri a number", {"textDocument": {"uri": 1, "version": 2}, "contentChanges": []},
     "textDocument.uri must be a string"),
    ("didChange version a string", {"textDocument": {"uri": DOC, "version": "2"},
                                    "contentChanges": [{"text": "gone"}]},
     "textDocument.version must be an integer"),
    ("didChange version null", {"textDocument": {"uri": DOC, "version": None},
                                "contentChanges": [{"text": "gone"}]},
     "textDocument.version must be an integer"),
    ("didChange contentChanges missing", {"textDocument": {"uri": DOC, "version": 10_000}},
     "params.contentChanges is missing"),
    ("didChange contentChanges an object", chg({"text": "gone"}), "params.contentChanges must be an array"),
    ("didChange contentChanges[0] a string", chg(["gone"]), "contentChanges[0] must be an object"),
    ("didChange text a number", chg([{"text": 5}]), "contentChanges[0].text must be a string"),
    ("didChange text missing", chg([{"range": with_range()[0]["range"]}]),
     "contentChanges[0].text is missing"),
    ("didChange range a string", chg([{"range": "0:0", "text": "Z"}]),
     "contentChanges[0].range must be an object"),
    ("didChange range.start missing",
     chg([{"range": {"end": {"line": 0, "character": 0}}, "text": "Z"}]),
     "range.start is missing"),
    ("didChange range.end a number", chg([{"range": {"start": {"line": 0, "character": 0}, "end": 3},
                                           "text": "Z"}]), "range.end must be an object"),
    ("didChange start.line a string", chg(with_range(start_line="0")), "range.start.line must be an integer"),
    ("didChange start.line a float", chg(with_range(start_line=0.5)), "range.start.line must be an integer"),
    ("didChange start.character missing", chg(with_range(start_character=DROP)),
     "range.start.character is missing"),
    ("didChange end.character null", chg(with_range(end_character=None)),
     "range.end.character must be an integer"),
    ("didChange start.character negative", chg(with_range(start_character=-1)),
     "range.start.character is out of range"),
    ("didChange end.line above 2^32", chg(with_range(end_line=1 << 33)),
     "range.end.line is out of range"),
    ("didChange range end before start (same line)",
     chg([edit(1, 5, 1, 2, "Z")]), "range end 1:2 is before its start 1:5"),
    ("didChange range end before start (earlier line)",
     chg([edit(2, 0, 1, 9, "Z")]), "range end 1:9 is before its start 2:0"),
    ("didChange for an unknown document", chg([{"text": "x"}], uri="file:///battery/never-opened.c"),
     "file:///battery/never-opened.c is not open"),
]


def change_partially_invalid(b):
    # [valid edit, invalid edit]: the notification is rejected; the document
    # must stay as it was (a change list is applied all or nothing).
    b.notify("textDocument/didChange", chg([edit(0, 0, 0, 0, "PARTIAL"), {"text": 5}]),
             log=(" warn ", "textDocument/didChange: ", "contentChanges[1]", "text must be a string"))
    b.touched.add(DOC)


def range_length_ignored(b):
    # VS Code used to send the deprecated rangeLength (UTF-16 units, here a
    # wrong value on purpose): the range decides what is replaced.
    b.did_change(DOC, [dict(edit(0, 0, 0, 3, "long"), rangeLength=999)])
    b.quiet()


def exit_with_bad_params(b):
    # Not a valid message, so not the exit notification: answered, server stays.
    b.body(b'{"jsonrpc":"2.0","method":"exit","params":"now"}', -32600, None)


def position_past_end_of_line(b):
    b.did_change(DOC, [edit(0, 400, 0, 900, "<eol>")],
                 log="contentChanges[0] range is past the end of the line or document; clamped")


def position_past_end_of_document(b):
    b.did_change(DOC, [edit(70, 3, 90, 0, "<eof>")],
                 log="contentChanges[0] range is past the end of the line or document; clamped")


def position_inside_surrogate_pair(b):
    # Line 1 is "  return 1; // 😀 ok": 😀 is UTF-16 units 15-16; a column
    # between its surrogates means the start of the character (not a warning).
    # The second edit tells "before" from "after": it deletes the "|" only if
    # the "|" went in before the emoji.
    b.did_change(DOC, [edit(1, 16, 1, 16, "|"), edit(1, 15, 1, 16, "")])
    b.quiet()


def version_backwards(b):
    old = b.version[DOC]
    b.did_change(DOC, [edit(0, 0, 0, 0, "/*back*/")], version=old - 50,
                 log=f"version {old - 50} does not increase on {old}; applied anyway")


def version_repeated(b):
    old = b.version[DOC]
    b.did_change(DOC, [edit(0, 0, 0, 0, "/*same*/")], version=old,
                 log=f"version {old} does not increase on {old}; applied anyway")


def did_open_twice(b):
    text = "reopened \U0001F389\r\ntext\n"
    b.notify("textDocument/didOpen", {"textDocument": {
        "uri": DOC, "languageId": "c", "version": 1, "text": text}},
        log=f"didOpen: {DOC} was already open; replacing its text")
    b.docs[DOC] = DocModel(text)
    b.version[DOC] = 1
    b.touched.add(DOC)


def did_close_unknown(b):
    b.notify("textDocument/didClose", {"textDocument": {"uri": "file:///battery/nope"}},
             log="textDocument/didClose: file:///battery/nope is not open")


def did_save_unknown(b):
    b.notify("textDocument/didSave", {"textDocument": {"uri": "file:///battery/nope"}},
             log="textDocument/didSave: file:///battery/nope is not open")


def did_open_huge_document(b):
    # 3 MB of text in one message (well under the default maximum).
    text = ("line \U0001F600 " + "x" * 90 + "\r\n") * 30_000
    uri = "file:///battery/huge.txt"
    body = j(notification("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "plaintext", "version": 1, "text": text}}))
    b.body(body, notifs=1)
    if len(body) <= b.max:
        b.docs[uri] = DocModel(text)
        b.version[uri] = 1
        b.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        del b.docs[uri]


def cancel_request_bad_id(b):
    b.notify("$/cancelRequest", {"id": 1.5}, log="$/cancelRequest: params.id must be an integer or a string")


def set_trace_bad_value(b):
    b.notify("$/setTrace", {"value": "loud"}, log="$/setTrace: params.value must be")


def did_change_configuration_bad(b):
    b.notify("workspace/didChangeConfiguration", {"settings": 5},
             log="workspace/didChangeConfiguration: params.settings must be an object")


def initialize_again(b):
    b.body(request(40, "initialize", {"capabilities": {}}), -32600, 40)


# ================================================================ fresh-server cases

def fresh(name, fn, max_message=None):
    args = ["--log-level", "debug"] + (["--max-message", str(max_message)] if max_message else [])
    with Server(*args) as s:
        try:
            fn(s)
            rep = sanitizer_report(s.stderr_text())
            expect(rep is None, f"sanitizer: {rep}")
        except Exception as e:   # noqa: BLE001
            C.ok(f"[fresh] {name}", False, f"{type(e).__name__}: {e}")
            return
    C.ok(f"[fresh] {name}", True)


def err_code(m):
    return (m.get("error") or {}).get("code")


def before_initialize(s):
    for method, params in (("sparkd/stats", None), ("shutdown", None), ("no/such", {}),
                           ("textDocument/completion", {})):
        r = s.call(method, params)
        expect(err_code(r) == -32002, f"{method} before initialize: {r}")
    s.notify("textDocument/didOpen", {"textDocument": {
        "uri": "file:///pre", "languageId": "c", "version": 1, "text": "x"}})
    s.initialize()
    st = s.stats()
    expect(st["documents"] == 0, f"a didOpen before initialize must be dropped: {st}")
    expect(st["errors"] == 4, f"stats errors {st['errors']}, want 4")


def after_shutdown(s):
    s.initialize()
    s.call("shutdown")
    for method, params in (("sparkd/stats", None), ("no/such", {}), ("initialize", {"capabilities": {}}),
                           ("shutdown", None)):
        r = s.call(method, params)
        expect(err_code(r) == -32600, f"{method} after shutdown: {r}")
    s.send_raw(b"Content-Length: 3\r\n\r\n{x}")
    r = s.read_json()
    expect(err_code(r) == -32700, f"garbage after shutdown: {r}")
    s.notify("exit")
    rc = s.wait_exit()
    expect(rc == 0, f"exit status {rc}")


def truncated_body_then_eof(s):
    s.initialize()
    s.send_raw(b'Content-Length: 100\r\n\r\n{"jsonrpc":"2.0","id":1,')
    s.close_stdin()
    t0 = time.monotonic()
    rc = s.wait_exit()
    expect(rc == 1, f"exit status {rc}")
    expect("input ended inside a message" in s.stderr_text(), "no 'input ended inside a message' log")
    expect(time.monotonic() - t0 < 10, "slow exit")


def truncated_header_then_eof(s):
    s.initialize()
    s.send_raw(b"Content-Len")
    s.close_stdin()
    rc = s.wait_exit()
    expect(rc == 1, f"exit status {rc}")


def oversize_then_eof_mid_skip(s):
    s.initialize()
    s.send_raw(b"Content-Length: 100000\r\n\r\n" + b"x" * 5000)
    s.close_stdin()
    rc = s.wait_exit()
    expect(rc == 1, f"exit status {rc}")
    expect("larger than the maximum" in s.stderr_text(), "no oversize log")


def shutdown_exit_params_null(s):
    # Some clients send "params": null for shutdown and exit (no-params methods).
    s.initialize()
    s.send(b'{"jsonrpc":"2.0","id":1,"method":"shutdown","params":null}')
    r = s.read_json()
    expect("result" in r and r["result"] is None, f"shutdown with params null: {r}")
    s.send(b'{"jsonrpc":"2.0","method":"exit","params":null}')
    rc = s.wait_exit()
    expect(rc == 0, f"exit with params null: exit status {rc}")


def exit_with_params_object(s):
    s.initialize()
    s.call("shutdown")
    s.notify("exit", {})
    rc = s.wait_exit()
    expect(rc == 0, f"exit with params {{}}: exit status {rc}")


def garbage_flood_then_valid(s):
    # 1 MB of random-ish bytes without any header name, then a good request.
    s.initialize()
    junk = bytes((i * 131 + 7) % 256 for i in range(1 << 20)).replace(b"C", b"D").replace(b"c", b"d")
    s.send_raw(junk)
    st = s.stats()
    expect(st["bad_frames"] >= 1, f"bad_frames {st['bad_frames']}")


def main():
    framing = [valid_lowercase_header, valid_uppercase_header, valid_content_type_first,
               valid_content_type_after, valid_unknown_header, valid_whitespace_in_value,
               valid_no_space_after_colon, missing_content_length, no_header_at_all,
               bare_lf_line_endings, bare_lf_blank_line, bare_cr_in_value,
               duplicate_content_length_same, duplicate_content_length_differ,
               content_length_negative, content_length_not_a_number, content_length_hex,
               content_length_plus_sign, content_length_inner_space, content_length_empty,
               content_length_above_limit, content_length_over_max_skipped,
               content_length_exactly_max, content_length_zero, content_length_smaller_than_body,
               content_length_larger_than_body, blank_line_before_frame,
               garbage_line_between_frames, garbage_word_between_frames,
               garbage_before_header_same_line, nul_in_header,
               space_in_header_name, header_block_too_long, header_line_too_long_then_frame]
    rpc = [invalid_json, trailing_garbage, two_objects_in_one_body, empty_object, batch_array,
           empty_array, top_level_number, top_level_string, top_level_null, top_level_true,
           missing_jsonrpc, jsonrpc_1_0, jsonrpc_number, id_float, id_float_integral, id_bool,
           id_object, id_array, id_null, id_too_big, id_edge_values_valid, method_number,
           method_null, method_missing, params_string, params_number, params_array_accepted,
           unknown_method, unknown_dollar_request, unknown_notification,
           unknown_dollar_notification_quiet, notification_with_id, exit_with_id,
           request_without_id, shutdown_without_id, client_response_ignored,
           response_with_result_and_error, non_utf8_in_method, non_utf8_overlong,
           non_utf8_encoded_surrogate, non_utf8_truncated_sequence, non_utf8_in_document_text,
           lone_surrogate_escape, deeply_nested_arrays, deeply_nested_objects,
           nested_params_depth_ok, nul_byte_after_object, nul_byte_in_string,
           escaped_nul_in_method, duplicate_keys, did_open_text_with_nul,
           uri_with_nul_does_not_alias, very_long_method_name, long_method_name_small,
           ten_thousand_tiny_messages, ten_thousand_messages_odd_splits]
    docs = ([(n, bad_open(p, w)) for n, p, w in OPEN_CASES]
            + [(n, bad_change(p, w)) for n, p, w in CHANGE_CASES]
            + [(f.__name__, f) for f in (
                change_partially_invalid, range_length_ignored, exit_with_bad_params,
                position_past_end_of_line, position_past_end_of_document,
                position_inside_surrogate_pair, version_backwards, version_repeated,
                did_open_twice, did_close_unknown, did_save_unknown, did_open_huge_document,
                cancel_request_bad_id, set_trace_bad_value, did_change_configuration_bad,
                initialize_again)])
    cases = [(f.__name__, f) for f in framing + rpc] + docs

    only = os.environ.get("SPARKD_E2E_ONLY")   # substring filter, for debugging
    for max_message in (None, 4096):
        bat = Battery(max_message)
        for name, fn in cases:
            if only and only not in name:
                continue
            bat.run(name, fn)
        C.ok(f"[max {bat.max}] battery: the server never died or lost sync", bat.lost == 0,
             f"{bat.lost} times (of {bat.restarts} restarts after failed cases)")
        bat.close()

    for name, fn in [("requests before initialize -> -32002; notifications dropped", before_initialize),
                     ("requests after shutdown -> -32600; exit -> 0", after_shutdown),
                     ("truncated body then EOF -> exit 1, logged", truncated_body_then_eof),
                     ("truncated header then EOF -> exit 1", truncated_header_then_eof),
                     ("shutdown and exit with \"params\": null accepted", shutdown_exit_params_null),
                     ("exit with params {} -> 0", exit_with_params_object),
                     ("1 MB of junk without a header, then a request", garbage_flood_then_valid)]:
        if not only or only in name:
            fresh(name, fn)
    if not only or "skip" in only:
        fresh("oversize body cut by EOF while skipping -> exit 1, logged",
              oversize_then_eof_mid_skip, max_message=4096)
    C.finish()


if __name__ == "__main__":
    main()
