/* srv_config.h — the one configuration struct of the daemon.
 *
 * Values come, in increasing priority, from the defaults, the LSP client
 * (`initializationOptions`, then `workspace/didChangeConfiguration` settings,
 * either flat or under a "sparkd" key) and the command line. A command-line
 * flag pins its field: later client settings do not override it. Names are
 * the CLI flag names in snake_case (`--log-level` -> "log_level").
 */
#ifndef SPARKD_SRV_CONFIG_H
#define SPARKD_SRV_CONFIG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define SRV_PATH_MAX 4096

typedef struct {
    char log_level[16];         /* error|warn|info|debug|trace */
    char log_file[SRV_PATH_MAX];/* empty: stderr */
    size_t max_message;         /* largest accepted frame body, bytes */
    char model[SRV_PATH_MAX];   /* main model GGUF; empty: bundled default */
    char draft[SRV_PATH_MAX];   /* draft model GGUF, "none", or empty: bundled */
    char device[128];           /* cpu | wse[:opts] */
    char cache[SRV_PATH_MAX];   /* KV cache file; empty: $XDG_CACHE_HOME/sparkd/kv.sqlite3 */
    int no_cache;               /* 1: never touch the cache */
    int threads;                /* 0: all cores */
    int n_predict;              /* max new tokens per completion */
    double temp;                /* 0: greedy */
    uint64_t seed;
    int debounce_ms;            /* per-document debounce of completion requests */
    int quick_start_tokens;     /* typing with nothing computed: answer from a prompt this
                                   short first (eng_request.quick_start); 0: off */
    int timeout_ms;             /* an as-you-type completion answers with what it has after
                                   this long; an invoked one after 3x */
    int no_engine;              /* 1: serve LSP without loading any model */
    char fim_order[8];          /* auto | psm | spm */
    char cache_size[24];        /* cap of the KV cache file: "1G", "512M", bytes */
    char cache_mem[24];         /* cap of the cache's in-memory tier: "256M" */
    int max_open_documents;     /* didOpen beyond this many documents is refused */
    size_t max_open_bytes;      /* edits that grow all open documents past this are refused */
    uint32_t pinned;            /* bit per field set on the command line */
} srv_config;

/* Field ids (bit positions in `pinned`). */
enum {
    SRV_CFG_LOG_LEVEL, SRV_CFG_LOG_FILE, SRV_CFG_MAX_MESSAGE, SRV_CFG_MODEL, SRV_CFG_DRAFT,
    SRV_CFG_DEVICE, SRV_CFG_CACHE, SRV_CFG_NO_CACHE, SRV_CFG_THREADS, SRV_CFG_N_PREDICT,
    SRV_CFG_TEMP, SRV_CFG_SEED, SRV_CFG_DEBOUNCE_MS, SRV_CFG_NO_ENGINE, SRV_CFG_FIM_ORDER, SRV_CFG_CACHE_SIZE,
    SRV_CFG_MAX_OPEN_DOCUMENTS, SRV_CFG_MAX_OPEN_BYTES, SRV_CFG_CACHE_MEM, SRV_CFG_QUICK_START_TOKENS,
    SRV_CFG_TIMEOUT_MS, SRV_CFG_COUNT
};

void srv_config_defaults(srv_config *c);

/* Sets field `name` (snake_case) from a string, as a command-line flag does,
 * and pins it. Returns 0, or -1 with a reason in err (unknown name, bad value). */
int srv_config_set(srv_config *c, const char *name, const char *value, char *err, size_t errlen);

/* 1 if name (snake_case) is a configuration field, else 0. */
int srv_config_known(const char *name);

/* Applies a JSON object of settings from the client. Unknown keys are
 * ignored; a value of the wrong type or out of range leaves the field as it
 * was. Each rejected key is described in warn (one "key: reason; " each,
 * truncated to warnlen). Returns the number of fields changed. */
int srv_config_apply_json(srv_config *c, json_t *settings, char *warn, size_t warnlen);

/* Resolves a model path: `configured` if set, else the bundled file `name`
 * (e.g. "sparkd-main.gguf") from $SPARKD_MODELS, else the models/ folder
 * beside the binary's build or install directory. Writes into out. */
void srv_model_path(const char *configured, const char *name, char *out, size_t outlen);

/* fim_order as an eng_fim_order value (0 PSM, 1 SPM), or -1 for auto. */
int srv_config_fim_order(const srv_config *c);

/* The configuration as a JSON object (new reference). */
json_t *srv_config_to_json(const srv_config *c);

#endif
