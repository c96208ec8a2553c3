/* spec.h — speculative decoding: drafters propose, the main model verifies
 * k tokens in one batched forward, the output is the main model's own.
 *
 * Drafters: the draft model (its own eng_ctx) and prompt lookup (n-gram
 * matches in the sequence so far and in extra lookup text: code repeats its
 * identifiers and lines).
 *
 * Choosing k (cost_aware, the default): speculation pays only when a batch
 * of k+1 tokens costs less than the tokens it is expected to yield. Each
 * step picks the drafter and k (0 = no drafting at all) that maximise
 * expected tokens per millisecond, E(k) / (T_verify(k+1) + k * T_draft),
 * with E(k) = 1 + a + ... + a^k for the drafter's measured per-token
 * acceptance a (Leviathan et al. 2023, eq. 1), and the costs measured on
 * this machine as the decoder runs: T_verify(n) = v1 + slope * (n - 1)
 * (wall time of the main model's forwards; the slope starts from the
 * prompt's per-token prefill time) and T_draft (one draft forward). On a
 * device where a batch costs about what one token does (memory-bound
 * weights), long drafts win; where compute dominates (a small model whose
 * weights sit in cache), the decoder drafts little or not at all and is
 * never much slower than the main model alone. While not drafting it
 * probes with k = 2 to keep the estimates current, after 16 idle steps,
 * then 32, ... up to 256 while the answer stays "no".
 * Acceptance is learnt per drafter; eng_spec_get/set_accept let the caller
 * keep it per document (complete.c does, for the 32 latest files).
 * Without cost_aware, k follows acceptance alone (grow on a full accept,
 * shrink towards what held) and a drafter is used whenever it has a draft.
 *
 * Exactness: with a greedy sampler the output is token for token what the
 * main model alone produces (ties broken to the lowest id on both paths).
 * With temperature, drafts are accepted with probability min(1, p/q) and a
 * rejection resamples from norm(max(0, p - q)) (Leviathan et al. 2023; Chen
 * et al. 2023), so the output distribution is the main model's; a lookup
 * draft is a point mass (q = 1 on its token).
 *
 * Positions: the main and draft contexts hold the KV of every token of the
 * sequence but the last ("pending") one; a step feeds the pending token plus
 * the k drafts and truncates back to what was accepted (KV rollback).
 */
#ifndef SPARKD_ENG_SPEC_H
#define SPARKD_ENG_SPEC_H

#include <stdint.h>
#include "model.h"
#include "sampler.h"

typedef struct {
    int max_draft;          /* upper bound on k (1..32; default 8) */
    int min_draft;          /* lower bound on k (default 1) */
    int use_draft_model;    /* default 1 (when a draft context is given) */
    int use_lookup;         /* default 1 */
    int lookup_min, lookup_max;  /* n-gram sizes tried, longest first (2, 4) */
    int cost_aware;         /* choose k by measured costs (default 1; see above) */
} eng_spec_params;

typedef struct {
    uint64_t steps;             /* main-model verification forwards */
    uint64_t tokens;            /* tokens produced */
    uint64_t drafted[2];        /* per drafter: [0] draft model, [1] lookup */
    uint64_t accepted[2];
    uint64_t draft_forwards;    /* single-token draft-model forwards */
    uint64_t plain_steps;       /* steps that drafted nothing (the cost model said no) */
    double verify_1_ms;         /* cost model: main forward of 1 token */
    double verify_slope_ms;     /*   each further token in the batch */
    double draft_ms;            /*   one draft-model forward */
} eng_spec_stats;

/* What a decoder has learnt of its drafters' acceptance, [0] the draft
 * model, [1] prompt lookup. The caller may keep one per document (code in
 * one file repeats itself differently from another) and swap it in. */
typedef struct {
    double hit[2], miss[2];     /* decayed counts of accepted drafts and rejections */
    double acc[2];              /* !cost_aware: moving acceptance rate */
    int k[2];                   /* !cost_aware: current draft length */
    int idle, probe_gap;        /* cost_aware: steps without drafting, and before a probe */
} eng_spec_accept;

typedef struct eng_spec eng_spec;

void eng_spec_params_init(eng_spec_params *p);

/* main and draft (may be NULL) are borrowed, must use models with the same
 * vocabulary, and must outlive the decoder. NULL on bad params / OOM. */
eng_spec *eng_spec_new(eng_ctx *main, eng_ctx *draft, const eng_spec_params *p,
                       char *err, size_t errlen);
void eng_spec_free(eng_spec *s);

/* Starts a sequence: evaluates prompt[0..n-1) in both contexts (reusing the
 * KV they already hold for a common prefix: pass keep = the number of
 * leading prompt tokens whose KV is valid in both, e.g. from a cache) and
 * keeps prompt[n-1] pending. lookup (may be NULL) are extra tokens for
 * prompt lookup, borrowed until the next begin. Returns 0 or -1 (error()). */
int eng_spec_begin(eng_spec *s, const int32_t *prompt, int n, int keep,
                   const int32_t *lookup, int n_lookup);

/* One step: drafts, verifies, appends 1..k+1 tokens to out. cap (>= 1) is
 * the most the caller will use (room in out, tokens left before its limit):
 * k stays below it, so no drafted work is wasted past a known end. Returns
 * the count, or -1 on error. Generation never stops by itself
 * (the caller checks end-of-text and its own stop rules on what comes out).
 * smp supplies temperature and randomness; its history is advanced by every
 * produced token. */
int eng_spec_step(eng_spec *s, eng_sampler *smp, int32_t *out, int cap);

/* Cancels what the last step produced beyond the first n tokens (a stop
 * rule fired inside it): the contexts and the sequence forget the rest. */
void eng_spec_keep(eng_spec *s, int n_of_last_step);

/* The sequence so far (prompt + produced); the contexts hold the KV of all
 * but its last token. Borrowed until the next call on s. */
const int32_t *eng_spec_tokens(const eng_spec *s, int *n);

const eng_spec_stats *eng_spec_get_stats(const eng_spec *s);

/* The acceptance state, and setting it (NULL: back to the priors). */
void eng_spec_get_accept(const eng_spec *s, eng_spec_accept *out);
void eng_spec_set_accept(eng_spec *s, const eng_spec_accept *in);
/* The per-token acceptance estimate of drafter 0 (draft model) or 1 (lookup). */
double eng_spec_acceptance(const eng_spec *s, int drafter);

/* Pins the cost model (ms; 0 leaves that figure measured): for tests and
 * for devices whose time is projected rather than measured. */
void eng_spec_set_costs(eng_spec *s, double verify_1_ms, double verify_slope_ms, double draft_ms);
int eng_spec_current_k(const eng_spec *s);
const char *eng_spec_error(const eng_spec *s);

#endif
