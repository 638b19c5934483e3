/* bench_matmul: each CPU kernel level's matmul on gpt-oss-20b shapes, the
 * levels interleaved call by call so a shared machine's load falls on all
 * of them alike.
 *
 *   bench_matmul [--threads N] [--reps N] [--quick] [--cpu-time]
 *
 * Shapes (weights random; several copies of the small ones, cycled, so every
 * call reads its weights from memory as a decode step does):
 *   lm_head   bf16 [201088, 2880]          R = 1, 8
 *   q_proj    bf16 [4096, 2880] x 64       R = 1, 8, 128
 *   gate_up   MXFP4 [5760, 2880] x 32      R = 1, 4, 16
 *   down      MXFP4 [2880, 2880] x 32      R = 1, 16
 * For each shape, R and level: the best time of --reps calls, the weight
 * bytes read per second and the multiply-adds per second. --quick drops
 * lm_head (1.16 GB) for a fast look. --cpu-time (with --threads 1) times the
 * calling thread's CPU time instead of the wall clock: the kernels' own cost,
 * which other processes on a shared machine barely change (memory stalls
 * included, time waiting for a core not). */
#include "drivers/cuda/backends/cpu/cpu_features.h"
#include "drivers/cuda/model/backend.h"
#include "tests/bench/bench_util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_COPIES 64
#define MAX_ROWS 128

static clockid_t clock_id = CLOCK_MONOTONIC; /* or the thread's CPU clock */

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static uint32_t next32(void)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng >> 32);
}

/* One benchmark shape: `copies` weight matrices of one format. */
typedef struct shape {
    const char *name; /* label */
    fk_wfmt fmt;      /* FK_W_BF16 or FK_W_MXFP4 */
    int n, k;         /* outputs, inputs */
    int copies;       /* distinct matrices cycled through */
    int rows[4];      /* R values (0 ends the list) */
} shape;

/* Random bytes for `copies` matrices (bf16 values near 1, or any MXFP4 codes
 * with scales near 1); NULL when out of memory. */
static uint8_t *make_weights(const shape *s, uint8_t **scales)
{
    size_t vals = (size_t)s->n * s->k * s->copies;
    size_t bytes = s->fmt == FK_W_MXFP4 ? vals / 2 : vals * 2;
    uint8_t *w = malloc(bytes);
    *scales = s->fmt == FK_W_MXFP4 ? malloc(vals / 32) : NULL;
    if (!w || (s->fmt == FK_W_MXFP4 && !*scales)) {
        free(w);
        free(*scales);
        return NULL;
    }
    for (size_t i = 0; i + 4 <= bytes; i += 4) {
        uint32_t r = next32();
        if (s->fmt == FK_W_BF16) r = (r & 0x807F807Fu) | 0x3F003F00u; /* +-[0.5, 1) */
        memcpy(w + i, &r, 4);
    }
    for (size_t i = 0; *scales && i < vals / 32; i++) (*scales)[i] = (uint8_t)(120 + next32() % 8);
    return w;
}

static void usage(FILE *f)
{
    fputs("usage: bench_matmul [--threads N] [--reps N] [--quick] [--cpu-time]\n", f);
}

int main(int argc, char **argv)
{
    int threads = 0, reps = 5, quick = 0;
    static const struct option opts[] = {
        {"threads", required_argument, NULL, 't'}, {"reps", required_argument, NULL, 'r'},
        {"quick", no_argument, NULL, 'q'},         {"cpu-time", no_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "t:r:qch", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            threads = atoi(optarg);
            break;
        case 'r':
            reps = atoi(optarg);
            break;
        case 'q':
            quick = 1;
            break;
        case 'c':
            clock_id = CLOCK_THREAD_CPUTIME_ID;
            break;
        default: /* --help, or an option not known */
            return bench_usage_exit(c, usage);
        }
    }
    if (reps < 1) {
        usage(stderr);
        return 2;
    }
    const shape shapes[] = {
        {"lm_head", FK_W_BF16, 201088, 2880, 1, {1, 2, 4, 8}},
        {"q_proj", FK_W_BF16, 4096, 2880, 64, {1, 2, 8, 128}},
        {"gate_up", FK_W_MXFP4, 5760, 2880, 32, {1, 4, 8, 16}},
        {"down", FK_W_MXFP4, 2880, 2880, 32, {1, 16, 0}},
    };
    fk_cpu_level best = fk_cpu_best();
    fk_backend *be[FK_CPU_AMX + 1] = {0};
    char err[256];
    for (int l = 0; l <= (int)best; l++) {
        fk_cpu_kernels_choose(fk_cpu_level_name((fk_cpu_level)l), err, sizeof err);
        be[l] = fk_backend_cpu_new(threads);
        if (!be[l]) {
            fprintf(stderr, "bench_matmul: cannot start a backend\n");
            return 1;
        }
    }
    printf("levels generic..%s, %d threads, best of %d calls, %s\n", fk_cpu_level_name(best),
           fk_backend_cpu_threads(be[0]), reps,
           clock_id == CLOCK_MONOTONIC ? "wall clock" : "CPU time of the calling thread");
    float *x = malloc((size_t)MAX_ROWS * 5760 * sizeof *x);
    float *y = malloc((size_t)MAX_ROWS * 201088 * sizeof *y);
    if (!x || !y) return 1;
    for (size_t i = 0; i < (size_t)MAX_ROWS * 5760; i++) x[i] = (float)(next32() % 2001) / 1000 - 1;
    for (size_t si = quick ? 1 : 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const shape *s = &shapes[si];
        uint8_t *scales = NULL, *w = make_weights(s, &scales);
        if (!w) {
            fprintf(stderr, "bench_matmul: out of memory for %s\n", s->name);
            return 1;
        }
        size_t per = s->fmt == FK_W_MXFP4 ? (size_t)s->n * s->k / 2 : (size_t)s->n * s->k * 2;
        double bytes = (double)per + (s->fmt == FK_W_MXFP4 ? (double)s->n * s->k / 32 : 0);
        for (int ri = 0; ri < 4 && s->rows[ri]; ri++) {
            int R = s->rows[ri];
            double t_best[FK_CPU_AMX + 1];
            for (int l = 0; l <= (int)best; l++) t_best[l] = 1e30;
            for (int it = 0; it < reps + 1; it++)
                for (int l = 0; l <= (int)best; l++) {
                    int cp = (it * ((int)best + 1) + l) % s->copies;
                    fk_wmat m = {s->fmt, s->n, s->k, w + (size_t)cp * per,
                                 scales ? scales + (size_t)cp * s->n * (s->k / 32) : NULL};
                    double t = bench_clock_s(clock_id);
                    be[l]->ops->matmul(be[l], y, x, &m, NULL, R);
                    t = bench_clock_s(clock_id) - t;
                    if (it > 0 && t < t_best[l]) t_best[l] = t;
                }
            for (int l = 0; l <= (int)best; l++)
                printf("%-8s %-6s R=%-4d %-8s %8.3f ms  %6.1f GB/s  %7.1f GMAC/s\n", s->name,
                       s->fmt == FK_W_MXFP4 ? "mxfp4" : "bf16", R,
                       fk_cpu_level_name((fk_cpu_level)l), t_best[l] * 1e3, bytes / t_best[l] / 1e9,
                       (double)s->n * s->k * R / t_best[l] / 1e9);
        }
        free(w);
        free(scales);
    }
    for (int l = 0; l <= (int)best; l++) be[l]->ops->free(be[l]);
    free(x);
    free(y);
    return 0;
}
