/* test_complete.c — completion jobs: KV reuse across requests is exact,
 * abandoned jobs leave a usable engine, stop rules and budgets hold. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "complete.h"
#include "../check_run.h"

static char g_dir[128], g_main[256], g_draft[256];

static void make(const char *out, const char *args)
{
    const char *src = getenv("SPARKD_SRC");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tools/make_test_model.py %s --out %s", src ? src : ".",
             args, out);
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
}

static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/sparkd-test-complete-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    snprintf(g_main, sizeof g_main, "%s/main.gguf", g_dir);
    snprintf(g_draft, sizeof g_draft, "%s/draft.gguf", g_dir);
    make(g_main, "--arch qwen2 --dim 64 --layers 2 --seed 5");
    make(g_draft, "--arch qwen2 --dim 32 --heads 2 --kv-heads 1 --layers 1 --seed 6");
}

static void teardown(void)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd)) { /* best effort */ }
}

static eng_engine *engine(int draft, int lookup)
{
    eng_engine_params p;
    eng_engine_params_init(&p);
    p.model_path = g_main;
    p.draft_path = draft ? g_draft : NULL;
    p.device = "cpu:threads=1";
    p.n_ctx = 512;
    p.use_lookup = lookup;
    char err[256];
    eng_engine *e = eng_engine_new(&p, err, sizeof err);
    ck_assert_msg(e != NULL, "%s", err);
    return e;
}

static const char *PREFIX = "def add(a, b):\n    return a + b\n\ndef mul(a, b):\n    ret";
static const char *SUFFIX = "\n\nprint(add(1, 2))\n";

static eng_request request(const char *prefix, size_t plen)
{
    eng_request r;
    eng_request_init(&r);
    r.prefix = prefix;
    r.prefix_len = plen;
    r.suffix = SUFFIX;
    r.suffix_len = strlen(SUFFIX);
    r.max_tokens = 24;
    r.max_lines = 4;
    return r;
}

/* Runs a job to the end; returns a malloc'd copy of its text. */
static char *run(eng_engine *e, const eng_request *r, eng_job_stats *st, eng_stop *why)
{
    char err[256];
    eng_job *j = eng_job_start(e, r, err, sizeof err);
    ck_assert_msg(j != NULL, "%s", err);
    int rc;
    while ((rc = eng_job_step(j)) == 0) {}
    ck_assert_msg(rc == 1, "%s", eng_job_error(j));
    size_t n;
    const char *t = eng_job_text(j, &n);
    char *copy = strndup(t, n);
    if (st) *st = *eng_job_get_stats(j);
    if (why) *why = eng_job_stop_reason(j);
    eng_job_free(j);
    return copy;
}

START_TEST(test_complete_same_text_with_and_without_drafters)
{
    eng_request r = request(PREFIX, strlen(PREFIX));
    eng_engine *plain = engine(0, 0), *spec = engine(1, 1);
    char *a = run(plain, &r, NULL, NULL), *b = run(spec, &r, NULL, NULL);
    ck_assert_str_eq(a, b);
    free(a); free(b);
    eng_engine_free(plain);
    eng_engine_free(spec);
}
END_TEST

/* Typing one character at the cursor re-evaluates only a few tokens (the
 * prompt is suffix-first), and the answer equals a fresh engine's. */
START_TEST(test_complete_keystroke_reuses_kv_exactly)
{
    eng_engine *e = engine(1, 1), *fresh = engine(1, 1);
    eng_request r = request(PREFIX, strlen(PREFIX));
    eng_job_stats st;
    free(run(e, &r, &st, NULL));
    ck_assert_int_eq(st.reused_tokens, 0);
    char typed[256];
    snprintf(typed, sizeof typed, "%su", PREFIX);
    eng_request r2 = request(typed, strlen(typed));
    char *warm = run(e, &r2, &st, NULL);
    ck_assert_int_ge(st.reused_tokens, st.prompt_tokens - 4);
    char *cold = run(fresh, &r2, NULL, NULL);
    ck_assert_str_eq(warm, cold);
    free(warm); free(cold);
    eng_engine_free(e);
    eng_engine_free(fresh);
}
END_TEST

/* A job parked mid-prefill or mid-decode leaves the engine exact, and
 * resumes to the text it would have written uninterrupted. */
START_TEST(test_complete_abandoned_job_then_next_is_exact)
{
    eng_engine *e = engine(1, 1), *fresh = engine(1, 1);
    eng_request r = request(PREFIX, strlen(PREFIX));
    char err[256];
    for (int steps = 1; steps <= 6; steps++) {
        eng_job *old = eng_job_start(e, &r, err, sizeof err);
        int done = 0;
        for (int i = 0; i < steps && !done; i++) done = eng_job_step(old) != 0;
        char other[256];
        snprintf(other, sizeof other, "%s%.*s", PREFIX, steps, "urn a");
        eng_request r2 = request(other, strlen(other));
        char *a = run(e, &r2, NULL, NULL);          /* parks `old` */
        char *b = run(fresh, &r2, NULL, NULL);
        ck_assert_str_eq(a, b);
        free(a); free(b);
        /* the parked job resumes where it was: the same text as uninterrupted */
        int rc;
        while ((rc = eng_job_step(old)) == 0) {}
        ck_assert_int_eq(rc, 1);
        size_t n;
        const char *t = eng_job_text(old, &n);
        char *c = run(fresh, &r, NULL, NULL);
        ck_assert_str_eq(t, c);
        ck_assert_int_eq(eng_job_get_stats(old)->resumes, done ? 0 : 1);
        free(c);
        eng_job_free(old);
    }
    eng_engine_free(e);
    eng_engine_free(fresh);
}
END_TEST

START_TEST(test_complete_budgets_and_deadline)
{
    eng_engine *e = engine(1, 1);
    eng_request r = request(PREFIX, strlen(PREFIX));
    r.max_lines = 1;
    r.max_tokens = 5;
    eng_job_stats st;
    eng_stop why;
    char *t = run(e, &r, &st, &why);
    ck_assert_ptr_null(strchr(t, '\n'));
    ck_assert_int_le(st.generated_tokens, 5);
    free(t);
    r.deadline_ms = eng_now_ms() - 1;                /* already past: stop after one piece of work */
    r.max_tokens = 64;
    t = run(e, &r, &st, &why);
    ck_assert_int_eq(why, ENG_STOP_DEADLINE);
    free(t);
    eng_engine_free(e);
}
END_TEST

/* A job stopped by its deadline in the prefill keeps what the main model
 * computed even though the draft model had not started: the next request
 * resumes the prefill there (a slow first keystroke does not start over at
 * every keystroke), and its answer is exact. */
START_TEST(test_complete_deadline_in_prefill_keeps_kv)
{
    eng_engine *e = engine(1, 1), *fresh = engine(1, 1);
    char prefix[4096] = "";
    for (int i = 0; i < 30; i++)
        snprintf(prefix + strlen(prefix), sizeof prefix - strlen(prefix), "x%d = add(%d, %d)\n", i, i, 2 * i);
    strcat(prefix, PREFIX);
    eng_request r = request(prefix, strlen(prefix));
    r.deadline_ms = eng_now_ms() - 1;               /* one prefill chunk, then the deadline */
    eng_job_stats st;
    eng_stop why;
    free(run(e, &r, &st, &why));
    ck_assert_int_eq(why, ENG_STOP_DEADLINE);
    ck_assert_int_gt(st.prompt_tokens, 2 * 64);
    r.deadline_ms = 0;
    char *warm = run(e, &r, &st, NULL);
    ck_assert_int_ge(st.reused_tokens, 64);
    char *cold = run(fresh, &r, NULL, NULL);
    ck_assert_str_eq(warm, cold);
    free(warm); free(cold);
    eng_engine_free(e);
    eng_engine_free(fresh);
}
END_TEST

/* Quick start: with too much to prefill, the answer comes from a short
 * prompt; warming then computes the full prompt, so the next request uses
 * it (nothing quick about it, all reused) and writes what a fresh engine
 * writes. A warm stopped early leaves the engine exact too. */
START_TEST(test_complete_quick_start_then_warm_is_exact)
{
    char big[4096];
    size_t n = 0;
    for (int i = 0; n + 200 < sizeof big; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "def f%d(x):\n    return x * %d + %d\n\n", i, i, i * 7);
    n += (size_t)snprintf(big + n, sizeof big - n, "def g(a, b):\n    ret");
    eng_request r = request(big, n);
    r.quick_start = 16;
    eng_engine *fresh = engine(1, 1);
    eng_request plain = r;
    plain.quick_start = 0;
    eng_job_stats st;
    char *want = run(fresh, &plain, &st, NULL);
    ck_assert_int_gt(st.prompt_tokens, 200);
    for (int full_warm = 1; full_warm >= 0; full_warm--) {
        eng_engine *e = engine(1, 1);
        char err[256];
        eng_job *j = eng_job_start(e, &r, err, sizeof err);
        ck_assert_msg(j != NULL, "%s", err);
        int rc;
        while ((rc = eng_job_step(j)) == 0) {}
        ck_assert_int_eq(rc, 1);
        ck_assert_int_eq(eng_job_get_stats(j)->quick, 1);
        ck_assert_int_le(eng_job_get_stats(j)->prompt_tokens, 16 + 8);
        int steps = 0;
        while ((rc = eng_job_warm_step(j)) == 0 && (full_warm || steps < 1)) steps++;
        ck_assert_int_ge(rc, 0);
        if (full_warm) ck_assert_int_gt(steps, 3);          /* > 200 tokens, 32 a step */
        eng_job_free(j);
        char *got = run(e, &r, &st, NULL);
        if (full_warm) {
            ck_assert_int_eq(st.quick, 0);
            ck_assert_int_ge(st.reused_tokens, st.prompt_tokens - 1);
            ck_assert_str_eq(got, want);
        }
        free(got);
        got = run(e, &plain, NULL, NULL);   /* whatever the warm left: exact */
        ck_assert_str_eq(got, want);
        free(got);
        eng_engine_free(e);
    }
    free(want);
    eng_engine_free(fresh);
}
END_TEST

/* Each document has its own acceptance estimates: a job on another file
 * starts from the prior, and the first file's come back with it. */
START_TEST(test_complete_acceptance_per_document)
{
    eng_engine *e = engine(1, 1);
    char rep[2048];
    size_t n = 0;
    while (n + 40 < sizeof rep) n += (size_t)snprintf(rep + n, sizeof rep - n, "x = x + 1\n");
    eng_request a = request(rep, n), b = request(PREFIX, strlen(PREFIX));
    a.path = "a.py";
    b.path = "b.py";
    a.max_tokens = 160, a.max_lines = 1000, a.ignore_eos = 1;   /* long enough for a probe or two */
    free(run(e, &a, NULL, NULL));
    double la = eng_engine_acceptance(e, 1), da = eng_engine_acceptance(e, 0);
    ck_assert(la != 0.5 || da != 0.5);                       /* it learnt something on a.py */
    char err[256];
    eng_job *j = eng_job_start(e, &b, err, sizeof err);      /* b.py: the priors */
    ck_assert_ptr_nonnull(j);
    ck_assert(eng_engine_acceptance(e, 0) == 0.5 && eng_engine_acceptance(e, 1) == 0.5);
    while (eng_job_step(j) == 0) {}
    eng_job_free(j);
    j = eng_job_start(e, &a, err, sizeof err);               /* a.py again: where it was */
    ck_assert(eng_engine_acceptance(e, 1) == la && eng_engine_acceptance(e, 0) == da);
    eng_job_free(j);
    eng_engine_free(e);
}
END_TEST

START_TEST(test_complete_missing_model_is_clear_error)
{
    eng_engine_params p;
    eng_engine_params_init(&p);
    p.model_path = "/nonexistent/m.gguf";
    char err[256];
    ck_assert_ptr_null(eng_engine_new(&p, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/m.gguf"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("complete");
    TCase *tc = tcase_create("complete");
    tcase_set_timeout(tc, 300);
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_complete_same_text_with_and_without_drafters);
    tcase_add_test(tc, test_complete_keystroke_reuses_kv_exactly);
    tcase_add_test(tc, test_complete_abandoned_job_then_next_is_exact);
    tcase_add_test(tc, test_complete_budgets_and_deadline);
    tcase_add_test(tc, test_complete_deadline_in_prefill_keeps_kv);
    tcase_add_test(tc, test_complete_quick_start_then_warm_is_exact);
    tcase_add_test(tc, test_complete_acceptance_per_document);
    tcase_add_test(tc, test_complete_missing_model_is_clear_error);
    suite_add_tcase(s, tc);
    return check_failed(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
