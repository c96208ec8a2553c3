/* bench_util.c — random-weight models and result files for the benchmarks. */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "gguf_write.h"

double bench_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int bench_save(const char *dir, const char *name, json_t *json)
{
    char path[4096];
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    if (json_dump_file(json, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
        fprintf(stderr, "sparkd bench: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(stderr, "wrote %s\n", path);
    return 0;
}

/* splitmix64 -> approximately normal floats (sum of 4 uniforms), cheap. */
static void fill_random(float *x, size_t n, float scale, uint64_t *state)
{
    for (size_t i = 0; i < n; i++) {
        float s = 0;
        for (int k = 0; k < 4; k++) {
            uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            z ^= z >> 31;
            s += (float)(z >> 40) / (float)(1u << 24) - 0.5f;
        }
        x[i] = s * 1.7320508f * scale;   /* variance of the sum of 4 U(-.5,.5) is 1/3 */
    }
}

static float inv_sqrt(int n) { return 1.0f / sqrtf((float)n); }

static int add_mat(gguf_writer *w, const char *name, gguf_type type, int n_out, int n_in,
                   float scale, uint64_t *state)
{
    size_t n = (size_t)n_out * n_in;
    float *x = malloc(n * sizeof *x);
    if (!x) return -1;
    fill_random(x, n, scale, state);
    uint64_t ne[2] = { (uint64_t)n_in, (uint64_t)n_out };
    int rc = gguf_writer_add_tensor_f32(w, name, type, n_out > 0 ? 2 : 1, ne, x);
    free(x);
    return rc;
}

static int add_vec(gguf_writer *w, const char *name, int n, float around, uint64_t *state)
{
    float *x = malloc((size_t)n * sizeof *x);
    if (!x) return -1;
    fill_random(x, (size_t)n, 0.1f, state);
    for (int i = 0; i < n; i++) x[i] += around;
    uint64_t ne[1] = { (uint64_t)n };
    int rc = gguf_writer_add_tensor_f32(w, name, GGUF_F32, 1, ne, x);
    free(x);
    return rc;
}

static int add_tokenizer(gguf_writer *w, int vocab)
{
    static const char *const SPECIAL[] = { "<|endoftext|>", "<|fim_prefix|>", "<|fim_suffix|>",
                                           "<|fim_middle|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>" };
    char **tok = calloc((size_t)vocab, sizeof *tok);
    int32_t *type = calloc((size_t)vocab, sizeof *type);
    int rc = -1;
    if (!tok || !type) goto out;
    for (int i = 0; i < vocab; i++) {
        char b[40];
        if (i < 256) {
            /* GPT-2 byte stand-ins: printable bytes map to themselves, the rest to U+0100.. */
            int keep = (i >= 0x21 && i <= 0x7e) || (i >= 0xa1 && i <= 0xac) || i >= 0xae;
            int n_before = 0;
            for (int j = 0; j < i; j++)
                n_before += !((j >= 0x21 && j <= 0x7e) || (j >= 0xa1 && j <= 0xac) || j >= 0xae);
            unsigned cp = keep ? (unsigned)i : 256u + (unsigned)n_before;
            if (cp < 0x80) { b[0] = (char)cp; b[1] = 0; }
            else { b[0] = (char)(0xc0 | (cp >> 6)); b[1] = (char)(0x80 | (cp & 0x3f)); b[2] = 0; }
            type[i] = 1;
        } else if (i < 256 + 7) {
            snprintf(b, sizeof b, "%s", SPECIAL[i - 256]);
            type[i] = 3;
        } else {
            snprintf(b, sizeof b, "<|unused%d|>", i);
            type[i] = 3;
        }
        if (!(tok[i] = strdup(b))) goto out;
    }
    rc = gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2") ||
         gguf_writer_set_str(w, "tokenizer.ggml.pre", "qwen2") ||
         gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, NULL, (size_t)vocab) ||
         gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_VAL_I32, type, (size_t)vocab) ||
         gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", NULL, NULL, 0) ||
         gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 256) ||
         gguf_writer_set_u32(w, "tokenizer.ggml.fim_pre_token_id", 257) ||
         gguf_writer_set_u32(w, "tokenizer.ggml.fim_suf_token_id", 258) ||
         gguf_writer_set_u32(w, "tokenizer.ggml.fim_mid_token_id", 259) ? -1 : 0;
out:
    for (int i = 0; tok && i < vocab; i++) free(tok[i]);
    free(tok);
    free(type);
    return rc;
}

int bench_write_model(const char *path, const bench_shape *s, gguf_type type, uint64_t seed,
                      char *err, size_t errlen)
{
    gguf_writer *w = gguf_writer_new();
    if (!w) { snprintf(err, errlen, "out of memory"); return -1; }
    uint64_t st = seed;
    int hd = s->dim / s->heads, qd = s->heads * hd, kvd = s->kv_heads * hd;
    char key[96];
    int rc = gguf_writer_set_str(w, "general.architecture", s->arch);
#define U32(k, v) (snprintf(key, sizeof key, "%s." k, s->arch), rc = rc || gguf_writer_set_u32(w, key, (uint32_t)(v)))
    U32("context_length", 4096);
    U32("embedding_length", s->dim);
    U32("block_count", s->layers);
    U32("feed_forward_length", s->ffn);
    U32("attention.head_count", s->heads);
    U32("attention.head_count_kv", s->kv_heads);
#undef U32
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", s->arch);
    rc = rc || gguf_writer_set_f32(w, key, 1e-6f);
    rc = rc || add_tokenizer(w, s->vocab);
    rc = rc || add_mat(w, "token_embd.weight", type, s->vocab, s->dim, 1.0f, &st);
    int qwen = !strcmp(s->arch, "qwen2");
    char nm[96];
    for (int l = 0; l < s->layers && !rc; l++) {
#define M(sfx, o, i) (snprintf(nm, sizeof nm, "blk.%d." sfx, l), add_mat(w, nm, type, o, i, inv_sqrt(i), &st))
#define V(sfx, n, a) (snprintf(nm, sizeof nm, "blk.%d." sfx, l), add_vec(w, nm, n, a, &st))
        rc = V("attn_norm.weight", s->dim, 1) || M("attn_q.weight", qd, s->dim) ||
             M("attn_k.weight", kvd, s->dim) || M("attn_v.weight", kvd, s->dim) ||
             (qwen && (V("attn_q.bias", qd, 0) || V("attn_k.bias", kvd, 0) || V("attn_v.bias", kvd, 0))) ||
             M("attn_output.weight", s->dim, qd) || V("ffn_norm.weight", s->dim, 1) ||
             M("ffn_gate.weight", s->ffn, s->dim) || M("ffn_up.weight", s->ffn, s->dim) ||
             M("ffn_down.weight", s->dim, s->ffn);
#undef M
#undef V
    }
    rc = rc || add_vec(w, "output_norm.weight", s->dim, 1, &st);
    if (!s->tied) rc = rc || add_mat(w, "output.weight", type, s->vocab, s->dim, 0.05f, &st);
    if (rc) { snprintf(err, errlen, "cannot build the %s model (out of memory?)", s->name); gguf_writer_free(w); return -1; }
    rc = gguf_writer_write(w, path, err, errlen);
    gguf_writer_free(w);
    return rc ? -1 : 0;
}
