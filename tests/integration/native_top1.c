/* native_top1: the native engine's next-token distribution for one-token
 * prompts, for tests that compare it with llama-server's.
 *
 *   native_top1 DIR K ID...
 *
 * For each ID, runs the one-token prompt [ID] at position 0 (a fresh KV
 * cache) and prints one JSON line {"prompt": ID, "top": [{"id", "logprob"}
 * x K]}: the K most likely next tokens and their log-probabilities, the
 * log-softmax of the raw logits (no temperature), computed in double. Exit 2
 * on bad usage or a model that does not load. */
#include "drivers/cuda/checkpoint/checkpoint.h"
#include "drivers/cuda/model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Print the top k of logits[0..V) as log-probabilities. */
static void print_top(long prompt, const float *logits, int V, int k)
{
    double max = logits[0], sum = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > max) max = logits[i];
    for (int i = 0; i < V; i++) sum += exp((double)logits[i] - max);
    double lse = max + log(sum);
    printf("{\"prompt\":%ld,\"top\":[", prompt);
    int *taken = calloc((size_t)V, sizeof *taken);
    for (int r = 0; r < k && taken; r++) {
        int best = -1;
        for (int i = 0; i < V; i++)
            if (!taken[i] && (best < 0 || logits[i] > logits[best])) best = i;
        taken[best] = 1;
        printf("%s{\"id\":%d,\"logprob\":%.9g}", r ? "," : "", best, (double)logits[best] - lse);
    }
    printf("]}\n");
    free(taken);
}

/* The model over the CPU backend with one thread, a run and a small KV pool. */
typedef struct engine {
    fk_backend *be;   /* CPU backend */
    fk_model *m;      /* weights */
    fk_run *run;      /* scratch */
    fk_kv_pool *pool; /* room for one short sequence */
    fk_kv *kv;        /* the sequence, reset per prompt */
} engine;

static int engine_open(engine *e, const fk_checkpoint *ck, char *err, size_t err_len)
{
    e->be = fk_backend_cpu_new(1);
    if (!e->be) {
        snprintf(err, err_len, "cannot start the CPU backend");
        return -1;
    }
    e->m = fk_model_new(ck, e->be, err, err_len);
    if (e->m) e->run = fk_run_new(e->m, err, err_len);
    if (e->run)
        e->pool = fk_kv_pool_new(e->m, fk_kv_pool_bytes_for(e->m, 16, 1, 16, 16), 16, err, err_len);
    if (e->pool) e->kv = fk_kv_new(e->pool, 16);
    return e->kv ? 0 : -1;
}

static void engine_close(engine *e)
{
    if (e->kv) fk_kv_free(e->kv);
    if (e->pool) fk_kv_pool_free(e->pool);
    if (e->run) fk_run_free(e->run);
    if (e->m) fk_model_free(e->m);
    if (e->be) e->be->ops->free(e->be);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: native_top1 DIR K ID...\n");
        return 2;
    }
    static char err[8192] = "out of memory";
    engine e = {0};
    fk_checkpoint *ck = fk_checkpoint_open(argv[1], err, sizeof err);
    if (!ck || engine_open(&e, ck, err, sizeof err) != 0) {
        fprintf(stderr, "native_top1: %s\n", err);
        engine_close(&e);
        if (ck) fk_checkpoint_close(ck);
        return 2;
    }
    int V = fk_checkpoint_config(ck)->vocab_size, k = atoi(argv[2]), rc = k > 0 && k <= V ? 0 : 2;
    float *logits = malloc((size_t)V * sizeof *logits);
    for (int a = 3; rc == 0 && logits && a < argc; a++) {
        int32_t id = (int32_t)atol(argv[a]);
        fk_kv_reset(e.kv);
        if (fk_model_forward(e.m, e.run, e.kv, &id, 1, logits, 0) != FK_OK) {
            fprintf(stderr, "native_top1: prompt [%s]: %s\n", argv[a], fk_run_error(e.run));
            rc = 2;
            break;
        }
        print_top(atol(argv[a]), logits, V, k);
    }
    if (!logits) rc = 2;
    free(logits);
    engine_close(&e);
    fk_checkpoint_close(ck);
    return rc;
}
