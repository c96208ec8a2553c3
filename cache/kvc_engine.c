/* kvc_engine.c — glue between the store and an engine context: restore the
 * longest cached prefix into an eng_ctx, and save a context's full blocks.
 * The only cache file that knows the engine; values cross as F32 rows laid
 * out (n_layers, 2, 64, kv_dim) and are stored as F16 (F16C where the CPU
 * has it) or F32.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "kern.h"
#include "kvc.h"
#include "model.h"

enum { B = KVC_BLOCK_TOKENS };

/* The host's best F16 converters: F16C when the CPU has it, bit-identical to
 * the scalar ones (kern.h). dev_quantize() uses the scalar converter, ~30x
 * slower (0.4-1.4 ms per 192 KiB block here); kern_select() asks CPUID, so
 * it is looked up once. A process-wide constant once set. */
static const kern_ops *g_kern;
static pthread_once_t g_kern_once = PTHREAD_ONCE_INIT;
static void kern_init(void) { g_kern = kern_select(); }

static const kern_ops *kern(void)
{
    pthread_once(&g_kern_once, kern_init);
    return g_kern;
}

static size_t elem_size(kvc_dtype t) { return t == KVC_F16 ? 2 : 4; }

int kvc_restore(kvc_store *s, eng_ctx *ctx, const char *model_id, const int32_t *tokens, int n)
{
    if (!ctx) return 0;
    int nb = s && tokens && n > 1 ? n / B : 0;
    if (nb > eng_ctx_n_ctx(ctx) / B) nb = eng_ctx_n_ctx(ctx) / B;
    size_t nf = eng_ctx_kv_floats(ctx, B);
    kvc_key *keys = nb > 0 ? malloc((size_t)nb * sizeof *keys) : NULL;
    kvc_block **blk = nb > 0 ? malloc((size_t)nb * sizeof *blk) : NULL;
    float *buf = nb > 0 ? malloc(nf * sizeof *buf) : NULL;
    int done = 0;
    if (keys && blk && buf) {
        nb = kvc_chain(s, model_id, tokens, n, keys, nb);
        int k = kvc_lookup(s, keys, nb, blk);
        for (int i = 0; i < k; i++) {
            const kvc_block *b = blk[i];
            kvc_dtype t = kvc_block_dtype(b);
            if (i != done || kvc_block_size(b) != nf * elem_size(t)) continue;  /* other shape: miss */
            const float *src = kvc_block_cdata(b);
            if (t == KVC_F16) {
                kern()->f16_to_f32((const uint16_t *)src, buf, (int64_t)nf);
                src = buf;
            }
            if (eng_ctx_kv_write(ctx, i * B, (i + 1) * B, src) == 0) done = i + 1;
        }
        for (int i = 0; i < k; i++) kvc_block_unref(blk[i]);
    }
    free(keys);
    free(blk);
    free(buf);
    /* When the blocks cover every token, forget the last one: the caller
     * evaluates it again to get its logits. */
    int pos = done * B < n ? done * B : n - 1;
    eng_ctx_truncate(ctx, pos);
    return pos;
}

int kvc_save(kvc_store *s, eng_ctx *ctx, const char *model_id, const int32_t *tokens, int n)
{
    if (!s || !ctx || !tokens) return 0;
    if (n > eng_ctx_pos(ctx)) n = eng_ctx_pos(ctx);
    int nb = n / B, queued = 0;
    if (nb <= 0) return 0;
    kvc_dtype t = kvc_store_dtype(s);
    size_t nf = eng_ctx_kv_floats(ctx, B);
    kvc_key *keys = malloc((size_t)nb * sizeof *keys);
    float *buf = t == KVC_F16 ? malloc(nf * sizeof *buf) : NULL;
    if (!keys || (t == KVC_F16 && !buf)) goto out;
    nb = kvc_chain(s, model_id, tokens, n, keys, nb);
    for (int i = 0; i < nb; i++) {
        if (kvc_contains(s, &keys[i])) continue;
        kvc_block *b = kvc_block_new(t, nf * elem_size(t));
        if (!b) break;
        float *rows = t == KVC_F32 ? kvc_block_data(b) : buf;
        if (eng_ctx_kv_read(ctx, i * B, (i + 1) * B, rows)) {
            kvc_block_unref(b);
            break;
        }
        if (t == KVC_F16) kern()->f32_to_f16(buf, kvc_block_data(b), (int64_t)nf);
        if (kvc_put(s, model_id, &keys[i], b) == KVC_OK) queued++;
    }
out:
    free(keys);
    free(buf);
    return queued;
}
