/* bench.h — `sparkd bench NAME`: benchmarks that write DIR/NAME.json (every
 * timing key names its unit; comparisons are ratios measured in one run) and
 * print the same figures as a table. */
#ifndef SPARKD_BENCH_H
#define SPARKD_BENCH_H

#include <jansson.h>
#include <stdint.h>
#include "gguf.h"

/* Shape of a random-weight llama/qwen2 model for benchmarks. */
typedef struct {
    const char *name;
    const char *arch;       /* "llama" | "qwen2" */
    int dim, layers, heads, kv_heads, ffn, vocab;
    int tied;
} bench_shape;

/* Writes a random-weight model of `shape` with 2-D weights of `type` to
 * path (tokenizer: 256 byte tokens, the Qwen FIM specials, filler). Returns 0,
 * or -1 with err set. */
int bench_write_model(const char *path, const bench_shape *shape, gguf_type type, uint64_t seed,
                      char *err, size_t errlen);

/* Writes json to DIR/NAME.json (DIR created if missing). Returns 0 or -1. */
int bench_save(const char *dir, const char *name, json_t *json);
double bench_now_ms(void);

int bench_engine(int argc, char **argv);
int bench_spec(int argc, char **argv);
int bench_cache(int argc, char **argv);
int bench_device(int argc, char **argv);
int bench_grammars(int argc, char **argv);
int bench_rewrite(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
