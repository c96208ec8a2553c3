#!/usr/bin/python3
"""tools/kquant.py — ggml's K-quant tensor formats (Q4_K, Q5_K, Q6_K) in numpy.

Written from the format (ggml's block_q4_K / block_q5_K / block_q6_K and
their reference dequantizers), independently of engine/device/kq_*.c, so
that each side checks the other (tests/engine/test_kquant.c). Float32
arithmetic in the same order as the format's definition, so dequantized
values agree with the C code bit for bit.

A super-block of 256 elements:
  Q4_K (144 B): d, dmin (F16), scales[12] (8 six-bit scales + 8 six-bit
        minimums), qs[128]; sub-block j (32 elements): d*sc_j*q - dmin*m_j,
        q = nibble of qs[32*(j//2) + l] (low for even j, high for odd j).
  Q5_K (176 B): d, dmin, scales[12], qh[32], qs[128]; as Q4_K plus bit 4 of
        q = bit j of qh[l].
  Q6_K (210 B): ql[128], qh[64], scales[16] (int8), d; element
        e = 128h + 32i + l: d * scales[e//16] * (q - 32), q = the nibble
        (i < 2: low, else high) of ql[64h + 32*(i%2) + l] | bits 2i, 2i+1 of
        qh[32h + l] << 4.

The quantizers are simple (per sub-block range, scales rounded up so nothing
clips), not llama.cpp's error-minimizing search: the format is the same.

CLI:  kquant.py dequantize TYPE IN OUT   raw blocks -> float32 (little-endian)
      kquant.py quantize TYPE IN OUT     float32 -> raw blocks
      kquant.py selftest
"""
import sys

import numpy as np

QK_K = 256
BLOCK_BYTES = {"Q4_K": 144, "Q5_K": 176, "Q6_K": 210}
TYPES = tuple(BLOCK_BYTES)


def _f16(b):
    """(nb, 2) uint8 -> (nb,) float32."""
    return np.ascontiguousarray(b).view("<f2").reshape(-1).astype(np.float32)


def _f16_ceil(v):
    """The smallest F16 >= v (v >= 0), as uint16 bits."""
    v = np.asarray(v, np.float32)
    h = v.astype(np.float16).view(np.uint16).copy()
    low = h.view(np.float16).astype(np.float32) < v
    h[low] += 1
    return h


# ---- dequantization ----------------------------------------------------------

def _scales_mins(s):
    """(nb, 12) packed bytes -> six-bit scales (nb, 8), minimums (nb, 8)."""
    sc = np.empty((s.shape[0], 8), np.uint8)
    m = np.empty_like(sc)
    sc[:, :4] = s[:, 0:4] & 63
    m[:, :4] = s[:, 4:8] & 63
    sc[:, 4:] = (s[:, 8:12] & 0x0F) | ((s[:, 0:4] >> 6) << 4)
    m[:, 4:] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc, m


def _affine(d, dmin, scales, q):
    """q (nb, 8, 32) -> d*sc_j * q - dmin*m_j, float32, (nb*256,)."""
    sc, m = _scales_mins(scales)
    step = d[:, None] * sc.astype(np.float32)
    off = dmin[:, None] * m.astype(np.float32)
    return (step[:, :, None] * q.astype(np.float32) - off[:, :, None]).reshape(-1)


def _nibbles(qs):
    """(nb, 128) -> (nb, 8, 32): sub-block 2k low nibbles, 2k+1 high."""
    qs = qs.reshape(-1, 4, 1, 32)
    return np.concatenate([qs & 0x0F, qs >> 4], axis=2).reshape(-1, 8, 32)


def dequantize(raw, tname):
    raw = np.asarray(raw, np.uint8)
    b = raw.reshape(-1, BLOCK_BYTES[tname])
    if tname == "Q4_K":
        return _affine(_f16(b[:, 0:2]), _f16(b[:, 2:4]), b[:, 4:16], _nibbles(b[:, 16:144]))
    if tname == "Q5_K":
        qh = b[:, 16:48]
        high = (qh[:, None, :] >> np.arange(8, dtype=np.uint8)[None, :, None]) & 1
        return _affine(_f16(b[:, 0:2]), _f16(b[:, 2:4]), b[:, 4:16], _nibbles(b[:, 48:176]) | (high << 4))
    # Q6_K
    ql = b[:, 0:128].reshape(-1, 2, 2, 32)        # [half, which 32 bytes, l]
    qh = b[:, 128:192].reshape(-1, 2, 32)
    low = np.stack([ql[:, :, 0] & 0x0F, ql[:, :, 1] & 0x0F, ql[:, :, 0] >> 4, ql[:, :, 1] >> 4], axis=2)
    high = (qh[:, :, None, :] >> (2 * np.arange(4, dtype=np.uint8))[None, None, :, None]) & 3
    q = (low | (high << 4)).reshape(-1, QK_K).astype(np.float32) - np.float32(32)
    sc = np.repeat(b[:, 192:208].view(np.int8).astype(np.float32), 16, axis=1)
    d = _f16(b[:, 208:210])
    return ((d[:, None] * sc) * q).reshape(-1)


# ---- quantization ------------------------------------------------------------

def _pack_scales(sc, m):
    s = np.empty((sc.shape[0], 12), np.uint8)
    s[:, 0:4] = sc[:, :4] | ((sc[:, 4:] >> 4) << 6)
    s[:, 4:8] = m[:, :4] | ((m[:, 4:] >> 4) << 6)
    s[:, 8:12] = (sc[:, 4:] & 0x0F) | ((m[:, 4:] & 0x0F) << 4)
    return s


def _quantize_affine(x, qmax):
    """x (nb, 256) -> d, dmin (uint16 F16 bits), scales (nb, 12), L (nb, 8, 32)."""
    xs = x.reshape(-1, 8, 32)
    lo = np.minimum(xs.min(axis=2), 0)
    hi = np.maximum(xs.max(axis=2), 0)
    dmin = _f16_ceil((-lo).max(axis=1) / np.float32(63))
    dm = dmin.view(np.float16).astype(np.float32)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.where(dm > 0, np.minimum(63, np.ceil(-lo / dm)), 0).astype(np.uint8)
        need = (hi + dm * m.astype(np.float32)) / np.float32(qmax)
        d = _f16_ceil(need.max(axis=1) / np.float32(63))
        df = d.view(np.float16).astype(np.float32)[:, None]
        sc = np.where(df > 0, np.minimum(63, np.ceil(need / df)), 0).astype(np.uint8)
        step = (df * sc.astype(np.float32))[:, :, None]
        off = (dm * m.astype(np.float32))[:, :, None]
        L = np.where(step > 0, np.rint((xs + off) / step), 0)
    return d, dmin, _pack_scales(sc, m), np.clip(L, 0, qmax).astype(np.uint8)


def _f16_bytes(h):
    return h.astype("<u2").view(np.uint8).reshape(-1, 2)


def quantize(x, tname):
    """float32 values (size a multiple of 256) -> raw bytes."""
    x = np.ascontiguousarray(x, np.float32).reshape(-1, QK_K)
    nb = x.shape[0]
    if tname in ("Q4_K", "Q5_K"):
        d, dmin, scales, L = _quantize_affine(x, 15 if tname == "Q4_K" else 31)
        pairs = L.reshape(nb, 4, 2, 32)
        qs = ((pairs[:, :, 0] & 0x0F) | ((pairs[:, :, 1] & 0x0F) << 4)).reshape(nb, 128)
        parts = [_f16_bytes(d), _f16_bytes(dmin), scales]
        if tname == "Q5_K":
            bits = ((L >> 4) & 1).astype(np.uint32) << np.arange(8, dtype=np.uint32)[None, :, None]
            parts.append(bits.sum(axis=1).astype(np.uint8))
        return np.concatenate(parts + [qs], axis=1).tobytes()
    if tname != "Q6_K":
        raise ValueError(f"not a K-quant type: {tname}")
    xs = x.reshape(nb, 16, 16)
    step = np.abs(xs).max(axis=2) / np.float32(31)
    d = _f16_ceil(step.max(axis=1) / np.float32(127))
    df = d.view(np.float16).astype(np.float32)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = np.where(df > 0, np.minimum(127, np.ceil(step / df)), 0).astype(np.int8)
        s = (df * sc.astype(np.float32))[:, :, None]
        q = np.where(s > 0, np.rint(xs / s), 0)
    L = (np.clip(q, -32, 31) + 32).astype(np.uint8).reshape(nb, 2, 4, 32)   # [half, i, l]
    ql = np.concatenate([(L[:, :, 0] & 0x0F) | ((L[:, :, 2] & 0x0F) << 4),
                         (L[:, :, 1] & 0x0F) | ((L[:, :, 3] & 0x0F) << 4)], axis=2).reshape(nb, 128)
    qh = ((L[:, :, 0] >> 4) | ((L[:, :, 1] >> 4) << 2) | ((L[:, :, 2] >> 4) << 4)
          | ((L[:, :, 3] >> 4) << 6)).reshape(nb, 64)
    return np.concatenate([ql, qh, sc.view(np.uint8), _f16_bytes(d)], axis=1).tobytes()


# ---- CLI ---------------------------------------------------------------------

def selftest():
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(QK_K * 8) * np.repeat(rng.uniform(0.01, 3, 8), QK_K)).astype(np.float32)
    x[:QK_K] = np.abs(x[:QK_K])                   # a block without negative values
    x[QK_K:2 * QK_K] = 0                          # an all-zero block
    for t in TYPES:
        raw = np.frombuffer(quantize(x, t), np.uint8)
        assert raw.size == x.size // QK_K * BLOCK_BYTES[t], (t, raw.size)
        y = dequantize(raw, t)
        err = np.abs(y - x).reshape(-1, QK_K).max(axis=1)
        amax = np.abs(x).reshape(-1, QK_K).max(axis=1)
        rel = {"Q4_K": 0.1, "Q5_K": 0.05, "Q6_K": 0.025}[t]
        assert np.all(err <= rel * amax + 1e-30), (t, err / np.maximum(amax, 1e-30))
        assert not np.any(y[QK_K:2 * QK_K]), t
    # Q4_K by hand: d = 1, dmin = 0.5, sub-block 0 scale 2 / min 1, q = 3 -> 2*3 - 0.5.
    blk = np.zeros(144, np.uint8)
    blk[0:2] = np.frombuffer(np.float16(1).tobytes(), np.uint8)
    blk[2:4] = np.frombuffer(np.float16(0.5).tobytes(), np.uint8)
    blk[4], blk[8], blk[16] = 2, 1, 3
    assert dequantize(blk, "Q4_K")[0] == 5.5
    print("selftest ok")


def main(argv):
    if argv == ["selftest"]:
        selftest()
        return 0
    if len(argv) == 4 and argv[0] in ("dequantize", "quantize") and argv[1] in TYPES:
        data = np.fromfile(argv[2], np.uint8)
        if argv[0] == "dequantize":
            if data.size % BLOCK_BYTES[argv[1]]:
                print(f"kquant.py: {argv[2]}: {data.size} bytes is not a whole number of "
                      f"{argv[1]} blocks ({BLOCK_BYTES[argv[1]]} bytes)", file=sys.stderr)
                return 1
            dequantize(data, argv[1]).astype("<f4").tofile(argv[3])
        else:
            x = data.view("<f4")
            if x.size % QK_K:
                print(f"kquant.py: {argv[2]}: {x.size} values is not a multiple of {QK_K}", file=sys.stderr)
                return 1
            np.frombuffer(quantize(x, argv[1]), np.uint8).tofile(argv[3])
        return 0
    print(__doc__.split("CLI:")[1].strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
