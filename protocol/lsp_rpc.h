/* lsp_rpc.h — JSON-RPC 2.0 messages over jansson, as LSP uses them.
 *
 * Decoding classifies one message body into a request, notification or
 * response, or explains precisely why it is none of them with the JSON-RPC
 * error that the peer should get back. Batches (top-level arrays) are
 * rejected: LSP does not use them. Encoding produces compact JSON bodies
 * (without the frame header) that the caller owns and frees with free().
 * The first decode gives jansson a process-wide allocator (malloc/free that
 * count failures; see lsp_rpc.c): jansson does not report every failure.
 */
#ifndef SPARKD_LSP_RPC_H
#define SPARKD_LSP_RPC_H

#include <jansson.h>
#include <stddef.h>

/* Standard and LSP-reserved error codes. */
enum {
    LSP_ERR_PARSE             = -32700,
    LSP_ERR_INVALID_REQUEST   = -32600,
    LSP_ERR_METHOD_NOT_FOUND  = -32601,
    LSP_ERR_INVALID_PARAMS    = -32602,
    LSP_ERR_INTERNAL          = -32603,
    LSP_ERR_NOT_INITIALIZED   = -32002,
    LSP_ERR_UNKNOWN           = -32001,
    LSP_ERR_REQUEST_FAILED    = -32803,
    LSP_ERR_SERVER_CANCELLED  = -32802,
    LSP_ERR_CONTENT_MODIFIED  = -32801,
    LSP_ERR_REQUEST_CANCELLED = -32800,
};

typedef enum {
    LSP_MSG_REQUEST,        /* id + method (+ params) */
    LSP_MSG_NOTIFICATION,   /* method (+ params), no id */
    LSP_MSG_RESPONSE,       /* id + exactly one of result / error */
} lsp_msg_kind;

/* A decoded message. Every json_t pointer is borrowed from root; the whole
 * message is released with lsp_msg_clear(). Strings may contain U+0000
 * (documents can): use json_string_length(), not strlen(), on text. */
typedef struct {
    lsp_msg_kind kind;
    json_t *root;           /* owned: the parsed object */
    json_t *id;             /* integer or string; NULL for notifications and
                               for error responses with "id": null */
    const char *method;     /* requests and notifications; never holds U+0000 */
    json_t *params;         /* object or array, or NULL when absent or null */
    json_t *result;         /* responses: result (may be JSON null) or NULL */
    json_t *error;          /* responses: error object or NULL */
} lsp_msg;

/* Why a body could not be decoded. id is the request id when one could be
 * read (a new reference, or NULL: answer with id null). It is never set for a
 * body shaped like a response (no "method", has "result" or "error"): that id
 * names one of our own requests. */
typedef struct {
    int code;               /* LSP_ERR_PARSE or LSP_ERR_INVALID_REQUEST;
                               LSP_ERR_INTERNAL when any allocation failed
                               while parsing (never a half-read message) */
    char message[160];
    json_t *id;             /* owned; release with lsp_rpc_error_clear() */
} lsp_rpc_error;

/* Decodes len bytes of body. Returns 0 and fills *out, or -1 and fills *err.
 * Both are always initialised, so clearing both afterwards is always safe.
 * Rules:
 *  - LSP_ERR_PARSE: not valid UTF-8 JSON, a duplicate object key (the message
 *    could be read two ways), an object key containing U+0000, a number out
 *    of range (integers must fit int64), nesting deeper than jansson's limit
 *    (2048). The id is never recovered from such a body;
 *  - LSP_ERR_INVALID_REQUEST: a top-level array (batch) or scalar; "jsonrpc"
 *    missing or not "2.0"; id present but not an integer or string (null only
 *    in error responses; 1.0 is not an integer); "method" not a string or
 *    containing U+0000; "params" present but not object, array or null (null
 *    reads as absent); neither "method" nor "result"/"error"; a response
 *    without "id", with both "result" and "error", or with an "error" that is
 *    not {code: integer, message: string, ...}.
 * A body with "method" is a request (with "id") or a notification (without),
 * whatever other members it has; unknown members are ignored. */
int lsp_msg_decode(const char *body, size_t len, lsp_msg *out, lsp_rpc_error *err);
void lsp_msg_clear(lsp_msg *m);
void lsp_rpc_error_clear(lsp_rpc_error *e);

/* Encoders. Each returns a malloc'd NUL-terminated compact JSON body and its
 * length in *len (len may be NULL), or NULL on out of memory. Members come in
 * the order jsonrpc, id, then result / error / method / params. id may be NULL
 * (encoded as null), except for lsp_encode_request, which needs an integer or
 * string id and returns NULL otherwise. `result`/`params`/`data` are borrowed
 * (not stolen); NULL means JSON null for result and "absent" for params/data.
 * A method that is NULL or not valid UTF-8 gives NULL; an error message that
 * is not valid UTF-8 is sent with U+FFFD for each bad byte. */
char *lsp_encode_result(json_t *id, json_t *result, size_t *len);
char *lsp_encode_error(json_t *id, int code, const char *message, json_t *data,
                       size_t *len);
char *lsp_encode_notification(const char *method, json_t *params, size_t *len);
char *lsp_encode_request(json_t *id, const char *method, json_t *params, size_t *len);

#endif
