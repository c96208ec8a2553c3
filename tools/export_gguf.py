#!/usr/bin/python3
"""tools/export_gguf.py — write a tools/train.py checkpoint as a llama.cpp `qwen2` GGUF v3.

  /usr/bin/python3 tools/export_gguf.py .corpus/ckpt/main.pt models/sparkd-main.gguf \
      --name sparkd-main [--type F16|Q8_0|F32] [--check]

Tensors (PyTorch name -> GGUF name; 2-D weights in --type, 1-D norms and biases F32):
  embed.weight                 token_embd.weight   (tied: no output.weight)
  blocks.N.attn_norm.weight    blk.N.attn_norm.weight
  blocks.N.{q,k,v}.weight/bias blk.N.attn_{q,k,v}.weight / .bias
  blocks.N.o.weight            blk.N.attn_output.weight
  blocks.N.ffn_norm.weight     blk.N.ffn_norm.weight
  blocks.N.{gate,up,down}      blk.N.ffn_{gate,up,down}.weight
  norm.weight                  output_norm.weight
PyTorch Linear weights are (out, in), i.e. GGUF ne = [in, out]: stored as is. RoPE is
NeoX style (rotate halves) in training, which is what llama.cpp uses for qwen2, so
q/k are not permuted.

--check reads the file back with tools/gguf.py, compares every tensor with the
checkpoint and compares tools/ref_forward.py's logits with PyTorch's on a few tokens.
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf  # noqa: E402
from gguf import BOOL, F32, I32, STR, U32  # noqa: E402,F401
from train import load_model  # noqa: E402
from train_tokenizer import Tokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILE_TYPE = {"F32": 0, "F16": 1, "Q8_0": 7}   # llama_ftype: ALL_F32, MOSTLY_F16, MOSTLY_Q8_0


def tensor_map(n_layer):
    m = {"embed.weight": "token_embd.weight", "norm.weight": "output_norm.weight"}
    for i in range(n_layer):
        p, g = f"blocks.{i}.", f"blk.{i}."
        m.update({p + "attn_norm.weight": g + "attn_norm.weight",
                  p + "q.weight": g + "attn_q.weight", p + "q.bias": g + "attn_q.bias",
                  p + "k.weight": g + "attn_k.weight", p + "k.bias": g + "attn_k.bias",
                  p + "v.weight": g + "attn_v.weight", p + "v.bias": g + "attn_v.bias",
                  p + "o.weight": g + "attn_output.weight",
                  p + "ffn_norm.weight": g + "ffn_norm.weight",
                  p + "gate.weight": g + "ffn_gate.weight", p + "up.weight": g + "ffn_up.weight",
                  p + "down.weight": g + "ffn_down.weight"})
    return m


def export(ckpt, out, name, ttype="F16", tok_path=None):
    model, ck = load_model(ckpt)
    cfg = model.cfg
    tok = Tokenizer.load(tok_path)
    S = tok.specials
    w = gguf.GGUFWriter()
    w.add("general.architecture", "qwen2")
    w.add("general.name", name)
    w.add("general.file_type", FILE_TYPE[ttype], U32)
    w.add("general.quantization_version", 2, U32)
    w.add("general.description", "sparkd bundled code model, trained by tools/train.py "
          f"({ck.get('tokens', 0)} tokens, {ck.get('step', 0)} steps)")
    a = "qwen2."
    w.add(a + "context_length", cfg.ctx, U32)
    w.add(a + "embedding_length", cfg.dim, U32)
    w.add(a + "block_count", cfg.n_layer, U32)
    w.add(a + "feed_forward_length", cfg.ffn, U32)
    w.add(a + "attention.head_count", cfg.n_head, U32)
    w.add(a + "attention.head_count_kv", cfg.n_kv_head, U32)
    w.add(a + "attention.layer_norm_rms_epsilon", float(cfg.eps), F32)
    w.add(a + "rope.freq_base", float(cfg.rope_base), F32)
    types = [3 if i in S.values() else 1 for i in range(len(tok.tokens))]
    w.add("tokenizer.ggml.model", "gpt2")
    w.add("tokenizer.ggml.pre", "qwen2")
    w.add("tokenizer.ggml.tokens", tok.tokens, STR)
    w.add("tokenizer.ggml.token_type", types, I32)
    w.add("tokenizer.ggml.merges", tok.merges, STR)
    eot = S["<|endoftext|>"]
    w.add("tokenizer.ggml.bos_token_id", eot, U32)
    w.add("tokenizer.ggml.eos_token_id", eot, U32)
    w.add("tokenizer.ggml.eot_token_id", eot, U32)
    w.add("tokenizer.ggml.padding_token_id", eot, U32)
    w.add("tokenizer.ggml.add_bos_token", False, BOOL)
    w.add("tokenizer.ggml.add_eos_token", False, BOOL)
    for key, t in (("fim_pre", "<|fim_prefix|>"), ("fim_suf", "<|fim_suffix|>"),
                   ("fim_mid", "<|fim_middle|>"), ("fim_pad", "<|fim_pad|>"),
                   ("fim_rep", "<|repo_name|>"), ("fim_sep", "<|file_sep|>")):
        w.add(f"tokenizer.ggml.{key}_token_id", S[t], U32)
    sd = model.state_dict()
    tmap = tensor_map(cfg.n_layer)
    if set(sd) != set(tmap):
        raise SystemExit(f"unexpected parameters: {sorted(set(sd) ^ set(tmap))}")
    for k, g in tmap.items():
        arr = sd[k].detach().float().numpy()
        w.add_tensor(g, arr, ttype if arr.ndim == 2 else "F32")
    w.write(out)
    return model


def check(model, path):
    r = gguf.GGUFReader(path)
    sd = model.state_dict()
    worst = 0.0
    for k, g in tensor_map(model.cfg.n_layer).items():
        a, b = sd[k].float().numpy(), r.tensor(g)
        assert a.shape == b.shape, (k, a.shape, b.shape)
        worst = max(worst, float(np.abs(a - b).max()))
    print(f"  {len(r.tensors)} tensors read back, max |diff| {worst:.2e}")
    import ref_forward
    ref = ref_forward.Model(path)
    toks = [5, 300, 1000, 42, 7, 8000, 8185, 12, 99, 2000]
    with torch.no_grad():
        lt = model(torch.tensor([toks]))[0].numpy()
    lr = np.asarray(ref.forward(toks)) if hasattr(ref, "forward") else None
    if lr is not None:
        d = float(np.abs(lt - lr).max())
        same = float((lt.argmax(-1) == lr.argmax(-1)).mean())
        print(f"  ref_forward vs PyTorch logits: max |diff| {d:.3e}, argmax agreement {same:.2f}")
        return d
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt")
    ap.add_argument("out")
    ap.add_argument("--name", default=None)
    ap.add_argument("--type", default="F16", choices=sorted(FILE_TYPE))
    ap.add_argument("--tokenizer", default=None)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    name = a.name or os.path.splitext(os.path.basename(a.out))[0]
    torch.set_num_threads(1)
    model = export(a.ckpt, a.out, name, a.type, a.tokenizer)
    print(f"wrote {a.out}: {os.path.getsize(a.out) / 1e6:.2f} MB, "
          f"{model.n_params() / 1e6:.2f} M params")
    if a.check:
        check(model, a.out)


if __name__ == "__main__":
    main()
