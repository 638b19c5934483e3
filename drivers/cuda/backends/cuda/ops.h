/* ops.h: one recorded CUDA op (fk_cu_rec), as the backend builds it from a
 * backend.h call and the kernels (kernels.cu) launch it. C and CUDA both
 * compile this header.
 *
 * A record holds everything a launch needs, and nothing that changes from
 * one decode step to the next except through memory: token ids, positions,
 * block tables and row lists are staged (copied into the stream's staging
 * area, which goes to the device at the start of each segment) and the
 * record holds only where they are. So two decode steps of the same batch
 * shape give byte-identical records, which is how stream.c recognises a
 * step it has captured as a CUDA graph. Records are compared with memcmp:
 * always build one from a zeroed struct (fk_cu_rec_init). */
#ifndef FK_CUDA_OPS_H
#define FK_CUDA_OPS_H

#include "drivers/cuda/model/backend.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum fk_cu_op {
    FK_CU_COPY = 0,    /* device to device copy (upload: from the staging area) */
    FK_CU_TO_HOST,     /* device to the pinned output area (results of synchronising ops) */
    FK_CU_EMBED,       /* embedding rows */
    FK_CU_RMSNORM,     /* RMSNorm */
    FK_CU_MATMUL,      /* matmul (GEMV style, all rows per weight read) */
    FK_CU_ROPE,        /* rotary embedding in place */
    FK_CU_KV_STORE,    /* keys and values into the paged cache */
    FK_CU_ATTENTION,   /* split-K paged attention, then the combine */
    FK_CU_ROUTE,       /* router top-k into device memory */
    FK_CU_SWIGLU,      /* clamped SwiGLU */
    FK_CU_GATHER,      /* rows by index */
    FK_CU_SCATTER_ADD, /* scaled rows added by index */
    FK_CU_ADD,         /* y += x */
    FK_CU_ARGMAX,      /* per-row argmax into device memory */
    FK_CU_MOE,         /* route, expert lists, gate_up + SwiGLU, down, weighted sum */
    FK_CU_OP_COUNT
} fk_cu_op;

/* A matrix product y[r] = W x[r] + b (backend.h matmul), optionally over
 * expert groups: then block row a of the grid serves the a-th expert that
 * has rows, reading its rows' indices from the expert lists (moe). */
typedef struct fk_cu_gemv {
    float *y;              /* [*, ldy] */
    const float *x;        /* [*, ldx] */
    const void *w;         /* weights (first expert's, grouped) */
    const uint8_t *scales; /* MXFP4 scales or NULL */
    const uint16_t *bias;  /* [N] or NULL (first expert's, grouped) */
    int fmt;               /* fk_wfmt */
    int n;                 /* N outputs */
    int k;                 /* K inputs */
    int rows;              /* R (plain); the most rows of one expert (grouped) */
    int ldx;               /* floats between x rows */
    int ldy;               /* floats between y rows (outputs written: N, or N/2 with swiglu) */
    int split;             /* warps that share one output group's K range: 1, 2, 4 or 8 */
    int vec;               /* 1: 16-byte weight and x loads (aligned, K % 8 == 0) */
    int swiglu;            /* 1: y gets swiglu(gate, up) of each output pair */
    float limit;           /* SwiGLU clamp */
    float alpha;           /* SwiGLU slope */
    /* grouped (moe) only; NULL otherwise */
    const int32_t *groups; /* [1 + 2 * max_groups + P]: count, active expert ids, offsets, list */
    const int32_t *in_row; /* [P] x row of each list entry; NULL: the entry itself */
    int max_groups;        /* grid rows: min(E, P) */
    size_t w_stride;       /* bytes of weights per expert */
    size_t s_stride;       /* bytes of scales per expert */
    size_t b_stride;       /* bias entries per expert */
} fk_cu_gemv;

/* Paged attention and kv_store: geometry of the cache and where each row's
 * position and block table are (staged: meta [2R] = positions, then table
 * offsets into `tables`, in int32 entries). */
typedef struct fk_cu_paged {
    float *base;           /* the pool (kv_store writes it) */
    size_t block_floats;   /* floats per block */
    int block_tokens;      /* positions per block */
    int width;             /* nkv * hd */
    int slot;              /* layer slot */
    int rows;              /* R */
    const int32_t *meta;   /* [2R] staged */
    const int32_t *tables; /* staged block tables */
} fk_cu_paged;

typedef struct fk_cu_rec {
    int op;         /* fk_cu_op */
    uint64_t bytes; /* bytes the op reads (weights, cache) while profiling, else 0 */
    union {
        struct {
            void *dst;       /* device */
            const void *src; /* device (the staging area, or a buffer) */
            size_t bytes;    /* count */
        } copy;
        struct {
            size_t out_off;  /* offset in the pinned output area */
            const void *src; /* device */
            size_t bytes;    /* count */
        } to_host;
        struct {
            float *x;              /* [R, H] */
            const uint16_t *table; /* [V, H] */
            const int32_t *tokens; /* [R] device */
            int rows, h, v;        /* R, H, V */
        } embed;
        struct {
            float *y;          /* [R, H] */
            const float *x;    /* [R, H] */
            const uint16_t *w; /* [H] */
            int rows, h;       /* R, H */
            float eps;         /* epsilon */
        } rmsnorm;
        fk_cu_gemv matmul;
        struct {
            float *x;        /* [R, nh*hd] */
            const float *cs; /* [R, hd] */
            int rows, nh, hd;
        } rope;
        struct {
            fk_cu_paged c;  /* where */
            const float *k; /* [R, width] */
            const float *v; /* [R, width] */
        } kv_store;
        struct {
            fk_cu_paged c;         /* where the keys are */
            float *out;            /* [R, nh*hd] */
            const float *q;        /* [R, nh*hd] */
            const uint16_t *sinks; /* [nh] */
            float *partial;        /* scratch [R, nh, FK_K_ATTN_SPLITS, hd + 2] */
            int nh, nkv, hd, window;
        } attention;
        struct {
            int32_t *idx;    /* [R, k] device */
            float *w;        /* [R, k] device */
            const float *lg; /* [R, E] */
            int rows, e, k;  /* R, E, k */
        } route;
        struct {
            float *y;        /* [R, I] */
            const float *gu; /* [R, 2I] */
            size_t n;        /* R * I */
            float limit, alpha;
        } swiglu;
        struct {
            float *y;            /* gather: [n, W]; scatter_add: [*, W] */
            const float *x;      /* gather: [*, W]; scatter_add: [n, W] */
            const int32_t *rows; /* [n] staged */
            const float *scale;  /* [n] staged (scatter_add) */
            int n, w;            /* n, W */
        } rows;
        struct {
            float *y;       /* [n] */
            const float *x; /* [n] */
            size_t n;
        } add;
        struct {
            int32_t *idx;        /* [R] device */
            const float *logits; /* [R, V] */
            int rows, v;
        } argmax;
        struct {
            float *x;            /* [R, H] residual, added to */
            const float *h;      /* [R, H] normed input */
            const float *logits; /* [R, E] router logits */
            fk_experts w;        /* the layer's experts (device pointers) */
            int rows, k;         /* R, k */
            int32_t *pick;       /* scratch [R*k] expert of each (row, pick) */
            float *pick_w;       /* scratch [R*k] its weight */
            int32_t *groups;     /* scratch [1 + 2*min(E,R*k) + R*k] expert lists */
            int32_t *in_row;     /* scratch [R*k] row of each list entry */
            float *act;          /* scratch [R*k, I] SwiGLU outputs */
            float *out;          /* scratch [R*k, H] expert outputs */
            int split_gu;        /* gemv split for gate_up */
            int split_dn;        /* gemv split for down */
        } moe;
    } a;
} fk_cu_rec;

/* A zeroed record of op `op` (padding included, for memcmp). */
static inline void fk_cu_rec_init(fk_cu_rec *r, fk_cu_op op)
{
    memset(r, 0, sizeof *r);
    r->op = op;
}

/* Short name of an op, for the profile ("matmul"). */
const char *fk_cu_op_name(int op);

#endif
