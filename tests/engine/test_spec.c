/* test_spec.c — speculative decoding is lossless: greedy output identical to
 * the main model alone, sampled output distributed as the main model's. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "spec.h"
#include "../check_run.h"

static char g_dir[128];
static char g_main[256], g_draft[256];
static dev_device *g_dev;

static void make(const char *out, const char *args)
{
    const char *src = getenv("SPARKD_SRC");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tools/make_test_model.py %s --out %s",
             src ? src : ".", args, out);
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
}

static void setup(void)
{
    char err[256];
    snprintf(g_dir, sizeof g_dir, "/tmp/sparkd-test-spec-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    snprintf(g_main, sizeof g_main, "%s/main.gguf", g_dir);
    snprintf(g_draft, sizeof g_draft, "%s/draft.gguf", g_dir);
    make(g_main, "--arch qwen2 --dim 64 --layers 2 --seed 3");
    make(g_draft, "--arch llama --dim 32 --heads 2 --kv-heads 1 --layers 1 --seed 4");
    g_dev = dev_open("cpu:threads=1", err, sizeof err);
    ck_assert_ptr_nonnull(g_dev);
}

static void teardown(void)
{
    dev_close(g_dev);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd)) { /* best effort */ }
}

static eng_sampler *sampler(float temp, uint64_t seed)
{
    eng_sampler_params sp;
    eng_sampler_params_init(&sp);
    sp.temperature = temp;
    sp.seed = seed;
    char err[128];
    eng_sampler *s = eng_sampler_new(&sp, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    return s;
}

/* Plain greedy decoding with the main model alone. */
static void plain_greedy(eng_model *m, const int32_t *prompt, int n, int32_t *out, int n_out)
{
    char err[256];
    eng_ctx *c = eng_ctx_new(m, n + n_out + 8 > 256 ? n + n_out + 8 : 256, 0, err, sizeof err);
    int V = eng_model_hparams(m)->n_vocab;
    float *logits = malloc((size_t)V * sizeof *logits);
    eng_sampler *s = sampler(0, 1);
    ck_assert_int_eq(eng_forward(c, prompt, n, logits, 0), 0);
    for (int i = 0; i < n_out; i++) {
        out[i] = eng_sampler_sample(s, logits, (size_t)V, NULL);
        eng_sampler_accept(s, out[i]);
        ck_assert_int_eq(eng_forward(c, &out[i], 1, logits, 0), 0);
    }
    eng_sampler_free(s);
    free(logits);
    eng_ctx_free(c);
}

/* Greedy speculative decoding of at least n_out tokens after prompt[0..n)
 * into got (room for n_out + max_draft). */
static void spec_greedy(eng_spec *s, const int32_t *prompt, int n, int32_t *got, int n_out)
{
    eng_sampler *smp = sampler(0, 1);
    ck_assert_int_eq(eng_spec_begin(s, prompt, n, 0, NULL, 0), 0);
    for (int g = 0; g < n_out;) {
        int r = eng_spec_step(s, smp, got + g, 16);
        ck_assert_msg(r > 0, "%s", eng_spec_error(s));
        g += r;
    }
    eng_sampler_free(smp);
}

/* Speculative greedy: the same tokens, for every drafter mix and k. */
START_TEST(test_spec_greedy_identical_to_main_model)
{
    static const int32_t PROMPTS[3][12] = {
        { 10, 20, 30, 40, 10, 20, 30, 40, 10, 20, 30, 40 },      /* lookup-friendly */
        { 262, 5, 77, 101, 32, 200, 9, 255, 31, 44, 120, 7 },
        { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 },
    };
    const int use_model = _i & 1, use_lookup = (_i >> 1) & 1, k = 1 + 3 * (_i >> 2);
    char err[256];
    eng_model *m = eng_model_load(g_main, g_dev, err, sizeof err);
    eng_model *dm = eng_model_load(g_draft, g_dev, err, sizeof err);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(dm);
    for (int p = 0; p < 3; p++) {
        int32_t want[40], got[40 + 40];
        plain_greedy(m, PROMPTS[p], 12, want, 40);
        eng_ctx *mc = eng_ctx_new(m, 256, 0, err, sizeof err);
        eng_ctx *dc = eng_ctx_new(dm, 256, 0, err, sizeof err);
        eng_spec_params sp;
        eng_spec_params_init(&sp);
        sp.cost_aware = 0;      /* the drafting mechanics, whatever it costs */
        sp.use_draft_model = use_model;
        sp.use_lookup = use_lookup;
        sp.max_draft = k;
        eng_spec *s = eng_spec_new(mc, dc, &sp, err, sizeof err);
        ck_assert_msg(s != NULL, "%s", err);
        spec_greedy(s, PROMPTS[p], 12, got, 40);
        for (int i = 0; i < 40; i++)
            ck_assert_msg(got[i] == want[i], "prompt %d token %d: %d != %d (model %d lookup %d k %d)",
                          p, i, got[i], want[i], use_model, use_lookup, k);
        const eng_spec_stats *st = eng_spec_get_stats(s);
        if (use_model || use_lookup) ck_assert_uint_le(st->steps, st->tokens);
        eng_spec_free(s);
        eng_ctx_free(mc);
        eng_ctx_free(dc);
    }
    eng_model_free(dm);
    eng_model_free(m);
}
END_TEST

/* The main model drafting for itself is always right: k+1 tokens a step. */
START_TEST(test_spec_self_draft_accepts_everything)
{
    char err[256];
    eng_model *m = eng_model_load(g_main, g_dev, err, sizeof err);
    eng_ctx *mc = eng_ctx_new(m, 256, 0, err, sizeof err);
    eng_ctx *dc = eng_ctx_new(m, 256, 0, err, sizeof err);
    eng_spec_params sp;
    eng_spec_params_init(&sp);
    sp.cost_aware = 0;      /* the drafting mechanics, whatever it costs */
    sp.use_lookup = 0;
    eng_spec *s = eng_spec_new(mc, dc, &sp, err, sizeof err);
    eng_sampler *smp = sampler(0, 1);
    int32_t prompt[4] = { 5, 6, 7, 8 }, out[64];
    ck_assert_int_eq(eng_spec_begin(s, prompt, 4, 0, NULL, 0), 0);
    int n = 0;
    while (n < 48) n += eng_spec_step(s, smp, out, 64);
    const eng_spec_stats *st = eng_spec_get_stats(s);
    ck_assert_uint_eq(st->accepted[0], st->drafted[0]);
    ck_assert_uint_le(st->steps * 4, st->tokens);          /* >= 4 tokens per verification */
    for (int cap = 1; cap <= 3; cap++) {                    /* a known end: no draft past it */
        uint64_t drafted = st->drafted[0];
        ck_assert_int_eq(eng_spec_step(s, smp, out, cap), cap);
        ck_assert_uint_eq(st->drafted[0] - drafted, (uint64_t)(cap - 1));
    }
    ck_assert_int_eq(eng_spec_step(s, smp, out, 0), -1);
    eng_sampler_free(smp);
    eng_spec_free(s);
    eng_ctx_free(mc);
    eng_ctx_free(dc);
    eng_model_free(m);
}
END_TEST

/* keep(): a stop rule cuts a step short; decoding continues exactly. */
START_TEST(test_spec_keep_rolls_back_exactly)
{
    char err[256];
    eng_model *m = eng_model_load(g_main, g_dev, err, sizeof err);
    int32_t prompt[8] = { 3, 9, 3, 9, 3, 9, 3, 9 }, want[30], got[30 + 16];
    plain_greedy(m, prompt, 8, want, 30);
    eng_ctx *mc = eng_ctx_new(m, 256, 0, err, sizeof err);
    eng_ctx *dc = eng_ctx_new(m, 256, 0, err, sizeof err);
    eng_spec_params sp;
    eng_spec_params_init(&sp);
    sp.cost_aware = 0;      /* the drafting mechanics, whatever it costs */
    eng_spec *s = eng_spec_new(mc, dc, &sp, err, sizeof err);
    eng_sampler *smp = sampler(0, 1);
    ck_assert_int_eq(eng_spec_begin(s, prompt, 8, 0, NULL, 0), 0);
    int n = 0;
    while (n < 30) {
        int r = eng_spec_step(s, smp, got + n, 16);
        ck_assert_int_gt(r, 0);
        if (r > 1) { eng_spec_keep(s, 1); r = 1; }        /* keep only the first each time */
        n += r;
    }
    for (int i = 0; i < 30; i++) ck_assert_int_eq(got[i], want[i]);
    eng_sampler_free(smp);
    eng_spec_free(s);
    eng_ctx_free(mc);
    eng_ctx_free(dc);
    eng_model_free(m);
}
END_TEST

/* Sampling: the first token's distribution equals the main model's p
 * (chi-square over the tokens with enough mass), for the draft-model and
 * the lookup drafter. */
START_TEST(test_spec_sampling_preserves_distribution)
{
    const int use_lookup = _i;
    char err[256];
    eng_model *m = eng_model_load(g_main, g_dev, err, sizeof err);
    eng_model *dm = eng_model_load(g_draft, g_dev, err, sizeof err);
    const int V = eng_model_hparams(m)->n_vocab;
    int32_t prompt[6] = { 40, 41, 42, 40, 41, 42 };
    /* p: the main model's distribution at temperature 1.5 */
    float *logits = malloc((size_t)V * sizeof *logits), *p = malloc((size_t)V * sizeof *p);
    eng_ctx *c = eng_ctx_new(m, 64, 0, err, sizeof err);
    ck_assert_int_eq(eng_forward(c, prompt, 6, logits, 0), 0);
    eng_sampler *ref = sampler(1.5f, 1);
    ck_assert_int_gt(eng_sampler_probs(ref, logits, (size_t)V, p), 0);
    eng_sampler_free(ref);
    eng_ctx_free(c);

    eng_ctx *mc = eng_ctx_new(m, 64, 0, err, sizeof err);
    eng_ctx *dc = eng_ctx_new(dm, 64, 0, err, sizeof err);
    eng_spec_params sp;
    eng_spec_params_init(&sp);
    sp.cost_aware = 0;      /* the drafting mechanics, whatever it costs */
    sp.use_lookup = use_lookup;
    sp.use_draft_model = !use_lookup;
    sp.lookup_min = 1;
    eng_spec *s = eng_spec_new(mc, dc, &sp, err, sizeof err);
    /* 1e5 samples (the bar for this test) in the release suite; the
     * sanitizer build, ~20x slower, checks the same with 1e4 */
#ifdef __SANITIZE_ADDRESS__
    const int N = 10000;
#else
    const int N = 100000;
#endif
    int *count = calloc((size_t)V, sizeof *count);
    int32_t out[16];
    for (int t = 0; t < N; t++) {
        eng_sampler *smp = sampler(1.5f, 1000 + (uint64_t)t);
        ck_assert_int_eq(eng_spec_begin(s, prompt, 6, 5, NULL, 0), 0);
        ck_assert_int_gt(eng_spec_step(s, smp, out, 16), 0);
        count[out[0]]++;
        eng_sampler_free(smp);
    }
    double chi = 0;
    int dof = 0;
    double rest_p = 0, rest_c = 0;
    for (int i = 0; i < V; i++) {
        double e = p[i] * N;
        if (e >= 10) { chi += (count[i] - e) * (count[i] - e) / e; dof++; }
        else { rest_p += e; rest_c += count[i]; }
    }
    if (rest_p >= 10) { chi += (rest_c - rest_p) * (rest_c - rest_p) / rest_p; dof++; }
    /* chi-square with dof-1 degrees of freedom: mean dof-1, sd sqrt(2(dof-1)); 5 sd is p < 1e-6 */
    ck_assert_msg(chi < (dof - 1) + 5 * sqrt(2.0 * (dof - 1)) + 10, "chi2 %.1f with %d bins", chi, dof);
    const eng_spec_stats *st = eng_spec_get_stats(s);
    ck_assert_uint_gt(st->drafted[use_lookup], 0);
    free(count);
    free(logits);
    free(p);
    eng_spec_free(s);
    eng_ctx_free(mc);
    eng_ctx_free(dc);
    eng_model_free(dm);
    eng_model_free(m);
}
END_TEST

/* The cost model: drafting where a batch is nearly free, (almost) none where
 * every extra token costs a full step, and the main model's tokens either
 * way, with pinned and with measured costs. */
START_TEST(test_spec_cost_model_picks_k_and_stays_exact)
{
    static const int32_t prompt[12] = { 10, 20, 30, 40, 10, 20, 30, 40, 10, 20, 30, 40 };
    char err[256];
    eng_model *m = eng_model_load(g_main, g_dev, err, sizeof err);
    ck_assert_ptr_nonnull(m);
    int32_t want[48];
    plain_greedy(m, prompt, 12, want, 48);
    /* costs (ms): v1, slope, draft; 0 = measured */
    static const double costs[3][3] = { { 1, 0.01, 0.01 }, { 1, 1.0, 0.5 }, { 0, 0, 0 } };
    for (int c = 0; c < 3; c++) {
        eng_ctx *mc = eng_ctx_new(m, 256, 0, err, sizeof err);
        eng_ctx *dc = eng_ctx_new(m, 256, 0, err, sizeof err);    /* self-draft: always right */
        eng_spec_params sp;
        eng_spec_params_init(&sp);
        ck_assert_int_eq(sp.cost_aware, 1);                        /* the default */
        eng_spec *s = eng_spec_new(mc, dc, &sp, err, sizeof err);
        if (costs[c][0] > 0) eng_spec_set_costs(s, costs[c][0], costs[c][1], costs[c][2]);
        eng_sampler *smp = sampler(0, 1);
        ck_assert_int_eq(eng_spec_begin(s, prompt, 12, 0, NULL, 0), 0);
        int32_t got[48 + 16];
        int n = 0;
        while (n < 48) {
            int r = eng_spec_step(s, smp, got + n, 16);
            ck_assert_msg(r > 0, "%s", eng_spec_error(s));
            n += r;
        }
        for (int i = 0; i < 48; i++) ck_assert_int_eq(got[i], want[i]);
        const eng_spec_stats *st = eng_spec_get_stats(s);
        if (c == 0) {           /* flat: long drafts, never a plain step */
            ck_assert_uint_eq(st->plain_steps, 0);
            ck_assert_uint_le(st->steps * 4, st->tokens);
        } else if (c == 1) {    /* steep: plain steps but for a probe every 16 */
            ck_assert_uint_ge(st->plain_steps * 10, st->steps * 8);
        } else {                /* measured: the figures are there */
            ck_assert(st->verify_1_ms > 0 && st->verify_slope_ms > 0);
        }
        eng_sampler_free(smp);
        eng_spec_free(s);
        eng_ctx_free(mc);
        eng_ctx_free(dc);
    }
    eng_model_free(m);
}
END_TEST

/* At the end of the context: drafts are cut to the room left (self-draft
 * would draft 8 each step), the tokens up to the limit are the main model's,
 * and the step that finds no room fails with "context full". */
START_TEST(test_spec_context_limit)
{
    char err[256];
    eng_model *m = eng_model_load(g_main, g_dev, err, sizeof err);
    int32_t prompt[12] = { 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120 }, want[52], got[52 + 16];
    plain_greedy(m, prompt, 12, want, 52);
    eng_ctx *mc = eng_ctx_new(m, 64, 0, err, sizeof err);
    eng_ctx *dc = eng_ctx_new(m, 64, 0, err, sizeof err);
    ck_assert_int_eq(eng_ctx_n_ctx(mc), 64);
    eng_spec_params sp;
    eng_spec_params_init(&sp);
    sp.cost_aware = 0;
    sp.max_draft = 8;
    eng_spec *s = eng_spec_new(mc, dc, &sp, err, sizeof err);
    eng_sampler *smp = sampler(0, 1);
    ck_assert_int_eq(eng_spec_begin(s, prompt, 12, 0, NULL, 0), 0);
    int n = 0, r;
    while ((r = eng_spec_step(s, smp, got + n, 16)) > 0) {
        n += r;
        ck_assert_int_le(12 + n, 64);           /* never past the context */
    }
    ck_assert_int_eq(r, -1);
    ck_assert_ptr_nonnull(strstr(eng_spec_error(s), "context full"));
    ck_assert_int_eq(n, 64 - 12);
    for (int i = 0; i < n; i++) ck_assert_int_eq(got[i], want[i]);
    eng_sampler_free(smp);
    eng_spec_free(s);
    eng_ctx_free(mc);
    eng_ctx_free(dc);
    eng_model_free(m);
}
END_TEST

/* The bundled pair on real code: speculative greedy (draft model, lookup,
 * every k) is token for token the main model alone. */
START_TEST(test_spec_bundled_models_exact)
{
    const char *src = getenv("SPARKD_SRC");
    char mp[512], dp[512], err[256];
    snprintf(mp, sizeof mp, "%s/models/sparkd-main.gguf", src ? src : ".");
    snprintf(dp, sizeof dp, "%s/models/sparkd-draft.gguf", src ? src : ".");
    if (access(mp, R_OK) || access(dp, R_OK)) return;      /* no bundled models in this tree */
    eng_model *m = eng_model_load(mp, g_dev, err, sizeof err), *dm = eng_model_load(dp, g_dev, err, sizeof err);
    ck_assert_msg(m && dm, "%s", err);
    static const char *CODE[] = {
        "def mean(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total / len(xs)\n\n\n"
        "def variance(xs):\n    m = mean(xs)\n",
        "#include <stdio.h>\n\nint main(int argc, char **argv)\n{\n    for (int i = 1; i < argc; i++)\n",
    };
    for (size_t p = 0; p < sizeof CODE / sizeof *CODE; p++) {
        int32_t prompt[256], want[40], got[40 + 16];
        int64_t n = eng_tok_encode(eng_model_tok(m), CODE[p], strlen(CODE[p]), 0, prompt, 256);
        ck_assert(n > 4 && n < 256);
        plain_greedy(m, prompt, (int)n, want, 40);
        for (int k = 1; k <= 8; k += 7) {
            eng_ctx *mc = eng_ctx_new(m, 512, 0, err, sizeof err), *dc = eng_ctx_new(dm, 512, 0, err, sizeof err);
            eng_spec_params sp;
            eng_spec_params_init(&sp);
            sp.cost_aware = 0;
            sp.max_draft = k;
            eng_spec *s = eng_spec_new(mc, dc, &sp, err, sizeof err);
            spec_greedy(s, prompt, (int)n, got, 40);
            for (int i = 0; i < 40; i++) ck_assert_msg(got[i] == want[i], "prompt %zu k %d token %d", p, k, i);
            ck_assert_uint_gt(eng_spec_get_stats(s)->drafted[0] + eng_spec_get_stats(s)->drafted[1], 0);
            eng_spec_free(s);
            eng_ctx_free(mc);
            eng_ctx_free(dc);
        }
    }
    eng_model_free(dm);
    eng_model_free(m);
}
END_TEST

START_TEST(test_spec_rejects_bad_params_and_vocab_mismatch)
{
    char err[256];
    eng_model *m = eng_model_load(g_main, g_dev, err, sizeof err);
    eng_ctx *mc = eng_ctx_new(m, 64, 0, err, sizeof err);
    eng_spec_params sp;
    eng_spec_params_init(&sp);
    sp.max_draft = 0;
    ck_assert_ptr_null(eng_spec_new(mc, NULL, &sp, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "max_draft"));
    char other[300];
    snprintf(other, sizeof other, "%s/v.gguf", g_dir);
    make(other, "--vocab 400");
    eng_model *om = eng_model_load(other, g_dev, err, sizeof err);
    eng_ctx *oc = eng_ctx_new(om, 64, 0, err, sizeof err);
    eng_spec_params_init(&sp);
    ck_assert_ptr_null(eng_spec_new(mc, oc, &sp, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "vocabulary"));
    eng_ctx_free(oc);
    eng_model_free(om);
    eng_ctx_free(mc);
    eng_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("spec");
    TCase *tc = tcase_create("spec");
    tcase_set_timeout(tc, 300);
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_spec_greedy_identical_to_main_model, 0, 12);
    tcase_add_test(tc, test_spec_self_draft_accepts_everything);
    tcase_add_test(tc, test_spec_keep_rolls_back_exactly);
    tcase_add_loop_test(tc, test_spec_sampling_preserves_distribution, 0, 2);
    tcase_add_test(tc, test_spec_cost_model_picks_k_and_stays_exact);
    tcase_add_test(tc, test_spec_context_limit);
    tcase_add_test(tc, test_spec_bundled_models_exact);
    tcase_add_test(tc, test_spec_rejects_bad_params_and_vocab_mismatch);
    suite_add_tcase(s, tc);
    return check_failed(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
