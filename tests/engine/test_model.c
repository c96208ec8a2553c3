/* test_model.c — the C forward pass against tools/ref_forward.py (numpy,
 * float64) on random-weight models written by tools/make_test_model.py, for
 * both architectures and every weight type: prefill, token-by-token decode,
 * and decode after a KV rollback.
 *
 * Tolerance: per logits row, max |c - ref| <= tol * max(1, max |ref|), with
 * tol 1e-4 for F32/F16/BF16 weights (the same stored values, F32 arithmetic)
 * and 4e-2 for Q8_0/Q4_0 and the K-quants, whose matmuls quantize
 * activations to Q8_0 blocks. K-quant models (rows of 256: dim 256, ffn 512)
 * are also held against the F32 model of the same random weights: their
 * weight quantization moves the logits by at most KQ_VS_F32 (per type,
 * relative to the row's largest logit).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dev.h"
#include "model.h"
#include "../check_run.h"

static char g_dir[256];

static const char *src_dir(void)
{
    const char *s = getenv("SPARKD_SRC");
    return s ? s : ".";
}

static void run(const char *cmd)
{
    int rc = system(cmd);
    ck_assert_msg(rc == 0, "command failed (%d): %s", rc, cmd);
}

static void make_model(const char *arch, const char *type, const char *extra, char *path, size_t len)
{
    snprintf(path, len, "%s/%s-%s%s.gguf", g_dir, arch, type, extra[0] ? "-x" : "");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tools/make_test_model.py --arch %s --type %s %s --out %s",
             src_dir(), arch, type, extra, path);
    run(cmd);
}

/* Reference logits for sequences A and B (rows concatenated). */
static float *reference(const char *model, const char *seq_a, const char *seq_b, size_t rows, int n_vocab)
{
    char out[300], cmd[1400];
    snprintf(out, sizeof out, "%s/ref.f32", g_dir);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tools/ref_forward.py %s --tokens %s --tokens %s --out %s",
             src_dir(), model, seq_a, seq_b, out);
    run(cmd);
    float *r = malloc(rows * n_vocab * sizeof *r);
    FILE *f = fopen(out, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fread(r, sizeof *r, rows * n_vocab, f), rows * n_vocab);
    fclose(f);
    return r;
}

static void check_rows(const float *got, const float *want, int rows, int n_vocab, double tol, const char *what)
{
    for (int r = 0; r < rows; r++) {
        double amax = 1, err = 0;
        for (int i = 0; i < n_vocab; i++) {
            double w = want[(size_t)r * n_vocab + i];
            if (fabs(w) > amax) amax = fabs(w);
            double e = fabs(got[(size_t)r * n_vocab + i] - w);
            if (e > err) err = e;
        }
        ck_assert_msg(err <= tol * amax, "%s row %d: max error %.3g > %.3g (max |logit| %.3g)",
                      what, r, err, tol * amax, amax);
    }
}

static const char *const ARCHS[] = { "llama", "qwen2" };
static const char *const TYPES[] = { "F32", "F16", "BF16", "Q8_0", "Q4_0" };

/* Sequence A = 12 tokens (7 prefilled, 5 decoded one by one); B = A[:4] + 3
 * new tokens, evaluated after truncating the cache to 4. */
static const int32_t SEQ_A[12] = { 262, 5, 77, 101, 32, 200, 9, 255, 31, 44, 120, 263 };
static const int32_t SEQ_B_TAIL[3] = { 17, 64, 250 };

static void check_model(const char *arch, const char *type, const char *extra, int threads)
{
    char path[300], err[512], spec[32];
    make_model(arch, type, extra, path, sizeof path);
    snprintf(spec, sizeof spec, "cpu:threads=%d", threads);
    dev_device *d = dev_open(spec, err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    eng_model *m = eng_model_load(path, d, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    const int V = eng_model_hparams(m)->n_vocab;
    double tol = type[0] == 'Q' ? 4e-2 : 1e-4;

    float *ref = reference(path, "262,5,77,101,32,200,9,255,31,44,120,263", "262,5,77,101,17,64,250", 19, V);
    float *got = malloc((size_t)12 * V * sizeof *got);
    eng_ctx *c = eng_ctx_new(m, 64, 4, err, sizeof err);   /* batch 4: prefill of 7 splits */
    ck_assert_msg(c != NULL, "%s", err);

    ck_assert_int_eq(eng_forward(c, SEQ_A, 7, got, 1), 0);
    check_rows(got, ref, 7, V, tol, "prefill");
    for (int t = 7; t < 12; t++) {
        ck_assert_int_eq(eng_forward(c, SEQ_A + t, 1, got, 0), 0);
        check_rows(got, ref + (size_t)t * V, 1, V, tol, "decode");
    }
    ck_assert_int_eq(eng_ctx_pos(c), 12);
    eng_ctx_truncate(c, 4);
    ck_assert_int_eq(eng_forward(c, SEQ_B_TAIL, 3, got, 1), 0);
    check_rows(got, ref + (size_t)(12 + 4) * V, 3, V, tol, "after rollback");

    eng_ctx_free(c);
    free(got);
    free(ref);
    eng_model_free(m);
    dev_close(d);
    unlink(path);
}

START_TEST(test_forward_matches_numpy_reference)
{
    const char *arch = ARCHS[_i / 5], *type = TYPES[_i % 5];
    check_model(arch, type, "", 1 + _i % 2);
}
END_TEST

#define KQ_SHAPE "--dim 256 --ffn 512 --heads 4 --kv-heads 2"
static const char *const KTYPES[] = { "Q4_K", "Q5_K", "Q6_K", "Q4_K_M" };
/* Measured (numpy, this shape): Q4_K 0.28, Q5_K 0.12, Q6_K 0.06, Q4_K_M 0.17;
 * for scale Q4_0 0.27 and Q8_0 0.016: each bit halves the error. */
static const double KQ_VS_F32[] = { 0.35, 0.16, 0.08, 0.25 };

START_TEST(test_forward_kquant_matches_numpy_reference)
{
    check_model(ARCHS[_i / 4], KTYPES[_i % 4], KQ_SHAPE, 1 + _i % 2);
}
END_TEST

/* Logits of the 12 tokens of SEQ_A, prefilled in one batch. */
static float *logits_of(const char *path, int *n_vocab)
{
    char err[512];
    dev_device *d = dev_open("cpu:threads=2", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    eng_model *m = eng_model_load(path, d, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    *n_vocab = eng_model_hparams(m)->n_vocab;
    float *out = malloc((size_t)12 * *n_vocab * sizeof *out);
    eng_ctx *c = eng_ctx_new(m, 64, 12, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_int_eq(eng_forward(c, SEQ_A, 12, out, 1), 0);
    eng_ctx_free(c);
    eng_model_free(m);
    dev_close(d);
    return out;
}

START_TEST(test_forward_kquant_close_to_f32_model)
{
    char pf[300], pk[300];
    int vf, vk;
    make_model("qwen2", "F32", KQ_SHAPE, pf, sizeof pf);
    make_model("qwen2", KTYPES[_i], KQ_SHAPE, pk, sizeof pk);
    float *lf = logits_of(pf, &vf), *lk = logits_of(pk, &vk);
    ck_assert_int_eq(vf, vk);
    double worst = 0;
    for (int r = 0; r < 12; r++) {
        double amax = 1, err = 0;
        for (int i = 0; i < vf; i++) {
            amax = fmax(amax, fabs(lf[r * vf + i]));
            err = fmax(err, fabs(lf[r * vf + i] - lk[r * vf + i]));
        }
        worst = fmax(worst, err / amax);
    }
    fprintf(stderr, "%s vs F32: max logit error %.4f of the row's largest\n", KTYPES[_i], worst);
    ck_assert_msg(worst <= KQ_VS_F32[_i], "%s vs F32: %.3g > %.3g", KTYPES[_i], worst, KQ_VS_F32[_i]);
    free(lf);
    free(lk);
    unlink(pf);
    unlink(pk);
}
END_TEST

START_TEST(test_forward_tied_output_gqa_1)
{
    check_model("qwen2", "F32", "--tied --heads 4 --kv-heads 1", 2);
    check_model("llama", "F16", "--tied --heads 2 --kv-heads 2 --dim 96", 1);
}
END_TEST

START_TEST(test_context_full_and_bad_token_are_errors)
{
    char path[300], err[512];
    make_model("llama", "F32", "", path, sizeof path);
    dev_device *d = dev_open("cpu:threads=1", err, sizeof err);
    eng_model *m = eng_model_load(path, d, err, sizeof err);
    ck_assert_ptr_nonnull(m);
    eng_ctx *c = eng_ctx_new(m, 8, 0, err, sizeof err);
    int32_t toks[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    ck_assert_int_eq(eng_forward(c, toks, 9, NULL, 0), -1);
    ck_assert_ptr_nonnull(strstr(eng_ctx_error(c), "context full"));
    int32_t bad = 100000;
    ck_assert_int_eq(eng_forward(c, &bad, 1, NULL, 0), -1);
    ck_assert_ptr_nonnull(strstr(eng_ctx_error(c), "out of range"));
    ck_assert_int_eq(eng_ctx_pos(c), 0);                       /* failures leave nothing */
    ck_assert_int_eq(eng_forward(c, toks, 8, NULL, 0), 0);
    ck_assert_int_eq(eng_ctx_pos(c), 8);
    eng_ctx_free(c);
    eng_model_free(m);
    dev_close(d);
}
END_TEST

/* Broken models are refused with a message naming the problem. */
START_TEST(test_broken_models_rejected_clearly)
{
    static const struct { const char *flag, *expect; } CASES[] = {
        { "--broken arch", "architecture 'gpt2' is not supported" },
        { "--broken shape", "has shape" },
        { "--broken missing", "ffn_up.weight' is missing" },
        { "--broken q2k --dim 256 --heads 4 --kv-heads 2", "type Q2_K" },
    };
    char path[300], err[512];
    dev_device *d = dev_open("cpu:threads=1", err, sizeof err);
    make_model("llama", "F32", CASES[_i].flag, path, sizeof path);
    eng_model *m = eng_model_load(path, d, err, sizeof err);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err, CASES[_i].expect) != NULL, "'%s' lacks '%s'", err, CASES[_i].expect);
    ck_assert_ptr_nonnull(strstr(err, path));
    ck_assert_ptr_null(eng_model_load("/nonexistent/model.gguf", d, err, sizeof err));
    dev_close(d);
}
END_TEST

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/sparkd-test-model-XXXXXX");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("forward");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_forward_matches_numpy_reference, 0, 10);
    tcase_add_loop_test(tc, test_forward_kquant_matches_numpy_reference, 0, 8);
    tcase_add_loop_test(tc, test_forward_kquant_close_to_f32_model, 0, 4);
    tcase_add_test(tc, test_forward_tied_output_gqa_1);
    tcase_add_test(tc, test_context_full_and_bad_token_are_errors);
    tcase_add_loop_test(tc, test_broken_models_rejected_clearly, 0, 4);
    suite_add_tcase(s, tc);
    int failed = check_failed(s, CK_NORMAL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd)) { /* best effort */ }
    return failed ? 1 : 0;
}
