/* compare_backends: the CUDA backend against the CPU backend on one model
 * (tests/device/run.sh gives it a 20b-shaped layer).
 *
 *   compare_backends --model DIR [--tokens N] [--batch B] [--steps N] [--tol X]
 *
 * Both engines get the same random prompt of N tokens (prefill, logits at
 * every position), then B sequences decode `steps` steps together, both fed
 * the CPU's greedy picks. Passes when every logit agrees within
 *     |gpu - cpu| <= tol * max(1, largest |cpu logit|)     (tol 1e-3)
 * and the two pick the same token wherever the CPU's top two differ by more
 * than twice that bound. Prints the worst difference found, so a run shows
 * how far inside the tolerance the GPU is. Exit 0 pass, 1 fail, 2 usage or
 * load error, 77 no usable GPU. */
#include "drivers/cuda/backends/cuda/cuda.h"
#include "drivers/cuda/checkpoint/checkpoint.h"
#include "drivers/cuda/model/model.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_TOKENS 16

/* One engine over the shared checkpoint. */
typedef struct engine {
    const char *name; /* "cpu", "cuda" */
    fk_backend *be;   /* its backend */
    fk_model *m;      /* the model */
    fk_run *run;      /* a run */
    fk_kv_pool *pool; /* room for the prefill and the batch */
} engine;

static int engine_start(engine *e, const fk_checkpoint *ck, fk_backend *be, int tokens, int B,
                        int steps, char *err, size_t err_len)
{
    e->be = be;
    if (!(e->m = fk_model_new(ck, be, err, err_len))) return -1;
    if (!(e->run = fk_run_new(e->m, err, err_len))) return -1;
    size_t bytes = fk_kv_pool_bytes_for(e->m, BLOCK_TOKENS, B + 1, tokens + steps + 2, FK_RUN_ROWS);
    return (e->pool = fk_kv_pool_new(e->m, bytes, BLOCK_TOKENS, err, err_len)) ? 0 : -1;
}

static void engine_stop(engine *e)
{
    fk_kv_pool_free(e->pool);
    fk_run_free(e->run);
    fk_model_free(e->m);
    if (e->be) e->be->ops->free(e->be);
}

/* What the comparison found. */
typedef struct tally {
    double worst;  /* largest |gpu - cpu| */
    double scale;  /* largest |cpu logit| */
    int rows;      /* logit rows compared */
    int picks;     /* rows whose top-1 was decisive */
    int pick_diff; /* of those, rows where the two backends' top-1 differ */
} tally;

static int top1(const float *x, int V, double *margin)
{
    int a = 0, b = -1;
    for (int i = 1; i < V; i++) {
        if (x[i] > x[a]) {
            b = a;
            a = i;
        } else if (b < 0 || x[i] > x[b]) {
            b = i;
        }
    }
    *margin = b >= 0 ? x[a] - x[b] : INFINITY;
    return a;
}

static void compare_rows(tally *t, const float *cpu, const float *gpu, int n, int V)
{
    for (int r = 0; r < n; r++) {
        const float *c = cpu + (size_t)r * V, *g = gpu + (size_t)r * V;
        for (int i = 0; i < V; i++) {
            double d = fabs((double)g[i] - c[i]);
            if (!(d <= t->worst)) t->worst = isnan(d) ? INFINITY : d;
            if (fabs(c[i]) > t->scale) t->scale = fabs(c[i]);
        }
        t->rows++;
    }
}

static void compare_picks(tally *t, const float *cpu, const float *gpu, int n, int V, double bound)
{
    for (int r = 0; r < n; r++) {
        double mc, mg;
        int a = top1(cpu + (size_t)r * V, V, &mc), b = top1(gpu + (size_t)r * V, V, &mg);
        if (mc <= 2 * bound) continue;
        t->picks++;
        t->pick_diff += a != b;
    }
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int tokens = 64, B = 4, steps = 8;
    double tol = 1e-3;
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'}, {"tokens", required_argument, NULL, 't'},
        {"batch", required_argument, NULL, 'b'}, {"steps", required_argument, NULL, 's'},
        {"tol", required_argument, NULL, 'e'},   {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "m:t:b:s:e:", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            dir = optarg;
            break;
        case 't':
            tokens = atoi(optarg);
            break;
        case 'b':
            B = atoi(optarg);
            break;
        case 's':
            steps = atoi(optarg);
            break;
        case 'e':
            tol = atof(optarg);
            break;
        default:
            fputs("usage: compare_backends --model DIR [--tokens N] [--batch B] [--steps N] "
                  "[--tol X]\n",
                  stderr);
            return 2;
        }
    }
    if (!dir || tokens < 1 || B < 1 || steps < 1 || !(tol > 0)) {
        fputs("compare_backends: --model DIR is required; sizes must be positive\n", stderr);
        return 2;
    }
    fk_cuda_info info;
    char why[512], err[4096];
    if (!fk_cuda_probe(0, &info, why, sizeof why)) {
        printf("compare_backends: skipped: %s\n", why);
        return 77;
    }
    fk_checkpoint *ck = fk_checkpoint_open(dir, err, sizeof err);
    if (!ck) {
        fprintf(stderr, "compare_backends: %s\n", err);
        return 2;
    }
    fk_cuda_options opt = fk_cuda_options_default();
    opt.weights_bytes = fk_cuda_weights_bytes(ck);
    engine e[2] = {{"cpu", NULL, NULL, NULL, NULL}, {"cuda", NULL, NULL, NULL, NULL}};
    fk_backend *cpu = fk_backend_cpu_new(0);
    fk_backend *gpu = fk_backend_cuda_new(&opt, err, sizeof err);
    if (!cpu || !gpu || engine_start(&e[0], ck, cpu, tokens, B, steps, err, sizeof err) != 0 ||
        engine_start(&e[1], ck, gpu, tokens, B, steps, err, sizeof err) != 0) {
        fprintf(stderr, "compare_backends: %s\n", err);
        return 2;
    }
    const fk_gptoss_config *cfg = fk_model_config(e[0].m);
    int V = cfg->vocab_size;
    printf("model %s: %d layer(s), hidden %d, %d heads / %d kv, %d experts top-%d, vocab %d\n", dir,
           cfg->n_layers, cfg->hidden_size, cfg->n_heads, cfg->n_kv_heads, cfg->n_experts,
           cfg->experts_per_token, V);

    int32_t *prompt = malloc((size_t)tokens * sizeof *prompt);
    float *lg[2] = {malloc((size_t)tokens * V * sizeof(float)),
                    malloc((size_t)tokens * V * sizeof(float))};
    uint64_t seed = 7;
    for (int i = 0; i < tokens; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        prompt[i] = (int32_t)((seed >> 33) % (uint64_t)V);
    }
    tally pre = {0}, dec = {0};
    int failed_call = 0;
    for (int k = 0; k < 2 && !failed_call; k++) {
        fk_kv *kv = fk_kv_new(e[k].pool, tokens + 1);
        fk_status st = fk_model_forward(e[k].m, e[k].run, kv, prompt, tokens, lg[k], 1);
        if (st != FK_OK) {
            printf("%s prefill failed: %s\n", e[k].name, fk_run_error(e[k].run));
            failed_call = 1;
        }
        fk_kv_free(kv);
    }
    if (!failed_call) compare_rows(&pre, lg[0], lg[1], tokens, V);

    /* B sequences: prompts of 1..B tokens of the prompt's tail, then decode. */
    fk_kv **kvs[2] = {calloc((size_t)B, sizeof(fk_kv *)), calloc((size_t)B, sizeof(fk_kv *))};
    float *dl[2] = {malloc((size_t)B * V * sizeof(float)), malloc((size_t)B * V * sizeof(float))};
    int32_t *feed = malloc((size_t)B * sizeof *feed);
    for (int k = 0; k < 2 && !failed_call; k++)
        for (int b = 0; b < B; b++) {
            kvs[k][b] = fk_kv_new(e[k].pool, tokens + steps + 2);
            int n = 1 + b % tokens;
            if (fk_model_forward(e[k].m, e[k].run, kvs[k][b], prompt + tokens - n, n, NULL, 0) !=
                FK_OK) {
                printf("%s prefill of sequence %d failed: %s\n", e[k].name, b,
                       fk_run_error(e[k].run));
                failed_call = 1;
            }
        }
    for (int b = 0; b < B; b++) feed[b] = prompt[b % tokens];
    for (int s = 0; s < steps && !failed_call; s++) {
        for (int k = 0; k < 2 && !failed_call; k++)
            if (fk_model_decode(e[k].m, e[k].run, kvs[k], feed, B, dl[k], NULL) != FK_OK) {
                printf("%s decode failed: %s\n", e[k].name, fk_run_error(e[k].run));
                failed_call = 1;
            }
        if (failed_call) break;
        compare_rows(&dec, dl[0], dl[1], B, V);
        double bound = tol * fmax(1.0, dec.scale);
        compare_picks(&dec, dl[0], dl[1], B, V, bound);
        for (int b = 0; b < B; b++) {
            double m;
            feed[b] = top1(dl[0] + (size_t)b * V, V, &m);
        }
    }
    double bound_pre = tol * fmax(1.0, pre.scale);
    if (!failed_call) compare_picks(&pre, lg[0], lg[1], tokens, V, bound_pre);
    double bound_dec = tol * fmax(1.0, dec.scale);
    int ok_pre = !failed_call && pre.worst <= bound_pre && pre.pick_diff == 0;
    int ok_dec = !failed_call && dec.worst <= bound_dec && dec.pick_diff == 0;
    printf("%s prefill of %d tokens: max |gpu - cpu| %.3g (bound %.3g = %g x max(1, %.3g)); top-1 "
           "differs on %d of %d decisive rows\n",
           ok_pre ? "PASS" : "FAIL", tokens, pre.worst, bound_pre, tol, pre.scale, pre.pick_diff,
           pre.picks);
    printf("%s decode, batch %d x %d steps: max |gpu - cpu| %.3g (bound %.3g); top-1 differs on "
           "%d of %d decisive rows\n",
           ok_dec ? "PASS" : "FAIL", B, steps, dec.worst, bound_dec, dec.pick_diff, dec.picks);
    for (int k = 0; k < 2; k++) {
        for (int b = 0; kvs[k] && b < B; b++) fk_kv_free(kvs[k][b]);
        free(kvs[k]);
        free(dl[k]);
        free(lg[k]);
    }
    free(feed);
    free(prompt);
    engine_stop(&e[0]);
    engine_stop(&e[1]);
    fk_checkpoint_close(ck);
    return ok_pre && ok_dec ? 0 : 1;
}
