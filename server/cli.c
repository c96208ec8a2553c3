/* cli.c — shared flag parsing for every subcommand; see cli.h. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_flag *find_extra(const cli_flag *extras, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(extras[i].name, name)) return &extras[i];
    return NULL;
}

int cli_parse(srv_config *cfg, int argc, char **argv, const char *usage,
              const cli_flag *extras, int n_extras, char **pos, int max_pos)
{
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage, stdout); exit(0); }
        if (a[0] != '-' || !strcmp(a, "-")) {
            if (npos >= max_pos) { fprintf(stderr, "sparkd: unexpected argument '%s'\n%s", a, usage); return -2; }
            pos[npos++] = argv[i];
            continue;
        }
        char name[64];
        const char *val = NULL;
        if (!strcmp(a, "-n")) {
            strcpy(name, "n_predict");
        } else if (!strncmp(a, "--", 2)) {
            const char *eq = strchr(a, '=');
            size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            if (n == 0 || n >= sizeof name) { fprintf(stderr, "sparkd: bad option '%s'\n%s", a, usage); return -2; }
            memcpy(name, a + 2, n);
            name[n] = 0;
            for (char *p = name; *p; p++) if (*p == '-') *p = '_';
            if (eq) val = eq + 1;
        } else {
            fprintf(stderr, "sparkd: unknown option '%s'\n%s", a, usage);
            return -2;
        }
        const cli_flag *x = find_extra(extras, n_extras, name);
        if ((x && x->is_switch) || !strcmp(name, "no_cache") || !strcmp(name, "no_engine")) {
            if (val) { fprintf(stderr, "sparkd: option '--%s' takes no value\n", name); return -2; }
            if (x) *x->value = "1";
            else srv_config_set(cfg, name, "true", NULL, 0);
            continue;
        }
        if (!x && !srv_config_known(name)) {
            fprintf(stderr, "sparkd: unknown option '%s'\n%s", a, usage);
            return -2;
        }
        if (!val) {
            if (i + 1 >= argc) { fprintf(stderr, "sparkd: option '%s' needs a value\n", a); return -2; }
            val = argv[++i];
        }
        if (x) { *x->value = val; continue; }
        char err[256];
        if (srv_config_set(cfg, name, val, err, sizeof err)) {
            fprintf(stderr, "sparkd: %s (option '%s')\nRun the command with --help for its options.\n", err, a);
            return -2;
        }
    }
    return npos;
}

