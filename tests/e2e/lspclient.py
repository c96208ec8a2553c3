"""lspclient.py — a tiny LSP client for sparkd's end-to-end tests (stdlib only).

It starts the real binary ($SPARKD_BIN) as a child process over pipes, exactly
as an editor does, and talks raw bytes to it: the tests decide what goes on
the wire (good frames, broken frames, any split), and read back whole frames
with a timeout. stdout and stderr are drained by background threads so the
child can never block on a full pipe; stderr is kept whole for log checks.

Timeouts are generous on purpose: the same tests run against the ASan+UBSan
binary on a loaded 2-core machine. Nothing here depends on timing except
"did it happen within N seconds".
"""
import json
import os
import re
import select
import subprocess
import sys
import threading
import time

TIMEOUT = float(os.environ.get("SPARKD_E2E_TIMEOUT", "30"))   # seconds per wait
# At the end of a `with Server(...)`, give sparkd this long to exit on EOF
# before killing it (tests/valgrind.sh: memcheck's leak check runs at exit).
GRACEFUL_S = float(os.environ.get("SPARKD_E2E_GRACEFUL_EXIT", "0"))
HEADER_RE = re.compile(rb"Content-Length: (\d+)\r\n\r\n")


def sparkd_bin():
    b = os.environ.get("SPARKD_BIN")
    if not b:
        sys.exit("SPARKD_BIN is not set (meson test sets it; or SPARKD_BIN=build-e2e/sparkd)")
    if not os.access(b, os.X_OK):
        sys.exit(f"SPARKD_BIN={b} is not an executable file")
    return b


def frame(body):
    """Frames a body (bytes, str or a JSON-able object) with a Content-Length header."""
    if not isinstance(body, (bytes, bytearray)):
        if not isinstance(body, str):
            body = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        body = body.encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + bytes(body)


def request(id_, method, params=None):
    m = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        m["params"] = params
    return m


def notification(method, params=None):
    m = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        m["params"] = params
    return m


def run_cli(*args, timeout=TIMEOUT):
    """Runs `sparkd ARGS` to completion: (exit status, stdout text, stderr text)."""
    p = subprocess.run([sparkd_bin(), *args], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


class ProtocolError(Exception):
    """The server sent bytes that are not a well-formed frame."""


class Timeout(Exception):
    pass


class Message:
    """One frame read from the server: raw header and body bytes, and the JSON."""

    def __init__(self, header, body):
        self.header = header
        self.body = body
        self.json = json.loads(body.decode("utf-8"))

    def __repr__(self):
        return f"Message({self.body[:300]!r})"


class Server:
    """A running `sparkd lsp` child. Use as a context manager (kills on exit)."""

    def __init__(self, *args, binary=None, env=None):
        self.argv = [binary or sparkd_bin(), "lsp", *args]
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, bufsize=0, env=env)
        self.started = time.monotonic()
        self._out = bytearray()
        self._err = bytearray()
        self._cv = threading.Condition()
        self._out_eof = False
        self._stop = threading.Event()
        self._next_id = 1000
        self._t_out = threading.Thread(target=self._pump, args=(self.proc.stdout, self._out, "out"),
                                       daemon=True)
        self._t_err = threading.Thread(target=self._pump, args=(self.proc.stderr, self._err, "err"),
                                       daemon=True)
        self._t_out.start()
        self._t_err.start()

    # ------------------------------------------------------------ plumbing

    def _pump(self, f, buf, which):
        fd = f.fileno()
        while not self._stop.is_set() or which == "err":
            r, _, _ = select.select([fd], [], [], 0.05)
            if not r:
                if which == "out" and self._stop.is_set():
                    return
                continue
            chunk = os.read(fd, 1 << 16)
            with self._cv:
                if not chunk:
                    if which == "out":
                        self._out_eof = True
                    self._cv.notify_all()
                    return
                buf.extend(chunk)
                self._cv.notify_all()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if GRACEFUL_S > 0 and self.proc.poll() is None:
            self.close_stdin()
            try:
                self.proc.wait(timeout=GRACEFUL_S)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for t in (self._t_out, self._t_err):
            t.join(timeout=5)

    def new_id(self):
        self._next_id += 1
        return self._next_id

    # ------------------------------------------------------------ writing

    def send_raw(self, data, chunk=None, pause=0.0):
        """Writes bytes to the server's stdin; chunk=N splits them into writes
        of N bytes with `pause` seconds between writes."""
        data = bytes(data)
        step = chunk or len(data) or 1
        for i in range(0, len(data), step):
            view = memoryview(data)[i:i + step]
            while view:
                n = self.proc.stdin.write(view)
                view = view[n:]
            if pause:
                time.sleep(pause)

    def send(self, msg, **kw):
        self.send_raw(frame(msg), **kw)

    def request(self, method, params=None, id_=None):
        """Sends a request; returns its id."""
        id_ = self.new_id() if id_ is None else id_
        self.send(request(id_, method, params))
        return id_

    def notify(self, method, params=None):
        self.send(notification(method, params))

    def close_stdin(self):
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass

    def close_stdout(self):
        """Stops reading stdout and closes our end: the client is gone."""
        self._stop.set()
        self._t_out.join(timeout=5)
        self.proc.stdout.close()

    # ------------------------------------------------------------ reading

    def read_message(self, timeout=TIMEOUT):
        """Next frame from stdout. Raises Timeout, or ProtocolError on bad bytes/EOF."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                m = HEADER_RE.match(self._out)
                if m:
                    n = int(m.group(1))
                    end = m.end() + n
                    if len(self._out) >= end:
                        header, body = bytes(self._out[:m.end()]), bytes(self._out[m.end():end])
                        del self._out[:end]
                        return Message(header, body)
                elif len(self._out) >= 40 or (self._out and not b"Content-Length: ".startswith(
                        bytes(self._out[:16]))):
                    raise ProtocolError(f"bad frame header from server: {bytes(self._out[:80])!r}")
                if self._out_eof:
                    raise ProtocolError(f"server closed stdout ({len(self._out)} bytes left over)")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Timeout(f"no complete message within {timeout}s "
                                  f"({len(self._out)} bytes buffered)")
                self._cv.wait(left)

    def read_json(self, timeout=TIMEOUT, skip_notifications=("$/logTrace",)):
        """Next message's JSON, skipping notifications whose method is listed."""
        while True:
            m = self.read_message(timeout)
            if m.json.get("method") in skip_notifications and "id" not in m.json:
                continue
            return m.json

    def pending_stdout(self):
        with self._cv:
            return len(self._out)

    def call(self, method, params=None, timeout=TIMEOUT):
        """Request and its response (the next message must be that response)."""
        id_ = self.request(method, params)
        msg = self.read_json(timeout)
        if msg.get("id") != id_:
            raise ProtocolError(f"expected the response to id {id_}, got {msg}")
        return msg

    def stats(self):
        msg = self.call("sparkd/stats")
        if "result" not in msg:
            raise ProtocolError(f"sparkd/stats failed: {msg}")
        return msg["result"]

    def initialize(self, params=None):
        p = {"processId": os.getpid(), "rootUri": None, "capabilities": {},
             "clientInfo": {"name": "sparkd-e2e", "version": "1"}}
        if params:
            p.update(params)
        r = self.call("initialize", p)
        if "result" not in r:
            raise ProtocolError(f"initialize failed: {r}")
        self.notify("initialized", {})
        return r["result"]

    # ------------------------------------------------------------ stderr

    def stderr_text(self):
        with self._cv:
            return self._err.decode("utf-8", "replace")

    def stderr_len(self):
        with self._cv:
            return len(self._err)

    def wait_stderr(self, pattern, start=0, timeout=TIMEOUT):
        """Waits until regex `pattern` occurs in stderr at or after byte `start`;
        returns the match end offset. Raises Timeout."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                m = rx.search(self._err, start)
                if m:
                    return m.end()
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._t_err.is_alive()):
                    raise Timeout(f"{pattern!r} not in stderr within {timeout}s")
                self._cv.wait(min(left, 0.2))

    _marker = 0

    def sync_stderr(self, start=0):
        """Makes the server log a unique line and waits for it: everything the
        server logged before is then in stderr_text(). Costs one notification
        (an unknown one, logged as a warning). Returns (log text since start,
        offset just past the marker)."""
        Server._marker += 1
        name = f"e2e/marker/{os.getpid()}/{Server._marker}"
        self.notify(name)
        end = self.wait_stderr(re.escape(f"ignored unknown notification '{name}'"), start)
        with self._cv:
            return self._err[start:end].decode("utf-8", "replace"), end

    # ------------------------------------------------------------ exit

    def wait_exit(self, timeout=TIMEOUT):
        """Exit status, or raises Timeout (the child is left running)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Timeout(f"server still running after {timeout}s") from None


# ---------------------------------------------------------------- UTF-16 document model

def split_lines(text):
    """Lines of text as LSP sees them: (content, terminator) pairs, breaks at
    \\r\\n, \\n and a lone \\r. Always at least one line."""
    out, i, start = [], 0, 0
    while i < len(text):
        c = text[i]
        if c == "\n" or c == "\r":
            term = "\r\n" if text.startswith("\r\n", i) else c
            out.append((text[start:i], term))
            i += len(term)
            start = i
        else:
            i += 1
    out.append((text[start:], ""))
    return out


def units(s, enc="utf-16"):
    if enc == "utf-16":
        return len(s.encode("utf-16-le")) // 2
    if enc == "utf-8":
        return len(s.encode("utf-8"))
    return len(s)


def col_to_index(content, col, enc="utf-16"):
    """Python index in a line for column col: clamped to the end, moved back to
    the start of a character it falls inside. Returns (index, clamped)."""
    u = 0
    for i, ch in enumerate(content):
        w = units(ch, enc)
        if col < u + w:
            return i, False
        u += w
    return len(content), col > u


class DocModel:
    """What the server's copy of a document must hold, edited the same way."""

    def __init__(self, text, enc="utf-16"):
        self.text, self.enc = text, enc

    def offset(self, line, col):
        lines = split_lines(self.text)
        if line >= len(lines):
            return len(self.text), True
        off = sum(len(c) + len(t) for c, t in lines[:line])
        i, clamped = col_to_index(lines[line][0], col, self.enc)
        return off + i, clamped

    def apply(self, change):
        """Applies one contentChanges entry; returns whether it was clamped."""
        if "range" not in change:
            self.text = change["text"]
            return False
        r = change["range"]
        a, k0 = self.offset(r["start"]["line"], r["start"]["character"])
        b, k1 = self.offset(r["end"]["line"], r["end"]["character"])
        self.text = self.text[:a] + change["text"] + self.text[max(a, b):]
        return k0 or k1

    def line_units(self):
        return [units(c, self.enc) for c, _ in split_lines(self.text)]


def rng(l0, c0, l1, c1):
    return {"start": {"line": l0, "character": c0}, "end": {"line": l1, "character": c1}}


def edit(l0, c0, l1, c1, text):
    return {"range": rng(l0, c0, l1, c1), "text": text}


def probe_changes(line_units):
    """No-op contentChanges that reveal the server's line structure: for line
    i of length n, a probe at (i, n) must not be clamped and one at (i, n+1)
    must; a probe at (len(lines), 0) must be clamped (past the last line).
    Returns (changes, indexes expected to be reported as clamped)."""
    changes, clamped = [], set()
    for i, n in enumerate(line_units):
        changes.append(edit(i, n, i, n, ""))
        changes.append(edit(i, n + 1, i, n + 1, ""))
        clamped.add(2 * i + 1)
    changes.append(edit(len(line_units), 0, len(line_units), 0, ""))
    clamped.add(len(changes) - 1)
    return changes, clamped


CLAMP_RE = re.compile(r"didChange (\S+): contentChanges\[(\d+)\] range is past the end")


def clamped_indexes(log, uri):
    return {int(m.group(2)) for m in CLAMP_RE.finditer(log) if m.group(1) == uri}


# ---------------------------------------------------------------- reporting

class Checks:
    """One line per check, a final 'N passed, N failed' line, exit status."""

    def __init__(self, suite):
        self.suite, self.passed, self.failed, self.xfailed = suite, 0, 0, 0
        self.failures = []

    def ok(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            print(f"ok   {name}", flush=True)
        else:
            self.failed += 1
            self.failures.append(name)
            print(f"FAIL {name}{': ' + detail if detail else ''}", flush=True)
        return cond

    def eq(self, name, got, want):
        return self.ok(name, got == want, f"got {got!r}, want {want!r}")

    def run(self, name, fn, *args, xfail=None):
        """Runs a check function that raises AssertionError/Timeout/... on failure.
        xfail: a reason (TODO) when the case is a known server bug."""
        try:
            fn(*args)
        except Exception as e:   # noqa: BLE001 - every failure is reported, then counted
            detail = f"{type(e).__name__}: {e}"
            if xfail:
                self.xfailed += 1
                print(f"xfail {name}: {detail} [TODO: {xfail}]", flush=True)
                return False
            self.failed += 1
            self.failures.append(name)
            print(f"FAIL {name}: {detail}", flush=True)
            return False
        if xfail:
            self.failed += 1
            self.failures.append(name)
            print(f"FAIL {name}: passed but marked xfail ({xfail}); remove the mark", flush=True)
            return False
        self.passed += 1
        print(f"ok   {name}", flush=True)
        return True

    def finish(self):
        extra = f", {self.xfailed} expected failures" if self.xfailed else ""
        print(f"{self.suite}: {self.passed} passed, {self.failed} failed{extra}", flush=True)
        if self.failures:
            print("failed: " + ", ".join(self.failures), flush=True)
        sys.exit(1 if self.failed else 0)


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def sanitizer_report(text):
    """The first sanitizer/leak report line in a log, or None."""
    m = re.search(r"^.*(AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:).*$",
                  text, re.M)
    return m.group(0) if m else None
