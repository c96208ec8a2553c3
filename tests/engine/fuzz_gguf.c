/* fuzz_gguf.c — libFuzzer target for the GGUF reader: any bytes either open
 * cleanly (and then every accessor stays inside the buffer) or fail with a
 * message. Seeds: tests/fuzz/corpus/fuzz_gguf/ (tools/gen_fuzz_seeds.py). */
/* The reader is compiled into this file rather than linked from the engine
 * library: the library is built without -fsanitize=fuzzer, and without
 * coverage feedback from the parser libFuzzer would mutate blindly. (Linking
 * needs no gguf.c.o from libengine.a, so nothing is defined twice.) */
#include "../../engine/gguf.c"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

static void touch_kv(const gguf_ctx *g, int64_t i)
{
    const char *key = gguf_key(g, i), *s;
    size_t len;
    uint32_t u32; int32_t i32; uint64_t u64; float f; bool b; int64_t v; double d;
    char *dup;
    if (gguf_find_key(g, key) != i)
        abort();                       /* keys are unique: lookup finds this entry */
    sink += gguf_kv_type(g, i) + gguf_val_size(gguf_kv_type(g, i));
    sink += (uint64_t)gguf_get_u32(g, key, &u32) + (uint64_t)gguf_get_i32(g, key, &i32);
    sink += (uint64_t)gguf_get_u64(g, key, &u64) + (uint64_t)gguf_get_f32(g, key, &f);
    sink += (uint64_t)gguf_get_bool(g, key, &b);
    if (gguf_get_int(g, key, INT64_MIN, INT64_MAX, &v) == GGUF_OK) sink += (uint64_t)v;
    if (gguf_get_int_or(g, key, 0, -5, 5, &v) == GGUF_OK) sink += (uint64_t)v;
    if (gguf_get_float(g, key, &d) == GGUF_OK) sink += d == d;
    if (gguf_get_float_or(g, key, 0.5, &d) == GGUF_OK) sink += d == d;
    if (gguf_get_bool_or(g, key, false, &b) == GGUF_OK) sink += b;
    if (gguf_get_str(g, key, &s, &len) == GGUF_OK && len)
        sink += (uint8_t)s[0] + (uint8_t)s[len - 1];
    if (gguf_get_str_dup(g, key, &dup) == GGUF_OK) {
        sink += strlen(dup);
        free(dup);
    }
    gguf_val_type at = gguf_arr_type(g, i);
    uint64_t n = gguf_arr_len(g, i);
    const uint8_t *raw = gguf_arr_data(g, i);
    if (raw && n)
        sink += raw[0] + raw[n * gguf_val_size(at) - 1];
    for (uint64_t j = 0; j <= n && j < 4096; j++) {    /* j == n probes the bound */
        if ((s = gguf_arr_str(g, i, j, &len)) && len)
            sink += (uint8_t)s[0] + (uint8_t)s[len - 1];
        if (gguf_arr_get_int(g, i, j, &v) == GGUF_OK) sink += (uint64_t)v;
        if (gguf_arr_get_float(g, i, j, &d) == GGUF_OK) sink += d == d;
    }
}

static void touch_tensor(const gguf_ctx *g, int64_t i)
{
    const gguf_tensor *t = gguf_tensor_at(g, i);
    if (!t || gguf_find_tensor(g, t->name) != t || !gguf_type_name(t->type) || t->nbytes == 0)
        abort();
    const uint8_t *p = t->data;
    if (p < (const uint8_t *)gguf_base(g) || (uint64_t)(p - (const uint8_t *)gguf_base(g)) + t->nbytes > gguf_size(g))
        abort();
    sink += p[0] + p[t->nbytes - 1] + t->n_elems + t->ne[3];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *devnull;
    char err[256];
    if (!devnull)
        devnull = fopen("/dev/null", "w");
    gguf_ctx *g = gguf_open_mem(data, size, "fuzz.gguf", err, sizeof err);
    if (!g) {
        if (strncmp(err, "fuzz.gguf: ", 11) != 0)
            abort();                   /* every failure names the file and says why */
        return 0;
    }
    for (int64_t i = 0; i < gguf_n_kv(g); i++)
        touch_kv(g, i);
    for (int64_t i = 0; i < gguf_n_tensors(g); i++)
        touch_tensor(g, i);
    sink += (uintptr_t)gguf_key(g, -1) + (uintptr_t)gguf_tensor_at(g, gguf_n_tensors(g));
    sink += gguf_version(g) + gguf_alignment(g) + gguf_data_offset(g);
    char id[33];
    gguf_model_id(g, id);
    if (devnull)
        gguf_print_info(g, devnull, (int)(size & 1));
    gguf_close(g);
    return 0;
}
