/* threadpool.c: persistent workers, a generation counter to start a job,
 * and one atomic word holding (job tag, next index) to share it.
 *
 * A job is over when every index is done, not when every worker has checked
 * in: on a shared machine a worker may not run for milliseconds, and the
 * caller must not wait for it when the others have done its share. A late
 * worker claims chunks only with a compare-and-swap that also checks the job
 * tag, so it can never run a chunk of a job that has ended; between jobs the
 * word holds an index past any job's end, so no chunk can be claimed while
 * the next job's fields are written. */
#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

/* Polls of a flag before a thread sleeps on a condition variable: enough to
 * bridge the short gaps between the kernels of one decode step. */
#define FK_POOL_SPIN 4000
#define TAG_SHIFT 40                                /* next = tag << 40 | index */
#define INDEX_MASK ((UINT64_C(1) << TAG_SHIFT) - 1) /* indices < 2^40 */

struct fk_pool {
    int n_threads;           /* workers + the calling thread */
    pthread_t *threads;      /* n_threads - 1 workers */
    pthread_mutex_t mu;      /* guards the sleeps below */
    pthread_cond_t start_cv; /* workers sleep here between jobs */
    pthread_cond_t done_cv;  /* the caller sleeps here until done == n */
    atomic_uint gen;         /* bumped once per job; its low 24 bits tag the job */
    atomic_int stop;         /* 1: workers exit */
    _Atomic uint64_t next;   /* tag << 40 | first index not yet handed out */
    atomic_llong done;       /* indices finished in the current job */
    atomic_llong n;          /* job: indices [0, n) (late workers may peek) */
    atomic_llong grain;      /* job: chunk size (likewise) */
    fk_pool_fn fn;           /* job: body */
    void *ctx;               /* job: body's argument */
};

/* One worker's slot, passed to its thread. */
typedef struct fk_pool_worker {
    fk_pool *pool; /* the pool it belongs to */
    int index;     /* 1..n_threads-1 (the caller is 0) */
} fk_pool_worker;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Take chunks of job `tag` until none are left (or the job is another). */
static void run_chunks(fk_pool *p, uint64_t tag, int thread)
{
    uint64_t cur = atomic_load(&p->next);
    while ((cur >> TAG_SHIFT) == tag) {
        int64_t begin = (int64_t)(cur & INDEX_MASK);
        int64_t n = atomic_load_explicit(&p->n, memory_order_relaxed);
        int64_t grain = atomic_load_explicit(&p->grain, memory_order_relaxed);
        if (begin >= n) return;
        int64_t end = begin + grain < n ? begin + grain : n;
        if (!atomic_compare_exchange_weak(&p->next, &cur, tag << TAG_SHIFT | (uint64_t)end))
            continue; /* cur reloaded */
        /* The job cannot end before this chunk is counted, so its fields hold. */
        p->fn(p->ctx, begin, end, thread);
        if (atomic_fetch_add(&p->done, end - begin) + (end - begin) == n) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_broadcast(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
        cur = atomic_load(&p->next);
    }
}

static void *worker_main(void *arg)
{
    fk_pool_worker *w = arg;
    fk_pool *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned g = atomic_load(&p->gen);
        for (int i = 0; g == seen && i < FK_POOL_SPIN && !atomic_load(&p->stop); i++) {
            cpu_relax();
            g = atomic_load(&p->gen);
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->start_cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) break;
        seen = g;
        run_chunks(p, g & 0xFFFFFFu, w->index);
    }
    free(w);
    return NULL;
}

fk_pool *fk_pool_new(int n_threads)
{
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    fk_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    p->n_threads = 1;
    for (int i = 1; i < n_threads; i++) {
        fk_pool_worker *w = malloc(sizeof *w);
        if (!w) break;
        w->pool = p;
        w->index = i;
        if (pthread_create(&p->threads[i - 1], NULL, worker_main, w) != 0) {
            free(w);
            break;
        }
        p->n_threads++;
    }
    if (p->n_threads != n_threads) {
        fk_pool_free(p);
        return NULL;
    }
    return p;
}

void fk_pool_free(fk_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->start_cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads - 1; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start_cv);
    pthread_cond_destroy(&p->done_cv);
    free(p->threads);
    free(p);
}

int fk_pool_size(const fk_pool *p)
{
    return p->n_threads;
}

void fk_pool_for(fk_pool *p, int64_t n, int64_t grain, fk_pool_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (p->n_threads == 1 || n <= grain || (uint64_t)n >= INDEX_MASK) {
        fn(ctx, 0, n, 0);
        return;
    }
    /* Close the old job first: a late worker holding its last index must not
     * pair it with the new n below and claim a chunk. */
    atomic_store(&p->next, INDEX_MASK);
    atomic_store_explicit(&p->n, n, memory_order_relaxed);
    atomic_store_explicit(&p->grain, grain, memory_order_relaxed);
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->done, 0);
    pthread_mutex_lock(&p->mu);
    unsigned g = atomic_load(&p->gen) + 1;
    uint64_t tag = g & 0xFFFFFFu;
    atomic_store(&p->next, tag << TAG_SHIFT);
    atomic_store(&p->gen, g);
    pthread_cond_broadcast(&p->start_cv);
    pthread_mutex_unlock(&p->mu);
    run_chunks(p, tag, 0);
    for (int i = 0; i < FK_POOL_SPIN && atomic_load(&p->done) != n; i++) cpu_relax();
    if (atomic_load(&p->done) != n) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->done) != n) pthread_cond_wait(&p->done_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}
