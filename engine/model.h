/* model.h — a Llama/Qwen2-family transformer loaded from GGUF, and the
 * per-sequence inference context (KV cache + scratch) that runs it.
 *
 * A model is read-only once loaded: weights stay in the mmap'd file and every
 * tensor operation goes through the dev_device given at load. A context owns
 * one sequence's KV cache; several contexts may share a model (one thread
 * per context at a time, since the device is driven by one thread).
 */
#ifndef SPARKD_ENG_MODEL_H
#define SPARKD_ENG_MODEL_H

#include <stdint.h>
#include "dev.h"
#include "gguf.h"
#include "tok.h"

typedef enum { ENG_ARCH_LLAMA, ENG_ARCH_QWEN2 } eng_arch;

typedef struct {
    eng_arch arch;
    int n_vocab;        /* rows of token_embd */
    int dim;            /* embedding_length */
    int n_layers;       /* block_count */
    int n_heads;        /* attention.head_count */
    int n_kv_heads;     /* attention.head_count_kv (GQA; = n_heads if absent) */
    int head_dim;       /* dim / n_heads unless attention.key_length says */
    int ffn_dim;        /* feed_forward_length */
    int n_ctx_train;    /* context_length */
    float eps;          /* attention.layer_norm_rms_epsilon */
    float rope_base;    /* rope.freq_base (10000 if absent) */
    int rope_neox;      /* 1 for qwen2 (rotate halves), 0 for llama (pairs) */
    int has_qkv_bias;   /* qwen2 */
    int tied_output;    /* output.weight absent: the head is token_embd */
} eng_hparams;

typedef struct eng_model eng_model;
typedef struct eng_ctx eng_ctx;

/* Loads path on dev (borrowed; must outlive the model). Checks architecture,
 * hyper-parameters, every tensor's presence, shape and type, and builds the
 * tokenizer. NULL with a reason naming the file and the problem on failure. */
/* Milliseconds on the monotonic clock (deadlines, stage and cost timing). */
double eng_now_ms(void);

eng_model *eng_model_load(const char *path, dev_device *dev, char *err, size_t errlen);
void eng_model_free(eng_model *m);

const eng_hparams *eng_model_hparams(const eng_model *m);
const eng_tok *eng_model_tok(const eng_model *m);      /* borrowed */
gguf_ctx *eng_model_gguf(const eng_model *m);          /* borrowed */
dev_device *eng_model_device(const eng_model *m);
uint64_t eng_model_n_params(const eng_model *m);
uint64_t eng_model_weight_bytes(const eng_model *m);   /* bytes read per token */
const char *eng_arch_name(eng_arch a);

/* A context for sequences of up to n_ctx tokens (0: min(n_ctx_train, 4096)),
 * evaluating batches of up to max_batch tokens per step (0: 256). */
eng_ctx *eng_ctx_new(eng_model *m, int n_ctx, int max_batch, char *err, size_t errlen);
void eng_ctx_free(eng_ctx *c);
int eng_ctx_n_ctx(const eng_ctx *c);
eng_model *eng_ctx_model(const eng_ctx *c);
/* Tokens whose keys/values are in the cache (the next position). */
int eng_ctx_pos(const eng_ctx *c);
/* Forgets every position >= pos (KV rollback). pos is clamped to [0, pos]. */
void eng_ctx_truncate(eng_ctx *c, int pos);

/* The KV cache rows of positions [p0, p1), every layer, as F32 laid out
 * (n_layers, 2 [keys, values], p1 - p0, kv_dim): what a prefix cache stores.
 * eng_ctx_kv_floats() is the number of floats for n positions. Read needs
 * p1 <= pos; write needs p0 <= pos and p1 <= n_ctx and makes pos = p1 (the
 * rows after p1 are forgotten). Return 0, or -1 for a bad range. */
size_t eng_ctx_kv_floats(const eng_ctx *c, int n);
int eng_ctx_kv_read(const eng_ctx *c, int p0, int p1, float *out);
int eng_ctx_kv_write(eng_ctx *c, int p0, int p1, const float *in);

/* Evaluates n tokens at positions pos .. pos+n-1 and appends them to the
 * cache. logits receives n_vocab floats per token when all_logits is set
 * (n * n_vocab in all), otherwise those of the last token only; logits may be
 * NULL (prefill whose output is not needed). Batches larger than max_batch
 * are split. Returns 0, or -1 with eng_ctx_error() set (context full,
 * token id out of range, device error). */
int eng_forward(eng_ctx *c, const int32_t *tokens, int n, float *logits, int all_logits);
const char *eng_ctx_error(const eng_ctx *c);

#endif
