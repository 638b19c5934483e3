/* backend.h: the contract between the gpt-oss forward pass (model.c) and a
 * backend that does its arithmetic: the CPU backend (backends/cpu/), the
 * plain reference backend the tests compare it with (backends/ref/) and,
 * later, a CUDA backend. ggml-backend style: an opaque handle that begins
 * with its ops table.
 *
 * Memory. "Backend memory" comes from ops->alloc and is what a device can
 * address (host memory on the CPU backends). "Host" marks an argument in
 * ordinary host memory. Weights are mapped once at load (map_weights): on
 * the CPU backends that is the checkpoint's read-only mapping itself, on a
 * device a copy in its memory. Weights are never converted: bf16 as
 * uint16_t, MXFP4 codes and e8m0 scales as uint8_t.
 *
 * Shapes. Activations are float32, row-major, one row per token ("R rows");
 * a shape is written [rows, columns]. Outputs come first, then inputs, then
 * sizes.
 *
 * Ordering and synchronisation. Ops run in call order, as if on one stream:
 * each op sees the results of every op called before it. An op whose
 * outputs are all backend memory MAY run asynchronously on a device (it may
 * return before its work is done); the ops marked "synchronising" below
 * return only when every earlier op and their own work have finished, and
 * their host outputs are then final. Host inputs (token ids, row lists,
 * block tables, scales) are read before an op returns, so the caller may
 * reuse them at once (a device backend stages them). On the CPU backends
 * every op runs to completion before it returns.
 *
 * Threads. One thread calls into a backend at a time; an op may use every
 * thread the backend owns.
 *
 * Status. Every op that can fail returns an fk_status: FK_OK, or why it did
 * nothing useful (FK_ERR_OOM, FK_ERR_SHAPE for a shape this backend does not
 * support, FK_ERR_ARG for arguments outside this contract, FK_ERR_DEVICE).
 * An asynchronous op reports argument and shape errors at once; an error
 * during its execution surfaces at the next synchronising op. No op fails
 * silently: the caller checks every status (model.c's FK_TRY names the file
 * and line).
 *
 * Results. A row's result depends only on that row's inputs (and, for
 * attention, its sequence's cache), never on R or on the other rows in the
 * call (batch invariance): a token decoded alone, in a batch, or as part of a
 * prefill chunk gets the same bits. The prefix cache's exactness rests on
 * this; tests/unit/test_backend_ops.c checks it for every op. A fast kernel
 * need not give the reference backend's bits (the order of a sum may
 * differ) but must stay within the tolerances that test states. */
#ifndef FK_BACKEND_H
#define FK_BACKEND_H

#include <stddef.h>
#include <stdint.h>

/* What went wrong (FK_OK is 0). The last two come from the model and the KV
 * cache, not from ops. */
typedef enum fk_status {
    FK_OK = 0,
    FK_ERR_OOM,     /* backend or host memory exhausted */
    FK_ERR_SHAPE,   /* a shape this backend does not support (e.g. head_dim) */
    FK_ERR_ARG,     /* an argument outside the contract (negative size, bad row) */
    FK_ERR_DEVICE,  /* the device failed */
    FK_ERR_TOKEN,   /* a token id outside the vocabulary */
    FK_ERR_KV_FULL, /* no free KV block, or the sequence's capacity reached */
} fk_status;

/* A short phrase for a status ("out of memory"). */
const char *fk_status_str(fk_status st);

/* How a weight matrix with N outputs and K inputs is stored. */
typedef enum fk_wfmt {
    FK_W_BF16 = 0, /* bf16 [N, K]: nn.Linear orientation, y = W x */
    FK_W_BF16_T,   /* bf16 [K, N]: the BF16 expert form, y = x W */
    FK_W_MXFP4,    /* codes [N, K/32, 16] + scales [N, K/32]; K % 32 == 0 */
} fk_wfmt;

/* A weight matrix view: N outputs, K inputs (mapped weights). */
typedef struct fk_wmat {
    fk_wfmt fmt;           /* layout, see fk_wfmt */
    int n;                 /* N: outputs */
    int k;                 /* K: inputs */
    const void *data;      /* bf16 values or MXFP4 code bytes */
    const uint8_t *scales; /* MXFP4 e8m0 scales [N, K/32]; NULL otherwise */
} fk_wmat;

/* The paged KV cache as the ops see it: one pool of fixed-size blocks in
 * backend memory, each holding `block_tokens` positions of keys and values
 * for up to `slots` layers (the layers of one group, model/kv.h):
 *     block b, layer slot s, K (0) or V (1), row r (= position % block_tokens):
 *     base + b * block_floats + ((s * 2 + kv) * block_tokens + r) * width
 * A sequence reaches its positions through its block table. */
typedef struct fk_kv_cache {
    float *base;         /* backend memory [n_blocks, block_floats] */
    int block_tokens;    /* positions per block */
    int slots;           /* layers per block */
    int width;           /* floats per position and layer: nkv * hd */
    size_t block_floats; /* slots * 2 * block_tokens * width */
} fk_kv_cache;

/* The key row of position t, layer slot `slot`, kv head h (head_dim hd) as
 * laid out above; the value row follows block_tokens * width floats later.
 * The block must be in `blocks` (the caller checks). */
static inline float *fk_kv_key(const fk_kv_cache *c, int slot, const int32_t *blocks, int t, int h,
                               int hd)
{
    size_t b = (size_t)blocks[t / c->block_tokens];
    size_t row = (size_t)slot * 2 * c->block_tokens + (size_t)(t % c->block_tokens);
    return c->base + b * c->block_floats + row * c->width + (size_t)h * hd;
}

/* One sequence's part of a kv_store or attention call: its new tokens are
 * rows row0 .. row0+n_new-1 of the call, at absolute positions
 * pos0 .. pos0+n_new-1. Position p lives in block blocks[p / block_tokens]
 * at row p % block_tokens; entries a sliding layer no longer needs are -1
 * and are never read. Calls list sequences in increasing row0, their rows
 * contiguous from 0. */
typedef struct fk_attn_seq {
    const int32_t *blocks; /* host: block table [n_blocks] */
    int n_blocks;          /* entries in blocks (covers pos0 + n_new - 1) */
    int pos0;              /* absolute position of the first new token */
    int n_new;             /* new tokens of this sequence */
    int row0;              /* first row of this sequence in the call */
} fk_attn_seq;

/* The sequence owning call row `row` (seqs sorted by row0, n_seqs >= 1). */
static inline const fk_attn_seq *fk_attn_seq_of_row(const fk_attn_seq *seqs, int n_seqs, int row)
{
    int lo = 0, hi = n_seqs - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (seqs[mid].row0 <= row)
            lo = mid;
        else
            hi = mid - 1;
    }
    return &seqs[lo];
}

/* All experts of one layer for the fused moe op: two matrix families, each
 * expert's matrix stored one after the other (expert-major), as the
 * checkpoint holds them. */
typedef struct fk_experts {
    fk_wfmt fmt;                   /* FK_W_MXFP4 or FK_W_BF16_T (both families) */
    int n_experts;                 /* E */
    int hidden;                    /* H: gate_up inputs, down outputs */
    int inter;                     /* I: down inputs; gate_up has 2I outputs */
    const void *gate_up;           /* codes [E, 2I, H/32, 16] or bf16 [E, H, 2I] */
    const uint8_t *gate_up_scales; /* e8m0 [E, 2I, H/32]; NULL for bf16 */
    const uint16_t *gate_up_bias;  /* bf16 [E, 2I] (gate, up interleaved) */
    const void *down;              /* codes [E, H, I/32, 16] or bf16 [E, I, H] */
    const uint8_t *down_scales;    /* e8m0 [E, H, I/32]; NULL for bf16 */
    const uint16_t *down_bias;     /* bf16 [E, H] */
    float limit;                   /* SwiGLU clamp (swiglu op) */
    float alpha;                   /* SwiGLU sigmoid slope */
} fk_experts;

typedef struct fk_backend fk_backend;

typedef struct fk_backend_ops {
    const char *name; /* "cpu", "ref", ... */
    /* Release the backend and its threads (all its memory must have been
     * released). */
    void (*free)(fk_backend *be);

    /* ---- memory --------------------------------------------------------------- */
    /* `bytes` of backend memory, 64-byte aligned, contents undefined; NULL
     * when out of memory. */
    void *(*alloc)(fk_backend *be, size_t bytes);
    /* Give back memory from alloc (NULL is accepted). Synchronising. */
    void (*release)(fk_backend *be, void *p);
    /* Make `bytes` of read-only weights at `host` (the checkpoint mapping,
     * which outlives the backend's use) addressable by the ops: *out is the
     * pointer to pass in fk_wmat and friends. CPU: *out = host, no copy. A
     * device copies them. Synchronising. */
    fk_status (*map_weights)(fk_backend *be, const void **out, const void *host, size_t bytes);
    /* Undo map_weights for the pointer it gave (NULL is accepted). */
    void (*unmap_weights)(fk_backend *be, const void *mapped);
    /* Copy `bytes` from the host into backend memory (token ids, rope
     * tables). src is read before the call returns; may be asynchronous. */
    fk_status (*upload)(fk_backend *be, void *dst, const void *src, size_t bytes);
    /* Copy `bytes` of backend memory to the host. Synchronising. */
    fk_status (*download)(fk_backend *be, void *host, const void *src, size_t bytes);
    /* Wait until every op called so far has finished; the first error any of
     * them met, or FK_OK. */
    fk_status (*synchronize)(fk_backend *be);

    /* ---- the forward pass (all outputs in backend memory) ------------------------ */
    /* x[r] = embed[tokens[r]] widened to float: x [R, H]; embed bf16 [V, H];
     * tokens backend memory int32 [R]. FK_ERR_ARG when a token is outside
     * [0, V) (the model checks first). */
    fk_status (*embed)(fk_backend *be, float *x, const uint16_t *embed, const int32_t *tokens,
                       int R, int H, int V);
    /* y[r] = x[r] * rsqrt(mean(x[r]^2) + eps) * w: y, x [R, H]; w bf16 [H].
     * y may equal x. */
    fk_status (*rmsnorm)(fk_backend *be, float *y, const float *x, const uint16_t *w, int R, int H,
                         float eps);
    /* y = x W^T + bias: y [R, N]; x [R, K]; bias bf16 [N] or NULL. Each
     * weight is read once for all R rows. */
    fk_status (*matmul)(fk_backend *be, float *y, const float *x, const fk_wmat *w,
                        const uint16_t *bias, int R);
    /* Rotate each head of x in place, NeoX half-split: for i < hd/2,
     * (x_i, x_{i+hd/2}) -> (x_i c - x_{i+hd/2} s, x_{i+hd/2} c + x_i s) with
     * c, s = cos_sin[r][i], cos_sin[r][hd/2 + i]. x [R, n_heads*hd];
     * cos_sin [R, hd] (cos then sin, concentration included). */
    fk_status (*rope)(fk_backend *be, float *x, const float *cos_sin, int R, int n_heads, int hd);
    /* Write the new tokens' keys and values of each sequence into layer slot
     * `slot` of the cache: k, v [R, width] (roped keys), row row0+i to
     * position pos0+i. The blocks must exist (the KV manager reserved them). */
    fk_status (*kv_store)(fk_backend *be, const fk_kv_cache *cache, int slot, const float *k,
                          const float *v, const fk_attn_seq *seqs, int n_seqs);
    /* Causal attention with sinks and an optional sliding window, every key
     * and value read from layer slot `slot` of the cache (kv_store first).
     * out, q [R, nh*hd]; sinks bf16 [nh]; window 0: full, else a query at p
     * sees p-window+1 .. p. Query head j uses kv head j / (nh/nkv); scores
     * are q.k / sqrt(hd); the sink enters the softmax denominator only.
     * FK_ERR_SHAPE when hd is more than the backend supports. */
    fk_status (*attention)(fk_backend *be, float *out, const float *q, const fk_kv_cache *cache,
                           int slot, const fk_attn_seq *seqs, int n_seqs, const uint16_t *sinks,
                           int nh, int nkv, int hd, int window);
    /* Router: for each row the k largest logits (ties: lower index first),
     * softmax over those k only. idx, weight host [R, k]; logits [R, E].
     * Synchronising (its outputs are host memory: the model groups rows by
     * expert on the host). */
    fk_status (*route)(fk_backend *be, int32_t *idx, float *weight, const float *logits, int R,
                       int E, int k);
    /* Clamped SwiGLU on interleaved gate/up: g = min(gu[2i], limit),
     * u = clamp(gu[2i+1], -limit, limit), y[i] = (u + 1) g sigmoid(alpha g).
     * y [R, I]; gu [R, 2I]. */
    fk_status (*swiglu)(fk_backend *be, float *y, const float *gu, int R, int I, float limit,
                        float alpha);
    /* y[i] = x[rows[i]]: y [n, W]; x [*, W]; rows host [n]. */
    fk_status (*gather)(fk_backend *be, float *y, const float *x, const int32_t *rows, int n,
                        int W);
    /* y[rows[i]] += scale[i] * x[i]: y [*, W]; x [n, W]; rows, scale host [n];
     * rows distinct. */
    fk_status (*scatter_add)(fk_backend *be, float *y, const float *x, const int32_t *rows,
                             const float *scale, int n, int W);
    /* y += x, n floats. */
    fk_status (*add)(fk_backend *be, float *y, const float *x, size_t n);
    /* OPTIONAL (NULL: the model runs route, then gather, matmul, swiglu,
     * matmul and scatter_add per expert). The whole mixture of experts with
     * no host round trip, which a device needs for speed and for capturing
     * a decode step: route each row of logits [R, E] as the route op does
     * (top k, ties to the lower index, softmax over the k in float32), then
     *     x[r] += sum over the k chosen experts e, in increasing e, of
     *             w_e * (Wd[e] swiglu(Wgu[e] h[r] + bgu[e]) + bd[e])
     * with swiglu as the swiglu op. x, h [R, H]; logits [R, E]. The same
     * function as the unfused ops, within the matmul tolerance. */
    fk_status (*moe)(fk_backend *be, float *x, const float *h, const float *logits,
                     const fk_experts *w, int R, int k);

    /* ---- sampling -------------------------------------------------------------- */
    /* idx[r] = the index of the largest of logits[r] (ties: the lowest
     * index; NaN never wins): idx host [R]; logits [R, V]. Greedy decoding
     * without downloading the logits. Synchronising. */
    fk_status (*argmax)(fk_backend *be, int32_t *idx, const float *logits, int R, int V);
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

/* The reference backend: every op as the plainest loop on one thread, for
 * tests to compare the fast kernels with (llm.c keeps matmul_forward_naive
 * beside matmul_forward). NULL on OOM. */
fk_backend *fk_backend_ref_new(void);

#endif
