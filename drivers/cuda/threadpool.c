/* threadpool.c: persistent workers, a generation counter to start a job, an
 * atomic chunk counter to share it, and a count of busy workers to end it. */
#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

/* Polls of a flag before a thread sleeps on a condition variable: enough to
 * bridge the short gaps between the kernels of one decode step. */
#define FK_POOL_SPIN 4000

struct fk_pool {
    int n_threads;           /* workers + the calling thread */
    pthread_t *threads;      /* n_threads - 1 workers */
    pthread_mutex_t mu;      /* guards the sleeps below */
    pthread_cond_t start_cv; /* workers sleep here between jobs */
    pthread_cond_t done_cv;  /* the caller sleeps here until busy == 0 */
    atomic_uint gen;         /* bumped once per job; workers wait for a change */
    atomic_int busy;         /* workers still inside the current job */
    atomic_int stop;         /* 1: workers exit */
    atomic_llong next;       /* first index not yet handed out */
    int64_t n;               /* job: indices [0, n) */
    int64_t grain;           /* job: chunk size */
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

/* Take chunks until none are left. */
static void run_chunks(fk_pool *p, int thread)
{
    for (;;) {
        int64_t begin = atomic_fetch_add(&p->next, p->grain);
        if (begin >= p->n) return;
        int64_t end = begin + p->grain < p->n ? begin + p->grain : p->n;
        p->fn(p->ctx, begin, end, thread);
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
        run_chunks(p, w->index);
        if (atomic_fetch_sub(&p->busy, 1) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_broadcast(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
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
    if (p->n_threads == 1 || n <= grain) {
        fn(ctx, 0, n, 0);
        return;
    }
    p->n = n;
    p->grain = grain;
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->next, 0);
    atomic_store(&p->busy, p->n_threads - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->start_cv);
    pthread_mutex_unlock(&p->mu);
    run_chunks(p, 0);
    for (int i = 0; i < FK_POOL_SPIN && atomic_load(&p->busy) != 0; i++) cpu_relax();
    if (atomic_load(&p->busy) != 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->busy) != 0) pthread_cond_wait(&p->done_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}
