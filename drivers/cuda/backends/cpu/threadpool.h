/* threadpool.h: a small persistent pthread pool with one operation, a
 * parallel for over [0, n).
 *
 * The calling thread takes part in the work, so a pool of N threads starts
 * N - 1 workers. Work is handed out in chunks of `grain` indices from an
 * atomic counter, so a thread slowed by another process does not hold the
 * others up. Idle workers spin briefly, then sleep on a condition variable.
 *
 * Not re-entrant: one fk_pool_for at a time per pool (model.h's rule). */
#ifndef FK_THREADPOOL_H
#define FK_THREADPOOL_H

#include <stdint.h>

typedef struct fk_pool fk_pool;

/* Body of a parallel for: handle indices [begin, end); `thread` is the
 * caller's slot in 0..fk_pool_size()-1 (for per-thread scratch). */
typedef void (*fk_pool_fn)(void *ctx, int64_t begin, int64_t end, int thread);

/* n_threads <= 0: one per online CPU. NULL when a thread cannot start. */
fk_pool *fk_pool_new(int n_threads);
/* Joins the workers. NULL is accepted. */
void fk_pool_free(fk_pool *p);
int fk_pool_size(const fk_pool *p);

/* Run fn over [0, n) in chunks of `grain` (>= 1) on all threads and return
 * when every chunk is done. Runs inline when n <= grain or the pool has one
 * thread. */
void fk_pool_for(fk_pool *p, int64_t n, int64_t grain, fk_pool_fn fn, void *ctx);

#endif
