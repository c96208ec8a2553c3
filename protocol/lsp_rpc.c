/* lsp_rpc.c — JSON-RPC 2.0 decode/encode over jansson (see lsp_rpc.h).
 *
 * Decoding parses with JSON_REJECT_DUPLICATES (a message whose "id" or
 * "method" could be read two ways is not answered on a guess) and
 * JSON_ALLOW_NUL (documents may legitimately contain U+0000), then classifies
 * the object. A parse during which an allocation failed is out of memory,
 * even when jansson returns a value (see counting_malloc). Encoding builds objects in wire order and dumps them through a
 * callback into our own malloc'd buffer, so callers free() what they get
 * whatever allocator jansson was given.
 */
#include "lsp_rpc.h"

#include "lsp_pos.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- decoding

static void set_error(lsp_rpc_error *e, int code, json_t *id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_error(lsp_rpc_error *e, int code, json_t *id, const char *fmt, ...)
{
    va_list ap;
    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    e->id = id != NULL ? json_incref(id) : NULL;
}

/* jansson's allocator for the whole process. jansson does not report every
 * failed allocation: its lexer drops a byte when its token buffer cannot
 * grow ("didOpen" parsed as "ddOpen"), and the escape pass that follows
 * then asserts or reads past the token. So:
 *  - every failure is counted per thread, and a parse during which one
 *    happened is out of memory, whatever jansson returned;
 *  - during a parse, a failed request of up to RESERVE_BYTES is served from
 *    a static reserve instead, so jansson finishes on valid memory; its
 *    result is discarded (freed) right after, which empties the reserve.
 * A failed request larger than the reserve still reaches jansson as NULL.
 * Installed on the first decode, unless the program gave jansson its own
 * allocator first. */
#define RESERVE_BYTES ((size_t)256 << 10)

static _Thread_local unsigned long alloc_failures;
static _Thread_local int parsing;
static pthread_once_t alloc_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t reserve_mu = PTHREAD_MUTEX_INITIALIZER;
static _Alignas(16) unsigned char reserve[RESERVE_BYTES];
static size_t reserve_used, reserve_out;   /* bump pointer, blocks not freed */

static void *reserve_alloc(size_t n)
{
    void *p = NULL;
    n = (n + 15) & ~(size_t)15;
    pthread_mutex_lock(&reserve_mu);
    if (n <= RESERVE_BYTES - reserve_used) {
        p = reserve + reserve_used;
        reserve_used += n;
        reserve_out++;
    }
    pthread_mutex_unlock(&reserve_mu);
    return p;
}

static void *counting_malloc(size_t n)
{
    void *p = malloc(n);
    if (p != NULL)
        return p;
    alloc_failures++;
    return parsing && n <= RESERVE_BYTES ? reserve_alloc(n) : NULL;
}

static void counting_free(void *p)
{
    if ((unsigned char *)p < reserve || (unsigned char *)p >= reserve + RESERVE_BYTES) {
        free(p);
        return;
    }
    pthread_mutex_lock(&reserve_mu);
    if (--reserve_out == 0)
        reserve_used = 0;
    pthread_mutex_unlock(&reserve_mu);
}

static void install_alloc(void)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    if (m == malloc && f == free)
        json_set_alloc_funcs(counting_malloc, counting_free);
}

static int parse_failed(const json_error_t *je, lsp_rpc_error *err)
{
    /* no text: jansson could not even allocate its lexer */
    if (json_error_code(je) == json_error_out_of_memory || je->text[0] == '\0') {
        set_error(err, LSP_ERR_INTERNAL, NULL, "out of memory while parsing");
        return -1;
    }
    set_error(err, LSP_ERR_PARSE, NULL, "parse error at byte %d: %.100s",
              je->position, je->text);
    return -1;
}

static int valid_id(const json_t *id)
{
    return json_is_integer(id) || json_is_string(id);
}

static int is_string_value(const json_t *v, const char *want)
{
    size_t n = strlen(want);
    return json_is_string(v) && json_string_length(v) == n &&
           memcmp(json_string_value(v), want, n) == 0;
}

/* The error member of a response: {code: integer, message: string, data?}. */
static const char *check_error_object(const json_t *e)
{
    if (!json_is_object(e))
        return "\"error\" must be an object";
    if (!json_is_integer(json_object_get(e, "code")))
        return "\"error.code\" must be an integer";
    if (!json_is_string(json_object_get(e, "message")))
        return "\"error.message\" must be a string";
    return NULL;
}

static int decode_response(json_t *root, json_t *id, lsp_msg *out, lsp_rpc_error *err)
{
    json_t *result = json_object_get(root, "result");
    json_t *error = json_object_get(root, "error");
    if (result != NULL && error != NULL) {
        set_error(err, LSP_ERR_INVALID_REQUEST, NULL,
                  "response has both \"result\" and \"error\"");
        return -1;
    }
    if (id == NULL) {
        set_error(err, LSP_ERR_INVALID_REQUEST, NULL, "response without \"id\"");
        return -1;
    }
    if (json_is_null(id) && result != NULL) {
        set_error(err, LSP_ERR_INVALID_REQUEST, NULL,
                  "\"id\" null is only valid in an error response");
        return -1;
    }
    if (error != NULL) {
        const char *why = check_error_object(error);
        if (why != NULL) {
            set_error(err, LSP_ERR_INVALID_REQUEST, NULL, "%s", why);
            return -1;
        }
    }
    out->kind = LSP_MSG_RESPONSE;
    out->id = json_is_null(id) ? NULL : id;
    out->result = result;
    out->error = error;
    return 0;
}

static int decode_call(json_t *root, json_t *id, json_t *method, lsp_msg *out,
                       lsp_rpc_error *err)
{
    if (!json_is_string(method)) {
        set_error(err, LSP_ERR_INVALID_REQUEST, id, "\"method\" must be a string");
        return -1;
    }
    const char *name = json_string_value(method);
    if (strlen(name) != json_string_length(method)) {
        set_error(err, LSP_ERR_INVALID_REQUEST, id, "\"method\" contains U+0000");
        return -1;
    }
    json_t *params = json_object_get(root, "params");
    if (json_is_null(params))
        params = NULL;   /* some clients send "params": null for "absent" */
    if (params != NULL && !json_is_object(params) && !json_is_array(params)) {
        set_error(err, LSP_ERR_INVALID_REQUEST, id,
                  "\"params\" must be an object or an array");
        return -1;
    }
    out->kind = id != NULL ? LSP_MSG_REQUEST : LSP_MSG_NOTIFICATION;
    out->id = id;
    out->method = name;
    out->params = params;
    return 0;
}

/* Classifies a parsed top-level object; root is borrowed. */
static int classify(json_t *root, lsp_msg *out, lsp_rpc_error *err)
{
    json_t *id = json_object_get(root, "id");
    json_t *method = json_object_get(root, "method");
    int response_shaped = method == NULL && (json_object_get(root, "result") != NULL ||
                                             json_object_get(root, "error") != NULL);
    /* The id to answer an invalid request with. Never echo a response's id:
     * it names one of our requests, not one of the peer's. */
    json_t *err_id = valid_id(id) && !response_shaped ? id : NULL;

    if (!is_string_value(json_object_get(root, "jsonrpc"), "2.0")) {
        set_error(err, LSP_ERR_INVALID_REQUEST, err_id, "\"jsonrpc\" must be \"2.0\"");
        return -1;
    }
    if (id != NULL && !valid_id(id) && !(json_is_null(id) && response_shaped)) {
        set_error(err, LSP_ERR_INVALID_REQUEST, NULL,
                  json_is_null(id) ? "\"id\" null is only valid in an error response"
                                   : "\"id\" must be an integer or a string");
        return -1;
    }
    if (response_shaped)
        return decode_response(root, id, out, err);
    if (method == NULL) {
        set_error(err, LSP_ERR_INVALID_REQUEST, err_id,
                  "neither \"method\" nor \"result\"/\"error\"");
        return -1;
    }
    return decode_call(root, id, method, out, err);
}

int lsp_msg_decode(const char *body, size_t len, lsp_msg *out, lsp_rpc_error *err)
{
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    json_error_t je;
    memset(&je, 0, sizeof je);
    pthread_once(&alloc_once, install_alloc);
    unsigned long failed_before = alloc_failures;
    parsing = 1;
    json_t *root = json_loadb(body != NULL ? body : "", body != NULL ? len : 0,
                              JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY,
                              &je);
    parsing = 0;
    if (alloc_failures != failed_before) {
        /* Whatever jansson made of the body, it is not the body. */
        json_decref(root);
        set_error(err, LSP_ERR_INTERNAL, NULL, "out of memory while parsing");
        return -1;
    }
    if (root == NULL)
        return parse_failed(&je, err);
    int rc;
    if (json_is_array(root)) {
        set_error(err, LSP_ERR_INVALID_REQUEST, NULL, "batch requests are not supported");
        rc = -1;
    } else if (!json_is_object(root)) {
        set_error(err, LSP_ERR_INVALID_REQUEST, NULL, "message is not a JSON object");
        rc = -1;
    } else {
        rc = classify(root, out, err);
    }
    if (rc != 0) {
        json_decref(root);
        memset(out, 0, sizeof *out);
        return -1;
    }
    out->root = root;
    return 0;
}

void lsp_msg_clear(lsp_msg *m)
{
    if (m == NULL)
        return;
    json_decref(m->root);
    memset(m, 0, sizeof *m);
}

void lsp_rpc_error_clear(lsp_rpc_error *e)
{
    if (e == NULL)
        return;
    json_decref(e->id);
    e->id = NULL;
}

// ---------------------------------------------------------------- encoding

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} out_buf;

static int out_append(const char *s, size_t n, void *data)
{
    out_buf *b = data;
    if (n >= b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 256;
        while (n >= cap - b->len) {
            if (cap > SIZE_MAX / 2) {
                b->oom = 1;
                return -1;
            }
            cap *= 2;
        }
        char *np = realloc(b->p, cap);
        if (np == NULL) {
            b->oom = 1;
            return -1;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* Dumps and releases obj (a new reference, NULL when building it failed). */
static char *dump_owned(json_t *obj, size_t *len)
{
    if (obj == NULL)
        return NULL;
    out_buf b = {0};
    int rc = json_dump_callback(obj, out_append, &b, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (rc != 0 || b.oom || b.p == NULL) {
        free(b.p);
        return NULL;
    }
    if (len != NULL)
        *len = b.len;
    return b.p;
}

/* {"jsonrpc":"2.0"} plus, when with_id, "id" (NULL: null). */
static json_t *envelope(int with_id, json_t *id)
{
    json_t *o = json_object();
    if (o == NULL || json_object_set_new(o, "jsonrpc", json_string("2.0")) != 0)
        goto fail;
    if (with_id && json_object_set_new(o, "id", id != NULL ? json_incref(id) : json_null()) != 0)
        goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

/* Sets key to a borrowed value (NULL: leave absent). Returns 0 or -1. */
static int set_borrowed(json_t *o, const char *key, json_t *v)
{
    return v == NULL ? 0 : json_object_set(o, key, v);
}

/* A JSON string of s with every invalid UTF-8 byte replaced by U+FFFD, so an
 * error message built from untrusted bytes can always be sent. */
static json_t *string_lossy(const char *s)
{
    size_t n = strlen(s);
    json_t *j = json_stringn(s, n);
    if (j != NULL || n > SIZE_MAX / 3)
        return j;
    char *fixed = malloc(n * 3 + 1);
    if (fixed == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = lsp_utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (cp == 0xFFFD && k == 1 && (unsigned char)s[i] >= 0x80) {
            memcpy(fixed + o, "\xEF\xBF\xBD", 3);
            o += 3;
        } else {
            memcpy(fixed + o, s + i, k);
            o += k;
        }
        i += k;
    }
    j = json_stringn(fixed, o);
    free(fixed);
    return j;
}

char *lsp_encode_result(json_t *id, json_t *result, size_t *len)
{
    json_t *o = envelope(1, id);
    if (o == NULL)
        return NULL;
    int rc = result != NULL ? json_object_set(o, "result", result)
                            : json_object_set_new(o, "result", json_null());
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return dump_owned(o, len);
}

char *lsp_encode_error(json_t *id, int code, const char *message, json_t *data,
                       size_t *len)
{
    json_t *o = envelope(1, id);
    json_t *e = json_object();
    if (o == NULL || e == NULL ||
        json_object_set_new(e, "code", json_integer(code)) != 0 ||
        json_object_set_new(e, "message", string_lossy(message != NULL ? message : "")) != 0 ||
        set_borrowed(e, "data", data) != 0 ||
        json_object_set(o, "error", e) != 0) {
        json_decref(e);
        json_decref(o);
        return NULL;
    }
    json_decref(e);
    return dump_owned(o, len);
}

char *lsp_encode_notification(const char *method, json_t *params, size_t *len)
{
    if (method == NULL)
        return NULL;
    json_t *o = envelope(0, NULL);
    if (o == NULL || json_object_set_new(o, "method", json_string(method)) != 0 ||
        set_borrowed(o, "params", params) != 0) {
        json_decref(o);
        return NULL;
    }
    return dump_owned(o, len);
}

char *lsp_encode_request(json_t *id, const char *method, json_t *params, size_t *len)
{
    if (method == NULL || !valid_id(id))
        return NULL;
    json_t *o = envelope(1, id);
    if (o == NULL || json_object_set_new(o, "method", json_string(method)) != 0 ||
        set_borrowed(o, "params", params) != 0) {
        json_decref(o);
        return NULL;
    }
    return dump_owned(o, len);
}
