#!/usr/bin/python3
"""tools/train.py — train sparkd's bundled qwen2-architecture models (PyTorch, CPU).

Model: decoder-only transformer laid out exactly like llama.cpp's `qwen2`
(RMSNorm, RoPE NeoX style = rotate halves, GQA, SwiGLU, QKV bias, tied
embeddings), so tools/export_gguf.py maps every parameter 1:1 to a GGUF tensor.

Data (prepared once, cached in .corpus/data/): files from .corpus/train.jsonl
become samples. About half are plain next-token samples (the whole file, some
in the repo-context form `<|repo_name|>pkg\\n<|file_sep|>path\\n...`), the other
half FIM samples cut from a window of the file, in either order:
  PSM  <|fim_prefix|>pre<|fim_suffix|>suf<|fim_middle|>mid<|endoftext|>
  SPM  <|fim_suffix|>suf<|fim_prefix|>pre<|fim_middle|>mid<|endoftext|>
The middle is a random character span, the rest of a line, or a block of whole
lines (the cases the editor asks for). Prefix and suffix are tokenized
separately, as the engine does at the cursor. Samples are shuffled and packed
into one token stream; training windows are random slices of it.

Schedule: AdamW, linear warm-up then cosine decay to 10%. Progress is
max(step / --steps, elapsed / --minutes), so a run never exceeds its wall
budget even if the machine is busy (then it ends with fewer steps; the log
says how many). The last --long-frac of the run uses --long-seq (1024) windows
at the same tokens per step, so RoPE positions up to the 1024 context are trained.

Usage (the bundled models):
  nice -n 5 /usr/bin/python3 tools/train.py --preset main --minutes 60 --steps 100000
  nice -n 5 /usr/bin/python3 tools/train.py --preset draft --minutes 11 --steps 100000
Outputs: .corpus/ckpt/NAME.pt (model + optimizer + config, every --ckpt-min
minutes and at the end), .corpus/ckpt/NAME.csv (loss log).
"""
import argparse
import csv
import json
import math
import os
import random
import sys
import time

# On a shared 2-core machine: OpenMP threads that spin while OpenBLAS's own
# threads do the matmuls waste most of the CPU; these settings ~3x throughput.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_tokenizer import Tokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, ".corpus")

PRESETS = {
    # dim, layers, heads, kv heads, ffn
    "main": dict(dim=320, n_layer=6, n_head=8, n_kv_head=2, ffn=864),
    "draft": dict(dim=128, n_layer=2, n_head=4, n_kv_head=2, ffn=384),
    "tiny": dict(dim=64, n_layer=1, n_head=2, n_kv_head=1, ffn=128),
}


# ---- model ---------------------------------------------------------------------

class Config:
    def __init__(self, vocab=8192, dim=384, n_layer=6, n_head=8, n_kv_head=2, ffn=1024,
                 ctx=1024, eps=1e-6, rope_base=10000.0):
        self.vocab, self.dim, self.n_layer, self.n_head, self.n_kv_head = \
            vocab, dim, n_layer, n_head, n_kv_head
        self.ffn, self.ctx, self.eps, self.rope_base = ffn, ctx, eps, rope_base

    @property
    def head_dim(self):
        return self.dim // self.n_head

    def to_dict(self):
        return dict(self.__dict__)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(cfg, n, offset=0):
    hd = cfg.head_dim
    inv = 1.0 / (cfg.rope_base ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    pos = torch.arange(offset, offset + n, dtype=torch.float64)
    ang = torch.outer(pos, inv)                          # (n, hd/2)
    ang = torch.cat([ang, ang], dim=-1)                  # NeoX: halves share angles
    return ang.cos().float(), ang.sin().float()


def apply_rope(x, cos, sin):
    h = x.shape[-1] // 2
    rot = torch.cat([-x[..., h:], x[..., :h]], dim=-1)
    return x * cos + rot * sin


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, hd = cfg.dim, cfg.head_dim
        self.cfg = cfg
        self.attn_norm = RMSNorm(d, cfg.eps)
        self.q = nn.Linear(d, cfg.n_head * hd, bias=True)
        self.k = nn.Linear(d, cfg.n_kv_head * hd, bias=True)
        self.v = nn.Linear(d, cfg.n_kv_head * hd, bias=True)
        self.o = nn.Linear(cfg.n_head * hd, d, bias=False)
        self.ffn_norm = RMSNorm(d, cfg.eps)
        self.gate = nn.Linear(d, cfg.ffn, bias=False)
        self.up = nn.Linear(d, cfg.ffn, bias=False)
        self.down = nn.Linear(cfg.ffn, d, bias=False)

    def forward(self, x, cos, sin, mask, kv=None):
        cfg = self.cfg
        B, T, _ = x.shape
        h = self.attn_norm(x)
        q = self.q(h).view(B, T, cfg.n_head, cfg.head_dim).transpose(1, 2)
        k = self.k(h).view(B, T, cfg.n_kv_head, cfg.head_dim).transpose(1, 2)
        v = self.v(h).view(B, T, cfg.n_kv_head, cfg.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if kv is not None:                               # incremental decoding
            if kv.get("k") is not None:
                k = torch.cat([kv["k"], k], dim=2)
                v = torch.cat([kv["v"], v], dim=2)
            kv["k"], kv["v"] = k, v
        rep = cfg.n_head // cfg.n_kv_head
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(cfg.head_dim))
        if mask is not None:
            att = att + mask
        att = att.softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, -1)
        x = x + self.o(y)
        h = self.ffn_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Model(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab, cfg.dim)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.norm = RMSNorm(cfg.dim, cfg.eps)
        self.apply(self._init)
        for b in self.blocks:
            for lin in (b.o, b.down):
                nn.init.normal_(lin.weight, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def n_params(self):
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx, cache=None):
        """idx (B, T) -> logits (B, T, vocab). cache: list of per-layer dicts
        for incremental decoding (positions continue after the cached ones)."""
        B, T = idx.shape
        off = 0
        if cache is not None and cache[0].get("k") is not None:
            off = cache[0]["k"].shape[2]
        cos, sin = rope_tables(self.cfg, T, off)
        mask = None
        if T > 1:
            mask = torch.full((T, T + off), float("-inf")).triu(off + 1)
        x = self.embed(idx)
        for i, b in enumerate(self.blocks):
            x = b(x, cos, sin, mask, None if cache is None else cache[i])
        return self.norm(x) @ self.embed.weight.t()


def load_model(path):
    ck = torch.load(path, map_location="cpu")
    cfg = Config(**ck["config"])
    m = Model(cfg)
    m.load_state_dict(ck["model"])
    m.eval()
    return m, ck


# ---- data ----------------------------------------------------------------------

def fim_split(text, rng):
    """Cut text into (prefix, middle, suffix) like an editor cursor would."""
    r = rng.random()
    n = len(text)
    if r < 0.4 or "\n" not in text:                     # random character span
        a, b = sorted(rng.randrange(n + 1) for _ in range(2))
        return text[:a], text[a:b], text[b:]
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n" and i + 1 < n]
    li = rng.randrange(len(starts))
    ls = starts[li]
    le = text.find("\n", ls)
    le = n if le < 0 else le
    line = text[ls:le]
    indent = len(line) - len(line.lstrip())
    if r < 0.7:                                          # rest of the line
        a = ls + rng.randint(indent, max(indent, len(line)))
        return text[:a], text[a:le], text[le:]
    # a block of whole lines starting at the cursor (often at the indentation)
    a = ls + (indent if rng.random() < 0.6 else rng.randint(indent, max(indent, len(line))))
    k = rng.randint(1, 6)
    end_i = min(len(starts) - 1, li + k)
    b = starts[end_i] if end_i > li else n
    return text[:a], text[a:b], text[b:]


def window(text, rng, max_chars):
    """A random line-aligned window of at most max_chars characters."""
    if len(text) <= max_chars:
        return text
    start = rng.randrange(len(text) - max_chars)
    nl = text.find("\n", start)
    start = nl + 1 if 0 <= nl < start + 200 else start
    end = text.rfind("\n", start, start + max_chars)
    end = start + max_chars if end <= start else end + 1
    return text[start:end]


def fim_tokens(tok, pre, mid, suf, spm):
    S = tok.specials
    P, Su, M = S["<|fim_prefix|>"], S["<|fim_suffix|>"], S["<|fim_middle|>"]
    ep, es, em = tok.encode(pre), tok.encode(suf), tok.encode(mid)
    if spm:
        return [Su] + es + [P] + ep + [M] + em
    return [P] + ep + [Su] + es + [M] + em


def make_samples(tok, docs, rng, fim_rate=0.5, spm_rate=0.5, repo_rate=0.25, fim_chars=1800):
    """docs: list of dicts (path, pkg, text). Returns a list of token lists."""
    S = tok.specials
    EOT, SEP, REPO = S["<|endoftext|>"], S["<|file_sep|>"], S["<|repo_name|>"]
    by_pkg = {}
    for d in docs:
        by_pkg.setdefault(d["pkg"], []).append(d)
    out = []
    for d in docs:
        text = d["text"]
        head = []
        if rng.random() < repo_rate:
            head = [REPO] + tok.encode(d["pkg"] + "\n")
            sib = by_pkg[d["pkg"]]
            if len(sib) > 1 and rng.random() < 0.5:      # a neighbouring file as context
                o = sib[rng.randrange(len(sib))]
                if o is not d:
                    head += [SEP] + tok.encode(o["path"] + "\n" + window(o["text"], rng, 1200))
            head += [SEP] + tok.encode(d["path"] + "\n")
        if rng.random() < fim_rate:
            w = window(text, rng, fim_chars)
            pre, mid, suf = fim_split(w, rng)
            out.append(head + fim_tokens(tok, pre, mid, suf, rng.random() < spm_rate) + [EOT])
        else:
            out.append(head + tok.encode(text) + [EOT])
    return out


def prepare(tok, split, max_tokens, seed, tag):
    """Token stream (np.uint16) for a split, cached in .corpus/data/."""
    os.makedirs(os.path.join(CORPUS, "data"), exist_ok=True)
    path = os.path.join(CORPUS, "data", f"{tag}_{split}_{seed}_{max_tokens}.npy")
    if os.path.exists(path):
        return np.load(path)
    docs = [json.loads(l) for l in open(os.path.join(CORPUS, f"{split}.jsonl"))]
    rng = random.Random(seed)
    rng.shuffle(docs)
    t0, stream, total = time.time(), [], 0
    for i in range(0, len(docs), 200):
        for s in make_samples(tok, docs[i:i + 200], rng):
            stream.append(np.asarray(s, np.uint16))
            total += len(s)
        if total >= max_tokens:
            break
    arr = np.concatenate(stream)
    np.save(path, arr)
    print(f"prepared {split}: {len(arr)} tokens in {time.time() - t0:.0f}s", file=sys.stderr)
    return arr


def batch(stream, rng, bsz, seq):
    ix = rng.integers(0, len(stream) - seq - 1, bsz)
    x = np.stack([stream[i:i + seq + 1] for i in ix]).astype(np.int64)
    x = torch.from_numpy(x)
    return x[:, :-1], x[:, 1:]


@torch.no_grad()
def evaluate(model, stream, seq=512, max_windows=64):
    model.eval()
    n = min(max_windows, (len(stream) - 1) // seq)
    tot, cnt = 0.0, 0
    for i in range(0, n, 8):
        xs = [stream[j * seq:j * seq + seq + 1] for j in range(i, min(n, i + 8))]
        x = torch.from_numpy(np.stack(xs).astype(np.int64))
        logits = model(x[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1),
                               reduction="sum")
        tot += loss.item()
        cnt += x[:, 1:].numel()
    model.train()
    return tot / max(1, cnt)


# ---- loss plot -------------------------------------------------------------------

def plot(out, csvs):
    """tools/train.py plot OUT.png NAME.csv[+MORE.csv@TOKENS[:val]]... : training (smoothed)
    and validation loss."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for arg in csvs:
        # A run continued with --init is one curve: "a.csv+b.csv@T" puts b's
        # rows after the T tokens its starting checkpoint had seen.
        tr, va, name = [], [], None
        for part in arg.split("+"):
            path, _, off = part.partition("@")
            val_only = off.endswith(":val")     # e.g. a distillation run's mixed loss
            off = int(off.removesuffix(":val") or 0)
            name = name or os.path.splitext(os.path.basename(path))[0]
            rows = list(csv.DictReader(open(path)))
            tr = [x for x in tr if x[0] <= off] + \
                [(off + int(r["tokens"]), float(r["loss"])) for r in rows
                 if r["loss"] and not val_only]
            va = [x for x in va if x[0] <= off] + \
                [(off + int(r["tokens"]), float(r["val_loss"])) for r in rows if r["val_loss"]]
        xs = np.array([t for t, _ in tr]) / 1e6
        ys = np.array([v for _, v in tr])
        k = 25
        sm = np.convolve(ys, np.ones(k) / k, mode="valid") if len(ys) > k else ys
        line, = ax.plot(xs[len(xs) - len(sm):], sm, label=f"{name} train (avg {k} steps)")
        if va:
            ax.plot([t / 1e6 for t, _ in va], [v for _, v in va], "o--", color=line.get_color(),
                    label=f"{name} validation")
    ax.set_xlabel("training tokens (millions)")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_ylim(bottom=max(0.0, ax.get_ylim()[0]), top=min(9.5, ax.get_ylim()[1]))
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("sparkd bundled models: training loss")
    fig.tight_layout()
    fig.savefig(out)


# ---- training ------------------------------------------------------------------

def main():
    if len(sys.argv) > 2 and sys.argv[1] == "plot":
        return plot(sys.argv[2], sys.argv[3:])
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="main", choices=sorted(PRESETS))
    ap.add_argument("--name", default=None)
    ap.add_argument("--minutes", type=float, default=72)
    ap.add_argument("--steps", type=int, default=100000)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--long-seq", type=int, default=1024)
    ap.add_argument("--long-frac", type=float, default=0.15)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--data-tokens", type=int, default=8_000_000)
    ap.add_argument("--ckpt-min", type=float, default=5)
    ap.add_argument("--eval-min", type=float, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--init", default=None,
                    help="start from this checkpoint's weights (same preset); the schedule restarts")
    ap.add_argument("--teacher", default=None,
                    help="distil from this checkpoint: loss = (1-a)*CE + a*KL(teacher || student)")
    ap.add_argument("--distill-alpha", type=float, default=0.7)
    a = ap.parse_args()
    name = a.name or a.preset
    lr = a.lr or {"main": 2e-3, "draft": 4e-3, "tiny": 4e-3}[a.preset]
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    tok = Tokenizer.load()
    train_s = prepare(tok, "train", a.data_tokens, a.seed, "fim")
    val_s = prepare(tok, "val", 400_000, a.seed, "fim")
    cfg = Config(vocab=len(tok.tokens), **PRESETS[a.preset])
    model = Model(cfg)
    done_tokens = 0
    if a.init:
        ck = torch.load(a.init, map_location="cpu")
        if ck["config"] != cfg.to_dict():
            sys.exit(f"--init {a.init}: config {ck['config']} differs from preset {a.preset}")
        model.load_state_dict(ck["model"])
        done_tokens = ck.get("tokens", 0) + ck.get("tokens_before", 0)
        print(f"{name}: starting from {a.init} ({done_tokens} tokens seen)", file=sys.stderr)
    teacher = None
    if a.teacher:
        teacher, _ = load_model(a.teacher)
        if teacher.cfg.vocab != cfg.vocab:
            sys.exit("--teacher: vocabulary size differs")
        for p in teacher.parameters():
            p.requires_grad_(False)
    print(f"{name}: {model.n_params() / 1e6:.2f} M params, config {cfg.to_dict()}",
          file=sys.stderr)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95), eps=1e-8)
    ckdir = os.path.join(CORPUS, "ckpt")
    os.makedirs(ckdir, exist_ok=True)
    log = open(os.path.join(ckdir, f"{name}.csv"), "w", newline="")
    lw = csv.writer(log)
    lw.writerow(["step", "tokens", "elapsed_s", "lr", "seq", "loss", "val_loss"])

    def save(step, tokens, elapsed, final=False):
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                    "config": cfg.to_dict(), "step": step, "tokens": tokens,
                    "elapsed_s": elapsed, "args": vars(a), "final": final,
                    "tokens_before": done_tokens,
                    "command": " ".join(sys.argv)},
                   os.path.join(ckdir, f"{name}.pt"))

    t0 = time.time()
    last_ck = last_ev = t0
    tokens, step, ema = 0, 0, None
    budget = a.minutes * 60
    model.train()
    while True:
        el = time.time() - t0
        prog = max(step / a.steps, el / budget)
        if prog >= 1.0:
            break
        if step < a.warmup:
            cur = lr * (step + 1) / a.warmup
        else:
            cur = lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog)))
        for g in opt.param_groups:
            g["lr"] = cur
        long_phase = prog >= 1.0 - a.long_frac
        seq = a.long_seq if long_phase else a.seq
        bsz = max(1, a.batch * a.seq // seq)
        x, y = batch(train_s, rng, bsz, seq)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        ce = loss.item()
        if teacher is not None:
            with torch.no_grad():
                tp = F.log_softmax(teacher(x).reshape(-1, logits.shape[-1]), -1)
            sp = F.log_softmax(logits.reshape(-1, logits.shape[-1]), -1)
            kl = F.kl_div(sp, tp, log_target=True, reduction="batchmean")
            loss = (1 - a.distill_alpha) * loss + a.distill_alpha * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens += x.numel()
        li = ce            # the logged loss is cross-entropy, also when distilling
        ema = li if ema is None else 0.95 * ema + 0.05 * li
        now = time.time()
        vl = ""
        if now - last_ev > a.eval_min * 60:
            vl = f"{evaluate(model, val_s, seq=a.seq, max_windows=16):.4f}"
            last_ev = time.time()
        lw.writerow([step, tokens, f"{now - t0:.1f}", f"{cur:.6f}", seq, f"{li:.4f}", vl])
        if step % 10 == 0:
            log.flush()
            print(f"step {step} tok {tokens} {now - t0:.0f}s lr {cur:.2e} loss {ema:.3f} "
                  f"{tokens / (now - t0):.0f} tok/s {vl}", file=sys.stderr, flush=True)
        if now - last_ck > a.ckpt_min * 60:
            save(step, tokens, now - t0)
            last_ck = time.time()
    el = time.time() - t0
    vl = evaluate(model, val_s, seq=a.seq, max_windows=64)
    lw.writerow([step, tokens, f"{el:.1f}", "", "", "", f"{vl:.4f}"])
    log.close()
    save(step, tokens, el, final=True)
    print(f"done {name}: {step} steps, {tokens} tokens, {el / 60:.1f} min, val loss {vl:.4f}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
