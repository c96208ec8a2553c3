/* test_sampler.c — the sampling pipeline against hand computations and a naive full-sort
 * reference; the PRNG against pinned values; draws against their distribution (chi-square). */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sampler.h"
#include "../check_run.h"

/* ---- helpers ---- */

static eng_sampler_params params(float temp, int top_k, float top_p, float min_p)
{
    eng_sampler_params p;
    eng_sampler_params_init(&p);
    p.temperature = temp;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    return p;
}

static eng_sampler *new_or_die(const eng_sampler_params *p)
{
    char err[256] = "";
    eng_sampler *s = eng_sampler_new(p, err, sizeof err);
    ck_assert_msg(s != NULL, "eng_sampler_new: %s", err);
    return s;
}

/* A test-local generator (not the sampler's) for logits. */
static uint64_t lcg_state;
static double rnd(void)
{
    lcg_state = lcg_state * 6364136223846793005u + 1442695040888963407u;
    return (double)(lcg_state >> 11) * 0x1.0p-53;
}

static void random_logits(float *l, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++)
        l[i] = (float)((rnd() * 2 - 1) * scale);
}

/* logits = ln(p): the temperature-1 distribution is p itself. */
static void logits_of(const double *p, float *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        l[i] = (float)log(p[i]);
}

/* ---- the naive reference: full sort, same steps, same arithmetic ---- */

typedef struct { float l; int32_t id; } ref_c;

static int ref_cmp(const void *pa, const void *pb)
{
    const ref_c *a = pa, *b = pb;
    if (a->l != b->l)
        return a->l > b->l ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

/* history: the tokens the penalty applies to (distinct handled here). */
static void ref_probs(const eng_sampler_params *p, const float *logits, size_t n,
                      const int32_t *hist, size_t nh, double *out)
{
    ref_c *c = malloc(n * sizeof *c);
    float *w = malloc(n * sizeof *w);
    memcpy(w, logits, n * sizeof *w);
    char *done = calloc(n, 1);
    for (size_t i = 0; i < nh; i++) {
        int32_t id = hist[i];
        if (done[id])
            continue;
        done[id] = 1;
        w[id] = w[id] <= 0 ? w[id] * p->repeat_penalty : w[id] / p->repeat_penalty;
    }
    for (size_t i = 0; i < n; i++)
        c[i] = (ref_c){w[i], (int32_t)i};
    qsort(c, n, sizeof *c, ref_cmp);
    float mx = c[0].l;
    memset(out, 0, n * sizeof *out);
    if (p->temperature == 0) {
        out[c[0].id] = 1;
        goto done;
    }
    size_t nc = n;
    double z = 0;
    if (p->top_k > 0 && (size_t)p->top_k < n) {
        nc = (size_t)p->top_k;
        for (size_t i = 0; i < nc; i++)
            z += expf(c[i].l - mx);
    } else {
        for (size_t i = 0; i < n; i++)
            z += expf(w[i] - mx);
    }
    if (p->top_p < 1) {
        double cum = 0;
        for (size_t i = 0; i < nc; i++) {
            cum += expf(c[i].l - mx);
            if (cum >= (double)p->top_p * z) {
                nc = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0)
        while (nc > 1 && c[nc - 1].l < mx + logf(p->min_p))
            nc--;
    double tot = 0;
    float inv_t = 1.0f / p->temperature;
    for (size_t i = 0; i < nc; i++)
        tot += expf((c[i].l - mx) * inv_t);
    for (size_t i = 0; i < nc; i++)
        out[c[i].id] = (float)(expf((c[i].l - mx) * inv_t) / tot);
done:
    free(c);
    free(w);
    free(done);
}

static void assert_probs_match(const float *got, const double *want, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg((got[i] == 0) == (want[i] == 0), "token %zu: got %g want %g", i,
                      (double)got[i], want[i]);
        ck_assert_msg(fabs(got[i] - want[i]) <= 1e-6 * want[i] + 1e-12,
                      "token %zu: got %.9g want %.9g", i, (double)got[i], want[i]);
        sum += got[i];
    }
    ck_assert_msg(fabs(sum - 1) < 1e-5, "sum %.9g", sum);
}

/* Pearson chi-square of counts against probabilities (cells with p > 0). */
static double chi_square(const long *counts, const double *p, size_t n, long draws, int *df)
{
    double x2 = 0;
    *df = -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == 0) {
            ck_assert_msg(counts[i] == 0, "drew token %zu of probability 0", i);
            continue;
        }
        double e = p[i] * (double)draws;
        x2 += (counts[i] - e) * (counts[i] - e) / e;
        (*df)++;
    }
    return x2;
}

/* ---- tests ---- */

START_TEST(test_sampler_greedy_is_argmax_with_ties_to_lowest_id)
{
    eng_sampler_params p = params(0, 40, 0.9f, 0.1f);
    eng_sampler *s = new_or_die(&p);
    float l[10] = {0, 1, 2, 5, -1, 5, 3, 5, 0, 4};
    float prob = 0;
    ck_assert_int_eq(eng_sampler_sample(s, l, 10, &prob), 3);
    ck_assert_float_eq(prob, 1.0f);
    float probs[10];
    ck_assert_int_eq(eng_sampler_probs(s, l, 10, probs), 1);
    for (int i = 0; i < 10; i++)
        ck_assert_float_eq(probs[i], i == 3 ? 1.0f : 0.0f);

    lcg_state = 7;
    float big[3000];
    for (int round = 0; round < 20; round++) {
        random_logits(big, 3000, 10);
        size_t am = 0;
        for (size_t i = 1; i < 3000; i++)
            if (big[i] > big[am])
                am = i;
        ck_assert_int_eq(eng_sampler_sample(s, big, 3000, NULL), (int32_t)am);
    }
    /* NaN never wins; +inf is the largest finite value. */
    float odd[4] = {NAN, 1, INFINITY, 2};
    ck_assert_int_eq(eng_sampler_sample(s, odd, 4, NULL), 2);
    eng_sampler_free(s);
}
END_TEST

START_TEST(test_sampler_prng_pinned_values)
{
    /* xoshiro256** seeded by splitmix64, computed independently (Python, 64-bit ints). */
    static const uint64_t want[2][3] = {
        {5415695640260286u, 6735350249106120u, 927921571702396u},
        {755370490430936u, 3413550631330343u, 6125286505004179u},
    };
    const uint64_t seeds[2] = {0, 42};
    for (int k = 0; k < 2; k++) {
        eng_sampler_params p = params(1, 0, 1, 0);
        p.seed = seeds[k];
        eng_sampler *s = new_or_die(&p);
        for (int i = 0; i < 3; i++)
            ck_assert_uint_eq((uint64_t)(eng_sampler_uniform(s) * 0x1.0p53), want[k][i]);
        eng_sampler_free(s);
    }
}
END_TEST

START_TEST(test_sampler_same_seed_same_sequence)
{
    eng_sampler_params p = params(1.0f, 0, 0.95f, 0.01f);
    p.seed = 1234;
    eng_sampler *a = new_or_die(&p), *b = new_or_die(&p);
    p.seed = 1235;
    eng_sampler *c = new_or_die(&p);
    lcg_state = 99;
    float l[500], probs[500];
    int32_t first[300];
    int differ = 0;
    random_logits(l, 500, 3);
    for (int i = 0; i < 300; i++) {
        int32_t x = eng_sampler_sample(a, l, 500, NULL);
        ck_assert_int_ge(x, 0);
        ck_assert_int_eq(x, eng_sampler_sample(b, l, 500, NULL));
        differ += x != eng_sampler_sample(c, l, 500, NULL);
        first[i] = x;
        /* probs draws nothing: interleaving it changes nothing */
        ck_assert_int_gt(eng_sampler_probs(b, l, 500, probs), 0);
    }
    ck_assert_int_gt(differ, 0);
    eng_sampler_reset(a);
    for (int i = 0; i < 300; i++)
        ck_assert_int_eq(eng_sampler_sample(a, l, 500, NULL), first[i]);
    eng_sampler_free(a);
    eng_sampler_free(b);
    eng_sampler_free(c);
}
END_TEST

START_TEST(test_sampler_temp1_draws_match_softmax_chi_square)
{
    enum { N = 16, DRAWS = 200000 };
    eng_sampler_params p = params(1.0f, 0, 1.0f, 0.0f);
    p.seed = 2024;
    eng_sampler *s = new_or_die(&p);
    float l[N];
    double want[N], z = 0;
    lcg_state = 5;
    random_logits(l, N, 2);
    for (int i = 0; i < N; i++)
        z += exp(l[i]);
    for (int i = 0; i < N; i++)
        want[i] = exp(l[i]) / z;
    long counts[N] = {0};
    for (int i = 0; i < DRAWS; i++) {
        int32_t x = eng_sampler_sample(s, l, N, NULL);
        ck_assert(x >= 0 && x < N);
        counts[x]++;
    }
    int df;
    double x2 = chi_square(counts, want, N, DRAWS, &df);
    ck_assert_int_eq(df, 15);
    ck_assert_msg(x2 < 37.70, "chi-square %.2f >= 37.70 (df 15, p = 0.001)", x2);
    eng_sampler_free(s);
}
END_TEST

START_TEST(test_sampler_filtered_draws_match_probs_vector)
{
    enum { N = 40, DRAWS = 200000 };
    eng_sampler_params p = params(0.7f, 20, 0.9f, 0.02f);
    p.seed = 77;
    eng_sampler *s = new_or_die(&p);
    float l[N], probs[N];
    lcg_state = 11;
    random_logits(l, N, 3);
    int64_t nz = eng_sampler_probs(s, l, N, probs);
    ck_assert_int_gt(nz, 3);
    double want[N];
    for (int i = 0; i < N; i++)
        want[i] = probs[i];
    long counts[N] = {0};
    for (int i = 0; i < DRAWS; i++) {
        float pr;
        int32_t x = eng_sampler_sample(s, l, N, &pr);
        ck_assert_float_eq_tol(pr, probs[x], 1e-6f);
        counts[x]++;
    }
    int df;
    double x2 = chi_square(counts, want, N, DRAWS, &df);
    ck_assert_int_eq(df, (int)nz - 1);
    /* p = 0.001 critical values of chi-square for df up to 20 */
    static const double crit[21] = {0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32,
                                    26.12, 27.88, 29.59, 31.26, 32.91, 34.53, 36.12, 37.70,
                                    39.25, 40.79, 42.31, 43.82, 45.31};
    ck_assert_msg(x2 < crit[df], "chi-square %.2f (df %d)", x2, df);
    eng_sampler_free(s);
}
END_TEST

START_TEST(test_sampler_top_k_1_is_greedy)
{
    eng_sampler_params p = params(1.5f, 1, 1.0f, 0.0f);
    eng_sampler *s = new_or_die(&p);
    lcg_state = 3;
    float l[1000];
    for (int round = 0; round < 50; round++) {
        random_logits(l, 1000, 1);
        size_t am = 0;
        for (size_t i = 1; i < 1000; i++)
            if (l[i] > l[am])
                am = i;
        float prob;
        ck_assert_int_eq(eng_sampler_sample(s, l, 1000, &prob), (int32_t)am);
        ck_assert_float_eq(prob, 1.0f);
    }
    float tie[5] = {1, 3, 0, 3, 2};
    ck_assert_int_eq(eng_sampler_sample(s, tie, 5, NULL), 1);
    eng_sampler_free(s);
}
END_TEST

START_TEST(test_sampler_top_p_keeps_smallest_set_reaching_p)
{
    const double pr[6] = {0.05, 0.5, 0.02, 0.2, 0.15, 0.08};
    const int rank[6] = {1, 3, 4, 5, 0, 2};
    float l[7], probs[7];
    logits_of(pr, l, 6);
    l[6] = -1e30f;  /* probability 0: lets top_k 6 take the sorted path with the same mass */
    /* Ranked: 0.5 (1), 0.2 (3), 0.15 (4), 0.08 (5) ... cumulative .5 .7 .85 .93 .98 1 */
    const struct { float top_p; int n; } cases[] = {{0.45f, 1}, {0.69f, 2}, {0.71f, 3},
                                                    {0.84f, 3}, {0.86f, 4}, {0.99f, 6},
                                                    {1.0f, 6}};
    for (int top_k = 0; top_k <= 6; top_k += 6) {
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            eng_sampler_params p = params(1.0f, top_k, cases[c].top_p, 0.0f);
            eng_sampler *s = new_or_die(&p);
            int n = cases[c].n;
            ck_assert_int_eq(eng_sampler_probs(s, l, 7, probs), n);
            double mass = 0;
            for (int i = 0; i < n; i++)
                mass += pr[rank[i]];
            for (int i = 0; i < 7; i++) {
                double w = 0;
                for (int j = 0; j < n; j++)
                    if (rank[j] == i)
                        w = pr[i] / mass;
                ck_assert_double_eq_tol(probs[i], w, 1e-6);
            }
            eng_sampler_free(s);
        }
    }
}
END_TEST

START_TEST(test_sampler_min_p_drops_below_fraction_of_max)
{
    const double pr[5] = {0.06, 0.4, 0.3, 0.2, 0.04};
    float l[5], probs[5];
    logits_of(pr, l, 5);
    /* min_p 0.2: cut at 0.08 keeps .4 .3 .2; min_p 0.12: cut .048 keeps .06 too. */
    const struct { float min_p; int n; } cases[] = {{0.2f, 3}, {0.12f, 4}, {0.09f, 5},
                                                    {0.8f, 1}, {1.0f, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        eng_sampler_params p = params(1.0f, 0, 1.0f, cases[c].min_p);
        eng_sampler *s = new_or_die(&p);
        ck_assert_int_eq(eng_sampler_probs(s, l, 5, probs), cases[c].n);
        double mass = 0;
        for (int i = 0; i < 5; i++)
            if (pr[i] >= cases[c].min_p * 0.4)
                mass += pr[i];
        for (int i = 0; i < 5; i++)
            ck_assert_double_eq_tol(probs[i], pr[i] >= cases[c].min_p * 0.4 ? pr[i] / mass : 0,
                                    1e-6);
        eng_sampler_free(s);
    }
}
END_TEST

START_TEST(test_sampler_repetition_penalty_changes_argmax)
{
    eng_sampler_params p = params(0, 0, 1, 0);
    p.repeat_penalty = 1.5f;
    p.repeat_last_n = 3;
    eng_sampler *s = new_or_die(&p);
    float l[6] = {2.0f, 1.8f, -1.0f, -0.5f, 0.0f, 1.0f};
    ck_assert_int_eq(eng_sampler_sample(s, l, 6, NULL), 0);
    eng_sampler_accept(s, 0);                                /* 2.0 / 1.5 = 1.33 < 1.8 */
    ck_assert_int_eq(eng_sampler_sample(s, l, 6, NULL), 1);
    eng_sampler_accept(s, 7);                                /* out of the vocab: ignored */
    eng_sampler_accept(s, 7);
    ck_assert_int_eq(eng_sampler_sample(s, l, 6, NULL), 1);  /* window 0, 7, 7 */
    eng_sampler_accept(s, 7);
    ck_assert_int_eq(eng_sampler_sample(s, l, 6, NULL), 0);  /* window 7, 7, 7: 0 left it */
    eng_sampler_accept(s, 0);
    eng_sampler_accept(s, 1);                                /* 1.33 > 1.8 / 1.5 = 1.2 */
    ck_assert_int_eq(eng_sampler_sample(s, l, 6, NULL), 0);
    eng_sampler_accept(s, 0);                                /* counted once: still 1.33 */
    ck_assert_int_eq(eng_sampler_sample(s, l, 6, NULL), 0);
    ck_assert_float_eq(l[0], 2.0f);                          /* the input is not touched */

    /* Negative logits are multiplied; a token in the window twice counts once. */
    eng_sampler_free(s);
    p.temperature = 1;
    p.repeat_last_n = 8;
    s = new_or_die(&p);
    eng_sampler_accept(s, 2);
    eng_sampler_accept(s, 2);
    eng_sampler_accept(s, 5);
    float probs[6];
    ck_assert_int_eq(eng_sampler_probs(s, l, 6, probs), 6);
    const double pen[6] = {2.0, 1.8, -1.5, -0.5, 0.0, 1.0 / 1.5};
    double z = 0;
    for (int i = 0; i < 6; i++)
        z += exp(pen[i]);
    for (int i = 0; i < 6; i++)
        ck_assert_double_eq_tol(probs[i], exp(pen[i]) / z, 1e-6);
    eng_sampler_free(s);
}
END_TEST

START_TEST(test_sampler_probs_sum_to_one_and_match_manual)
{
    /* temp 0.5, top_k 3 over {3, 2, 1, 0.5, -2}: keeps 3, 2, 1; weights e^(2(l - 3)) */
    eng_sampler_params p = params(0.5f, 3, 1.0f, 0.0f);
    eng_sampler *s = new_or_die(&p);
    float l[5] = {1.0f, 3.0f, 0.5f, 2.0f, -2.0f}, probs[5];
    ck_assert_int_eq(eng_sampler_probs(s, l, 5, probs), 3);
    double w1 = 1, w3 = exp(-2.0), w0 = exp(-4.0), z = w1 + w3 + w0;
    ck_assert_double_eq_tol(probs[1], w1 / z, 1e-6);
    ck_assert_double_eq_tol(probs[3], w3 / z, 1e-6);
    ck_assert_double_eq_tol(probs[0], w0 / z, 1e-6);
    ck_assert_float_eq(probs[2], 0.0f);
    ck_assert_float_eq(probs[4], 0.0f);
    ck_assert_double_eq_tol(probs[0] + probs[1] + probs[3], 1.0, 1e-6);
    eng_sampler_free(s);

    /* A temperature so small that 1/T is infinite: the limit, one-hot, not NaN. */
    p = params(1e-40f, 0, 1.0f, 0.0f);
    s = new_or_die(&p);
    ck_assert_int_eq(eng_sampler_probs(s, l, 5, probs), 1);
    ck_assert_float_eq(probs[1], 1.0f);
    ck_assert_int_eq(eng_sampler_sample(s, l, 5, NULL), 1);
    eng_sampler_free(s);
}
END_TEST

/* Every path (heap top-k, quickselect top-k, chunked top-p, pruning) against the reference. */
START_TEST(test_sampler_matches_full_sort_reference_large_vocab)
{
    enum { N = 60000 };
    static float l[N], probs[N];
    static double want[N];
    const struct { float t; int k; float p, m, pen; } cases[] = {
        {1.0f, 0, 1.0f, 0.0f, 1.0f},   {0.8f, 40, 0.95f, 0.05f, 1.0f},
        {1.0f, 0, 0.9f, 0.0f, 1.0f},   {1.3f, 0, 0.5f, 0.0f, 1.3f},
        {0.6f, 0, 0.999f, 0.0f, 1.0f}, {1.0f, 2000, 0.98f, 0.0f, 1.1f},
        {2.0f, 5000, 1.0f, 0.0f, 1.0f}, {1.0f, 1024, 0.7f, 0.01f, 1.0f},
        {1.0f, 0, 1.0f, 0.3f, 0.8f},   {0.9f, 0, 0.9f, 0.001f, 1.0f},
        {0.0f, 40, 0.95f, 0.05f, 1.3f}, {0.0f, 0, 1.0f, 0.0f, 0.7f},
    };
    int32_t hist[16];
    lcg_state = 2718;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        random_logits(l, N, c % 2 ? 4 : 12);
        for (int i = 0; i < 200; i++)           /* some exact ties */
            l[(size_t)(rnd() * N)] = l[(size_t)(rnd() * N)];
        eng_sampler_params p = params(cases[c].t, cases[c].k, cases[c].p, cases[c].m);
        p.repeat_penalty = cases[c].pen;
        p.repeat_last_n = 16;
        eng_sampler *s = new_or_die(&p);
        size_t best = 0, second = 1;  /* the penalty must be able to change the winner */
        for (size_t i = 1; i < N; i++) {
            if (l[i] > l[best])
                second = best, best = i;
            else if (i != best && l[i] > l[second])
                second = i;
        }
        for (int i = 0; i < 16; i++)
            hist[i] = i == 3 ? (int32_t)best : i == 9 ? (int32_t)second : (int32_t)(rnd() * N);
        for (int i = 0; i < 16; i++)
            eng_sampler_accept(s, hist[i]);
        ref_probs(&p, l, N, hist, 16, want);
        ck_assert_int_gt(eng_sampler_probs(s, l, N, probs), 0);
        assert_probs_match(probs, want, N);
        eng_sampler_free(s);
    }
}
END_TEST

START_TEST(test_sampler_sample_probs_draws_from_weights)
{
    eng_sampler_params p = params(1, 0, 1, 0);
    eng_sampler *s = new_or_die(&p);
    float w[6] = {0, 3, -1, NAN, 1, 0};
    long counts[6] = {0};
    for (int i = 0; i < 40000; i++) {
        int32_t x = eng_sampler_sample_probs(s, w, 6);
        ck_assert(x == 1 || x == 4);
        counts[x]++;
    }
    double want[6] = {0, 0.75, 0, 0, 0.25, 0};
    counts[0] = counts[2] = counts[3] = counts[5] = 0;
    int df;
    double x2 = chi_square(counts, want, 6, 40000, &df);
    ck_assert_msg(x2 < 10.83, "chi-square %.2f (df 1)", x2);
    float zero[3] = {0, -1, NAN};
    ck_assert_int_eq(eng_sampler_sample_probs(s, zero, 3), ENG_SAMPLER_EEMPTY);
    float inf[2] = {INFINITY, 1};
    ck_assert_int_eq(eng_sampler_sample_probs(s, inf, 2), ENG_SAMPLER_EEMPTY);
    ck_assert_int_eq(eng_sampler_sample_probs(s, NULL, 3), ENG_SAMPLER_EINVAL);
    ck_assert_int_eq(eng_sampler_sample_probs(s, w, 0), ENG_SAMPLER_EINVAL);
    eng_sampler_free(s);
}
END_TEST

static void expect_bad(eng_sampler_params p, const char *field)
{
    char err[256] = "";
    ck_assert_ptr_null(eng_sampler_new(&p, err, sizeof err));
    ck_assert_msg(strstr(err, field) != NULL, "message '%s' does not name %s", err, field);
    ck_assert_int_eq(eng_sampler_params_check(&p, NULL, 0), ENG_SAMPLER_EINVAL);
}

START_TEST(test_sampler_rejects_bad_params)
{
    eng_sampler_params d;
    eng_sampler_params_init(&d);
    ck_assert_int_eq(eng_sampler_params_check(&d, NULL, 0), 0);
    eng_sampler_params p;
    const float bad_temp[] = {-0.1f, NAN, INFINITY};
    for (size_t i = 0; i < 3; i++)
        p = d, p.temperature = bad_temp[i], expect_bad(p, "temperature");
    p = d, p.top_k = -1, expect_bad(p, "top_k");
    const float bad_top_p[] = {0.0f, -0.5f, 1.01f, NAN};
    for (size_t i = 0; i < 4; i++)
        p = d, p.top_p = bad_top_p[i], expect_bad(p, "top_p");
    const float bad_min_p[] = {-0.01f, 1.5f, NAN};
    for (size_t i = 0; i < 3; i++)
        p = d, p.min_p = bad_min_p[i], expect_bad(p, "min_p");
    const float bad_pen[] = {0.0f, -1.0f, INFINITY, NAN};
    for (size_t i = 0; i < 4; i++)
        p = d, p.repeat_penalty = bad_pen[i], expect_bad(p, "repeat_penalty");
    p = d, p.repeat_last_n = -1, expect_bad(p, "repeat_last_n");
    p = d, p.repeat_last_n = ENG_SAMPLER_MAX_LAST_N + 1, expect_bad(p, "repeat_last_n");
    char err[64] = "";
    ck_assert_ptr_null(eng_sampler_new(NULL, err, sizeof err));
    ck_assert_str_ne(err, "");
    /* the edges that are allowed */
    p = d, p.top_p = 1, p.min_p = 1, p.top_k = 0, p.repeat_last_n = 0;
    eng_sampler *s = new_or_die(&p);
    eng_sampler_free(s);
    eng_sampler_free(NULL);
}
END_TEST

START_TEST(test_sampler_bad_logits_give_error_codes)
{
    eng_sampler_params p = params(1, 0, 1, 0);
    eng_sampler *s = new_or_die(&p);
    float l[3] = {-INFINITY, NAN, -INFINITY}, probs[3];
    ck_assert_int_eq(eng_sampler_sample(s, l, 3, NULL), ENG_SAMPLER_EEMPTY);
    ck_assert_int_eq(eng_sampler_probs(s, l, 3, probs), ENG_SAMPLER_EEMPTY);
    ck_assert_int_eq(eng_sampler_sample(s, NULL, 3, NULL), ENG_SAMPLER_EINVAL);
    ck_assert_int_eq(eng_sampler_sample(s, l, 0, NULL), ENG_SAMPLER_EINVAL);
    ck_assert_int_eq(eng_sampler_probs(s, l, 3, NULL), ENG_SAMPLER_EINVAL);
    ck_assert_int_eq(eng_sampler_sample(NULL, l, 3, NULL), ENG_SAMPLER_EINVAL);
    /* banned tokens never come out */
    float m[4] = {-INFINITY, 0.5f, -INFINITY, 0.4f};
    for (int i = 0; i < 1000; i++) {
        int32_t x = eng_sampler_sample(s, m, 4, NULL);
        ck_assert(x == 1 || x == 3);
    }
    ck_assert_str_eq(eng_sampler_strerror(ENG_SAMPLER_EEMPTY),
                     "no token can be drawn (all logits -inf or weights 0)");
    eng_sampler_free(s);
}
END_TEST

START_TEST(test_sampler_rewind_restores_penalty_window)
{
    eng_sampler_params p = params(0, 0, 1, 0);
    p.repeat_penalty = 4;
    p.repeat_last_n = 2;
    eng_sampler *s = new_or_die(&p);
    float l[4] = {3, 2, 1, 0};
    ck_assert_int_eq(eng_sampler_rewind(s, 1), ENG_SAMPLER_ERANGE);
    eng_sampler_accept(s, 0);
    eng_sampler_accept(s, 1);
    ck_assert_int_eq(eng_sampler_sample(s, l, 4, NULL), 2);  /* 0.75, 0.5, 1 */
    eng_sampler_accept(s, 2);
    eng_sampler_accept(s, 3);                                /* window 2, 3 */
    ck_assert_int_eq(eng_sampler_sample(s, l, 4, NULL), 0);
    ck_assert_int_eq(eng_sampler_rewind(s, 2), 0);           /* window 0, 1 again */
    ck_assert_int_eq(eng_sampler_sample(s, l, 4, NULL), 2);
    ck_assert_int_eq(eng_sampler_rewind(s, 3), ENG_SAMPLER_ERANGE);
    ck_assert_int_eq(eng_sampler_rewind(s, 2), 0);
    ck_assert_int_eq(eng_sampler_sample(s, l, 4, NULL), 0);

    /* After many tokens, MAX_REWIND is still possible, more is refused. */
    for (int i = 0; i < 10000; i++)
        eng_sampler_accept(s, i % 2 ? 0 : 1);
    ck_assert_int_eq(eng_sampler_rewind(s, 10000), ENG_SAMPLER_ERANGE);  /* not kept */
    ck_assert_int_eq(eng_sampler_rewind(s, ENG_SAMPLER_MAX_REWIND), 0);
    ck_assert_int_eq(eng_sampler_sample(s, l, 4, NULL), 2);
    eng_sampler_reset(s);
    ck_assert_int_eq(eng_sampler_sample(s, l, 4, NULL), 0);
    eng_sampler_free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("eng_sampler");
    TCase *tc = tcase_create("sampler");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_sampler_greedy_is_argmax_with_ties_to_lowest_id);
    tcase_add_test(tc, test_sampler_prng_pinned_values);
    tcase_add_test(tc, test_sampler_same_seed_same_sequence);
    tcase_add_test(tc, test_sampler_temp1_draws_match_softmax_chi_square);
    tcase_add_test(tc, test_sampler_filtered_draws_match_probs_vector);
    tcase_add_test(tc, test_sampler_top_k_1_is_greedy);
    tcase_add_test(tc, test_sampler_top_p_keeps_smallest_set_reaching_p);
    tcase_add_test(tc, test_sampler_min_p_drops_below_fraction_of_max);
    tcase_add_test(tc, test_sampler_repetition_penalty_changes_argmax);
    tcase_add_test(tc, test_sampler_probs_sum_to_one_and_match_manual);
    tcase_add_test(tc, test_sampler_matches_full_sort_reference_large_vocab);
    tcase_add_test(tc, test_sampler_sample_probs_draws_from_weights);
    tcase_add_test(tc, test_sampler_rejects_bad_params);
    tcase_add_test(tc, test_sampler_bad_logits_give_error_codes);
    tcase_add_test(tc, test_sampler_rewind_restores_penalty_window);
    suite_add_tcase(s, tc);
    return check_failed(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
