/* bench_scheduler: decode throughput of the scheduler over a model, one
 * request at a time versus continuous batching.
 *
 *   bench_scheduler [MODEL_DIR] [REQUESTS] [TOKENS] [THREADS]
 *
 * Runs REQUESTS greedy requests of TOKENS tokens each (same prompt) with
 * max_batch 1 and then with max_batch = REQUESTS, and prints generated
 * tokens per second for both. MODEL_DIR defaults to the tiny fixture. */
#include "drivers/cuda/checkpoint/checkpoint.h"
#include "drivers/cuda/model/model.h"
#include "drivers/cuda/serve/scheduler.h"
#include "tokenizer/fktok.h"
#include "tests/bench/bench_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int kicked; /* notify() since the last deliver */
static int done;   /* on_done calls */

static void notify(void *ud)
{
    (void)ud;
    pthread_mutex_lock(&mu);
    kicked = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

static int on_pieces(void *ud, const fk_piece *p, size_t n, size_t piece_size)
{
    (void)ud;
    (void)p;
    (void)n;
    return 0;
}

static void on_done(void *ud, const fk_gen_stats *st, const fk_error *err)
{
    (void)ud;
    (void)st;
    (void)err;
    done++;
}

static const char *vocab_bytes(const void *ud, int32_t id, size_t *len)
{
    return fktok_token_bytes(ud, id, len);
}

static int vocab_special(const void *ud, int32_t id)
{
    return fktok_is_special(ud, id);
}

/* Seconds to run n requests of `tokens` tokens with the given batch size. */
static double run(const fk_model *m, fk_kv_pool *pool, fktok *tok, int batch, int n, int tokens,
                  uint64_t *generated)
{
    fk_sched_vocab v = {vocab_bytes, vocab_special, tok};
    fk_sched_config c = {.max_batch = batch, .notify = notify};
    char err[256];
    fk_sched *s = fk_sched_new(m, pool, &v, &c, err, sizeof err);
    if (!s) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    static const int32_t prompt[] = {200006, 1428, 200008, 12194, 11, 1495, 553, 200007, 200006};
    fk_sched_request r = {.prompt = prompt,
                          .n_prompt = 9,
                          .max_tokens = tokens,
                          .sampling = {.temperature = 0, .top_p = 1}};
    fk_gen_callbacks cb = {sizeof cb, on_pieces, on_done, NULL};
    done = 0;
    double t0 = bench_now_s();
    for (int i = 0; i < n; i++) fk_sched_submit(s, &r, &cb, NULL);
    while (done < n) {
        pthread_mutex_lock(&mu);
        while (!kicked) pthread_cond_wait(&cv, &mu);
        kicked = 0;
        pthread_mutex_unlock(&mu);
        fk_sched_deliver(s);
    }
    double secs = bench_now_s() - t0;
    fk_sched_stats st;
    fk_sched_get_stats(s, &st);
    *generated = st.generated_tokens;
    fk_sched_free(s);
    return secs;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/fixtures/models/tiny-gptoss-mxfp4";
    int n = argc > 2 ? atoi(argv[2]) : 8, tokens = argc > 3 ? atoi(argv[3]) : 64;
    int threads = argc > 4 ? atoi(argv[4]) : 0;
    char err[1024], path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    fktok *tok = fktok_load_json(path, err, sizeof err);
    if (!tok) tok = fktok_load_default(err, sizeof err);
    fk_checkpoint *ck = tok ? fk_checkpoint_open(dir, err, sizeof err) : NULL;
    fk_backend *be = ck ? fk_backend_cpu_new(threads) : NULL;
    fk_model *m = be ? fk_model_new(ck, be, err, sizeof err) : NULL;
    size_t bytes = m ? fk_kv_pool_bytes_for(m, 16, n, tokens + 16, FK_RUN_ROWS) : 0;
    fk_kv_pool *pool = m ? fk_kv_pool_new(m, bytes, 16, err, sizeof err) : NULL;
    if (!pool) {
        fprintf(stderr, "bench_scheduler: %s\n", err);
        return 1;
    }
    printf("%s: %d requests x %d tokens\n", dir, n, tokens);
    for (int batch = 1; batch <= n; batch = batch == 1 ? n : n + 1) {
        uint64_t gen;
        double secs = run(m, pool, tok, batch, n, tokens, &gen);
        printf("max_batch %3d: %6llu tokens in %7.3f s = %8.1f tokens/s\n", batch,
               (unsigned long long)gen, secs, gen / secs);
    }
    fk_kv_pool_free(pool);
    fk_model_free(m);
    be->ops->free(be);
    fk_checkpoint_close(ck);
    fktok_free(tok);
    return 0;
}
