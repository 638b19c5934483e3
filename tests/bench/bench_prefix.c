/* bench_prefix: time to first token over a growing chat, with and without
 * the prefix cache, through the scheduler.
 *
 *   bench_prefix --model DIR [--turns N] [--system N] [--user N] [--answer N]
 *                [--threads N]
 *
 * Turn 1's prompt is a system part and a user message; turn t's is turn
 * t-1's prompt, its answer and a new user message (as a chat client resends
 * the history). Each turn is one greedy request; its time to first token
 * (submit to the first piece, delivered as the gateway would) is printed
 * for both runs, with the prompt tokens the cache supplied. Token ids are
 * arbitrary (the weights are random); the work does not depend on them. The
 * two runs' answers must be the same tokens (the cache is exact): the last
 * line says whether they were. */
#include "drivers/cuda/checkpoint/checkpoint.h"
#include "drivers/cuda/model/model.h"
#include "drivers/cuda/serve/scheduler.h"
#include "tests/bench/bench_util.h"
#include "tokenizer/fktok.h"

#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TURNS 32

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int kicked; /* notify() since the last deliver */

static void notify(void *ud)
{
    (void)ud;
    pthread_mutex_lock(&mu);
    kicked = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

/* One turn's request as the loop sees it. */
typedef struct turn {
    double t_submit; /* s */
    double ttft;     /* s, 0 until the first piece */
    int32_t *ids;    /* the answer's token ids */
    int n_ids;       /* count */
    int cap;         /* room in ids */
    int done;        /* on_done came */
    int cached;      /* stats.cached_tokens */
} turn;

static int on_pieces(void *ud, const fk_piece *p, size_t n, size_t size)
{
    turn *t = ud;
    if (t->ttft == 0) t->ttft = bench_now_s() - t->t_submit;
    for (size_t i = 0; i < n; i++) {
        const fk_piece *q = (const fk_piece *)((const char *)p + i * size);
        if (q->token_id >= 0 && t->n_ids < t->cap) t->ids[t->n_ids++] = q->token_id;
    }
    return 0;
}

static void on_done(void *ud, const fk_gen_stats *st, const fk_error *err)
{
    turn *t = ud;
    t->done = 1;
    t->cached = st->cached_tokens;
    if (err) fprintf(stderr, "bench_prefix: %s\n", err->message);
}

static const char *vocab_bytes(const void *ud, int32_t id, size_t *len)
{
    return fktok_token_bytes(ud, id, len);
}

static int vocab_special(const void *ud, int32_t id)
{
    return fktok_is_special(ud, id);
}

/* n arbitrary ordinary token ids, different for each `salt`. */
static void fill_ids(int32_t *out, int n, int salt)
{
    for (int i = 0; i < n; i++)
        out[i] = (int32_t)(1000 + ((i + 1) * 7919 + salt * 104729) % 150000);
}

typedef struct bench {
    const fk_model *m;               /* the model */
    fk_kv_pool *pool;                /* its KV cache */
    fktok *tok;                      /* the vocabulary */
    int turns, system, user, answer; /* the chat's shape */
} bench;

/* Play the chat once (token ids drawn with `salt`); t[] gets each turn's
 * numbers. 0, or -1 on failure. */
static int play(const bench *b, int prefix_cache, turn *t, int salt)
{
    fk_sched_vocab v = {vocab_bytes, vocab_special, b->tok};
    fk_sched_config c = {.max_batch = 1, .prefix_cache = prefix_cache, .notify = notify};
    char err[512];
    fk_sched *s = fk_sched_new(b->m, b->pool, &v, &c, err, sizeof err);
    if (!s) {
        fprintf(stderr, "bench_prefix: %s\n", err);
        return -1;
    }
    int cap = b->system + b->turns * (b->user + b->answer);
    int32_t *prompt = malloc((size_t)cap * sizeof *prompt);
    int n = b->system, rc = 0;
    fill_ids(prompt, b->system, salt);
    static const fk_gen_callbacks cb = {sizeof cb, on_pieces, on_done, NULL};
    for (int i = 0; i < b->turns && rc == 0; i++) {
        if (i > 0) { /* the last answer, then a new user message */
            memcpy(prompt + n, t[i - 1].ids, (size_t)t[i - 1].n_ids * sizeof *prompt);
            n += t[i - 1].n_ids;
        }
        fill_ids(prompt + n, b->user, salt + i + 1);
        n += b->user;
        fk_sched_request r = {.prompt = prompt,
                              .n_prompt = n,
                              .max_tokens = b->answer,
                              .sampling = {.temperature = 0, .top_p = 1}};
        t[i] = (turn){.ids = malloc((size_t)b->answer * sizeof(int32_t)), .cap = b->answer};
        t[i].t_submit = bench_now_s();
        if (!t[i].ids || !fk_sched_submit(s, &r, &cb, &t[i])) rc = -1;
        while (rc == 0 && !t[i].done) {
            pthread_mutex_lock(&mu);
            while (!kicked) pthread_cond_wait(&cv, &mu);
            kicked = 0;
            pthread_mutex_unlock(&mu);
            fk_sched_deliver(s);
        }
        printf(
            "  turn %d: prompt %d tokens, %d from the prefix cache, time to first token %.3f s\n",
            i + 1, n, t[i].cached, t[i].ttft);
        fflush(stdout);
    }
    free(prompt);
    fk_sched_free(s);
    return rc;
}

static void usage(FILE *f)
{
    fputs("usage: bench_prefix --model DIR [--turns N] [--system N] [--user N] [--answer N] "
          "[--threads N]\n",
          f);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int threads = 0;
    bench b = {.turns = 8, .system = 128, .user = 64, .answer = 16};
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},  {"turns", required_argument, NULL, 'n'},
        {"system", required_argument, NULL, 's'}, {"user", required_argument, NULL, 'u'},
        {"answer", required_argument, NULL, 'a'}, {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "m:n:s:u:a:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            dir = optarg;
            break;
        case 'n':
            b.turns = atoi(optarg);
            break;
        case 's':
            b.system = atoi(optarg);
            break;
        case 'u':
            b.user = atoi(optarg);
            break;
        case 'a':
            b.answer = atoi(optarg);
            break;
        case 't':
            threads = atoi(optarg);
            break;
        default: /* --help, or an option not known */
            return bench_usage_exit(c, usage);
        }
    }
    if (!dir || b.turns < 2 || b.turns > MAX_TURNS || b.system < 1 || b.user < 1 || b.answer < 1) {
        usage(stderr);
        return 2;
    }
    char err[4096], path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    b.tok = fktok_load_json(path, err, sizeof err);
    if (!b.tok) b.tok = fktok_load_default(err, sizeof err);
    fk_checkpoint *ck = b.tok ? fk_checkpoint_open(dir, err, sizeof err) : NULL;
    if (!ck) {
        fprintf(stderr, "bench_prefix: %s\n", err);
        return 1;
    }
    fk_checkpoint_prefault(ck, NULL, NULL);
    fk_backend *be = fk_backend_cpu_new(threads);
    fk_model *m = be ? fk_model_new(ck, be, err, sizeof err) : NULL;
    int longest = b.system + b.turns * (b.user + b.answer) + 16;
    size_t bytes = m ? fk_kv_pool_bytes_for(m, 16, 2, longest, 512) : 0;
    b.pool = m ? fk_kv_pool_new(m, bytes, 16, err, sizeof err) : NULL;
    if (!b.pool) {
        fprintf(stderr, "bench_prefix: %s\n", be ? err : "cannot start the CPU backend");
        return 1;
    }
    b.m = m;
    printf("model %s, %d CPU threads, KV pool %zu blocks of 16 (%.0f MiB)\n", dir,
           fk_backend_cpu_threads(be), fk_kv_pool_blocks(b.pool),
           fk_kv_pool_blocks(b.pool) * fk_kv_block_bytes(b.pool) / 1048576.0);
    printf("chat: %d turns; system %d tokens, each user message %d, each answer %d\n", b.turns,
           b.system, b.user, b.answer);
    static turn warm[MAX_TURNS], off[MAX_TURNS], on[MAX_TURNS];
    bench once = b;
    once.turns = 1;
    printf("warm-up (other tokens):\n");
    int rc = play(&once, 0, warm, 1000);
    free(warm[0].ids);
    printf("without the prefix cache:\n");
    if (rc == 0) rc = play(&b, 0, off, 0);
    printf("with the prefix cache:\n");
    if (rc == 0) rc = play(&b, 1, on, 0);
    if (rc == 0) {
        int same = 1, last = b.turns - 1;
        for (int i = 0; i < b.turns; i++)
            same &= off[i].n_ids == on[i].n_ids &&
                    memcmp(off[i].ids, on[i].ids, (size_t)on[i].n_ids * sizeof(int32_t)) == 0;
        printf("time to first token, turn 1: %.3f s without, %.3f s with the cache (%.2fx)\n",
               off[0].ttft, on[0].ttft, off[0].ttft / on[0].ttft);
        printf("time to first token, turn %d: %.3f s without, %.3f s with the cache (%.2fx)\n",
               b.turns, off[last].ttft, on[last].ttft, off[last].ttft / on[last].ttft);
        printf("answers with and without the cache: %s\n",
               same ? "the same tokens" : "DIFFERENT (the cache is not exact)");
        rc = same ? 0 : 1;
    }
    for (int i = 0; i < b.turns; i++) {
        free(off[i].ids);
        free(on[i].ids);
    }
    fk_kv_pool_free(b.pool);
    fk_model_free(m);
    be->ops->free(be);
    fk_checkpoint_close(ck);
    fktok_free(b.tok);
    return rc;
}
