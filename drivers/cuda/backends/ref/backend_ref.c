/* backend_ref.c: the reference backend: every op of backend.h as the
 * plainest loop over the formula in its contract, on one thread, sums in
 * double. Slow on purpose: tests/unit/test_backend_ops.c compares each fast
 * kernel with these, and fk-golden --backend ref runs the whole model on
 * them. A new backend (CUDA) is checked the same way. */
#include "drivers/cuda/backends/host/host_memory.h"
#include "drivers/cuda/backends/host/route_pick.h"
#include "drivers/cuda/model/backend.h"
#include "drivers/cuda/model/mxfp4.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define REF_MAX_HD 1024 /* head_dim the attention accumulator holds */

/* ---- the forward pass ------------------------------------------------------------ */

static fk_status ref_embed(fk_backend *be, float *x, const uint16_t *embed, const int32_t *tokens,
                           int R, int H, int V)
{
    (void)be;
    for (int r = 0; r < R; r++) {
        if (tokens[r] < 0 || tokens[r] >= V) return FK_ERR_ARG;
        for (int i = 0; i < H; i++)
            x[(size_t)r * H + i] = fk_bf16_f32(embed[(size_t)tokens[r] * H + i]);
    }
    return FK_OK;
}

static fk_status ref_rmsnorm(fk_backend *be, float *y, const float *x, const uint16_t *w, int R,
                             int H, float eps)
{
    (void)be;
    if (R < 0 || H <= 0) return FK_ERR_ARG;
    for (int r = 0; r < R; r++) {
        double ss = 0;
        for (int i = 0; i < H; i++) ss += (double)x[(size_t)r * H + i] * x[(size_t)r * H + i];
        double inv = 1.0 / sqrt(ss / H + eps);
        for (int i = 0; i < H; i++)
            y[(size_t)r * H + i] = (float)(x[(size_t)r * H + i] * inv * fk_bf16_f32(w[i]));
    }
    return FK_OK;
}

/* W[n][k] of any format, decoded. */
static double weight_at(const fk_wmat *w, int n, int k)
{
    if (w->fmt == FK_W_BF16) return fk_bf16_f32(((const uint16_t *)w->data)[(size_t)n * w->k + k]);
    if (w->fmt == FK_W_BF16_T)
        return fk_bf16_f32(((const uint16_t *)w->data)[(size_t)k * w->n + n]);
    const uint8_t *codes = (const uint8_t *)w->data + (size_t)n * (w->k / 2);
    uint8_t byte = codes[k / 2];
    uint32_t code = k % 2 ? byte >> 4 : byte & 15u;
    uint8_t scale = w->scales[(size_t)n * (w->k / FK_MXFP4_BLOCK) + k / FK_MXFP4_BLOCK];
    return (double)fk_fp4_f32(code) * fk_e8m0_f32(scale);
}

static fk_status ref_matmul(fk_backend *be, float *y, const float *x, const fk_wmat *w,
                            const uint16_t *bias, int R)
{
    (void)be;
    if (R < 0 || w->n <= 0 || w->k <= 0) return FK_ERR_ARG;
    if (w->fmt == FK_W_MXFP4 && w->k % FK_MXFP4_BLOCK) return FK_ERR_SHAPE;
    for (int r = 0; r < R; r++)
        for (int n = 0; n < w->n; n++) {
            double s = bias ? fk_bf16_f32(bias[n]) : 0.0;
            for (int k = 0; k < w->k; k++) s += weight_at(w, n, k) * x[(size_t)r * w->k + k];
            y[(size_t)r * w->n + n] = (float)s;
        }
    return FK_OK;
}

static fk_status ref_rope(fk_backend *be, float *x, const float *cos_sin, int R, int n_heads,
                          int hd)
{
    (void)be;
    if (hd % 2) return FK_ERR_SHAPE;
    int half = hd / 2;
    for (int r = 0; r < R; r++)
        for (int h = 0; h < n_heads; h++) {
            float *x1 = x + ((size_t)r * n_heads + h) * hd, *x2 = x1 + half;
            const float *c = cos_sin + (size_t)r * hd, *s = c + half;
            for (int i = 0; i < half; i++) {
                float a = x1[i], b = x2[i];
                x1[i] = a * c[i] - b * s[i];
                x2[i] = b * c[i] + a * s[i];
            }
        }
    return FK_OK;
}

/* The key of position t (layer slot, kv head h) in a paged cache; the value
 * is block_tokens * width floats later. NULL when its block is missing. */
static float *key_at(const fk_kv_cache *c, int slot, const fk_attn_seq *s, int t, int h, int hd)
{
    if (t / c->block_tokens >= s->n_blocks) return NULL;
    int32_t b = s->blocks[t / c->block_tokens];
    if (b < 0) return NULL;
    size_t row = (size_t)slot * 2 * c->block_tokens + (size_t)(t % c->block_tokens);
    return c->base + (size_t)b * c->block_floats + row * c->width + (size_t)h * hd;
}

static fk_status ref_kv_store(fk_backend *be, const fk_kv_cache *c, int slot, const float *k,
                              const float *v, const fk_attn_seq *seqs, int n_seqs)
{
    (void)be;
    if (slot < 0 || slot >= c->slots) return FK_ERR_ARG;
    for (int i = 0; i < n_seqs; i++)
        for (int t = 0; t < seqs[i].n_new; t++)
            if (!key_at(c, slot, &seqs[i], seqs[i].pos0 + t, 0, 0)) return FK_ERR_ARG;
    size_t v_off = (size_t)c->block_tokens * c->width;
    for (int i = 0; i < n_seqs; i++)
        for (int t = 0; t < seqs[i].n_new; t++) {
            float *dst = key_at(c, slot, &seqs[i], seqs[i].pos0 + t, 0, 0);
            size_t src = (size_t)(seqs[i].row0 + t) * c->width;
            for (int j = 0; j < c->width; j++) {
                dst[j] = k[src + j];
                dst[v_off + j] = v[src + j];
            }
        }
    return FK_OK;
}

/* Two passes per (row, head): the largest score (the sink included), then
 * the softmax-weighted sum of values over sum(exp) + exp(sink - max). */
static fk_status ref_attention(fk_backend *be, float *out, const float *q, const fk_kv_cache *c,
                               int slot, const fk_attn_seq *seqs, int n_seqs, const uint16_t *sinks,
                               int nh, int nkv, int hd, int window)
{
    (void)be;
    if (hd > REF_MAX_HD) return FK_ERR_SHAPE;
    if (nh <= 0 || nkv <= 0 || nh % nkv || hd <= 0 || nkv * hd != c->width || slot < 0 ||
        slot >= c->slots)
        return FK_ERR_ARG;
    size_t v_off = (size_t)c->block_tokens * c->width;
    double scale = 1.0 / sqrt((double)hd);
    for (int i = 0; i < n_seqs; i++) {
        const fk_attn_seq *s = &seqs[i];
        for (int t = 0; t < s->n_new; t++) {
            int row = s->row0 + t, p = s->pos0 + t;
            int lo = window > 0 && p - window + 1 > 0 ? p - window + 1 : 0;
            for (int h = 0; h < nh; h++) {
                const float *qh = q + ((size_t)row * nh + h) * hd;
                int kvh = h / (nh / nkv);
                double mx = fk_bf16_f32(sinks[h]);
                for (int u = lo; u <= p; u++) {
                    const float *ku = key_at(c, slot, s, u, kvh, hd);
                    if (!ku) return FK_ERR_ARG;
                    double sc = 0;
                    for (int d = 0; d < hd; d++) sc += (double)qh[d] * ku[d];
                    if (sc * scale > mx) mx = sc * scale;
                }
                double den = exp(fk_bf16_f32(sinks[h]) - mx);
                double acc[REF_MAX_HD];
                for (int d = 0; d < hd; d++) acc[d] = 0;
                for (int u = lo; u <= p; u++) {
                    const float *ku = key_at(c, slot, s, u, kvh, hd);
                    double sc = 0;
                    for (int d = 0; d < hd; d++) sc += (double)qh[d] * ku[d];
                    double e = exp(sc * scale - mx);
                    den += e;
                    for (int d = 0; d < hd; d++) acc[d] += e * ku[v_off + d];
                }
                float *o = out + ((size_t)row * nh + h) * hd;
                for (int d = 0; d < hd; d++) o[d] = (float)(acc[d] / den);
            }
        }
    }
    return FK_OK;
}

static fk_status ref_route(fk_backend *be, int32_t *idx, float *weight, const float *logits, int R,
                           int E, int k)
{
    (void)be;
    if (k <= 0 || k > E) return FK_ERR_ARG;
    for (int r = 0; r < R; r++) {
        const float *lg = logits + (size_t)r * E;
        int32_t *ix = idx + (size_t)r * k;
        fk_host_route_pick(ix, lg, E, k);
        double sum = 0;
        for (int c = 0; c < k; c++) sum += exp((double)lg[ix[c]] - lg[ix[0]]);
        for (int c = 0; c < k; c++)
            weight[(size_t)r * k + c] = (float)(exp((double)lg[ix[c]] - lg[ix[0]]) / sum);
    }
    return FK_OK;
}

static fk_status ref_swiglu(fk_backend *be, float *y, const float *gu, int R, int I, float limit,
                            float alpha)
{
    (void)be;
    for (size_t i = 0; i < (size_t)R * I; i++) {
        double g = fmin(gu[2 * i], limit);
        double u = fmax(fmin(gu[2 * i + 1], limit), -limit);
        y[i] = (float)((u + 1.0) * g / (1.0 + exp(-alpha * g)));
    }
    return FK_OK;
}

static fk_status ref_gather(fk_backend *be, float *y, const float *x, const int32_t *rows, int n,
                            int W)
{
    (void)be;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < W; c++) y[(size_t)i * W + c] = x[(size_t)rows[i] * W + c];
    return FK_OK;
}

static fk_status ref_scatter_add(fk_backend *be, float *y, const float *x, const int32_t *rows,
                                 const float *scale, int n, int W)
{
    (void)be;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < W; c++) y[(size_t)rows[i] * W + c] += scale[i] * x[(size_t)i * W + c];
    return FK_OK;
}

static fk_status ref_add(fk_backend *be, float *y, const float *x, size_t n)
{
    (void)be;
    for (size_t i = 0; i < n; i++) y[i] += x[i];
    return FK_OK;
}

static fk_status ref_argmax(fk_backend *be, int32_t *idx, const float *logits, int R, int V)
{
    (void)be;
    if (R < 0 || V <= 0) return FK_ERR_ARG;
    for (int r = 0; r < R; r++) {
        const float *x = logits + (size_t)r * V;
        int best = 0;
        for (int i = 1; i < V; i++)
            if (x[i] > x[best] || (isnan(x[best]) && !isnan(x[i]))) best = i;
        idx[r] = best;
    }
    return FK_OK;
}

static void ref_free(fk_backend *be)
{
    free(be);
}

static const fk_backend_ops ref_ops = {
    .name = "ref",
    .free = ref_free,
    .alloc = fk_host_alloc,
    .release = fk_host_release,
    .map_weights = fk_host_map_weights,
    .unmap_weights = fk_host_unmap_weights,
    .upload = fk_host_copy,
    .download = fk_host_copy,
    .synchronize = fk_host_synchronize,
    .embed = ref_embed,
    .rmsnorm = ref_rmsnorm,
    .matmul = ref_matmul,
    .rope = ref_rope,
    .kv_store = ref_kv_store,
    .attention = ref_attention,
    .route = ref_route,
    .swiglu = ref_swiglu,
    .gather = ref_gather,
    .scatter_add = ref_scatter_add,
    .add = ref_add,
    .argmax = ref_argmax,
};

fk_backend *fk_backend_ref_new(void)
{
    fk_backend *be = calloc(1, sizeof *be);
    if (be) be->ops = &ref_ops;
    return be;
}
