/* model.c — Llama/Qwen2 forward pass over the device API.
 *
 * Reads top to bottom in the order data flows: structs, loading (hyper-
 * parameters, tensors), context (KV cache), the forward pass. Shapes are
 * written as (rows, cols) of row-major F32 activations; weights are
 * (n_out, n_in) as the device API defines them (GGUF ne = [n_in, n_out]).
 */
#include "model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double eng_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// ---------------------------------------------------------------- structs

typedef struct {
    dev_dtype type;
    const void *data;       /* in the mapping */
} weight;

typedef struct {
    const float *attn_norm; /* (dim) */
    weight wq;              /* (n_heads*hd, dim) */
    weight wk;              /* (n_kv_heads*hd, dim) */
    weight wv;              /* (n_kv_heads*hd, dim) */
    const float *bq, *bk, *bv;  /* qwen2 biases (q_dim), (kv_dim), (kv_dim) */
    weight wo;              /* (dim, n_heads*hd) */
    const float *ffn_norm;  /* (dim) */
    weight w_gate;          /* (ffn, dim) */
    weight w_up;            /* (ffn, dim) */
    weight w_down;          /* (dim, ffn) */
} layer;

struct eng_model {
    gguf_ctx *g;
    eng_tok *tok;
    dev_device *dev;
    eng_hparams hp;
    weight tok_embd;        /* (n_vocab, dim) */
    const float *out_norm;  /* (dim) */
    weight output;          /* (n_vocab, dim), = tok_embd when tied */
    layer *layers;          /* (n_layers) */
    uint64_t n_params, weight_bytes;
};

struct eng_ctx {
    eng_model *m;
    int n_ctx, max_batch, pos;
    float *k_cache, *v_cache;   /* (n_layers, n_ctx, kv_dim) each */
    float *x;                   /* (max_batch, dim) residual stream */
    float *xb;                  /* (max_batch, max(dim, q_dim)) */
    float *xb2;                 /* (max_batch, dim) */
    float *q;                   /* (max_batch, q_dim) */
    float *att;                 /* (max_batch, q_dim) */
    float *hb, *hb2;            /* (max_batch, ffn) */
    int32_t *positions;         /* (max_batch) */
    char err[256];
};

const char *eng_arch_name(eng_arch a) { return a == ENG_ARCH_QWEN2 ? "qwen2" : "llama"; }

static void seterr(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (len) vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

// ---------------------------------------------------------------- loading

static int read_hparams(eng_model *m, char *err, size_t errlen)
{
    const char *fn = gguf_name(m->g);
    const char *arch;
    size_t alen;
    if (gguf_get_str(m->g, "general.architecture", &arch, &alen) != GGUF_OK) {
        seterr(err, errlen, "%s: no general.architecture key; is this a model file?", fn);
        return -1;
    }
    eng_hparams *hp = &m->hp;
    if (alen == 5 && !memcmp(arch, "llama", 5)) hp->arch = ENG_ARCH_LLAMA;
    else if (alen == 5 && !memcmp(arch, "qwen2", 5)) hp->arch = ENG_ARCH_QWEN2;
    else {
        seterr(err, errlen, "%s: architecture '%.*s' is not supported (supported: llama, qwen2)",
               fn, (int)(alen > 40 ? 40 : alen), arch);
        return -1;
    }
    const char *a = eng_arch_name(hp->arch);
    char key[96];
    int64_t v;
    double f;
#define REQ_INT(field, name, lo, hi) do { \
        snprintf(key, sizeof key, "%s." name, a); \
        if (gguf_get_int(m->g, key, lo, hi, &v) != GGUF_OK) { \
            seterr(err, errlen, "%s: %s is missing or out of range [%d, %d]", fn, key, lo, hi); \
            return -1; } \
        hp->field = (int)v; } while (0)
    REQ_INT(dim, "embedding_length", 1, 1 << 16);
    REQ_INT(n_layers, "block_count", 1, 1024);
    REQ_INT(n_heads, "attention.head_count", 1, 1024);
    REQ_INT(ffn_dim, "feed_forward_length", 1, 1 << 18);
#undef REQ_INT
    snprintf(key, sizeof key, "%s.attention.head_count_kv", a);
    if (gguf_get_int_or(m->g, key, hp->n_heads, 1, hp->n_heads, &v) != GGUF_OK) goto range;
    hp->n_kv_heads = (int)v;
    snprintf(key, sizeof key, "%s.attention.key_length", a);
    if (gguf_get_int_or(m->g, key, hp->dim / hp->n_heads, 2, 256, &v) != GGUF_OK) goto range;
    hp->head_dim = (int)v;
    snprintf(key, sizeof key, "%s.context_length", a);
    if (gguf_get_int_or(m->g, key, 2048, 1, 1 << 24, &v) != GGUF_OK) goto range;
    hp->n_ctx_train = (int)v;
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", a);
    if (gguf_get_float_or(m->g, key, 1e-6, &f) != GGUF_OK || !(f > 0 && f < 1)) goto range;
    hp->eps = (float)f;
    snprintf(key, sizeof key, "%s.rope.freq_base", a);
    if (gguf_get_float_or(m->g, key, 10000.0, &f) != GGUF_OK || !(f > 1)) goto range;
    hp->rope_base = (float)f;
    if (hp->n_heads % hp->n_kv_heads || hp->head_dim % 2) {
        seterr(err, errlen, "%s: head_count %d must be a multiple of head_count_kv %d, head dim %d even",
               fn, hp->n_heads, hp->n_kv_heads, hp->head_dim);
        return -1;
    }
    hp->rope_neox = hp->arch == ENG_ARCH_QWEN2;
    hp->has_qkv_bias = hp->arch == ENG_ARCH_QWEN2;
    return 0;
range:
    seterr(err, errlen, "%s: %s has a wrong type or is out of range", fn, key);
    return -1;
}


/* Finds tensor `name` with GGUF dims [n_in, n_out] (n_out 0: 1-D of n_in). */
static const gguf_tensor *find(eng_model *m, const char *name, int n_in, int n_out,
                               char *err, size_t errlen)
{
    const gguf_tensor *t = gguf_find_tensor(m->g, name);
    const char *fn = gguf_name(m->g);
    if (!t) { seterr(err, errlen, "%s: tensor '%s' is missing", fn, name); return NULL; }
    int dims_ok = n_out ? (t->n_dims == 2 && t->ne[0] == (uint64_t)n_in && t->ne[1] == (uint64_t)n_out)
                        : (t->n_dims == 1 && t->ne[0] == (uint64_t)n_in);
    if (!dims_ok) {
        seterr(err, errlen, "%s: tensor '%s' has shape [%llu, %llu], expected [%d, %d]", fn, name,
               (unsigned long long)t->ne[0], (unsigned long long)(t->n_dims > 1 ? t->ne[1] : 1),
               n_in, n_out ? n_out : 1);
        return NULL;
    }
    m->n_params += t->n_elems;
    m->weight_bytes += t->nbytes;
    return t;
}

static int get_weight(eng_model *m, weight *w, const char *name, int n_in, int n_out,
                      char *err, size_t errlen)
{
    const gguf_tensor *t = find(m, name, n_in, n_out, err, errlen);
    if (!t) return -1;
    dev_dtype dt = (dev_dtype)t->type;
    if (!dev_dtype_block(dt) || t->type > 30) {
        seterr(err, errlen, "%s: tensor '%s' has type %s, which sparkd does not support yet "
               "(supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)", gguf_name(m->g), name, gguf_type_name(t->type));
        return -1;
    }
    if (n_in % (int)dev_dtype_block(dt)) {
        seterr(err, errlen, "%s: tensor '%s' rows of %d are not a multiple of the %s block",
               gguf_name(m->g), name, n_in, dev_dtype_name(dt));
        return -1;
    }
    w->type = dt;
    w->data = t->data;
    return 0;
}

static int get_vec(eng_model *m, const float **out, const char *name, int n, char *err, size_t errlen)
{
    const gguf_tensor *t = find(m, name, n, 0, err, errlen);
    if (!t) return -1;
    if (t->type != 0) {
        seterr(err, errlen, "%s: tensor '%s' must be F32, not %s", gguf_name(m->g), name,
               gguf_type_name(t->type));
        return -1;
    }
    *out = t->data;
    return 0;
}

static int load_tensors(eng_model *m, char *err, size_t errlen)
{
    eng_hparams *hp = &m->hp;
    const gguf_tensor *emb = gguf_find_tensor(m->g, "token_embd.weight");
    if (!emb || emb->n_dims != 2 || emb->ne[1] > (1u << 24) || emb->ne[1] < 1) {
        seterr(err, errlen, "%s: tensor 'token_embd.weight' is missing or not (dim, vocab)", gguf_name(m->g));
        return -1;
    }
    hp->n_vocab = (int)emb->ne[1];
    int q_dim = hp->n_heads * hp->head_dim, kv_dim = hp->n_kv_heads * hp->head_dim;
    if (get_weight(m, &m->tok_embd, "token_embd.weight", hp->dim, hp->n_vocab, err, errlen) ||
        get_vec(m, &m->out_norm, "output_norm.weight", hp->dim, err, errlen))
        return -1;
    hp->tied_output = !gguf_find_tensor(m->g, "output.weight");
    if (hp->tied_output) m->output = m->tok_embd;
    else if (get_weight(m, &m->output, "output.weight", hp->dim, hp->n_vocab, err, errlen)) return -1;

    if (!(m->layers = calloc((size_t)hp->n_layers, sizeof *m->layers))) {
        seterr(err, errlen, "out of memory");
        return -1;
    }
    char nm[96];
    for (int l = 0; l < hp->n_layers; l++) {
        layer *L = &m->layers[l];
#define W(field, suffix, n_in, n_out) (snprintf(nm, sizeof nm, "blk.%d." suffix, l), \
        get_weight(m, &L->field, nm, n_in, n_out, err, errlen))
#define V(field, suffix, n) (snprintf(nm, sizeof nm, "blk.%d." suffix, l), \
        get_vec(m, &L->field, nm, n, err, errlen))
        if (V(attn_norm, "attn_norm.weight", hp->dim) ||
            W(wq, "attn_q.weight", hp->dim, q_dim) ||
            W(wk, "attn_k.weight", hp->dim, kv_dim) ||
            W(wv, "attn_v.weight", hp->dim, kv_dim) ||
            W(wo, "attn_output.weight", q_dim, hp->dim) ||
            V(ffn_norm, "ffn_norm.weight", hp->dim) ||
            W(w_gate, "ffn_gate.weight", hp->dim, hp->ffn_dim) ||
            W(w_up, "ffn_up.weight", hp->dim, hp->ffn_dim) ||
            W(w_down, "ffn_down.weight", hp->ffn_dim, hp->dim))
            return -1;
        if (hp->has_qkv_bias &&
            (V(bq, "attn_q.bias", q_dim) || V(bk, "attn_k.bias", kv_dim) || V(bv, "attn_v.bias", kv_dim)))
            return -1;
#undef W
#undef V
    }
    return 0;
}

eng_model *eng_model_load(const char *path, dev_device *dev, char *err, size_t errlen)
{
    eng_model *m = calloc(1, sizeof *m);
    if (!m) { seterr(err, errlen, "out of memory"); return NULL; }
    m->dev = dev;
    if (!(m->g = gguf_open(path, err, errlen)) || read_hparams(m, err, errlen) ||
        load_tensors(m, err, errlen)) {
        eng_model_free(m);
        return NULL;
    }
    char terr[256];
    if (!(m->tok = eng_tok_from_gguf(m->g, terr, sizeof terr))) {
        seterr(err, errlen, "%s: tokenizer: %s", path, terr);
        eng_model_free(m);
        return NULL;
    }
    if (eng_tok_n_vocab(m->tok) > (uint32_t)m->hp.n_vocab) {
        seterr(err, errlen, "%s: tokenizer has %u tokens but token_embd has %d rows", path,
               eng_tok_n_vocab(m->tok), m->hp.n_vocab);
        eng_model_free(m);
        return NULL;
    }
    return m;
}

void eng_model_free(eng_model *m)
{
    if (!m) return;
    eng_tok_free(m->tok);
    gguf_close(m->g);
    free(m->layers);
    free(m);
}

const eng_hparams *eng_model_hparams(const eng_model *m) { return &m->hp; }
const eng_tok *eng_model_tok(const eng_model *m) { return m->tok; }
gguf_ctx *eng_model_gguf(const eng_model *m) { return m->g; }
dev_device *eng_model_device(const eng_model *m) { return m->dev; }
uint64_t eng_model_n_params(const eng_model *m) { return m->n_params; }
uint64_t eng_model_weight_bytes(const eng_model *m) { return m->weight_bytes; }

// ---------------------------------------------------------------- context

eng_ctx *eng_ctx_new(eng_model *m, int n_ctx, int max_batch, char *err, size_t errlen)
{
    const eng_hparams *hp = &m->hp;
    if (n_ctx <= 0) n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    if (max_batch <= 0) max_batch = 256;
    if (max_batch > n_ctx) max_batch = n_ctx;
    eng_ctx *c = calloc(1, sizeof *c);
    if (!c) { seterr(err, errlen, "out of memory"); return NULL; }
    c->m = m;
    c->n_ctx = n_ctx;
    c->max_batch = max_batch;
    size_t q_dim = (size_t)hp->n_heads * hp->head_dim, kv_dim = (size_t)hp->n_kv_heads * hp->head_dim;
    size_t B = (size_t)max_batch, wide = q_dim > (size_t)hp->dim ? q_dim : (size_t)hp->dim;
    size_t kv = (size_t)hp->n_layers * (size_t)n_ctx * kv_dim;
    c->k_cache = malloc(kv * sizeof(float));
    c->v_cache = malloc(kv * sizeof(float));
    c->x = malloc(B * hp->dim * sizeof(float));
    c->xb = malloc(B * wide * sizeof(float));
    c->xb2 = malloc(B * hp->dim * sizeof(float));
    c->q = malloc(B * q_dim * sizeof(float));
    c->att = malloc(B * q_dim * sizeof(float));
    c->hb = malloc(B * hp->ffn_dim * sizeof(float));
    c->hb2 = malloc(B * hp->ffn_dim * sizeof(float));
    c->positions = malloc(B * sizeof(int32_t));
    if (!c->k_cache || !c->v_cache || !c->x || !c->xb || !c->xb2 || !c->q || !c->att || !c->hb ||
        !c->hb2 || !c->positions) {
        seterr(err, errlen, "out of memory for a %d-token context (KV cache %.1f MiB)", n_ctx,
               2.0 * kv * sizeof(float) / 1048576.0);
        eng_ctx_free(c);
        return NULL;
    }
    return c;
}

void eng_ctx_free(eng_ctx *c)
{
    if (!c) return;
    free(c->k_cache); free(c->v_cache); free(c->x); free(c->xb); free(c->xb2);
    free(c->q); free(c->att); free(c->hb); free(c->hb2); free(c->positions);
    free(c);
}

int eng_ctx_n_ctx(const eng_ctx *c) { return c->n_ctx; }
eng_model *eng_ctx_model(const eng_ctx *c) { return c->m; }
int eng_ctx_pos(const eng_ctx *c) { return c->pos; }
const char *eng_ctx_error(const eng_ctx *c) { return c->err; }

void eng_ctx_truncate(eng_ctx *c, int pos)
{
    if (pos < 0) pos = 0;
    if (pos < c->pos) c->pos = pos;
}

static size_t kv_dim_of(const eng_ctx *c)
{
    return (size_t)c->m->hp.n_kv_heads * c->m->hp.head_dim;
}

size_t eng_ctx_kv_floats(const eng_ctx *c, int n)
{
    return (size_t)c->m->hp.n_layers * 2 * (size_t)n * kv_dim_of(c);
}

/* Copies rows [p0, p1) between the caches and buf; to_cache picks the way. */
static void kv_copy(const eng_ctx *c, int p0, int p1, float *buf, int to_cache)
{
    size_t kvd = kv_dim_of(c), rows = (size_t)(p1 - p0) * kvd;
    for (int l = 0; l < c->m->hp.n_layers; l++) {
        float *k = c->k_cache + ((size_t)l * c->n_ctx + p0) * kvd;
        float *v = c->v_cache + ((size_t)l * c->n_ctx + p0) * kvd;
        float *bk = buf + (size_t)l * 2 * rows, *bv = bk + rows;
        if (to_cache) { memcpy(k, bk, rows * sizeof *k); memcpy(v, bv, rows * sizeof *v); }
        else { memcpy(bk, k, rows * sizeof *k); memcpy(bv, v, rows * sizeof *v); }
    }
}

int eng_ctx_kv_read(const eng_ctx *c, int p0, int p1, float *out)
{
    if (p0 < 0 || p1 < p0 || p1 > c->pos) return -1;
    kv_copy(c, p0, p1, out, 0);
    return 0;
}

int eng_ctx_kv_write(eng_ctx *c, int p0, int p1, const float *in)
{
    if (p0 < 0 || p1 < p0 || p0 > c->pos || p1 > c->n_ctx) return -1;
    kv_copy(c, p0, p1, (float *)in, 1);
    c->pos = p1;
    return 0;
}

// ---------------------------------------------------------------- forward

#define TRY(call) do { if ((call) != DEV_OK) goto dev_fail; } while (0)

/* One step of n <= max_batch tokens at positions c->pos ... */
static int forward_step(eng_ctx *c, const int32_t *tokens, int n, float *logits, int all_logits)
{
    eng_model *m = c->m;
    const eng_hparams *hp = &m->hp;
    dev_device *d = m->dev;
    const int dim = hp->dim, hd = hp->head_dim, ffn = hp->ffn_dim;
    const int q_dim = hp->n_heads * hd, kv_dim = hp->n_kv_heads * hd, pos0 = c->pos;

    for (int t = 0; t < n; t++) {
        if (tokens[t] < 0 || tokens[t] >= hp->n_vocab) {
            seterr(c->err, sizeof c->err, "token id %d is out of range [0, %d)", tokens[t], hp->n_vocab);
            return -1;
        }
        c->positions[t] = pos0 + t;
        /* x = self.tok_embeddings(tokens) */
        TRY(dev_get_row(d, m->tok_embd.type, m->tok_embd.data, dim, tokens[t], c->x + (size_t)t * dim));
    }

    for (int l = 0; l < hp->n_layers; l++) {
        const layer *L = &m->layers[l];
        float *kc = c->k_cache + (size_t)l * c->n_ctx * kv_dim;   /* (n_ctx, kv_dim) */
        float *vc = c->v_cache + (size_t)l * c->n_ctx * kv_dim;
        float *k_new = kc + (size_t)pos0 * kv_dim, *v_new = vc + (size_t)pos0 * kv_dim;

        /* xb = self.attention_norm(x) */
        TRY(dev_rmsnorm(d, c->xb, c->x, L->attn_norm, dim, hp->eps, n));
        /* q, k, v = self.wq(xb), self.wk(xb), self.wv(xb); k, v go straight into the cache */
        TRY(dev_matmul(d, L->wq.type, L->wq.data, q_dim, dim, c->xb, n, c->q));
        TRY(dev_matmul(d, L->wk.type, L->wk.data, kv_dim, dim, c->xb, n, k_new));
        TRY(dev_matmul(d, L->wv.type, L->wv.data, kv_dim, dim, c->xb, n, v_new));
        if (hp->has_qkv_bias) {
            TRY(dev_add_bias(d, c->q, L->bq, q_dim, n));
            TRY(dev_add_bias(d, k_new, L->bk, kv_dim, n));
            TRY(dev_add_bias(d, v_new, L->bv, kv_dim, n));
        }
        /* q, k = apply_rotary_emb(q, k, freqs_cis) */
        TRY(dev_rope(d, c->q, hp->n_heads, hd, c->positions, n, hp->rope_base, hp->rope_neox));
        TRY(dev_rope(d, k_new, hp->n_kv_heads, hd, c->positions, n, hp->rope_base, hp->rope_neox));
        /* att = softmax(q @ k.T / sqrt(hd), causal) @ v */
        TRY(dev_attention(d, c->att, c->q, kc, vc, hp->n_heads, hp->n_kv_heads, hd, pos0, n));
        /* x = x + self.wo(att) */
        TRY(dev_matmul(d, L->wo.type, L->wo.data, dim, q_dim, c->att, n, c->xb2));
        TRY(dev_add(d, c->x, c->xb2, dim, n));
        /* x = x + self.w2(F.silu(self.w1(ffn_norm(x))) * self.w3(ffn_norm(x))) */
        TRY(dev_rmsnorm(d, c->xb, c->x, L->ffn_norm, dim, hp->eps, n));
        TRY(dev_matmul(d, L->w_gate.type, L->w_gate.data, ffn, dim, c->xb, n, c->hb));
        TRY(dev_matmul(d, L->w_up.type, L->w_up.data, ffn, dim, c->xb, n, c->hb2));
        TRY(dev_swiglu(d, c->hb, c->hb, c->hb2, ffn, n));
        TRY(dev_matmul(d, L->w_down.type, L->w_down.data, dim, ffn, c->hb, n, c->xb2));
        TRY(dev_add(d, c->x, c->xb2, dim, n));
    }
    c->pos = pos0 + n;

    if (logits) {
        /* logits = self.output(self.norm(x)) — for every token or the last */
        int first = all_logits ? 0 : n - 1, rows = n - first;
        float *xs = c->x + (size_t)first * dim;
        TRY(dev_rmsnorm(d, c->xb, xs, m->out_norm, dim, hp->eps, rows));
        TRY(dev_matmul(d, m->output.type, m->output.data, hp->n_vocab, dim, c->xb, rows, logits));
    }
    return 0;

dev_fail:
    seterr(c->err, sizeof c->err, "device error: %s", dev_errmsg(d));
    return -1;
}

int eng_forward(eng_ctx *c, const int32_t *tokens, int n, float *logits, int all_logits)
{
    c->err[0] = 0;
    if (n <= 0) return 0;
    if (c->pos + n > c->n_ctx) {
        seterr(c->err, sizeof c->err, "context full: %d + %d tokens exceed n_ctx %d", c->pos, n, c->n_ctx);
        return -1;
    }
    const int n_vocab = c->m->hp.n_vocab;
    for (int done = 0; done < n;) {
        int step = n - done < c->max_batch ? n - done : c->max_batch;
        int last = done + step == n;
        float *out = NULL;
        if (logits && all_logits) out = logits + (size_t)done * n_vocab;
        else if (logits && last) out = logits;
        int start = c->pos;
        if (forward_step(c, tokens + done, step, out, all_logits) != 0) {
            c->pos = start;     /* a failed step leaves no half-written positions */
            return -1;
        }
        done += step;
    }
    return 0;
}
