#!/usr/bin/python3
"""tools/train_tokenizer.py — byte-level BPE for sparkd's bundled models.

GPT-2 style byte-level BPE: every byte is mapped to a printable stand-in
character (the GPT-2 byte<->unicode table), text is cut into words with the
Qwen2 pre-tokenizer regex, and merges are learned from word frequency counts.
Ties between equally frequent pairs go to the lexicographically smallest pair
(so training is deterministic). Vocabulary: 256 byte tokens, then the merged
tokens in merge order, then the special tokens (CONTROL type in GGUF).

Output: .corpus/tokenizer.json  {"tokens", "merges", "specials", "pre": "qwen2"}

Usage:  /usr/bin/python3 tools/train_tokenizer.py [--vocab 8192] [--mb 16]
Library: from train_tokenizer import Tokenizer; t = Tokenizer.load(path);
         t.encode(text) -> [ids]; t.decode(ids) -> str
"""
import argparse
import heapq
import json
import os
import random
import sys
import time

import regex

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

QWEN2_PRE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
             r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
PRE_RE = regex.compile(QWEN2_PRE)

SPECIALS = ["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
            "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"]


def byte_to_unicode():
    """GPT-2's table: printable Latin-1 bytes map to themselves, the other bytes
    to code points 256, 257, ... in byte order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + \
        list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


B2U = byte_to_unicode()
U2B = {u: b for b, u in B2U.items()}


def to_symbols(word):
    return "".join(B2U[b] for b in word.encode("utf-8"))


class Tokenizer:
    def __init__(self, tokens, merges, specials):
        self.tokens = tokens
        self.id = {t: i for i, t in enumerate(tokens)}
        self.merges = merges
        self.rank = {tuple(m.split(" ")): i for i, m in enumerate(merges)}
        self.specials = specials            # name -> id
        self.cache = {}

    @classmethod
    def load(cls, path=None):
        path = path or os.path.join(ROOT, ".corpus", "tokenizer.json")
        with open(path) as f:
            d = json.load(f)
        return cls(d["tokens"], d["merges"], d["specials"])

    def save(self, path):
        with open(path, "w") as f:
            json.dump({"pre": "qwen2", "tokens": self.tokens, "merges": self.merges,
                       "specials": self.specials}, f)

    def bpe(self, word):
        ids = self.cache.get(word)
        if ids is not None:
            return ids
        syms = list(to_symbols(word))
        rank = self.rank
        while len(syms) > 1:
            best, bi = None, -1
            for i in range(len(syms) - 1):
                r = rank.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best):
                    best, bi = r, i
            if best is None:
                break
            a, b = syms[bi], syms[bi + 1]
            out, i = [], 0
            while i < len(syms):
                if i < len(syms) - 1 and syms[i] == a and syms[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            syms = out
        ids = [self.id[s] for s in syms]
        if len(self.cache) < 2_000_000:
            self.cache[word] = ids
        return ids

    def encode(self, text):
        out = []
        for w in PRE_RE.findall(text):
            out.extend(self.bpe(w))
        return out

    def decode_bytes(self, ids):
        inv = {v: k for k, v in self.specials.items()}
        out = bytearray()
        for i in ids:
            if i in inv:
                out += inv[i].encode()
            else:
                out += bytes(U2B[c] for c in self.tokens[i])
        return bytes(out)

    def decode(self, ids):
        return self.decode_bytes(ids).decode("utf-8", "replace")


def train(word_counts, n_merges, log_every=500):
    words = [list(to_symbols(w)) for w in word_counts]
    counts = list(word_counts.values())
    pair_count, where = {}, {}
    for wi, (syms, c) in enumerate(zip(words, counts)):
        for p in zip(syms, syms[1:]):
            pair_count[p] = pair_count.get(p, 0) + c
            where.setdefault(p, set()).add(wi)
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)
    merges = []
    t0 = time.time()
    while len(merges) < n_merges and heap:
        negc, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -negc or negc == 0:
            continue
        a, b = pair
        ab = a + b
        merges.append(pair)
        changed = {}
        for wi in where.pop(pair, ()):
            syms, c = words[wi], counts[wi]
            for p in zip(syms, syms[1:]):
                pair_count[p] -= c
                changed[p] = 1
                s = where.get(p)
                if s is not None:
                    s.discard(wi)
            out, i = [], 0
            while i < len(syms):
                if i < len(syms) - 1 and syms[i] == a and syms[i + 1] == b:
                    out.append(ab)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            words[wi] = out
            for p in zip(out, out[1:]):
                pair_count[p] = pair_count.get(p, 0) + c
                changed[p] = 1
                where.setdefault(p, set()).add(wi)
        for p in changed:
            c = pair_count.get(p, 0)
            if c > 0:
                heapq.heappush(heap, (-c, p))
            else:
                pair_count.pop(p, None)
                where.pop(p, None)
        if len(merges) % log_every == 0:
            print(f"  {len(merges)} merges, last {ab!r} x{-negc}, {time.time() - t0:.0f}s",
                  file=sys.stderr)
    return merges


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=os.path.join(ROOT, ".corpus", "train.jsonl"))
    ap.add_argument("--out", default=os.path.join(ROOT, ".corpus", "tokenizer.json"))
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--mb", type=float, default=16, help="MB of training text to count")
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    docs = [json.loads(l)["text"] for l in open(a.corpus)]
    random.Random(a.seed).shuffle(docs)
    wc, total = {}, 0
    for d in docs:
        if total > a.mb * 1e6:
            break
        total += len(d)
        for w in PRE_RE.findall(d):
            wc[w] = wc.get(w, 0) + 1
    print(f"{total / 1e6:.1f} MB, {len(wc)} distinct words", file=sys.stderr)
    wc = dict(sorted(wc.items()))
    n_merges = a.vocab - 256 - len(SPECIALS)
    merges = train(wc, n_merges)
    tokens = [B2U[b] for b in range(256)] + [x + y for x, y in merges]
    if len(set(tokens)) != len(tokens):
        sys.exit("duplicate tokens")
    specials = {}
    for s in SPECIALS:
        specials[s] = len(tokens)
        tokens.append(s)
    tok = Tokenizer(tokens, [f"{x} {y}" for x, y in merges], specials)
    tok.save(a.out)
    sample = "\n".join(docs[-50:])
    ids = tok.encode(sample)
    assert tok.decode(ids) == sample, "round trip failed"
    print(f"vocab {len(tokens)}; {len(sample.encode()) / len(ids):.2f} bytes/token on a sample",
          file=sys.stderr)


if __name__ == "__main__":
    main()
