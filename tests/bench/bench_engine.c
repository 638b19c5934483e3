/* bench_engine: CPU speed of the native engine against this machine's memory
 * bandwidth.
 *
 *   bench_engine --model DIR [--prompt N] [--steps N] [--batch B]...
 *                [--threads N] [--bw-mib N] [--kernels LEVEL]
 *
 * Reports: memory read bandwidth (a streaming read over a buffer much larger
 * than the caches, on the engine's own thread pool, best of 5), prefill
 * tokens/s for an N-token prompt, decode tokens/s at each batch size, RSS,
 * and decode speed as a fraction of the bandwidth limit
 * bandwidth / fk_model_bytes_per_token (at batch B the fraction is of one
 * step's weight bytes at batch 1; batching then shows as tokens/s above the
 * batch-1 limit). Token ids are arbitrary (the
 * weights are random); the work does not depend on them. --kernels picks
 * the CPU matmul kernels (FK_CPU_KERNELS: auto, amx, avx512, generic). */
#include "drivers/cuda/backends/cpu/cpu_features.h"
#include "drivers/cuda/backends/cpu/threadpool.h"
#include "drivers/cuda/checkpoint/checkpoint.h"
#include "drivers/cuda/model/model.h"
#include "tests/bench/bench_util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BATCHES 8

/* ---- bandwidth ------------------------------------------------------------------------ */

/* A streaming read: buf split into per-task ranges, each summed with eight
 * independent 8-lane accumulators (vectorised; the sums are kept so the
 * reads cannot be dropped). */
typedef struct bw_job {
    const float *buf; /* the buffer */
    int64_t per_task; /* floats per task (multiple of 64) */
    double sums[64];  /* per thread, so nothing is optimised away */
} bw_job;

static void bw_task(void *ctx, int64_t t0, int64_t t1, int thread)
{
    bw_job *j = ctx;
    float acc[64] = {0};
    for (int64_t t = t0; t < t1; t++) {
        const float *p = j->buf + t * j->per_task;
        for (int64_t i = 0; i < j->per_task; i += 64)
            for (int l = 0; l < 64; l++) acc[l] += p[i + l];
    }
    double s = 0;
    for (int l = 0; l < 64; l++) s += acc[l];
    j->sums[thread % 64] += s;
}

/* Best-of-5 read bandwidth in bytes/s over `mib` MiB with the pool. */
static double measure_bandwidth(fk_pool *pool, size_t mib)
{
    size_t n = mib << 18; /* floats */
    float *buf = NULL;
    if (posix_memalign((void **)&buf, 64, n * sizeof *buf) != 0) return 0;
    for (size_t i = 0; i < n; i++) buf[i] = (float)(i & 7);
    bw_job j;
    memset(&j, 0, sizeof j);
    j.buf = buf;
    int64_t tasks = 256;
    j.per_task = (int64_t)(n / tasks) / 64 * 64;
    double best = 0;
    for (int it = 0; it < 5; it++) {
        double t = bench_now_s();
        fk_pool_for(pool, tasks, 1, bw_task, &j);
        t = bench_now_s() - t;
        double bw = (double)tasks * j.per_task * sizeof(float) / t;
        if (bw > best) best = bw;
    }
    free(buf);
    return best;
}

/* ---- RSS --------------------------------------------------------------------------------- */

static long status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0) v = strtol(line + kl, NULL, 10);
    if (f) fclose(f);
    return v;
}

/* ---- main -------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: bench_engine --model DIR [--prompt N] [--steps N] [--batch B]... "
          "[--threads N] [--bw-mib N] [--kernels LEVEL]\n"
          "  LEVEL: the CPU matmul kernels: auto (default), amx, avx512, generic\n",
          f);
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *kernels = NULL;
    int prompt = 128, steps = 16, threads = 0, n_batches = 0, batches[MAX_BATCHES];
    size_t bw_mib = 2048;
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"prompt", required_argument, NULL, 'p'},
                                         {"steps", required_argument, NULL, 's'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"bw-mib", required_argument, NULL, 'w'},
                                         {"kernels", required_argument, NULL, 'k'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "m:p:s:b:t:w:k:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            dir = optarg;
            break;
        case 'p':
            prompt = atoi(optarg);
            break;
        case 's':
            steps = atoi(optarg);
            break;
        case 'b':
            if (n_batches < MAX_BATCHES) batches[n_batches++] = atoi(optarg);
            break;
        case 't':
            threads = atoi(optarg);
            break;
        case 'w':
            bw_mib = (size_t)atol(optarg);
            break;
        case 'k':
            kernels = optarg;
            break;
        default: /* --help, or an option not known */
            return bench_usage_exit(c, usage);
        }
    }
    if (!dir || prompt < 1 || steps < 1 || bw_mib < 64) {
        usage(stderr);
        return 2;
    }
    if (n_batches == 0) {
        batches[n_batches++] = 1;
        batches[n_batches++] = 8;
    }
    char err[4096];
    if (fk_cpu_kernels_choose(kernels, err, sizeof err) != 0) {
        fprintf(stderr, "bench_engine: %s\n", err);
        return 2;
    }
    fk_checkpoint *ck = fk_checkpoint_open(dir, err, sizeof err);
    if (!ck) {
        fprintf(stderr, "bench_engine: %s\n", err);
        return 1;
    }
    double t = bench_now_s();
    fk_checkpoint_prefault(ck, NULL, NULL);
    printf("model %s: %.2f GB mapped, prefault %.2f s\n", dir, fk_checkpoint_bytes(ck) / 1e9,
           bench_now_s() - t);
    fk_backend *be = fk_backend_cpu_new(threads);
    fk_model *m = be ? fk_model_new(ck, be, err, sizeof err) : NULL;
    fk_run *run = m ? fk_run_new(m, err, sizeof err) : NULL;
    if (!run) {
        fprintf(stderr, "bench_engine: %s\n", be ? err : "cannot start the CPU backend");
        return 1;
    }
    const fk_gptoss_config *cfg = fk_model_config(m);
    int V = cfg->vocab_size;
    printf("RSS after load: %.1f MiB (the mapped checkpoint, prefaulted)\n",
           status_kib("VmRSS:") / 1024.0);
    fk_pool *pool = fk_pool_new(threads);
    double bw = pool ? measure_bandwidth(pool, bw_mib) : 0;
    fk_pool_free(pool);
    double bpt = (double)fk_model_bytes_per_token(m);
    printf("memory read bandwidth: %.1f GB/s (%zu MiB buffer, best of 5)\n", bw / 1e9, bw_mib);
    printf("bytes per decoded token: %.3f GB -> limit %.1f tokens/s at batch 1; kernels %s\n",
           bpt / 1e9, bw / bpt, fk_cpu_level_name(fk_cpu_kernels()));

    int maxb = 1;
    for (int i = 0; i < n_batches; i++) maxb = batches[i] > maxb ? batches[i] : maxb;
    int cap = prompt + steps + 2;
    fk_kv_pool *kvp =
        fk_kv_pool_new(m, fk_kv_pool_bytes_for(m, 16, maxb, cap, FK_RUN_ROWS), 16, err, sizeof err);
    if (!kvp) {
        fprintf(stderr, "bench_engine: %s\n", err);
        return 1;
    }
    fk_kv **kvs = calloc((size_t)maxb, sizeof *kvs);
    int32_t *toks = malloc((size_t)(prompt > maxb ? prompt : maxb) * sizeof *toks);
    float *lg = malloc((size_t)maxb * V * sizeof *lg);
    for (int b = 0; kvs && b < maxb; b++) kvs[b] = fk_kv_new(kvp, cap);
    int ok = kvs && toks && lg;
    for (int b = 0; ok && b < maxb; b++) ok = kvs[b] != NULL;
    if (!ok) {
        fprintf(stderr, "bench_engine: out of memory\n");
        return 1;
    }
    for (int i = 0; i < prompt || i < maxb; i++) toks[i] = (int32_t)((i * 7919 + 13) % V);

    /* Prefill: one warm-up, then the best of 2. */
    double best = 1e30;
    for (int it = 0; it < 3; it++) {
        fk_kv_reset(kvs[0]);
        t = bench_now_s();
        if (fk_model_forward(m, run, kvs[0], toks, prompt, lg, 0) != FK_OK) {
            fprintf(stderr, "bench_engine: %s\n", fk_run_error(run));
            return 1;
        }
        t = bench_now_s() - t;
        if (it > 0 && t < best) best = t;
    }
    printf("prefill %d tokens: %.3f s, %.1f tokens/s\n", prompt, best, prompt / best);

    for (int bi = 0; bi < n_batches; bi++) {
        int B = batches[bi];
        if (B < 1) continue;
        for (int b = 0; b < B; b++) {
            fk_kv_reset(kvs[b]);
            fk_model_forward(m, run, kvs[b], toks, 8, lg, 0);
        }
        fk_model_decode(m, run, kvs, toks, B, lg, NULL); /* warm-up step */
        double total = 0, best_step = 1e30;
        for (int s = 0; s < steps; s++) {
            t = bench_now_s();
            if (fk_model_decode(m, run, kvs, toks, B, lg, NULL) != FK_OK) {
                fprintf(stderr, "bench_engine: %s\n", fk_run_error(run));
                return 1;
            }
            t = bench_now_s() - t;
            total += t;
            if (t < best_step) best_step = t;
        }
        /* Mean over all steps, and the fastest step (least disturbed by other
         * processes on a shared machine). */
        double mean = total / steps;
        printf("decode batch %d: mean %.1f ms/step = %.2f tokens/s (%.0f%% of the bandwidth "
               "limit); best step %.1f ms = %.2f tokens/s (%.0f%%)\n",
               B, 1e3 * mean, B / mean, 100.0 * bpt / mean / bw, 1e3 * best_step, B / best_step,
               100.0 * bpt / best_step / bw);
    }
    printf("RSS after decoding: %.1f MiB (the bandwidth buffer already freed), KV cache %.1f MiB "
           "per sequence of %d\n",
           status_kib("VmRSS:") / 1024.0, fk_kv_held(kvs[0]) * fk_kv_block_bytes(kvp) / 1048576.0,
           cap);
    for (int b = 0; b < maxb; b++) fk_kv_free(kvs[b]);
    free(kvs);
    free(toks);
    free(lg);
    fk_kv_pool_free(kvp);
    fk_run_free(run);
    fk_model_free(m);
    be->ops->free(be);
    fk_checkpoint_close(ck);
    return 0;
}
