/* main.c — the sparkd command line: subcommand dispatch, flags, --help.
 *
 * Exit codes everywhere: 0 ok, 1 runtime error, 2 usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"
#include "cli.h"
#include "kvc.h"
#include "sparkd_config.h"
#include "srv_config.h"
#include "srv_io.h"
#include "srv_log.h"
#include "srv_sandbox.h"

static const char USAGE[] =
    "usage: sparkd [--help] [--version] COMMAND [ARGS]\n"
    "\n"
    "sparkd is a local code-completion daemon: editors start `sparkd lsp`.\n"
    "\n"
    "commands:\n"
    "  lsp        language server on stdin/stdout (logs to stderr)\n"
    "  complete   the completion at FILE LINE COL (what an editor would show)\n"
    "  generate   plain generation from a prompt (model checks)\n"
    "  tokenize   print the token ids of a text\n"
    "  model info GGUF metadata, tensors, tokenizer, FIM tokens\n"
    "  bench      benchmarks (JSON to bench/results/)\n"
    "  cache      stats|clear|vacuum of the SQLite KV cache\n"
    "  device     device figures; placement and PROJECTED speed on the emulated wafer\n"
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
    "  --cache PATH       KV cache file (default $XDG_CACHE_HOME/sparkd/kv.sqlite3)\n"
    "  --no-cache         no KV cache\n"
    "  --cache-size S     cap of the cache file (default 1G)\n"
    "  --cache-mem S      cap of the cache's in-memory tier (default 256M)\n"
    "  --threads N        worker threads (0 = all cores)\n"
    "  -n N               max new tokens per completion\n"
    "  --temp T           sampling temperature (0 = greedy)\n"
    "  --seed S           sampling seed\n"
    "  --debounce-ms N    per-document debounce of completion requests\n"
    "  --quick-start-tokens N  typing where nothing is computed yet (a file just\n"
    "                     opened): first answer from a prompt of N tokens while\n"
    "                     the full one is computed for the next keystroke\n"
    "                     (default 96; 0 = off)\n"
    "  --timeout-ms N     a completion while typing answers with what it has\n"
    "                     after N ms, an explicitly invoked one after 3N\n"
    "                     (default 1000; raise it for a slow machine or model)\n"
    "  --no-engine        serve LSP without loading a model (no completions)\n"
    "  --fim-order O      auto|psm|spm: prompt order (auto: the model's own)\n"
    "  --max-open-documents N  most documents open at once (default 1000)\n"
    "  --max-open-bytes N      most bytes in all open documents together (default 536870912)\n"
    "  --no-sandbox       no seccomp filter (by default sockets and exec are refused)\n"
    "  -h, --help         this help\n"
    "\n"
    "Every option can also come from the client as initializationOptions or\n"
    "workspace/didChangeConfiguration settings (snake_case names, e.g. log_level);\n"
    "an option given here wins over the client's.\n";

static int cmd_lsp(int argc, char **argv)
{
    srv_config cfg;
    srv_config_defaults(&cfg);
    const char *no_sandbox = NULL;
    const cli_flag extras[] = { { "no_sandbox", &no_sandbox, 1 } };
    if (cli_parse(&cfg, argc, argv, LSP_USAGE, extras, 1, NULL, 0) < 0) return 2;
    int rc;
    srv_log_level level;
    srv_log_level_parse(cfg.log_level, &level);
    srv_log_set_level(level);
    if (cfg.log_file[0] && srv_log_open_file(cfg.log_file)) {
        perror(cfg.log_file);
        fprintf(stderr, "sparkd: cannot open the log file; check the path and its directory's permissions\n");
        return 1;
    }
    /* Start-up is done (flags read, log open); no thread runs yet, so every
     * thread the server starts inherits the filter. */
    char err[256];
    if (no_sandbox) srv_info("sandbox: off (--no-sandbox)");
    else if (srv_sandbox_install(err, sizeof err)) {
        srv_error("sandbox: cannot install the seccomp filter: %s", err);
        srv_log_close();
        return 1;
    } else srv_info("sandbox: on (seccomp: %s)", srv_sandbox_summary());
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
    if (!strcmp(cmd, "generate")) return cmd_generate(argc - 2, argv + 2);
    if (!strcmp(cmd, "complete")) return cmd_complete(argc - 2, argv + 2);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc - 2, argv + 2);
    if (!strcmp(cmd, "model")) return cmd_model(argc - 2, argv + 2);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 2, argv + 2);
    if (!strcmp(cmd, "cache")) return cmd_cache(argc - 2, argv + 2);
    if (!strcmp(cmd, "device")) return cmd_device(argc - 2, argv + 2);
    fprintf(stderr, "sparkd: unknown command '%s'\n%s", cmd, USAGE);
    return 2;
}
