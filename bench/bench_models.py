#!/usr/bin/python3
"""bench/bench_models.py — evaluate sparkd's bundled models on held-out code.

  nice -n 5 /usr/bin/python3 bench/bench_models.py [--cases 500] [--seed 7]
      [--main .corpus/ckpt/main.pt] [--draft .corpus/ckpt/draft.pt]
      [--out bench/results/models.json]

Uses the PyTorch checkpoints with every 2-D weight rounded to F16, i.e. the
values stored in models/*.gguf, and the test split of .corpus/ (files never
seen in training).

1. FIM: --cases cursor positions drawn at random in the test files (fixed seed):
   "line"  the rest of the current line from a random column,
   "block" the rest of the line plus 1-3 following lines, cursor in or at the
           indentation of the line.
   Prompt in the SPM order sparkd uses for its own models
   (<|fim_suffix|>S<|fim_prefix|>P<|fim_middle|>), P = last --prefix-tokens
   tokens before the cursor, S = first --suffix-tokens after the hole. Greedy
   decoding until <|endoftext|>/<|file_sep|>/<|fim_pad|>, the target's number of
   lines (1 for "line"), or the token limit. Scored: exact match (trailing
   whitespace ignored) and edit similarity 1 - lev(pred, target)/max(len).
   Systems: main, draft, and an n-gram baseline that, from the longest
   (4..1)-token context that occurs elsewhere in the same file (whole file minus
   the hole), copies the most frequent next token, greedily.
2. Speculative acceptance proxies: (a) on held-out code windows, how often the
   draft's greedy next token equals the main model's; (b) on the main model's
   own FIM completions, how often the draft predicts main's next token.
3. Held-out loss/perplexity per token: plain code (512-token windows), the mixed
   FIM/plain training format, and 1024-token windows split into positions
   0-511 and 512-1023 (RoPE beyond the 512-token training windows).
"""
import argparse
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
import torch.nn.functional as F  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from train import load_model, prepare  # noqa: E402
from train_tokenizer import Tokenizer  # noqa: E402


def f16_weights(model):
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.copy_(p.half().float())
    return model


def q8_0_weights(model):
    """2-D weights rounded as GGUF Q8_0 stores them: blocks of 32 along a row,
    d = amax / 127 stored as F16, q = round(x / d) (what export_gguf.py writes)."""
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                b = p.reshape(-1, 32)
                d = (b.abs().amax(1, keepdim=True) / 127).half().float()
                q = torch.where(d > 0, torch.round(b / torch.where(d > 0, d, torch.ones_like(d))),
                                torch.zeros_like(b))
                p.copy_((q * d).reshape(p.shape))
    return model


def levenshtein(a, b):
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def edit_sim(p, t):
    if not p and not t:
        return 1.0
    return 1.0 - levenshtein(p, t) / max(len(p), len(t))


def make_cases(docs, n, rng):
    cases = []
    tries = 0
    while len(cases) < n and tries < n * 50:
        tries += 1
        d = docs[rng.randrange(len(docs))]
        text = d["text"]
        lines = text.split("\n")
        if len(lines) < 6:
            continue
        li = rng.randrange(1, len(lines) - 4)
        line = lines[li]
        if not line.strip():
            continue
        ls = sum(len(x) + 1 for x in lines[:li])
        indent = len(line) - len(line.lstrip())
        kind = "line" if rng.random() < 0.6 else "block"
        if kind == "line":
            col = rng.randint(indent, len(line.rstrip()) - 1)
            a, b = ls + col, ls + len(line)
        else:
            col = indent if rng.random() < 0.6 else rng.randint(indent, len(line.rstrip()) - 1)
            k = rng.randint(1, 3)
            a = ls + col
            b = ls + sum(len(x) + 1 for x in lines[li:li + k + 1]) - 1
        target = text[a:b]
        if not target.strip() or len(target) > 400:
            continue
        cases.append(dict(path=d["path"], lang=d["lang"], kind=kind, pre=text[:a],
                          mid=target, suf=text[b:], n_lines=target.count("\n") + 1))
    return cases


def cut(pred, n_lines):
    return "\n".join(pred.split("\n")[:n_lines])


class Decoder:
    def __init__(self, model, tok, pre_tokens, suf_tokens):
        self.m, self.tok = model, tok
        S = tok.specials
        self.P, self.S, self.M = S["<|fim_prefix|>"], S["<|fim_suffix|>"], S["<|fim_middle|>"]
        self.stop = {S["<|endoftext|>"], S["<|file_sep|>"], S["<|fim_pad|>"], self.P, self.S,
                     self.M, S["<|repo_name|>"]}
        self.pre_tokens, self.suf_tokens = pre_tokens, suf_tokens

    def prompt(self, case):
        ep = self.tok.encode(case["pre"][-4 * self.pre_tokens:])[-self.pre_tokens:]
        es = self.tok.encode(case["suf"][:4 * self.suf_tokens])[:self.suf_tokens]
        return [self.S] + es + [self.P] + ep + [self.M]

    @torch.no_grad()
    def greedy(self, prompt, n_lines, max_new):
        cache = [dict() for _ in self.m.blocks]
        logits = self.m(torch.tensor([prompt]), cache)[0, -1]
        out, nl = [], 0
        for _ in range(max_new):
            t = int(logits.argmax())
            if t in self.stop:
                break
            out.append(t)
            nl += self.tok.decode_bytes([t]).count(b"\n")
            if nl >= n_lines:
                break
            logits = self.m(torch.tensor([[t]]), cache)[0, -1]
        return out


def ngram_complete(tok, case, n_lines, max_new, nmax=4):
    pre = tok.encode(case["pre"])
    corpus = pre + [-1] + tok.encode(case["suf"])
    index = {}
    for n in range(1, nmax + 1):
        for i in range(len(corpus) - n):
            key = tuple(corpus[i:i + n])
            nxt = corpus[i + n]
            if -1 in key or nxt == -1:
                continue
            d = index.setdefault(key, {})
            d[nxt] = (d.get(nxt, (0, 0))[0] + 1, i)       # count, most recent position
    cur, out, nl = list(pre), [], 0
    for _ in range(max_new):
        nxt = None
        for n in range(nmax, 0, -1):
            d = index.get(tuple(cur[-n:]))
            if d:
                nxt = max(d.items(), key=lambda kv: (kv[1][0], kv[1][1]))[0]
                break
        if nxt is None:
            break
        out.append(nxt)
        cur.append(nxt)
        nl += tok.decode_bytes([nxt]).count(b"\n")
        if nl >= n_lines:
            break
    return out


@torch.no_grad()
def stream_loss(model, stream, seq, n_windows, split_half=False):
    n = min(n_windows, (len(stream) - 1) // seq)
    tot, cnt = np.zeros(2), np.zeros(2)
    for i in range(0, n, 4):
        xs = [stream[j * seq:j * seq + seq + 1] for j in range(i, min(n, i + 4))]
        x = torch.from_numpy(np.stack(xs).astype(np.int64))
        lo = model(x[:, :-1])
        ce = F.cross_entropy(lo.reshape(-1, lo.shape[-1]), x[:, 1:].reshape(-1),
                             reduction="none").view(x.shape[0], -1)
        if split_half:
            h = seq // 2
            tot += [ce[:, :h].sum().item(), ce[:, h:].sum().item()]
            cnt += [ce[:, :h].numel(), ce[:, h:].numel()]
        else:
            tot[0] += ce.sum().item()
            cnt[0] += ce.numel()
    r = tot / np.maximum(cnt, 1)
    return (r[0], r[1]) if split_half else r[0]


@torch.no_grad()
def agreement(main, draft, stream, seq, n_windows):
    n = min(n_windows, (len(stream) - 1) // seq)
    same = tot = 0
    for i in range(0, n, 4):
        xs = [stream[j * seq:j * seq + seq] for j in range(i, min(n, i + 4))]
        x = torch.from_numpy(np.stack(xs).astype(np.int64))
        a, b = main(x).argmax(-1), draft(x).argmax(-1)
        same += int((a == b).sum())
        tot += a.numel()
    return same / max(1, tot)


def summarize(rows, key):
    out = {}
    for sysname in ("main", "draft", "ngram"):
        em = [r[sysname]["em"] for r in rows]
        es = [r[sysname]["es"] for r in rows]
        out[sysname] = {"exact_match": round(float(np.mean(em)), 4) if em else None,
                        "edit_similarity": round(float(np.mean(es)), 4) if es else None}
    out["n"] = len(rows)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--main", default=os.path.join(ROOT, ".corpus", "ckpt", "main.pt"))
    ap.add_argument("--draft", default=os.path.join(ROOT, ".corpus", "ckpt", "draft.pt"))
    ap.add_argument("--cases", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--prefix-tokens", type=int, default=320)
    ap.add_argument("--suffix-tokens", type=int, default=96)
    ap.add_argument("--loss-windows", type=int, default=48)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "models.json"))
    ap.add_argument("--weights", default="q8_0", choices=["q8_0", "f16"],
                    help="how models/*.gguf store the 2-D weights (default q8_0)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.time()
    tok = Tokenizer.load()
    main_m, main_ck = load_model(a.main)
    draft_m, draft_ck = load_model(a.draft)
    rounding = q8_0_weights if a.weights == "q8_0" else f16_weights
    rounding(main_m)
    rounding(draft_m)
    docs = [json.loads(l) for l in open(os.path.join(ROOT, ".corpus", "test.jsonl"))]
    rng = random.Random(a.seed)
    cases = make_cases(docs, a.cases, rng)
    dm = Decoder(main_m, tok, a.prefix_tokens, a.suffix_tokens)
    dd = Decoder(draft_m, tok, a.prefix_tokens, a.suffix_tokens)
    rows, acc_same, acc_tot = [], 0, 0
    for i, c in enumerate(cases):
        max_new = 48 if c["kind"] == "line" else 128
        prompt = dm.prompt(c)
        r = {"path": c["path"], "lang": c["lang"], "kind": c["kind"]}
        tgt = c["mid"].rstrip()
        for name, dec in (("main", dm), ("draft", dd)):
            ids = dec.greedy(prompt, c["n_lines"], max_new)
            pred = cut(tok.decode(ids), c["n_lines"]).rstrip()
            r[name] = {"em": float(pred == tgt), "es": edit_sim(pred, tgt)}
            if name == "main":
                main_ids = ids
                r["main_pred"] = pred
        pred = cut(tok.decode(ngram_complete(tok, c, c["n_lines"], max_new)), c["n_lines"])
        pred = pred.rstrip()
        r["ngram"] = {"em": float(pred == tgt), "es": edit_sim(pred, tgt)}
        if main_ids:                        # draft vs main on main's own completion
            with torch.no_grad():
                seq = torch.tensor([prompt + main_ids])
                g = draft_m(seq)[0, len(prompt) - 1:-1].argmax(-1)
            acc_same += int((g == torch.tensor(main_ids)).sum())
            acc_tot += len(main_ids)
        r["target"] = c["mid"]
        rows.append(r)
        if (i + 1) % 50 == 0:
            s = summarize(rows, None)
            print(f"{i + 1} cases {time.time() - t0:.0f}s main EM {s['main']['exact_match']} "
                  f"draft EM {s['draft']['exact_match']} ngram EM {s['ngram']['exact_match']}",
                  file=sys.stderr, flush=True)
    t_fim = time.time() - t0
    # Plain held-out stream: test files as they are, separated by <|endoftext|>.
    eot = tok.specials["<|endoftext|>"]
    ids = []
    for d in docs:
        ids += tok.encode(d["text"]) + [eot]
        if len(ids) > (a.loss_windows + 1) * 1024:
            break
    plain = np.asarray(ids, np.int64)
    fim_stream = prepare(tok, "test", 400_000, a.seed, "fim")
    res = {"config": {k: v for k, v in vars(a).items()},
           "fim_prompt_order": "SPM: <|fim_suffix|>S<|fim_prefix|>P<|fim_middle|>",
           "weights": f"PyTorch checkpoints with 2-D weights rounded to {a.weights.upper()} (= GGUF contents)",
           "cases": len(cases), "fim_seconds": round(t_fim, 1)}
    res["fim"] = {"all": summarize(rows, None),
                  "line": summarize([r for r in rows if r["kind"] == "line"], None),
                  "block": summarize([r for r in rows if r["kind"] == "block"], None),
                  "by_lang": {lang: summarize([r for r in rows if r["lang"] == lang], None)
                              for lang in sorted({r["lang"] for r in rows})}}
    res["acceptance"] = {
        "draft_main_greedy_agreement_on_code": round(agreement(main_m, draft_m, plain, 512,
                                                                a.loss_windows // 2), 4),
        "draft_predicts_main_fim_tokens": round(acc_same / max(1, acc_tot), 4),
        "fim_tokens_compared": acc_tot}
    loss = {}
    for name, m in (("main", main_m), ("draft", draft_m)):
        lp = stream_loss(m, plain, 512, a.loss_windows)
        lf = stream_loss(m, fim_stream, 512, a.loss_windows)
        l0, l1 = stream_loss(m, plain, 1024, a.loss_windows // 4, split_half=True)
        loss[name] = {"plain_loss": round(lp, 4), "plain_ppl": round(math.exp(lp), 2),
                      "mixed_fim_loss": round(lf, 4), "mixed_fim_ppl": round(math.exp(lf), 2),
                      "ctx1024_loss_pos0_511": round(l0, 4),
                      "ctx1024_loss_pos512_1023": round(l1, 4),
                      "params": m.n_params(),
                      "train_tokens": sum((main_ck if m is main_m else draft_ck).get(k, 0)
                                          for k in ("tokens", "tokens_before")),
                      "bytes_per_token_test": None}
    text_bytes = sum(len(d["text"].encode()) for d in docs)
    text_tokens = sum(len(tok.encode(d["text"])) for d in docs)
    for v in loss.values():
        v["bytes_per_token_test"] = round(text_bytes / text_tokens, 3)
        v["plain_bits_per_byte"] = round(v["plain_loss"] / math.log(2) * text_tokens /
                                         text_bytes, 4)
    res["heldout"] = loss
    res["seconds"] = round(time.time() - t0, 1)
    res["examples"] = [{k: r[k] for k in ("path", "kind", "target", "main_pred")}
                       for r in rows[:12]]
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps({k: res[k] for k in ("fim", "acceptance", "heldout")}, indent=1))


if __name__ == "__main__":
    main()
