/* srv_log.h — the daemon's log: leveled lines to stderr (or --log-file), and
 * a hook so the LSP layer can mirror lines to the client as $/logTrace.
 *
 * The log is a documented singleton: one process, one log. stdout is never
 * written here (it carries the protocol).
 */
#ifndef SPARKD_SRV_LOG_H
#define SPARKD_SRV_LOG_H

#include <stdarg.h>

typedef enum { SRV_LOG_ERROR, SRV_LOG_WARN, SRV_LOG_INFO, SRV_LOG_DEBUG, SRV_LOG_TRACE } srv_log_level;

/* "error" | "warn" | "info" | "debug" | "trace" -> level; -1 if unknown. */
int srv_log_level_parse(const char *name, srv_log_level *out);
const char *srv_log_level_name(srv_log_level l);

void srv_log_set_level(srv_log_level l);
srv_log_level srv_log_get_level(void);
/* Appends to path (created 0600; an existing regular file of ours is made
 * 0600). Returns 0, or -1 with errno set; on failure the log stays on stderr. */
int srv_log_open_file(const char *path);
void srv_log_close(void);

/* Called for every line that passes the level filter (after it is written),
 * without the timestamp, but only for lines logged on the thread that set
 * the hook (the event loop): other threads' lines go to the log alone. Used
 * for $/logTrace. NULL to remove. Lines are formatted whole and written with
 * one call, so threads may log at once. */
typedef void (*srv_log_hook)(void *ud, srv_log_level l, const char *msg);
void srv_log_set_hook(srv_log_hook fn, void *ud);

void srv_log(srv_log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void srv_logv(srv_log_level l, const char *fmt, va_list ap);

#define srv_error(...) srv_log(SRV_LOG_ERROR, __VA_ARGS__)
#define srv_warn(...)  srv_log(SRV_LOG_WARN, __VA_ARGS__)
#define srv_info(...)  srv_log(SRV_LOG_INFO, __VA_ARGS__)
#define srv_debug(...) srv_log(SRV_LOG_DEBUG, __VA_ARGS__)

#endif
