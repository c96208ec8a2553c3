#!/usr/bin/env python3
"""An independent numpy reference forward pass for llama/qwen2 GGUF models.

Written from the architecture's math (not from sparkd's C code) and run in
float64 on the dequantized weights, it gives the logits the C engine is
checked against.

  /usr/bin/python3 tools/ref_forward.py MODEL.gguf --tokens 1,2,3 [--tokens 1,4] --out logits.f32

writes, for each --tokens sequence in turn, n_tokens rows of n_vocab float32
logits (one row per position) to --out.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf  # noqa: E402


class Model:
    def __init__(self, path):
        r = gguf.GGUFReader(path)
        kv = r.kv
        self.arch = kv["general.architecture"]
        a = self.arch
        self.dim = int(kv[f"{a}.embedding_length"])
        self.n_layers = int(kv[f"{a}.block_count"])
        self.n_heads = int(kv[f"{a}.attention.head_count"])
        self.n_kv = int(kv.get(f"{a}.attention.head_count_kv", self.n_heads))
        self.hd = int(kv.get(f"{a}.attention.key_length", self.dim // self.n_heads))
        self.eps = float(kv.get(f"{a}.attention.layer_norm_rms_epsilon", 1e-6))
        self.base = float(kv.get(f"{a}.rope.freq_base", 10000.0))
        self.neox = a == "qwen2"
        t = lambda name: r.tensor(name).astype(np.float64)  # noqa: E731
        self.emb = t("token_embd.weight")                      # (vocab, dim)
        self.out_norm = t("output_norm.weight")
        self.out = t("output.weight") if "output.weight" in r.tensors else self.emb
        self.layers = []
        for l in range(self.n_layers):
            p = f"blk.{l}."
            L = {k: t(p + k + ".weight") for k in
                 ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm",
                  "ffn_gate", "ffn_up", "ffn_down"]}
            for k in ["attn_q", "attn_k", "attn_v"]:
                name = p + k + ".bias"
                L[k + "_b"] = t(name) if name in r.tensors else 0.0
            self.layers.append(L)

    def rmsnorm(self, x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * w

    def rope(self, x, pos, n_heads):
        """x: (T, n_heads*hd); rotate each head's pairs by pos * base^(-2i/hd)."""
        T, hd = x.shape[0], self.hd
        x = x.reshape(T, n_heads, hd).copy()
        i = np.arange(hd // 2)
        ang = pos[:, None] * self.base ** (-2.0 * i / hd)           # (T, hd/2)
        c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        if self.neox:
            a, b = x[..., : hd // 2].copy(), x[..., hd // 2:].copy()
            x[..., : hd // 2], x[..., hd // 2:] = a * c - b * s, a * s + b * c
        else:
            a, b = x[..., 0::2].copy(), x[..., 1::2].copy()
            x[..., 0::2], x[..., 1::2] = a * c - b * s, a * s + b * c
        return x.reshape(T, n_heads * hd)

    def forward(self, tokens):
        """Logits (T, vocab) for a whole sequence at positions 0..T-1."""
        T = len(tokens)
        pos = np.arange(T, dtype=np.float64)
        x = self.emb[np.array(tokens)]
        group = self.n_heads // self.n_kv
        mask = np.triu(np.full((T, T), -np.inf), 1)
        for L in self.layers:
            xb = self.rmsnorm(x, L["attn_norm"])
            q = self.rope(xb @ L["attn_q"].T + L["attn_q_b"], pos, self.n_heads)
            k = self.rope(xb @ L["attn_k"].T + L["attn_k_b"], pos, self.n_kv)
            v = xb @ L["attn_v"].T + L["attn_v_b"]
            att = np.empty_like(q)
            for h in range(self.n_heads):
                j = h // group
                qh = q[:, h * self.hd:(h + 1) * self.hd]
                kh = k[:, j * self.hd:(j + 1) * self.hd]
                vh = v[:, j * self.hd:(j + 1) * self.hd]
                s = qh @ kh.T / np.sqrt(self.hd) + mask
                s = np.exp(s - s.max(axis=1, keepdims=True))
                att[:, h * self.hd:(h + 1) * self.hd] = (s / s.sum(axis=1, keepdims=True)) @ vh
            x = x + att @ L["attn_output"].T
            xb = self.rmsnorm(x, L["ffn_norm"])
            g, u = xb @ L["ffn_gate"].T, xb @ L["ffn_up"].T
            x = x + (g / (1 + np.exp(-g)) * u) @ L["ffn_down"].T
        return self.rmsnorm(x, self.out_norm) @ self.out.T


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--tokens", action="append", required=True, help="comma-separated ids")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    m = Model(a.model)
    with open(a.out, "wb") as f:
        for seq in a.tokens:
            ids = [int(t) for t in seq.split(",")]
            f.write(m.forward(ids).astype(np.float32).tobytes())


if __name__ == "__main__":
    main()
