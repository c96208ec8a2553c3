/* engine/tok_gguf.c — builds an eng_tok from a GGUF file's tokenizer.ggml.* metadata.
 *
 * Reads the keys into the plain arrays eng_tok_new takes (views into the mapping; eng_tok_new
 * copies them) and frees those arrays before returning. Every length and id read from the
 * file is checked here or in eng_tok_new before use.
 */
#include "tok.h"

#include "gguf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY "tokenizer.ggml."

static void fail(char *err, size_t errlen, const gguf_ctx *g, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    int n = snprintf(err, errlen, "%s: ", gguf_name(g));
    if (n < 0 || (size_t)n >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

/* A string array's elements as views; NULL (and a message) when the key is missing, not a
 * string array, or longer than max. A missing key is fine when !required (*n = 0). */
static eng_tok_str *read_strs(const gguf_ctx *g, const char *key, uint64_t max, bool required,
                              uint32_t *n, char *err, size_t errlen)
{
    *n = 0;
    int64_t k = gguf_find_key(g, key);
    if (k < 0) {
        if (required)
            fail(err, errlen, g, "no %s in the file", key);
        return NULL;
    }
    uint64_t len = gguf_arr_len(g, k);
    if (gguf_arr_type(g, k) != GGUF_VAL_STR || len > max) {
        fail(err, errlen, g, "%s: %s", key, gguf_arr_type(g, k) != GGUF_VAL_STR
             ? "not an array of strings" : "too many entries");
        return NULL;
    }
    eng_tok_str *v = malloc((len + 1) * sizeof *v);
    if (!v) {
        fail(err, errlen, g, "out of memory reading %s", key);
        return NULL;
    }
    for (uint64_t j = 0; j < len; j++)
        v[j].ptr = gguf_arr_str(g, k, j, &v[j].len);
    *n = (uint32_t)len;
    return v;
}

/* Optional per-token numeric array (token_type, scores): must have n_vocab entries. */
static int read_per_token(const gguf_ctx *g, const char *key, uint32_t n_vocab, int32_t *ints,
                          float *floats, bool *present, char *err, size_t errlen)
{
    *present = false;
    int64_t k = gguf_find_key(g, key);
    if (k < 0)
        return 0;
    if (gguf_arr_len(g, k) != n_vocab) {
        fail(err, errlen, g, "%s has %llu entries for %u tokens", key,
             (unsigned long long)gguf_arr_len(g, k), n_vocab);
        return -1;
    }
    for (uint32_t j = 0; j < n_vocab; j++) {
        int64_t iv;
        double fv;
        int rc = ints ? gguf_arr_get_int(g, k, j, &iv) : gguf_arr_get_float(g, k, j, &fv);
        if (rc != GGUF_OK) {
            fail(err, errlen, g, "%s: entry %u is not a number", key, j);
            return -1;
        }
        if (ints)
            ints[j] = iv < 0 || iv > ENG_TOK_BYTE ? ENG_TOK_NORMAL : (int32_t)iv;
        else
            floats[j] = (float)fv;
    }
    *present = true;
    return 0;
}

/* A token id key: *id keeps its default when the key is absent. Ids outside the vocabulary
 * are ignored (as llama.cpp does: such files exist) except for bos/eos (strict). */
static int read_id(const gguf_ctx *g, const char *key, uint32_t n_vocab, bool strict,
                   int32_t *id, char *err, size_t errlen)
{
    int64_t v;
    int rc = gguf_get_int(g, key, INT64_MIN, INT64_MAX, &v);
    if (rc == GGUF_ENOKEY)
        return 0;
    if (rc == GGUF_OK && v >= 0 && v < (int64_t)n_vocab) {
        *id = (int32_t)v;
        return 0;
    }
    if (rc == GGUF_OK && !strict)
        return 0;
    fail(err, errlen, g, "%s: %s", key, rc == GGUF_OK ? "id outside the vocabulary"
                                                       : "not an integer");
    return -1;
}

static int read_ids(const gguf_ctx *g, eng_tok_special *s, bool spm, uint32_t n_vocab,
                    char *err, size_t errlen)
{
    if (spm) {  /* llama.cpp's SentencePiece defaults */
        s->unk = 0, s->bos = n_vocab > 1 ? 1 : -1, s->eos = n_vocab > 2 ? 2 : -1;
    }
    const struct {
        const char *key;
        int32_t *id;
        bool strict;
    } keys[] = {
        {KEY "bos_token_id", &s->bos, true},       {KEY "eos_token_id", &s->eos, true},
        {KEY "eot_token_id", &s->eot, false},      {KEY "padding_token_id", &s->pad, false},
        {KEY "unknown_token_id", &s->unk, false},
        {KEY "prefix_token_id", &s->fim_pre, false},   /* older names first, newer win */
        {KEY "suffix_token_id", &s->fim_suf, false},
        {KEY "middle_token_id", &s->fim_mid, false},
        {KEY "fim_pre_token_id", &s->fim_pre, false},  {KEY "fim_suf_token_id", &s->fim_suf, false},
        {KEY "fim_mid_token_id", &s->fim_mid, false},  {KEY "fim_pad_token_id", &s->fim_pad, false},
        {KEY "fim_rep_token_id", &s->fim_rep, false},  {KEY "fim_sep_token_id", &s->fim_sep, false},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (read_id(g, keys[i].key, n_vocab, keys[i].strict, keys[i].id, err, errlen))
            return -1;
    bool b;
    if (gguf_get_bool_or(g, KEY "add_bos_token", spm, &b) != GGUF_OK)
        goto bad_bool;
    s->add_bos = b;
    if (gguf_get_bool_or(g, KEY "add_eos_token", false, &b) != GGUF_OK)
        goto bad_bool;
    s->add_eos = b;
    return 0;
bad_bool:
    fail(err, errlen, g, "add_bos_token/add_eos_token is not a bool");
    return -1;
}

eng_tok *eng_tok_from_gguf(const gguf_ctx *g, char *err, size_t errlen)
{
    eng_tok_params p;
    eng_tok_params_init(&p);
    eng_tok *t = NULL;
    eng_tok_str *tokens = NULL, *merges = NULL;
    int32_t *types = NULL;
    float *scores = NULL;
    char *model = NULL, *pre = NULL;

    int rc = gguf_get_str_dup(g, KEY "model", &model);
    if (rc != GGUF_OK) {
        fail(err, errlen, g, rc == GGUF_ENOKEY ? "no " KEY "model: not a tokenizer"
             : "bad " KEY "model");
        goto out;
    }
    if (strcmp(model, "gpt2") == 0) {
        p.model = ENG_TOK_MODEL_BPE;
    } else if (strcmp(model, "llama") == 0) {
        p.model = ENG_TOK_MODEL_SPM;
    } else {
        fail(err, errlen, g, "tokenizer model \"%.32s\" is not supported (gpt2, llama)", model);
        goto out;
    }
    rc = gguf_get_str_dup(g, KEY "pre", &pre);
    if (rc != GGUF_OK && rc != GGUF_ENOKEY) {
        fail(err, errlen, g, KEY "pre is not a string");
        goto out;
    }
    p.pre = pre;
    if (!(tokens = read_strs(g, KEY "tokens", ENG_TOK_MAX_VOCAB, true, &p.n_vocab, err, errlen)))
        goto out;
    if (p.n_vocab == 0) {
        fail(err, errlen, g, KEY "tokens is empty");
        goto out;
    }
    p.tokens = tokens;
    types = malloc(p.n_vocab * sizeof *types);
    scores = malloc(p.n_vocab * sizeof *scores);
    if (!types || !scores) {
        fail(err, errlen, g, "out of memory");
        goto out;
    }
    bool have;
    if (read_per_token(g, KEY "token_type", p.n_vocab, types, NULL, &have, err, errlen))
        goto out;
    p.types = have ? types : NULL;
    if (read_per_token(g, KEY "scores", p.n_vocab, NULL, scores, &have, err, errlen))
        goto out;
    p.scores = have ? scores : NULL;
    if (p.model == ENG_TOK_MODEL_BPE) {
        merges = read_strs(g, KEY "merges", ENG_TOK_MAX_MERGES, true, &p.n_merges, err, errlen);
        if (!merges)
            goto out;
        p.merges = merges;
    }
    if (read_ids(g, &p.special, p.model == ENG_TOK_MODEL_SPM, p.n_vocab, err, errlen))
        goto out;
    bool b;
    if (gguf_get_bool_or(g, KEY "add_space_prefix", true, &b) != GGUF_OK) {
        fail(err, errlen, g, KEY "add_space_prefix is not a bool");
        goto out;
    }
    p.add_space_prefix = b;
    char msg[256];
    if (!(t = eng_tok_new(&p, msg, sizeof msg)))
        fail(err, errlen, g, "%s", msg);
out:
    free(model);
    free(pre);
    free(tokens);
    free(merges);
    free(types);
    free(scores);
    return t;
}
