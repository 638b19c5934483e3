/* cuda_impl.h (private to backends/cuda/): the CUDA backend's state, shared
 * by backend_cuda.c (life cycle, memory, running segments, profile) and
 * ops_cuda.c (the backend.h ops: checks, staging, records). */
#ifndef FK_CUDA_IMPL_H
#define FK_CUDA_IMPL_H

#include "cuda.h"
#include "kernels.h"
#include "stream.h"

#include <cuda_runtime_api.h>

/* Record a failed CUDA call and return its status from the calling
 * function: "FILE:LINE: call: CUDA's message". */
#define CU_TRY(b, call)                                                                            \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) return fk_cu_fail(b, e_, #call, __FILE__, __LINE__);                \
    } while (0)

/* Scratch buffers the ops use, each grown on demand. */
enum {
    SCR_ATTN = 0, /* attention partials */
    SCR_SMALL,    /* device results of route and argmax */
    SCR_PICK,     /* moe: picks, weights, expert lists, rows */
    SCR_ACT,      /* moe: SwiGLU outputs */
    SCR_OUT,      /* moe: expert outputs */
    SCR_COUNT
};

/* A device buffer to free once the work queued before it has run. */
typedef struct cu_deferred {
    void *p;                  /* device memory */
    struct cu_deferred *next; /* list */
} cu_deferred;

/* The weight allocation (one, sized from the checkpoint). */
typedef struct cu_arena {
    uint8_t *base; /* device memory, or NULL */
    size_t cap;    /* bytes */
    size_t used;   /* bytes handed out */
    size_t live;   /* tensors mapped and not unmapped */
} cu_arena;

/* Profile counters of one line (cuda.h fk_cuda_prof). */
typedef struct cu_prof {
    uint64_t calls; /* timed launches */
    double ms;      /* their time */
    uint64_t bytes; /* bytes they read */
} cu_prof;

#define CU_PROF_MATMUL_FORMS 3 /* matmul lines: one per fk_wfmt */

typedef struct fk_cuda_backend {
    fk_backend base;            /* ops table; first */
    fk_cuda_info info;          /* the GPU */
    cudaStream_t stream;        /* every op runs on it */
    fk_cu_stream st;            /* recording and running segments */
    void *stage_host;           /* pinned staging area [stage_cap] */
    void *stage_dev;            /* its device copy */
    size_t stage_cap;           /* bytes */
    void *out_host;             /* pinned output area [out_cap] */
    size_t out_cap;             /* bytes */
    int *err_dev;               /* device error word (fk_cu_ctx.err) */
    int *err_host;              /* pinned copy of it after each segment */
    void *bounce[2];            /* pinned buffers for weight uploads */
    cudaEvent_t bounce_done[2]; /* each buffer's last copy */
    size_t bounce_cap;          /* bytes each */
    cu_arena weights;           /* where weights go */
    uint64_t upload_total;      /* weights_bytes (progress total) */
    uint64_t uploaded;          /* bytes uploaded so far */
    void (*progress)(void *ud, uint64_t done, uint64_t total); /* or NULL */
    void *progress_ud;                                         /* passed to progress */
    void *scratch[SCR_COUNT];                                  /* device scratch */
    size_t scratch_cap[SCR_COUNT];                             /* their sizes */
    cu_deferred *deferred;       /* buffers replaced during the current segment */
    int32_t *host_tmp;           /* host scratch for building staged blobs */
    size_t host_tmp_cap;         /* its entries */
    int profiling;               /* 1: events around every launch, no graphs */
    int sync_each;               /* 1: wait after every launch (FK_CUDA_SYNC), no graphs */
    int graphs;                  /* the option (restored when profiling stops) */
    cudaEvent_t *events;         /* profiling: two per record of a segment */
    const fk_cu_rec *timed_recs; /* the segment being timed (valid until its wait) */
    size_t timed_n;              /* its records; 0: none */
    size_t n_events;             /* created */
    cu_prof prof[FK_CU_OP_COUNT + CU_PROF_MATMUL_FORMS]; /* per op; matmul split by format */
    char err[512];                                       /* the last CUDA failure */
} fk_cuda_backend;

static inline fk_cuda_backend *cu_of(fk_backend *be)
{
    return (fk_cuda_backend *)be;
}

/* Record a failed CUDA call (CU_TRY): FK_ERR_OOM for an allocation failure,
 * else FK_ERR_DEVICE. */
fk_status fk_cu_fail(fk_cuda_backend *b, cudaError_t e, const char *call, const char *file,
                     int line);

/* Run the current segment and wait (the synchronising ops). */
fk_status fk_cu_flush(fk_cuda_backend *b);

/* Device scratch `which` of at least `bytes`; NULL with b->err on OOM. A
 * replaced buffer is freed after the next flush (records may name it). */
void *fk_cu_scratch(fk_cuda_backend *b, int which, size_t bytes);

/* Host int32 scratch of at least n entries, or NULL. */
int32_t *fk_cu_host_tmp(fk_cuda_backend *b, size_t n);

/* Make room for `bytes` of staged blobs (their sizes plus 16 each) in the
 * current segment: an op calls this once for all it stages, so no flush
 * falls between two of its blobs. Flushes (and grows the area) as needed. */
fk_status fk_cu_stage_room(fk_cuda_backend *b, size_t bytes);

/* Stage `bytes` of host data (after fk_cu_stage_room): the device address
 * of the staged copy, or NULL (b->err says why). */
const void *fk_cu_stage(fk_cuda_backend *b, const void *src, size_t bytes);

/* Reserve `bytes` of the pinned output area, copied to dst after the
 * segment's wait: *off, for an FK_CU_TO_HOST record. Call it right before
 * pushing the synchronising op's records (it may flush). */
fk_status fk_cu_result(fk_cuda_backend *b, void *dst, size_t bytes, size_t *off);

/* Append a record. FK_ERR_OOM when the record array cannot grow. */
fk_status fk_cu_push(fk_cuda_backend *b, const fk_cu_rec *r);

/* Scratch sizes for calls of R rows (ops_cuda.c; fk_backend_cuda_reserve
 * uses them too). */
size_t fk_cu_attn_scratch_bytes(int R, int nh, int hd);
size_t fk_cu_moe_scratch_bytes(int which, int R, int k, int E, int H, int I);

/* The ops (ops_cuda.c), backend.h signatures. */
fk_status fk_cu_op_embed(fk_backend *be, float *x, const uint16_t *embed, const int32_t *tokens,
                         int R, int H, int V);
fk_status fk_cu_op_rmsnorm(fk_backend *be, float *y, const float *x, const uint16_t *w, int R,
                           int H, float eps);
fk_status fk_cu_op_matmul(fk_backend *be, float *y, const float *x, const fk_wmat *w,
                          const uint16_t *bias, int R);
fk_status fk_cu_op_rope(fk_backend *be, float *x, const float *cos_sin, int R, int n_heads, int hd);
fk_status fk_cu_op_kv_store(fk_backend *be, const fk_kv_cache *cache, int slot, const float *k,
                            const float *v, const fk_attn_seq *seqs, int n_seqs);
fk_status fk_cu_op_attention(fk_backend *be, float *out, const float *q, const fk_kv_cache *cache,
                             int slot, const fk_attn_seq *seqs, int n_seqs, const uint16_t *sinks,
                             int nh, int nkv, int hd, int window);
fk_status fk_cu_op_route(fk_backend *be, int32_t *idx, float *weight, const float *logits, int R,
                         int E, int k);
fk_status fk_cu_op_swiglu(fk_backend *be, float *y, const float *gu, int R, int I, float limit,
                          float alpha);
fk_status fk_cu_op_gather(fk_backend *be, float *y, const float *x, const int32_t *rows, int n,
                          int W);
fk_status fk_cu_op_scatter_add(fk_backend *be, float *y, const float *x, const int32_t *rows,
                               const float *scale, int n, int W);
fk_status fk_cu_op_add(fk_backend *be, float *y, const float *x, size_t n);
fk_status fk_cu_op_moe(fk_backend *be, float *x, const float *h, const float *logits,
                       const fk_experts *w, int R, int k);
fk_status fk_cu_op_argmax(fk_backend *be, int32_t *idx, const float *logits, int R, int V);

/* The ops table (backend_cuda.c). */
extern const fk_backend_ops fk_cuda_ops;

#endif
