/* engine/sampler.c — the sampling pipeline of sampler.h: penalties, top-k, top-p, min-p,
 * temperature, draw.
 *
 * Data flow of one call: logits -> work (a sanitized copy, penalties applied) -> max and argmax
 * -> candidates (id, logit) that survive top-k / top-p / min-p -> weights exp((l - max) / T)
 * stored over the logits -> draw, or write as probabilities. Greedy reads the logits in place
 * and stops at the argmax.
 * The sampler owns: the accepted-token history (hist, trimmed by a memmove when full), the
 * copy of the logits (work), the candidates (cand) and a scratch for the distinct penalized
 * tokens (pen).
 */
#include "sampler.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Structures --------------------------------------------------------------------- */

typedef struct {
    float logit;        /* the logit; after the pipeline, the token's unnormalized weight */
    int32_t id;
} cand;

struct eng_sampler {
    eng_sampler_params p;
    uint64_t rng[4];        /* xoshiro256** state */

    int32_t *hist;          /* (hist_cap) accepted tokens, oldest first */
    size_t hist_len, hist_cap;
    uint64_t hist_total;    /* tokens accepted since reset (some may have been dropped) */
    int32_t *pen;           /* (repeat_last_n) scratch: distinct tokens of the window */

    float *work;            /* (cap) the penalized logits of the current call */
    cand *cand;             /* (cap) candidates */
    size_t cap;

    float max;              /* highest penalized logit of the current call */
    int32_t argmax;         /* its id (lowest on ties) */
};

/* Largest top-k kept with a heap; above it, quickselect over all candidates is cheaper. */
enum { HEAP_MAX_K = 1024, FIRST_CHUNK = 32 };

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- PRNG: splitmix64 seeding, xoshiro256** ------------------------------------------ */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(uint64_t st[4])
{
    uint64_t out = rotl(st[1] * 5, 7) * 9;
    uint64_t t = st[1] << 17;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = rotl(st[3], 45);
    return out;
}

static void rng_seed(uint64_t st[4], uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        st[i] = splitmix64(&seed);  /* never all zero: splitmix64 is a bijection of a counter */
}

double eng_sampler_uniform(eng_sampler *s)
{
    return (double)(rng_next(s->rng) >> 11) * 0x1.0p-53;
}

/* ---- Parameters and lifetime -------------------------------------------------------- */

void eng_sampler_params_init(eng_sampler_params *p)
{
    memset(p, 0, sizeof *p);
    p->temperature = 0.0f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->seed = 0;
}

int eng_sampler_params_check(const eng_sampler_params *p, char *err, size_t errlen)
{
    if (!p) {
        set_err(err, errlen, "sampler: no parameters");
        return ENG_SAMPLER_EINVAL;
    }
    if (!isfinite(p->temperature) || p->temperature < 0) {
        set_err(err, errlen, "sampler: temperature must be a finite number >= 0 (got %g)",
                (double)p->temperature);
        return ENG_SAMPLER_EINVAL;
    }
    if (p->top_k < 0) {
        set_err(err, errlen, "sampler: top_k must be >= 0 (0 = off; got %d)", (int)p->top_k);
        return ENG_SAMPLER_EINVAL;
    }
    if (!(p->top_p > 0 && p->top_p <= 1)) {
        set_err(err, errlen, "sampler: top_p must be in (0, 1] (1 = off; got %g)",
                (double)p->top_p);
        return ENG_SAMPLER_EINVAL;
    }
    if (!(p->min_p >= 0 && p->min_p <= 1)) {
        set_err(err, errlen, "sampler: min_p must be in [0, 1] (0 = off; got %g)",
                (double)p->min_p);
        return ENG_SAMPLER_EINVAL;
    }
    if (!isfinite(p->repeat_penalty) || !(p->repeat_penalty > 0)) {
        set_err(err, errlen, "sampler: repeat_penalty must be a finite number > 0 (1 = off; "
                "got %g)", (double)p->repeat_penalty);
        return ENG_SAMPLER_EINVAL;
    }
    if (p->repeat_last_n < 0 || p->repeat_last_n > ENG_SAMPLER_MAX_LAST_N) {
        set_err(err, errlen, "sampler: repeat_last_n must be in [0, %d] (got %d)",
                ENG_SAMPLER_MAX_LAST_N, (int)p->repeat_last_n);
        return ENG_SAMPLER_EINVAL;
    }
    return 0;
}

eng_sampler *eng_sampler_new(const eng_sampler_params *p, char *err, size_t errlen)
{
    if (eng_sampler_params_check(p, err, errlen) != 0)
        return NULL;
    eng_sampler *s = calloc(1, sizeof *s);
    if (!s) {
        set_err(err, errlen, "sampler: out of memory");
        return NULL;
    }
    s->p = *p;
    if (p->repeat_last_n > 0) {
        /* Twice what must be kept, so that trimming (a memmove) happens rarely. */
        s->hist_cap = 2 * ((size_t)p->repeat_last_n + ENG_SAMPLER_MAX_REWIND);
        s->hist = malloc(s->hist_cap * sizeof *s->hist);
        s->pen = malloc((size_t)p->repeat_last_n * sizeof *s->pen);
        if (!s->hist || !s->pen) {
            eng_sampler_free(s);
            set_err(err, errlen, "sampler: out of memory");
            return NULL;
        }
    }
    rng_seed(s->rng, p->seed);
    return s;
}

void eng_sampler_free(eng_sampler *s)
{
    if (!s)
        return;
    free(s->hist);
    free(s->pen);
    free(s->work);
    free(s->cand);
    free(s);
}

const eng_sampler_params *eng_sampler_get_params(const eng_sampler *s) { return &s->p; }

void eng_sampler_reset(eng_sampler *s)
{
    s->hist_len = 0;
    s->hist_total = 0;
    rng_seed(s->rng, s->p.seed);
}

const char *eng_sampler_strerror(int code)
{
    switch (code) {
    case 0: return "ok";
    case ENG_SAMPLER_EINVAL: return "invalid argument";
    case ENG_SAMPLER_ENOMEM: return "out of memory";
    case ENG_SAMPLER_EEMPTY: return "no token can be drawn (all logits -inf or weights 0)";
    case ENG_SAMPLER_ERANGE: return "rewind past the kept history";
    default: return "unknown sampler error";
    }
}

/* ---- History -------------------------------------------------------------------------- */

void eng_sampler_accept(eng_sampler *s, int32_t token)
{
    s->hist_total++;
    if (!s->hist)
        return;
    if (s->hist_len == s->hist_cap) {
        size_t keep = (size_t)s->p.repeat_last_n + ENG_SAMPLER_MAX_REWIND;
        memmove(s->hist, s->hist + s->hist_len - keep, keep * sizeof *s->hist);
        s->hist_len = keep;
    }
    s->hist[s->hist_len++] = token;
}

int eng_sampler_rewind(eng_sampler *s, size_t n)
{
    if (n > s->hist_total)
        return ENG_SAMPLER_ERANGE;
    if (s->hist) {
        /* The window must stay whole: either everything ever accepted is still here, or at
         * least repeat_last_n tokens remain. */
        bool all_kept = s->hist_len == s->hist_total;
        if (n > s->hist_len || (!all_kept && s->hist_len - n < (size_t)s->p.repeat_last_n))
            return ENG_SAMPLER_ERANGE;
        s->hist_len -= n;
    }
    s->hist_total -= n;
    return 0;
}

/* ---- Pipeline: penalized copy --------------------------------------------------------- */

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int reserve(eng_sampler *s, size_t n)
{
    if (n <= s->cap)
        return 0;
    float *w = malloc(n * sizeof *w);
    cand *c = malloc(n * sizeof *c);
    if (!w || !c) {
        free(w);
        free(c);
        return ENG_SAMPLER_ENOMEM;
    }
    free(s->work);
    free(s->cand);
    s->work = w;
    s->cand = c;
    s->cap = n;
    return 0;
}

/* The distinct ids < n among the last repeat_last_n accepted, sorted, into pen; their count
 * (0 when the penalty is off). Each is penalized once however often it occurs, as in
 * llama.cpp. */
static size_t penalized_ids(eng_sampler *s, size_t n)
{
    size_t win = s->hist_len < (size_t)s->p.repeat_last_n ? s->hist_len
                                                            : (size_t)s->p.repeat_last_n;
    if (!s->hist || win == 0 || s->p.repeat_penalty == 1.0f)
        return 0;
    memcpy(s->pen, s->hist + s->hist_len - win, win * sizeof *s->pen);
    qsort(s->pen, win, sizeof *s->pen, cmp_i32);
    size_t np = 0;
    for (size_t i = 0; i < win; i++) {
        int32_t id = s->pen[i];
        if (id >= 0 && (size_t)id < n && (np == 0 || s->pen[np - 1] != id))
            s->pen[np++] = id;
    }
    return np;
}

static inline float penalize(float v, float pen)
{
    v = v <= 0 ? v * pen : v / pen;
    return v > FLT_MAX ? FLT_MAX : v;
}

/* Greedy needs no copy: the penalized ids split the vocabulary into runs read as they are.
 * Ascending ids and a strict > give ties to the lowest id; NaN never wins. */
static int greedy(eng_sampler *s, const float *logits, size_t n)
{
    size_t np = penalized_ids(s, n), lo = 0;
    float mx = -INFINITY;
    int32_t am = -1;
    for (size_t j = 0; j <= np; j++) {
        size_t hi = j < np ? (size_t)s->pen[j] : n;
        for (size_t i = lo; i < hi; i++)
            if (logits[i] > mx)
                mx = logits[i], am = (int32_t)i;
        if (j < np) {
            float v = penalize(logits[hi], s->p.repeat_penalty);
            if (v > mx)
                mx = v, am = (int32_t)hi;
        }
        lo = hi + 1;
    }
    if (am < 0)
        return ENG_SAMPLER_EEMPTY;
    s->max = mx;
    s->argmax = am;
    return 0;
}

/* Copies logits into work (NaN -> -inf, +inf -> FLT_MAX), applies the penalty and finds the
 * maximum; greedy skips the copy. Returns 0, or a negative code. */
static int prepare(eng_sampler *s, const float *logits, size_t n)
{
    if (!logits || n == 0 || n > (size_t)INT32_MAX)
        return ENG_SAMPLER_EINVAL;
    if (reserve(s, s->p.temperature == 0 ? 1 : n) != 0)
        return ENG_SAMPLER_ENOMEM;
    if (s->p.temperature == 0)
        return greedy(s, logits, n);
    float *w = s->work;
    for (size_t i = 0; i < n; i++) {
        float v = logits[i];
        w[i] = v != v ? -INFINITY : v > FLT_MAX ? FLT_MAX : v;
    }
    size_t np = penalized_ids(s, n);
    for (size_t j = 0; j < np; j++)
        w[s->pen[j]] = penalize(w[s->pen[j]], s->p.repeat_penalty);
    float mx = -INFINITY;
    int32_t am = -1;
    for (size_t i = 0; i < n; i++)
        if (w[i] > mx)
            mx = w[i], am = (int32_t)i;
    if (am < 0)
        return ENG_SAMPLER_EEMPTY;
    s->max = mx;
    s->argmax = am;
    return 0;
}

/* ---- Pipeline: selection -------------------------------------------------------------- */

/* The rank order: higher logit first, then lower id. Total, since ids are distinct. */
static inline bool better(cand a, cand b)
{
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

static int cmp_rank(const void *pa, const void *pb)
{
    cand a = *(const cand *)pa, b = *(const cand *)pb;
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

static inline void swap_cand(cand *a, cand *b)
{
    cand t = *a;
    *a = *b;
    *b = t;
}

/* Rearranges a[0..n) so that a[0..m) are its m best (in no particular order); 0 < m < n.
 * Quickselect with pseudo-random pivots (a fixed sequence: results do not depend on it). */
static void select_best(cand *a, size_t n, size_t m)
{
    size_t lo = 0, hi = n;
    uint64_t r = 0x243F6A8885A308D3u ^ n;
    while (hi - lo > 1) {
        size_t pi = lo + (size_t)(splitmix64(&r) % (hi - lo));
        swap_cand(&a[pi], &a[hi - 1]);
        cand pv = a[hi - 1];
        size_t st = lo;
        for (size_t i = lo; i < hi - 1; i++)
            if (better(a[i], pv))
                swap_cand(&a[i], &a[st++]);
        swap_cand(&a[st], &a[hi - 1]);
        /* Now a[lo..st) beat the pivot at a[st], which beats a[st+1..hi). */
        if (st == m || st + 1 == m)
            return;
        if (st > m)
            hi = st;
        else
            lo = st + 1;
    }
}

/* Min-heap on rank (the worst kept candidate at the root) of the k best finite logits of w.
 * Ids arrive in increasing order, so a later equal logit never displaces an earlier one. */
static size_t heap_top_k(const float *w, size_t n, size_t k, cand *h)
{
    size_t sz = 0;
    for (size_t i = 0; i < n; i++) {
        float v = w[i];
        if (v == -INFINITY)
            continue;
        cand c = {v, (int32_t)i};
        size_t j;
        if (sz < k) {
            j = sz++;
            while (j > 0 && better(h[(j - 1) / 2], c)) {  /* sift up */
                h[j] = h[(j - 1) / 2];
                j = (j - 1) / 2;
            }
            h[j] = c;
        } else if (v > h[0].logit) {
            j = 0;
            for (;;) {  /* sift down */
                size_t l = 2 * j + 1, worst = l;
                if (l >= sz)
                    break;
                if (l + 1 < sz && better(h[l], h[l + 1]))
                    worst = l + 1;
                if (!better(c, h[worst]))
                    break;
                h[j] = h[worst];
                j = worst;
            }
            h[j] = c;
        }
    }
    return sz;
}

/* Candidates = finite logits >= thr, in id order. */
static size_t fill_above(eng_sampler *s, size_t n, float thr)
{
    size_t nc = 0;
    for (size_t i = 0; i < n; i++)
        if (s->work[i] >= thr && s->work[i] != -INFINITY)
            s->cand[nc++] = (cand){s->work[i], (int32_t)i};
    return nc;
}

/* Top-k: the k best candidates, sorted best first. */
static size_t top_k(eng_sampler *s, size_t n, size_t k)
{
    if (k <= HEAP_MAX_K) {
        size_t nc = heap_top_k(s->work, n, k, s->cand);
        qsort(s->cand, nc, sizeof *s->cand, cmp_rank);
        return nc;
    }
    size_t nc = fill_above(s, n, -INFINITY);
    if (k < nc)
        select_best(s->cand, nc, k), nc = k;
    qsort(s->cand, nc, sizeof *s->cand, cmp_rank);
    return nc;
}

/* Top-p over cand[0..nc), whose mass (exp(l - max) summed) within the distribution is z. When
 * sorted is false the candidates are brought into rank order in growing chunks, only as far
 * as the walk goes. Returns the number kept; cand[0..result) is then in rank order. */
static size_t top_p(eng_sampler *s, size_t nc, double z, bool sorted)
{
    double target = (double)s->p.top_p * z, cum = 0;
    size_t lo = 0, chunk = sorted ? nc : FIRST_CHUNK;
    while (lo < nc) {
        size_t m = nc - lo < chunk ? nc - lo : chunk;
        if (!sorted) {
            if (m < nc - lo)
                select_best(s->cand + lo, nc - lo, m);
            qsort(s->cand + lo, m, sizeof *s->cand, cmp_rank);
        }
        for (size_t i = lo; i < lo + m; i++) {
            cum += expf(s->cand[i].logit - s->max);
            if (cum >= target)
                return i + 1;
        }
        lo += m;
        chunk *= 2;
    }
    return nc;  /* rounding kept the mass just short: keep everything */
}

/* Runs steps 2-5 on work. Leaves the survivors in cand[0..result) with their weights
 * exp((l - max) / T) in .logit; *total receives the weights' sum. */
static size_t select_and_weigh(eng_sampler *s, size_t n, double *total)
{
    const eng_sampler_params *p = &s->p;
    float mx = s->max;
    if (p->temperature == 0) {
        s->cand[0] = (cand){1.0f, s->argmax};
        *total = 1.0;
        return 1;
    }
    float minp_thr = p->min_p > 0 ? mx + logf(p->min_p) : -INFINITY;
    size_t nc;
    if (p->top_k > 0 && (size_t)p->top_k < n) {
        nc = top_k(s, n, (size_t)p->top_k);
        if (p->top_p < 1) {
            double z = 0;
            for (size_t i = 0; i < nc; i++)
                z += expf(s->cand[i].logit - mx);
            nc = top_p(s, nc, z, true);
        }
        while (nc > 1 && s->cand[nc - 1].logit < minp_thr)
            nc--;
    } else if (p->top_p < 1) {
        double z = 0;
        for (size_t i = 0; i < n; i++)
            z += expf(s->work[i] - mx);
        /* A token in the nucleus has p > (1 - top_p) / n (the mass outside the nucleus's
         * first part exceeds 1 - top_p and is spread over at most n tokens no likelier than
         * the last one taken); halved for rounding. Below that, and below the min-p cut (which
         * only ever shortens the nucleus), a token cannot survive. */
        double cut = (double)mx + log(z) + log((1.0 - p->top_p) / (double)n) + log(0.5);
        float thr = (float)cut > minp_thr ? (float)cut : minp_thr;
        nc = fill_above(s, n, thr > mx ? mx : thr);
        nc = top_p(s, nc, z, false);
    } else {
        nc = fill_above(s, n, minp_thr);
    }
    float inv_t = 1.0f / p->temperature;
    double sum = 0;
    for (size_t i = 0; i < nc; i++) {
        float d = s->cand[i].logit - mx;  /* d == 0 kept apart: a tiny T makes inv_t inf */
        float wt = d == 0 ? 1.0f : expf(d * inv_t);
        s->cand[i].logit = wt;
        sum += wt;
    }
    *total = sum;
    return nc;
}

/* ---- Sampling ----------------------------------------------------------------------- */

/* Index i of cand[0..nc) with probability weight_i / total, for a uniform u in [0, 1). */
static size_t draw(const cand *c, size_t nc, double total, double u)
{
    double x = u * total, acc = 0;
    size_t last = 0;
    for (size_t i = 0; i < nc; i++) {
        if (c[i].logit <= 0)
            continue;
        acc += c[i].logit;
        last = i;
        if (x < acc)
            return i;
    }
    return last;  /* u * total rounded up to the sum */
}

int32_t eng_sampler_sample(eng_sampler *s, const float *logits, size_t n_vocab, float *prob)
{
    if (!s)
        return ENG_SAMPLER_EINVAL;
    int rc = prepare(s, logits, n_vocab);
    if (rc != 0)
        return rc;
    double total;
    size_t nc = select_and_weigh(s, n_vocab, &total);
    size_t i = nc == 1 ? 0 : draw(s->cand, nc, total, eng_sampler_uniform(s));
    if (prob)
        *prob = (float)(s->cand[i].logit / total);
    return s->cand[i].id;
}

int64_t eng_sampler_probs(eng_sampler *s, const float *logits, size_t n_vocab, float *probs_out)
{
    if (!s || !probs_out)
        return ENG_SAMPLER_EINVAL;
    int rc = prepare(s, logits, n_vocab);
    if (rc != 0)
        return rc;
    double total;
    size_t nc = select_and_weigh(s, n_vocab, &total);
    memset(probs_out, 0, n_vocab * sizeof *probs_out);
    int64_t nz = 0;
    for (size_t i = 0; i < nc; i++) {
        float p = (float)(s->cand[i].logit / total);
        probs_out[s->cand[i].id] = p;
        nz += p > 0;
    }
    return nz;
}

int32_t eng_sampler_sample_probs(eng_sampler *s, const float *weights, size_t n)
{
    if (!s || !weights || n == 0 || n > (size_t)INT32_MAX)
        return ENG_SAMPLER_EINVAL;
    double total = 0;
    for (size_t i = 0; i < n; i++)
        if (weights[i] > 0)  /* false for NaN */
            total += weights[i];
    if (!(total > 0) || !isfinite(total))
        return ENG_SAMPLER_EEMPTY;
    double x = eng_sampler_uniform(s) * total, acc = 0;
    size_t last = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(weights[i] > 0))
            continue;
        acc += weights[i];
        last = i;
        if (x < acc)
            return (int32_t)i;
    }
    return (int32_t)last;
}
