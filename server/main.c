/* main.c — the sparkd command line: subcommand dispatch, flags, --help.
 *
 * Exit codes everywhere: 0 ok, 1 runtime error, 2 usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "sparkd_config.h"
#include "srv_config.h"
#include "srv_io.h"
#include "srv_log.h"

static const char USAGE[] =
    "usage: sparkd [--help] [--version] COMMAND [ARGS]\n"
    "\n"
    "sparkd is a local code-completion daemon: editors start `sparkd lsp`.\n"
    "\n"
    "commands:\n"
    "  lsp        language server on stdin/stdout (logs to stderr)\n"
    "\n"
    "Run `sparkd COMMAND --help` for a command's options.\n"
    "Exit codes: 0 ok, 1 runtime error, 2 usage error.\n";

static const char LSP_USAGE[] =
    "usage: sparkd lsp [OPTIONS]\n"
    "\n"
    "Serve the Language Server Protocol on stdin/stdout. Logs go to stderr.\n"
    "Editors start this command; see README.md for Neovim and VS Code set-up.\n"
    "\n"
    "options:\n"
    "  --log-level L      error|warn|info|debug|trace (default info)\n"
    "  --log-file PATH    append the log to PATH instead of stderr\n"
    "  --max-message N    largest accepted message body in bytes (default 67108864)\n"
    "  --model PATH       main model (GGUF)\n"
    "  --draft PATH|none  draft model for speculative decoding\n"
    "  --device D         cpu | wse[:opts] (default wse)\n"
    "  --cache PATH       KV cache file; --no-cache disables it\n"
    "  --threads N        worker threads (0 = all cores)\n"
    "  -n N               max new tokens per completion\n"
    "  --temp T           sampling temperature (0 = greedy)\n"
    "  --seed S           sampling seed\n"
    "  --debounce-ms N    per-document debounce of completion requests\n"
    "  -h, --help         this help\n"
    "\n"
    "Every option can also come from the client as initializationOptions or\n"
    "workspace/didChangeConfiguration settings (snake_case names, e.g. log_level);\n"
    "an option given here wins over the client's.\n";

/* Parses `--flag VALUE` / `--flag=VALUE` / `-n N` into cfg. Returns 0, or 2
 * after printing a usage error. */
static int parse_model_flags(srv_config *cfg, int argc, char **argv, const char *usage)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage, stdout); exit(0); }
        if (!strcmp(a, "--no-cache")) { srv_config_set(cfg, "no_cache", "true", NULL, 0); continue; }
        if (a[0] != '-') { fprintf(stderr, "sparkd: unexpected argument '%s'\n%s", a, usage); return 2; }
        char name[64];
        const char *val = NULL;
        if (!strcmp(a, "-n")) {
            strcpy(name, "n_predict");
        } else if (!strncmp(a, "--", 2)) {
            const char *eq = strchr(a, '=');
            size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            if (n == 0 || n >= sizeof name) { fprintf(stderr, "sparkd: bad option '%s'\n%s", a, usage); return 2; }
            memcpy(name, a + 2, n);
            name[n] = 0;
            for (char *p = name; *p; p++) if (*p == '-') *p = '_';
            if (eq) val = eq + 1;
        } else {
            fprintf(stderr, "sparkd: unknown option '%s'\n%s", a, usage);
            return 2;
        }
        if (!val) {
            if (i + 1 >= argc) { fprintf(stderr, "sparkd: option '%s' needs a value\n", a); return 2; }
            val = argv[++i];
        }
        char err[256];
        if (srv_config_set(cfg, name, val, err, sizeof err)) {
            fprintf(stderr, "sparkd: %s (option '%s')\nRun `sparkd lsp --help` for the options.\n", err, a);
            return 2;
        }
    }
    return 0;
}

static int cmd_lsp(int argc, char **argv)
{
    srv_config cfg;
    srv_config_defaults(&cfg);
    int rc = parse_model_flags(&cfg, argc, argv, LSP_USAGE);
    if (rc) return rc;
    srv_log_level level;
    srv_log_level_parse(cfg.log_level, &level);
    srv_log_set_level(level);
    if (cfg.log_file[0] && srv_log_open_file(cfg.log_file)) {
        perror(cfg.log_file);
        fprintf(stderr, "sparkd: cannot open the log file; check the path and its directory's permissions\n");
        return 1;
    }
    rc = srv_io_run(&cfg, STDIN_FILENO, STDOUT_FILENO);
    srv_log_close();
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) { fputs(USAGE, stderr); return 2; }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) { fputs(USAGE, stdout); return 0; }
    if (!strcmp(cmd, "--version")) { printf("sparkd %s\n", SPARKD_VERSION); return 0; }
    if (!strcmp(cmd, "lsp")) return cmd_lsp(argc - 2, argv + 2);
    fprintf(stderr, "sparkd: unknown command '%s'\n%s", cmd, USAGE);
    return 2;
}
