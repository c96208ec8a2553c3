#!/usr/bin/env python3
"""End-to-end faults: what the world does to `sparkd lsp` that a client does not ask for.

- Output back-pressure: the client stops reading while the daemon has tens
  of MiB to say (its stdout pipe fills: short writes, then EAGAIN). Every
  response must arrive intact and in order once the client drains, and the
  daemon must keep reading input meanwhile.
- A client killed mid-message: half a frame, then both pipes closed. The
  daemon exits by itself with its documented status (1: no shutdown), not
  by a signal.
- The device lost mid-step (wse `fault_after=N`): the engine resets the
  device and starts the request over; every answer equals a fault-free
  run's, and the next completions work.
"""
import json
import os
import re
import select
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lspclient import (TIMEOUT, Checks, Server, expect, frame, notification, request,  # noqa: E402
                       sanitizer_report, sparkd_bin)

SRC = os.environ.get("SPARKD_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
C = Checks("test_faults")
FRAME_RE = re.compile(rb"Content-Length: (\d+)\r\n\r\n")


class RawDaemon:
    """`sparkd lsp` whose stdout is read only when the test says so (the
    shared client drains it at once); stderr is drained in the background."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([sparkd_bin(), "lsp", *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        self.err = bytearray()
        self._t = threading.Thread(target=self._drain_err, daemon=True)
        self._t.start()

    def _drain_err(self):
        for chunk in iter(lambda: os.read(self.proc.stderr.fileno(), 1 << 16), b""):
            self.err.extend(chunk)

    def stderr(self):
        return self.err.decode("utf-8", "replace")

    def wait_stderr(self, pattern, timeout=TIMEOUT):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if re.search(pattern, self.stderr()):
                return True
            time.sleep(0.02)
        return False

    def write_all(self, data, timeout=TIMEOUT):
        """Writes data to the daemon's stdin; False if it stopped reading."""
        fd = self.proc.stdin.fileno()
        os.set_blocking(fd, False)
        view, end = memoryview(data), time.monotonic() + timeout
        while view:
            if time.monotonic() > end:
                return False
            _, w, _ = select.select([], [fd], [], 0.05)
            if w:
                try:
                    view = view[os.write(fd, view):]
                except BlockingIOError:
                    pass
        return True

    def read_frames(self, count, timeout=TIMEOUT):
        """Reads exactly `count` frames from stdout: their JSON bodies."""
        fd, buf, out = self.proc.stdout.fileno(), bytearray(), []
        end = time.monotonic() + timeout
        while len(out) < count:
            m = FRAME_RE.match(buf)
            if m and len(buf) >= m.end() + int(m.group(1)):
                n = m.end() + int(m.group(1))
                out.append(json.loads(bytes(buf[m.end():n])))
                del buf[:n]
                continue
            expect(not buf or b"Content-Length: ".startswith(bytes(buf[:16])) or m,
                   f"garbage on stdout: {bytes(buf[:80])!r}")
            expect(time.monotonic() < end, f"{len(out)} of {count} frames within {timeout} s")
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                chunk = os.read(fd, 1 << 20)
                expect(chunk, f"stdout closed after {len(out)} of {count} frames")
                buf.extend(chunk)
        expect(not buf, f"{len(buf)} bytes after the last frame")
        return out

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def case_backpressure_responses_intact_and_input_still_read():
    """~40 MiB of responses (each echoes a 400 KiB id) while nobody reads."""
    n, idlen = 100, 400 << 10
    d = RawDaemon("--no-engine")
    try:
        expect(d.write_all(frame(request(1, "initialize", {"capabilities": {}}))), "initialize not taken")
        init = d.read_frames(1)[0]
        expect(init.get("id") == 1 and "result" in init, init)
        d.write_all(frame(notification("initialized", {})))
        ids = [f"{i:06d}-" + "x" * idlen for i in range(n)]
        flood = b"".join(frame(request(i, "sparkd/noSuchMethod")) for i in ids)
        expect(d.write_all(flood, timeout=120), "the daemon stopped reading while its output was full")
        # stdout is full now (64 KiB pipe); the daemon must still read and handle
        # input: a bad frame is logged at once
        d.write_all(b"Content-Length: x\r\n\r\n")
        expect(d.wait_stderr(r"bad frame"), "input not handled while output was blocked")
        time.sleep(0.5)
        expect(d.proc.poll() is None, "the daemon died while its output was full")
        d.write_all(frame(request(2, "shutdown")))
        got = d.read_frames(n + 1, timeout=120)
        for i, r in enumerate(got[:n]):
            expect(r.get("id") == ids[i], f"response {i}: id {str(r.get('id'))[:12]}..., in order")
            expect(r.get("error", {}).get("code") == -32601, f"response {i}: {str(r)[:120]}")
        expect(got[n].get("id") == 2 and "result" in got[n], got[n])
        d.write_all(frame(notification("exit")))
        expect(d.proc.wait(timeout=TIMEOUT) == 0, f"exit status {d.proc.returncode}")
        expect(not sanitizer_report(d.stderr()), sanitizer_report(d.stderr()))
    finally:
        d.close()


def case_stuck_client_is_given_up():
    """A client that never reads its replies: beyond 16 x max_message unread
    the daemon says why and exits 1 rather than queueing without bound."""
    d = RawDaemon("--no-engine", "--max-message", str(1 << 20))     # limit: 16 MiB
    try:
        d.write_all(frame(request(1, "initialize", {"capabilities": {}})))
        d.read_frames(1)
        flood = b"".join(frame(request(f"{i:06d}-" + "x" * (400 << 10), "sparkd/noSuchMethod")) for i in range(60))
        try:
            d.write_all(flood, timeout=120)
        except BrokenPipeError:     # it gave up on us part-way: that is the point
            pass
        expect(d.wait_stderr(r"has not read \d+ MiB of replies"), "no error for the stuck client")
        expect(d.proc.wait(timeout=TIMEOUT) == 1, f"exit status {d.proc.returncode}")
        expect(not sanitizer_report(d.stderr()), sanitizer_report(d.stderr()))
    finally:
        d.close()


def killed_mid_message(also_stdout):
    d = RawDaemon("--no-engine")
    try:
        d.write_all(frame(request(1, "initialize", {"capabilities": {}})))
        d.read_frames(1)
        body = json.dumps(request(3, "sparkd/stats")).encode()
        d.write_all(b"Content-Length: %d\r\n\r\n" % len(body) + body[:len(body) // 2])
        if also_stdout:
            d.proc.stdout.close()
        d.proc.stdin.close()
        rc = d.proc.wait(timeout=TIMEOUT)
        expect(rc == 1, f"exit status {rc} (want 1: input ended before shutdown)")
        d._t.join(TIMEOUT)
        expect("input ended inside a message" in d.stderr(), d.stderr()[-400:])
        expect(not sanitizer_report(d.stderr()), sanitizer_report(d.stderr()))
    finally:
        d.close()


# ---------------------------------------------------------------- device faults

TMP = tempfile.mkdtemp(prefix="sparkd-e2e-faults-")
MODEL = os.path.join(TMP, "m.gguf")
URI = "file:///work/demo.txt"
TEXT = "def add(a, b):\n    return a + b\n\ndef mul(a, b):\n    \n\nprint(add(1, 2))\n"
PLACES = [(4, 4), (1, 4), (6, 0), (3, 0), (1, 10), (0, 8)]


def completions(device):
    """Answers (text or the empty reason) at PLACES, and the daemon's log
    (with a last line "device_resets N" from sparkd/stats)."""
    with Server("--model", MODEL, "--draft", "none", "--device", device, "--no-cache",
                "--debounce-ms", "0") as s:
        s.initialize({"capabilities": {"textDocument": {"inlineCompletion": {}}}})
        s.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "plaintext",
                                                            "version": 1, "text": TEXT}})
        out = []
        for line, ch in PLACES:
            r = s.call("textDocument/inlineCompletion", {
                "textDocument": {"uri": URI}, "position": {"line": line, "character": ch},
                "context": {"triggerKind": 1}}, timeout=120)
            expect("result" in r, f"an error response: {r}")
            items = r["result"].get("items", [])
            out.append(items[0]["insertText"] if items else "")
        resets = s.stats().get("device_resets")
        s.call("shutdown")
        s.notify("exit")
        expect(s.wait_exit() == 0, "exit status")
        log = s.stderr_text()
        expect(not sanitizer_report(log), sanitizer_report(log))
        return out, log + f"\ndevice_resets {resets}"


def case_device_fault_mid_step_is_recovered():
    want, log = completions("wse")
    expect("device fault" not in log and log.endswith("device_resets 0"), "a fault without fault_after")
    expect(any(want), f"the model said nothing at {len(PLACES)} places: {want}")
    # early in the first prefill, inside decoding, and in a later request
    for n in (3, 400, 2500):
        got, log = completions(f"wse:fault_after={n}")
        expect("device fault during a completion" in log, f"fault_after={n} never fired")
        expect(log.endswith("device_resets 1"), f"fault_after={n}: sparkd/stats device_resets: {log[-40:]}")
        expect(got == want, f"fault_after={n}: {got} != fault-free {want}")


def main():
    subprocess.run(["/usr/bin/python3", os.path.join(SRC, "tools", "make_test_model.py"), "--out", MODEL,
                    "--dim", "64", "--layers", "2", "--seed", "11", "--printable"], check=True)
    C.run("backpressure: 40 MiB unread, responses intact and in order, input still read",
          case_backpressure_responses_intact_and_input_still_read)
    C.run("a client that never reads: given up past 16 x max_message, exit 1", case_stuck_client_is_given_up)
    C.run("client killed mid-message (stdin closed): exit 1, no signal", killed_mid_message, False)
    C.run("client killed mid-message (both pipes closed): exit 1, no signal", killed_mid_message, True)
    C.run("device lost mid-step: reset, request started over, same answers",
          case_device_fault_mid_step_is_recovered)
    C.finish()


if __name__ == "__main__":
    main()
