/* dev_bench.c — a by-hand microbenchmark of the cpu device (not a test, not
 * built by default: `ninja -C BUILD engine/device/dev_bench`).
 *
 *   dev_bench [SPEC] [N_OUT N_IN]     default: cpu 4864 896
 *
 * Prints the streaming-read roofline (dev_probe_bandwidth), then for Q8_0,
 * Q4_0, F16 and (when N_IN is a multiple of 256) Q4_K, Q5_K, Q6_K weights: matvec (batch 1) with W hot in the cache and cold
 * (cycling over copies that together exceed the LLC, as the layers of a
 * model do), and a batch-32 matmul per token. Times are the best of a few
 * rounds: this machine is shared, medians wander.
 */
#include "dev.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define COLD_BYTES ((size_t)160 << 20)  /* well past a 32 MiB L3 */
#define ROUNDS 5

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double now(void) { return clock_s(CLOCK_MONOTONIC); }

/* CPU seconds per call of the last time_mm (all threads, spinning included):
 * on a loaded machine this, not wall time, shows what the kernel costs. */
static double last_cpu;

/* Best seconds per call of matmul over `copies` weight copies, `reps` passes. */
static double time_mm(dev_device *d, dev_dtype t, void **w, int copies, int n_out, int n_in,
                      const float *x, int batch, float *y, int reps)
{
    double best = 1e30;
    last_cpu = 1e30;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now(), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        for (int i = 0; i < reps; i++)
            for (int c = 0; c < copies; c++)
                if (dev_matmul(d, t, w[c], n_out, n_in, x, batch, y)) {
                    fprintf(stderr, "matmul: %s\n", dev_errmsg(d));
                    exit(1);
                }
        double s = (now() - t0) / ((double)reps * copies);
        double cs = (clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0) / ((double)reps * copies);
        best = s < best ? s : best;
        last_cpu = cs < last_cpu ? cs : last_cpu;
    }
    return best;
}

int main(int argc, char **argv)
{
    const char *spec = argc > 1 ? argv[1] : "cpu";
    int n_out = argc > 3 ? atoi(argv[2]) : 4864, n_in = argc > 3 ? atoi(argv[3]) : 896;
    char err[256];
    dev_device *d = dev_open(spec, err, sizeof err);
    if (!d) {
        fprintf(stderr, "dev_bench: %s\n", err);
        return 2;
    }
    dev_info info;
    dev_get_info(d, &info);
    double bw = dev_probe_bandwidth(d, 0);
    printf("device %s, %d threads, kernels %s; streaming read %.1f GB/s\n",
           info.name, info.threads, info.simd, bw);
    printf("W (%d x %d)  MB     matvec hot   matvec cold (GB/s, %% of probe)  batch-32/token speed-up  GFLOP/s (per CPU-s)\n",
           n_out, n_in);

    int batch = 32;
    float *src = malloc((size_t)n_out * n_in * sizeof *src);
    float *x = malloc((size_t)batch * n_in * sizeof *x), *y = malloc((size_t)batch * n_out * sizeof *y);
    srand(1);
    for (size_t i = 0; i < (size_t)n_out * n_in; i++)
        src[i] = (float)((double)rand() / RAND_MAX - 0.5);
    for (size_t i = 0; i < (size_t)batch * n_in; i++)
        x[i] = (float)((double)rand() / RAND_MAX - 0.5);

    const dev_dtype types[] = { DEV_Q8_0, DEV_Q4_0, DEV_F16, DEV_Q4_K, DEV_Q5_K, DEV_Q6_K };
    for (int ti = 0; ti < 6; ti++) {
        dev_dtype t = types[ti];
        if (!dev_row_bytes(t, n_in))
            continue;
        size_t rb = dev_row_bytes(t, n_in), wbytes = rb * (size_t)n_out;
        int copies = (int)(COLD_BYTES / wbytes) + 1;
        void **w = malloc((size_t)copies * sizeof *w);
        for (int c = 0; c < copies; c++) {
            w[c] = malloc(wbytes);
            for (int r = 0; r < n_out; r++)
                dev_quantize(t, src + (size_t)r * n_in, (char *)w[c] + r * rb, n_in);
        }
        int reps_hot = (int)(2e9 / (double)wbytes / 40) + 1;     /* ~50 ms per round */
        double hot = time_mm(d, t, w, 1, n_out, n_in, x, 1, y, reps_hot);
        double cold = time_mm(d, t, w, copies, n_out, n_in, x, 1, y, 1);
        double b32 = time_mm(d, t, w, 1, n_out, n_in, x, batch, y, reps_hot / 16 + 1);
        double flop = 2.0 * n_out * n_in * batch;
        printf("%-6s     %6.2f  %7.3f ms   %7.3f ms (%4.1f GB/s, %3.0f%%)     %7.4f ms   %5.1fx   %5.1f (%5.1f)\n",
               dev_dtype_name(t), wbytes / 1e6, hot * 1e3, cold * 1e3, wbytes / cold / 1e9,
               100 * wbytes / cold / 1e9 / bw, b32 / batch * 1e3, cold / (b32 / batch),
               flop / b32 / 1e9, flop / last_cpu / 1e9);
        for (int c = 0; c < copies; c++)
            free(w[c]);
        free(w);
    }
    free(src), free(x), free(y);
    dev_close(d);
    return 0;
}
