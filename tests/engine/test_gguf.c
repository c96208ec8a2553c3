/* test_gguf.c — GGUF reader/writer: round trips of every metadata and tensor
 * type, the reference quantizers, cross-checks with the independent Python
 * implementation (tools/gguf.py), and a battery of malformed files that must
 * each fail with a clear message and never crash (run under ASan too). */
#include "gguf.h"
#include "gguf_write.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../check_run.h"

#define PY "/usr/bin/python3"

// ---------------------------------------------------------------- helpers

static char g_dir[64] = "/tmp/test_gguf.XXXXXX";   /* made by main(), shared by forks */

static const char *tmp_path(const char *name)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    return path;
}

static uint8_t *write_mem(const gguf_writer *w, size_t *len)
{
    void *p = NULL;
    ck_assert_int_eq(gguf_writer_write_mem(w, &p, len), GGUF_OK);
    return p;
}

/* Decoders written from the formats, independent of the quantizers. */
static float half_to_float(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY)
                                                       : ldexpf((float)(m + 1024), e - 25);
    return (h & 0x8000) ? -v : v;
}

static float bf16_to_float(uint16_t b)
{
    uint32_t x = (uint32_t)b << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

static float dequant(uint32_t type, const uint8_t *p, uint64_t i)
{
    uint16_t h;
    const uint8_t *blk = p + (i / 32) * (type == GGUF_Q8_0 ? 34 : 18);
    switch (type) {
    case GGUF_F32: { float f; memcpy(&f, p + 4 * i, 4); return f; }
    case GGUF_F16: memcpy(&h, p + 2 * i, 2); return half_to_float(h);
    case GGUF_BF16: memcpy(&h, p + 2 * i, 2); return bf16_to_float(h);
    case GGUF_Q8_0: memcpy(&h, blk, 2); return half_to_float(h) * (float)(int8_t)blk[2 + i % 32];
    case GGUF_Q4_0: {
        memcpy(&h, blk, 2);
        int j = i % 32, q = j < 16 ? blk[2 + j] & 15 : blk[2 + j - 16] >> 4;
        return half_to_float(h) * (float)(q - 8);
    }
    }
    return NAN;
}

static bool have_python(void)
{
    if (access(PY, X_OK) != 0 || !getenv("SPARKD_SRC")) {
        fprintf(stderr, "test_gguf: %s or SPARKD_SRC missing, Python cross-check skipped\n", PY);
        return false;
    }
    return true;
}

static int run_py(const char *args)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), PY " %s/tools/gguf.py %s", getenv("SPARKD_SRC"), args);
    return system(cmd);
}

// ---------------------------------------------------------------- the shared fixture
// Mirrors fixture_* in tools/gguf.py: same keys, values and tensors.

static const struct { const char *name; uint32_t type; uint32_t nd; uint64_t ne[3]; } FX_T[] = {
    {"t.f32", GGUF_F32, 2, {32, 3}},   {"t.f16", GGUF_F16, 2, {64, 2}},
    {"t.bf16", GGUF_BF16, 2, {16, 4}}, {"t.q8_0", GGUF_Q8_0, 2, {64, 3}},
    {"t.q4_0", GGUF_Q4_0, 2, {96, 2}}, {"t.3d", GGUF_F32, 3, {4, 3, 2}},
};

static float *fx_values(const uint64_t *ne, uint32_t nd, uint64_t *n)
{
    *n = 1;
    for (uint32_t d = 0; d < nd; d++)
        *n *= ne[d];
    float *v = malloc(*n * sizeof(float));
    for (uint64_t i = 0; i < *n; i++) {
        float k = (float)((int)((i * 37) % 101) - 50), r = (float)(i / ne[0] + 1);
        v[i] = (k * r) / 7.0f;
    }
    return v;
}

static gguf_writer *fx_writer(void)
{
    gguf_writer *w = gguf_writer_new();
    const int32_t ai[] = {1, -2, 3};
    const float af[] = {0.5f, -1.25f};
    const uint8_t au[] = {1, 2, 255}, ab[] = {1, 0};
    const char *as[] = {"a", "", "h\xc3\xa9llo", "x y"};
    ck_assert_int_eq(gguf_writer_set_str(w, "general.architecture", "llama"), 0);
    ck_assert_int_eq(gguf_writer_set_str(w, "general.name", "fixture \xe2\x9c\x93"), 0);
    gguf_writer_set_u8(w, "test.u8", 200);
    gguf_writer_set_i8(w, "test.i8", -100);
    gguf_writer_set_u16(w, "test.u16", 60000);
    gguf_writer_set_i16(w, "test.i16", -30000);
    gguf_writer_set_u32(w, "test.u32", 4000000000u);
    gguf_writer_set_i32(w, "test.i32", -2000000000);
    gguf_writer_set_f32(w, "test.f32", 1.5f);
    gguf_writer_set_bool(w, "test.bool", true);
    gguf_writer_set_u64(w, "test.u64", (1ull << 63) + 5);
    gguf_writer_set_i64(w, "test.i64", -(1ll << 62));
    gguf_writer_set_f64(w, "test.f64", 3.25);
    gguf_writer_set_arr(w, "test.arr_i32", GGUF_VAL_I32, ai, 3);
    gguf_writer_set_arr(w, "test.arr_f32", GGUF_VAL_F32, af, 2);
    gguf_writer_set_arr(w, "test.arr_u8", GGUF_VAL_U8, au, 3);
    gguf_writer_set_arr(w, "test.arr_bool", GGUF_VAL_BOOL, ab, 2);
    gguf_writer_set_arr_str(w, "test.arr_str", as, NULL, 4);
    ck_assert_int_eq(gguf_writer_set_arr(w, "test.arr_empty", GGUF_VAL_I32, NULL, 0), 0);
    for (size_t i = 0; i < sizeof FX_T / sizeof *FX_T; i++) {
        uint64_t n;
        float *v = fx_values(FX_T[i].ne, FX_T[i].nd, &n);
        ck_assert_int_eq(gguf_writer_add_tensor_f32(w, FX_T[i].name, FX_T[i].type, FX_T[i].nd,
                                                    FX_T[i].ne, v), 0);
        free(v);
    }
    return w;
}

static void check_fixture(const gguf_ctx *g)
{
    uint32_t u32; int32_t i32; uint64_t u64; float f; double d; bool b; int64_t v;
    const char *s; size_t len;
    ck_assert_int_eq(gguf_get_str(g, "general.architecture", &s, &len), 0);
    ck_assert(len == 5 && memcmp(s, "llama", 5) == 0);
    ck_assert_int_eq(gguf_get_str(g, "general.name", &s, &len), 0);
    ck_assert(len == 11 && memcmp(s, "fixture \xe2\x9c\x93", 11) == 0);
    ck_assert_int_eq(gguf_get_int(g, "test.u8", 0, 255, &v), 0); ck_assert_int_eq(v, 200);
    ck_assert_int_eq(gguf_get_int(g, "test.i8", -128, 0, &v), 0); ck_assert_int_eq(v, -100);
    ck_assert_int_eq(gguf_get_int(g, "test.u16", 0, 65535, &v), 0); ck_assert_int_eq(v, 60000);
    ck_assert_int_eq(gguf_get_int(g, "test.i16", -40000, 0, &v), 0); ck_assert_int_eq(v, -30000);
    ck_assert_int_eq(gguf_get_u32(g, "test.u32", &u32), 0); ck_assert_uint_eq(u32, 4000000000u);
    ck_assert_int_eq(gguf_get_i32(g, "test.i32", &i32), 0); ck_assert_int_eq(i32, -2000000000);
    ck_assert_int_eq(gguf_get_f32(g, "test.f32", &f), 0); ck_assert(f == 1.5f);
    ck_assert_int_eq(gguf_get_bool(g, "test.bool", &b), 0); ck_assert(b);
    ck_assert_int_eq(gguf_get_u64(g, "test.u64", &u64), 0); ck_assert(u64 == (1ull << 63) + 5);
    ck_assert_int_eq(gguf_get_int(g, "test.i64", INT64_MIN, 0, &v), 0); ck_assert(v == -(1ll << 62));
    ck_assert_int_eq(gguf_get_float(g, "test.f64", &d), 0); ck_assert(d == 3.25);
    int64_t k = gguf_find_key(g, "test.arr_i32");
    ck_assert_int_eq(gguf_arr_type(g, k), GGUF_VAL_I32);
    ck_assert_uint_eq(gguf_arr_len(g, k), 3);
    ck_assert_int_eq(gguf_arr_get_int(g, k, 1, &v), 0); ck_assert_int_eq(v, -2);
    k = gguf_find_key(g, "test.arr_f32");
    ck_assert_int_eq(gguf_arr_get_float(g, k, 1, &d), 0); ck_assert(d == -1.25);
    k = gguf_find_key(g, "test.arr_u8");
    ck_assert_int_eq(gguf_arr_get_int(g, k, 2, &v), 0); ck_assert_int_eq(v, 255);
    ck_assert(memcmp(gguf_arr_data(g, k), "\x01\x02\xff", 3) == 0);
    k = gguf_find_key(g, "test.arr_bool");
    ck_assert_int_eq(gguf_arr_type(g, k), GGUF_VAL_BOOL);
    ck_assert_int_eq(gguf_arr_get_int(g, k, 0, &v), 0); ck_assert_int_eq(v, 1);
    k = gguf_find_key(g, "test.arr_str");
    ck_assert_uint_eq(gguf_arr_len(g, k), 4);
    ck_assert_ptr_null(gguf_arr_data(g, k));
    s = gguf_arr_str(g, k, 1, &len); ck_assert(s && len == 0);
    s = gguf_arr_str(g, k, 2, &len); ck_assert(len == 6 && memcmp(s, "h\xc3\xa9llo", 6) == 0);
    s = gguf_arr_str(g, k, 3, &len); ck_assert(len == 3 && memcmp(s, "x y", 3) == 0);
    ck_assert_ptr_null(gguf_arr_str(g, k, 4, &len));
    ck_assert_uint_eq(gguf_arr_len(g, gguf_find_key(g, "test.arr_empty")), 0);
    ck_assert_int_eq(gguf_n_tensors(g), 6);
    for (size_t i = 0; i < sizeof FX_T / sizeof *FX_T; i++) {
        const gguf_tensor *t = gguf_find_tensor(g, FX_T[i].name);
        ck_assert_ptr_nonnull(t);
        ck_assert_uint_eq(t->type, FX_T[i].type);
        ck_assert_uint_eq(t->n_dims, FX_T[i].nd);
        for (uint32_t dd = 0; dd < FX_T[i].nd; dd++)
            ck_assert_uint_eq(t->ne[dd], FX_T[i].ne[dd]);
        uint64_t n;
        float *x = fx_values(FX_T[i].ne, FX_T[i].nd, &n);
        uint8_t *want = malloc(t->nbytes);
        /* Byte-identical to the other implementation's quantizer output. */
        ck_assert_uint_eq(gguf_quantize(t->type, x, want, (int64_t)n), t->nbytes);
        ck_assert_msg(memcmp(want, t->data, t->nbytes) == 0, "%s bytes differ", t->name);
        float amax = 0, rel = t->type == GGUF_Q4_0 ? 1.01f / 8 : t->type == GGUF_Q8_0 ? 0.6f / 127
                                 : t->type == GGUF_BF16 ? 1.0f / 256 : t->type == GGUF_F16 ? 1.0f / 2048 : 0;
        for (uint64_t j = 0; j < n; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        for (uint64_t j = 0; j < n; j++)
            ck_assert(fabsf(dequant(t->type, t->data, j) - x[j]) <= rel * amax);
        free(want);
        free(x);
    }
}

// ---------------------------------------------------------------- round trips

START_TEST(test_roundtrip_every_kv_type_with_all_getters)
{
    gguf_writer *w = fx_writer();
    size_t len;
    uint8_t *buf = write_mem(w, &len);
    char err[256];
    gguf_ctx *g = gguf_open_mem(buf, len, "fx", err, sizeof err);
    ck_assert_msg(g != NULL, "%s", err);
    check_fixture(g);
    ck_assert_int_eq(gguf_n_kv(g), 19);
    ck_assert_str_eq(gguf_key(g, 2), "test.u8");           /* file order kept */
    ck_assert_int_eq(gguf_kv_type(g, 2), GGUF_VAL_U8);
    ck_assert_ptr_null(gguf_key(g, 19));
    ck_assert_int_eq(gguf_kv_type(g, -1), GGUF_VAL_COUNT);
    ck_assert_int_eq(gguf_find_key(g, "nope"), -1);
    /* Type mismatches, ranges, defaults. */
    uint32_t u32; float f; bool b; int64_t v; double d; char *dup;
    ck_assert_int_eq(gguf_get_u32(g, "test.i32", &u32), GGUF_ETYPE);
    ck_assert_int_eq(gguf_get_u32(g, "missing", &u32), GGUF_ENOKEY);
    ck_assert_int_eq(gguf_get_f32(g, "test.f64", &f), GGUF_ETYPE);
    ck_assert_int_eq(gguf_get_int(g, "test.u32", 0, INT32_MAX, &v), GGUF_ERANGE);
    ck_assert_int_eq(gguf_get_int(g, "test.u64", 0, INT64_MAX, &v), GGUF_ERANGE);
    ck_assert_int_eq(gguf_get_int(g, "test.bool", 0, 1, &v), GGUF_ETYPE);
    ck_assert_int_eq(gguf_get_int(g, "general.name", 0, 1, &v), GGUF_ETYPE);
    ck_assert_int_eq(gguf_get_float(g, "test.f32", &d), 0); ck_assert(d == 1.5);
    ck_assert_int_eq(gguf_get_int_or(g, "missing", 42, 0, 100, &v), 0); ck_assert_int_eq(v, 42);
    ck_assert_int_eq(gguf_get_int_or(g, "test.u8", 42, 0, 100, &v), GGUF_ERANGE);
    ck_assert_int_eq(gguf_get_float_or(g, "missing", 0.25, &d), 0); ck_assert(d == 0.25);
    ck_assert_int_eq(gguf_get_float_or(g, "general.name", 0.25, &d), GGUF_ETYPE);
    ck_assert_int_eq(gguf_get_bool_or(g, "missing", true, &b), 0); ck_assert(b);
    ck_assert_int_eq(gguf_get_str_dup(g, "general.architecture", &dup), 0);
    ck_assert_str_eq(dup, "llama");
    free(dup);
    int64_t k = gguf_find_key(g, "test.u8");
    ck_assert_int_eq(gguf_arr_type(g, k), GGUF_VAL_COUNT);  /* not an array */
    ck_assert_ptr_null(gguf_arr_data(g, k));
    ck_assert_int_eq(gguf_arr_get_int(g, gguf_find_key(g, "test.arr_str"), 0, &v), GGUF_ENOKEY);
    ck_assert_int_eq(gguf_arr_get_int(g, gguf_find_key(g, "test.arr_f32"), 0, &v), GGUF_ETYPE);
    gguf_close(g);
    free(buf);
    gguf_writer_free(w);
}
END_TEST

START_TEST(test_roundtrip_every_tensor_type_raw_bytes)
{
    gguf_writer *w = gguf_writer_new();
    uint8_t *blobs[GGUF_TYPE_COUNT] = {0};
    int known = 0;
    for (uint32_t t = 0; t < GGUF_TYPE_COUNT; t++) {
        if (!gguf_type_name(t))
            continue;
        uint64_t ne[2] = {2 * gguf_type_block_size(t), 3};
        size_t nb = gguf_type_nbytes(t, ne[0] * ne[1]);
        blobs[t] = malloc(nb);
        for (size_t i = 0; i < nb; i++)
            blobs[t][i] = (uint8_t)(i * 31 + t);
        char name[32];
        snprintf(name, sizeof name, "blk.%u.%s", t, gguf_type_name(t));
        ck_assert_int_eq(gguf_writer_add_tensor(w, name, t, 2, ne, blobs[t], nb, t % 2 == 0), 0);
        known++;
    }
    ck_assert_int_eq(known, 32);
    size_t len;
    uint8_t *buf = write_mem(w, &len);
    char err[256];
    gguf_ctx *g = gguf_open_mem(buf, len, NULL, err, sizeof err);
    ck_assert_msg(g != NULL, "%s", err);
    ck_assert_int_eq(gguf_n_tensors(g), known);
    for (int64_t i = 0; i < known; i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        ck_assert_ptr_eq(gguf_find_tensor(g, t->name), t);
        ck_assert_uint_eq(t->ne[0], 2 * gguf_type_block_size(t->type));
        ck_assert_uint_eq(t->ne[2], 1);
        ck_assert_uint_eq(t->nbytes, gguf_type_nbytes(t->type, t->n_elems));
        ck_assert(memcmp(t->data, blobs[t->type], t->nbytes) == 0);
        ck_assert_uint_eq(t->offset % 32, 0);
        ck_assert_uint_eq((uint64_t)((const uint8_t *)t->data - buf) % 32, 0);
    }
    ck_assert_ptr_null(gguf_tensor_at(g, known));
    ck_assert_ptr_null(gguf_find_tensor(g, "blk.0"));
    gguf_close(g);
    free(buf);
    gguf_writer_free(w);   /* borrowed blobs must outlive the writes */
    for (int t = 0; t < GGUF_TYPE_COUNT; t++)
        free(blobs[t]);
}
END_TEST

START_TEST(test_type_table_sizes)
{
    static const uint32_t tab[][3] = {{GGUF_F32, 1, 4}, {GGUF_F16, 1, 2}, {GGUF_BF16, 1, 2},
        {GGUF_Q8_0, 32, 34}, {GGUF_Q4_0, 32, 18}, {GGUF_Q4_K, 256, 144}, {GGUF_Q5_K, 256, 176},
        {GGUF_Q6_K, 256, 210}, {GGUF_Q2_K, 256, 84}, {GGUF_Q8_K, 256, 292}, {GGUF_IQ4_XS, 256, 136}};
    for (size_t i = 0; i < sizeof tab / sizeof *tab; i++) {
        ck_assert_uint_eq(gguf_type_block_size(tab[i][0]), tab[i][1]);
        ck_assert_uint_eq(gguf_type_block_bytes(tab[i][0]), tab[i][2]);
    }
    ck_assert_str_eq(gguf_type_name(GGUF_Q6_K), "Q6_K");
    ck_assert_ptr_null(gguf_type_name(4));
    ck_assert_ptr_null(gguf_type_name(31));
    ck_assert_ptr_null(gguf_type_name(1000));
    ck_assert_uint_eq(gguf_type_nbytes(GGUF_Q4_K, 512), 288);
    ck_assert_uint_eq(gguf_type_nbytes(GGUF_Q4_K, 100), 0);
    ck_assert_uint_eq(gguf_type_nbytes(GGUF_F32, UINT64_MAX / 2), 0);   /* overflow */
    ck_assert_str_eq(gguf_val_type_name(GGUF_VAL_STR), "str");
    ck_assert_uint_eq(gguf_val_size(GGUF_VAL_F64), 8);
}
END_TEST

START_TEST(test_writer_rejects_bad_input)
{
    gguf_writer *w = gguf_writer_new();
    float x[64] = {0};
    uint64_t ne[2] = {32, 2}, bad[2] = {33, 1}, zero[2] = {32, 0};
    ck_assert_int_eq(gguf_writer_set_u32(w, "a", 1), 0);
    ck_assert_int_eq(gguf_writer_set_i32(w, "a", 1), GGUF_EDUP);
    ck_assert_int_eq(gguf_writer_set_u32(w, "", 1), GGUF_EINVAL);
    ck_assert_int_eq(gguf_writer_set_u32(w, "general.alignment", 48), GGUF_EINVAL);
    ck_assert_int_eq(gguf_writer_set_u64(w, "general.alignment", 64), GGUF_EINVAL);
    ck_assert_int_eq(gguf_writer_set_arr(w, "b", GGUF_VAL_STR, x, 1), GGUF_EINVAL);
    ck_assert_int_eq(gguf_writer_set_arr(w, "b", GGUF_VAL_BOOL, "\x02", 1), GGUF_EINVAL);
    ck_assert_int_eq(gguf_writer_add_tensor_f32(w, "t", GGUF_Q8_0, 2, ne, x), 0);
    ck_assert_int_eq(gguf_writer_add_tensor_f32(w, "t", GGUF_Q8_0, 2, ne, x), GGUF_EDUP);
    ck_assert_int_eq(gguf_writer_add_tensor_f32(w, "u", GGUF_Q8_0, 2, bad, x), GGUF_EINVAL);
    ck_assert_int_eq(gguf_writer_add_tensor_f32(w, "u", GGUF_F32, 2, zero, x), GGUF_EINVAL);
    ck_assert_int_eq(gguf_writer_add_tensor_f32(w, "u", GGUF_F32, 5, ne, x), GGUF_EINVAL);
    ck_assert_int_eq(gguf_writer_add_tensor_f32(w, "u", GGUF_Q4_K, 2, ne, x), GGUF_EINVAL);
    ck_assert_int_eq(gguf_writer_add_tensor(w, "u", GGUF_F32, 2, ne, x, 100, false), GGUF_EINVAL);
    ck_assert_int_eq(gguf_writer_add_tensor(w, "u", 4, 2, ne, x, 256, false), GGUF_EINVAL);
    char longname[80];
    memset(longname, 'n', 64);
    longname[64] = 0;
    ck_assert_int_eq(gguf_writer_add_tensor(w, longname, GGUF_F32, 2, ne, x, 256, false), GGUF_EINVAL);
    longname[63] = 0;
    ck_assert_int_eq(gguf_writer_add_tensor(w, longname, GGUF_F32, 2, ne, x, 256, true), 0);
    gguf_writer_free(w);
}
END_TEST

START_TEST(test_custom_alignment_is_honoured)
{
    gguf_writer *w = gguf_writer_new();
    float x[40] = {1};
    uint64_t ne1[1] = {3}, ne2[1] = {40};
    ck_assert_int_eq(gguf_writer_set_u32(w, "general.alignment", 64), 0);
    gguf_writer_add_tensor_f32(w, "a", GGUF_F32, 1, ne1, x);
    gguf_writer_add_tensor_f32(w, "b", GGUF_F16, 1, ne2, x);
    size_t len;
    uint8_t *buf = write_mem(w, &len);
    gguf_ctx *g = gguf_open_mem(buf, len, NULL, NULL, 0);
    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(gguf_alignment(g), 64);
    ck_assert_uint_eq(gguf_data_offset(g) % 64, 0);
    ck_assert_uint_eq(gguf_find_tensor(g, "b")->offset, 64);
    ck_assert(dequant(GGUF_F32, gguf_find_tensor(g, "a")->data, 0) == 1.0f);
    gguf_close(g);
    free(buf);
    gguf_writer_free(w);
}
END_TEST

// ---------------------------------------------------------------- quantizers

START_TEST(test_fp16_conversion_exhaustive_round_trip_and_ties)
{
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = half_to_float((uint16_t)h);
        if (isnan(f)) {
            ck_assert(isnan(half_to_float(gguf_fp32_to_fp16(f))));
            continue;
        }
        ck_assert_uint_eq(gguf_fp32_to_fp16(f), h);
        uint32_t n = h + 1;    /* midpoint to the next finite half goes to the even one */
        if ((h & 0x7fff) < 0x7bff) {
            float mid = (f + half_to_float((uint16_t)n)) / 2;
            ck_assert_uint_eq(gguf_fp32_to_fp16(mid), (h & 1) ? n : h);
        }
    }
    ck_assert_uint_eq(gguf_fp32_to_fp16(65519.0f), 0x7bff);
    ck_assert_uint_eq(gguf_fp32_to_fp16(65520.0f), 0x7c00);
    ck_assert_uint_eq(gguf_fp32_to_fp16(-1e10f), 0xfc00);
    ck_assert_uint_eq(gguf_fp32_to_fp16(ldexpf(1, -25)), 0);         /* tie to even 0 */
    ck_assert_uint_eq(gguf_fp32_to_fp16(ldexpf(1.5f, -25)), 1);
    ck_assert_uint_eq(gguf_fp32_to_bf16(1.0f), 0x3f80);
    ck_assert_uint_eq(gguf_fp32_to_bf16(bf16_to_float(0x3f80) + ldexpf(1, -8)), 0x3f80); /* tie, even */
    ck_assert_uint_eq(gguf_fp32_to_bf16(bf16_to_float(0x3f81) + ldexpf(1, -8)), 0x3f82);
    ck_assert(isnan(bf16_to_float(gguf_fp32_to_bf16(NAN))));
    ck_assert_uint_eq(gguf_fp32_to_bf16(INFINITY), 0x7f80);
}
END_TEST

START_TEST(test_quantize_q8_0_q4_0_reference_rounding)
{
    float x[64];
    uint8_t q[68];
    for (int i = 0; i < 32; i++)
        x[i] = (float)(i - 16) / 16.0f * 127.0f;   /* amax 127 -> d = 1 */
    ck_assert_uint_eq(gguf_quantize(GGUF_Q8_0, x, q, 32), 34);
    ck_assert_uint_eq(q[0] | q[1] << 8, 0x3c00);  /* d = 1.0 */
    for (int i = 0; i < 32; i++)
        ck_assert_int_eq((int8_t)q[2 + i], (int)roundf(x[i]));
    x[0] = -8.0f;                                 /* Q4_0: largest magnitude -> -8 */
    for (int i = 1; i < 32; i++)
        x[i] = (float)(i % 16) - 7.5f;
    ck_assert_uint_eq(gguf_quantize(GGUF_Q4_0, x, q, 32), 18);
    ck_assert_uint_eq(q[0] | q[1] << 8, 0x3c00);  /* d = -8 / -8 = 1 */
    ck_assert_uint_eq(q[2] & 15, 0);              /* -8 -> 0 */
    ck_assert_uint_eq(q[3] & 15, 2);              /* -6.5 + 8.5 = 2 */
    ck_assert_uint_eq(q[2 + 15] >> 4, 15);        /* x[31] = 7.5: 16 clamps to 15 */
    for (int i = 0; i < 64; i++)
        x[i] = sinf((float)i * 0.7f) * 3.0f;
    ck_assert_uint_eq(gguf_quantize(GGUF_Q4_0, x, q, 64), 36);
    for (int i = 0; i < 64; i++)
        ck_assert(fabsf(dequant(GGUF_Q4_0, q, (uint64_t)i) - x[i]) <= 3.0f / 8.0f * 1.01f);
    ck_assert_uint_eq(gguf_quantize(GGUF_Q8_0, x, q, 40), 0);      /* partial block */
    ck_assert_uint_eq(gguf_quantize(GGUF_Q6_K, x, q, 256), 0);     /* unsupported */
    memset(x, 0, sizeof x);
    ck_assert_uint_eq(gguf_quantize(GGUF_Q4_0, x, q, 32), 18);
    ck_assert_uint_eq(q[2], 0x88);                                 /* zeros -> 8 */
}
END_TEST

// ---------------------------------------------------------------- files and Python

START_TEST(test_open_file_mmap_and_model_id)
{
    gguf_writer *w = fx_writer();
    char err[256], id1[33], id2[33], id3[33];
    const char *path = tmp_path("fx_c.gguf");
    ck_assert_int_eq(gguf_writer_write(w, path, err, sizeof err), 0);
    gguf_ctx *g = gguf_open(path, err, sizeof err);
    ck_assert_msg(g != NULL, "%s", err);
    check_fixture(g);
    ck_assert_uint_eq((uintptr_t)gguf_base(g) % 4096, 0);
    ck_assert_uint_eq(gguf_version(g), 3);
    ck_assert_str_eq(gguf_name(g), path);
    gguf_model_id(g, id1);
    ck_assert_uint_eq(strlen(id1), 32);
    ck_assert_uint_eq(strspn(id1, "0123456789abcdef"), 32);
    size_t len;
    uint8_t *buf = write_mem(w, &len);
    ck_assert_uint_eq(len, gguf_size(g));
    gguf_ctx *m = gguf_open_mem(buf, len, NULL, NULL, 0);
    ck_assert_str_eq(gguf_model_id(m, id2), id1);               /* same bytes, same id */
    gguf_close(m);
    buf[len - 40] ^= 1;                                          /* one bit of tensor data */
    m = gguf_open_mem(buf, len, NULL, NULL, 0);
    ck_assert_str_ne(gguf_model_id(m, id3), id1);
    gguf_close(m);
    gguf_close(g);
    free(buf);
    gguf_writer_free(w);
}
END_TEST

START_TEST(test_open_reports_os_errors_with_the_path)
{
    char err[256];
    ck_assert_ptr_null(gguf_open("/nonexistent/model.gguf", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/model.gguf: cannot open"));
    ck_assert_ptr_null(gguf_open("/tmp", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
    const char *p = tmp_path("empty.gguf");
    fclose(fopen(p, "w"));
    ck_assert_ptr_null(gguf_open(p, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "empty file"));
}
END_TEST

START_TEST(test_reads_file_written_by_python)
{
    if (!have_python())
        return;
    char args[256], err[256];
    snprintf(args, sizeof args, "fixture %s", tmp_path("fx_py.gguf"));
    ck_assert_int_eq(run_py(args), 0);
    gguf_ctx *g = gguf_open(tmp_path("fx_py.gguf"), err, sizeof err);
    ck_assert_msg(g != NULL, "%s", err);
    check_fixture(g);
    gguf_close(g);
}
END_TEST

START_TEST(test_python_reads_file_written_by_c)
{
    if (!have_python())
        return;
    gguf_writer *w = fx_writer();
    char args[256], err[256];
    ck_assert_int_eq(gguf_writer_write(w, tmp_path("fx_c2.gguf"), err, sizeof err), 0);
    snprintf(args, sizeof args, "check-fixture %s", tmp_path("fx_c2.gguf"));
    ck_assert_int_eq(run_py(args), 0);
    gguf_writer_free(w);
}
END_TEST

START_TEST(test_large_string_array_is_indexed)
{
    enum { N = 150000 };
    char (*s)[12] = malloc(N * sizeof *s);
    const char **p = malloc(N * sizeof *p);
    for (int i = 0; i < N; i++) {
        snprintf(s[i], sizeof s[i], "tok%d", i);
        p[i] = s[i];
    }
    gguf_writer *w = gguf_writer_new();
    ck_assert_int_eq(gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", p, NULL, N), 0);
    size_t len;
    uint8_t *buf = write_mem(w, &len);
    gguf_ctx *g = gguf_open_mem(buf, len, NULL, NULL, 0);
    int64_t k = gguf_find_key(g, "tokenizer.ggml.tokens");
    ck_assert_uint_eq(gguf_arr_len(g, k), N);
    for (uint64_t j = N; j-- > 0;) {
        size_t n;
        const char *t = gguf_arr_str(g, k, j, &n);
        ck_assert(n == strlen(s[j]) && memcmp(t, s[j], n) == 0);
    }
    gguf_close(g);
    free(buf);
    gguf_writer_free(w);
    free(p);
    free(s);
}
END_TEST

START_TEST(test_print_info_lists_metadata_tensors_and_totals)
{
    gguf_writer *w = fx_writer();
    const char *many[20];
    for (int i = 0; i < 20; i++)
        many[i] = "w";
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", many, NULL, 20);
    size_t len, olen;
    uint8_t *buf = write_mem(w, &len);
    gguf_ctx *g = gguf_open_mem(buf, len, "fx.gguf", NULL, 0);
    char *out;
    FILE *f = open_memstream(&out, &olen);
    gguf_print_info(g, f, 0);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(out, "fx.gguf: GGUF v3"));
    ck_assert_ptr_nonnull(strstr(out, "\"llama\""));
    ck_assert_ptr_nonnull(strstr(out, "arr[str,20]"));
    ck_assert_ptr_nonnull(strstr(out, "\"w\", ...]"));
    ck_assert_ptr_nonnull(strstr(out, "9223372036854775813"));
    ck_assert_ptr_nonnull(strstr(out, "Q4_0"));
    ck_assert_ptr_nonnull(strstr(out, "4 x 3 x 2"));
    ck_assert_ptr_nonnull(strstr(out, "total: 696 parameters"));
    free(out);
    f = open_memstream(&out, &olen);
    gguf_print_info(g, f, 1);
    fclose(f);
    ck_assert_ptr_null(strstr(out, "\"w\", ...]"));
    free(out);
    gguf_close(g);
    free(buf);
    gguf_writer_free(w);
}
END_TEST

// ---------------------------------------------------------------- malformed files
// Each case is built byte by byte; each must fail with its key phrase.

typedef struct {
    uint8_t p[2048];
    size_t n;
} bb;

static void put(bb *b, const void *v, size_t n)
{
    ck_assert_uint_le(b->n + n, sizeof b->p);
    memcpy(b->p + b->n, v, n);
    b->n += n;
}
static void u32(bb *b, uint32_t v) { put(b, &v, 4); }
static void u64(bb *b, uint64_t v) { put(b, &v, 8); }
static void gstr(bb *b, const char *s) { u64(b, strlen(s)); put(b, s, strlen(s)); }
static void fill(bb *b, int byte, size_t n) { memset(b->p + b->n, byte, n); b->n += n; }

static void hdr(bb *b, uint32_t version, uint64_t n_t, uint64_t n_kv)
{
    put(b, "GGUF", 4);
    u32(b, version);
    u64(b, n_t);
    u64(b, n_kv);
}

static void kv_u32(bb *b, const char *key, uint32_t v)
{
    gstr(b, key);
    u32(b, GGUF_VAL_U32);
    u32(b, v);
}

static void key_type(bb *b, const char *key, uint32_t type) { gstr(b, key); u32(b, type); }

/* Tensor info with two dimensions. */
static void ti(bb *b, const char *name, uint32_t type, uint64_t off, uint64_t ne0, uint64_t ne1)
{
    gstr(b, name);
    u32(b, 2);
    u64(b, ne0);
    u64(b, ne1);
    u32(b, type);
    u64(b, off);
}

/* Padding to 32 and n bytes of tensor data. */
static void dat(bb *b, size_t n)
{
    fill(b, 0, (32 - b->n % 32) % 32);
    fill(b, 0x11, n);
}

#define BAD(fn) static void fn(bb *b)
BAD(valid_base) { hdr(b, 3, 2, 1); kv_u32(b, "a.n", 7); ti(b, "a", GGUF_F32, 0, 8, 1); ti(b, "b", GGUF_F32, 32, 8, 1); dat(b, 64); }
BAD(bad_magic) { put(b, "GGUX", 4); u32(b, 3); u64(b, 0); u64(b, 0); }
BAD(version1) { hdr(b, 1, 0, 0); }
BAD(version4) { hdr(b, 4, 0, 0); }
BAD(big_endian) { hdr(b, 0x03000000, 0, 0); }
BAD(huge_n_kv) { hdr(b, 3, 0, 1ull << 62); fill(b, 0, 64); }
BAD(huge_n_tensors) { hdr(b, 3, UINT64_MAX, 0); fill(b, 0, 64); }
BAD(missing_kv) { hdr(b, 3, 0, 3); kv_u32(b, "a", 1); kv_u32(b, "b", 2); u64(b, 100); }
BAD(huge_key_len) { hdr(b, 3, 0, 1); u64(b, 1ull << 63); fill(b, 0, 16); }
BAD(huge_str_len) { hdr(b, 3, 0, 1); key_type(b, "s", GGUF_VAL_STR); u64(b, UINT64_MAX); fill(b, 'x', 8); }
BAD(empty_key) { hdr(b, 3, 0, 1); kv_u32(b, "", 1); }
BAD(nul_in_key) { hdr(b, 3, 0, 1); u64(b, 3); put(b, "a\0b", 3); u32(b, GGUF_VAL_U32); u32(b, 1); }
BAD(unknown_vtype) { hdr(b, 3, 0, 1); key_type(b, "k", 13); u32(b, 0); }
BAD(vtype_all_ones) { hdr(b, 3, 0, 1); key_type(b, "k", UINT32_MAX); u32(b, 0); }
BAD(nested_array) { hdr(b, 3, 0, 1); key_type(b, "k", GGUF_VAL_ARR); u32(b, GGUF_VAL_ARR); u64(b, 1); fill(b, 0, 12); }
BAD(arr_unknown_elem) { hdr(b, 3, 0, 1); key_type(b, "k", GGUF_VAL_ARR); u32(b, 77); u64(b, 0); }
BAD(huge_arr) { hdr(b, 3, 0, 1); key_type(b, "k", GGUF_VAL_ARR); u32(b, GGUF_VAL_U32); u64(b, 1ull << 61); fill(b, 0, 16); }
BAD(huge_str_arr) { hdr(b, 3, 0, 1); key_type(b, "k", GGUF_VAL_ARR); u32(b, GGUF_VAL_STR); u64(b, UINT64_MAX); fill(b, 0, 16); }
BAD(str_arr_elem_huge) { hdr(b, 3, 0, 1); key_type(b, "k", GGUF_VAL_ARR); u32(b, GGUF_VAL_STR); u64(b, 2); gstr(b, "x"); u64(b, 1ull << 40); fill(b, 'y', 8); }
BAD(bool_two) { hdr(b, 3, 0, 1); key_type(b, "k", GGUF_VAL_BOOL); put(b, "\x02", 1); }
BAD(bool_arr_five) { hdr(b, 3, 0, 1); key_type(b, "k", GGUF_VAL_ARR); u32(b, GGUF_VAL_BOOL); u64(b, 3); put(b, "\x00\x01\x05", 3); }
BAD(dup_key) { hdr(b, 3, 0, 2); kv_u32(b, "k", 1); kv_u32(b, "k", 2); }
BAD(align_48) { hdr(b, 3, 0, 1); kv_u32(b, "general.alignment", 48); }
BAD(align_0) { hdr(b, 3, 0, 1); kv_u32(b, "general.alignment", 0); }
BAD(align_u64) { hdr(b, 3, 0, 1); key_type(b, "general.alignment", GGUF_VAL_U64); u64(b, 32); }
BAD(ndims_5) { hdr(b, 3, 1, 0); gstr(b, "a"); u32(b, 5); for (int i = 0; i < 5; i++) u64(b, 1); u32(b, 0); u64(b, 0); dat(b, 4); }
BAD(ndims_0) { hdr(b, 3, 1, 0); gstr(b, "a"); u32(b, 0); u32(b, 0); u64(b, 0); fill(b, 0, 32); }
BAD(zero_dim) { hdr(b, 3, 1, 0); ti(b, "a", GGUF_F32, 0, 8, 0); dat(b, 32); }
BAD(dims_overflow) { hdr(b, 3, 1, 0); ti(b, "a", GGUF_F32, 0, 1ull << 32, 1ull << 32); dat(b, 32); }
BAD(size_overflow) { hdr(b, 3, 1, 0); ti(b, "a", GGUF_F32, 0, 1ull << 62, 1); dat(b, 32); }
BAD(unknown_type) { hdr(b, 3, 1, 0); ti(b, "blk.3.attn_q.weight", 99, 0, 8, 1); dat(b, 32); }
BAD(removed_type) { hdr(b, 3, 1, 0); ti(b, "a", 4, 0, 32, 1); dat(b, 32); }
BAD(partial_block) { hdr(b, 3, 1, 0); ti(b, "a", GGUF_Q4_0, 0, 33, 1); dat(b, 64); }
/* K-quants: rows of 256 in blocks of 144 (Q4_K), 176 (Q5_K), 210 (Q6_K) bytes. */
BAD(q4k_partial_block) { hdr(b, 3, 1, 0); ti(b, "w", GGUF_Q4_K, 0, 288, 8); dat(b, 1440); }
BAD(q4k_half_block) { hdr(b, 3, 1, 0); ti(b, "w", GGUF_Q4_K, 0, 128, 2); dat(b, 144); }
BAD(q6k_truncated) { hdr(b, 3, 1, 0); ti(b, "w", GGUF_Q6_K, 0, 256, 2); dat(b, 419); }
BAD(q5k_overlap) { hdr(b, 3, 2, 0); ti(b, "a", GGUF_Q5_K, 0, 256, 1); ti(b, "b", GGUF_Q5_K, 160, 256, 1); dat(b, 352); }
BAD(offset_past_end) { hdr(b, 3, 1, 0); ti(b, "a", GGUF_F32, 1024, 8, 1); dat(b, 32); }
BAD(offset_huge) { hdr(b, 3, 1, 0); ti(b, "a", GGUF_F32, UINT64_MAX - 31, 8, 1); dat(b, 32); }
BAD(data_truncated) { hdr(b, 3, 1, 0); ti(b, "a", GGUF_F32, 0, 64, 1); dat(b, 100); }
BAD(misaligned) { hdr(b, 3, 2, 0); ti(b, "a", GGUF_F32, 0, 8, 1); ti(b, "b", GGUF_F32, 48, 8, 1); dat(b, 96); }
BAD(overlap_same) { hdr(b, 3, 2, 0); ti(b, "a", GGUF_F32, 0, 8, 1); ti(b, "b", GGUF_F32, 0, 8, 1); dat(b, 64); }
BAD(overlap_partial) { hdr(b, 3, 2, 0); ti(b, "a", GGUF_F32, 0, 16, 1); ti(b, "b", GGUF_F32, 32, 8, 1); dat(b, 96); }
BAD(dup_tensor) { hdr(b, 3, 2, 0); ti(b, "a", GGUF_F32, 0, 8, 1); ti(b, "a", GGUF_F32, 32, 8, 1); dat(b, 64); }
BAD(empty_name) { hdr(b, 3, 1, 0); ti(b, "", GGUF_F32, 0, 8, 1); dat(b, 32); }
BAD(long_name) { hdr(b, 3, 1, 0); ti(b, "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn", GGUF_F32, 0, 8, 1); dat(b, 32); }
BAD(nul_in_name) { hdr(b, 3, 1, 0); u64(b, 2); put(b, "a\0", 2); u32(b, 1); u64(b, 8); u32(b, 0); u64(b, 0); dat(b, 32); }
BAD(huge_name_len) { hdr(b, 3, 1, 0); u64(b, 1ull << 60); fill(b, 0, 40); }
BAD(missing_tensor_info) { hdr(b, 3, 2, 0); ti(b, "a", GGUF_F32, 0, 8, 1); fill(b, 0xff, 40); }
BAD(empty_file) { (void)b; }
BAD(three_bytes) { put(b, "GGU", 3); }
BAD(short_header) { put(b, "GGUF", 4); u32(b, 3); u64(b, 0); }
BAD(align_64_misaligned) { hdr(b, 3, 1, 1); kv_u32(b, "general.alignment", 64); ti(b, "a", GGUF_F32, 32, 8, 1); dat(b, 128); }

static const struct { const char *name; void (*build)(bb *); const char *phrase; } BAD_CASES[] = {
    {"bad_magic", bad_magic, "x.gguf: bad magic"},
    {"version1", version1, "unsupported GGUF version 1"},
    {"version4", version4, "unsupported GGUF version 4"},
    {"big_endian", big_endian, "big-endian"},
    {"huge_n_kv", huge_n_kv, "metadata keys cannot fit"},
    {"huge_n_tensors", huge_n_tensors, "tensors cannot fit"},
    {"missing_kv", missing_kv, "truncated in metadata key 2 of 3"},
    {"huge_key_len", huge_key_len, "truncated in metadata key 0 of 1"},
    {"huge_str_len", huge_str_len, "truncated in metadata key 0 of 1 ('s')"},
    {"empty_key", empty_key, "invalid length 0"},
    {"nul_in_key", nul_in_key, "contains a NUL byte"},
    {"unknown_vtype", unknown_vtype, "key 'k' has unknown value type 13"},
    {"vtype_all_ones", vtype_all_ones, "unknown value type 4294967295"},
    {"nested_array", nested_array, "array of arrays"},
    {"arr_unknown_elem", arr_unknown_elem, "unknown value type 77"},
    {"huge_arr", huge_arr, "truncated in metadata key 0 of 1 ('k')"},
    {"huge_str_arr", huge_str_arr, "truncated in metadata key 0 of 1 ('k')"},
    {"str_arr_elem_huge", str_arr_elem_huge, "truncated in metadata key 0 of 1 ('k')"},
    {"bool_two", bool_two, "bool value 2"},
    {"bool_arr_five", bool_arr_five, "bool value 5"},
    {"dup_key", dup_key, "duplicate metadata key 'k'"},
    {"align_48", align_48, "general.alignment 48 is not a power of two"},
    {"align_0", align_0, "general.alignment 0 is not a power of two"},
    {"align_u64", align_u64, "must be u32"},
    {"ndims_5", ndims_5, "tensor 'a' has 5 dimensions"},
    {"ndims_0", ndims_0, "tensor 'a' has 0 dimensions"},
    {"zero_dim", zero_dim, "tensor 'a' has zero dimension 1"},
    {"dims_overflow", dims_overflow, "dimensions overflow"},
    {"size_overflow", size_overflow, "size overflows"},
    {"unknown_type", unknown_type, "x.gguf: tensor 'blk.3.attn_q.weight' has unknown type 99"},
    {"removed_type", removed_type, "has unknown type 4"},
    {"partial_block", partial_block, "not a multiple of the Q4_0 block size 32"},
    {"q4k_partial_block", q4k_partial_block, "tensor 'w' row of 288 elements is not a multiple of the Q4_K block size 256"},
    {"q4k_half_block", q4k_half_block, "row of 128 elements is not a multiple of the Q4_K block size 256"},
    {"q6k_truncated", q6k_truncated, "extends past end of file"},
    {"q5k_overlap", q5k_overlap, "tensors 'a' and 'b' overlap"},
    {"offset_past_end", offset_past_end, "offset 1024 is past end of file"},
    {"offset_huge", offset_huge, "past end of file"},
    {"data_truncated", data_truncated, "extends past end of file"},
    {"misaligned", misaligned, "tensor 'b' offset 48 is not a multiple of the alignment 32"},
    {"overlap_same", overlap_same, "overlap"},
    {"overlap_partial", overlap_partial, "tensors 'a' and 'b' overlap"},
    {"dup_tensor", dup_tensor, "duplicate tensor name 'a'"},
    {"empty_name", empty_name, "name of 0 bytes"},
    {"long_name", long_name, "name of 65 bytes"},
    {"nul_in_name", nul_in_name, "NUL byte in its name"},
    {"huge_name_len", huge_name_len, "truncated in tensor info 0 of 1"},
    {"missing_tensor_info", missing_tensor_info, "truncated in tensor info 1 of 2"},
    {"empty_file", empty_file, "truncated in header"},
    {"three_bytes", three_bytes, "truncated in header"},
    {"short_header", short_header, "truncated in header"},
    {"align_64_misaligned", align_64_misaligned, "not a multiple of the alignment 64"},
};

START_TEST(test_malformed_battery_each_fails_with_its_message)
{
    static bb b;
    char err[512];
    memset(&b, 0, sizeof b);
    valid_base(&b);
    gguf_ctx *g = gguf_open_mem(b.p, b.n, "x.gguf", err, sizeof err);
    ck_assert_msg(g != NULL, "valid base rejected: %s", err);
    gguf_close(g);
    ck_assert_uint_ge(sizeof BAD_CASES / sizeof *BAD_CASES, 30);
    for (size_t i = 0; i < sizeof BAD_CASES / sizeof *BAD_CASES; i++) {
        memset(&b, 0, sizeof b);
        BAD_CASES[i].build(&b);
        /* An exact-size heap copy, so ASan sees any read past the end. */
        uint8_t *copy = malloc(b.n ? b.n : 1);
        memcpy(copy, b.p, b.n);
        err[0] = 0;
        g = gguf_open_mem(copy, b.n, "x.gguf", err, sizeof err);
        ck_assert_msg(g == NULL, "%s: accepted", BAD_CASES[i].name);
        ck_assert_msg(strstr(err, BAD_CASES[i].phrase) != NULL, "%s: got \"%s\", want \"%s\"",
                      BAD_CASES[i].name, err, BAD_CASES[i].phrase);
        ck_assert_msg(strncmp(err, "x.gguf: ", 8) == 0, "%s: no file name in \"%s\"", BAD_CASES[i].name, err);
        free(copy);
    }
}
END_TEST

START_TEST(test_truncated_at_every_byte_offset)
{
    gguf_writer *w = fx_writer();
    size_t len;
    uint8_t *full = write_mem(w, &len);
    int header = 0, meta = 0, tinfo = 0, data = 0;
    bool past_end_seen = false;
    char err[512];
    for (size_t n = 0; n < len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, full, n);
        gguf_ctx *g = gguf_open_mem(copy, n, "t.gguf", err, sizeof err);
        ck_assert_msg(g == NULL, "accepted at %zu of %zu bytes", n, len);
        if (strstr(err, "past end of file")) {
            past_end_seen = true;
            data++;
        } else {
            ck_assert_msg(!past_end_seen && strstr(err, "truncated"), "at %zu: %s", n, err);
            header += strstr(err, "header") != NULL;
            meta += strstr(err, "in metadata key") != NULL;
            tinfo += strstr(err, "in tensor info") != NULL;
        }
        free(copy);
    }
    ck_assert(header > 0 && meta > 0 && tinfo > 0 && data > 0);
    free(full);
    gguf_writer_free(w);
}
END_TEST

/* Everything a caller can read; must stay inside the buffer. */
static uint64_t touch_all(const gguf_ctx *g)
{
    uint64_t acc = 0;
    for (int64_t i = 0; i < gguf_n_kv(g); i++) {
        const char *key = gguf_key(g, i);
        int64_t v;
        double d;
        const char *s;
        size_t len;
        acc += (uint64_t)gguf_find_key(g, key) + gguf_kv_type(g, i);
        if (gguf_get_int(g, key, INT64_MIN, INT64_MAX, &v) == 0) acc += (uint64_t)v;
        if (gguf_get_float(g, key, &d) == 0) acc += (uint64_t)(d == d);
        if (gguf_get_str(g, key, &s, &len) == 0 && len) acc += (uint8_t)s[len - 1];
        for (uint64_t j = 0; j < gguf_arr_len(g, i); j++) {
            if ((s = gguf_arr_str(g, i, j, &len)) && len) acc += (uint8_t)s[len - 1];
            if (gguf_arr_get_int(g, i, j, &v) == 0) acc += (uint64_t)v;
            if (gguf_arr_get_float(g, i, j, &d) == 0) acc += (uint64_t)(d == d);
        }
    }
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        acc += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
        acc += (uintptr_t)gguf_find_tensor(g, t->name);
    }
    return acc;
}

static void print_info_to_null(const gguf_ctx *g)
{
    FILE *f = fopen("/dev/null", "w");
    gguf_print_info(g, f, 1);
    fclose(f);
}

START_TEST(test_random_corruption_never_crashes)
{
    gguf_writer *w = fx_writer();
    size_t len;
    uint8_t *full = write_mem(w, &len);
    uint8_t *copy = malloc(len);
    uint64_t rng = 0x9e3779b97f4a7c15ull, acc = 0;
    int accepted = 0;
    char err[512];
    for (int it = 0; it < 4000; it++) {
        memcpy(copy, full, len);
        for (int k = 0; k < 1 + it % 4; k++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = (size_t)(rng >> 33) % 960;            /* header + metadata + infos */
            copy[pos] = (uint8_t)(rng >> 20) ^ (it & 1 ? 0xff : 0x01);
        }
        gguf_ctx *g = gguf_open_mem(copy, len, "r.gguf", err, sizeof err);
        if (g) {
            accepted++;
            acc += touch_all(g);
            print_info_to_null(g);
            gguf_close(g);
        } else {
            ck_assert_msg(strncmp(err, "r.gguf: ", 8) == 0 && strlen(err) > 8, "%s", err);
        }
    }
    ck_assert_int_gt(accepted, 0);
    (void)acc;
    free(copy);
    free(full);
    gguf_writer_free(w);
}
END_TEST

static Suite *gguf_suite(void)
{
    Suite *s = suite_create("gguf");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_roundtrip_every_kv_type_with_all_getters);
    tcase_add_test(tc, test_roundtrip_every_tensor_type_raw_bytes);
    tcase_add_test(tc, test_type_table_sizes);
    tcase_add_test(tc, test_writer_rejects_bad_input);
    tcase_add_test(tc, test_custom_alignment_is_honoured);
    tcase_add_test(tc, test_fp16_conversion_exhaustive_round_trip_and_ties);
    tcase_add_test(tc, test_quantize_q8_0_q4_0_reference_rounding);
    tcase_add_test(tc, test_open_file_mmap_and_model_id);
    tcase_add_test(tc, test_open_reports_os_errors_with_the_path);
    tcase_add_test(tc, test_reads_file_written_by_python);
    tcase_add_test(tc, test_python_reads_file_written_by_c);
    tcase_add_test(tc, test_large_string_array_is_indexed);
    tcase_add_test(tc, test_print_info_lists_metadata_tensors_and_totals);
    tcase_add_test(tc, test_malformed_battery_each_fails_with_its_message);
    tcase_add_test(tc, test_truncated_at_every_byte_offset);
    tcase_add_test(tc, test_random_corruption_never_crashes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    int failed = check_failed(gguf_suite(), CK_NORMAL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_gguf: could not remove %s\n", g_dir);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
