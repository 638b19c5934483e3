/* backend.h: the arithmetic of the gpt-oss forward pass as a table of
 * kernels, so model.c reads like the math and a CUDA backend can sit behind
 * the same table later (ggml-backend style: opaque handle, ops table).
 *
 * Conventions for every op:
 *   - outputs first, then inputs, then sizes;
 *   - activations are float32, row-major, one row per token ("R rows");
 *   - weights are the checkpoint's own bytes (bf16 as uint16_t, MXFP4 codes
 *     and e8m0 scales as uint8_t), never converted or copied;
 *   - activation pointers are backend memory from ops->alloc (host memory on
 *     the CPU backend); index/weight arrays marked "host" live on the host.
 * Ops run to completion before they return; an op may use every thread the
 * backend owns. One thread calls into a backend at a time. */
#ifndef FK_BACKEND_H
#define FK_BACKEND_H

#include <stddef.h>
#include <stdint.h>

/* How a weight matrix with N outputs and K inputs is stored. */
typedef enum fk_wfmt {
    FK_W_BF16 = 0, /* bf16 [N, K]: nn.Linear orientation, y = W x */
    FK_W_BF16_T,   /* bf16 [K, N]: the BF16 expert form, y = x W */
    FK_W_MXFP4,    /* codes [N, K/32, 16] + scales [N, K/32]; K % 32 == 0 */
} fk_wfmt;

/* A weight matrix view: N outputs, K inputs (points into the checkpoint). */
typedef struct fk_wmat {
    fk_wfmt fmt;           /* layout, see fk_wfmt */
    int n;                 /* N: outputs */
    int k;                 /* K: inputs */
    const void *data;      /* bf16 values or MXFP4 code bytes */
    const uint8_t *scales; /* MXFP4 e8m0 scales [N, K/32]; NULL otherwise */
} fk_wmat;

/* One sequence's part of an attention call. Its new tokens are rows
 * row0 .. row0+n_new-1 of q/k/v/out, at absolute positions pos0 .. pos0+n_new-1.
 * Earlier positions come from its cache, a ring of `slots` rows: position p
 * lives in row p % slots of k_cache/v_cache ([slots, nkv*hd]), and the ring
 * holds positions max(0, pos0 - slots) .. pos0-1. */
typedef struct fk_attn_seq {
    const float *k_cache; /* [slots, nkv*hd] */
    const float *v_cache; /* [slots, nkv*hd] */
    int slots;            /* ring rows (window on sliding layers, capacity on full) */
    int pos0;             /* absolute position of the first new token */
    int n_new;            /* new tokens of this sequence */
    int row0;             /* first row of this sequence in q/k/v/out */
} fk_attn_seq;

typedef struct fk_backend fk_backend;

typedef struct fk_backend_ops {
    const char *name; /* "cpu", ... */
    /* Release the backend and its threads. */
    void (*free)(fk_backend *be);
    /* Backend memory for activations, zeroed; NULL when out of memory. */
    float *(*alloc)(fk_backend *be, size_t n_floats);
    void (*release)(fk_backend *be, float *p);
    /* Copy n floats from backend memory to the host. */
    void (*download)(fk_backend *be, float *host, const float *src, size_t n);

    /* x[r] = embed[tokens[r]] widened to float: x [R, H]; embed bf16 [V, H];
     * tokens host [R], each in [0, V). */
    void (*embed)(fk_backend *be, float *x, const uint16_t *embed, const int32_t *tokens, int R,
                  int H);
    /* y[r] = x[r] * rsqrt(mean(x[r]^2) + eps) * w: y, x [R, H]; w bf16 [H].
     * y may equal x. */
    void (*rmsnorm)(fk_backend *be, float *y, const float *x, const uint16_t *w, int R, int H,
                    float eps);
    /* y = x W^T + bias: y [R, N]; x [R, K]; bias bf16 [N] or NULL. Each
     * weight is read once for all R rows. */
    void (*matmul)(fk_backend *be, float *y, const float *x, const fk_wmat *w, const uint16_t *bias,
                   int R);
    /* Rotate each head of x in place, NeoX half-split: for i < hd/2,
     * (x_i, x_{i+hd/2}) -> (x_i c - x_{i+hd/2} s, x_{i+hd/2} c + x_i s) with
     * c, s = cos_sin[r][i], cos_sin[r][hd/2 + i]. x [R, n_heads*hd];
     * cos_sin [R, hd] (cos then sin, concentration included). */
    void (*rope)(fk_backend *be, float *x, const float *cos_sin, int R, int n_heads, int hd);
    /* Causal attention with sinks and an optional sliding window.
     * out, q [R, nh*hd]; k, v [R, nkv*hd] (the new tokens' keys/values, roped);
     * sinks bf16 [nh]; window 0: full, else a query at p sees p-window+1 .. p.
     * Query head j uses kv head j / (nh/nkv); scores are q.k / sqrt(hd); the
     * sink enters the softmax denominator only. */
    void (*attention)(fk_backend *be, float *out, const float *q, const float *k, const float *v,
                      const fk_attn_seq *seqs, int n_seqs, const uint16_t *sinks, int nh, int nkv,
                      int hd, int window);
    /* Append the new tokens of one sequence to its ring: rows of k/v
     * [n, width] for positions pos0.. go to ring row p % slots (only the last
     * `slots` of them are kept). */
    void (*kv_store)(fk_backend *be, float *k_cache, float *v_cache, int slots, const float *k,
                     const float *v, int pos0, int n, int width);
    /* Router: for each row the k largest logits (ties: lower index first),
     * softmax over those k only. idx, weight host [R, k]; logits [R, E]. */
    void (*route)(fk_backend *be, int32_t *idx, float *weight, const float *logits, int R, int E,
                  int k);
    /* Clamped SwiGLU on interleaved gate/up: g = min(gu[2i], limit),
     * u = clamp(gu[2i+1], -limit, limit), y[i] = (u + 1) g sigmoid(alpha g).
     * y [R, I]; gu [R, 2I]. */
    void (*swiglu)(fk_backend *be, float *y, const float *gu, int R, int I, float limit,
                   float alpha);
    /* y[i] = x[rows[i]]: y [n, W]; x [*, W]; rows host [n]. */
    void (*gather)(fk_backend *be, float *y, const float *x, const int32_t *rows, int n, int W);
    /* y[rows[i]] += scale[i] * x[i]: y [*, W]; x [n, W]; rows, scale host [n];
     * rows distinct. */
    void (*scatter_add)(fk_backend *be, float *y, const float *x, const int32_t *rows,
                        const float *scale, int n, int W);
    /* y += x, n floats. */
    void (*add)(fk_backend *be, float *y, const float *x, size_t n);
} fk_backend_ops;

/* Every backend begins with this header. */
struct fk_backend {
    const fk_backend_ops *ops; /* its kernels */
};

/* The CPU backend: n_threads <= 0 means one per online CPU. NULL when its
 * threads cannot start. */
fk_backend *fk_backend_cpu_new(int n_threads);
/* Threads a CPU backend uses (for reports). */
int fk_backend_cpu_threads(const fk_backend *be);

#endif
