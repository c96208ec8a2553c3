/* main.c — the sparkd command line: subcommand dispatch, --help, --version. */
#include <stdio.h>
#include <string.h>
#include "sparkd_config.h"

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

int main(int argc, char **argv)
{
    if (argc < 2) { fputs(USAGE, stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) { fputs(USAGE, stdout); return 0; }
    if (!strcmp(argv[1], "--version")) { printf("sparkd %s\n", SPARKD_VERSION); return 0; }
    fprintf(stderr, "sparkd: unknown command '%s'\n%s", argv[1], USAGE);
    return 2;
}
