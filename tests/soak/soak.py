#!/usr/bin/env python3
"""soak.py — hours of editing, compressed: typing sessions replayed through
`sparkd lsp` over pipes, with cancels, malformed messages and restarts mixed
in, while the daemon's memory is watched.

Documents are real source files (the Python standard library, the repo's own
C, examples/). Each keystroke is an incremental didChange and an
inlineCompletion or completion request, as an editor sends them; some
requests are cancelled at random; now and then a malformed message (bad JSON,
bad headers, an unknown method, invalid params), a stats request, a
configuration change, or a document closed and another opened. Every
RESTART_S the daemon is stopped (shutdown+exit, SIGTERM, or EOF, in turn) and
started again on the same KV cache file.

Checked, all must be 0: error responses to valid requests (a cancelled
request may answer -32800), lost responses (a request not answered within
--reply-timeout), mis-ranged completions (every range must be valid UTF-16
positions, start <= end, in the document as it was when the request was
sent), unexpected exit statuses, sanitizer reports. Reported: the slope of
the daemon's RSS in KB/min, a least-squares fit within each daemon lifetime
(one slope, each lifetime its own intercept), after each lifetime's warm-up
(a quarter of it), for VmRSS and for RssAnon (heap: where leaks show; the
rest is mostly the mmap'd model's pages as they are first touched).
The KV cache's in-memory tier is capped at --cache-mem (16M) so that it is
full after the warm-up: growth up to a cap is caching, not a leak.

    tests/soak/soak.py --minutes 10                 # the long run: bench/results/soak.json
    tests/soak/soak.py --seconds 40 --out /tmp/s.json --model test   # the smoke (meson test)

--model test writes a tiny random-weight model (fast under ASan); the default
is the bundled models. Exit status 1 when a check failed, else 0.
"""
import argparse
import glob
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("SPARKD_SRC", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "e2e"))
from lspclient import ProtocolError, Server, Timeout, frame, notification, sanitizer_report  # noqa: E402

LANGS = {".py": "python", ".c": "c", ".h": "c", ".js": "javascript", ".sh": "shellscript", ".lua": "lua"}
MAX_DOC_BYTES = 120_000
OPEN_DOCS = 6


# ---------------------------------------------------------------- text and positions

def u16(s):
    return len(s.encode("utf-16-le")) // 2


def position(text, i):
    """LSP position (UTF-16) of Python index i; the corpus has only \\n breaks."""
    line = text.count("\n", 0, i)
    start = text.rfind("\n", 0, i) + 1
    return {"line": line, "character": u16(text[start:i])}


def valid_position(text, p):
    """p is a position in text: an existing line, a column inside it, not
    between the two halves of a surrogate pair."""
    if not isinstance(p, dict) or not isinstance(p.get("line"), int) or not isinstance(p.get("character"), int):
        return False
    lines = text.split("\n")
    if not 0 <= p["line"] < len(lines) or p["character"] < 0:
        return False
    col = 0
    for ch in lines[p["line"]]:
        if col == p["character"]:
            return True
        col += 2 if ord(ch) > 0xFFFF else 1
        if col > p["character"]:
            return False
    return col == p["character"]


def before(a, b):
    return (a["line"], a["character"]) <= (b["line"], b["character"])


def load_corpus(rnd, n):
    paths = sorted(glob.glob("/usr/lib/python3.11/*.py") + glob.glob(os.path.join(SRC, "examples", "*")) +
                   glob.glob(os.path.join(SRC, "server", "*.c")) + glob.glob(os.path.join(SRC, "protocol", "*.c")))
    rnd.shuffle(paths)
    docs = []
    for p in paths:
        ext = os.path.splitext(p)[1]
        if ext not in LANGS and ext:
            continue
        try:
            with open(p, encoding="utf-8") as f:
                text = f.read().replace("\r\n", "\n").replace("\r", "\n")
        except (OSError, UnicodeDecodeError):
            continue
        if 200 <= len(text.encode()) <= MAX_DOC_BYTES:
            docs.append((p, LANGS.get(ext, "plaintext"), text))
        if len(docs) >= n:
            break
    if not docs:
        sys.exit("soak: no source files found for the corpus")
    return docs


# ---------------------------------------------------------------- one daemon lifetime

class Session:
    """A running daemon, its open documents, and the requests awaiting answers."""

    def __init__(self, args, stats, cache, seg):
        extra = ["--cache", cache, "--cache-mem", args.cache_mem, *args.daemon_args]
        if args.model_path:
            extra += ["--model", args.model_path, "--draft", "none"]
        self.srv = Server(*extra, binary=args.bin)
        self.stats, self.args, self.seg = stats, args, seg
        self.docs = {}          # uri -> [text, version, language]
        self.pending = {}       # id -> (kind, sent time, uri, text snapshot, cursor)
        self.null_errors_expected = 0

    # -------------------------------------------------------- writing

    def send_request(self, method, params, kind, uri=None, cursor=None):
        id_ = self.srv.request(method, params)
        snap = self.docs[uri][0] if uri else None
        self.pending[id_] = (kind, time.monotonic(), uri, snap, cursor)
        self.stats["requests"] += 1
        return id_

    def open(self, uri, lang, text):
        self.docs[uri] = [text, 1, lang]
        self.srv.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": lang,
                                                                   "version": 1, "text": text}})

    def close(self, uri):
        del self.docs[uri]
        self.srv.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    def type_text(self, uri, i, text):
        """Inserts text at index i, one didChange per character, asking for
        a completion after each, as an editor does while its user types."""
        for ch in text:
            doc = self.docs[uri]
            p = position(doc[0], i)
            doc[0] = doc[0][:i] + ch + doc[0][i:]
            doc[1] += 1
            i += 1
            self.srv.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": doc[1]},
                                                        "contentChanges": [{"range": {"start": p, "end": p},
                                                                            "text": ch}]})
            self.stats["keystrokes"] += 1
            cur = position(doc[0], i)
            inline = self.args.rnd.random() < 0.5
            method = "textDocument/inlineCompletion" if inline else "textDocument/completion"
            params = {"textDocument": {"uri": uri}, "position": cur}
            if inline:
                params["context"] = {"triggerKind": 2}
            id_ = self.send_request(method, params, "inline" if inline else "completion", uri, cur)
            if self.args.rnd.random() < 0.08:
                self.srv.notify("$/cancelRequest", {"id": id_})
                self.stats["cancels_sent"] += 1
            time.sleep(self.args.rnd.uniform(0.0, 0.04))
            self.read_available(0.0)
        return i

    def backspace(self, uri, i):
        doc = self.docs[uri]
        if i == 0:
            return i
        a, b = position(doc[0], i - 1), position(doc[0], i)
        doc[0] = doc[0][:i - 1] + doc[0][i:]
        doc[1] += 1
        self.srv.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": doc[1]},
                                                    "contentChanges": [{"range": {"start": a, "end": b}, "text": ""}]})
        self.stats["keystrokes"] += 1
        return i - 1

    def malformed(self):
        kind = self.args.rnd.choice(["bad_json", "garbage_line", "length_not_a_number", "no_content_length",
                                     "unknown_method", "unknown_notification", "invalid_params"])
        self.stats["malformed_sent"][kind] = self.stats["malformed_sent"].get(kind, 0) + 1
        if kind == "bad_json":
            self.srv.send_raw(frame(b'{"jsonrpc":"2.0","id":7,"method":'))
            self.null_errors_expected += 1
        elif kind == "garbage_line":
            self.srv.send_raw(b"hello from a confused client\r\n")
        elif kind == "length_not_a_number":
            self.srv.send_raw(b'Content-Length: lots\r\n\r\n{"x":1}')
        elif kind == "no_content_length":
            self.srv.send_raw(b'Content-Type: application/vscode-jsonrpc\r\n\r\n{"x":1}')
        elif kind == "unknown_method":
            self.send_request("soak/noSuchMethod", {}, "expect:-32601")
        elif kind == "unknown_notification":
            self.srv.send(notification("soak/noSuchNotification", {}))
        else:
            self.send_request("textDocument/completion", {"textDocument": 5}, "expect:-32602")

    # -------------------------------------------------------- reading

    def read_available(self, timeout):
        """Handles every message that arrives within timeout (0: those already here)."""
        deadline = time.monotonic() + timeout
        while True:
            left = max(0.0, deadline - time.monotonic())
            try:
                m = self.srv.read_json(timeout=left if left > 0 else 0.001, skip_notifications=())
            except Timeout:
                return
            self.handle(m)

    def handle(self, m):
        st = self.stats
        if "id" not in m:                       # a notification ($/progress, window/...)
            st["notifications"] += 1
            return
        if m["id"] is None:
            if self.null_errors_expected and m.get("error", {}).get("code") == -32700:
                self.null_errors_expected -= 1
                st["expected_error_replies"] += 1
            else:
                st["unexpected_replies"] += 1
                st["samples"].append(f"reply with null id: {str(m)[:200]}")
            return
        p = self.pending.pop(m["id"], None)
        if p is None:
            st["unexpected_replies"] += 1
            st["samples"].append(f"reply to no request: {str(m)[:200]}")
            return
        kind, t0, uri, snap, cursor = p
        st["responses"] += 1
        err = m.get("error")
        if kind.startswith("expect:"):
            if err and err.get("code") == int(kind[7:]):
                st["expected_error_replies"] += 1
            else:
                st["error_responses_to_valid"] += 1     # the wrong answer to a known-bad request
                st["samples"].append(f"{kind}: got {str(m)[:200]}")
            return
        if err:
            if err.get("code") == -32800:
                st["cancelled_responses"] += 1
            else:
                st["error_responses_to_valid"] += 1
                st["samples"].append(f"{kind}: error {str(err)[:200]}")
            return
        if kind in ("inline", "completion"):
            st["latency_ms"].append((time.monotonic() - t0) * 1000)
            self.check_ranges(kind, m.get("result"), snap, cursor)

    def check_ranges(self, kind, result, snap, cursor):
        st = self.stats
        items = (result or {}).get("items", [])
        if not items:
            st["empty_answers"] += 1
            return
        st["suggestions"] += 1
        for it in items:
            rng = it.get("range") if kind == "inline" else (it.get("textEdit") or {}).get("range")
            if rng is None:
                continue
            ok = valid_position(snap, rng.get("start")) and valid_position(snap, rng.get("end")) and \
                before(rng["start"], rng["end"])
            if not ok:
                st["misranged"] += 1
                st["samples"].append(f"mis-ranged {kind} at {cursor}: {rng}")
            elif rng["start"] != cursor:
                st["ranges_not_at_cursor"] += 1

    def drain(self):
        """Waits for every pending answer; what does not come is lost."""
        deadline = time.monotonic() + self.args.reply_timeout
        while (self.pending or self.null_errors_expected) and time.monotonic() < deadline:
            self.read_available(min(1.0, max(0.0, deadline - time.monotonic())))
        for id_, p in self.pending.items():
            self.stats["lost_responses"] += 1
            self.stats["samples"].append(f"lost: {p[0]} id {id_}")
        self.pending.clear()
        if self.null_errors_expected:
            self.stats["lost_responses"] += self.null_errors_expected
            self.stats["samples"].append(f"lost: {self.null_errors_expected} parse-error replies")
            self.null_errors_expected = 0


# ---------------------------------------------------------------- RSS

def rss_kb(pid):
    """(VmRSS, RssAnon) in KB, or None when the process is gone. RssAnon is
    the heap and stacks: where a leak shows. The rest of VmRSS is mostly
    file pages (the mmap'd model's weights as they are first touched)."""
    got = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "RssAnon:")):
                    got[line.split(":")[0]] = int(line.split()[1])
    except OSError:
        return None
    return (got["VmRSS"], got["RssAnon"]) if len(got) == 2 else None


def sampler(pid, seg, t_start, period, samples, stop):
    while not stop.wait(period):
        kb = rss_kb(pid)
        if kb is not None:
            samples.append((time.monotonic() - t_start, kb[0], seg, kb[1]))


def pooled_slope(samples, warmup, col=1):
    """Least-squares slope (KB/min) of samples[col] with one slope and an
    intercept per lifetime: sum((t - mean_t)(r - mean_r)) / sum((t - mean_t)^2)
    within each."""
    num = den = 0.0
    per = {}
    for seg in sorted({s[2] for s in samples}):
        pts = [(s[0], s[col]) for s in samples if s[2] == seg]
        if not pts:
            continue
        t0 = pts[0][0]
        pts = [(t, r) for t, r in pts if t - t0 >= warmup]
        if len(pts) < 3:
            continue
        mt = sum(t for t, _ in pts) / len(pts)
        mr = sum(r for _, r in pts) / len(pts)
        sn = sum((t - mt) * (r - mr) for t, r in pts)
        sd = sum((t - mt) ** 2 for t, _ in pts)
        num, den = num + sn, den + sd
        per[seg] = {"samples": len(pts), "slope_kb_per_min": round(sn / sd * 60, 1) if sd else 0.0,
                    "first_kb": pts[0][1], "last_kb": pts[-1][1], "max_kb": max(r for _, r in pts)}
    return (num / den * 60 if den else 0.0), per


# ---------------------------------------------------------------- the run

def stop(sess, how):
    """Stops the daemon; returns (exit status, the status it must have)."""
    srv = sess.srv
    if how == "shutdown":
        id_ = srv.request("shutdown")
        deadline = time.monotonic() + sess.args.reply_timeout
        while time.monotonic() < deadline:
            m = srv.read_json(timeout=max(0.01, deadline - time.monotonic()), skip_notifications=())
            if m.get("id") == id_:
                break
            sess.handle(m)
        srv.notify("exit")
        want = 0
    elif how == "sigterm":
        srv.proc.send_signal(signal.SIGTERM)
        want = 0
    else:
        srv.close_stdin()
        want = 1
    try:
        return srv.wait_exit(timeout=60), want
    except Timeout:
        srv.kill()
        return "hang", want


def run_segment(args, stats, corpus, cache, seg, seconds, how, samples):
    sess = Session(args, stats, cache, seg)
    srv, rnd = sess.srv, args.rnd
    stop_ev = threading.Event()
    th = threading.Thread(target=sampler, args=(srv.proc.pid, seg, args.t_start, args.sample_s, samples, stop_ev),
                          daemon=True)
    th.start()
    try:
        caps = {"textDocument": {"inlineCompletion": {}}} if seg % 2 == 0 else {}
        srv.initialize({"capabilities": caps})
        docs = rnd.sample(corpus, min(OPEN_DOCS, len(corpus)))
        for k, (path, lang, text) in enumerate(docs):
            sess.open(f"file://{path}#{seg}.{k}", lang, text)
        serial = len(docs)
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            uri = rnd.choice(list(sess.docs))
            text = sess.docs[uri][0]
            # a place to type: the end of a random line, or a new line after it
            line_end = text.find("\n", rnd.randrange(len(text)))
            i = line_end if line_end >= 0 else len(text)
            snippet = rnd.choice(rnd.choice(corpus)[2].split("\n")).strip()[:rnd.randint(3, 24)] or "x"
            if rnd.random() < 0.4:
                snippet = "\n" + snippet
            i = sess.type_text(uri, i, snippet)
            for _ in range(rnd.randint(0, 3) if rnd.random() < 0.3 else 0):
                i = sess.backspace(uri, i)
            for _ in range(rnd.randint(1, 2) if rnd.random() < 0.4 else 0):
                sess.malformed()
            if rnd.random() < 0.15:
                sess.send_request("sparkd/stats", None, "stats")
            if rnd.random() < 0.05:
                srv.notify("workspace/didChangeConfiguration",
                           {"settings": {"sparkd": {"n_predict": rnd.choice([16, 32, 48])}}})
            if rnd.random() < 0.08:
                sess.close(uri)
                path, lang, text = rnd.choice(corpus)
                serial += 1
                sess.open(f"file://{path}#{seg}.{serial}", lang, text)
            sess.drain()
        st = srv.call("sparkd/stats", timeout=args.reply_timeout)
        for reason, n in st.get("result", {}).get("completions", {}).get("empty_reasons", {}).items():
            stats["empty_reasons"][reason] = stats["empty_reasons"].get(reason, 0) + n
        rc, want = stop(sess, how)
    except (Timeout, ProtocolError, BrokenPipeError) as e:
        stats["samples"].append(f"lifetime {seg}: {type(e).__name__}: {e}")
        stats["session_failures"] += 1
        srv.kill()
        rc, want = srv.proc.returncode, None
    finally:
        stop_ev.set()
        th.join()
    stats["exits"].append({"how": how, "status": rc, "want": want})
    if rc != want:
        stats["bad_exits"] += 1
    rep = sanitizer_report(srv.stderr_text())
    if rep:
        stats["sanitizer_reports"] += 1
        stats["samples"].append(rep)
    srv.kill()


def make_test_model(tmp):
    path = os.path.join(tmp, "soak-model.gguf")
    subprocess.run(["/usr/bin/python3", os.path.join(SRC, "tools", "make_test_model.py"), "--out", path,
                    "--dim", "64", "--layers", "2", "--seed", "7", "--printable"], check=True,
                   stdout=subprocess.DEVNULL)
    return path


def percentile(xs, q):
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))], 1) if xs else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the run (default 10)")
    ap.add_argument("--seconds", type=float, help="length in seconds (overrides --minutes)")
    ap.add_argument("--restart-s", type=float, help="daemon lifetime (default: a quarter of the run, "
                    "at least 15 s)")
    ap.add_argument("--model", default="bundled", help="bundled | test (tiny random model) | PATH")
    ap.add_argument("--bin", default=os.environ.get("SPARKD_BIN") or os.path.join(SRC, "build", "sparkd"))
    ap.add_argument("--out", default=os.path.join(SRC, "bench", "results", "soak.json"))
    ap.add_argument("--cache-mem", default="16M", help="the daemon's --cache-mem (default 16M: the "
                    "in-memory KV tier is full after the warm-up, so caching does not read as a leak)")
    ap.add_argument("--daemon-arg", dest="daemon_args", action="append", default=[],
                    help="one more argument for `sparkd lsp` (repeatable), e.g. --daemon-arg=--no-cache")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--docs", type=int, default=60, help="source files in the corpus")
    ap.add_argument("--reply-timeout", type=float, default=120.0, help="seconds before a reply counts as lost")
    args = ap.parse_args()
    total = args.seconds if args.seconds else args.minutes * 60
    restart = args.restart_s or max(15.0, total / 4)
    args.rnd = random.Random(args.seed)
    args.sample_s = 0.5 if total < 120 else 2.0
    tmp = tempfile.mkdtemp(prefix="sparkd-soak-")
    args.model_path = None if args.model == "bundled" else make_test_model(tmp) if args.model == "test" \
        else args.model
    cache = os.path.join(tmp, "kv.sqlite3")
    corpus = load_corpus(args.rnd, args.docs)
    stats = {k: 0 for k in ("requests", "responses", "keystrokes", "cancels_sent", "cancelled_responses",
                            "expected_error_replies", "error_responses_to_valid", "lost_responses", "misranged",
                            "ranges_not_at_cursor", "unexpected_replies", "suggestions", "empty_answers",
                            "notifications", "bad_exits", "sanitizer_reports", "session_failures")}
    stats.update(malformed_sent={}, empty_reasons={}, exits=[], samples=[], latency_ms=[])
    samples = []
    args.t_start = time.monotonic()
    seg = 0
    hows = ["shutdown", "sigterm", "eof"]
    while time.monotonic() - args.t_start < total - 3:
        left = total - (time.monotonic() - args.t_start)
        seconds = min(restart, left)
        if left - seconds < restart / 3:        # no short last lifetime: fold it in
            seconds = left
        run_segment(args, stats, corpus, cache, seg, seconds, hows[seg % 3], samples)
        seg += 1
    elapsed = time.monotonic() - args.t_start
    warmup = max(5.0 if total < 120 else 20.0, 0.25 * restart)
    slope, per = pooled_slope(samples, warmup)
    anon_slope, anon_per = pooled_slope(samples, warmup, col=3)
    lat = stats.pop("latency_ms")
    checks = {k: stats[k] for k in ("error_responses_to_valid", "lost_responses", "misranged", "bad_exits",
                                    "sanitizer_reports", "unexpected_replies", "session_failures")}
    ok = not any(checks.values())
    result = {
        "ok": ok, "seconds": round(elapsed, 1), "seed": args.seed, "model": args.model, "binary": args.bin,
        "cache_mem": args.cache_mem, "daemon_args": args.daemon_args, "corpus_files": len(corpus), "lifetimes": seg, "restarts": max(0, seg - 1),
        "rss_slope_kb_per_min": round(slope, 1), "rss_fit": "least squares, one slope, an intercept per lifetime, "
        f"first {warmup:.0f} s of each lifetime left out", "rss_sample_s": args.sample_s,
        "rss_anon_slope_kb_per_min": round(anon_slope, 1),
        "rss_per_lifetime": per, "rss_anon_per_lifetime": anon_per, "rss_samples": len(samples),
        "rss_trace_s_kb_lifetime_anon": [[round(s[0], 1), s[1], s[2], s[3]]
                                         for s in samples[::max(1, len(samples) // 300)]],
        "completion_latency_ms": {"p50": percentile(lat, 0.5), "p90": percentile(lat, 0.9),
                                  "p99": percentile(lat, 0.99), "n": len(lat)},
        "checks_must_be_zero": checks,
        **{k: v for k, v in stats.items() if k not in checks and k != "samples"},
        "problems": stats["samples"][:20],
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(f"soak: {elapsed:.0f} s, {seg} lifetimes, {stats['keystrokes']} keystrokes, {stats['requests']} requests, "
          f"{stats['responses']} responses ({stats['cancelled_responses']} cancelled), "
          f"{sum(stats['malformed_sent'].values())} malformed messages")
    print(f"soak: RSS slope {slope:+.1f} KB/min, of which anonymous {anon_slope:+.1f} KB/min "
          f"({len(samples)} samples); completion latency "
          f"p50 {result['completion_latency_ms']['p50']} ms p90 {result['completion_latency_ms']['p90']} ms")
    print("soak: " + ", ".join(f"{k} {v}" for k, v in checks.items()))
    for p in result["problems"]:
        print(f"soak: problem: {p}")
    print(f"soak: {'ok' if ok else 'FAILED'}; results in {args.out}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
