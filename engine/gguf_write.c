/* gguf_write.c — GGUF v3 writer and reference quantizers (see gguf_write.h).
 *
 * Every metadata value is serialised when it is set (the bytes after the
 * type tag), so writing is a straight copy; tensor offsets are computed at
 * write time. One output routine feeds either a FILE or a growing buffer.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L   /* strdup, O_CLOEXEC */
#endif
#include "gguf_write.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key;
    uint32_t type;
    uint8_t *val;        /* serialised value (for arrays: elem type, count, elements) */
    size_t val_len;
} wkv;

typedef struct {
    char *name;
    uint32_t type, n_dims;
    uint64_t ne[GGUF_MAX_DIMS];
    const void *data;
    void *owned;         /* data, when the writer owns it */
    uint64_t nbytes;
} wtensor;

struct gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    uint32_t alignment;
};

gguf_writer *gguf_writer_new(void)
{
    gguf_writer *w = calloc(1, sizeof(*w));
    if (w)
        w->alignment = GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void gguf_writer_free(gguf_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        free(w->t[i].name);
        free(w->t[i].owned);
    }
    free(w->kv);
    free(w->t);
    free(w);
}

static bool grow(void **arr, size_t *cap, size_t n, size_t elsz)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, ncap * elsz);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

// ---- metadata -------------------------------------------------------------

/* Takes ownership of val (freed on failure). */
static int add_kv(gguf_writer *w, const char *key, uint32_t type, uint8_t *val, size_t len)
{
    int r = GGUF_OK;
    if (!key || !*key || strlen(key) > GGUF_MAX_KEY)
        r = GGUF_EINVAL;
    for (size_t i = 0; r == GGUF_OK && i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0)
            r = GGUF_EDUP;
    uint32_t align = 0;
    if (r == GGUF_OK && strcmp(key, "general.alignment") == 0) {
        if (type == GGUF_VAL_U32)
            memcpy(&align, val, 4);
        if (align == 0 || (align & (align - 1)) != 0)
            r = GGUF_EINVAL;
    }
    char *k = NULL;
    if (r == GGUF_OK && (!(k = strdup(key)) || !grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof(wkv))))
        r = GGUF_ENOMEM;
    if (r != GGUF_OK) {
        free(k);
        free(val);
        return r;
    }
    w->kv[w->n_kv++] = (wkv){k, type, val, len};
    if (align)
        w->alignment = align;
    return GGUF_OK;
}

static int set_scalar(gguf_writer *w, const char *key, uint32_t type, const void *v)
{
    size_t n = gguf_val_size((gguf_val_type)type);
    uint8_t *val = malloc(n);
    if (!val)
        return GGUF_ENOMEM;
    memcpy(val, v, n);
    return add_kv(w, key, type, val, n);
}

int gguf_writer_set_u8(gguf_writer *w, const char *k, uint8_t v) { return set_scalar(w, k, GGUF_VAL_U8, &v); }
int gguf_writer_set_i8(gguf_writer *w, const char *k, int8_t v) { return set_scalar(w, k, GGUF_VAL_I8, &v); }
int gguf_writer_set_u16(gguf_writer *w, const char *k, uint16_t v) { return set_scalar(w, k, GGUF_VAL_U16, &v); }
int gguf_writer_set_i16(gguf_writer *w, const char *k, int16_t v) { return set_scalar(w, k, GGUF_VAL_I16, &v); }
int gguf_writer_set_u32(gguf_writer *w, const char *k, uint32_t v) { return set_scalar(w, k, GGUF_VAL_U32, &v); }
int gguf_writer_set_i32(gguf_writer *w, const char *k, int32_t v) { return set_scalar(w, k, GGUF_VAL_I32, &v); }
int gguf_writer_set_u64(gguf_writer *w, const char *k, uint64_t v) { return set_scalar(w, k, GGUF_VAL_U64, &v); }
int gguf_writer_set_i64(gguf_writer *w, const char *k, int64_t v) { return set_scalar(w, k, GGUF_VAL_I64, &v); }
int gguf_writer_set_f32(gguf_writer *w, const char *k, float v) { return set_scalar(w, k, GGUF_VAL_F32, &v); }
int gguf_writer_set_f64(gguf_writer *w, const char *k, double v) { return set_scalar(w, k, GGUF_VAL_F64, &v); }

int gguf_writer_set_bool(gguf_writer *w, const char *key, bool v)
{
    uint8_t b = v ? 1 : 0;
    return set_scalar(w, key, GGUF_VAL_BOOL, &b);
}

/* u64 length + bytes at p; returns p advanced. */
static uint8_t *put_str(uint8_t *p, const char *s, size_t len)
{
    uint64_t n = len;
    memcpy(p, &n, 8);
    if (len)
        memcpy(p + 8, s, len);
    return p + 8 + len;
}

int gguf_writer_set_str_n(gguf_writer *w, const char *key, const char *s, size_t len)
{
    if (!s && len)
        return GGUF_EINVAL;
    uint8_t *val = malloc(8 + len);
    if (!val)
        return GGUF_ENOMEM;
    put_str(val, s, len);
    return add_kv(w, key, GGUF_VAL_STR, val, 8 + len);
}

int gguf_writer_set_str(gguf_writer *w, const char *key, const char *s)
{
    return s ? gguf_writer_set_str_n(w, key, s, strlen(s)) : GGUF_EINVAL;
}

/* Array header (element type, count) into a fresh buffer of 12 + body bytes. */
static uint8_t *arr_buf(uint32_t type, size_t n, size_t body)
{
    uint8_t *val = malloc(12 + body);
    if (val) {
        uint64_t n64 = n;
        memcpy(val, &type, 4);
        memcpy(val + 4, &n64, 8);
    }
    return val;
}

int gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_val_type type,
                        const void *data, size_t n)
{
    size_t sz = gguf_val_size(type);
    if (sz == 0 || (n && !data) || n > (SIZE_MAX - 12) / sz)
        return GGUF_EINVAL;
    for (size_t j = 0; type == GGUF_VAL_BOOL && j < n; j++)
        if (((const uint8_t *)data)[j] > 1)
            return GGUF_EINVAL;
    uint8_t *val = arr_buf(type, n, n * sz);
    if (!val)
        return GGUF_ENOMEM;
    if (n)
        memcpy(val + 12, data, n * sz);
    return add_kv(w, key, GGUF_VAL_ARR, val, 12 + n * sz);
}

int gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                            const size_t *lens, size_t n)
{
    size_t body = 0;
    if (n && !strs)
        return GGUF_EINVAL;
    for (size_t j = 0; j < n; j++) {
        if (!strs[j] && (!lens || lens[j]))
            return GGUF_EINVAL;
        size_t len = lens ? lens[j] : strlen(strs[j]);
        if (len > SIZE_MAX / 2 - body)
            return GGUF_EINVAL;
        body += 8 + len;
    }
    uint8_t *val = arr_buf(GGUF_VAL_STR, n, body);
    if (!val)
        return GGUF_ENOMEM;
    uint8_t *p = val + 12;
    for (size_t j = 0; j < n; j++)
        p = put_str(p, strs[j], lens ? lens[j] : strlen(strs[j]));
    return add_kv(w, key, GGUF_VAL_ARR, val, 12 + body);
}

// ---- tensors --------------------------------------------------------------

/* Validates a tensor description; returns its size in *nbytes. */
static int check_tensor(const gguf_writer *w, const char *name, uint32_t type,
                        uint32_t n_dims, const uint64_t *ne, uint64_t *nbytes)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > GGUF_WRITER_MAX_NAME || n_dims == 0 || n_dims > GGUF_MAX_DIMS || !ne)
        return GGUF_EINVAL;
    uint64_t n = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] == 0 || ne[d] > (uint64_t)INT64_MAX / n)
            return GGUF_EINVAL;
        n *= ne[d];
    }
    uint32_t blck = gguf_type_block_size(type);
    if (blck == 0 || ne[0] % blck != 0 || (*nbytes = gguf_type_nbytes(type, n)) == 0)
        return GGUF_EINVAL;
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return GGUF_EDUP;
    return GGUF_OK;
}

/* Appends a checked tensor; takes ownership of owned (freed on failure). */
static int push_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                       const uint64_t *ne, const void *data, void *owned, uint64_t nbytes)
{
    char *nm = strdup(name);
    if (!nm || !grow((void **)&w->t, &w->cap_t, w->n_t, sizeof(wtensor))) {
        free(nm);
        free(owned);
        return GGUF_ENOMEM;
    }
    wtensor *t = &w->t[w->n_t++];
    *t = (wtensor){.name = nm, .type = type, .n_dims = n_dims, .data = data,
                   .owned = owned, .nbytes = nbytes};
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
        t->ne[d] = d < n_dims ? ne[d] : 1;
    return GGUF_OK;
}

int gguf_writer_add_tensor(gguf_writer *w, const char *name, gguf_type type,
                           uint32_t n_dims, const uint64_t *ne,
                           const void *data, size_t nbytes, bool copy)
{
    uint64_t want;
    int r = check_tensor(w, name, type, n_dims, ne, &want);
    if (r != GGUF_OK)
        return r;
    if (!data || nbytes != want)
        return GGUF_EINVAL;
    void *owned = NULL;
    if (copy) {
        if (!(owned = malloc(nbytes)))
            return GGUF_ENOMEM;
        memcpy(owned, data, nbytes);
        data = owned;
    }
    return push_tensor(w, name, type, n_dims, ne, data, owned, nbytes);
}

int gguf_writer_add_tensor_f32(gguf_writer *w, const char *name, gguf_type type,
                               uint32_t n_dims, const uint64_t *ne, const float *src)
{
    uint64_t nbytes;
    int r = check_tensor(w, name, type, n_dims, ne, &nbytes);
    if (r != GGUF_OK)
        return r;
    if (!src || (type != GGUF_F32 && type != GGUF_F16 && type != GGUF_BF16 &&
                 type != GGUF_Q8_0 && type != GGUF_Q4_0))
        return GGUF_EINVAL;
    void *dst = malloc(nbytes);
    if (!dst)
        return GGUF_ENOMEM;
    uint64_t n = 1;
    for (uint32_t d = 0; d < n_dims; d++)
        n *= ne[d];
    gguf_quantize(type, src, dst, (int64_t)n);
    return push_tensor(w, name, type, n_dims, ne, dst, dst, nbytes);
}

// ---- output ---------------------------------------------------------------

typedef struct {
    FILE *f;             /* file output, or */
    uint8_t *buf;        /* memory output */
    size_t len, cap;
    bool failed;
} sink;

static void put(sink *s, const void *p, size_t n)
{
    if (s->failed || n == 0)
        return;
    if (s->f) {
        s->failed = fwrite(p, 1, n, s->f) != n;
        return;
    }
    if (n > s->cap - s->len) {
        size_t ncap = s->cap ? s->cap : 4096;
        while (ncap - s->len < n)
            ncap *= 2;
        uint8_t *b = realloc(s->buf, ncap);
        if (!b) {
            s->failed = true;
            return;
        }
        s->buf = b;
        s->cap = ncap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
}

static void put_u32(sink *s, uint32_t v) { put(s, &v, 4); }
static void put_u64(sink *s, uint64_t v) { put(s, &v, 8); }

static void put_gstr(sink *s, const char *str)
{
    size_t n = strlen(str);
    put_u64(s, n);
    put(s, str, n);
}

static void put_pad(sink *s, uint64_t pos, uint32_t align)
{
    static const uint8_t zeros[256];
    uint64_t pad = (align - pos % align) % align;
    while (pad) {
        size_t k = pad < sizeof(zeros) ? (size_t)pad : sizeof(zeros);
        put(s, zeros, k);
        pad -= k;
    }
}

static uint64_t pad_to(uint64_t x, uint32_t a) { return (x + a - 1) / a * a; }

static void emit(const gguf_writer *w, sink *s)
{
    uint64_t pos = 24;
    put(s, "GGUF", 4);
    put_u32(s, 3);
    put_u64(s, w->n_t);
    put_u64(s, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_gstr(s, w->kv[i].key);
        put_u32(s, w->kv[i].type);
        put(s, w->kv[i].val, w->kv[i].val_len);
        pos += 12 + strlen(w->kv[i].key) + w->kv[i].val_len;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_gstr(s, t->name);
        put_u32(s, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            put_u64(s, t->ne[d]);
        put_u32(s, t->type);
        put_u64(s, off);
        pos += 8 + strlen(t->name) + 4 + 8 * t->n_dims + 4 + 8;
        off = pad_to(off + t->nbytes, w->alignment);
    }
    if (w->n_t == 0)
        return;
    put_pad(s, pos, w->alignment);
    for (size_t i = 0; i < w->n_t; i++) {
        put(s, w->t[i].data, w->t[i].nbytes);
        put_pad(s, w->t[i].nbytes, w->alignment);
    }
}

int gguf_writer_write_mem(const gguf_writer *w, void **out, size_t *len)
{
    sink s = {0};
    emit(w, &s);
    if (s.failed) {
        free(s.buf);
        return GGUF_ENOMEM;
    }
    *out = s.buf;
    *len = s.len;
    return GGUF_OK;
}

int gguf_writer_write(const gguf_writer *w, const char *path, char *err, size_t errlen)
{
    char dummy[1];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    size_t n = strlen(path);
    char *tmp = malloc(n + 5);
    if (!tmp) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);
    sink s = {.f = fopen(tmp, "wb")};
    if (!s.f) {
        snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    emit(w, &s);
    bool ok = !s.failed && fflush(s.f) == 0 && !ferror(s.f);
    ok = (fclose(s.f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: write failed: %s", ok ? path : tmp, strerror(errno));
        remove(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

// ---- reference quantizers -------------------------------------------------

uint16_t gguf_fp32_to_fp16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffff;
    if (ax > 0x7f800000)                        /* NaN: keep it quiet */
        return sign | 0x7e00 | (uint16_t)((ax >> 13) & 0x3ff);
    if (ax >= 0x477ff000)                       /* >= 65520 rounds to inf */
        return sign | 0x7c00;
    if (ax >= 0x38800000) {                     /* normal half: rebias, round */
        uint32_t r = ax - 0x38000000;
        return sign | (uint16_t)((r + 0xfff + ((r >> 13) & 1)) >> 13);
    }
    /* Subnormal half: the result is round(|f| * 2^24) in units of 2^-24. */
    uint32_t e = ax >> 23, m = (ax & 0x7fffff) | 0x800000;
    if (e < 102)                                /* below 2^-25: rounds to 0 */
        return sign;
    uint32_t shift = 126 - e, q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1)))
        q++;
    return sign | (uint16_t)q;
}

uint16_t gguf_fp32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((x >> 16) | 0x40);
    return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

static void quant_q8_0(const float *x, uint8_t *y)
{
    float amax = 0.0f;
    for (int j = 0; j < 32; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint16_t dh = gguf_fp32_to_fp16(d);
    memcpy(y, &dh, 2);
    for (int j = 0; j < 32; j++) {
        float v = x[j] * id;
        y[2 + j] = (uint8_t)(int8_t)roundf(v);
    }
}

static void quant_q4_0(const float *x, uint8_t *y)
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++)
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    float d = max / -8.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint16_t dh = gguf_fp32_to_fp16(d);
    memcpy(y, &dh, 2);
    for (int j = 0; j < 16; j++) {
        float a = x[j] * id, b = x[j + 16] * id;
        a += 8.5f;
        b += 8.5f;
        int qa = (int)a < 15 ? (int)a : 15, qb = (int)b < 15 ? (int)b : 15;
        y[2 + j] = (uint8_t)(qa | (qb << 4));
    }
}

size_t gguf_quantize(gguf_type type, const float *src, void *dst, int64_t n)
{
    uint8_t *y = dst;
    if (n < 0 || !src || !dst)
        return 0;
    switch (type) {
    case GGUF_F32:
        memcpy(dst, src, (size_t)n * 4);
        return (size_t)n * 4;
    case GGUF_F16:
    case GGUF_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = type == GGUF_F16 ? gguf_fp32_to_fp16(src[i]) : gguf_fp32_to_bf16(src[i]);
            memcpy(y + 2 * i, &h, 2);
        }
        return (size_t)n * 2;
    case GGUF_Q8_0:
    case GGUF_Q4_0:
        if (n % 32 != 0)
            return 0;
        for (int64_t b = 0; b < n / 32; b++) {
            if (type == GGUF_Q8_0)
                quant_q8_0(src + 32 * b, y + 34 * b);
            else
                quant_q4_0(src + 32 * b, y + 18 * b);
        }
        return (size_t)(n / 32) * (type == GGUF_Q8_0 ? 34 : 18);
    default:
        return 0;
    }
}
