#!/usr/bin/python3
"""tools/gguf.py — a GGUF (v2/v3) reader and v3 writer in pure Python + numpy.

Independent of the C reader (engine/gguf.c): written from the file format, so
the two can check each other. Used by the numpy reference forward pass, the
model trainer and tests/engine/test_gguf.c. Run with /usr/bin/python3 (needs
numpy).

Shapes: GGUF lists dimensions innermost first (ne[0] = row length). Numpy
arrays here are row-major with the same memory order, so a tensor with
ne = [n_in, n_out] is the numpy array of shape (n_out, n_in): shape = ne[::-1].

    r = GGUFReader("model.gguf")
    r.kv["qwen2.block_count"]          -> 24
    r.tensors["output_norm.weight"]    -> TensorInfo(name, ne, type, offset, nbytes)
    r.tensor("blk.0.attn_q.weight")    -> float32 array (F32/F16/BF16/Q8_0/Q4_0,
                                          Q4_K/Q5_K/Q6_K via tools/kquant.py)

    w = GGUFWriter()
    w.add("general.architecture", "llama")          # str
    w.add("llama.block_count", 2, U32)               # explicit value type
    w.add("tokenizer.ggml.tokens", ["a", "b"])       # string array
    w.add("tokenizer.ggml.scores", [0.0, -1.0], F32) # numeric array of F32
    w.add_tensor("token_embd.weight", emb, "Q8_0")   # quantized from float32
    w.write("out.gguf")

The reader checks bounds, types and alignment but is less strict than the C
reader (no overlap check); use it on files you trust. The quantizers
(quantize()) produce the same bytes as engine/gguf_write.c's; the K-quants'
(tools/kquant.py) share only the format with engine/device/kq_*.c.

CLI:  gguf.py info FILE [-v] | fixture OUT | check-fixture FILE | selftest
"""
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kquant  # noqa: E402

# Metadata value types.
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
VAL_NAMES = ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr",
             "u64", "i64", "f64"]
VAL_DTYPE = {U8: "<u1", I8: "<i1", U16: "<u2", I16: "<i2", U32: "<u4", I32: "<i4",
             F32: "<f4", BOOL: "<u1", U64: "<u8", I64: "<i8", F64: "<f8"}

# ggml tensor types: name -> (number, elements per block, bytes per block).
GGML_TYPES = {
    "F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18), "Q4_1": (3, 32, 20),
    "Q5_0": (6, 32, 22), "Q5_1": (7, 32, 24), "Q8_0": (8, 32, 34), "Q8_1": (9, 32, 36),
    "Q2_K": (10, 256, 84), "Q3_K": (11, 256, 110), "Q4_K": (12, 256, 144),
    "Q5_K": (13, 256, 176), "Q6_K": (14, 256, 210), "Q8_K": (15, 256, 292),
    "IQ2_XXS": (16, 256, 66), "IQ2_XS": (17, 256, 74), "IQ3_XXS": (18, 256, 98),
    "IQ1_S": (19, 256, 50), "IQ4_NL": (20, 32, 18), "IQ3_S": (21, 256, 110),
    "IQ2_S": (22, 256, 82), "IQ4_XS": (23, 256, 136), "I8": (24, 1, 1),
    "I16": (25, 1, 2), "I32": (26, 1, 4), "I64": (27, 1, 8), "F64": (28, 1, 8),
    "IQ1_M": (29, 256, 56), "BF16": (30, 1, 2), "TQ1_0": (34, 256, 54),
    "TQ2_0": (35, 256, 66), "MXFP4": (39, 32, 17),
}
TYPE_NAME = {v[0]: k for k, v in GGML_TYPES.items()}


class GGUFError(Exception):
    pass


def type_nbytes(tname, n):
    _, blck, size = GGML_TYPES[tname]
    if n % blck:
        raise GGUFError(f"{n} elements is not a whole number of {tname} blocks ({blck})")
    return n // blck * size


# ---- float conversion and quantization (float32 semantics throughout) ------

def f32_to_bf16(x):
    """Round to nearest even; NaN stays a quiet NaN. Returns uint16 bits."""
    b = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    nan = (b & 0x7FFFFFFF) > 0x7F800000
    r = (b + 0x7FFF + ((b >> 16) & 1)) >> 16
    r = np.where(nan, (b >> 16) | 0x40, r)
    return (r & 0xFFFF).astype(np.uint16)


def _round_half_away(v):
    """C roundf() of float32 values (numpy's round is half-to-even)."""
    v64 = v.astype(np.float64)          # v + 0.5 is exact in float64
    return np.trunc(v64 + np.copysign(0.5, v64))


def _safe_inv(d):
    out = np.zeros_like(d)
    np.divide(np.float32(1.0), d, out=out, where=d != 0)
    return out


def quantize(x, tname):
    """float32 values (any shape, size a multiple of the block) -> raw bytes."""
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    if tname == "F32":
        return x.tobytes()
    if tname == "F16":
        return x.astype(np.float16).tobytes()
    if tname == "BF16":
        return f32_to_bf16(x).tobytes()
    if tname in kquant.TYPES:
        if x.size % kquant.QK_K:
            raise GGUFError(f"{x.size} values is not a whole number of {kquant.QK_K}-element blocks")
        return kquant.quantize(x, tname)
    if tname not in ("Q8_0", "Q4_0"):
        raise GGUFError(f"cannot quantize to {tname}")
    if x.size % 32:
        raise GGUFError(f"{x.size} values is not a whole number of 32-element blocks")
    blocks = x.reshape(-1, 32)
    if tname == "Q8_0":
        d = np.abs(blocks).max(axis=1) / np.float32(127)
        q = _round_half_away(blocks * _safe_inv(d)[:, None]).astype(np.int8)
        out = np.empty((blocks.shape[0], 34), np.uint8)
        out[:, :2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
        out[:, 2:] = q.view(np.uint8)
        return out.tobytes()
    # Q4_0: the element of largest magnitude (first one on ties) maps to -8.
    rows = np.arange(blocks.shape[0])
    idx = np.abs(blocks).argmax(axis=1)
    amax = np.abs(blocks[rows, idx])
    m = np.where(amax > 0, blocks[rows, idx], np.float32(0)).astype(np.float32)
    d = m / np.float32(-8)
    v = (blocks * _safe_inv(d)[:, None]) + np.float32(8.5)
    q = np.minimum(np.trunc(v), 15).astype(np.uint8)
    out = np.empty((blocks.shape[0], 18), np.uint8)
    out[:, :2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


def dequantize(raw, tname, n):
    """Raw bytes (numpy uint8) of n elements of type tname -> float32 array."""
    raw = np.asarray(raw, dtype=np.uint8)
    if tname == "F32":
        return raw.view("<f4").copy()
    if tname == "F16":
        return raw.view("<f2").astype(np.float32)
    if tname == "BF16":
        return (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
    if tname in ("F64", "I8", "I16", "I32", "I64"):
        dt = {"F64": "<f8", "I8": "<i1", "I16": "<i2", "I32": "<i4", "I64": "<i8"}[tname]
        return raw.view(dt).astype(np.float32)
    if tname == "Q8_0":
        b = raw.reshape(-1, 34)
        d = b[:, :2].copy().view("<f2").astype(np.float32)
        return (d * b[:, 2:].view(np.int8).astype(np.float32)).reshape(-1)
    if tname == "Q4_0":
        b = raw.reshape(-1, 18)
        d = b[:, :2].copy().view("<f2").astype(np.float32)
        qs = b[:, 2:]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8
        return (d * q).reshape(-1)
    if tname in kquant.TYPES:
        return kquant.dequantize(raw, tname)
    raise GGUFError(f"dequantization of {tname} is not implemented")


# ---- reader ------------------------------------------------------------------

class TensorInfo:
    def __init__(self, name, ne, tname, offset, nbytes):
        self.name, self.ne, self.type, self.offset, self.nbytes = name, ne, tname, offset, nbytes

    @property
    def shape(self):
        return tuple(reversed(self.ne))

    @property
    def n_elems(self):
        return int(np.prod(self.ne, dtype=np.int64))

    def __repr__(self):
        return f"TensorInfo({self.name!r}, ne={self.ne}, {self.type}, off={self.offset}, {self.nbytes} B)"


class GGUFReader:
    """Parses a GGUF file (path, bytes or numpy uint8 array). Tensor data is
    read lazily from a read-only memmap."""

    def __init__(self, src):
        if isinstance(src, (bytes, bytearray)):
            self.buf, self.path = np.frombuffer(bytes(src), np.uint8), "<memory>"
        elif isinstance(src, np.ndarray):
            self.buf, self.path = src.view(np.uint8).reshape(-1), "<memory>"
        else:
            self.buf, self.path = np.memmap(src, np.uint8, "r"), str(src)
        self.mv = memoryview(self.buf)
        self.pos = 0
        self.kv, self.kv_types, self.tensors = {}, {}, {}
        self._parse()

    def _err(self, msg):
        raise GGUFError(f"{self.path}: {msg}")

    def _take(self, n, what):
        if n < 0 or self.pos + n > len(self.buf):
            self._err(f"truncated in {what}")
        p = self.pos
        self.pos += n
        return self.mv[p:p + n]

    def _u32(self, what):
        return struct.unpack("<I", self._take(4, what))[0]

    def _u64(self, what):
        return struct.unpack("<Q", self._take(8, what))[0]

    def _str(self, what):
        return bytes(self._take(self._u64(what), what)).decode("utf-8", "surrogateescape")

    def _value(self, vt, what):
        if vt == STR:
            return self._str(what)
        if vt == ARR:
            et, n = self._u32(what), self._u64(what)
            if et == STR:
                return [self._str(what) for _ in range(n)]
            if et not in VAL_DTYPE:
                self._err(f"{what}: unsupported array element type {et}")
            size = np.dtype(VAL_DTYPE[et]).itemsize
            arr = np.frombuffer(self._take(n * size, what), VAL_DTYPE[et]).copy()
            return arr.astype(bool) if et == BOOL else arr
        if vt not in VAL_DTYPE:
            self._err(f"{what}: unknown value type {vt}")
        v = np.frombuffer(self._take(np.dtype(VAL_DTYPE[vt]).itemsize, what), VAL_DTYPE[vt])[0]
        return bool(v) if vt == BOOL else v.item()

    def _parse(self):
        if bytes(self._take(4, "header")) != b"GGUF":
            self._err("bad magic (not a GGUF file)")
        self.version = self._u32("header")
        if self.version not in (2, 3):
            self._err(f"unsupported GGUF version {self.version}")
        n_tensors, n_kv = self._u64("header"), self._u64("header")
        for i in range(n_kv):
            what = f"metadata key {i} of {n_kv}"
            key = self._str(what)
            if key in self.kv:
                self._err(f"duplicate metadata key '{key}'")
            vt = self._u32(what)
            elem = None
            if vt == ARR:
                elem = struct.unpack("<I", self.mv[self.pos:self.pos + 4])[0] \
                    if self.pos + 4 <= len(self.buf) else None
            self.kv[key] = self._value(vt, what)
            self.kv_types[key] = (vt, elem)
        self.alignment = self.kv.get("general.alignment", 32)
        if self.alignment <= 0 or self.alignment & (self.alignment - 1):
            self._err(f"general.alignment {self.alignment} is not a power of two")
        infos = []
        for i in range(n_tensors):
            what = f"tensor info {i} of {n_tensors}"
            name = self._str(what)
            n_dims = self._u32(what)
            if not 1 <= n_dims <= 4:
                self._err(f"tensor '{name}' has {n_dims} dimensions")
            ne = [self._u64(what) for _ in range(n_dims)]
            tnum, off = self._u32(what), self._u64(what)
            if tnum not in TYPE_NAME:
                self._err(f"tensor '{name}' has unknown type {tnum}")
            infos.append((name, ne, TYPE_NAME[tnum], off))
        a = self.alignment
        self.data_offset = (self.pos + a - 1) // a * a
        for name, ne, tname, off in infos:
            if name in self.tensors:
                self._err(f"duplicate tensor name '{name}'")
            nbytes = type_nbytes(tname, int(np.prod(ne, dtype=object)))
            if off % a or self.data_offset + off + nbytes > len(self.buf):
                self._err(f"tensor '{name}' is misaligned or past end of file")
            self.tensors[name] = TensorInfo(name, ne, tname, off, nbytes)

    def raw(self, name):
        """The tensor's stored bytes (a read-only uint8 view)."""
        t = self.tensors[name]
        start = self.data_offset + t.offset
        return self.buf[start:start + t.nbytes]

    def tensor(self, name):
        """The tensor as float32, shape ne[::-1]."""
        t = self.tensors[name]
        return dequantize(self.raw(name), t.type, t.n_elems).reshape(t.shape)


# ---- writer ------------------------------------------------------------------

_NP_VTYPE = {("u", 1): U8, ("i", 1): I8, ("u", 2): U16, ("i", 2): I16, ("u", 4): U32,
             ("i", 4): I32, ("f", 4): F32, ("b", 1): BOOL, ("u", 8): U64, ("i", 8): I64,
             ("f", 8): F64}


def _infer_vtype(v):
    if isinstance(v, bool):
        return BOOL
    if isinstance(v, int):
        return I32 if -2**31 <= v < 2**31 else (I64 if v < 2**63 else U64)
    if isinstance(v, float):
        return F32
    if isinstance(v, str):
        return STR
    raise GGUFError(f"cannot infer a GGUF type for {v!r}")


class GGUFWriter:
    """Collects metadata and tensors; write() emits a GGUF v3 file."""

    def __init__(self, alignment=32):
        self.kv, self.tensors, self.alignment = {}, [], alignment
        if alignment != 32:
            self.add("general.alignment", alignment, U32)

    def add(self, key, value, vtype=None):
        """Scalar, or list/array (then vtype is the element type; strings
        inferred). Without vtype: bool->bool, int->i32, float->f32, str->str."""
        if key in self.kv:
            raise GGUFError(f"duplicate metadata key '{key}'")
        if isinstance(value, (list, tuple, np.ndarray)):
            if isinstance(value, np.ndarray) and vtype is None:
                vtype = _NP_VTYPE.get((value.dtype.kind, value.dtype.itemsize))
            if vtype is None:
                vtype = _infer_vtype(value[0]) if len(value) else I32
            self.kv[key] = (ARR, vtype, value)
        else:
            self.kv[key] = (vtype if vtype is not None else _infer_vtype(value), None, value)

    def add_tensor(self, name, array, tname="F32"):
        """A float array stored as F32/F16/BF16/Q8_0/Q4_0/Q4_K/Q5_K/Q6_K (quantized here)."""
        array = np.asarray(array, dtype=np.float32)
        self.add_tensor_raw(name, quantize(array, tname), list(reversed(array.shape)), tname)

    def add_tensor_raw(self, name, raw, ne, tname):
        """Bytes already in the storage format of tname."""
        if any(t[0] == name for t in self.tensors):
            raise GGUFError(f"duplicate tensor name '{name}'")
        if not 0 < len(name.encode()) <= 63 or not 1 <= len(ne) <= 4:
            raise GGUFError(f"bad tensor '{name}'")
        n = int(np.prod(ne, dtype=object))
        if ne[0] % GGML_TYPES[tname][1] or len(raw) != type_nbytes(tname, n):
            raise GGUFError(f"tensor '{name}': {len(raw)} bytes do not match {tname} {ne}")
        self.tensors.append((name, [int(x) for x in ne], tname, bytes(raw)))

    @staticmethod
    def _s(s):
        b = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else bytes(s)
        return struct.pack("<Q", len(b)) + b

    def _scalar(self, vt, v):
        if vt == STR:
            return self._s(v)
        return np.array([v], dtype=VAL_DTYPE[vt]).tobytes()

    def to_bytes(self):
        out = [b"GGUF", struct.pack("<IQQ", 3, len(self.tensors), len(self.kv))]
        for key, (vt, et, v) in self.kv.items():
            out += [self._s(key), struct.pack("<I", vt)]
            if vt == ARR:
                out.append(struct.pack("<IQ", et, len(v)))
                if et == STR:
                    out += [self._s(s) for s in v]
                else:
                    out.append(np.asarray(v).astype(VAL_DTYPE[et]).tobytes())
            else:
                out.append(self._scalar(vt, v))
        a, off = self.alignment, 0
        for name, ne, tname, raw in self.tensors:
            out += [self._s(name), struct.pack("<I", len(ne)), struct.pack(f"<{len(ne)}Q", *ne),
                    struct.pack("<IQ", GGML_TYPES[tname][0], off)]
            off += (len(raw) + a - 1) // a * a
        head = b"".join(out)
        if not self.tensors:
            return head
        parts = [head, bytes(-len(head) % a)]
        for _, _, _, raw in self.tensors:
            parts += [raw, bytes(-len(raw) % a)]
        return b"".join(parts)

    def write(self, path):
        with open(path, "wb") as f:
            f.write(self.to_bytes())


# ---- fixture shared with tests/engine/test_gguf.c -----------------------------
# Both sides build the same file independently; each checks the other's.

FIXTURE_TENSORS = [("t.f32", "F32", [32, 3]), ("t.f16", "F16", [64, 2]),
                   ("t.bf16", "BF16", [16, 4]), ("t.q8_0", "Q8_0", [64, 3]),
                   ("t.q4_0", "Q4_0", [96, 2]), ("t.3d", "F32", [4, 3, 2])]


def fixture_values(ne):
    """v[i] = ((i*37) % 101 - 50) * (row+1) / 7 in float32, row = i // ne[0]."""
    n = int(np.prod(ne))
    i = np.arange(n)
    k = ((i * 37) % 101 - 50).astype(np.float32)
    r = (i // ne[0] + 1).astype(np.float32)
    return ((k * r) / np.float32(7)).reshape(list(reversed(ne)))


def fixture_kv():
    return [("general.architecture", STR, "llama"), ("general.name", STR, "fixture \u2713"),
            ("test.u8", U8, 200), ("test.i8", I8, -100), ("test.u16", U16, 60000),
            ("test.i16", I16, -30000), ("test.u32", U32, 4000000000),
            ("test.i32", I32, -2000000000), ("test.f32", F32, 1.5), ("test.bool", BOOL, True),
            ("test.u64", U64, 2**63 + 5), ("test.i64", I64, -(2**62)), ("test.f64", F64, 3.25),
            ("test.arr_i32", (ARR, I32), [1, -2, 3]), ("test.arr_f32", (ARR, F32), [0.5, -1.25]),
            ("test.arr_u8", (ARR, U8), [1, 2, 255]), ("test.arr_bool", (ARR, BOOL), [True, False]),
            ("test.arr_str", (ARR, STR), ["a", "", "h\u00e9llo", "x y"]),
            ("test.arr_empty", (ARR, I32), [])]


def fixture_writer():
    w = GGUFWriter()
    for key, vt, v in fixture_kv():
        w.add(key, v, vt[1] if isinstance(vt, tuple) else vt)
    for name, tname, ne in FIXTURE_TENSORS:
        w.add_tensor(name, fixture_values(ne), tname)
    return w


def check_fixture(path):
    r = GGUFReader(path)
    for key, vt, want in fixture_kv():
        got = r.kv.get(key)
        kind = r.kv_types.get(key)
        exp_kind = (ARR, vt[1]) if isinstance(vt, tuple) else (vt, None)
        if kind != exp_kind:
            raise GGUFError(f"{key}: type {kind}, expected {exp_kind}")
        if isinstance(want, list) and vt[1] != STR:
            ok = np.array_equal(np.asarray(got), np.asarray(want, dtype=VAL_DTYPE[vt[1]]).astype(
                bool if vt[1] == BOOL else VAL_DTYPE[vt[1]]))
        else:
            ok = got == want
        if not ok:
            raise GGUFError(f"{key}: {got!r} != {want!r}")
    for name, tname, ne in FIXTURE_TENSORS:
        t = r.tensors[name]
        if t.type != tname or t.ne != ne:
            raise GGUFError(f"{name}: {t}, expected {tname} {ne}")
        x = fixture_values(ne)
        if bytes(r.raw(name)) != quantize(x, tname):
            raise GGUFError(f"{name}: stored bytes differ from the reference {tname} quantizer")
        err = np.abs(r.tensor(name) - x).max()
        rel = {"F32": 0, "F16": 2**-11, "BF16": 2**-8, "Q8_0": 0.6 / 127, "Q4_0": 1.01 / 8}
        tol = rel[tname] * np.abs(x).max()
        if err > tol:
            raise GGUFError(f"{name}: max error {err} > {tol}")
    return r


# ---- CLI ---------------------------------------------------------------------

def info(path, verbose=False):
    r = GGUFReader(path)
    print(f"{path}: GGUF v{r.version}, alignment {r.alignment}, data at {r.data_offset}")
    for k, v in r.kv.items():
        vt, et = r.kv_types[k]
        if vt == ARR:
            items = [x.item() if hasattr(x, "item") else x for x in v[:None if verbose else 8]]
            s = repr(items)[:-1] + (", ...]" if len(items) < len(v) else "]")
            ty = f"arr[{VAL_NAMES[et]},{len(v)}]"
        else:
            s, ty = repr(v), VAL_NAMES[vt]
        print(f"  {k:44} {ty:8} {s if verbose else s[:200]}")
    total = 0
    for t in r.tensors.values():
        print(f"  {t.name:44} {t.type:8} {str(t.ne):26} {t.nbytes:12}")
        total += t.n_elems
    print(f"total: {total} parameters")


def selftest():
    w = fixture_writer()
    blob = w.to_bytes()
    check_fixture(np.frombuffer(blob, np.uint8))
    v = np.array([0.5, -0.5, 1.5, 2.5, -2.5, 0.49999997], np.float32)
    assert list(_round_half_away(v)) == [1, -1, 2, 3, -3, 0]
    # Q4_0: d = -4/-8; -4 -> nibble 0, 2 -> 12, 0 -> 8.
    q = np.frombuffer(quantize(np.array([-4.0, 2.0] + [0.0] * 30, np.float32), "Q4_0"), np.uint8)
    assert q[2] == 0x80 and q[3] == 0x8C and q[4] == 0x88, q[:5]
    print("selftest ok")


def main(argv):
    if len(argv) >= 2 and argv[0] == "info":
        info(argv[1], "-v" in argv)
    elif len(argv) == 2 and argv[0] == "fixture":
        fixture_writer().write(argv[1])
    elif len(argv) == 2 and argv[0] == "check-fixture":
        check_fixture(argv[1])
        print("fixture ok")
    elif argv == ["selftest"]:
        selftest()
    else:
        print(__doc__.split("CLI:")[1].strip(), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except GGUFError as e:
        print(f"gguf.py: {e}", file=sys.stderr)
        sys.exit(1)
