#!/usr/bin/python3
"""Writes the seed corpus of tests/engine/fuzz_gguf.c: small valid GGUF files
(< 4 KB each) covering every metadata type, the common tensor types, a
tokenizer-like vocabulary, a custom alignment and version 2.

    /usr/bin/python3 tools/gen_fuzz_seeds.py [OUTDIR]   (default tests/fuzz/corpus/fuzz_gguf)
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf  # noqa: E402  (tools/gguf.py)


def seeds():
    out = {}
    out["empty"] = gguf.GGUFWriter().to_bytes()

    w = gguf.GGUFWriter()
    for key, vt, v in gguf.fixture_kv():
        w.add(key, v, vt[1] if isinstance(vt, tuple) else vt)
    out["kv_all_types"] = w.to_bytes()

    w = gguf.GGUFWriter()
    w.add("general.architecture", "llama")
    x = np.linspace(-2, 2, 64, dtype=np.float32).reshape(2, 32)
    for t in ("F32", "F16", "BF16", "Q8_0", "Q4_0"):
        w.add_tensor("t." + t.lower(), x, t)
    rng = np.random.default_rng(1)
    for t in ("Q4_K", "Q6_K"):
        w.add_tensor_raw("t." + t.lower(), rng.integers(0, 256, gguf.type_nbytes(t, 256),
                                                         dtype=np.uint8).tobytes(), [256], t)
    out["tensors"] = w.to_bytes()

    w = gguf.GGUFWriter()
    w.add("general.architecture", "qwen2")
    w.add("qwen2.block_count", 1, gguf.U32)
    w.add("qwen2.rope.freq_base", 1e6, gguf.F32)
    w.add("tokenizer.ggml.model", "gpt2")
    toks = ["<|endoftext|>", "a", "b", "ab", "\u0120the", "<|fim_prefix|>"]
    w.add("tokenizer.ggml.tokens", toks)
    w.add("tokenizer.ggml.token_type", np.array([3, 1, 1, 1, 1, 3], np.int32))
    w.add("tokenizer.ggml.merges", ["a b"])
    w.add("tokenizer.ggml.add_bos_token", False)
    w.add("tokenizer.ggml.eos_token_id", 0, gguf.U32)
    w.add_tensor("token_embd.weight", np.ones((6, 32), np.float32), "Q8_0")
    out["tokenizer"] = w.to_bytes()

    w = gguf.GGUFWriter(alignment=64)
    w.add_tensor("a", np.arange(8, dtype=np.float32))
    w.add_tensor("b", np.arange(32, dtype=np.float32).reshape(1, 1, 32), "F16")
    out["align64"] = w.to_bytes()

    v2 = bytearray(out["tensors"])
    v2[4] = 2
    out["version2"] = bytes(v2)
    return out


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fuzz", "corpus", "fuzz_gguf")
    os.makedirs(outdir, exist_ok=True)
    for name, blob in seeds().items():
        assert len(blob) < 4096, (name, len(blob))
        gguf.GGUFReader(blob)          # every seed must be valid
        with open(os.path.join(outdir, name + ".gguf"), "wb") as f:
            f.write(blob)
        print(f"{name}.gguf: {len(blob)} bytes")


if __name__ == "__main__":
    main()
