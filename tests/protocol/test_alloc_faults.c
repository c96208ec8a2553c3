/* test_alloc_faults.c — every allocation of the protocol layer failing in
 * turn (tests/faultinj.c): framing, JSON-RPC decoding and encoding, position
 * mapping. For each n = 1, 2, ... the n-th allocation of the operation fails;
 * the operation must report it cleanly (NULL, -1, LSP_ERR_INTERNAL), stay
 * usable, give the same result as without faults when it succeeds, and leave
 * nothing allocated behind. The sweep ends at the first n the operation
 * finishes without reaching. Each test prints how many faults it injected.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "faultinj.h"
#include "lsp_frame.h"
#include "lsp_pos.h"
#include "lsp_rpc.h"
#include "../check_run.h"

/* Ends the window of fault n and checks what every sweep checks. Returns 1
 * while faults still fire (go on with n + 1). */
static int window_done(const char *what, size_t n, size_t *faults)
{
    faultinj_disarm();
    ck_assert_msg(faultinj_live() == 0, "%s, fault %zu: %ld blocks leaked", what, n, faultinj_live());
    if (!faultinj_fired()) {
        printf("faultinj: protocol %s: %zu faults injected\n", what, *faults);
        return 0;
    }
    ++*faults;
    return 1;
}

// ---------------------------------------------------------------- framing

#define BIG_BODY ((size_t)3 << 19)   /* 1.5 MiB: the buffer grows, then shrinks back */

typedef struct { char *data; size_t len; } chunk;

/* The stream: a small message, a large one split in pieces, two small ones
 * in one chunk, a bad header, and a last message. */
static size_t make_stream(chunk *c, char **bodies, size_t *lens)
{
    static char big[BIG_BODY + 64];
    static char s0[256], s1[BIG_BODY + 128], s2[512];
    memset(big, 'x', BIG_BODY);
    big[0] = '"';
    big[BIG_BODY - 1] = '"';
    bodies[0] = "{\"a\":1}";
    bodies[1] = big;
    bodies[2] = "{\"b\":[1,2,3]}";
    bodies[3] = "{}";
    bodies[4] = "{\"last\":true}";
    for (int i = 0; i < 5; i++) lens[i] = i == 1 ? BIG_BODY : strlen(bodies[i]);
    int n0 = snprintf(s0, sizeof s0, "Content-Length: %zu\r\n\r\n%s", lens[0], bodies[0]);
    int h1 = snprintf(s1, sizeof s1, "Content-Length: %zu\r\nContent-Type: x\r\n\r\n", lens[1]);
    memcpy(s1 + h1, big, BIG_BODY);
    int n2 = snprintf(s2, sizeof s2, "Content-Length: %zu\r\n\r\n%sContent-Length: %zu\r\n\r\n%s"
                      "Content-Length: x\r\n\r\nContent-Length: %zu\r\n\r\n%s",
                      lens[2], bodies[2], lens[3], bodies[3], lens[4], bodies[4]);
    size_t k = 0, total1 = (size_t)h1 + BIG_BODY;
    c[k++] = (chunk){ s0, (size_t)n0 };
    for (size_t off = 0; off < total1; off += 400000)   /* 4 pieces */
        c[k++] = (chunk){ s1 + off, total1 - off < 400000 ? total1 - off : 400000 };
    c[k++] = (chunk){ s2, (size_t)n2 };
    return k;
}

START_TEST(test_framer_survives_every_allocation_failure)
{
    chunk c[16];
    char *bodies[5];
    size_t lens[5];
    size_t nc = make_stream(c, bodies, lens), faults = 0;
    for (size_t n = 1;; n++) {
        faultinj_arm(n);
        lsp_framer *f = lsp_framer_new(0);
        size_t got = 0, errors = 0, refused = 0;
        int order_ok = 1;
        for (size_t i = 0; f && i < nc; i++) {
            /* a refused feed takes nothing; the same bytes again must work */
            while (lsp_framer_feed(f, c[i].data, c[i].len) != 0 && refused++ < 1) {}
            const char *body, *err;
            size_t len;
            lsp_frame_status st;
            while ((st = lsp_framer_next(f, &body, &len, &err)) != LSP_FRAME_NEED_MORE) {
                if (st == LSP_FRAME_ERROR) { errors++; continue; }
                order_ok &= got < 5 && len == lens[got] && !memcmp(body, bodies[got], len);
                got++;
            }
        }
        int made = f != NULL;
        lsp_framer_free(f);
        faultinj_disarm();
        if (!made) {
            ck_assert_uint_le(n, 2);   /* only the framer's own two allocations fail it */
        } else {
            ck_assert_msg(refused <= 1, "fault %zu: a feed failed twice", n);
            ck_assert_msg(order_ok && got == 5, "fault %zu: %zu messages, in order: %d", n, got, order_ok);
            ck_assert_uint_eq(errors, 1);
        }
        if (!window_done("framer", n, &faults)) break;
    }
    ck_assert_uint_ge(faults, 3);   /* new (2), growth, shrink */
}
END_TEST

// ---------------------------------------------------------------- decoding

static const char *const GOOD[] = {
    "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"textDocument/didOpen\",\"params\":{\"textDocument\":"
    "{\"uri\":\"file:///tmp/a%20b.py\",\"languageId\":\"python\",\"version\":1,"
    "\"text\":\"def f(x):\\n    return x\\u00e9\\ud83d\\ude00 + 1\\n\"},\"extra\":[1,2.5,null,true,{}]}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":\"abc\"}}",
    "{\"jsonrpc\":\"2.0\",\"id\":\"r1\",\"result\":{\"items\":[{\"label\":\"x\"}]}}",
    "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"bad\",\"data\":[1]}}",
};

/* Messages that are not valid requests: their error must come out as it
 * does without faults, or as LSP_ERR_INTERNAL. */
static const char *const BAD[] = {
    "{\"jsonrpc\":\"1.0\",\"id\":3,\"method\":\"x\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"x\",\"method\":\"y\"}",
    "[{\"jsonrpc\":\"2.0\",\"method\":\"x\"}]",
    "{\"jsonrpc\":\"2.0\",\"id\":{\"a\":1},\"method\":\"x\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"x\",\"params\":3}",
};

static void decode_sweep(const char *body, const char *what, size_t *total)
{
    lsp_msg want;
    lsp_rpc_error want_err;
    int want_rc = lsp_msg_decode(body, strlen(body), &want, &want_err);
    size_t faults = 0;
    for (size_t n = 1;; n++) {
        lsp_msg m;
        lsp_rpc_error e;
        faultinj_arm(n);
        int rc = lsp_msg_decode(body, strlen(body), &m, &e);
        faultinj_disarm();
        if (rc == 0) {
            ck_assert_int_eq(want_rc, 0);
            ck_assert_int_eq(m.kind, want.kind);
            if (!json_equal(m.root, want.root)) {
                char *g = json_dumps(m.root, JSON_COMPACT), *w = json_dumps(want.root, JSON_COMPACT);
                ck_assert_msg(0, "%s, fault %zu: decoded %s, want %s", what, n, g, w);
            }
            ck_assert_msg((m.method == NULL) == (want.method == NULL) &&
                          (!m.method || !strcmp(m.method, want.method)), "%s: method", what);
        } else if (faultinj_fired() && e.code == LSP_ERR_INTERNAL) {
            ck_assert_ptr_null(e.id);
            ck_assert_msg(strstr(e.message, "out of memory"), "%s: %s", what, e.message);
        } else {
            ck_assert_msg(want_rc == -1 && e.code == want_err.code,
                          "%s, fault %zu: got error %d (%s), want %d", what, n, e.code, e.message,
                          want_rc ? want_err.code : 0);
            ck_assert_msg(json_equal(e.id, want_err.id) || (!e.id && !want_err.id), "%s: error id", what);
        }
        lsp_msg_clear(&m);
        lsp_rpc_error_clear(&e);
        if (!window_done(what, n, &faults)) break;
    }
    lsp_msg_clear(&want);
    lsp_rpc_error_clear(&want_err);
    *total += faults;
}

START_TEST(test_decode_survives_every_allocation_failure)
{
    size_t total = 0;
    char what[32];
    for (size_t i = 0; i < sizeof GOOD / sizeof *GOOD; i++) {
        snprintf(what, sizeof what, "decode good %zu", i);
        decode_sweep(GOOD[i], what, &total);
    }
    for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
        snprintf(what, sizeof what, "decode bad %zu", i);
        decode_sweep(BAD[i], what, &total);
    }
    printf("faultinj: protocol decode total: %zu faults injected\n", total);
    ck_assert_uint_ge(total, 40);
}
END_TEST

// ---------------------------------------------------------------- encoding

typedef char *(*encoder)(json_t *id, json_t *v);

static char *enc_result(json_t *id, json_t *v) { return lsp_encode_result(id, v, NULL); }
static char *enc_error(json_t *id, json_t *v)
{
    return lsp_encode_error(id, LSP_ERR_INVALID_PARAMS, "bad \xff byte in \xc3 a message", v, NULL);
}
static char *enc_notification(json_t *id, json_t *v) { (void)id; return lsp_encode_notification("$/progress", v, NULL); }
static char *enc_request(json_t *id, json_t *v) { return lsp_encode_request(id, "workspace/configuration", v, NULL); }

START_TEST(test_encode_survives_every_allocation_failure)
{
    static const struct { encoder fn; const char *name; } E[] = {
        { enc_result, "result" }, { enc_error, "error" },
        { enc_notification, "notification" }, { enc_request, "request" },
    };
    json_error_t je;
    json_t *v = json_loads("{\"items\":[{\"label\":\"for i in range(n):\",\"kind\":15,"
                           "\"textEdit\":{\"range\":{\"start\":{\"line\":3,\"character\":4},"
                           "\"end\":{\"line\":3,\"character\":4}},\"newText\":\"\\u00e9\\n\"}}],"
                           "\"isIncomplete\":false}", 0, &je);
    ck_assert_ptr_nonnull(v);
    json_t *id = json_integer(41);
    size_t total = 0;
    for (size_t k = 0; k < sizeof E / sizeof *E; k++) {
        char *want = E[k].fn(id, v);
        ck_assert_ptr_nonnull(want);
        size_t faults = 0;
        for (size_t n = 1;; n++) {
            faultinj_arm(n);
            char *got = E[k].fn(id, v);
            faultinj_disarm();
            ck_assert_msg(got == NULL || !strcmp(got, want), "%s, fault %zu: %s", E[k].name, n, got);
            ck_assert_msg(got != NULL || faultinj_fired(), "%s failed without a fault", E[k].name);
            free(got);
            /* the borrowed inputs are untouched */
            ck_assert_int_eq(v->refcount, 1);
            ck_assert_int_eq(id->refcount, 1);
            if (!window_done(E[k].name, n, &faults)) break;
        }
        total += faults;
        free(want);
    }
    json_decref(id);
    json_decref(v);
    ck_assert_uint_ge(total, 20);
}
END_TEST

// ---------------------------------------------------------------- positions

START_TEST(test_position_mapping_never_allocates)
{
    static const char line[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xff z\r\n";
    faultinj_arm(1);
    uint32_t sum = 0;
    for (int e = LSP_ENC_UTF8; e <= LSP_ENC_UTF32; e++) {
        for (uint32_t col = 0; col < 20; col++) {
            int clamped;
            size_t b = lsp_col_to_byte(line, sizeof line - 1, (lsp_encoding)e, col, &clamped);
            sum += lsp_byte_to_col(line, sizeof line - 1, (lsp_encoding)e, b);
        }
        sum += (uint32_t)lsp_units(line, sizeof line - 1, (lsp_encoding)e);
    }
    faultinj_disarm();
    ck_assert_uint_gt(sum, 0);
    ck_assert_uint_eq(faultinj_allocs(), 0);   /* nothing that could fail */
    printf("faultinj: protocol positions: 0 allocation sites\n");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("protocol_alloc_faults");
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_framer_survives_every_allocation_failure);
    tcase_add_test(tc, test_decode_survives_every_allocation_failure);
    tcase_add_test(tc, test_encode_survives_every_allocation_failure);
    tcase_add_test(tc, test_position_mapping_never_allocates);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_failed(suite(), CK_ENV) ? EXIT_FAILURE : EXIT_SUCCESS;
}
