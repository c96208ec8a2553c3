#!/usr/bin/env python3
"""bench_latency.py — keystroke -> ghost text latency of `sparkd lsp` (`sparkd bench latency`).

Replays typing sessions through a real LSP client over pipes: in real source
files (the held-out test split of the training corpus when present, else the
Python standard library), a stretch of code after a cursor is removed and then
typed back one character at a time, with inter-key gaps of 60-200 ms (seeded),
each keystroke sending didChange + inlineCompletion (triggerKind Automatic) as
an editor does. Measured: didChange sent -> inlineCompletion answer received,
per keystroke; the server's own stage sums (protocol, grammars, cache, queue/debounce,
prefill, decode);
the server process's CPU time against the typing wall time (idle between keys).

Writes bench/results/latency.json (+ latency.png when matplotlib is present).
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from lspclient import Server  # noqa: E402


def source_files(root):
    test = os.path.join(root, ".corpus", "test.jsonl")
    out = []
    if os.path.exists(test):
        with open(test) as f:
            for line in f:
                d = json.loads(line)
                text = d.get("text") or d.get("content") or ""
                path = d.get("path", "x")
                if 3000 < len(text) < 100000 and path.endswith((".py", ".c", ".h", ".js", ".ts", ".go", ".rs")):
                    out.append((path, text))
        if out:
            return out, "held-out test split (.corpus/test.jsonl)"
    d = "/usr/lib/python3.11"
    for n in sorted(os.listdir(d)):
        p = os.path.join(d, n)
        if n.endswith(".py") and 3000 < os.path.getsize(p) < 100000:
            with open(p, encoding="utf-8", errors="replace") as f:
                out.append((p, f.read()))
    return out, d


def cpu_ms(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def pos_of(text, off):
    """LSP (line, UTF-16 character) of a string offset."""
    line = text.count("\n", 0, off)
    start = text.rfind("\n", 0, off) + 1
    return line, len(text[start:off].encode("utf-16-le")) // 2


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] if v else 0.0


def session(s, uri, text, cut, n_chars, rng, lat, stats):
    """Types text[cut:cut+n_chars] back into text-without-it."""
    typed = text[cut:cut + n_chars]
    doc = text[:cut] + text[cut + n_chars:]
    s.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                        "text": doc}})
    version = 1
    off = cut
    for ch in typed:
        time.sleep(rng.uniform(0.060, 0.200))
        line, col = pos_of(doc, off)
        version += 1
        t0 = time.monotonic()
        s.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [
            {"range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": col}},
             "text": ch}]})
        doc = doc[:off] + ch + doc[off:]
        off += len(ch)
        line, col = pos_of(doc, off)
        rid = s.request("textDocument/inlineCompletion", {"textDocument": {"uri": uri},
                        "position": {"line": line, "character": col}, "context": {"triggerKind": 2}})
        while True:
            m = s.read_json(timeout=60)
            if m.get("id") == rid:
                break
        dt = (time.monotonic() - t0) * 1000
        lat.append(dt)
        items = m.get("result", {}).get("items", [])
        stats["answered" if items else "empty"] += 1
    s.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "build", "sparkd"))
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--chars", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("server_args", nargs="*", help="extra `sparkd lsp` arguments (after --)")
    a = ap.parse_args()
    files, source = source_files(os.path.join(HERE, ".."))
    rng = random.Random(a.seed)
    lat, first, stats = [], [], {"answered": 0, "empty": 0}
    # A fresh cache file: what earlier runs stored must not warm the first
    # keystrokes (pass --cache PATH after -- to measure a warm cache instead).
    tmp = tempfile.TemporaryDirectory(prefix="sparkd-bench-")
    args = list(a.server_args)
    if not any(x.startswith("--cache") or x == "--no-cache" for x in args):
        args += ["--cache", os.path.join(tmp.name, "kv.sqlite3")]
    with Server(*args, binary=a.bin) as s:
        s.initialize({"capabilities": {"textDocument": {"inlineCompletion": {}}}})
        while "ready" not in s.stats()["model"] and "loading" in s.stats()["model"]:
            time.sleep(0.05)
        cpu0, wall0 = cpu_ms(s.proc.pid), time.monotonic()
        for k in range(a.sessions):
            path, text = rng.choice(files)
            # a cursor at the start of a non-blank line's code, past the first 20% of the file
            lines = [i for i in range(len(text)) if text[i - 1:i] == "\n" and i > len(text) // 5
                     and text[i:i + 1] not in ("\n", "")]
            cut = rng.choice(lines)
            while text[cut] in " \t":
                cut += 1
            before = len(lat)
            session(s, f"file://{path}#{k}", text, cut, a.chars, rng, lat, stats)
            first.append(lat[before])
        cpu, wall = cpu_ms(s.proc.pid) - cpu0, (time.monotonic() - wall0) * 1000
        time.sleep(0.5)                     # the last answer's warming, if any
        idle0 = cpu_ms(s.proc.pid)
        time.sleep(2.0)                     # no typing: the server must not spin
        idle_cpu = cpu_ms(s.proc.pid) - idle0
        st = s.stats()
        if os.environ.get("SPARKD_BENCH_LOG"):
            with open(os.environ["SPARKD_BENCH_LOG"], "w") as f:
                f.write(s.stderr_text())
    comp = st["completions"]
    keys = lat
    warm = [x for i, x in enumerate(lat) if i % a.chars]
    res = {
        "bench": "latency", "source": source, "server_args": args, "model": st["model"],
        "sessions": a.sessions, "keystrokes": len(keys),
        "p50_ms": pct(keys, 0.5), "p90_ms": pct(keys, 0.9), "p99_ms": pct(keys, 0.99), "max_ms": max(keys),
        "first_keystroke_p50_ms": pct(first, 0.5), "warm_keystroke_p50_ms": pct(warm, 0.5),
        "warm_vs_first_p50": pct(warm, 0.5) / max(pct(first, 0.5), 1e-9),
        "answered": stats["answered"], "empty": stats["empty"],
        "empty_reasons": comp["empty_reasons"], "fast_path": comp["fast_path"],
        "reused_token_fraction": comp["reused_tokens"] / max(comp["prompt_tokens"], 1),
        "acceptance_rate": comp["acceptance_rate"],
        "stage_ms_per_keystroke": {k: v / max(len(keys), 1) for k, v in comp["stage_ms"].items()},
        "server_cpu_ms": cpu, "typing_wall_ms": wall, "server_cpu_fraction": cpu / wall,
        "idle_cpu_ms_over_2s": idle_cpu, "quick_starts": comp.get("quick_start", 0),
        "latencies_ms": [round(x, 2) for x in keys],
    }
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "latency.json"), "w") as f:
        json.dump(res, f, indent=2)
    print(f"{len(keys)} keystrokes in {a.sessions} sessions ({source})")
    print(f"keystroke -> ghost text: p50 {res['p50_ms']:.1f} ms, p90 {res['p90_ms']:.1f} ms, "
          f"p99 {res['p99_ms']:.1f} ms, max {res['max_ms']:.1f} ms")
    print(f"first keystroke of a session p50 {res['first_keystroke_p50_ms']:.1f} ms; later ones "
          f"{res['warm_keystroke_p50_ms']:.1f} ms ({res['warm_vs_first_p50']:.2f}x)")
    print(f"answered {stats['answered']}, empty {stats['empty']} {comp['empty_reasons']}; fast path "
          f"{comp['fast_path']}; KV reused {100 * res['reused_token_fraction']:.0f}% of prompt tokens")
    print("per keystroke: " + ", ".join(f"{k} {v:.1f} ms" for k, v in res["stage_ms_per_keystroke"].items()))
    print(f"server CPU {cpu:.0f} ms over {wall:.0f} ms of typing ({100 * res['server_cpu_fraction']:.1f}%); "
          f"{idle_cpu:.0f} ms in 2 s without typing; {res['quick_starts']} quick starts")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 3.2))
        ax.hist(keys, bins=40, color="#3a7")
        ax.axvline(30, color="k", ls="--", lw=0.8)
        ax.axvline(80, color="r", ls="--", lw=0.8)
        ax.set_xlabel("keystroke -> inline completion (ms)")
        ax.set_ylabel("keystrokes")
        ax.set_title(f"sparkd latency: p50 {res['p50_ms']:.0f} ms, p99 {res['p99_ms']:.0f} ms")
        fig.tight_layout()
        fig.savefig(os.path.join(a.out, "latency.png"), dpi=100)
    except ImportError:
        print("(matplotlib missing: no latency.png)")


if __name__ == "__main__":
    main()
