/* srv_config.c — one table describes every field: name, kind, bounds, where it
 * lives. Parsing from flags and from JSON both go through it. */
#include "srv_config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kvc.h"
#include "srv_log.h"

typedef enum { K_STR, K_SIZE, K_INT, K_BOOL, K_DOUBLE, K_U64, K_LEVEL } kind;

typedef struct {
    const char *name;
    kind k;
    size_t off, size;        /* field offset; buffer size for strings */
    double lo, hi;           /* bounds for numbers */
} field;

#define F(id, nm, kd, member, l, h) \
    [id] = { nm, kd, offsetof(srv_config, member), sizeof(((srv_config *)0)->member), l, h }

_Static_assert(SRV_CFG_COUNT <= 32, "srv_config.pinned has one bit per field");

static const field FIELDS[SRV_CFG_COUNT] = {
    F(SRV_CFG_LOG_LEVEL, "log_level", K_LEVEL, log_level, 0, 0),
    F(SRV_CFG_LOG_FILE, "log_file", K_STR, log_file, 0, 0),
    F(SRV_CFG_MAX_MESSAGE, "max_message", K_SIZE, max_message, 1024, (double)(1u << 30)),
    F(SRV_CFG_MODEL, "model", K_STR, model, 0, 0),
    F(SRV_CFG_DRAFT, "draft", K_STR, draft, 0, 0),
    F(SRV_CFG_DEVICE, "device", K_STR, device, 0, 0),
    F(SRV_CFG_CACHE, "cache", K_STR, cache, 0, 0),
    F(SRV_CFG_NO_CACHE, "no_cache", K_BOOL, no_cache, 0, 1),
    F(SRV_CFG_THREADS, "threads", K_INT, threads, 0, 256),
    F(SRV_CFG_N_PREDICT, "n_predict", K_INT, n_predict, 1, 4096),
    F(SRV_CFG_TEMP, "temp", K_DOUBLE, temp, 0, 10),
    F(SRV_CFG_SEED, "seed", K_U64, seed, 0, 0),
    F(SRV_CFG_DEBOUNCE_MS, "debounce_ms", K_INT, debounce_ms, 0, 5000),
    F(SRV_CFG_NO_ENGINE, "no_engine", K_BOOL, no_engine, 0, 1),
    F(SRV_CFG_FIM_ORDER, "fim_order", K_STR, fim_order, 0, 0),
    F(SRV_CFG_CACHE_SIZE, "cache_size", K_STR, cache_size, 0, 0),
    F(SRV_CFG_MAX_OPEN_DOCUMENTS, "max_open_documents", K_INT, max_open_documents, 1, 1000000),
    F(SRV_CFG_MAX_OPEN_BYTES, "max_open_bytes", K_SIZE, max_open_bytes, 1024, (double)((uint64_t)1 << 40)),
    F(SRV_CFG_CACHE_MEM, "cache_mem", K_STR, cache_mem, 0, 0),
    F(SRV_CFG_QUICK_START_TOKENS, "quick_start_tokens", K_INT, quick_start_tokens, 0, 256),
    F(SRV_CFG_TIMEOUT_MS, "timeout_ms", K_INT, timeout_ms, 50, 600000),
};

void srv_config_defaults(srv_config *c)
{
    memset(c, 0, sizeof *c);
    strcpy(c->log_level, "info");
    c->max_message = (size_t)64 << 20;
    strcpy(c->device, "wse");   /* the emulated wafer: same numbers as cpu, plus projected timings */
    c->n_predict = 64;
    c->seed = 42;
    c->debounce_ms = 15;
    c->quick_start_tokens = 96;
    c->timeout_ms = 1000;
    strcpy(c->fim_order, "auto");
    strcpy(c->cache_size, "1G");
    strcpy(c->cache_mem, "256M");
    c->max_open_documents = 1000;
    c->max_open_bytes = (size_t)512 << 20;
}

static int find(const char *name)
{
    for (int i = 0; i < SRV_CFG_COUNT; i++)
        if (!strcmp(FIELDS[i].name, name)) return i;
    return -1;
}

/* Stores a parsed number after the bounds check. */
static int put_number(srv_config *c, const field *f, double v, char *err, size_t errlen)
{
    /* The cast is defined only below 2^63 in magnitude (larger doubles are all integers,
     * and out of every field's range); NaN (strtod reads "nan") is no integer, and fails
     * the range test below as well, for doubles too. */
    int castable = v >= -0x1p63 && v < 0x1p63;
    if (f->k != K_U64 && f->k != K_DOUBLE && (castable ? v != (double)(long long)v : v != v)) {
        snprintf(err, errlen, "%s must be an integer", f->name);
        return -1;
    }
    if (f->k != K_U64 && !(v >= f->lo && v <= f->hi)) {
        if (f->k == K_DOUBLE) snprintf(err, errlen, "%s must be between %g and %g", f->name, f->lo, f->hi);
        else snprintf(err, errlen, "%s must be between %.0f and %.0f", f->name, f->lo, f->hi);
        return -1;
    }
    char *p = (char *)c + f->off;
    switch (f->k) {
    case K_SIZE: *(size_t *)p = (size_t)v; break;
    case K_INT: case K_BOOL: *(int *)p = (int)v; break;
    case K_DOUBLE: *(double *)p = v; break;
    default: break;
    }
    return 0;
}

static int put_string(srv_config *c, const field *f, const char *s, char *err, size_t errlen)
{
    if (f->off == offsetof(srv_config, fim_order) && strcmp(s, "auto") && strcmp(s, "psm") && strcmp(s, "spm")) {
        snprintf(err, errlen, "%s must be auto, psm or spm", f->name);
        return -1;
    }
    if ((f->off == offsetof(srv_config, cache_size) || f->off == offsetof(srv_config, cache_mem)) &&
        kvc_parse_size(s) <= 0) {
        snprintf(err, errlen, "%s must be a size such as 512M or 2G, not '%s'", f->name, s);
        return -1;
    }
    if (f->k == K_LEVEL) {
        srv_log_level l;
        if (srv_log_level_parse(s, &l) != 0) {
            snprintf(err, errlen, "%s must be one of error, warn, info, debug, trace", f->name);
            return -1;
        }
    }
    if (strlen(s) >= f->size) {
        snprintf(err, errlen, "%s is too long (max %zu bytes)", f->name, f->size - 1);
        return -1;
    }
    strcpy((char *)c + f->off, s);
    return 0;
}

int srv_config_known(const char *name) { return find(name) >= 0; }

int srv_config_set(srv_config *c, const char *name, const char *value, char *err, size_t errlen)
{
    int id = find(name);
    if (id < 0) { snprintf(err, errlen, "unknown setting '%s'", name); return -1; }
    const field *f = &FIELDS[id];
    int rc;
    if (f->k == K_STR || f->k == K_LEVEL) {
        rc = put_string(c, f, value, err, errlen);
    } else if (f->k == K_BOOL) {
        int b = !strcmp(value, "1") || !strcmp(value, "true") ? 1
              : !strcmp(value, "0") || !strcmp(value, "false") ? 0 : -1;
        if (b < 0) { snprintf(err, errlen, "%s must be true or false", name); return -1; }
        *(int *)((char *)c + f->off) = b;
        rc = 0;
    } else if (f->k == K_U64) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(value, &end, 0);
        if (errno || end == value || *end || value[0] == '-') {
            snprintf(err, errlen, "%s must be a non-negative integer, not '%s'", name, value);
            return -1;
        }
        *(uint64_t *)((char *)c + f->off) = v;
        rc = 0;
    } else {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || *end) {
            snprintf(err, errlen, "%s must be a number, not '%s'", name, value);
            return -1;
        }
        rc = put_number(c, f, v, err, errlen);
    }
    if (rc == 0) c->pinned |= 1u << id;
    return rc;
}

static void append(char *buf, size_t cap, const char *s)
{
    size_t n = strlen(buf);
    if (n + 1 < cap) snprintf(buf + n, cap - n, "%s; ", s);
}

int srv_config_apply_json(srv_config *c, json_t *settings, char *warn, size_t warnlen)
{
    if (warnlen) warn[0] = 0;
    if (!json_is_object(settings)) return 0;
    json_t *nested = json_object_get(settings, "sparkd");
    if (json_is_object(nested)) settings = nested;
    int changed = 0;
    const char *key;
    json_t *v;
    json_object_foreach(settings, key, v) {
        int id = find(key);
        if (id < 0 || (c->pinned & (1u << id))) continue;
        const field *f = &FIELDS[id];
        char err[200] = "";
        int rc = -1;
        srv_config tmp = *c;   /* changes land only when valid */
        if (f->k == K_STR || f->k == K_LEVEL) {
            if (json_is_string(v)) rc = put_string(&tmp, f, json_string_value(v), err, sizeof err);
            else snprintf(err, sizeof err, "%s must be a string", key);
        } else if (f->k == K_BOOL) {
            if (json_is_boolean(v)) { *(int *)((char *)&tmp + f->off) = json_is_true(v); rc = 0; }
            else snprintf(err, sizeof err, "%s must be a boolean", key);
        } else if (f->k == K_U64) {
            if (json_is_integer(v) && json_integer_value(v) >= 0) {
                *(uint64_t *)((char *)&tmp + f->off) = (uint64_t)json_integer_value(v);
                rc = 0;
            } else snprintf(err, sizeof err, "%s must be a non-negative integer", key);
        } else {
            if (json_is_number(v)) rc = put_number(&tmp, f, json_number_value(v), err, sizeof err);
            else snprintf(err, sizeof err, "%s must be a number", key);
        }
        if (rc == 0) { *c = tmp; changed++; }
        else if (warnlen) append(warn, warnlen, err);
    }
    return changed;
}

json_t *srv_config_to_json(const srv_config *c)
{
    json_t *o = json_object();
    if (!o) return NULL;
    for (int i = 0; i < SRV_CFG_COUNT; i++) {
        const field *f = &FIELDS[i];
        const char *p = (const char *)c + f->off;
        json_t *v = NULL;
        switch (f->k) {
        case K_STR: case K_LEVEL: v = json_string(p); break;
        case K_SIZE: v = json_integer((json_int_t)*(const size_t *)p); break;
        case K_INT: v = json_integer(*(const int *)p); break;
        case K_BOOL: v = json_boolean(*(const int *)p); break;
        case K_DOUBLE: v = json_real(*(const double *)p); break;
        case K_U64: v = json_integer((json_int_t)*(const uint64_t *)p); break;
        }
        json_object_set_new(o, f->name, v);
    }
    return o;
}

void srv_model_path(const char *configured, const char *name, char *out, size_t outlen)
{
    if (configured && configured[0]) { snprintf(out, outlen, "%s", configured); return; }
    const char *env = getenv("SPARKD_MODELS");
    if (env && env[0]) { snprintf(out, outlen, "%s/%s", env, name); return; }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        /* build/sparkd -> ../models ; PREFIX/bin/sparkd -> ../share/sparkd/models */
        static const char *const REL[] = { "/../models/", "/../share/sparkd/models/", "/models/" };
        for (size_t i = 0; i < sizeof REL / sizeof *REL; i++) {
            snprintf(out, outlen, "%s%s%s", exe, REL[i], name);
            if (access(out, R_OK) == 0) return;
        }
    }
    snprintf(out, outlen, "models/%s", name);
}

int srv_config_fim_order(const srv_config *c)
{
    return !strcmp(c->fim_order, "psm") ? 0 : !strcmp(c->fim_order, "spm") ? 1 : -1;
}
