/* test_cuda_ops: every op of the CUDA backend on the GPU against the
 * reference backend (backends/ref/) on random inputs, as test_backend_ops
 * does for the CPU: matmul in the three weight forms (vector and scalar
 * paths), paged attention with sinks and windows over several sequences
 * and over many splits, kv_store, the small ops, the fused moe op against
 * the unfused reference ops, argmax's ties and NaN, the statuses of the
 * contract, batch invariance (a row alone gets the bits it gets among
 * others), and a segment replayed as a CUDA graph with new inputs.
 * Without a usable GPU (or a build without CUDA) it skips, saying why. */
#include "drivers/cuda/backends/cuda/cuda.h"
#include "drivers/cuda/model/backend.h"
#include "drivers/cuda/model/mxfp4.h"
#include "tests/tap.h"
#include "tests/unit/rand_ops.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t *rand_codes(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(frand() * 256 + 128);
    return p;
}

static uint8_t *rand_scales(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(118 + (i * 7) % 9);
    return p;
}

static fk_backend *ref, *gpu;

/* A device copy of host bytes (the test's memory is freed with the backend's
 * release at the end of each test). */
static void *dev(const void *host, size_t bytes)
{
    void *d = gpu->ops->alloc(gpu, bytes ? bytes : 4);
    if (d && bytes) gpu->ops->upload(gpu, d, host, bytes);
    return d;
}

static void *dev_empty(size_t bytes)
{
    return gpu->ops->alloc(gpu, bytes ? bytes : 4);
}

/* Download and release. */
static void back(void *host, void *d, size_t bytes)
{
    gpu->ops->download(gpu, host, d, bytes);
    gpu->ops->release(gpu, d);
}

/* ---- matmul ---------------------------------------------------------------------------------- */

static void test_matmul(void)
{
    static const char *names[] = {"bf16 [N,K]", "bf16 [K,N]", "mxfp4"};
    const int shapes[][2] = {{67, 96}, {64, 100}, {130, 64}, {8, 2880}, {513, 256}, {2880, 64}};
    const int rows[] = {1, 3, 8, 37};
    for (int f = 0; f < 3; f++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int N = shapes[s][0], K = shapes[s][1];
            if (f == FK_W_MXFP4 && K % 32) continue;
            size_t nw = (size_t)N * K;
            uint16_t *wb = rand_bf16(nw, 1.0f), *bias = rand_bf16((size_t)N, 1.0f);
            uint8_t *wq = rand_codes(nw / 2), *sc = rand_scales(nw / 32);
            fk_wmat w = {(fk_wfmt)f, N, K, f == FK_W_MXFP4 ? (void *)wq : (void *)wb,
                         f == FK_W_MXFP4 ? sc : NULL};
            fk_wmat wd = w;
            const void *mapped = NULL, *mapped_s = NULL;
            gpu->ops->map_weights(gpu, &mapped, w.data, f == FK_W_MXFP4 ? nw / 2 : nw * 2);
            if (f == FK_W_MXFP4) gpu->ops->map_weights(gpu, &mapped_s, sc, nw / 32);
            wd.data = mapped;
            wd.scales = mapped_s;
            const uint16_t *dbias = dev(bias, (size_t)N * 2);
            for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++) {
                int R = rows[ri];
                float *x = rand_floats((size_t)R * K, 1.0f);
                float *want = malloc((size_t)R * N * sizeof *want),
                      *got = malloc((size_t)R * N * 4);
                ref->ops->matmul(ref, want, x, &w, bias, R);
                float *dx = dev(x, (size_t)R * K * 4), *dy = dev_empty((size_t)R * N * 4);
                is_int(gpu->ops->matmul(gpu, dy, dx, &wd, dbias, R), FK_OK,
                       "%s N=%d K=%d R=%d: status", names[f], N, K, R);
                back(got, dy, (size_t)R * N * 4);
                double wmax = f == FK_W_MXFP4 ? 12.0 : 0.5, worst = 0;
                for (int b = 0; b < R; b++)
                    for (int n = 0; n < N; n++) {
                        double mag = 0;
                        for (int k = 0; k < K; k++)
                            mag += fabs((double)x[(size_t)b * K + k]) * wmax;
                        double e =
                            fabs(got[(size_t)b * N + n] - want[(size_t)b * N + n]) / (mag + 1e-30);
                        if (!(e <= worst)) worst = e;
                    }
                ok(worst < 2e-6, "%s N=%d K=%d R=%d: within %.1e of the reference", names[f], N, K,
                   R, worst);
                /* Batch invariance: the last row alone. */
                float *one = malloc((size_t)N * 4), *done = dev_empty((size_t)N * 4);
                float *dlast = dev(x + (size_t)(R - 1) * K, (size_t)K * 4);
                gpu->ops->matmul(gpu, done, dlast, &wd, dbias, 1);
                back(one, done, (size_t)N * 4);
                ok(memcmp(one, got + (size_t)(R - 1) * N, (size_t)N * 4) == 0,
                   "%s N=%d K=%d R=%d: the last row alone gets the same bits", names[f], N, K, R);
                gpu->ops->release(gpu, dlast);
                gpu->ops->release(gpu, dx);
                free(one);
                free(x);
                free(want);
                free(got);
            }
            gpu->ops->release(gpu, (void *)dbias);
            gpu->ops->unmap_weights(gpu, mapped);
            gpu->ops->unmap_weights(gpu, mapped_s);
            free(wb);
            free(bias);
            free(wq);
            free(sc);
        }
    fk_wmat odd = {FK_W_MXFP4, 4, 48, NULL, NULL};
    is_int(gpu->ops->matmul(gpu, NULL, NULL, &odd, NULL, 1), FK_ERR_SHAPE,
           "MXFP4 with K %% 32 != 0 is an unsupported shape");
}

/* ---- attention --------------------------------------------------------------------------------
 */

enum { BT = 4, SLOTS = 2, NBLK = 2400 }; /* 3 tables of 800 distinct blocks */

/* The same cache on both sides: host (reference) and device (a copy). */
typedef struct caches {
    fk_kv_cache h, d;
    size_t bytes;
} caches;

static void caches_init(caches *c, int width)
{
    c->h.block_tokens = BT;
    c->h.slots = SLOTS;
    c->h.width = width;
    c->h.block_floats = (size_t)SLOTS * 2 * BT * width;
    c->bytes = NBLK * c->h.block_floats * sizeof(float);
    c->h.base = rand_floats(c->bytes / 4, 1.0f);
    for (size_t i = 0; i < c->bytes / 4; i += 97) c->h.base[i] = NAN; /* stale garbage */
    c->d = c->h;
    c->d.base = dev(c->h.base, c->bytes);
}

static void test_attention_case(int nh, int nkv, int hd, const int *pos0, const int *n_new,
                                int n_seqs, const char *what)
{
    int width = nkv * hd;
    caches c;
    caches_init(&c, width);
    int32_t tab[3][800];
    for (int s = 0; s < n_seqs; s++)
        for (int i = 0; i < 800; i++) tab[s][i] = (int32_t)((s * 800 + i) * 7 % NBLK);
    uint16_t *sinks = rand_bf16((size_t)nh, 4.0f);
    const uint16_t *dsinks = dev(sinks, (size_t)nh * 2);
    const int windows[2] = {0, 6};
    int R = 0;
    for (int s = 0; s < n_seqs; s++) R += n_new[s];
    for (int wi = 0; wi < 2; wi++) {
        int window = windows[wi];
        fk_attn_seq seqs[3];
        for (int s = 0, row = 0; s < n_seqs; s++) {
            seqs[s] = (fk_attn_seq){tab[s], 800, pos0[s], n_new[s], row};
            row += n_new[s];
            /* earlier positions, stored through both backends */
            if (pos0[s] == 0) continue;
            float *k = rand_floats((size_t)pos0[s] * width, 1.0f);
            float *v = rand_floats((size_t)pos0[s] * width, 1.0f);
            fk_attn_seq past = {tab[s], 800, 0, pos0[s], 0};
            ref->ops->kv_store(ref, &c.h, 1, k, v, &past, 1);
            float *dk = dev(k, (size_t)pos0[s] * width * 4),
                  *dv = dev(v, (size_t)pos0[s] * width * 4);
            gpu->ops->kv_store(gpu, &c.d, 1, dk, dv, &past, 1);
            gpu->ops->release(gpu, dk);
            gpu->ops->release(gpu, dv);
            free(k);
            free(v);
        }
        float *k = rand_floats((size_t)R * width, 1.0f), *v = rand_floats((size_t)R * width, 1.0f);
        float *q = rand_floats((size_t)R * nh * hd, 2.0f);
        ref->ops->kv_store(ref, &c.h, 1, k, v, seqs, n_seqs);
        float *dk = dev(k, (size_t)R * width * 4), *dv = dev(v, (size_t)R * width * 4);
        is_int(gpu->ops->kv_store(gpu, &c.d, 1, dk, dv, seqs, n_seqs), FK_OK,
               "%s window %d: kv_store", what, window);
        float *cache_back = malloc(c.bytes);
        gpu->ops->download(gpu, cache_back, c.d.base, c.bytes);
        ok(memcmp(cache_back, c.h.base, c.bytes) == 0,
           "%s window %d: the GPU's cache holds, bit for bit, what the reference wrote", what,
           window);
        free(cache_back);
        float *want = malloc((size_t)R * nh * hd * 4), *got = malloc((size_t)R * nh * hd * 4);
        ref->ops->attention(ref, want, q, &c.h, 1, seqs, n_seqs, sinks, nh, nkv, hd, window);
        float *dq = dev(q, (size_t)R * nh * hd * 4), *dout = dev_empty((size_t)R * nh * hd * 4);
        is_int(
            gpu->ops->attention(gpu, dout, dq, &c.d, 1, seqs, n_seqs, dsinks, nh, nkv, hd, window),
            FK_OK, "%s window %d: attention", what, window);
        gpu->ops->download(gpu, got, dout, (size_t)R * nh * hd * 4);
        double e = rel_err(got, want, (size_t)R * nh * hd, 1.0);
        ok(e < 1e-5, "%s window %d: = reference within %.1e", what, window, e);
        /* Batch invariance: the last sequence alone. */
        fk_attn_seq alone = seqs[n_seqs - 1];
        int rows_last = alone.n_new, row0 = alone.row0;
        alone.row0 = 0;
        float *one = malloc((size_t)rows_last * nh * hd * 4),
              *done = dev_empty((size_t)rows_last * nh * hd * 4);
        float *dq1 = dev(q + (size_t)row0 * nh * hd, (size_t)rows_last * nh * hd * 4);
        gpu->ops->attention(gpu, done, dq1, &c.d, 1, &alone, 1, dsinks, nh, nkv, hd, window);
        back(one, done, (size_t)rows_last * nh * hd * 4);
        ok(memcmp(one, got + (size_t)row0 * nh * hd, (size_t)rows_last * nh * hd * 4) == 0,
           "%s window %d: a sequence alone gets the bits it gets in the batch", what, window);
        gpu->ops->release(gpu, dq1);
        gpu->ops->release(gpu, dq);
        gpu->ops->release(gpu, dout);
        gpu->ops->release(gpu, dk);
        gpu->ops->release(gpu, dv);
        free(one);
        free(k);
        free(v);
        free(q);
        free(want);
        free(got);
    }
    gpu->ops->release(gpu, (void *)dsinks);
    gpu->ops->release(gpu, c.d.base);
    free(c.h.base);
    free(sinks);
}

static void test_attention(void)
{
    const int pos0[3] = {0, 30, 47}, n_new[3] = {9, 5, 1};
    test_attention_case(4, 2, 16, pos0, n_new, 3, "tiny heads, 3 sequences");
    const int pos_long[2] = {0, 3000}, n_long[2] = {3, 2};
    test_attention_case(16, 2, 64, pos_long, n_long, 2, "gpt-oss heads, 3000 keys (16 splits)");
    /* Statuses (checked before any memory is touched). */
    fk_kv_cache c = {NULL, BT, SLOTS, 2 * 2048, (size_t)SLOTS * 2 * BT * 2 * 2048};
    int32_t tab[4] = {0, 1, 2, 3};
    fk_attn_seq s = {tab, 4, 0, 1, 0};
    is_int(gpu->ops->attention(gpu, NULL, NULL, &c, 1, &s, 1, NULL, 2, 2, 2048, 0), FK_ERR_SHAPE,
           "head_dim 2048 is an unsupported shape");
    int32_t gap[4] = {-1, 1, 2, 3};
    fk_attn_seq g = {gap, 4, 2, 1, 0};
    is_int(gpu->ops->kv_store(gpu, &c, 0, NULL, NULL, &g, 1), FK_ERR_ARG,
           "kv_store into a missing block is refused");
    is_int(gpu->ops->kv_store(gpu, &c, SLOTS, NULL, NULL, &s, 1), FK_ERR_ARG,
           "kv_store into a slot the blocks lack is refused");
}

/* ---- the small ops ------------------------------------------------------------------------------
 */

static void test_small_ops(void)
{
    const int R = 7, H = 40, V = 50, E = 9, k = 3, I = 12;
    uint16_t *table = rand_bf16((size_t)V * H, 2.0f), *w = rand_bf16(H, 2.0f);
    int32_t tokens[7] = {0, 49, 3, 3, 17, 25, 1};
    float *want = malloc((size_t)R * V * 8), *got = malloc((size_t)R * V * 8);
    void *dtable = dev(table, (size_t)V * H * 2), *dw = dev(w, (size_t)H * 2);

    ref->ops->embed(ref, want, table, tokens, R, H, V);
    void *dtok = dev(tokens, sizeof tokens), *dx = dev_empty((size_t)R * H * 4);
    is_int(gpu->ops->embed(gpu, dx, dtable, dtok, R, H, V), FK_OK, "embed");
    gpu->ops->download(gpu, got, dx, (size_t)R * H * 4);
    ok(memcmp(got, want, (size_t)R * H * 4) == 0, "embed = reference");
    int32_t bad[2] = {3, V};
    void *dbad = dev(bad, sizeof bad);
    gpu->ops->embed(gpu, dx, dtable, dbad, 2, H, V);
    is_int(gpu->ops->synchronize(gpu), FK_ERR_ARG,
           "a token outside the vocabulary is FK_ERR_ARG at the next synchronize (%s)",
           fk_backend_cuda_error(gpu));
    is_int(gpu->ops->synchronize(gpu), FK_OK, "and the backend goes on");

    float *x = rand_floats((size_t)R * H, 3.0f);
    ref->ops->rmsnorm(ref, want, x, w, R, H, 1e-5f);
    gpu->ops->upload(gpu, dx, x, (size_t)R * H * 4);
    void *dy = dev_empty((size_t)R * H * 4);
    gpu->ops->rmsnorm(gpu, dy, dx, dw, R, H, 1e-5f);
    gpu->ops->download(gpu, got, dy, (size_t)R * H * 4);
    ok(rel_err(got, want, (size_t)R * H, 1e-3) < 1e-6, "rmsnorm = reference");

    float *cs = rand_floats((size_t)R * 16, 2.0f), *xr = rand_floats((size_t)R * 3 * 16, 1.0f);
    memcpy(want, xr, (size_t)R * 48 * 4);
    ref->ops->rope(ref, want, cs, R, 3, 16);
    void *dcs = dev(cs, (size_t)R * 64), *dxr = dev(xr, (size_t)R * 48 * 4);
    gpu->ops->rope(gpu, dxr, dcs, R, 3, 16);
    gpu->ops->download(gpu, got, dxr, (size_t)R * 48 * 4);
    ok(rel_err(got, want, (size_t)R * 48, 1e-3) < 1e-6, "rope = reference");
    is_int(gpu->ops->rope(gpu, dxr, dcs, R, 3, 15), FK_ERR_SHAPE, "rope of an odd head");

    float *lg = rand_floats((size_t)R * E, 4.0f);
    lg[E + 2] = lg[E + 5] = 3.0f;
    int32_t ia[21], ib[21];
    float wa[21], wb[21];
    ref->ops->route(ref, ia, wa, lg, R, E, k);
    void *dlg = dev(lg, (size_t)R * E * 4);
    is_int(gpu->ops->route(gpu, ib, wb, dlg, R, E, k), FK_OK, "route");
    ok(memcmp(ia, ib, sizeof ia) == 0 && rel_err(wb, wa, 21, 1e-3) < 1e-6,
       "route = reference (ids equal, weights close)");
    ok(ib[k] == 2 && ib[k + 1] == 5, "route ties go to the lower index (%d, %d)", ib[k], ib[k + 1]);
    is_int(gpu->ops->route(gpu, ib, wb, dlg, R, E, E + 1), FK_ERR_ARG, "route of k > E");

    float *gu = rand_floats((size_t)R * 2 * I, 20.0f);
    ref->ops->swiglu(ref, want, gu, R, I, 7.0f, 1.702f);
    void *dgu = dev(gu, (size_t)R * 2 * I * 4), *dact = dev_empty((size_t)R * I * 4);
    gpu->ops->swiglu(gpu, dact, dgu, R, I, 7.0f, 1.702f);
    gpu->ops->download(gpu, got, dact, (size_t)R * I * 4);
    ok(rel_err(got, want, (size_t)R * I, 1e-6) < 1e-5, "swiglu = reference");

    int32_t rows[3] = {6, 0, 3};
    float scale[3] = {0.5f, -2.0f, 1.25f};
    ref->ops->gather(ref, want, x, rows, 3, H);
    gpu->ops->gather(gpu, dy, dx, rows, 3, H);
    gpu->ops->download(gpu, got, dy, (size_t)3 * H * 4);
    ok(memcmp(got, want, (size_t)3 * H * 4) == 0, "gather = reference");
    float *y1 = rand_floats((size_t)R * H, 1.0f);
    void *dy1 = dev(y1, (size_t)R * H * 4), *dsrc = dev(want, (size_t)3 * H * 4);
    ref->ops->scatter_add(ref, y1, want, rows, scale, 3, H);
    gpu->ops->scatter_add(gpu, dy1, dsrc, rows, scale, 3, H);
    ref->ops->add(ref, y1, x, (size_t)R * H);
    gpu->ops->add(gpu, dy1, dx, (size_t)R * H);
    gpu->ops->download(gpu, got, dy1, (size_t)R * H * 4);
    ok(rel_err(got, y1, (size_t)R * H, 1e-3) < 1e-6, "scatter_add then add = reference");

    float *logits = rand_floats((size_t)3 * V, 10.0f);
    logits[7] = logits[31] = 100.0f;
    logits[V + 4] = NAN;
    for (int i = 0; i < V; i++) logits[2 * V + i] = NAN;
    int32_t am[3], rm[3];
    ref->ops->argmax(ref, rm, logits, 3, V);
    void *dl = dev(logits, (size_t)3 * V * 4);
    is_int(gpu->ops->argmax(gpu, am, dl, 3, V), FK_OK, "argmax");
    ok(am[0] == 7 && am[2] == 0 && memcmp(am, rm, sizeof am) == 0,
       "argmax = reference (ties low, NaN never wins): %d %d %d", am[0], am[1], am[2]);

    void *bufs[] = {dtable, dw, dtok, dx, dbad, dy, dcs, dxr, dlg, dgu, dact, dy1, dsrc, dl};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) gpu->ops->release(gpu, bufs[i]);
    free(table);
    free(w);
    free(want);
    free(got);
    free(x);
    free(cs);
    free(xr);
    free(lg);
    free(gu);
    free(y1);
    free(logits);
}

/* ---- the fused experts ------------------------------------------------------------------------
 */

/* x += moe(h) through the reference's unfused ops (model.c's path). */
static void ref_moe(float *x, const float *h, const float *logits, const fk_experts *w, int R,
                    int k)
{
    int E = w->n_experts, H = w->hidden, I = w->inter;
    int32_t *idx = malloc((size_t)R * k * 4), *erows = malloc((size_t)R * 4);
    float *wt = malloc((size_t)R * k * 4), *escale = malloc((size_t)R * 4);
    float *in = malloc((size_t)R * H * 4), *gu = malloc((size_t)R * 2 * I * 4),
          *act = malloc((size_t)R * I * 4), *out = malloc((size_t)R * H * 4);
    ref->ops->route(ref, idx, wt, logits, R, E, k);
    int mx = w->fmt == FK_W_MXFP4;
    for (int e = 0; e < E; e++) {
        int n = 0;
        for (int r = 0; r < R; r++)
            for (int j = 0; j < k; j++)
                if (idx[r * k + j] == e) erows[n] = r, escale[n++] = wt[r * k + j];
        if (!n) continue;
        size_t gv = (size_t)2 * I * H, dv = (size_t)H * I;
        fk_wmat g = {w->fmt, 2 * I, H,
                     mx ? (const void *)((const uint8_t *)w->gate_up + e * gv / 2)
                        : (const void *)((const uint16_t *)w->gate_up + e * gv),
                     mx ? w->gate_up_scales + e * gv / 32 : NULL};
        fk_wmat d = {w->fmt, H, I,
                     mx ? (const void *)((const uint8_t *)w->down + e * dv / 2)
                        : (const void *)((const uint16_t *)w->down + e * dv),
                     mx ? w->down_scales + e * dv / 32 : NULL};
        ref->ops->gather(ref, in, h, erows, n, H);
        ref->ops->matmul(ref, gu, in, &g, w->gate_up_bias + (size_t)e * 2 * I, n);
        ref->ops->swiglu(ref, act, gu, n, I, w->limit, w->alpha);
        ref->ops->matmul(ref, out, act, &d, w->down_bias + (size_t)e * H, n);
        ref->ops->scatter_add(ref, x, out, erows, escale, n, H);
    }
    free(idx);
    free(erows);
    free(wt);
    free(escale);
    free(in);
    free(gu);
    free(act);
    free(out);
}

static void test_moe(int fmt)
{
    const int E = 8, k = 4, H = 64, I = 96;
    int mx = fmt == FK_W_MXFP4;
    size_t gv = (size_t)E * 2 * I * H, dv = (size_t)E * H * I;
    fk_experts w = {(fk_wfmt)fmt,
                    E,
                    H,
                    I,
                    NULL,
                    NULL,
                    rand_bf16((size_t)E * 2 * I, 0.5f),
                    NULL,
                    NULL,
                    rand_bf16((size_t)E * H, 0.5f),
                    7.0f,
                    1.702f};
    w.gate_up = mx ? (void *)rand_codes(gv / 2) : (void *)rand_bf16(gv, 0.2f);
    w.down = mx ? (void *)rand_codes(dv / 2) : (void *)rand_bf16(dv, 0.2f);
    if (mx) {
        w.gate_up_scales = rand_scales(gv / 32);
        w.down_scales = rand_scales(dv / 32);
    }
    fk_experts wd = w;
    gpu->ops->map_weights(gpu, (const void **)&wd.gate_up, w.gate_up, mx ? gv / 2 : gv * 2);
    gpu->ops->map_weights(gpu, (const void **)&wd.down, w.down, mx ? dv / 2 : dv * 2);
    gpu->ops->map_weights(gpu, (const void **)&wd.gate_up_bias, w.gate_up_bias,
                          (size_t)E * 2 * I * 2);
    gpu->ops->map_weights(gpu, (const void **)&wd.down_bias, w.down_bias, (size_t)E * H * 2);
    if (mx) {
        gpu->ops->map_weights(gpu, (const void **)&wd.gate_up_scales, w.gate_up_scales, gv / 32);
        gpu->ops->map_weights(gpu, (const void **)&wd.down_scales, w.down_scales, dv / 32);
    }
    const int rows[] = {1, 5, 40};
    const char *form = mx ? "mxfp4" : "bf16";
    for (int ri = 0; ri < 3; ri++) {
        int R = rows[ri];
        float *h = rand_floats((size_t)R * H, 2.0f), *lg = rand_floats((size_t)R * E, 4.0f);
        float *x0 = rand_floats((size_t)R * H, 1.0f), *want = malloc((size_t)R * H * 4);
        float *got = malloc((size_t)R * H * 4), *one = malloc((size_t)H * 4);
        memcpy(want, x0, (size_t)R * H * 4);
        ref_moe(want, h, lg, &w, R, k);
        float *dh = dev(h, (size_t)R * H * 4), *dlg = dev(lg, (size_t)R * E * 4),
              *dx = dev(x0, (size_t)R * H * 4);
        is_int(gpu->ops->moe(gpu, dx, dh, dlg, &wd, R, k), FK_OK, "moe %s R=%d: status", form, R);
        back(got, dx, (size_t)R * H * 4);
        double e = rel_err(got, want, (size_t)R * H, 1.0);
        ok(e < 1e-5, "moe %s R=%d: = the unfused reference ops within %.1e", form, R, e);
        /* the last row alone, from the same start */
        size_t last = (size_t)(R - 1);
        float *dx1 = dev(x0 + last * H, (size_t)H * 4), *dh1 = dev(h + last * H, (size_t)H * 4),
              *dlg1 = dev(lg + last * E, (size_t)E * 4);
        gpu->ops->moe(gpu, dx1, dh1, dlg1, &wd, 1, k);
        back(one, dx1, (size_t)H * 4);
        ok(memcmp(one, got + last * H, (size_t)H * 4) == 0,
           "moe %s R=%d: the last row alone gets the same bits", form, R);
        gpu->ops->release(gpu, dh1);
        gpu->ops->release(gpu, dlg1);
        gpu->ops->release(gpu, dh);
        gpu->ops->release(gpu, dlg);
        free(h);
        free(lg);
        free(x0);
        free(want);
        free(got);
        free(one);
    }
    const void *maps[] = {wd.gate_up,   wd.down,           wd.gate_up_bias,
                          wd.down_bias, wd.gate_up_scales, wd.down_scales};
    for (int i = 0; i < 6; i++) gpu->ops->unmap_weights(gpu, mx || i < 4 ? maps[i] : NULL);
    free((void *)w.gate_up);
    free((void *)w.down);
    free((void *)w.gate_up_bias);
    free((void *)w.down_bias);
    free((void *)w.gate_up_scales);
    free((void *)w.down_scales);
}

/* ---- graphs -------------------------------------------------------------------------------------
 */

/* A decode-like segment three times with new tokens: captured on the second
 * sighting, replayed on the third, each answer right. */
static void test_graph_replay(void)
{
    const int V = 64, H = 32, R = 2;
    uint16_t *table = rand_bf16((size_t)V * H, 1.0f);
    uint16_t *lm = rand_bf16((size_t)V * H, 1.0f);
    void *dtable = dev(table, (size_t)V * H * 2), *dlm = dev(lm, (size_t)V * H * 2);
    void *dtok = dev_empty(R * 4), *dx = dev_empty((size_t)R * H * 4),
         *dlg = dev_empty((size_t)R * V * 4);
    fk_wmat w = {FK_W_BF16, V, H, dlm, NULL}, wh = {FK_W_BF16, V, H, lm, NULL};
    uint64_t r0, c0, e0, r1, c1, e1;
    fk_backend_cuda_counts(gpu, &r0, &c0, &e0);
    int right = 0;
    for (int step = 0; step < 3; step++) {
        int32_t tok[2] = {step * 5 % V, (step * 11 + 3) % V}, got[2], want[2];
        gpu->ops->upload(gpu, dtok, tok, sizeof tok);
        gpu->ops->embed(gpu, dx, dtable, dtok, R, H, V);
        gpu->ops->matmul(gpu, dlg, dx, &w, NULL, R);
        gpu->ops->argmax(gpu, got, dlg, R, V);
        float x[2 * 32], lgh[2 * 64];
        ref->ops->embed(ref, x, table, tok, R, H, V);
        ref->ops->matmul(ref, lgh, x, &wh, NULL, R);
        ref->ops->argmax(ref, want, lgh, R, V);
        right += got[0] == want[0] && got[1] == want[1];
    }
    fk_backend_cuda_counts(gpu, &r1, &c1, &e1);
    is_int(right, 3, "a segment run three times with new tokens gives the right answer each time");
    ok(c1 - c0 == 1 && r1 - r0 == 2,
       "captured once (second sighting) and replayed twice (captures %llu, replays %llu)",
       (unsigned long long)(c1 - c0), (unsigned long long)(r1 - r0));
    void *bufs[] = {dtable, dlm, dtok, dx, dlg};
    for (int i = 0; i < 5; i++) gpu->ops->release(gpu, bufs[i]);
    free(table);
    free(lm);
}

/* Decode-like steps through the paged cache: the positions change every
 * step (staged, not in the records), so steps 2 and 3 of the same shape
 * replay one graph; each step's attention still equals the reference's. */
static void test_graph_attention(void)
{
    const int nh = 8, nkv = 2, hd = 64, width = nkv * hd, R = 2, steps = 4;
    caches c;
    caches_init(&c, width);
    int32_t tab[2][64];
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < 64; i++) tab[s][i] = (int32_t)((s * 64 + i) * 7 % NBLK);
    uint16_t *sinks = rand_bf16((size_t)nh, 2.0f);
    void *dsinks = dev(sinks, (size_t)nh * 2);
    float *dq = dev_empty((size_t)R * nh * hd * 4), *dk = dev_empty((size_t)R * width * 4),
          *dv = dev_empty((size_t)R * width * 4), *dout = dev_empty((size_t)R * nh * hd * 4);
    uint64_t r0, c0, e0, r1, c1, e1;
    fk_backend_cuda_counts(gpu, &r0, &c0, &e0);
    double worst = 0;
    for (int step = 0; step < steps; step++) {
        fk_attn_seq seqs[2] = {{tab[0], 64, 40 + step, 1, 0}, {tab[1], 64, 90 + step, 1, 1}};
        float *q = rand_floats((size_t)R * nh * hd, 2.0f),
              *k = rand_floats((size_t)R * width, 1.0f), *v = rand_floats((size_t)R * width, 1.0f);
        float want[2 * 8 * 64], got[2 * 8 * 64];
        ref->ops->kv_store(ref, &c.h, 0, k, v, seqs, 2);
        ref->ops->attention(ref, want, q, &c.h, 0, seqs, 2, sinks, nh, nkv, hd, 0);
        gpu->ops->upload(gpu, dq, q, (size_t)R * nh * hd * 4);
        gpu->ops->upload(gpu, dk, k, (size_t)R * width * 4);
        gpu->ops->upload(gpu, dv, v, (size_t)R * width * 4);
        gpu->ops->kv_store(gpu, &c.d, 0, dk, dv, seqs, 2);
        gpu->ops->attention(gpu, dout, dq, &c.d, 0, seqs, 2, dsinks, nh, nkv, hd, 0);
        gpu->ops->download(gpu, got, dout, sizeof got);
        double e = rel_err(got, want, (size_t)R * nh * hd, 1.0);
        if (!(e <= worst)) worst = e;
        free(q);
        free(k);
        free(v);
    }
    fk_backend_cuda_counts(gpu, &r1, &c1, &e1);
    ok(worst < 1e-5, "%d decode-like steps at moving positions: attention = reference within %.1e",
       steps, worst);
    ok(c1 - c0 == 1 && r1 - r0 == (uint64_t)steps - 2,
       "the step is captured once and replayed after, though its positions move (captures %llu, "
       "replays %llu)",
       (unsigned long long)(c1 - c0), (unsigned long long)(r1 - r0));
    void *bufs[] = {dsinks, dq, dk, dv, dout, c.d.base};
    for (int i = 0; i < 6; i++) gpu->ops->release(gpu, bufs[i]);
    free(c.h.base);
    free(sinks);
}

int main(void)
{
    fk_cuda_info info;
    char why[512];
    if (!fk_cuda_probe(0, &info, why, sizeof why)) {
        printf("1..0 # SKIP no GPU for the CUDA backend: %s\n", why);
        return 0;
    }
    char err[512];
    ref = fk_backend_ref_new();
    gpu = fk_backend_cuda_new(NULL, err, sizeof err);
    if (!ref || !gpu) {
        ok(0, "start the backends: %s", err);
        return done_testing();
    }
    diag("GPU: %s, %d SMs, %.1f GiB", info.name, info.sm_count, info.total_bytes / 1073741824.0);
    test_small_ops();
    test_matmul();
    test_attention();
    test_moe(FK_W_MXFP4);
    test_moe(FK_W_BF16_T);
    test_graph_replay();
    test_graph_attention();
    gpu->ops->free(gpu);
    ref->ops->free(ref);
    return done_testing();
}
