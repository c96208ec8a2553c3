/* cli.h — command-line helpers shared by the subcommands: flag parsing into
 * srv_config (the same names as the LSP settings) and the bundled-model path.
 */
#ifndef SPARKD_CLI_H
#define SPARKD_CLI_H

#include "srv_config.h"

/* A command-specific flag: "--name VALUE" stores VALUE (borrowed from argv)
 * in *value; a flag with is_switch set takes no value and stores "1". */
typedef struct {
    const char *name;       /* without the leading "--" */
    const char **value;
    int is_switch;
} cli_flag;

/* Parses argv into cfg (the shared model flags: --model, --draft, --device,
 * --threads, -n, --temp, --seed, --cache, --no-cache, --log-level ...) and
 * into extras. Positional arguments are collected into pos (at most max_pos).
 * `-h`/`--help` prints usage and exits 0. Returns the number of positional
 * arguments, or -2 after printing a usage error (the caller exits 2). */
int cli_parse(srv_config *cfg, int argc, char **argv, const char *usage,
              const cli_flag *extras, int n_extras, char **pos, int max_pos);

#define cli_model_path srv_model_path   /* srv_config.h */

/* Engine subcommands (cmd_engine.c). Each returns the process exit status. */
int cmd_model(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_complete(int argc, char **argv);
int cmd_device(int argc, char **argv);      /* cmd_device.c */

#endif
