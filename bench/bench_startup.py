#!/usr/bin/env python3
"""bench_startup.py — how fast `sparkd lsp` is ready, and what it costs idle.

Measures, over N runs (default 30), interleaved so that machine drift hits all
of them alike:
  * sparkd: time from spawn to the complete `initialize` reply (the editor's
    wait before anything works), then the idle RSS after the handshake
    (VmRSS from /proc/PID/status, after initialized and once sparkd/stats no
    longer reports the model as "loading"; the status is recorded), then
    shutdown/exit;
  * baseline `cat`: time from spawn until the same initialize frame comes back
    echoed, and cat's RSS then — the floor for "spawn a process and talk to it
    over pipes";
  * baseline `/bin/true`: spawn to exit, the bare process-creation cost.
Ratios are sparkd over the `cat` baseline from the same run.

Writes bench/results/startup.json (every key names its unit: _ms, _kb) and
prints the same figures as a table.

Usage: bench/bench_startup.py [--bin PATH] [--runs N] [--out FILE]
(the binary defaults to $SPARKD_BIN, else the first of build-test/sparkd or
build/sparkd that exists; use an optimised build).
"""
import argparse
import json
import os
import platform
import select
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INIT = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "processId": os.getpid(), "rootUri": None, "capabilities": {}}}).encode()


def frame(body):
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_exact(fd, n, deadline):
    buf = bytearray()
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError(f"read {len(buf)} of {n} bytes")
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise EOFError(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def read_frame(fd, deadline):
    head = bytearray()
    while not head.endswith(b"\r\n\r\n"):
        head += read_exact(fd, 1, deadline)
    n = int(head.split(b":")[1])
    return json.loads(read_exact(fd, n, deadline))


def vm_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def run_sparkd(binary):
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "lsp", "--log-level", "warn"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
    p.stdin.write(frame(INIT))
    deadline = time.monotonic() + 30
    r = read_frame(p.stdout.fileno(), deadline)
    t1 = time.perf_counter()
    if "result" not in r:
        raise RuntimeError(f"initialize failed: {r}")
    p.stdin.write(frame(b'{"jsonrpc":"2.0","method":"initialized","params":{}}'))
    # Idle means: the engine (loaded in the background) has settled.
    while True:
        p.stdin.write(frame(b'{"jsonrpc":"2.0","id":2,"method":"sparkd/stats"}'))
        model = read_frame(p.stdout.fileno(), deadline)["result"].get("model", "n/a")
        if model != "loading" or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    rss = vm_rss_kb(p.pid)
    p.stdin.write(frame(b'{"jsonrpc":"2.0","id":3,"method":"shutdown"}'))
    read_frame(p.stdout.fileno(), deadline)
    p.stdin.write(frame(b'{"jsonrpc":"2.0","method":"exit"}'))
    rc = p.wait(30)
    if rc != 0:
        raise RuntimeError(f"sparkd exited with {rc}")
    run_sparkd.model = model
    return (t1 - t0) * 1000, rss


def run_cat():
    msg = frame(INIT)
    t0 = time.perf_counter()
    p = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    p.stdin.write(msg)
    read_exact(p.stdout.fileno(), len(msg), time.monotonic() + 30)
    t1 = time.perf_counter()
    rss = vm_rss_kb(p.pid)
    p.stdin.close()
    p.wait(30)
    return (t1 - t0) * 1000, rss


def run_true():
    t0 = time.perf_counter()
    subprocess.run(["/bin/true"], check=True)
    return (time.perf_counter() - t0) * 1000


def summary(xs):
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]
    return {"median": statistics.median(xs), "p90": p90, "min": xs[0], "max": xs[-1]}


def build_info(binary):
    """buildtype/sanitizers from the meson build directory holding the binary."""
    info = {}
    intro = os.path.join(os.path.dirname(os.path.abspath(binary)), "meson-info",
                         "intro-buildoptions.json")
    try:
        with open(intro) as f:
            for o in json.load(f):
                if o["name"] in ("buildtype", "b_sanitize", "optimization"):
                    info[o["name"]] = o["value"]
    except (OSError, ValueError, KeyError):
        pass
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.environ.get("SPARKD_BIN"))
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "startup.json"))
    a = ap.parse_args()
    if not a.bin:
        for cand in ("build-test/sparkd", "build/sparkd"):
            if os.access(os.path.join(ROOT, cand), os.X_OK):
                a.bin = os.path.join(ROOT, cand)
                break
    if not a.bin or not os.access(a.bin, os.X_OK):
        sys.exit("no sparkd binary: pass --bin or set SPARKD_BIN")

    load_before = os.getloadavg()[0]
    run_sparkd(a.bin)   # warm the page cache; not counted
    run_cat()
    s_ms, s_kb, c_ms, c_kb, t_ms = [], [], [], [], []
    for _ in range(a.runs):
        ms, kb = run_sparkd(a.bin)
        s_ms.append(ms)
        s_kb.append(kb)
        ms, kb = run_cat()
        c_ms.append(ms)
        c_kb.append(kb)
        t_ms.append(run_true())

    s, c, t = summary(s_ms), summary(c_ms), summary(t_ms)
    s_rss, c_rss = statistics.median(s_kb), statistics.median(c_kb)
    res = {
        "benchmark": "startup",
        "runs": a.runs,
        "binary": os.path.relpath(a.bin, ROOT) if a.bin.startswith(ROOT) else a.bin,
        "build": build_info(a.bin),
        "sparkd_model_status": run_sparkd.model,
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(),
                    "python": platform.python_version(),
                    "loadavg_1m_before": round(load_before, 2),
                    "loadavg_1m_after": round(os.getloadavg()[0], 2)},
        "sparkd_init_reply_median_ms": round(s["median"], 3),
        "sparkd_init_reply_p90_ms": round(s["p90"], 3),
        "sparkd_init_reply_min_ms": round(s["min"], 3),
        "sparkd_init_reply_max_ms": round(s["max"], 3),
        "sparkd_idle_rss_median_kb": s_rss,
        "sparkd_idle_rss_max_kb": max(s_kb),
        "cat_echo_median_ms": round(c["median"], 3),
        "cat_echo_p90_ms": round(c["p90"], 3),
        "cat_rss_median_kb": c_rss,
        "true_spawn_exit_median_ms": round(t["median"], 3),
        "true_spawn_exit_p90_ms": round(t["p90"], 3),
        "init_reply_vs_cat_echo_median_ratio": round(s["median"] / c["median"], 3),
        "init_reply_vs_cat_echo_p90_ratio": round(s["p90"] / c["p90"], 3),
        "idle_rss_vs_cat_ratio": round(s_rss / c_rss, 3),
    }
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")
    os.replace(tmp, a.out)

    print(f"startup: {a.runs} runs, {res['binary']} {res['build']}, "
          f"load {res['machine']['loadavg_1m_before']} -> {res['machine']['loadavg_1m_after']}")
    print(f"{'':30} {'median':>10} {'p90':>10} {'min':>10} {'max':>10}")
    for name, st in (("sparkd spawn->init reply ms", s), ("cat spawn->echo ms", c),
                     ("/bin/true spawn->exit ms", t)):
        print(f"{name:30} {st['median']:10.2f} {st['p90']:10.2f} {st['min']:10.2f} {st['max']:10.2f}")
    print(f"{'sparkd idle RSS kB':30} {s_rss:10.0f}   (cat: {c_rss:.0f} kB)")
    print(f"ratios sparkd/cat: init reply median {res['init_reply_vs_cat_echo_median_ratio']}x, "
          f"p90 {res['init_reply_vs_cat_echo_p90_ratio']}x, idle RSS {res['idle_rss_vs_cat_ratio']}x")
    print(f"wrote {os.path.relpath(a.out, ROOT)}")


if __name__ == "__main__":
    main()
