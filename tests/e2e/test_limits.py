#!/usr/bin/env python3
"""Limits and hostile input: the sandbox of the running daemon, the resource
limits on open documents, and documents no editor should send but some do
(a 1 MB line, a 50 MB file, binary bytes).

- sandbox: `sparkd lsp` runs under a seccomp filter (/proc/PID/status says
  `Seccomp: 2`) and says so in its log; --no-sandbox turns it off.
- limits: max_open_documents and max_open_bytes, from the command line, the
  client's initializationOptions or didChangeConfiguration; an open or a
  change over a limit is refused with an error window/showMessage naming the
  limit and its setting, the documents stay as they were, and the daemon
  keeps serving. Invalid values are rejected naming the key and the range.
- huge and binary documents: completions on them answer within STALL_S.
"""
import os
import random
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lspclient import Checks, Server, expect, frame, run_cli, sanitizer_report, sparkd_bin  # noqa: E402

SRC = os.environ.get("SPARKD_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
C = Checks("test_limits")
TMP = tempfile.mkdtemp(prefix="sparkd-e2e-lim-")
MODEL = os.path.join(TMP, "m.gguf")
subprocess.run(["/usr/bin/python3", os.path.join(SRC, "tools", "make_test_model.py"), "--out", MODEL,
                "--dim", "64", "--layers", "2", "--seed", "11", "--printable"], check=True,
               stdout=subprocess.DEVNULL)


def sanitized(binary):
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read()


# A completion must answer within this: a stall detector, not a benchmark
# (the ASan build runs unoptimised, beside other suites, on 2 cores).
STALL_S = 15.0 if sanitized(sparkd_bin()) else 5.0


def doc(s, uri, text, version=1, language="plaintext"):
    s.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": language,
                                                        "version": version, "text": text}})


def change(s, uri, version, line, ch, text):
    s.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [
        {"range": {"start": {"line": line, "character": ch}, "end": {"line": line, "character": ch}},
         "text": text}]})


def complete(s, uri, line, ch, timeout=300):
    return s.call("textDocument/completion", {"textDocument": {"uri": uri},
                                              "position": {"line": line, "character": ch}}, timeout=timeout)


def next_message(s):
    """The next message, whatever it is (notifications included)."""
    return s.read_json(skip_notifications=())


def show_message(s):
    """Reads up to the sparkd/stats answer; returns (window/showMessage
    notifications before it, the stats)."""
    id_ = s.request("sparkd/stats")
    shown = []
    while True:
        m = next_message(s)
        if m.get("method") == "window/showMessage":
            shown.append(m["params"])
        elif m.get("id") == id_:
            return shown, m["result"]


def clean_log(s):
    rep = sanitizer_report(s.stderr_text())
    expect(rep is None, f"sanitizer report: {rep}")


# ---------------------------------------------------------------- sandbox

def seccomp_mode(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Seccomp:"):
                return int(line.split()[1])
    return None


def case_sandbox():
    with Server("--model", MODEL, "--draft", "none", "--no-cache") as s:
        s.initialize()
        s.stats()
        C.eq("sandbox: the running `sparkd lsp` is under a seccomp filter (Seccomp: 2)", seccomp_mode(s.proc.pid), 2)
        try:    # stderr is read by a thread: wait for the line rather than race it
            s.wait_stderr(r"sandbox: on \(seccomp: socket, execve", timeout=5)
        except Exception:
            pass
        C.ok("sandbox: logged at start-up", re.search(r"sandbox: on \(seccomp: socket, execve", s.stderr_text()),
             s.stderr_text()[:400])
        doc(s, "file:///w/a.py", "def f(x):\n    return x\n")
        r = complete(s, "file:///w/a.py", 1, 4)
        C.ok("sandbox: the engine loads and answers under the filter", "result" in r and
             "error" not in s.stats()["model"].lower(), str(r)[:300])
    with Server("--no-sandbox", "--no-engine") as s:
        s.initialize()
        s.stats()
        C.eq("--no-sandbox: no seccomp filter (Seccomp: 0)", seccomp_mode(s.proc.pid), 0)
        C.ok("--no-sandbox: logged", "sandbox: off (--no-sandbox)" in s.stderr_text(), s.stderr_text()[:400])


# ---------------------------------------------------------------- limits

def case_invalid_values():
    for args, want in [(["--max-open-documents", "0"], "max_open_documents must be between 1 and 1000000"),
                       (["--max-open-bytes", "12"], "max_open_bytes must be between 1024 and 1099511627776"),
                       (["--max-open-bytes", "lots"], "max_open_bytes must be a number, not 'lots'")]:
        rc, _, err = run_cli("lsp", *args)
        C.ok(f"cli lsp {' '.join(args)}: exit 2 naming the key and range", rc == 2 and want in err,
             f"rc {rc}: {err[-300:]}")
    with Server("--no-engine") as s:
        s.initialize({"initializationOptions": {"max_open_documents": -5, "max_open_bytes": "big"}})
        s.notify("workspace/didChangeConfiguration", {"settings": {"sparkd": {"max_open_documents": 10**9}}})
        log, _ = s.sync_stderr()
        cfg = s.stats()["config"]
        C.ok("initializationOptions: invalid limits rejected naming key and range",
             "max_open_documents must be between 1 and 1000000" in log and "max_open_bytes must be a number" in log,
             log[-600:])
        C.ok("invalid limits: the defaults stay", cfg["max_open_documents"] == 1000 and
             cfg["max_open_bytes"] == 512 << 20, str(cfg))


def case_max_open_documents():
    with Server("--no-engine", "--max-open-documents", "3") as s:
        s.initialize()
        for i in range(3):
            doc(s, f"file:///w/{i}.txt", f"doc {i}\n")
        shown, st = show_message(s)
        C.ok("max_open_documents=3: three documents open without a message", not shown and st["documents"] == 3,
             f"{shown} {st['documents']}")
        doc(s, "file:///w/3.txt", "one too many\n")
        shown, st = show_message(s)
        C.ok("4th didOpen: refused with an error window/showMessage naming the limit and the setting",
             len(shown) == 1 and shown[0]["type"] == 1 and "max_open_documents" in shown[0]["message"]
             and "--max-open-documents" in shown[0]["message"], str(shown))
        C.eq("4th didOpen: still 3 documents, the same bytes", (st["documents"], st["document_bytes"]), (3, 18))
        r = complete(s, "file:///w/3.txt", 0, 0)
        C.ok("4th didOpen: the refused document is not open", r.get("error", {}).get("code") == -32602, str(r))
        doc(s, "file:///w/1.txt", "reopened: replaces the text\n", version=2)
        shown, st = show_message(s)
        C.ok("at the limit: reopening an open document is allowed", not shown and st["documents"] == 3, str(shown))
        s.notify("textDocument/didClose", {"textDocument": {"uri": "file:///w/0.txt"}})
        doc(s, "file:///w/3.txt", "now it fits\n")
        shown, st = show_message(s)
        C.ok("after a didClose the 4th opens", not shown and st["documents"] == 3, str(shown))
        C.run("max_open_documents: no sanitizer report", clean_log, s)


def case_max_open_bytes():
    big = "x" * 2999 + "\n"
    with Server("--model", MODEL, "--draft", "none", "--no-cache") as s:
        s.initialize({"initializationOptions": {"sparkd": {"max_open_bytes": 4096}}})
        doc(s, "file:///w/a.txt", big)
        shown, st = show_message(s)
        C.ok("max_open_bytes=4096: a 3000-byte document opens", not shown and st["document_bytes"] == 3000, str(shown))
        doc(s, "file:///w/b.txt", "y" * 2000)
        shown, st = show_message(s)
        C.ok("didOpen over max_open_bytes: refused with an error window/showMessage naming the setting",
             len(shown) == 1 and shown[0]["type"] == 1 and "max_open_bytes" in shown[0]["message"], str(shown))
        C.eq("didOpen over max_open_bytes: documents unchanged", (st["documents"], st["document_bytes"]), (1, 3000))

        change(s, "file:///w/a.txt", 2, 0, 0, "z" * 1200)
        shown, st = show_message(s)
        C.ok("didChange over max_open_bytes: refused with an error window/showMessage",
             len(shown) == 1 and shown[0]["type"] == 1 and "max_open_bytes" in shown[0]["message"]
             and "reopen" in shown[0]["message"], str(shown))
        C.eq("didChange over max_open_bytes: the text is unchanged", st["document_bytes"], 3000)
        r = complete(s, "file:///w/a.txt", 0, 5)
        C.ok("after a refused change: completions on the stale document are empty, not errors",
             r.get("result", {}).get("items") == [], str(r)[:300])
        reasons = s.stats()["completions"].get("empty_reasons", {})
        C.ok("after a refused change: the empty answer's reason is counted",
             any("out of sync" in k for k in reasons), str(reasons))

        s.notify("workspace/didChangeConfiguration", {"settings": {"max_open_bytes": 1 << 20}})
        doc(s, "file:///w/a.txt", big, version=3)       # the editor reopens it
        change(s, "file:///w/a.txt", 4, 0, 0, "z" * 1200)
        doc(s, "file:///w/b.txt", "y" * 2000)
        shown, st = show_message(s)
        C.ok("didChangeConfiguration raises max_open_bytes: the change and the open fit",
             not shown and st["document_bytes"] == 3000 + 1200 + 2000, f"{shown} {st['document_bytes']}")
        r = complete(s, "file:///w/a.txt", 0, 5)
        C.ok("reopened: completions work again", "result" in r, str(r)[:300])
        C.run("max_open_bytes: no sanitizer report", clean_log, s)


# ---------------------------------------------------------------- huge and binary documents

def timed_completions(s, name, uri, places):
    """Completion requests at places; each must answer (result) within STALL_S."""
    for line, ch in places:
        t0 = time.monotonic()
        r = complete(s, uri, line, ch)
        dt = time.monotonic() - t0
        C.ok(f"{name}: completion at {line}:{ch} answers within {STALL_S} s ({dt:.2f} s)",
             "result" in r and dt < STALL_S, str(r)[:200])


def case_huge_and_binary():
    rnd = random.Random(5)
    long_line = ("data = [" + ", ".join(str(rnd.randrange(10**6)) for _ in range(150000)))[:1 << 20] + "]\n"
    src = open(os.path.join(SRC, "examples", "mean.py")).read() if os.path.exists(
        os.path.join(SRC, "examples", "mean.py")) else "def mean(xs):\n    return sum(xs) / len(xs)\n"
    huge = (src * ((50 << 20) // len(src) + 1))[:50 << 20]
    huge_lines = huge.count("\n")
    # what an editor sends for a binary file: every byte as a code point, NULs included
    binary = bytes(rnd.randrange(256) for _ in range(300000)).decode("latin-1")
    with Server("--model", MODEL, "--draft", "none", "--no-cache") as s:
        s.initialize()
        doc(s, "file:///w/long.py", long_line, language="python")
        s.stats()
        timed_completions(s, "1 MB single line", "file:///w/long.py", [(0, 500000), (0, len(long_line) - 1), (1, 0)])
        change(s, "file:///w/long.py", 2, 0, 400000, "x")
        timed_completions(s, "1 MB single line after an edit in it", "file:///w/long.py", [(0, 400001)])

        t0 = time.monotonic()
        doc(s, "file:///w/huge.py", huge, language="python")
        st = s.stats()
        C.ok(f"50 MB file: opened ({time.monotonic() - t0:.1f} s)", st["document_bytes"] == len(long_line) + 1 + len(huge),
             str(st["document_bytes"]))
        timed_completions(s, "50 MB file", "file:///w/huge.py", [(10, 4), (huge_lines // 2, 0), (huge_lines, 0)])
        change(s, "file:///w/huge.py", 2, huge_lines // 2, 0, "value = ")
        timed_completions(s, "50 MB file after an edit", "file:///w/huge.py", [(huge_lines // 2, 8)])
        s.notify("textDocument/didClose", {"textDocument": {"uri": "file:///w/huge.py"}})

        for lang in ("plaintext", "c"):
            uri = f"file:///w/blob.{lang}"
            doc(s, uri, binary, language=lang)
            s.stats()
            timed_completions(s, f"binary document ({lang})", uri, [(3, 2), (200, 0), (10**6, 0)])
        # raw invalid UTF-8 is not JSON: refused as a parse error, and the daemon goes on
        body = (b'{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"file:///w/raw",'
                b'"languageId":"c","version":1,"text":"\xff\xfe\x00\xc3(binary"}}}')
        s.send_raw(frame(body))
        m = next_message(s)
        C.eq("raw invalid UTF-8 in a body: a -32700 parse error", m.get("error", {}).get("code"), -32700)
        C.ok("raw invalid UTF-8 in a body: still serving", "documents" in s.stats())
        C.run("huge and binary documents: no sanitizer report", clean_log, s)


def main():
    case_sandbox()
    case_invalid_values()
    case_max_open_documents()
    case_max_open_bytes()
    case_huge_and_binary()
    C.finish()


if __name__ == "__main__":
    main()
