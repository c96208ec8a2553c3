#!/usr/bin/env python3
"""Writes a small random-weight llama/qwen2 GGUF model for tests and benchmarks.

The model is real in every respect but its weights: llama.cpp tensor names and
hyper-parameter keys, a byte-level BPE tokenizer (256 byte tokens, a few merges
and the Qwen2.5-Coder special tokens), every 2-D weight stored as --type.
K-quant types need rows of a multiple of 256 (e.g. --dim 256 --ffn 512).
--type Q4_K_M mixes types in the manner of llama.cpp's Q4_K_M (not its exact
per-layer choice): Q4_K weights, attn_v and output Q6_K, ffn_down Q5_K,
token_embd Q8_0.

  /usr/bin/python3 tools/make_test_model.py --arch qwen2 --type Q8_0 --out m.gguf
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf  # noqa: E402

SPECIALS = ["<|endoftext|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>",
            "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"]


def byte_alphabet():
    """GPT-2's printable stand-in character for every byte."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    out, n = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + n)
            n += 1
    return out


CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
          "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def tokenizer_kv(w, n_vocab, chat=None):
    alpha = byte_alphabet()
    tokens = [alpha[b] for b in range(256)]
    merges = []
    for a, b in [("Ġ", "t"), ("e", "r"), ("i", "n"), ("Ġt", "h"), ("Ġth", "e"), ("r", "e")]:
        merges.append(f"{a} {b}")
        tokens.append(a + b)
    n_normal = len(tokens)
    specials = SPECIALS + (["<|im_start|>", "<|im_end|>"] if chat else [])
    tokens += specials
    while len(tokens) < n_vocab:
        tokens.append(f"<|unused{len(tokens)}|>")
    types = [1] * n_normal + [3] * (len(tokens) - n_normal)
    sid = {s: n_normal + i for i, s in enumerate(specials)}
    w.add("tokenizer.ggml.model", "gpt2")
    w.add("tokenizer.ggml.pre", "qwen2")
    w.add("tokenizer.ggml.tokens", tokens)
    w.add("tokenizer.ggml.token_type", np.array(types, np.int32))
    w.add("tokenizer.ggml.merges", merges)
    w.add("tokenizer.ggml.bos_token_id", sid["<|endoftext|>"], gguf.U32)
    w.add("tokenizer.ggml.eos_token_id", sid["<|endoftext|>"], gguf.U32)
    w.add("tokenizer.ggml.padding_token_id", sid["<|fim_pad|>"], gguf.U32)
    w.add("tokenizer.ggml.fim_pre_token_id", sid["<|fim_prefix|>"], gguf.U32)
    w.add("tokenizer.ggml.fim_suf_token_id", sid["<|fim_suffix|>"], gguf.U32)
    w.add("tokenizer.ggml.fim_mid_token_id", sid["<|fim_middle|>"], gguf.U32)
    w.add("tokenizer.ggml.fim_pad_token_id", sid["<|fim_pad|>"], gguf.U32)
    w.add("tokenizer.ggml.fim_rep_token_id", sid["<|repo_name|>"], gguf.U32)
    w.add("tokenizer.ggml.fim_sep_token_id", sid["<|file_sep|>"], gguf.U32)
    if chat == "chatml":
        w.add("tokenizer.chat_template", CHATML)
        w.add("tokenizer.ggml.eot_token_id", sid["<|im_end|>"], gguf.U32)


def build(a):
    rng = np.random.default_rng(a.seed)
    hd = a.dim // a.heads
    qd, kvd = a.heads * hd, a.kv_heads * hd
    w = gguf.GGUFWriter()
    arch = a.arch
    w.add("general.architecture", "gpt2" if a.broken == "arch" else arch)
    w.add("general.name", f"sparkd-test-{arch}-{a.type}")
    w.add(f"{arch}.context_length", a.ctx, gguf.U32)
    w.add(f"{arch}.embedding_length", a.dim, gguf.U32)
    w.add(f"{arch}.block_count", a.layers, gguf.U32)
    w.add(f"{arch}.feed_forward_length", a.ffn, gguf.U32)
    w.add(f"{arch}.attention.head_count", a.heads, gguf.U32)
    w.add(f"{arch}.attention.head_count_kv", a.kv_heads, gguf.U32)
    w.add(f"{arch}.attention.layer_norm_rms_epsilon", 1e-6, gguf.F32)
    w.add(f"{arch}.rope.freq_base", 10000.0, gguf.F32)
    tokenizer_kv(w, a.vocab, a.chat_template)

    def mat(n_out, n_in, scale=None):
        s = scale if scale is not None else 1.0 / np.sqrt(n_in)
        return (rng.standard_normal((n_out, n_in)) * s).astype(np.float32)

    def vec(n, around=1.0, spread=0.1):
        return (around + rng.standard_normal(n) * spread).astype(np.float32)

    t = a.type
    mix = {"token_embd": "Q8_0", "attn_v": "Q6_K", "ffn_down": "Q5_K", "output": "Q6_K"} \
        if t == "Q4_K_M" else {}
    if t == "Q4_K_M":
        t = "Q4_K"
    w.add_tensor("token_embd.weight", mat(a.vocab, a.dim, 1.0), mix.get("token_embd", t))
    for l in range(a.layers):
        p = f"blk.{l}."
        w.add_tensor(p + "attn_norm.weight", vec(a.dim))
        if a.broken == "shape" and l == 0:
            w.add_tensor(p + "attn_q.weight", mat(qd + 32, a.dim), t)
        elif a.broken == "q2k" and l == 0:     # a type sparkd does not support
            n = qd * a.dim
            w.add_tensor_raw(p + "attn_q.weight", rng.integers(0, 256, n // 256 * 84, dtype=np.uint8).tobytes(),
                             [a.dim, qd], "Q2_K")
        else:
            w.add_tensor(p + "attn_q.weight", mat(qd, a.dim), t)
        w.add_tensor(p + "attn_k.weight", mat(kvd, a.dim), t)
        w.add_tensor(p + "attn_v.weight", mat(kvd, a.dim), mix.get("attn_v", t))
        if arch == "qwen2":
            w.add_tensor(p + "attn_q.bias", vec(qd, 0.0, 0.2))
            w.add_tensor(p + "attn_k.bias", vec(kvd, 0.0, 0.2))
            w.add_tensor(p + "attn_v.bias", vec(kvd, 0.0, 0.2))
        w.add_tensor(p + "attn_output.weight", mat(a.dim, qd), t)
        w.add_tensor(p + "ffn_norm.weight", vec(a.dim))
        w.add_tensor(p + "ffn_gate.weight", mat(a.ffn, a.dim), t)
        if not (a.broken == "missing" and l == a.layers - 1):
            w.add_tensor(p + "ffn_up.weight", mat(a.ffn, a.dim), t)
        w.add_tensor(p + "ffn_down.weight", mat(a.dim, a.ffn), mix.get("ffn_down", t))
    w.add_tensor("output_norm.weight", vec(a.dim))
    if not a.tied:
        out = mat(a.vocab, a.dim)
        if a.printable:
            # zero logits for control and non-ASCII bytes and special tokens: greedy
            # then writes printable text (and never ends the middle by itself)
            out[[b for b in range(32) if b not in (9, 10)] + list(range(127, 256)) + list(range(262, a.vocab))] = 0
        w.add_tensor("output.weight", out, mix.get("output", t))
    w.write(a.out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=["llama", "qwen2"], default="qwen2")
    ap.add_argument("--type", default="F32",
                    choices=["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K", "Q4_K_M"])
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=96)
    ap.add_argument("--vocab", type=int, default=320)
    ap.add_argument("--ctx", type=int, default=1024)
    ap.add_argument("--tied", action="store_true", help="no output.weight: the head is token_embd")
    ap.add_argument("--printable", action="store_true",
                    help="greedy output is printable text (zero head rows of control bytes and specials)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--chat-template", choices=["chatml"],
                    help="add <|im_start|>/<|im_end|> and a ChatML tokenizer.chat_template")
    ap.add_argument("--broken", choices=["arch", "shape", "q2k", "missing"],
                    help="write a deliberately broken model (error-path tests)")
    ap.add_argument("--out", required=True)
    build(ap.parse_args())


if __name__ == "__main__":
    main()
