/* lsp_rpc.h — JSON-RPC 2.0 messages over jansson, as LSP uses them.
 *
 * Decoding classifies one message body into a request, notification or
 * response, or explains precisely why it is none of them with the JSON-RPC
 * error that the peer should get back. Batches (top-level arrays) are
 * rejected: LSP does not use them. Encoding produces compact JSON bodies
 * (without the frame header) that the caller owns and frees with free().
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
 * message is released with lsp_msg_clear(). */
typedef struct {
    lsp_msg_kind kind;
    json_t *root;           /* owned: the parsed object */
    json_t *id;             /* integer or string; NULL for notifications */
    const char *method;     /* requests and notifications */
    json_t *params;         /* object or array, or NULL when absent */
    json_t *result;         /* responses: result (may be JSON null) or NULL */
    json_t *error;          /* responses: error object or NULL */
} lsp_msg;

/* Why a body could not be decoded. id is the request id when one could be
 * read (a new reference, or NULL: answer with id null). */
typedef struct {
    int code;               /* LSP_ERR_PARSE or LSP_ERR_INVALID_REQUEST */
    char message[160];
    json_t *id;             /* owned; release with lsp_rpc_error_clear() */
} lsp_rpc_error;

/* Decodes len bytes of body. Returns 0 and fills *out, or -1 and fills *err.
 * Rules: body must be valid UTF-8 JSON; top level an object; "jsonrpc" must be
 * "2.0"; id, when present, an integer or string (null only in error
 * responses); method a string; params, when present, an object or array. */
int lsp_msg_decode(const char *body, size_t len, lsp_msg *out, lsp_rpc_error *err);
void lsp_msg_clear(lsp_msg *m);
void lsp_rpc_error_clear(lsp_rpc_error *e);

/* Encoders. Each returns a malloc'd NUL-terminated compact JSON body and its
 * length in *len, or NULL on out of memory. id may be NULL (encoded as null).
 * `result`/`params`/`data` are borrowed (not stolen); NULL means JSON null for
 * result and "absent" for params/data. */
char *lsp_encode_result(json_t *id, json_t *result, size_t *len);
char *lsp_encode_error(json_t *id, int code, const char *message, json_t *data,
                       size_t *len);
char *lsp_encode_notification(const char *method, json_t *params, size_t *len);
char *lsp_encode_request(json_t *id, const char *method, json_t *params, size_t *len);

#endif
