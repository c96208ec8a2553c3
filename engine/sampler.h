/* engine/sampler.h — turns a model's logits into the next token.
 *
 * The pipeline is llama.cpp's default sampler chain, in its order:
 *   1. repetition penalty: every distinct token among the last repeat_last_n accepted ones has
 *      its logit divided by repeat_penalty when positive, multiplied when <= 0;
 *   2. top-k: keep the k highest logits;
 *   3. top-p: of what is left, keep the smallest highest-first set whose softmax mass (at
 *      temperature 1, normalized over what step 2 left) reaches top_p;
 *   4. min-p: drop tokens whose probability is below min_p times the most likely one's
 *      (a logit threshold: max + ln min_p);
 *   5. temperature: softmax of logit / temperature over the survivors;
 *   6. draw with the sampler's own PRNG.
 * Temperature 0 is greedy: the argmax of the penalized logits, the distribution one-hot.
 * Ranks are total: a higher logit first, and of equal logits the lower id first (so greedy
 * and top-k ties go to the lowest id). Logits may be -INFINITY (banned tokens; never drawn);
 * NaN counts as -INFINITY, +INFINITY as FLT_MAX.
 *
 * Cost per call for vocab n: one copy of the logits plus O(n) passes; top-k keeps a heap of k
 * (quickselect for large k); top-p without top-k first drops tokens too unlikely to ever be in
 * the nucleus (p < (1 - top_p) / n) or below the min-p cut, then sorts the rest in growing
 * chunks only until the mass is reached. Nothing sorts the whole vocabulary.
 *
 * Randomness: xoshiro256** (Blackman & Vigna) seeded by running splitmix64 on the 64-bit seed;
 * integer arithmetic only, so a seed gives the same draws on every platform. Uniforms are the
 * top 53 bits / 2^53.
 *
 * Ownership and threads: an eng_sampler owns its parameters, history, RNG and scratch (grown
 * to the largest vocabulary seen). One thread at a time per sampler; logits and probability
 * arrays are borrowed for the call only. Functions that return a count or token id return a
 * negative ENG_SAMPLER_E* code on failure; constructors return NULL and write a reason.
 */
#ifndef SPARKD_ENGINE_SAMPLER_H
#define SPARKD_ENGINE_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

typedef struct eng_sampler eng_sampler;

typedef struct {
    float temperature;      /* >= 0; 0 = greedy */
    int32_t top_k;          /* >= 0; 0 (or >= n_vocab) = off */
    float top_p;            /* (0, 1]; 1 = off */
    float min_p;            /* [0, 1]; 0 = off */
    float repeat_penalty;   /* > 0; 1 = off; > 1 discourages repeats */
    int32_t repeat_last_n;  /* [0, ENG_SAMPLER_MAX_LAST_N]: accepted tokens penalized; 0 = off */
    uint64_t seed;          /* PRNG seed */
} eng_sampler_params;

#define ENG_SAMPLER_MAX_LAST_N (1 << 20)
#define ENG_SAMPLER_MAX_REWIND 256  /* accepted tokens eng_sampler_rewind can always take back */

/* Error codes. */
#define ENG_SAMPLER_EINVAL (-1)  /* bad argument: NULL pointer, n_vocab 0 or above INT32_MAX */
#define ENG_SAMPLER_ENOMEM (-2)  /* out of memory */
#define ENG_SAMPLER_EEMPTY (-3)  /* nothing to draw: every logit -inf/NaN, every weight 0 */
#define ENG_SAMPLER_ERANGE (-4)  /* rewind further back than the history kept */

/* Defaults: temperature 0 (greedy: the same request gives the same completion, caches stay
 * valid, speculative verification is exact); top_k 40, top_p 0.95, min_p 0.05 (llama.cpp's,
 * in effect once temperature > 0); repeat_penalty 1 (off), repeat_last_n 64; seed 0. */
void eng_sampler_params_init(eng_sampler_params *p);

/* 0 when p is valid, else ENG_SAMPLER_EINVAL and a reason naming the field in err. */
int eng_sampler_params_check(const eng_sampler_params *p, char *err, size_t errlen);

/* A sampler with a copy of p (validated as above); NULL and a reason on failure. */
eng_sampler *eng_sampler_new(const eng_sampler_params *p, char *err, size_t errlen);
void eng_sampler_free(eng_sampler *s);  /* NULL is fine */

const eng_sampler_params *eng_sampler_get_params(const eng_sampler *s);  /* borrowed */

/* Back to the state after eng_sampler_new: history empty, PRNG at the seed. */
void eng_sampler_reset(eng_sampler *s);

/* ---- History (for the repetition penalty) ------------------------------------------- */

/* Appends token to the history the penalty looks at. The caller accepts the tokens it keeps
 * (sampling does not): the prompt's tail if it wants it penalized, then each emitted token. */
void eng_sampler_accept(eng_sampler *s, int32_t token);

/* Takes back the n most recent accepted tokens (rejected draft tokens). Always possible for
 * n <= ENG_SAMPLER_MAX_REWIND (and for anything while fewer than repeat_last_n +
 * ENG_SAMPLER_MAX_REWIND tokens were ever accepted). Returns 0, or ENG_SAMPLER_ERANGE (nothing
 * changed) when n exceeds that or the number accepted. */
int eng_sampler_rewind(eng_sampler *s, size_t n);

/* ---- Sampling ----------------------------------------------------------------------- */

/* Runs the pipeline on logits[0..n_vocab) (not modified) and draws a token. Returns its id, or
 * a negative code. *prob (when prob != NULL) receives the token's probability in the final
 * distribution (1 when greedy). */
int32_t eng_sampler_sample(eng_sampler *s, const float *logits, size_t n_vocab, float *prob);

/* Runs the same pipeline and writes the final distribution to probs_out[0..n_vocab): it sums
 * to 1, filtered tokens are exactly 0, greedy is one-hot at the argmax. Uses no randomness.
 * Returns how many tokens have a nonzero probability (>= 1), or a negative code. This is what
 * speculative sampling compares: p from the main model, q from the draft. */
int64_t eng_sampler_probs(eng_sampler *s, const float *logits, size_t n_vocab, float *probs_out);

/* Draws an index from weights[0..n): non-negative, need not sum to 1 (e.g. the residual
 * max(0, p - q) of a rejected draft token); negative and NaN weights count as 0. Returns the
 * index, or ENG_SAMPLER_EEMPTY when the weights sum to 0 (or to infinity), EINVAL for bad
 * arguments. */
int32_t eng_sampler_sample_probs(eng_sampler *s, const float *weights, size_t n);

/* A uniform draw in [0, 1) from the sampler's PRNG (the acceptance test of speculative
 * sampling uses the same stream, so one seed fixes the whole run). */
double eng_sampler_uniform(eng_sampler *s);

/* A static, human-readable name for an ENG_SAMPLER_E* code. */
const char *eng_sampler_strerror(int code);

#endif
