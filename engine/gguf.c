/* gguf.c — GGUF reader: map, validate, index (see gguf.h for the contract).
 *
 * Parsing is one forward pass over a cursor that refuses to read past the end
 * of the buffer; nothing is allocated in proportion to a count from the file
 * until the bytes that count describes have been seen (tables grow as entries
 * are parsed). After the pass, keys and tensor names are sorted (duplicate
 * check, O(log n) lookup) and tensors are sorted by offset (overlap check).
 * The ctx owns: copies of keys and tensor names, the entry tables, the string
 * array offset indexes and (gguf_open) the mapping.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L   /* strdup, O_CLOEXEC */
#endif
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c reads little-endian files by memcpy: little-endian hosts only"
#endif

// ---- types ----------------------------------------------------------------

typedef struct {
    const char *key;      /* NUL-terminated copy (owned; first member, see name_of) */
    uint32_t type;        /* gguf_val_type */
    uint32_t arr_type;    /* element type if type == ARR */
    uint64_t n;           /* array length (1 for scalars) */
    size_t off;           /* scalar value, or first array element; for strings the u64 length */
    size_t *str_off;      /* string arrays: offset of each element's u64 length (owned) */
} kv_entry;

struct gguf_ctx {
    const uint8_t *base;          /* the file */
    size_t size;
    void *map;                    /* our mmap, or NULL for gguf_open_mem */
    char *name;
    uint32_t version, alignment;
    uint64_t data_off;
    kv_entry *kv;
    int64_t n_kv, cap_kv;
    gguf_tensor *t;
    int64_t n_t, cap_t;
    const void **kv_sorted;       /* kv_entry *, by key */
    const void **t_sorted;        /* gguf_tensor *, by name */
    bool have_id;
    char id[33];
    char *err;                    /* parse-time only */
    size_t errlen;
};

typedef struct {
    const uint8_t *p;
    size_t len, pos;
} cursor;

static const struct { const char *name; uint16_t blck, bytes; } TYPES[GGUF_TYPE_COUNT] = {
    [GGUF_F32] = {"F32", 1, 4},          [GGUF_F16] = {"F16", 1, 2},
    [GGUF_Q4_0] = {"Q4_0", 32, 18},      [GGUF_Q4_1] = {"Q4_1", 32, 20},
    [GGUF_Q5_0] = {"Q5_0", 32, 22},      [GGUF_Q5_1] = {"Q5_1", 32, 24},
    [GGUF_Q8_0] = {"Q8_0", 32, 34},      [GGUF_Q8_1] = {"Q8_1", 32, 36},
    [GGUF_Q2_K] = {"Q2_K", 256, 84},     [GGUF_Q3_K] = {"Q3_K", 256, 110},
    [GGUF_Q4_K] = {"Q4_K", 256, 144},    [GGUF_Q5_K] = {"Q5_K", 256, 176},
    [GGUF_Q6_K] = {"Q6_K", 256, 210},    [GGUF_Q8_K] = {"Q8_K", 256, 292},
    [GGUF_IQ2_XXS] = {"IQ2_XXS", 256, 66}, [GGUF_IQ2_XS] = {"IQ2_XS", 256, 74},
    [GGUF_IQ3_XXS] = {"IQ3_XXS", 256, 98}, [GGUF_IQ1_S] = {"IQ1_S", 256, 50},
    [GGUF_IQ4_NL] = {"IQ4_NL", 32, 18},  [GGUF_IQ3_S] = {"IQ3_S", 256, 110},
    [GGUF_IQ2_S] = {"IQ2_S", 256, 82},   [GGUF_IQ4_XS] = {"IQ4_XS", 256, 136},
    [GGUF_I8] = {"I8", 1, 1},            [GGUF_I16] = {"I16", 1, 2},
    [GGUF_I32] = {"I32", 1, 4},          [GGUF_I64] = {"I64", 1, 8},
    [GGUF_F64] = {"F64", 1, 8},          [GGUF_IQ1_M] = {"IQ1_M", 256, 56},
    [GGUF_BF16] = {"BF16", 1, 2},        [GGUF_TQ1_0] = {"TQ1_0", 256, 54},
    [GGUF_TQ2_0] = {"TQ2_0", 256, 66},   [GGUF_MXFP4] = {"MXFP4", 32, 17},
};

static const struct { const char *name; uint8_t size; } VALS[GGUF_VAL_COUNT] = {
    {"u8", 1}, {"i8", 1}, {"u16", 2}, {"i16", 2}, {"u32", 4}, {"i32", 4},
    {"f32", 4}, {"bool", 1}, {"str", 0}, {"arr", 0}, {"u64", 8}, {"i64", 8},
    {"f64", 8},
};

// ---- type tables ----------------------------------------------------------

const char *gguf_type_name(uint32_t t) { return t < GGUF_TYPE_COUNT ? TYPES[t].name : NULL; }
uint32_t gguf_type_block_size(uint32_t t) { return t < GGUF_TYPE_COUNT ? TYPES[t].blck : 0; }
uint32_t gguf_type_block_bytes(uint32_t t) { return t < GGUF_TYPE_COUNT ? TYPES[t].bytes : 0; }

uint64_t gguf_type_nbytes(uint32_t type, uint64_t n)
{
    uint32_t blck = gguf_type_block_size(type), bytes = gguf_type_block_bytes(type);
    if (blck == 0 || n % blck != 0 || n / blck > UINT64_MAX / bytes)
        return 0;
    return n / blck * bytes;
}

size_t gguf_val_size(gguf_val_type t) { return (unsigned)t < GGUF_VAL_COUNT ? VALS[t].size : 0; }
const char *gguf_val_type_name(gguf_val_type t) { return (unsigned)t < GGUF_VAL_COUNT ? VALS[t].name : "?"; }

// ---- parsing helpers ------------------------------------------------------

/* Records "<name>: <message>" (the first error wins) and returns -1. */
__attribute__((format(printf, 2, 3)))
static int fail(gguf_ctx *ctx, const char *fmt, ...)
{
    if (!ctx->err || ctx->errlen == 0 || ctx->err[0])
        return -1;
    int n = snprintf(ctx->err, ctx->errlen, "%s: ", ctx->name);
    if (n >= 0 && (size_t)n < ctx->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->err + n, ctx->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static bool need(const cursor *c, uint64_t n) { return n <= c->len - c->pos; }

static bool rd(cursor *c, void *v, size_t n)
{
    if (!need(c, n))
        return false;
    memcpy(v, c->p + c->pos, n);
    c->pos += n;
    return true;
}

static bool rd_u32(cursor *c, uint32_t *v) { return rd(c, v, 4); }
static bool rd_u64(cursor *c, uint64_t *v) { return rd(c, v, 8); }

/* A gguf string: u64 length + bytes. *off is where the bytes start. */
static bool rd_str(cursor *c, size_t *off, uint64_t *len)
{
    if (!rd_u64(c, len) || !need(c, *len))
        return false;
    *off = c->pos;
    c->pos += (size_t)*len;
    return true;
}

static uint64_t ld_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static char *dup_bytes(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

/* Makes room for one more element in a table that grows by doubling. */
static bool grow(void **arr, int64_t *cap, int64_t n, size_t elsz)
{
    if (n < *cap)
        return true;
    int64_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, (size_t)ncap * elsz);
    if (!p)
        return false;
    memset((char *)p + (size_t)*cap * elsz, 0, (size_t)(ncap - *cap) * elsz);
    *arr = p;
    *cap = ncap;
    return true;
}

// ---- metadata -------------------------------------------------------------

static int check_bools(gguf_ctx *ctx, const kv_entry *e, const uint8_t *p, uint64_t n)
{
    for (uint64_t j = 0; j < n; j++)
        if (p[j] > 1)
            return fail(ctx, "metadata key '%s' has bool value %u (must be 0 or 1)", e->key, p[j]);
    return 0;
}

/* Walks n strings, recording where each starts if offs != NULL. */
static bool walk_strs(cursor *c, uint64_t n, size_t *offs)
{
    for (uint64_t j = 0; j < n; j++) {
        size_t off;
        uint64_t len;
        if (offs)
            offs[j] = c->pos;
        if (!rd_str(c, &off, &len))
            return false;
    }
    return true;
}

/* The value of entry e: a scalar or an array. Returns 1 if truncated. */
static int parse_value(gguf_ctx *ctx, cursor *c, kv_entry *e)
{
    e->n = 1;
    e->off = c->pos;
    if (e->type == GGUF_VAL_STR) {
        size_t off;
        uint64_t len;
        return rd_str(c, &off, &len) ? 0 : 1;
    }
    if (e->type == GGUF_VAL_ARR) {
        uint32_t at;
        if (!rd_u32(c, &at) || !rd_u64(c, &e->n))
            return 1;
        e->arr_type = at;
        e->off = c->pos;
        if (at == GGUF_VAL_ARR)
            return fail(ctx, "metadata key '%s' is an array of arrays (not supported)", e->key);
        if (at >= GGUF_VAL_COUNT)
            return fail(ctx, "metadata key '%s' is an array of unknown value type %u", e->key, at);
        if (at == GGUF_VAL_STR) {
            cursor probe = *c;
            if (e->n > (c->len - c->pos) / 8 || !walk_strs(&probe, e->n, NULL))
                return 1;
            e->str_off = malloc((size_t)(e->n ? e->n : 1) * sizeof(size_t));
            if (!e->str_off)
                return fail(ctx, "out of memory indexing metadata key '%s'", e->key);
            walk_strs(c, e->n, e->str_off);
            return 0;
        }
        size_t sz = VALS[at].size;
        if (e->n > (c->len - c->pos) / sz)
            return 1;
        c->pos += (size_t)e->n * sz;
        return at == GGUF_VAL_BOOL ? check_bools(ctx, e, c->p + e->off, e->n) : 0;
    }
    if (e->type >= GGUF_VAL_COUNT)
        return fail(ctx, "metadata key '%s' has unknown value type %u", e->key, e->type);
    if (!need(c, VALS[e->type].size))
        return 1;
    c->pos += VALS[e->type].size;
    return e->type == GGUF_VAL_BOOL ? check_bools(ctx, e, c->p + e->off, 1) : 0;
}

static int parse_kv(gguf_ctx *ctx, cursor *c, uint64_t i, uint64_t n)
{
    size_t koff;
    uint64_t klen;
    if (!rd_str(c, &koff, &klen))
        return fail(ctx, "truncated in metadata key %" PRIu64 " of %" PRIu64, i, n);
    if (klen == 0 || klen > GGUF_MAX_KEY)
        return fail(ctx, "metadata key %" PRIu64 " of %" PRIu64 " has invalid length %" PRIu64,
                    i, n, klen);
    if (memchr(c->p + koff, 0, (size_t)klen))
        return fail(ctx, "metadata key %" PRIu64 " of %" PRIu64 " contains a NUL byte", i, n);
    if (!grow((void **)&ctx->kv, &ctx->cap_kv, ctx->n_kv, sizeof(kv_entry)))
        return fail(ctx, "out of memory");
    kv_entry *e = &ctx->kv[ctx->n_kv];
    if (!(e->key = dup_bytes(c->p + koff, (size_t)klen)))
        return fail(ctx, "out of memory");
    ctx->n_kv++;
    int r = rd_u32(c, &e->type) ? parse_value(ctx, c, e) : 1;
    if (r == 1)
        return fail(ctx, "truncated in metadata key %" PRIu64 " of %" PRIu64 " ('%s')", i, n, e->key);
    return r;
}

/* kv_entry and gguf_tensor both start with their name, so one sort, one
 * duplicate check and one binary search serve both tables. */
static const char *name_of(const void *entry) { return *(const char *const *)entry; }

static int cmp_name(const void *a, const void *b)
{
    return strcmp(name_of(*(const void *const *)a), name_of(*(const void *const *)b));
}

/* Sorts entries by name; returns a duplicated name or NULL. */
static const char *sort_by_name(const void **sorted, int64_t n)
{
    qsort(sorted, (size_t)n, sizeof(*sorted), cmp_name);
    for (int64_t i = 1; i < n; i++)
        if (strcmp(name_of(sorted[i - 1]), name_of(sorted[i])) == 0)
            return name_of(sorted[i]);
    return NULL;
}

static int64_t find_name(const void *const *sorted, int64_t n, const char *name)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, name_of(sorted[mid]));
        if (c == 0)
            return mid;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

static int cmp_tensor_off(const void *a, const void *b)
{
    const gguf_tensor *ta = *(const void *const *)a, *tb = *(const void *const *)b;
    return ta->offset < tb->offset ? -1 : ta->offset > tb->offset;
}

static int index_kv(gguf_ctx *ctx)
{
    ctx->kv_sorted = malloc((size_t)(ctx->n_kv ? ctx->n_kv : 1) * sizeof(void *));
    if (!ctx->kv_sorted)
        return fail(ctx, "out of memory");
    for (int64_t i = 0; i < ctx->n_kv; i++)
        ctx->kv_sorted[i] = &ctx->kv[i];
    const char *dup = sort_by_name(ctx->kv_sorted, ctx->n_kv);
    if (dup)
        return fail(ctx, "duplicate metadata key '%s'", dup);

    ctx->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = gguf_find_key(ctx, "general.alignment");
    if (ai >= 0) {
        const kv_entry *e = &ctx->kv[ai];
        if (e->type != GGUF_VAL_U32)
            return fail(ctx, "general.alignment has type %s (must be u32)",
                        gguf_val_type_name((gguf_val_type)e->type));
        memcpy(&ctx->alignment, ctx->base + e->off, 4);
        uint32_t a = ctx->alignment;
        if (a == 0 || (a & (a - 1)) != 0)
            return fail(ctx, "general.alignment %" PRIu32 " is not a power of two", a);
    }
    return 0;
}

// ---- tensor infos ---------------------------------------------------------

/* Shape, type and size of tensor t, read from its info record. Returns 1 if
 * truncated. */
static int parse_shape(gguf_ctx *ctx, cursor *c, gguf_tensor *t)
{
    if (!rd_u32(c, &t->n_dims))
        return 1;
    if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS)
        return fail(ctx, "tensor '%s' has %" PRIu32 " dimensions (must be 1..4)", t->name, t->n_dims);
    uint64_t n = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d < t->n_dims && !rd_u64(c, &t->ne[d]))
            return 1;
        if (t->ne[d] == 0)
            return fail(ctx, "tensor '%s' has zero dimension %" PRIu32, t->name, d);
        if (t->ne[d] > (uint64_t)INT64_MAX / n)
            return fail(ctx, "tensor '%s' dimensions overflow (too many elements)", t->name);
        n *= t->ne[d];
    }
    t->n_elems = n;
    if (!rd_u32(c, &t->type) || !rd_u64(c, &t->offset))
        return 1;
    const char *tn = gguf_type_name(t->type);
    if (!tn)
        return fail(ctx, "tensor '%s' has unknown type %" PRIu32, t->name, t->type);
    uint32_t blck = TYPES[t->type].blck;
    if (t->ne[0] % blck != 0)
        return fail(ctx, "tensor '%s' row of %" PRIu64 " elements is not a multiple of the %s block size %" PRIu32,
                    t->name, t->ne[0], tn, blck);
    uint64_t row = gguf_type_nbytes(t->type, t->ne[0]), rows = n / t->ne[0];
    if (row == 0 || rows > UINT64_MAX / row)
        return fail(ctx, "tensor '%s' size overflows", t->name);
    t->nbytes = row * rows;
    return 0;
}

static int parse_tensor(gguf_ctx *ctx, cursor *c, uint64_t i, uint64_t n)
{
    size_t off;
    uint64_t len;
    if (!rd_str(c, &off, &len))
        return fail(ctx, "truncated in tensor info %" PRIu64 " of %" PRIu64, i, n);
    if (len == 0 || len > GGUF_MAX_TENSOR_NAME)
        return fail(ctx, "tensor info %" PRIu64 " of %" PRIu64 " has a name of %" PRIu64
                    " bytes (must be 1..%d)", i, n, len, GGUF_MAX_TENSOR_NAME);
    if (memchr(c->p + off, 0, (size_t)len))
        return fail(ctx, "tensor info %" PRIu64 " of %" PRIu64 " has a NUL byte in its name", i, n);
    if (!grow((void **)&ctx->t, &ctx->cap_t, ctx->n_t, sizeof(gguf_tensor)))
        return fail(ctx, "out of memory");
    gguf_tensor *t = &ctx->t[ctx->n_t];
    if (!(t->name = dup_bytes(c->p + off, (size_t)len)))
        return fail(ctx, "out of memory");
    ctx->n_t++;
    int r = parse_shape(ctx, c, t);
    if (r == 1)
        return fail(ctx, "truncated in tensor info %" PRIu64 " of %" PRIu64 " ('%s')", i, n, t->name);
    return r;
}

/* Alignment, bounds, overlap, duplicate names; sets data pointers. */
static int place_tensors(gguf_ctx *ctx)
{
    uint64_t avail = ctx->data_off <= ctx->size ? ctx->size - ctx->data_off : 0;
    for (int64_t i = 0; i < ctx->n_t; i++) {
        gguf_tensor *t = &ctx->t[i];
        if (t->offset % ctx->alignment != 0)
            return fail(ctx, "tensor '%s' offset %" PRIu64 " is not a multiple of the alignment %" PRIu32,
                        t->name, t->offset, ctx->alignment);
        if (ctx->data_off > ctx->size || t->offset >= avail)
            return fail(ctx, "tensor '%s' offset %" PRIu64 " is past end of file (data section at %"
                        PRIu64 ", file %zu bytes)", t->name, t->offset, ctx->data_off, ctx->size);
        if (t->nbytes > avail - t->offset)
            return fail(ctx, "tensor '%s' data (%" PRIu64 " bytes at offset %" PRIu64
                        ") extends past end of file", t->name, t->nbytes, t->offset);
        t->data = ctx->base + ctx->data_off + t->offset;
    }
    size_t n = (size_t)(ctx->n_t ? ctx->n_t : 1);
    ctx->t_sorted = malloc(n * sizeof(void *));
    if (!ctx->t_sorted)
        return fail(ctx, "out of memory");
    for (int64_t i = 0; i < ctx->n_t; i++)
        ctx->t_sorted[i] = &ctx->t[i];
    /* By offset first, for the overlap check; then by name for lookups. */
    qsort(ctx->t_sorted, (size_t)ctx->n_t, sizeof(*ctx->t_sorted), cmp_tensor_off);
    for (int64_t i = 1; i < ctx->n_t; i++) {
        const gguf_tensor *a = ctx->t_sorted[i - 1], *b = ctx->t_sorted[i];
        if (b->offset - a->offset < a->nbytes)
            return fail(ctx, "tensors '%s' and '%s' overlap", a->name, b->name);
    }
    const char *dup = sort_by_name(ctx->t_sorted, ctx->n_t);
    return dup ? fail(ctx, "duplicate tensor name '%s'", dup) : 0;
}

// ---- open / close ---------------------------------------------------------

static int parse_header(gguf_ctx *ctx, cursor *c, uint64_t *n_t, uint64_t *n_kv)
{
    if (c->len < 4)
        return fail(ctx, "truncated in header (%zu bytes; not a GGUF file)", c->len);
    if (memcmp(c->p, "GGUF", 4) != 0)
        return fail(ctx, "bad magic (not a GGUF file)");
    c->pos = 4;
    if (!rd_u32(c, &ctx->version) || !rd_u64(c, n_t) || !rd_u64(c, n_kv))
        return fail(ctx, "truncated in header");
    if (ctx->version == 0x02000000 || ctx->version == 0x03000000)
        return fail(ctx, "big-endian GGUF files are not supported");
    if (ctx->version != 2 && ctx->version != 3)
        return fail(ctx, "unsupported GGUF version %" PRIu32 " (2 and 3 are supported)", ctx->version);
    /* The smallest kv is 13 bytes, the smallest tensor info 32. */
    size_t rest = c->len - c->pos;
    if (*n_kv > rest / 13)
        return fail(ctx, "truncated or corrupt: %" PRIu64 " metadata keys cannot fit in %zu bytes",
                    *n_kv, rest);
    if (*n_t > rest / 32)
        return fail(ctx, "truncated or corrupt: %" PRIu64 " tensors cannot fit in %zu bytes",
                    *n_t, rest);
    return 0;
}

static int parse(gguf_ctx *ctx)
{
    cursor c = {ctx->base, ctx->size, 0};
    uint64_t n_t = 0, n_kv = 0;
    if (parse_header(ctx, &c, &n_t, &n_kv))
        return -1;
    for (uint64_t i = 0; i < n_kv; i++)
        if (parse_kv(ctx, &c, i, n_kv))
            return -1;
    if (index_kv(ctx))
        return -1;
    for (uint64_t i = 0; i < n_t; i++)
        if (parse_tensor(ctx, &c, i, n_t))
            return -1;
    uint64_t a = ctx->alignment;
    ctx->data_off = (c.pos + a - 1) / a * a;
    return place_tensors(ctx);
}

static gguf_ctx *ctx_new(const char *name, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    gguf_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx && !(ctx->name = strdup(name))) {
        free(ctx);
        ctx = NULL;
    }
    if (!ctx && err && errlen)
        snprintf(err, errlen, "%s: out of memory", name);
    return ctx ? (ctx->err = err, ctx->errlen = errlen, ctx) : NULL;
}

/* Parses (ok) or closes (failed) ctx; the error buffer is only used until here. */
static gguf_ctx *finish(gguf_ctx *ctx, bool ok)
{
    ok = ok && parse(ctx) == 0;
    ctx->err = NULL;
    if (!ok)
        gguf_close(ctx);
    return ok ? ctx : NULL;
}

gguf_ctx *gguf_open_mem(const void *data, size_t len, const char *name,
                        char *err, size_t errlen)
{
    gguf_ctx *ctx = ctx_new(name ? name : "<memory>", err, errlen);
    if (!ctx)
        return NULL;
    ctx->base = data;
    ctx->size = data ? len : 0;
    return finish(ctx, true);
}

gguf_ctx *gguf_open(const char *path, char *err, size_t errlen)
{
    gguf_ctx *ctx = ctx_new(path, err, errlen);
    if (!ctx)
        return NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    void *m = MAP_FAILED;
    if (fd < 0 || fstat(fd, &st) != 0)
        fail(ctx, "cannot open: %s", strerror(errno));
    else if (!S_ISREG(st.st_mode))
        fail(ctx, "not a regular file");
    else if (st.st_size == 0)
        fail(ctx, "empty file (not a GGUF file)");
    else if ((m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED)
        fail(ctx, "cannot mmap: %s", strerror(errno));
    else
        ctx->base = ctx->map = m, ctx->size = (size_t)st.st_size;
    if (fd >= 0)
        close(fd);
    return finish(ctx, ctx->map != NULL);
}

void gguf_close(gguf_ctx *ctx)
{
    if (!ctx)
        return;
    for (int64_t i = 0; i < ctx->n_kv; i++) {
        free((char *)ctx->kv[i].key);
        free(ctx->kv[i].str_off);
    }
    for (int64_t i = 0; i < ctx->n_t; i++)
        free((char *)ctx->t[i].name);
    free(ctx->kv);
    free(ctx->t);
    free(ctx->kv_sorted);
    free(ctx->t_sorted);
    if (ctx->map)
        munmap(ctx->map, ctx->size);
    free(ctx->name);
    free(ctx);
}

const char *gguf_name(const gguf_ctx *ctx) { return ctx->name; }
uint32_t gguf_version(const gguf_ctx *ctx) { return ctx->version; }
uint32_t gguf_alignment(const gguf_ctx *ctx) { return ctx->alignment; }
uint64_t gguf_data_offset(const gguf_ctx *ctx) { return ctx->data_off; }
uint64_t gguf_size(const gguf_ctx *ctx) { return ctx->size; }
const void *gguf_base(const gguf_ctx *ctx) { return ctx->base; }

// ---- metadata access ------------------------------------------------------

int64_t gguf_n_kv(const gguf_ctx *ctx) { return ctx->n_kv; }

static const kv_entry *kv_at(const gguf_ctx *ctx, int64_t i)
{
    return i >= 0 && i < ctx->n_kv ? &ctx->kv[i] : NULL;
}

const char *gguf_key(const gguf_ctx *ctx, int64_t i) { return kv_at(ctx, i) ? ctx->kv[i].key : NULL; }

gguf_val_type gguf_kv_type(const gguf_ctx *ctx, int64_t i)
{
    return kv_at(ctx, i) ? (gguf_val_type)ctx->kv[i].type : GGUF_VAL_COUNT;
}

int64_t gguf_find_key(const gguf_ctx *ctx, const char *key)
{
    int64_t i = find_name(ctx->kv_sorted, ctx->n_kv, key);
    return i < 0 ? -1 : (const kv_entry *)ctx->kv_sorted[i] - ctx->kv;
}

static int lookup(const gguf_ctx *ctx, const char *key, uint32_t type, const kv_entry **out)
{
    const kv_entry *e = kv_at(ctx, gguf_find_key(ctx, key));
    if (!e)
        return GGUF_ENOKEY;
    if (type != GGUF_VAL_COUNT && e->type != type)
        return GGUF_ETYPE;
    *out = e;
    return GGUF_OK;
}

static int get_scalar(const gguf_ctx *ctx, const char *key, uint32_t type, void *out)
{
    const kv_entry *e;
    int r = lookup(ctx, key, type, &e);
    if (r == GGUF_OK)
        memcpy(out, ctx->base + e->off, VALS[type].size);
    return r;
}

int gguf_get_u32(const gguf_ctx *ctx, const char *k, uint32_t *o) { return get_scalar(ctx, k, GGUF_VAL_U32, o); }
int gguf_get_i32(const gguf_ctx *ctx, const char *k, int32_t *o) { return get_scalar(ctx, k, GGUF_VAL_I32, o); }
int gguf_get_u64(const gguf_ctx *ctx, const char *k, uint64_t *o) { return get_scalar(ctx, k, GGUF_VAL_U64, o); }
int gguf_get_f32(const gguf_ctx *ctx, const char *k, float *o) { return get_scalar(ctx, k, GGUF_VAL_F32, o); }

int gguf_get_bool(const gguf_ctx *ctx, const char *key, bool *out)
{
    uint8_t v;
    int r = get_scalar(ctx, key, GGUF_VAL_BOOL, &v);
    if (r == GGUF_OK)
        *out = v != 0;
    return r;
}

int gguf_get_str(const gguf_ctx *ctx, const char *key, const char **s, size_t *len)
{
    const kv_entry *e;
    int r = lookup(ctx, key, GGUF_VAL_STR, &e);
    if (r == GGUF_OK) {
        *len = (size_t)ld_u64(ctx->base + e->off);
        *s = (const char *)ctx->base + e->off + 8;
    }
    return r;
}

int gguf_get_str_dup(const gguf_ctx *ctx, const char *key, char **out)
{
    const char *s;
    size_t len;
    int r = gguf_get_str(ctx, key, &s, &len);
    if (r == GGUF_OK && !(*out = dup_bytes((const uint8_t *)s, len)))
        r = GGUF_ENOMEM;
    return r;
}

/* An integer (or, with bools, a bool) element of type t at p. */
static int load_int(uint32_t t, const uint8_t *p, bool bools, int64_t *out)
{
    size_t sz = t < GGUF_VAL_COUNT ? VALS[t].size : 0;
    bool is_signed = t == GGUF_VAL_I8 || t == GGUF_VAL_I16 || t == GGUF_VAL_I32 || t == GGUF_VAL_I64;
    uint64_t u = 0;
    if (sz == 0 || t == GGUF_VAL_F32 || t == GGUF_VAL_F64 || (t == GGUF_VAL_BOOL && !bools))
        return GGUF_ETYPE;
    memcpy(&u, p, sz);
    if (is_signed && sz < 8 && (u >> (8 * sz - 1)) != 0)
        u |= ~0ull << (8 * sz);                 /* sign-extend */
    if (!is_signed && u > (uint64_t)INT64_MAX)
        return GGUF_ERANGE;
    *out = (int64_t)u;
    return GGUF_OK;
}

static int load_float(uint32_t t, const uint8_t *p, double *out)
{
    float f;
    if (t == GGUF_VAL_F32)
        *out = (memcpy(&f, p, 4), f);
    else if (t == GGUF_VAL_F64)
        memcpy(out, p, 8);
    return t == GGUF_VAL_F32 || t == GGUF_VAL_F64 ? GGUF_OK : GGUF_ETYPE;
}

int gguf_get_int(const gguf_ctx *ctx, const char *key, int64_t min, int64_t max, int64_t *out)
{
    const kv_entry *e;
    int64_t v;
    int r = lookup(ctx, key, GGUF_VAL_COUNT, &e);
    if (r == GGUF_OK)
        r = load_int(e->type, ctx->base + e->off, false, &v);
    if (r == GGUF_OK && (v < min || v > max))
        r = GGUF_ERANGE;
    if (r == GGUF_OK)
        *out = v;
    return r;
}

int gguf_get_float(const gguf_ctx *ctx, const char *key, double *out)
{
    const kv_entry *e;
    int r = lookup(ctx, key, GGUF_VAL_COUNT, &e);
    return r == GGUF_OK ? load_float(e->type, ctx->base + e->off, out) : r;
}

int gguf_get_int_or(const gguf_ctx *ctx, const char *key, int64_t def, int64_t min,
                    int64_t max, int64_t *out)
{
    int r = gguf_get_int(ctx, key, min, max, out);
    return r == GGUF_ENOKEY ? (*out = def, GGUF_OK) : r;
}

int gguf_get_float_or(const gguf_ctx *ctx, const char *key, double def, double *out)
{
    int r = gguf_get_float(ctx, key, out);
    return r == GGUF_ENOKEY ? (*out = def, GGUF_OK) : r;
}

int gguf_get_bool_or(const gguf_ctx *ctx, const char *key, bool def, bool *out)
{
    int r = gguf_get_bool(ctx, key, out);
    return r == GGUF_ENOKEY ? (*out = def, GGUF_OK) : r;
}

static const kv_entry *arr_at(const gguf_ctx *ctx, int64_t i)
{
    const kv_entry *e = kv_at(ctx, i);
    return e && e->type == GGUF_VAL_ARR ? e : NULL;
}

gguf_val_type gguf_arr_type(const gguf_ctx *ctx, int64_t i)
{
    return arr_at(ctx, i) ? (gguf_val_type)ctx->kv[i].arr_type : GGUF_VAL_COUNT;
}

uint64_t gguf_arr_len(const gguf_ctx *ctx, int64_t i) { return arr_at(ctx, i) ? ctx->kv[i].n : 0; }

const void *gguf_arr_data(const gguf_ctx *ctx, int64_t i)
{
    const kv_entry *e = arr_at(ctx, i);
    return e && e->arr_type != GGUF_VAL_STR ? ctx->base + e->off : NULL;
}

const char *gguf_arr_str(const gguf_ctx *ctx, int64_t i, uint64_t j, size_t *len)
{
    const kv_entry *e = arr_at(ctx, i);
    if (!e || e->arr_type != GGUF_VAL_STR || j >= e->n)
        return NULL;
    *len = (size_t)ld_u64(ctx->base + e->str_off[j]);
    return (const char *)ctx->base + e->str_off[j] + 8;
}

/* Element j of numeric array i, or NULL. */
static const uint8_t *arr_elem(const gguf_ctx *ctx, int64_t i, uint64_t j, uint32_t *type)
{
    const kv_entry *e = arr_at(ctx, i);
    if (!e || e->arr_type == GGUF_VAL_STR || j >= e->n)
        return NULL;
    *type = e->arr_type;
    return ctx->base + e->off + (size_t)j * VALS[e->arr_type].size;
}

int gguf_arr_get_int(const gguf_ctx *ctx, int64_t i, uint64_t j, int64_t *out)
{
    uint32_t t;
    const uint8_t *p = arr_elem(ctx, i, j, &t);
    return p ? load_int(t, p, true, out) : GGUF_ENOKEY;
}

int gguf_arr_get_float(const gguf_ctx *ctx, int64_t i, uint64_t j, double *out)
{
    uint32_t t;
    int64_t v;
    const uint8_t *p = arr_elem(ctx, i, j, &t);
    if (!p)
        return GGUF_ENOKEY;
    if (load_float(t, p, out) == GGUF_OK)
        return GGUF_OK;
    int r = load_int(t, p, false, &v);
    if (r == GGUF_OK)
        *out = (double)v;
    return r;
}

// ---- tensors --------------------------------------------------------------

int64_t gguf_n_tensors(const gguf_ctx *ctx) { return ctx->n_t; }

const gguf_tensor *gguf_tensor_at(const gguf_ctx *ctx, int64_t i)
{
    return i >= 0 && i < ctx->n_t ? &ctx->t[i] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_ctx *ctx, const char *name)
{
    int64_t i = find_name(ctx->t_sorted, ctx->n_t, name);
    return i < 0 ? NULL : ctx->t_sorted[i];
}

// ---- model identity -------------------------------------------------------

/* Four independent multiply-rotate lanes over 32-byte stripes (fast enough
 * to be memory-bound), folded by a 64-bit avalanche mix into two words. */
#define H_M1 0x9e3779b97f4a7c15ULL
#define H_M2 0xd6e8feb86659fd93ULL

static uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static uint64_t avalanche(uint64_t x)
{
    x ^= x >> 32;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 29;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 32;
    return x;
}

static void stripe(uint64_t h[4], const uint8_t *p)
{
    for (int k = 0; k < 4; k++)
        h[k] = rotl64(h[k] + ld_u64(p + 8 * k) * H_M1, 29) * H_M2;
}

static void hash128(const uint8_t *p, size_t n, uint64_t out[2])
{
    uint64_t h[4] = {H_M1, H_M2, ~H_M1, ~H_M2};
    size_t i = 0;
    for (; n - i >= 32; i += 32)
        stripe(h, p + i);
    uint8_t tail[32] = {0};
    memcpy(tail, p + i, n - i);
    stripe(h, tail);
    out[0] = avalanche(h[0] ^ rotl64(h[1], 17) ^ rotl64(h[2], 31) ^ rotl64(h[3], 47) ^ n);
    out[1] = avalanche(h[1] ^ rotl64(h[2], 13) ^ rotl64(h[3], 37) ^ rotl64(h[0], 53) ^ (n * H_M2) ^ out[0]);
}

const char *gguf_model_id(gguf_ctx *ctx, char out[33])
{
    if (!ctx->have_id) {
        uint64_t h[2];
        hash128(ctx->base, ctx->size, h);
        snprintf(ctx->id, sizeof(ctx->id), "%016" PRIx64 "%016" PRIx64, h[0], h[1]);
        ctx->have_id = true;
    }
    memcpy(out, ctx->id, 33);
    return out;
}

// ---- printing -------------------------------------------------------------

static void print_str(FILE *out, const char *s, size_t n, size_t max)
{
    fputc('"', out);
    for (size_t i = 0; i < n && i < max; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(out, "\\x%02x", ch);
        else
            fputc(ch, out);
    }
    fputs(n > max ? "\"..." : "\"", out);
}

static void print_num(FILE *out, uint32_t t, const uint8_t *p)
{
    int64_t v;
    double d;
    if (t == GGUF_VAL_BOOL)
        fputs(*p ? "true" : "false", out);
    else if (t == GGUF_VAL_U64)
        fprintf(out, "%" PRIu64, ld_u64(p));
    else if (load_int(t, p, false, &v) == GGUF_OK)
        fprintf(out, "%" PRId64, v);
    else if (load_float(t, p, &d) == GGUF_OK)
        fprintf(out, t == GGUF_VAL_F32 ? "%.7g" : "%.15g", d);
}

static void print_kv(const gguf_ctx *ctx, const kv_entry *e, FILE *out, int verbose)
{
    size_t max_str = verbose ? SIZE_MAX : 64;
    uint64_t max_el = verbose ? UINT64_MAX : 8;
    fprintf(out, "  %-44s ", e->key);
    if (e->type == GGUF_VAL_STR) {
        fputs("str      ", out);
        print_str(out, (const char *)ctx->base + e->off + 8, (size_t)ld_u64(ctx->base + e->off), max_str);
    } else if (e->type == GGUF_VAL_ARR) {
        char ty[48];
        snprintf(ty, sizeof(ty), "arr[%s,%" PRIu64 "]", VALS[e->arr_type].name, e->n);
        fprintf(out, "%-8s [", ty);
        for (uint64_t j = 0; j < e->n && j < max_el; j++) {
            fputs(j ? ", " : "", out);
            size_t len;
            const char *s = gguf_arr_str(ctx, e - ctx->kv, j, &len);
            if (s)
                print_str(out, s, len, max_str);
            else
                print_num(out, e->arr_type, ctx->base + e->off + (size_t)j * VALS[e->arr_type].size);
        }
        fputs(e->n > max_el ? ", ...]" : "]", out);
    } else {
        fprintf(out, "%-8s ", VALS[e->type].name);
        print_num(out, e->type, ctx->base + e->off);
    }
    fputc('\n', out);
}

void gguf_print_info(const gguf_ctx *ctx, FILE *out, int verbose)
{
    fprintf(out, "%s: GGUF v%" PRIu32 ", %zu bytes, %" PRId64 " metadata keys, %" PRId64
            " tensors, alignment %" PRIu32 ", data at offset %" PRIu64 "\n",
            ctx->name, ctx->version, ctx->size, ctx->n_kv, ctx->n_t, ctx->alignment, ctx->data_off);
    if (ctx->have_id)
        fprintf(out, "model id: %s\n", ctx->id);
    fprintf(out, "metadata:\n");
    for (int64_t i = 0; i < ctx->n_kv; i++)
        print_kv(ctx, &ctx->kv[i], out, verbose);
    fprintf(out, "tensors:\n  %-44s %-8s %-26s %14s\n", "name", "type", "dims", "bytes");
    uint64_t params = 0, bytes = 0, per_type[GGUF_TYPE_COUNT] = {0};
    for (int64_t i = 0; i < ctx->n_t; i++) {
        const gguf_tensor *t = &ctx->t[i];
        per_type[t->type]++;
        char dims[96];
        int n = 0;
        for (uint32_t d = 0; d < t->n_dims; d++)
            n += snprintf(dims + n, sizeof(dims) - (size_t)n, "%s%" PRIu64, d ? " x " : "", t->ne[d]);
        fprintf(out, "  %-44s %-8s %-26s %14" PRIu64 "\n", t->name, TYPES[t->type].name, dims, t->nbytes);
        params += t->n_elems;
        bytes += t->nbytes;
    }
    fprintf(out, "total: %" PRIu64 " parameters, %" PRIu64 " bytes (%.1f MiB), %.2f bits/weight\n",
            params, bytes, (double)bytes / (1024.0 * 1024.0),
            params ? 8.0 * (double)bytes / (double)params : 0.0);
    fprintf(out, "tensor types:");
    for (uint32_t ty = 0; ty < GGUF_TYPE_COUNT; ty++)
        if (per_type[ty])
            fprintf(out, " %s x%" PRIu64, TYPES[ty].name, per_type[ty]);
    fputc('\n', out);
}
