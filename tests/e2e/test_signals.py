#!/usr/bin/env python3
"""Signals: the daemon's own handling of SIGTERM, SIGINT and SIGPIPE.

`sparkd lsp` stops cleanly on SIGTERM/SIGINT, even in the middle of a
completion job: exit status 0 within a few seconds, the job stopped between
two engine steps, the SQLite cache closed and consistent (SQLite's own
integrity check, `sparkd cache stats`, and a restart that reuses it). A
client that stops reading while a job runs makes the daemon exit with 1 when
the reply hits the broken pipe, never die of SIGPIPE.
"""
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lspclient import Checks, Server, Timeout, expect, run_cli, sanitizer_report  # noqa: E402

SRC = os.environ.get("SPARKD_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
C = Checks("test_signals")
TMP = tempfile.mkdtemp(prefix="sparkd-e2e-sig-")
# A random-weight model big enough that one completion over a long prompt
# takes seconds (prefill in 64-token steps, then decode): a signal sent a
# moment after the request lands while the job runs.
MODEL = os.path.join(TMP, "m.gguf")
subprocess.run(["/usr/bin/python3", os.path.join(SRC, "tools", "make_test_model.py"), "--out", MODEL,
                "--dim", "256", "--layers", "4", "--ctx", "4096", "--seed", "3", "--printable"],
               check=True, stdout=subprocess.DEVNULL)
TEXT = "".join(f"def f{i}(x):\n    return x * {i} + {i * i}\n\n" for i in range(900))
URI = "file:///work/sig.py"
STOP_S = 5.0        # a stop must take no longer (a stall detector, not a benchmark)


def start(cache, *extra):
    return Server("--model", MODEL, "--draft", "none", "--cache", cache, "-n", "256", *extra)


def open_doc(s, text=TEXT, uri=URI):
    s.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "plaintext",
                                                        "version": 1, "text": text}})


def ask(s, line, uri=URI):
    return s.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                 "position": {"line": line, "character": 0}})


def job_running(s, settle=0.25):
    """Sends a completion request and waits a moment: the job is then running
    (its answer has not come). Returns the request id. The whole job takes
    ~0.9 s on a quiet 2-core machine (release build), so the moment is short."""
    id_ = ask(s, 2000)
    time.sleep(settle)
    expect(s.pending_stdout() == 0, "the completion was answered before the signal: the model is too fast")
    return id_


def stop_with(s, sig):
    """Sends sig; returns (exit status, seconds to exit)."""
    t0 = time.monotonic()
    s.proc.send_signal(sig)
    try:
        rc = s.wait_exit(timeout=60)
    except Timeout:
        rc = "hang"
    return rc, time.monotonic() - t0


def cache_consistent(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def clean_log(s):
    rep = sanitizer_report(s.stderr_text())
    expect(rep is None, f"sanitizer report: {rep}")


def case_idle(sig, name):
    with start(os.path.join(TMP, f"idle-{name}.sqlite3")) as s:
        s.initialize()
        s.stats()
        rc, dt = stop_with(s, sig)
        C.eq(f"{name} while idle: exit status 0", rc, 0)
        C.ok(f"{name} while idle: exits within {STOP_S} s ({dt:.2f} s)", dt < STOP_S)
        C.ok(f"{name} while idle: logged", f"{name} received: stopping" in s.stderr_text(), s.stderr_text()[-400:])
        C.run(f"{name} while idle: no sanitizer report", clean_log, s)


def case_term_during_job():
    cache = os.path.join(TMP, "kv.sqlite3")
    with start(cache) as s:
        s.initialize()
        open_doc(s)
        ask(s, 1000)                  # a whole job: the cache gets the prompt's KV
        r = s.read_json(timeout=300)
        expect("result" in r, f"first completion failed: {r}")
        s.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": 2}, "contentChanges": [
            {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
             "text": "# edited at the top: the whole prompt is new\n"}]})
        C.run("SIGTERM during a job: the job is running when the signal comes", job_running, s)
        rc, dt = stop_with(s, signal.SIGTERM)
        C.eq("SIGTERM during a job: exit status 0", rc, 0)
        C.ok(f"SIGTERM during a job: exits within {STOP_S} s ({dt:.2f} s)", dt < STOP_S)
        C.run("SIGTERM during a job: no sanitizer report", clean_log, s)
    C.eq("SIGTERM during a job: cache passes SQLite's integrity_check", cache_consistent(cache), "ok")
    rc, out, err = run_cli("cache", "stats", "--cache", cache)
    C.ok("SIGTERM during a job: `sparkd cache stats` reads the cache", rc == 0 and "blocks" in out,
         f"rc {rc}: {out[-300:]} {err[-300:]}")
    with start(cache) as s:          # restart on the same cache: it is reused, not rebuilt
        s.initialize()
        open_doc(s)
        ask(s, 1000)
        r = s.read_json(timeout=300)
        C.ok("after SIGTERM: a restarted daemon answers from the same cache", "result" in r, str(r)[:300])
        log = s.stderr_text()
        C.ok("after SIGTERM: the cache opened without a rebuild",
             "KV cache: " + cache in log and "rebuil" not in log.lower(), log[-600:])


def case_int_during_job():
    with start(os.path.join(TMP, "int.sqlite3")) as s:
        s.initialize()
        open_doc(s)
        C.run("SIGINT during a job: the job is running when the signal comes", job_running, s)
        rc, dt = stop_with(s, signal.SIGINT)
        C.eq("SIGINT during a job: exit status 0", rc, 0)
        C.ok(f"SIGINT during a job: exits within {STOP_S} s ({dt:.2f} s)", dt < STOP_S)


def case_stdout_breaks_during_job():
    """The reader goes away while the engine works: the reply then meets a
    broken pipe. SIGPIPE is ignored, so that is an EPIPE: exit 1, logged."""
    with start(os.path.join(TMP, "pipe.sqlite3")) as s:
        s.initialize()
        open_doc(s)
        s.stats()
        ask(s, 2000)
        time.sleep(0.3)
        s.close_stdout()
        try:
            rc = s.wait_exit(timeout=300)
        except Timeout:
            rc = "hang"
        C.eq("stdout closed during a job: exit status 1 (not killed by SIGPIPE)", rc, 1)
        C.ok("stdout closed during a job: logged", "client is gone" in s.stderr_text(), s.stderr_text()[-400:])


def main():
    case_idle(signal.SIGTERM, "SIGTERM")
    case_idle(signal.SIGINT, "SIGINT")
    case_term_during_job()
    case_int_during_job()
    case_stdout_breaks_during_job()
    C.finish()


if __name__ == "__main__":
    main()
