/* bench_gpu: speed of the CUDA backend against the GPU's own memory
 * bandwidth, measured in the same run.
 *
 *   bench_gpu --model DIR [--batch B]... [--prefill N]... [--steps N]
 *             [--context N] [--no-profile]
 *
 * Prints:
 *   - the device-to-device copy bandwidth (bytes read plus written per
 *     second, best of five 1 GiB copies) and the bytes one decode step reads
 *     at batch 1 (fk_model_bytes_per_token), whose ratio is the bandwidth
 *     limit in tokens/s;
 *   - a table: decode at each batch size B (sequences at --context tokens,
 *     --steps steps each, greedy on the GPU), with the step time, tokens/s
 *     summed over the batch, and the fraction of the limit (one step's
 *     batch-1 bytes over the step time, over the bandwidth; at B > 1 the
 *     batch's extra experts make this a lower bound of the bandwidth used);
 *     decode at batch 1 with CUDA graphs off (the gain of graphs); prefill
 *     of N tokens (tokens/s);
 *   - per-op times from CUDA events (graphs off while timing) for one
 *     decode step at batch 1 and for a 512-token prefill, with the bytes
 *     each op read and the bandwidth that makes, so one run says where the
 *     time went.
 * Exit 77 (skip) without a usable GPU, 2 on usage or load errors. Token ids
 * are arbitrary (the weights are random); the work does not depend on them. */
#include "drivers/cuda/backends/cuda/cuda.h"
#include "drivers/cuda/checkpoint/checkpoint.h"
#include "drivers/cuda/model/model.h"
#include "tests/bench/bench_util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIST 8
#define BLOCK_TOKENS 16

/* What the benchmark holds. */
typedef struct bench {
    fk_backend *be;   /* the CUDA backend */
    fk_model *m;      /* the model */
    fk_run *run;      /* one run */
    fk_kv_pool *pool; /* room for the largest batch */
    int V;            /* vocabulary */
    uint64_t seed;    /* token generator */
} bench;

static int32_t next_token(bench *b)
{
    b->seed = b->seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (int32_t)((b->seed >> 33) % (uint64_t)b->V);
}

/* Fill `n` sequences with `ctx` tokens each. 0, or -1 with a message. */
static int fill(bench *b, fk_kv **kvs, int n, int ctx, int capacity)
{
    int32_t *tok = malloc((size_t)ctx * sizeof *tok);
    if (!tok) return -1;
    for (int i = 0; i < n; i++) {
        kvs[i] = fk_kv_new(b->pool, capacity);
        for (int t = 0; t < ctx; t++) tok[t] = next_token(b);
        fk_status st =
            kvs[i] ? fk_model_forward(b->m, b->run, kvs[i], tok, ctx, NULL, 0) : FK_ERR_OOM;
        if (st != FK_OK) {
            fprintf(stderr, "bench_gpu: prefill: %s (%s; %s)\n", fk_status_str(st),
                    fk_run_error(b->run), fk_backend_cuda_error(b->be));
            free(tok);
            return -1;
        }
    }
    free(tok);
    return 0;
}

/* Seconds per decode step of B sequences at ctx tokens, over `steps` steps
 * after 3 warm-up steps (the first capture their graph); with `profile`, the
 * timed steps are also timed op by op. -1 on error. */
static double decode_step_time(bench *b, int B, int ctx, int steps, int profile)
{
    fk_kv **kvs = calloc((size_t)B, sizeof *kvs);
    int32_t *tok = malloc((size_t)B * sizeof *tok), *pick = malloc((size_t)B * sizeof *pick);
    double t = -1;
    if (!kvs || !tok || !pick || fill(b, kvs, B, ctx, ctx + steps + 8) != 0) goto out;
    for (int i = 0; i < B; i++) tok[i] = next_token(b);
    for (int s = 0; s < steps + 3; s++) {
        if (s == 3) {
            if (profile) fk_backend_cuda_profile(b->be, 1);
            t = bench_now_s();
        }
        fk_status st = fk_model_decode(b->m, b->run, kvs, tok, B, NULL, pick);
        if (st != FK_OK) {
            fprintf(stderr, "bench_gpu: decode: %s (%s; %s)\n", fk_status_str(st),
                    fk_run_error(b->run), fk_backend_cuda_error(b->be));
            t = -1;
            goto out;
        }
        memcpy(tok, pick, (size_t)B * sizeof *tok);
    }
    t = (bench_now_s() - t) / steps;
out:
    for (int i = 0; kvs && i < B; i++) fk_kv_free(kvs[i]);
    free(kvs);
    free(tok);
    free(pick);
    return t;
}

/* Seconds to prefill n tokens into a fresh sequence (last logits). */
static double prefill_time(bench *b, int n)
{
    int32_t *tok = malloc((size_t)n * sizeof *tok);
    float *logits = malloc((size_t)b->V * sizeof *logits);
    fk_kv *kv = fk_kv_new(b->pool, n + 1);
    double t = -1;
    if (tok && logits && kv) {
        for (int i = 0; i < n; i++) tok[i] = next_token(b);
        t = bench_now_s();
        fk_status st = fk_model_forward(b->m, b->run, kv, tok, n, logits, 0);
        t = st == FK_OK ? bench_now_s() - t : -1;
        if (st != FK_OK)
            fprintf(stderr, "bench_gpu: prefill %d: %s (%s; %s)\n", n, fk_status_str(st),
                    fk_run_error(b->run), fk_backend_cuda_error(b->be));
    }
    fk_kv_free(kv);
    free(tok);
    free(logits);
    return t;
}

static void print_profile(bench *b, const char *what, double per)
{
    fk_cuda_prof rows[FK_CUDA_PROF_ROWS];
    size_t n = fk_backend_cuda_profile_read(b->be, rows, FK_CUDA_PROF_ROWS);
    double total = 0;
    for (size_t i = 0; i < n; i++) total += rows[i].ms;
    printf("\nper-op time, %s (CUDA events, graphs off; per %s):\n", what,
           per == 1 ? "run" : "token");
    printf("  %-20s %8s %10s %7s %10s %9s\n", "op", "calls", "ms", "share", "MB read", "GB/s");
    for (size_t i = 0; i < n; i++)
        printf("  %-20s %8.1f %10.3f %6.1f%% %10.1f %9.1f\n", rows[i].op, rows[i].calls / per,
               rows[i].ms / per, total > 0 ? 100 * rows[i].ms / total : 0,
               rows[i].bytes / per / 1e6,
               rows[i].ms > 0 ? rows[i].bytes / (rows[i].ms * 1e-3) / 1e9 : 0);
    printf("  %-20s %8s %10.3f\n", "total", "", total / per);
}

static void usage(FILE *f)
{
    fputs("usage: bench_gpu --model DIR [--batch B]... [--prefill N]... [--steps N] "
          "[--context N] [--no-profile]\n",
          f);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int batches[MAX_LIST], n_batches = 0, prefills[MAX_LIST], n_prefills = 0;
    int steps = 32, ctx = 128, profile = 1;
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},   {"batch", required_argument, NULL, 'b'},
        {"prefill", required_argument, NULL, 'p'}, {"steps", required_argument, NULL, 's'},
        {"context", required_argument, NULL, 'c'}, {"no-profile", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "m:b:p:s:c:nh", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            dir = optarg;
            break;
        case 'b':
            if (n_batches < MAX_LIST) batches[n_batches++] = atoi(optarg);
            break;
        case 'p':
            if (n_prefills < MAX_LIST) prefills[n_prefills++] = atoi(optarg);
            break;
        case 's':
            steps = atoi(optarg);
            break;
        case 'c':
            ctx = atoi(optarg);
            break;
        case 'n':
            profile = 0;
            break;
        default: /* --help, or an option not known */
            return bench_usage_exit(c, usage);
        }
    }
    if (!dir || steps < 1 || ctx < 1) {
        usage(stderr);
        return 2;
    }
    if (!n_batches) batches[n_batches++] = 1;
    int max_b = 1, max_p = 512;
    for (int i = 0; i < n_batches; i++) {
        if (batches[i] < 1) batches[i] = 1;
        if (batches[i] > max_b) max_b = batches[i];
    }
    for (int i = 0; i < n_prefills; i++)
        if (prefills[i] > max_p) max_p = prefills[i];

    fk_cuda_info info;
    char why[512], err[4096];
    if (!fk_cuda_probe(0, &info, why, sizeof why)) {
        printf("bench_gpu: skipped: %s\n", why);
        return 77;
    }
    fk_checkpoint *ck = fk_checkpoint_open(dir, err, sizeof err);
    if (!ck) {
        fprintf(stderr, "bench_gpu: %s\n", err);
        return 2;
    }
    bench b = {0};
    b.seed = 42;
    fk_cuda_options opt = fk_cuda_options_default();
    opt.weights_bytes = fk_cuda_weights_bytes(ck);
    double t_load = bench_now_s();
    b.be = fk_backend_cuda_new(&opt, err, sizeof err);
    if (b.be) b.m = fk_model_new(ck, b.be, err, sizeof err);
    if (b.m) b.run = fk_run_new(b.m, err, sizeof err);
    if (b.run) {
        size_t bytes =
            fk_kv_pool_bytes_for(b.m, BLOCK_TOKENS, max_b, ctx + steps + 8, FK_RUN_ROWS) +
            fk_kv_pool_bytes_for(b.m, BLOCK_TOKENS, 1, max_p + 1, FK_RUN_ROWS);
        b.pool = fk_kv_pool_new(b.m, bytes, BLOCK_TOKENS, err, sizeof err);
    }
    if (!b.pool) {
        fprintf(stderr, "bench_gpu: %s%s%s\n", err, b.be ? "; " : "",
                b.be ? fk_backend_cuda_error(b.be) : "");
        return 2;
    }
    t_load = bench_now_s() - t_load;
    fk_backend_cuda_info(b.be, &info);
    const fk_gptoss_config *cfg = fk_model_config(b.m);
    b.V = cfg->vocab_size;
    double bw = fk_backend_cuda_copy_bandwidth(b.be, (size_t)1 << 30);
    uint64_t per_token = fk_model_bytes_per_token(b.m);
    double limit = bw > 0 ? bw / (double)per_token : 0;
    printf("GPU: %s, %d SMs, %.1f GiB; compute capability %d.%d\n", info.name, info.sm_count,
           info.total_bytes / 1073741824.0, info.cc_major, info.cc_minor);
    printf("model: %s (%d layers, hidden %d, %d experts top-%d, vocab %d, %s experts); loaded "
           "and uploaded in %.1f s\n",
           dir, cfg->n_layers, cfg->hidden_size, cfg->n_experts, cfg->experts_per_token,
           cfg->vocab_size, cfg->experts_mxfp4 ? "MXFP4" : "bf16", t_load);
    printf("device-to-device copy: %.0f GB/s (read + written); one decode step at batch 1 reads "
           "%.3f GB: bandwidth limit %.1f tokens/s\n\n",
           bw / 1e9, per_token / 1e9, limit);

    printf("%-26s %12s %14s %16s\n", "run", "ms/step", "tokens/s", "of the limit");
    for (int i = 0; i < n_batches; i++) {
        int B = batches[i];
        double t = decode_step_time(&b, B, ctx, steps, 0);
        if (t < 0) return 1;
        char name[64];
        snprintf(name, sizeof name, "decode batch %d (ctx %d)", B, ctx);
        printf("%-26s %12.3f %14.1f %15.1f%%\n", name, t * 1e3, B / t,
               limit > 0 ? 100.0 * (1.0 / t) / limit : 0);
    }
    fk_backend_cuda_set_graphs(b.be, 0);
    double t1 = decode_step_time(&b, 1, ctx, steps, 0);
    fk_backend_cuda_set_graphs(b.be, opt.graphs);
    if (t1 < 0) return 1;
    printf("%-26s %12.3f %14.1f %15.1f%%\n", "decode batch 1, no graphs", t1 * 1e3, 1 / t1,
           limit > 0 ? 100.0 * (1.0 / t1) / limit : 0);
    for (int i = 0; i < n_prefills; i++) {
        double t = prefill_time(&b, prefills[i]);
        if (t < 0) return 1;
        char name[64];
        snprintf(name, sizeof name, "prefill %d tokens", prefills[i]);
        printf("%-26s %12s %14.1f\n", name, "", prefills[i] / t);
    }
    uint64_t replays, captures, eagers;
    fk_backend_cuda_counts(b.be, &replays, &captures, &eagers);
    printf("segments: %llu replayed from CUDA graphs, %llu captured, %llu launched op by op\n",
           (unsigned long long)replays, (unsigned long long)captures, (unsigned long long)eagers);

    if (profile) {
        if (decode_step_time(&b, 1, ctx, steps, 1) < 0) return 1;
        print_profile(&b, "decode batch 1", steps);
        fk_backend_cuda_profile(b.be, 1);
        if (prefill_time(&b, 512) < 0) return 1;
        print_profile(&b, "prefill of 512 tokens", 1);
        fk_backend_cuda_profile(b.be, 0);
    }
    fk_kv_pool_free(b.pool);
    fk_run_free(b.run);
    fk_model_free(b.m);
    b.be->ops->free(b.be);
    fk_checkpoint_close(ck);
    return 0;
}
