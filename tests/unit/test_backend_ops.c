/* test_backend_ops: every op of the CPU backend, on 1 and on 3 threads,
 * against the reference backend (backends/ref/) on random inputs; the
 * statuses the contract promises (backend.h); and batch invariance: a row
 * computed among others gets the bits it gets alone. */
#include "drivers/cuda/model/backend.h"
#include "drivers/cuda/model/mxfp4.h"
#include "drivers/cuda/backends/cpu/threadpool.h"
#include "tests/tap.h"
#include "tests/unit/rand_ops.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fk_backend *ref, *cpus[2]; /* reference; CPU on 1 and 3 threads */

/* ---- matmul ------------------------------------------------------------------------ */

static void test_matmul(void)
{
    static const char *names[] = {"bf16 [N,K]", "bf16 [K,N]", "mxfp4"};
    const int shapes[][2] = {{67, 96}, {64, 100}, {130, 64}, {8, 2880}, {24, 64}};
    const int rows[] = {1, 3, 8, 37};
    for (int f = 0; f < 3; f++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int N = shapes[s][0], K = shapes[s][1];
            if (f == FK_W_MXFP4 && K % 32) continue;
            size_t nw = (size_t)N * K;
            uint16_t *wb = rand_bf16(nw, 1.0f), *bias = rand_bf16((size_t)N, 1.0f);
            uint8_t *wq = malloc(nw / 2), *sc = malloc(nw / 32 + 1);
            for (size_t i = 0; i < nw / 2; i++) wq[i] = (uint8_t)(frand() * 256 + 128);
            for (size_t i = 0; i < nw / 32; i++) sc[i] = (uint8_t)(120 + (i % 9));
            fk_wmat w = {(fk_wfmt)f, N, K, f == FK_W_MXFP4 ? (void *)wq : (void *)wb,
                         f == FK_W_MXFP4 ? sc : NULL};
            for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++) {
                int R = rows[ri];
                float *x = rand_floats((size_t)R * K, 1.0f);
                float *want = malloc((size_t)R * N * sizeof *want);
                float *got[2] = {malloc((size_t)R * N * sizeof(float)),
                                 malloc((size_t)R * N * sizeof(float))};
                ref->ops->matmul(ref, want, x, &w, bias, R);
                for (int c = 0; c < 2; c++)
                    is_int(cpus[c]->ops->matmul(cpus[c], got[c], x, &w, bias, R), FK_OK,
                           "%s N=%d K=%d R=%d: status", names[f], N, K, R);
                /* Relative to a bound on the sum of |terms| (|w| <= 0.5 in bf16,
                 * 6 * 2 in MXFP4), so cancellation does not inflate it. */
                double wmax = f == FK_W_MXFP4 ? 12.0 : 0.5, worst = 0;
                for (int b = 0; b < R; b++)
                    for (int n = 0; n < N; n++) {
                        double mag = 0;
                        for (int k = 0; k < K; k++)
                            mag += fabs((double)x[(size_t)b * K + k]) * wmax;
                        double e = fabs(got[0][(size_t)b * N + n] - want[(size_t)b * N + n]) /
                                   (mag + 1e-30);
                        if (e > worst) worst = e;
                    }
                ok(worst < 1e-6, "%s N=%d K=%d R=%d: within %.1e of the reference", names[f], N, K,
                   R, worst);
                ok(memcmp(got[0], got[1], (size_t)R * N * sizeof(float)) == 0,
                   "%s N=%d K=%d R=%d: 3 threads give the 1-thread bits", names[f], N, K, R);
                /* Batch invariance: the last row alone gives the same bits. */
                float *alone = malloc((size_t)N * sizeof *alone);
                cpus[1]->ops->matmul(cpus[1], alone, x + (size_t)(R - 1) * K, &w, bias, 1);
                ok(memcmp(alone, got[1] + (size_t)(R - 1) * N, (size_t)N * sizeof(float)) == 0,
                   "%s N=%d K=%d R=%d: the last row alone gets the same bits", names[f], N, K, R);
                free(alone);
                free(x);
                free(want);
                free(got[0]);
                free(got[1]);
            }
            free(wb);
            free(bias);
            free(wq);
            free(sc);
        }
    fk_wmat odd = {FK_W_MXFP4, 4, 48, NULL, NULL};
    float y[4], x[48] = {0};
    is_int(cpus[0]->ops->matmul(cpus[0], y, x, &odd, NULL, 1), FK_ERR_SHAPE,
           "MXFP4 with K %% 32 != 0 is an unsupported shape");
}

/* ---- paged attention ------------------------------------------------------------------ */

enum { BT = 4, SLOTS = 2, NBLK = 64 };

/* A cache of NBLK blocks with layer slot `slot` of the tables' blocks filled
 * through kv_store of the reference backend. */
typedef struct paged {
    fk_kv_cache c;      /* the cache */
    int32_t tab[3][16]; /* per sequence: a shuffled block table */
} paged;

static void paged_init(paged *p, int width)
{
    p->c.block_tokens = BT;
    p->c.slots = SLOTS;
    p->c.width = width;
    p->c.block_floats = (size_t)SLOTS * 2 * BT * width;
    p->c.base = rand_floats(NBLK * p->c.block_floats, 1.0f); /* garbage where unwritten */
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < 16; i++) p->tab[s][i] = (int32_t)((s * 16 + i) * 7 % NBLK);
}

static void test_attention(void)
{
    const int nh = 4, nkv = 2, hd = 16, width = nkv * hd;
    /* Three sequences: a prefill of 9 from position 0, a prefill of 5 at 30,
     * a decode of 1 at 47. */
    const int pos0[3] = {0, 30, 47}, n_new[3] = {9, 5, 1};
    int R = 15;
    paged p;
    paged_init(&p, width);
    uint16_t *sinks = rand_bf16(nh, 4.0f);
    const int windows[2] = {0, 6};
    for (int wi = 0; wi < 2; wi++) {
        int window = windows[wi];
        fk_attn_seq seqs[3];
        for (int s = 0, row = 0; s < 3; s++) {
            seqs[s] = (fk_attn_seq){p.tab[s], 16, pos0[s], n_new[s], row};
            row += n_new[s];
        }
        /* The earlier positions of sequences 1 and 2, as earlier calls stored them. */
        for (int s = 1; s < 3; s++) {
            float *k = rand_floats((size_t)pos0[s] * width, 1.0f);
            float *v = rand_floats((size_t)pos0[s] * width, 1.0f);
            fk_attn_seq past = {p.tab[s], 16, 0, pos0[s], 0};
            is_int(ref->ops->kv_store(ref, &p.c, 1, k, v, &past, 1), FK_OK,
                   "window %d: store %d earlier positions of sequence %d", window, pos0[s], s);
            free(k);
            free(v);
        }
        float *k = rand_floats((size_t)R * width, 1.0f), *v = rand_floats((size_t)R * width, 1.0f);
        float *q = rand_floats((size_t)R * nh * hd, 2.0f);
        ref->ops->kv_store(ref, &p.c, 1, k, v, seqs, 3);
        float *want = malloc((size_t)R * nh * hd * sizeof *want);
        is_int(ref->ops->attention(ref, want, q, &p.c, 1, seqs, 3, sinks, nh, nkv, hd, window),
               FK_OK, "window %d: reference attention", window);
        for (int c = 0; c < 2; c++) {
            float *got = malloc((size_t)R * nh * hd * sizeof *got);
            is_int(cpus[c]->ops->attention(cpus[c], got, q, &p.c, 1, seqs, 3, sinks, nh, nkv, hd,
                                           window),
                   FK_OK, "window %d, %d thread(s): status", window, c ? 3 : 1);
            double e = rel_err(got, want, (size_t)R * nh * hd, 1.0);
            ok(e < 1e-5, "window %d, %d thread(s): 3 sequences, GQA, paged: within %.1e", window,
               c ? 3 : 1, e);
            /* Batch invariance: sequence 1 alone, as rows 0..4. */
            fk_attn_seq alone = seqs[1];
            alone.row0 = 0;
            float *one = malloc((size_t)5 * nh * hd * sizeof *one);
            cpus[c]->ops->attention(cpus[c], one, q + (size_t)9 * nh * hd, &p.c, 1, &alone, 1,
                                    sinks, nh, nkv, hd, window);
            ok(memcmp(one, got + (size_t)9 * nh * hd, (size_t)5 * nh * hd * sizeof(float)) == 0,
               "window %d, %d thread(s): a sequence alone gets the bits it gets in the batch",
               window, c ? 3 : 1);
            free(one);
            free(got);
        }
        /* A cache written by the CPU backend's kv_store reads the same. */
        paged p2 = p;
        size_t bytes = NBLK * p.c.block_floats * sizeof(float);
        p2.c.base = malloc(bytes);
        memcpy(p2.c.base, p.c.base, bytes);
        /* Clear the keys of sequence 0's first block (slot 1): the CPU must write them. */
        float *k0 = p2.c.base + p.tab[0][0] * p.c.block_floats + (size_t)2 * BT * width;
        memset(k0, 0, (size_t)BT * width * sizeof(float));
        is_int(cpus[1]->ops->kv_store(cpus[1], &p2.c, 1, k, v, seqs, 3), FK_OK,
               "window %d: CPU kv_store", window);
        ok(memcmp(p2.c.base, p.c.base, bytes) == 0,
           "window %d: CPU kv_store writes what the reference writes", window);
        free(p2.c.base);
        free(k);
        free(v);
        free(q);
        free(want);
    }
    /* A sliding layer's dropped block (-1) is never read: drop block 0 of
     * sequence 1 (positions 0..3; its queries at 30.. with window 6 see 25..). */
    fk_attn_seq s1 = {p.tab[1], 16, 30, 5, 0};
    float *q = rand_floats((size_t)5 * nh * hd, 1.0f);
    float *a = malloc((size_t)5 * nh * hd * sizeof *a),
          *b = malloc((size_t)5 * nh * hd * sizeof *b);
    cpus[0]->ops->attention(cpus[0], a, q, &p.c, 1, &s1, 1, sinks, nh, nkv, hd, 6);
    int32_t dropped[16];
    memcpy(dropped, p.tab[1], sizeof dropped);
    for (int i = 0; i < 6; i++) dropped[i] = -1; /* positions 0..23 */
    s1.blocks = dropped;
    is_int(cpus[0]->ops->attention(cpus[0], b, q, &p.c, 1, &s1, 1, sinks, nh, nkv, hd, 6), FK_OK,
           "attention over a table whose out-of-window blocks are -1");
    ok(memcmp(a, b, (size_t)5 * nh * hd * sizeof(float)) == 0, "and it reads only the window");
    /* Statuses. */
    paged big;
    big.c = p.c;
    big.c.width = 2 * 2048;
    is_int(cpus[0]->ops->attention(cpus[0], a, q, &big.c, 1, &s1, 1, sinks, 2, 2, 2048, 0),
           FK_ERR_SHAPE, "head_dim 2048 is an unsupported shape, not a silent skip");
    fk_attn_seq gap = {dropped, 16, 30, 1, 0};
    float kv1[64] = {0};
    gap.pos0 = 2; /* block 0 is -1 */
    is_int(cpus[0]->ops->kv_store(cpus[0], &p.c, 0, kv1, kv1, &gap, 1), FK_ERR_ARG,
           "kv_store into a missing block is refused");
    gap.pos0 = 70; /* past the table */
    is_int(cpus[0]->ops->kv_store(cpus[0], &p.c, 0, kv1, kv1, &gap, 1), FK_ERR_ARG,
           "kv_store past the block table is refused");
    is_int(cpus[0]->ops->kv_store(cpus[0], &p.c, SLOTS, kv1, kv1, &s1, 1), FK_ERR_ARG,
           "kv_store into a slot the blocks do not have is refused");
    free(q);
    free(a);
    free(b);
    free(sinks);
    free(p.c.base);
}

/* ---- the small ops -------------------------------------------------------------------- */

static void test_small_ops(void)
{
    const int R = 7, H = 40, V = 50, E = 9, k = 3, I = 12;
    uint16_t *table = rand_bf16((size_t)V * H, 2.0f), *w = rand_bf16(H, 2.0f);
    int32_t tokens[7] = {0, 49, 3, 3, 17, 25, 1};
    float *want = malloc((size_t)R * V * sizeof(float) * 2),
          *got = malloc((size_t)R * V * sizeof(float) * 2);
    for (int c = 0; c < 2; c++) {
        fk_backend *be = cpus[c];
        const char *t = c ? "3 threads" : "1 thread";
        ref->ops->embed(ref, want, table, tokens, R, H, V);
        is_int(be->ops->embed(be, got, table, tokens, R, H, V), FK_OK, "%s: embed", t);
        ok(memcmp(got, want, (size_t)R * H * 4) == 0, "%s: embed = reference", t);
        int32_t bad[2] = {3, V};
        is_int(be->ops->embed(be, got, table, bad, 2, H, V), FK_ERR_ARG,
               "%s: embed refuses a token outside the vocabulary", t);

        float *x = rand_floats((size_t)R * H, 3.0f);
        ref->ops->rmsnorm(ref, want, x, w, R, H, 1e-5f);
        be->ops->rmsnorm(be, got, x, w, R, H, 1e-5f);
        ok(rel_err(got, want, (size_t)R * H, 1e-3) < 1e-6, "%s: rmsnorm = reference", t);

        float *cs = rand_floats((size_t)R * 16, 2.0f), *xr = rand_floats((size_t)R * 3 * 16, 1.0f);
        memcpy(want, xr, (size_t)R * 3 * 16 * 4);
        memcpy(got, xr, (size_t)R * 3 * 16 * 4);
        ref->ops->rope(ref, want, cs, R, 3, 16);
        be->ops->rope(be, got, cs, R, 3, 16);
        ok(rel_err(got, want, (size_t)R * 3 * 16, 1e-3) < 1e-6, "%s: rope = reference", t);
        is_int(be->ops->rope(be, got, cs, R, 3, 15), FK_ERR_SHAPE, "%s: rope of an odd head", t);

        float *lg = rand_floats((size_t)R * E, 4.0f);
        lg[E + 2] = lg[E + 5] = 3.0f; /* a tie in row 1 */
        int32_t ia[21], ib[21];
        float wa[21], wb[21];
        ref->ops->route(ref, ia, wa, lg, R, E, k);
        be->ops->route(be, ib, wb, lg, R, E, k);
        ok(memcmp(ia, ib, sizeof ia) == 0 && rel_err(wb, wa, 21, 1e-3) < 1e-6,
           "%s: route = reference (ids equal, weights close)", t);
        ok(ib[k] == 2 && ib[k + 1] == 5, "%s: route ties go to the lower index (%d, %d)", t, ib[k],
           ib[k + 1]);
        is_int(be->ops->route(be, ib, wb, lg, R, E, E + 1), FK_ERR_ARG, "%s: route of k > E", t);

        float *gu = rand_floats((size_t)R * 2 * I, 20.0f);
        ref->ops->swiglu(ref, want, gu, R, I, 7.0f, 1.702f);
        be->ops->swiglu(be, got, gu, R, I, 7.0f, 1.702f);
        ok(rel_err(got, want, (size_t)R * I, 1e-6) < 1e-5, "%s: swiglu = reference", t);

        int32_t rows[3] = {6, 0, 3};
        float scale[3] = {0.5f, -2.0f, 1.25f};
        ref->ops->gather(ref, want, x, rows, 3, H);
        be->ops->gather(be, got, x, rows, 3, H);
        ok(memcmp(got, want, (size_t)3 * H * 4) == 0, "%s: gather = reference", t);
        float *y1 = rand_floats((size_t)R * H, 1.0f), *y2 = malloc((size_t)R * H * 4);
        memcpy(y2, y1, (size_t)R * H * 4);
        ref->ops->scatter_add(ref, y1, want, rows, scale, 3, H);
        be->ops->scatter_add(be, y2, want, rows, scale, 3, H);
        ok(rel_err(y2, y1, (size_t)R * H, 1e-3) < 1e-6, "%s: scatter_add = reference", t);
        ref->ops->add(ref, y1, x, (size_t)R * H);
        be->ops->add(be, y2, x, (size_t)R * H);
        ok(rel_err(y2, y1, (size_t)R * H, 1e-3) < 1e-6, "%s: add = reference", t);

        float *logits = rand_floats((size_t)3 * V, 10.0f);
        logits[7] = logits[31] = 100.0f;                     /* row 0: a tie, the lower wins */
        logits[V + 4] = NAN;                                 /* row 1: NaN never wins */
        for (int i = 0; i < V; i++) logits[2 * V + i] = NAN; /* row 2: all NaN -> 0 */
        int32_t am[3], rm[3];
        ref->ops->argmax(ref, rm, logits, 3, V);
        is_int(be->ops->argmax(be, am, logits, 3, V), FK_OK, "%s: argmax", t);
        ok(am[0] == 7 && am[2] == 0 && memcmp(am, rm, sizeof am) == 0,
           "%s: argmax = reference (ties low, NaN never wins): %d %d %d", t, am[0], am[1], am[2]);
        free(logits);
        free(x);
        free(cs);
        free(xr);
        free(lg);
        free(gu);
        free(y1);
        free(y2);
    }
    free(table);
    free(w);
    free(want);
    free(got);
}

/* ---- memory ops -------------------------------------------------------------------------- */

static void test_memory(fk_backend *be)
{
    int32_t src[5] = {1, 2, 3, 4, 5}, back[5] = {0};
    int32_t *dev = be->ops->alloc(be, sizeof src);
    ok(dev != NULL && (uintptr_t)dev % 64 == 0, "%s: alloc is 64-byte aligned", be->ops->name);
    is_int(be->ops->upload(be, dev, src, sizeof src), FK_OK, "%s: upload", be->ops->name);
    is_int(be->ops->download(be, back, dev, sizeof back), FK_OK, "%s: download", be->ops->name);
    is_int(be->ops->synchronize(be), FK_OK, "%s: synchronize", be->ops->name);
    ok(memcmp(src, back, sizeof src) == 0, "%s: upload then download round-trips", be->ops->name);
    const void *mapped = NULL;
    is_int(be->ops->map_weights(be, &mapped, src, sizeof src), FK_OK, "%s: map_weights",
           be->ops->name);
    ok(mapped != NULL, "%s: map_weights gives a pointer", be->ops->name);
    be->ops->unmap_weights(be, mapped);
    be->ops->release(be, dev);
}

int main(void)
{
    ref = fk_backend_ref_new();
    cpus[0] = fk_backend_cpu_new(1);
    cpus[1] = fk_backend_cpu_new(3);
    if (!ref || !cpus[0] || !cpus[1]) {
        ok(0, "start the backends");
        return done_testing();
    }
    test_memory(ref);
    test_memory(cpus[1]);
    test_small_ops();
    test_attention();
    test_matmul();
    ref->ops->free(ref);
    cpus[0]->ops->free(cpus[0]);
    cpus[1]->ops->free(cpus[1]);
    return done_testing();
}
