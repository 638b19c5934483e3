/* ops_cuda.c: the backend.h ops of the CUDA backend: each checks its
 * arguments as the CPU backend does (same statuses), stages its host inputs
 * and appends a record (ops.h); the synchronising ones then run the segment.
 * Nothing here touches the GPU except through fk_cu_flush. */
#include "cuda_impl.h"
#include "drivers/cuda/model/mxfp4.h"
#include "kern.h"

#include <stdio.h>
#include <string.h>

const char *fk_cu_op_name(int op)
{
    static const char *names[FK_CU_OP_COUNT] = {
        "copy",  "to host", "embed",  "rmsnorm",     "matmul", "rope",   "kv_store", "attention",
        "route", "swiglu",  "gather", "scatter_add", "add",    "argmax", "moe"};
    return op >= 0 && op < FK_CU_OP_COUNT ? names[op] : "?";
}

static int aligned16(const void *p)
{
    return ((uintptr_t)p & 15u) == 0;
}

/* Bytes of an N x K matrix in format fmt. */
static uint64_t matrix_bytes(int fmt, int n, int k)
{
    uint64_t v = (uint64_t)n * (uint64_t)k;
    return fmt == FK_W_MXFP4 ? v / 2 + v / 32 : 2 * v;
}

/* ---- scratch sizes -------------------------------------------------------------------- */

size_t fk_cu_attn_scratch_bytes(int R, int nh, int hd)
{
    return (size_t)R * (size_t)nh * FK_K_ATTN_SPLITS * (size_t)(hd + 2) * sizeof(float);
}

size_t fk_cu_moe_scratch_bytes(int which, int R, int k, int E, int H, int I)
{
    size_t P = (size_t)R * (size_t)k, G = P < (size_t)E ? P : (size_t)E;
    if (which == SCR_PICK) return (P + P + (2 + 2 * G + P) + P) * sizeof(int32_t);
    if (which == SCR_ACT) return P * (size_t)I * sizeof(float);
    return P * (size_t)H * sizeof(float); /* SCR_OUT */
}

fk_status fk_backend_cuda_reserve(fk_backend *be, const fk_gptoss_config *cfg, int rows)
{
    fk_cuda_backend *b = cu_of(be);
    int k = cfg->experts_per_token, E = cfg->n_experts;
    size_t small = (size_t)rows * (size_t)(k > 1 ? k : 1) * 8;
    if (!fk_cu_scratch(b, SCR_ATTN, fk_cu_attn_scratch_bytes(rows, cfg->n_heads, cfg->head_dim)) ||
        !fk_cu_scratch(b, SCR_SMALL, small))
        return FK_ERR_OOM;
    for (int w = SCR_PICK; w <= SCR_OUT; w++)
        if (!fk_cu_scratch(
                b, w,
                fk_cu_moe_scratch_bytes(w, rows, k, E, cfg->hidden_size, cfg->intermediate_size)))
            return FK_ERR_OOM;
    return fk_cu_flush(b); /* frees what the new buffers replaced */
}

/* ---- simple ops ---------------------------------------------------------------------- */

fk_status fk_cu_op_embed(fk_backend *be, float *x, const uint16_t *embed, const int32_t *tokens,
                         int R, int H, int V)
{
    if (R < 0 || H <= 0 || V <= 0) return FK_ERR_ARG;
    if (R == 0) return FK_OK;
    fk_cu_rec r;
    fk_cu_rec_init(&r, FK_CU_EMBED);
    r.bytes = (uint64_t)R * H * 2;
    r.a.embed.x = x;
    r.a.embed.table = embed;
    r.a.embed.tokens = tokens;
    r.a.embed.rows = R;
    r.a.embed.h = H;
    r.a.embed.v = V;
    return fk_cu_push(cu_of(be), &r);
}

fk_status fk_cu_op_rmsnorm(fk_backend *be, float *y, const float *x, const uint16_t *w, int R,
                           int H, float eps)
{
    if (R < 0 || H <= 0) return FK_ERR_ARG;
    if (R == 0) return FK_OK;
    fk_cu_rec r;
    fk_cu_rec_init(&r, FK_CU_RMSNORM);
    r.bytes = (uint64_t)R * H * 4 + (uint64_t)H * 2;
    r.a.rmsnorm.y = y;
    r.a.rmsnorm.x = x;
    r.a.rmsnorm.w = w;
    r.a.rmsnorm.rows = R;
    r.a.rmsnorm.h = H;
    r.a.rmsnorm.eps = eps;
    return fk_cu_push(cu_of(be), &r);
}

/* The gemv description of y = x W^T + b over R rows. */
static void gemv_of(const fk_cuda_backend *b, fk_cu_gemv *g, float *y, const float *x,
                    const fk_wmat *w, const uint16_t *bias, int R)
{
    g->y = y;
    g->x = x;
    g->w = w->data;
    g->scales = w->scales;
    g->bias = bias;
    g->fmt = (int)w->fmt;
    g->n = w->n;
    g->k = w->k;
    g->rows = R;
    g->ldx = w->k;
    g->ldy = w->n;
    g->split = w->fmt == FK_W_BF16_T ? 1
                                     : fk_k_gemv_split(w->n, w->k, w->fmt == FK_W_MXFP4 ? 32 : 8, 1,
                                                       b->info.sm_count);
    g->vec = aligned16(w->data) && aligned16(x) && w->k % 8 == 0;
}

fk_status fk_cu_op_matmul(fk_backend *be, float *y, const float *x, const fk_wmat *w,
                          const uint16_t *bias, int R)
{
    if (R < 0 || w->n <= 0 || w->k <= 0) return FK_ERR_ARG;
    if (w->fmt != FK_W_BF16 && w->fmt != FK_W_BF16_T && w->fmt != FK_W_MXFP4) return FK_ERR_ARG;
    if (w->fmt == FK_W_MXFP4 && w->k % FK_MXFP4_BLOCK) return FK_ERR_SHAPE;
    if (R == 0) return FK_OK;
    fk_cuda_backend *b = cu_of(be);
    fk_cu_rec r;
    fk_cu_rec_init(&r, FK_CU_MATMUL);
    r.bytes = matrix_bytes(w->fmt, w->n, w->k) + (bias ? 2 * (uint64_t)w->n : 0);
    gemv_of(b, &r.a.matmul, y, x, w, bias, R);
    return fk_cu_push(b, &r);
}

fk_status fk_cu_op_rope(fk_backend *be, float *x, const float *cos_sin, int R, int n_heads, int hd)
{
    if (hd <= 0 || hd % 2) return FK_ERR_SHAPE;
    if (R < 0 || n_heads < 0) return FK_ERR_ARG;
    if (R == 0 || n_heads == 0) return FK_OK;
    fk_cu_rec r;
    fk_cu_rec_init(&r, FK_CU_ROPE);
    r.a.rope.x = x;
    r.a.rope.cs = cos_sin;
    r.a.rope.rows = R;
    r.a.rope.nh = n_heads;
    r.a.rope.hd = hd;
    return fk_cu_push(cu_of(be), &r);
}

fk_status fk_cu_op_swiglu(fk_backend *be, float *y, const float *gu, int R, int I, float limit,
                          float alpha)
{
    if (R < 0 || I < 0) return FK_ERR_ARG;
    if (R == 0 || I == 0) return FK_OK;
    fk_cu_rec r;
    fk_cu_rec_init(&r, FK_CU_SWIGLU);
    r.a.swiglu.y = y;
    r.a.swiglu.gu = gu;
    r.a.swiglu.n = (size_t)R * (size_t)I;
    r.a.swiglu.limit = limit;
    r.a.swiglu.alpha = alpha;
    return fk_cu_push(cu_of(be), &r);
}

/* gather and scatter_add: the row list (and scales) staged. */
static fk_status rows_op(fk_backend *be, int op, float *y, const float *x, const int32_t *rows,
                         const float *scale, int n, int W)
{
    if (n < 0 || W < 0) return FK_ERR_ARG;
    if (n == 0 || W == 0) return FK_OK;
    fk_cuda_backend *b = cu_of(be);
    size_t bytes = (size_t)n * sizeof(int32_t);
    fk_status st = fk_cu_stage_room(b, 2 * (bytes + 16));
    if (st != FK_OK) return st;
    fk_cu_rec r;
    fk_cu_rec_init(&r, (fk_cu_op)op);
    r.a.rows.rows = fk_cu_stage(b, rows, bytes);
    if (scale) r.a.rows.scale = fk_cu_stage(b, scale, bytes);
    if (!r.a.rows.rows || (scale && !r.a.rows.scale)) return FK_ERR_OOM;
    r.a.rows.y = y;
    r.a.rows.x = x;
    r.a.rows.n = n;
    r.a.rows.w = W;
    return fk_cu_push(b, &r);
}

fk_status fk_cu_op_gather(fk_backend *be, float *y, const float *x, const int32_t *rows, int n,
                          int W)
{
    return rows_op(be, FK_CU_GATHER, y, x, rows, NULL, n, W);
}

fk_status fk_cu_op_scatter_add(fk_backend *be, float *y, const float *x, const int32_t *rows,
                               const float *scale, int n, int W)
{
    return rows_op(be, FK_CU_SCATTER_ADD, y, x, rows, scale, n, W);
}

fk_status fk_cu_op_add(fk_backend *be, float *y, const float *x, size_t n)
{
    if (n == 0) return FK_OK;
    fk_cu_rec r;
    fk_cu_rec_init(&r, FK_CU_ADD);
    r.a.add.y = y;
    r.a.add.x = x;
    r.a.add.n = n;
    return fk_cu_push(cu_of(be), &r);
}

/* ---- the paged cache ------------------------------------------------------------------- */

/* Shapes and block tables a kv_store or attention call may use (the CPU
 * backend's rules): *rows gets R. For attention (keys = 1) every block a
 * query can see must exist; for kv_store the new positions' blocks. */
static fk_status check_seqs(const fk_kv_cache *c, int slot, const fk_attn_seq *seqs, int n_seqs,
                            int window, int keys, int *rows)
{
    if (slot < 0 || slot >= c->slots || n_seqs < 0 || c->block_tokens <= 0) return FK_ERR_ARG;
    int row = 0;
    for (int i = 0; i < n_seqs; i++) {
        const fk_attn_seq *s = &seqs[i];
        int last = s->pos0 + s->n_new - 1;
        if (s->row0 != row || s->n_new < 0 || s->pos0 < 0 ||
            (s->n_new > 0 && last / c->block_tokens >= s->n_blocks))
            return FK_ERR_ARG;
        row += s->n_new;
        if (s->n_new == 0) continue;
        int lo = s->pos0;
        if (keys) fk_k_attn_range(s->pos0, window, &lo);
        for (int bl = lo / c->block_tokens; bl <= last / c->block_tokens; bl++)
            if (s->blocks[bl] < 0) return FK_ERR_ARG;
    }
    *rows = row;
    return FK_OK;
}

static int pow2_at_least(int n)
{
    int p = 16;
    while (p < n) p *= 2;
    return p;
}

/* Stage each row's position and block table: p->meta and p->tables. The
 * tables go in one blob of n_seqs rows of a power-of-two stride (so a
 * decode step's records change only when a sequence's table crosses one),
 * each holding the entries up to its last new position, -1 beyond. */
static fk_status stage_paged(fk_cuda_backend *b, const fk_kv_cache *c, int slot,
                             const fk_attn_seq *seqs, int n_seqs, int R, fk_cu_paged *p)
{
    int stride = 16;
    for (int i = 0; i < n_seqs; i++)
        if (seqs[i].n_new > 0) {
            int need = (seqs[i].pos0 + seqs[i].n_new - 1) / c->block_tokens + 1;
            if (pow2_at_least(need) > stride) stride = pow2_at_least(need);
        }
    size_t tab_n = (size_t)n_seqs * (size_t)stride, meta_n = 2 * (size_t)R;
    int32_t *tmp = fk_cu_host_tmp(b, tab_n + meta_n);
    if (!tmp) return FK_ERR_OOM;
    fk_status st = fk_cu_stage_room(b, (tab_n + meta_n) * sizeof(int32_t) + 32);
    if (st != FK_OK) return st;
    for (int i = 0; i < n_seqs; i++) {
        int32_t *row = tmp + (size_t)i * stride;
        int need = seqs[i].n_new > 0 ? (seqs[i].pos0 + seqs[i].n_new - 1) / c->block_tokens + 1 : 0;
        memcpy(row, seqs[i].blocks, (size_t)need * sizeof(int32_t));
        for (int j = need; j < stride; j++) row[j] = -1;
    }
    const int32_t *tables = fk_cu_stage(b, tmp, tab_n * sizeof(int32_t));
    if (!tables) return FK_ERR_OOM;
    int32_t tab0 = (int32_t)((const int32_t *)tables - (const int32_t *)b->stage_dev);
    int32_t *meta = tmp + tab_n;
    for (int i = 0; i < n_seqs; i++)
        for (int t = 0; t < seqs[i].n_new; t++) {
            meta[seqs[i].row0 + t] = seqs[i].pos0 + t;
            meta[R + seqs[i].row0 + t] = tab0 + i * stride;
        }
    p->meta = fk_cu_stage(b, meta, meta_n * sizeof(int32_t));
    if (!p->meta) return FK_ERR_OOM;
    p->tables = (const int32_t *)b->stage_dev;
    p->base = c->base;
    p->block_floats = c->block_floats;
    p->block_tokens = c->block_tokens;
    p->width = c->width;
    p->slot = slot;
    p->rows = R;
    return FK_OK;
}

fk_status fk_cu_op_kv_store(fk_backend *be, const fk_kv_cache *cache, int slot, const float *k,
                            const float *v, const fk_attn_seq *seqs, int n_seqs)
{
    int R;
    fk_status st = check_seqs(cache, slot, seqs, n_seqs, 0, 0, &R);
    if (st != FK_OK || R == 0) return st;
    fk_cuda_backend *b = cu_of(be);
    fk_cu_rec r;
    fk_cu_rec_init(&r, FK_CU_KV_STORE);
    st = stage_paged(b, cache, slot, seqs, n_seqs, R, &r.a.kv_store.c);
    if (st != FK_OK) return st;
    r.a.kv_store.k = k;
    r.a.kv_store.v = v;
    return fk_cu_push(b, &r);
}

#define ATTN_MAX_HD 128   /* head_dim the attention kernel holds (4 dims a lane) */
#define ATTN_MAX_GROUP 32 /* query heads per KV head (one warp each) */

fk_status fk_cu_op_attention(fk_backend *be, float *out, const float *q, const fk_kv_cache *cache,
                             int slot, const fk_attn_seq *seqs, int n_seqs, const uint16_t *sinks,
                             int nh, int nkv, int hd, int window)
{
    if (hd > ATTN_MAX_HD) return FK_ERR_SHAPE;
    if (nh <= 0 || nkv <= 0 || nh % nkv || hd <= 0 || nkv * hd != cache->width || window < 0)
        return FK_ERR_ARG;
    if (nh / nkv > ATTN_MAX_GROUP) return FK_ERR_SHAPE;
    int R;
    fk_status st = check_seqs(cache, slot, seqs, n_seqs, window, 1, &R);
    if (st != FK_OK || R == 0) return st;
    fk_cuda_backend *b = cu_of(be);
    fk_cu_rec r;
    fk_cu_rec_init(&r, FK_CU_ATTENTION);
    r.a.attention.partial = fk_cu_scratch(b, SCR_ATTN, fk_cu_attn_scratch_bytes(R, nh, hd));
    if (!r.a.attention.partial) return FK_ERR_OOM;
    st = stage_paged(b, cache, slot, seqs, n_seqs, R, &r.a.attention.c);
    if (st != FK_OK) return st;
    for (int i = 0; i < n_seqs; i++) /* keys and values read, roughly */
        r.bytes += (uint64_t)seqs[i].n_new * (uint64_t)(seqs[i].pos0 + 1) * 2 * cache->width * 4;
    r.a.attention.out = out;
    r.a.attention.q = q;
    r.a.attention.sinks = sinks;
    r.a.attention.nh = nh;
    r.a.attention.nkv = nkv;
    r.a.attention.hd = hd;
    r.a.attention.window = window;
    return fk_cu_push(b, &r);
}

/* ---- routing and the fused experts -------------------------------------------------------- */

fk_status fk_cu_op_route(fk_backend *be, int32_t *idx, float *weight, const float *logits, int R,
                         int E, int k)
{
    if (k <= 0 || k > E || R < 0) return FK_ERR_ARG;
    if (R == 0) return FK_OK;
    fk_cuda_backend *b = cu_of(be);
    size_t n = (size_t)R * (size_t)k, off_i, off_w;
    fk_status st = fk_cu_result(b, idx, n * sizeof *idx, &off_i);
    if (st == FK_OK) st = fk_cu_result(b, weight, n * sizeof *weight, &off_w);
    if (st != FK_OK) return st;
    uint8_t *dev = fk_cu_scratch(b, SCR_SMALL, 2 * n * 4);
    if (!dev) return FK_ERR_OOM;
    fk_cu_rec r;
    fk_cu_rec_init(&r, FK_CU_ROUTE);
    r.a.route.idx = (int32_t *)dev;
    r.a.route.w = (float *)(dev + n * 4);
    r.a.route.lg = logits;
    r.a.route.rows = R;
    r.a.route.e = E;
    r.a.route.k = k;
    if ((st = fk_cu_push(b, &r)) != FK_OK) return st;
    fk_cu_rec c;
    fk_cu_rec_init(&c, FK_CU_TO_HOST);
    c.a.to_host.out_off = off_i;
    c.a.to_host.src = dev;
    c.a.to_host.bytes = n * 4;
    if ((st = fk_cu_push(b, &c)) != FK_OK) return st;
    c.a.to_host.out_off = off_w;
    c.a.to_host.src = dev + n * 4;
    if ((st = fk_cu_push(b, &c)) != FK_OK) return st;
    return fk_cu_flush(b);
}

fk_status fk_cu_op_moe(fk_backend *be, float *x, const float *h, const float *logits,
                       const fk_experts *w, int R, int k)
{
    int E = w->n_experts, H = w->hidden, I = w->inter;
    if (R < 0 || E <= 0 || k <= 0 || k > E || H <= 0 || I <= 0) return FK_ERR_ARG;
    if (w->fmt != FK_W_MXFP4 && w->fmt != FK_W_BF16_T) return FK_ERR_ARG;
    if (w->fmt == FK_W_MXFP4 && (H % FK_MXFP4_BLOCK || I % FK_MXFP4_BLOCK)) return FK_ERR_SHAPE;
    if (R == 0) return FK_OK;
    fk_cuda_backend *b = cu_of(be);
    fk_cu_rec r;
    fk_cu_rec_init(&r, FK_CU_MOE);
    size_t P = (size_t)R * (size_t)k;
    int32_t *pick = fk_cu_scratch(b, SCR_PICK, fk_cu_moe_scratch_bytes(SCR_PICK, R, k, E, H, I));
    r.a.moe.act = fk_cu_scratch(b, SCR_ACT, fk_cu_moe_scratch_bytes(SCR_ACT, R, k, E, H, I));
    r.a.moe.out = fk_cu_scratch(b, SCR_OUT, fk_cu_moe_scratch_bytes(SCR_OUT, R, k, E, H, I));
    if (!pick || !r.a.moe.act || !r.a.moe.out) return FK_ERR_OOM;
    r.a.moe.pick = pick;
    r.a.moe.pick_w = (float *)(pick + P);
    r.a.moe.groups = pick + 2 * P;
    r.a.moe.in_row = pick + 2 * P + (2 + 2 * (P < (size_t)E ? P : (size_t)E) + P);
    r.a.moe.x = x;
    r.a.moe.h = h;
    r.a.moe.logits = logits;
    r.a.moe.w = *w;
    r.a.moe.rows = R;
    r.a.moe.k = k;
    int unit = w->fmt == FK_W_MXFP4 ? 32 : 8;
    r.a.moe.split_gu = fk_k_gemv_split(2 * I, H, unit, k, b->info.sm_count);
    r.a.moe.split_dn = fk_k_gemv_split(H, I, unit, k, b->info.sm_count);
    size_t used = P < (size_t)E ? P : (size_t)E;
    r.bytes = used * (matrix_bytes(w->fmt, 2 * I, H) + matrix_bytes(w->fmt, H, I) +
                      2 * (uint64_t)(2 * I + H));
    return fk_cu_push(b, &r);
}

/* ---- sampling ------------------------------------------------------------------------------- */

fk_status fk_cu_op_argmax(fk_backend *be, int32_t *idx, const float *logits, int R, int V)
{
    if (R < 0 || V <= 0) return FK_ERR_ARG;
    if (R == 0) return FK_OK;
    fk_cuda_backend *b = cu_of(be);
    size_t off;
    fk_status st = fk_cu_result(b, idx, (size_t)R * sizeof *idx, &off);
    if (st != FK_OK) return st;
    int32_t *dev = fk_cu_scratch(b, SCR_SMALL, (size_t)R * sizeof *dev);
    if (!dev) return FK_ERR_OOM;
    fk_cu_rec r;
    fk_cu_rec_init(&r, FK_CU_ARGMAX);
    r.bytes = (uint64_t)R * V * 4;
    r.a.argmax.idx = dev;
    r.a.argmax.logits = logits;
    r.a.argmax.rows = R;
    r.a.argmax.v = V;
    if ((st = fk_cu_push(b, &r)) != FK_OK) return st;
    fk_cu_rec c;
    fk_cu_rec_init(&c, FK_CU_TO_HOST);
    c.a.to_host.out_off = off;
    c.a.to_host.src = dev;
    c.a.to_host.bytes = (size_t)R * sizeof *dev;
    if ((st = fk_cu_push(b, &c)) != FK_OK) return st;
    return fk_cu_flush(b);
}
