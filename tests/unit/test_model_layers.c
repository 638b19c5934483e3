/* test_model_layers: the kernels of both the reference and the CPU backend
 * against small hand-computed cases (YaRN, sink softmax, window masking over
 * paged blocks, MXFP4 codes, router, clamped SwiGLU, bf16, rmsnorm, rope);
 * then the model and its paged KV cache on the tiny fixture model. */
#include "drivers/cuda/model/backend.h"
#include "drivers/cuda/checkpoint/checkpoint.h"
#include "drivers/cuda/model/model.h"
#include "drivers/cuda/model/mxfp4.h"
#include "drivers/cuda/model/rope.h"
#include "drivers/cuda/backends/cpu/threadpool.h"
#include "tests/tap.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int near(double got, double want, double tol, const char *what)
{
    int pass = fabs(got - want) <= tol;
    ok(pass, "%s = %.6g (want %.6g)", what, got, want);
    return pass;
}

static uint16_t bf16_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)(u >> 16); /* the test values are exact in bf16 */
}

/* ---- YaRN ------------------------------------------------------------------------ */

static void test_yarn(void)
{
    fk_gptoss_config c;
    memset(&c, 0, sizeof c);
    c.head_dim = 64;
    c.rope_theta = 150000;
    c.rope_yarn = 1;
    c.rope_factor = 32;
    c.rope_beta_fast = 32;
    c.rope_beta_slow = 1;
    c.rope_original_max_pos = 4096;
    fk_rope r;
    is_int(fk_rope_init(&r, &c), 0, "rope init hd=64");
    near(r.low, 8.0928, 5e-5, "yarn low");
    near(r.high, 17.3980, 5e-5, "yarn high");
    const double want[4] = {1.0, 0.68904, 0.47478, 0.32715};
    for (int i = 0; i < 4; i++) {
        char what[32];
        snprintf(what, sizeof what, "inv_freq[%d]", i);
        near(r.inv_freq[i], want[i], 5e-6, what);
    }
    /* Past the ramp every frequency is the interpolated one, base / 32. */
    near(r.inv_freq[31], 1.0 / pow(150000, 62.0 / 64) / 32, 1e-15, "inv_freq[31] interpolated");
    near(r.concentration, 1.3466, 5e-5, "concentration for factor 32");
    near(fk_rope_concentration(1.0), 1.0, 0, "concentration for factor 1");
    float cs[32], sn[32];
    fk_rope_cos_sin(&r, 0, cs, sn);
    near(cs[5], 1.3466, 5e-5, "cos at position 0 carries the concentration");
    near(sn[5], 0.0, 0, "sin at position 0");
    fk_rope_cos_sin(&r, 3, cs, sn);
    near(cs[0], cos(3.0) * 1.34657359, 1e-5, "cos at position 3, pair 0");
    near(sn[1], sin(3 * 0.68904) * 1.34657359, 1e-4, "sin at position 3, pair 1");
    c.rope_truncate = 1;
    fk_rope_init(&r, &c);
    ok(r.low == 8.0 && r.high == 18.0, "truncate rounds the range to [8, 18] (got %g, %g)", r.low,
       r.high);
    c.rope_yarn = 0;
    fk_rope_init(&r, &c);
    near(r.inv_freq[1], 1.0 / pow(150000, 2.0 / 64), 1e-15, "no yarn: plain inv_freq[1]");
    near(r.concentration, 1.0, 0, "no yarn: concentration 1");
}

/* ---- attention ------------------------------------------------------------------ */

/* A paged cache of blocks of 2 positions, one layer slot, for hand-computed
 * cases: the sequence's table is blocks 5, 2, 7, 0 (positions 0..7). */
typedef struct hand_cache {
    float mem[8 * 2 * 2 * 16]; /* 8 blocks of [1 slot][K, V][2 rows][width <= 16] */
    fk_kv_cache c;             /* the view */
    int32_t table[4];          /* the sequence's blocks */
} hand_cache;

static void hand_init(hand_cache *h, int width)
{
    memset(h->mem, 0, sizeof h->mem);
    h->c = (fk_kv_cache){h->mem, 2, 1, width, (size_t)2 * 2 * width};
    const int32_t t[4] = {5, 2, 7, 0};
    memcpy(h->table, t, sizeof t);
}

/* Store rows of k, v as positions pos0.. of the sequence. */
static void hand_store(fk_backend *be, hand_cache *h, const float *k, const float *v, int pos0,
                       int n)
{
    fk_attn_seq s = {h->table, 4, pos0, n, 0};
    is_int(be->ops->kv_store(be, &h->c, 0, k, v, &s, 1), FK_OK, "%s: store positions %d..%d",
           be->ops->name, pos0, pos0 + n - 1);
}

/* Attention of one head (nh = nkv = 1, hd = 4) over 3 keys with scores
 * q.k/sqrt(4) = 1, 0, -1 and values 1, 2, 3 (dimension 0). By hand, with
 * sink 0: p = e, 1, 1/e over (e + 1 + 1/e + 1) = 0.534447, 0.196612,
 * 0.072329; output 1.144659. With sink 1 the denominator gains e instead
 * of 1: output 0.855606. */
static void test_sink_softmax(fk_backend *be)
{
    float q[3 * 4] = {0}, k[3 * 4] = {0}, v[3 * 4] = {0}, out[3 * 4];
    q[2 * 4] = 2.0f;
    k[0] = 1.0f;
    k[4] = 0.0f;
    k[8] = -1.0f;
    for (int t = 0; t < 3; t++) v[t * 4] = (float)(t + 1);
    hand_cache h;
    hand_init(&h, 4);
    hand_store(be, &h, k, v, 0, 3);
    uint16_t sink = bf16_of(0.0f);
    fk_attn_seq s = {h.table, 4, 0, 3, 0};
    be->ops->attention(be, out, q, &h.c, 0, &s, 1, &sink, 1, 1, 4, 0);
    near(out[8], 1.1446590, 2e-6, "sink 0: output of the 3-score example");
    near(out[9], 0.0, 0, "sink 0: other dimensions stay 0");
    near(out[0], 1.0 / (1.0 + 1.0), 1e-6, "position 0 sees itself and the sink: v0 / 2");
    sink = bf16_of(1.0f);
    be->ops->attention(be, out, q, &h.c, 0, &s, 1, &sink, 1, 1, 4, 0);
    near(out[8], 0.8556057, 2e-6, "sink 1: output of the 3-score example");
    /* The same query as a decode step at position 2. */
    fk_attn_seq d = {h.table, 4, 2, 1, 0};
    be->ops->attention(be, out, q + 8, &h.c, 0, &d, 1, &sink, 1, 1, 4, 0);
    near(out[0], 0.8556057, 2e-6, "sink 1, the query at position 2 alone");
}

/* Scores all 0 and the sink at -100 (exp ~ 0): each visible position gets
 * weight 1/n_visible, and value t is one-hot at dimension t, so out[t] > 0
 * exactly where t is visible. 6 positions, hd = 8. */
static void test_window(fk_backend *be)
{
    enum { T = 6, HD = 8 };
    float q[T * HD] = {0}, k[T * HD] = {0}, v[T * HD] = {0}, out[T * HD];
    for (int t = 0; t < T; t++) v[t * HD + t] = 1.0f;
    uint16_t sink = bf16_of(-100.0f);
    hand_cache h;
    hand_init(&h, HD);
    hand_store(be, &h, k, v, 0, T);
    int windows[3] = {0, 1, 3};
    for (int wi = 0; wi < 3; wi++) {
        int w = windows[wi];
        fk_attn_seq s = {h.table, 4, 0, T, 0};
        be->ops->attention(be, out, q, &h.c, 0, &s, 1, &sink, 1, 1, HD, w);
        int good = 1;
        for (int p = 0; p < T; p++) {
            int lo = w && p - w + 1 > 0 ? p - w + 1 : 0;
            for (int t = 0; t < T; t++) {
                double want = t >= lo && t <= p ? 1.0 / (p - lo + 1) : 0.0;
                if (fabs(out[p * HD + t] - want) > 1e-6) good = 0;
            }
        }
        ok(good, "%s: window %d: query p sees %s", be->ops->name, w,
           w ? "p-window+1 .. p" : "0 .. p");
    }
    /* A decode at position 5 with window 3 after block 0 (positions 0, 1)
     * was given back: it sees 3, 4, 5 only. */
    h.table[0] = -1;
    fk_attn_seq d = {h.table, 4, 5, 1, 0};
    is_int(be->ops->attention(be, out, q, &h.c, 0, &d, 1, &sink, 1, 1, HD, 3), FK_OK,
           "%s: a decode step whose first block was given back", be->ops->name);
    ok(fabs(out[2]) < 1e-9 && fabs(out[3] - 1.0 / 3) < 1e-6 && fabs(out[4] - 1.0 / 3) < 1e-6 &&
           fabs(out[5] - 1.0 / 3) < 1e-6,
       "%s: position 5, window 3, sees 3, 4, 5 (%.3f %.3f %.3f %.3f)", be->ops->name, out[2],
       out[3], out[4], out[5]);
    /* GQA: 4 query heads on 2 kv heads; head j reads kv head j / 2. */
    float q4[4 * HD] = {0}, k2[2 * HD] = {0}, v2[2 * HD], o4[4 * HD];
    for (int i = 0; i < HD; i++) {
        v2[i] = 1.0f;
        v2[HD + i] = 2.0f;
    }
    hand_init(&h, 2 * HD);
    hand_store(be, &h, k2, v2, 0, 1);
    fk_attn_seq g = {h.table, 4, 0, 1, 0};
    be->ops->attention(be, o4, q4, &h.c, 0, &g, 1, (uint16_t[]){sink, sink, sink, sink}, 4, 2, HD,
                       0);
    ok(fabs(o4[0] - 1) < 1e-6 && fabs(o4[HD] - 1) < 1e-6 && fabs(o4[2 * HD] - 2) < 1e-6 &&
           fabs(o4[3 * HD] - 2) < 1e-6,
       "%s: GQA: heads 0,1 read kv head 0, heads 2,3 kv head 1", be->ops->name);
}

/* ---- formats ------------------------------------------------------------------------ */

static void test_bf16(void)
{
    near(fk_bf16_f32(0x3F80), 1.0, 0, "bf16 0x3F80");
    near(fk_bf16_f32(0xC000), -2.0, 0, "bf16 0xC000");
    near(fk_bf16_f32(0x4049), 3.140625, 0, "bf16 0x4049");
    ok(isinf(fk_bf16_f32(0x7F80)) && fk_bf16_f32(0x7F80) > 0, "bf16 0x7F80 is +inf");
    near(fk_bf16_f32(0x0001), 9.18354961579912e-41, 1e-50, "bf16 0x0001 (subnormal)");
    ok(signbit(fk_bf16_f32(0x8000)) && fk_bf16_f32(0x8000) == 0.0f, "bf16 0x8000 is -0");
}

static void test_mxfp4(fk_backend *be)
{
    const float want[16] = {0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0f, -0.5, -1, -1.5, -2, -3, -4, -6};
    int good = 1;
    for (int c = 0; c < 16; c++) {
        float f = fk_fp4_f32((uint32_t)c);
        if (f != want[c] || signbit(f) != signbit(want[c])) good = 0;
    }
    ok(good, "fk_fp4_f32 gives the 16 e2m1 values, -0 included");
    near(fk_e8m0_f32(127), 1.0, 0, "e8m0 127 = 1");
    near(fk_e8m0_f32(130), 8.0, 0, "e8m0 130 = 8");
    near(fk_e8m0_f32(118), 1.0 / 512, 0, "e8m0 118 = 2^-9");
    near(fk_e8m0_f32(0), ldexp(1.0, -127), 0, "e8m0 0 = 2^-127");
    /* A block whose byte j holds codes (j, 15 - j): element 2j = code j,
     * element 2j+1 = code 15 - j. */
    uint8_t q[16];
    for (int j = 0; j < 16; j++) q[j] = (uint8_t)(j | (15 - j) << 4);
    const uint8_t scales[3] = {127, 129, 121};
    for (int si = 0; si < 3; si++) {
        float out[32], s = ldexpf(1.0f, scales[si] - 127);
        fk_mxfp4_decode_block(out, q, s);
        good = 1;
        for (int j = 0; j < 16; j++)
            if (out[2 * j] != want[j] * s || out[2 * j + 1] != want[15 - j] * s) good = 0;
        ok(good, "decode_block, scale byte %d: low nibble first", scales[si]);
        /* The matmul kernel on the same block (one row, K = 32): x one-hot at
         * element i picks W[0][i]. */
        int mm_good = 1;
        for (int i = 0; i < 32; i++) {
            float x[32] = {0}, y;
            x[i] = 1.0f;
            fk_wmat w = {FK_W_MXFP4, 1, 32, q, &scales[si]};
            be->ops->matmul(be, &y, x, &w, NULL, 1);
            if (y != out[i]) mm_good = 0;
        }
        ok(mm_good, "MXFP4 matmul reads every code in place, scale byte %d", scales[si]);
    }
}

/* ---- router, SwiGLU, norm, rope -------------------------------------------------------- */

static void test_router(fk_backend *be)
{
    float lg[2 * 4] = {3, 1, 2, 5, /* row 1: a tie */ 1, 0, 1, -1};
    int32_t idx[4];
    float w[4];
    be->ops->route(be, idx, w, lg, 2, 4, 2);
    ok(idx[0] == 3 && idx[1] == 0, "top-2 of (3,1,2,5) is (3, 0) (got %d, %d)", idx[0], idx[1]);
    near(w[0], 0.880797078, 1e-6, "softmax over the chosen two: 1/(1+e^-2)");
    near(w[1], 0.119202922, 1e-6, "and e^-2/(1+e^-2)");
    ok(idx[2] == 0 && idx[3] == 2, "tie: lower index first (got %d, %d)", idx[2], idx[3]);
    near(w[2], 0.5, 1e-7, "tied logits share the weight");
}

static void test_swiglu(fk_backend *be)
{
    /* (gate, up) interleaved; expected (u+1) g sigmoid(1.702 g) with g <= 7,
     * -7 <= u <= 7, by hand. */
    float gu[10] = {1, 0, 10, 10, -10, -10, 2, -0.5f, -1, 3};
    const double want[5] = {0.8457957659, 55.999625026, 2.434776777e-06, 0.9678293116,
                            -0.6168169363};
    float y[5];
    be->ops->swiglu(be, y, gu, 1, 5, 7.0f, 1.702f);
    near(y[0], want[0], 1e-6, "swiglu(g=1, u=0)");
    near(y[1], want[1], 1e-4, "swiglu(g=10, u=10): both clamped to 7");
    near(y[2], want[2], 1e-10, "swiglu(g=-10, u=-10): gate not clamped below, up to -7");
    near(y[3], want[3], 1e-6, "swiglu(g=2, u=-0.5)");
    near(y[4], want[4], 1e-6, "swiglu(g=-1, u=3)");
}

static void test_rmsnorm_rope(fk_backend *be)
{
    float x[4] = {1, 2, 3, 4}, y[4];
    uint16_t w[4] = {bf16_of(1), bf16_of(2), bf16_of(1), bf16_of(0.5f)};
    be->ops->rmsnorm(be, y, x, w, 1, 4, 1e-5f);
    double inv = 1.0 / sqrt(7.5 + 1e-5);
    ok(fabs(y[0] - inv) < 1e-6 && fabs(y[1] - 4 * inv) < 1e-6 && fabs(y[3] - 2 * inv) < 1e-6,
       "rmsnorm: x / rms(x) * w");
    /* hd = 4: pairs (0, 2) and (1, 3). */
    float h[4] = {1, 2, 3, 4}, cs[4] = {0.5f, 1.0f, 0.25f, 0.0f};
    be->ops->rope(be, h, cs, 1, 1, 4);
    ok(fabs(h[0] - (1 * 0.5 - 3 * 0.25)) < 1e-6 && fabs(h[2] - (3 * 0.5 + 1 * 0.25)) < 1e-6 &&
           h[1] == 2.0f && h[3] == 4.0f,
       "rope rotates the half-split pairs (got %g %g %g %g)", h[0], h[1], h[2], h[3]);
}

/* ---- thread pool --------------------------------------------------------------------- */

static void count_task(void *ctx, int64_t b, int64_t e, int thread)
{
    (void)thread;
    int *hits = ctx;
    for (int64_t i = b; i < e; i++) __atomic_fetch_add(&hits[i], 1, __ATOMIC_RELAXED);
}

static void test_pool(void)
{
    fk_pool *p = fk_pool_new(3);
    ok(p && fk_pool_size(p) == 3, "pool of 3 threads");
    if (!p) return;
    static int hits[1001];
    int good = 1;
    /* Jobs of changing sizes back to back: a late worker must never carry an
     * index of one job into the next. */
    for (int round = 0; round < 3000; round++) {
        int64_t n = round % 3 == 0 ? 1001 : round % 3 == 1 ? 37 : 250;
        int64_t grain = round % 3 == 0 ? 7 : round % 3 == 1 ? 3 : 16;
        memset(hits, 0, sizeof hits);
        fk_pool_for(p, n, grain, count_task, hits);
        for (int i = 0; i < 1001; i++) good &= hits[i] == (i < n);
    }
    ok(good, "3000 parallel fors of changing sizes cover every index exactly once");
    fk_pool_free(p);
}

/* ---- the model and its paged KV cache on the tiny model ------------------------------ */

static double max_diff(const float *a, const float *b, size_t n)
{
    double e = 0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs((double)a[i] - b[i]));
    return e;
}

/* One model on one backend with a run and a pool of blocks of 4 positions. */
typedef struct tiny {
    fk_backend *be;   /* owned */
    fk_model *m;      /* owned */
    fk_run *run;      /* owned */
    fk_kv_pool *pool; /* owned */
} tiny;

static int tiny_open(tiny *t, const fk_checkpoint *ck, fk_backend *be, size_t blocks)
{
    char err[512];
    memset(t, 0, sizeof *t);
    t->be = be;
    t->m = fk_model_new(ck, be, err, sizeof err);
    ok(t->m != NULL, "%s: fk_model_new%s%s", be->ops->name, t->m ? "" : ": ", t->m ? "" : err);
    if (!t->m) return -1;
    t->run = fk_run_new(t->m, err, sizeof err);
    fk_kv_pool *probe = fk_kv_pool_new(t->m, 1 << 20, 4, err, sizeof err);
    size_t block = probe ? fk_kv_block_bytes(probe) : 0;
    fk_kv_pool_free(probe);
    t->pool = block ? fk_kv_pool_new(t->m, blocks * block, 4, err, sizeof err) : NULL;
    ok(t->run && t->pool, "%s: a run and a pool of %zu blocks%s%s", be->ops->name, blocks,
       t->pool ? "" : ": ", t->pool ? "" : err);
    return t->run && t->pool ? 0 : -1;
}

static void tiny_close(tiny *t)
{
    fk_kv_pool_free(t->pool);
    fk_run_free(t->run);
    fk_model_free(t->m);
    if (t->be) t->be->ops->free(t->be);
}

static void test_kv(const fk_checkpoint *ck)
{
    enum { NB = 200 }; /* blocks in the pool */
    tiny t;
    if (tiny_open(&t, ck, fk_backend_cpu_new(2), NB) != 0) {
        tiny_close(&t);
        return;
    }
    const fk_gptoss_config *c = fk_model_config(t.m);
    int V = c->vocab_size, width = c->n_kv_heads * c->head_dim;
    /* 2 sliding layers (window 8) and 2 full ones: two groups of 2 slots. */
    is_int((long long)fk_kv_block_bytes(t.pool), (long long)4 * 2 * 2 * width * 4,
           "a block holds 4 positions of 2 layers, keys and values, in float");
    is_int((long long)fk_kv_pool_blocks(t.pool), NB, "the pool has the blocks it was sized for");
    fk_kv *kv = fk_kv_new(t.pool, 20);
    float *lg = malloc((size_t)3 * V * sizeof *lg), *one = malloc((size_t)V * sizeof *one);
    int32_t toks[12] = {200006, 17360, 200008, 12, 500, 9, 77, 1000, 3, 44, 5, 6};
    is_int(fk_model_forward(t.m, t.run, kv, toks, 12, one, 0), FK_OK, "prefill 12 tokens");
    is_int(fk_kv_len(kv), 12, "kv length 12");
    is_int((long long)fk_kv_held(kv), 6, "12 positions: 3 blocks per group");
    /* Decoding the rest one at a time equals a prefill of everything, bit for bit. */
    fk_kv *kv2 = fk_kv_new(t.pool, 20);
    int32_t all[14] = {0};
    memcpy(all, toks, sizeof toks);
    all[12] = 42;
    all[13] = 4242;
    float *full = malloc((size_t)14 * V * sizeof *full);
    fk_model_forward(t.m, t.run, kv2, all, 14, full, 1);
    int32_t greedy[2];
    is_int(fk_model_decode(t.m, t.run, &kv, &all[12], 1, lg, greedy), FK_OK, "decode one token");
    /* Position 12: the sliding layers' window (8) now starts at 5: block 0 went back. */
    is_int((long long)fk_kv_held(kv), 7, "at position 12 the sliding group gave block 0 back");
    fk_model_decode(t.m, t.run, &kv, &all[13], 1, lg + V, greedy + 1);
    ok(memcmp(lg, full + (size_t)12 * V, (size_t)2 * V * sizeof *lg) == 0,
       "prefill + decode through paged blocks = one prefill, bit for bit");
    int32_t am = 0;
    for (int i = 1; i < V; i++)
        if (lg[V + i] > lg[V + am]) am = i;
    is_int(greedy[1], am, "the greedy id is the argmax of the logits");
    /* Batched decode equals one-at-a-time, bit for bit. */
    fk_kv *a = fk_kv_new(t.pool, 20), *b = fk_kv_new(t.pool, 20), *a1 = fk_kv_new(t.pool, 20);
    fk_model_forward(t.m, t.run, a, toks, 5, one, 0);
    fk_model_forward(t.m, t.run, b, toks + 5, 7, one, 0);
    fk_model_forward(t.m, t.run, a1, toks, 5, one, 0);
    fk_kv *pair[2] = {a, b};
    int32_t next[2] = {99, 100};
    is_int(fk_model_decode(t.m, t.run, pair, next, 2, lg, NULL), FK_OK, "decode a batch of 2");
    fk_model_decode(t.m, t.run, &a1, next, 1, lg + 2 * V, NULL);
    ok(memcmp(lg, lg + 2 * V, (size_t)V * sizeof *lg) == 0,
       "batch row 0 = the same sequence alone, bit for bit");
    /* NULL logits: the cache advances the same way. */
    fk_kv *c1 = fk_kv_new(t.pool, 20), *c2 = fk_kv_new(t.pool, 20);
    fk_model_forward(t.m, t.run, c1, toks, 6, NULL, 0);
    fk_model_forward(t.m, t.run, c1, toks + 6, 6, one, 0);
    fk_model_forward(t.m, t.run, c2, toks, 12, lg, 0);
    ok(fk_kv_len(c1) == 12 && memcmp(one, lg, (size_t)V * sizeof *lg) == 0,
       "a prefill chunk without logits, then one with: the same bits");
    fk_kv_free(c1);
    fk_kv_free(c2);
    /* Capacity: 20 positions, 14 used in kv2. */
    is_int(fk_model_forward(t.m, t.run, kv2, toks, 7, one, 0), FK_ERR_KV_FULL,
           "prefill past the sequence's capacity: FK_ERR_KV_FULL");
    is_int(fk_kv_len(kv2), 14, "a refused prefill leaves the cache as it was");
    size_t free_before = fk_kv_pool_free_blocks(t.pool);
    fk_kv_reset(kv2);
    ok(fk_kv_len(kv2) == 0 && fk_kv_held(kv2) == 0 &&
           fk_kv_pool_free_blocks(t.pool) == free_before + 8,
       "reset empties the sequence and gives its 8 blocks back");
    int32_t bad = V;
    is_int(fk_model_forward(t.m, t.run, kv2, &bad, 1, one, 0), FK_ERR_TOKEN,
           "a token outside the vocabulary: FK_ERR_TOKEN, not a full cache");
    ok(strstr(fk_run_error(t.run), "outside the vocabulary") != NULL, "and the error says so: %s",
       fk_run_error(t.run));
    ok(fk_model_bytes_per_token(t.m) > (uint64_t)V * c->hidden_size * 2,
       "bytes per token counts lm_head and more (%llu)",
       (unsigned long long)fk_model_bytes_per_token(t.m));
    /* The pool running dry: a long sequence takes every free block. */
    fk_kv *big = fk_kv_new(t.pool, 4096);
    int32_t *many = malloc(4096 * sizeof *many);
    for (int i = 0; i < 4096; i++) many[i] = 1000 + i;
    is_int(fk_model_forward(t.m, t.run, big, many, 4096, NULL, 0), FK_ERR_KV_FULL,
           "a prefill larger than the free blocks: FK_ERR_KV_FULL");
    ok(strstr(fk_run_error(t.run), "model.c:") && strstr(fk_run_error(t.run), "KV"),
       "the error names the file, line and the KV cache: %s", fk_run_error(t.run));
    ok(fk_kv_len(big) > 0 && fk_kv_len(big) % FK_RUN_ROWS == 0,
       "the chunks before the full one stay (%d positions)", fk_kv_len(big));
    fk_kv_free(big);
    free(many);
    /* Sizing: 20 positions at chunks of 4 need 5 full blocks, and on the
     * sliding layers the window before a chunk and the chunk, 8 - 1 + 4 = 11
     * positions, which straddle up to ceil(11 / 4) + 1 = 4 blocks. */
    is_int((long long)fk_kv_blocks_needed(t.pool, 20, 4), 5 + 4, "blocks needed for 20 positions");
    ok(fk_kv_blocks_needed(t.pool, fk_kv_pool_max_tokens(t.pool, 4), 4) <= NB &&
           fk_kv_blocks_needed(t.pool, fk_kv_pool_max_tokens(t.pool, 4) + 1, 4) > NB,
       "max tokens (%d) is the most that fits in %d blocks", fk_kv_pool_max_tokens(t.pool, 4), NB);
    free(full);
    free(lg);
    free(one);
    fk_kv_free(a);
    fk_kv_free(b);
    fk_kv_free(a1);
    fk_kv_free(kv);
    fk_kv_free(kv2);
    is_int((long long)fk_kv_pool_free_blocks(t.pool), NB, "every block is back in the pool");
    tiny_close(&t);
}

/* Logits of rows from..n-1 of tokens[0..n) on a fresh sequence, or on one
 * that first takes what the prefix cache has (reuse 1); the positions reused
 * go to *reused. */
static fk_status logits_after(tiny *t, const int32_t *tokens, int n, int reuse, float *lg,
                              int *reused)
{
    fk_kv *kv = fk_kv_new(t->pool, n + 4);
    int from = reuse ? fk_kv_reuse_prefix(kv, tokens, n, 1) : 0;
    if (reused) *reused = from;
    int V = fk_model_config(t->m)->vocab_size;
    float *all = malloc((size_t)n * V * sizeof *all);
    fk_status st = fk_model_forward(t->m, t->run, kv, tokens + from, n - from, all, 1);
    /* Only rows computed here: the last one, which both paths produce. */
    memcpy(lg, all + (size_t)(n - from - 1) * V, (size_t)V * sizeof *lg);
    free(all);
    fk_kv_free(kv);
    return st;
}

/* The prefix cache: reused blocks give the bits a fresh computation gives;
 * a difference inside a block stops the reuse there; sliding layers' blocks
 * dropped while decoding still serve; eviction makes room. */
static void test_prefix_cache(const fk_checkpoint *ck)
{
    tiny t;
    if (tiny_open(&t, ck, fk_backend_cpu_new(2), 64) != 0) {
        tiny_close(&t);
        return;
    }
    int V = fk_model_config(t.m)->vocab_size;
    int32_t toks[50];
    for (int i = 0; i < 50; i++) toks[i] = 1000 + 37 * i;
    float *a = malloc((size_t)V * sizeof *a), *b = malloc((size_t)V * sizeof *b);
    int reused = -1;
    fk_kv_pool_set_prefix_cache(t.pool, 1);
    /* Turn 1: 40 tokens, then the sequence ends; its 10 blocks stay cached. */
    is_int(logits_after(&t, toks, 40, 1, a, &reused), FK_OK, "turn 1: 40 tokens");
    is_int(reused, 0, "turn 1: nothing cached yet");
    is_int((long long)fk_kv_pool_cached_blocks(t.pool), 20,
           "turn 1's 10 blocks of each group stay cached");
    /* Turn 2: the same 40 and 10 more. */
    is_int(logits_after(&t, toks, 50, 1, a, &reused), FK_OK, "turn 2 with the cache");
    is_int(reused, 40, "turn 2 reuses turn 1's 40 positions");
    fk_kv_pool_set_prefix_cache(t.pool, 0);
    is_int(logits_after(&t, toks, 50, 1, b, &reused), FK_OK, "turn 2 without the cache");
    is_int(reused, 0, "the cache off: nothing reused");
    ok(memcmp(a, b, (size_t)V * sizeof *a) == 0, "with and without the cache: the same bits");
    fk_kv_pool_set_prefix_cache(t.pool, 1);
    /* A prompt of exactly 40 cached tokens keeps its last token to compute. */
    logits_after(&t, toks, 40, 1, a, &reused);
    is_int(reused, 36, "a fully cached prompt still computes its last block's tokens");
    /* A token changed inside block 5 (positions 20..23): reuse stops at 20. */
    int32_t other[50];
    memcpy(other, toks, sizeof other);
    other[22] = 7;
    logits_after(&t, other, 50, 1, a, &reused);
    is_int(reused, 20, "a different token at 22 stops the reuse at its block");
    fk_kv_pool_set_prefix_cache(t.pool, 0);
    logits_after(&t, other, 50, 0, b, NULL);
    ok(memcmp(a, b, (size_t)V * sizeof *a) == 0, "partial reuse: the same bits");
    fk_kv_pool_set_prefix_cache(t.pool, 1);
    /* Decoding one token at a time: the sliding layers (window 8) give blocks
     * back as they go; those still cached serve a later reuse. */
    int32_t fresh[30];
    for (int i = 0; i < 30; i++) fresh[i] = 5000 + 11 * i;
    fk_kv *d = fk_kv_new(t.pool, 40);
    fk_model_forward(t.m, t.run, d, fresh, 2, NULL, 0);
    for (int i = 2; i < 30; i++) fk_model_decode(t.m, t.run, &d, &fresh[i], 1, NULL, NULL);
    ok(fk_kv_held(d) < 2 * 8, "decoding 30 positions, the sliding layers hold only their window");
    fk_kv_free(d);
    logits_after(&t, fresh, 30, 1, a, &reused);
    is_int(reused, 28, "a sequence decoded token by token is found again (28 of 30)");
    fk_kv_pool_set_prefix_cache(t.pool, 0);
    logits_after(&t, fresh, 30, 0, b, NULL);
    ok(memcmp(a, b, (size_t)V * sizeof *a) == 0, "after decode-time caching: the same bits");
    fk_kv_pool_set_prefix_cache(t.pool, 1);
    /* Filling the pool evicts cached blocks, oldest first. */
    uint64_t ev = fk_kv_pool_evictions(t.pool);
    int32_t big[120];
    for (int i = 0; i < 120; i++) big[i] = 9000 + i;
    is_int(logits_after(&t, big, 120, 1, a, NULL), FK_OK,
           "a 120-token sequence (60 blocks) fits by evicting cached ones");
    ok(fk_kv_pool_evictions(t.pool) > ev, "cached blocks were evicted (%llu)",
       (unsigned long long)(fk_kv_pool_evictions(t.pool) - ev));
    logits_after(&t, toks, 50, 1, a, &reused);
    ok(reused < 40, "turn 1's oldest blocks went first: %d of 40 still reused", reused);
    is_int((long long)fk_kv_pool_free_blocks(t.pool), 64, "every block is free or cached");
    free(a);
    free(b);
    tiny_close(&t);
}

/* The whole model on the reference backend agrees with the CPU backend. */
static void test_ref_model(const fk_checkpoint *ck)
{
    tiny a, b;
    int ok_a = tiny_open(&a, ck, fk_backend_cpu_new(2), 16) == 0;
    int ok_b = tiny_open(&b, ck, fk_backend_ref_new(), 16) == 0;
    if (ok_a && ok_b) {
        int V = fk_model_config(a.m)->vocab_size;
        float *la = malloc((size_t)V * sizeof *la), *lb = malloc((size_t)V * sizeof *lb);
        int32_t toks[9] = {200006, 17360, 200008, 12, 500, 9, 77, 1000, 3};
        fk_kv *ka = fk_kv_new(a.pool, 16), *kb = fk_kv_new(b.pool, 16);
        fk_status sa = fk_model_forward(a.m, a.run, ka, toks, 9, la, 0);
        fk_status sb = fk_model_forward(b.m, b.run, kb, toks, 9, lb, 0);
        ok(sa == FK_OK && sb == FK_OK, "9 tokens on both backends");
        double e = max_diff(la, lb, (size_t)V);
        ok(e < 1e-4, "the CPU backend's logits are within %.1e of the reference backend's", e);
        fk_kv_free(ka);
        fk_kv_free(kb);
        free(la);
        free(lb);
    }
    tiny_close(&a);
    tiny_close(&b);
}

int main(void)
{
    fk_backend *backends[2] = {fk_backend_ref_new(), fk_backend_cpu_new(3)};
    if (!backends[0] || !backends[1]) {
        ok(0, "start the backends");
        return done_testing();
    }
    test_yarn();
    test_bf16();
    for (int i = 0; i < 2; i++) {
        test_sink_softmax(backends[i]);
        test_window(backends[i]);
        test_mxfp4(backends[i]);
        test_router(backends[i]);
        test_swiglu(backends[i]);
        test_rmsnorm_rope(backends[i]);
    }
    test_pool();
    const char *fx = getenv("FK_FIXTURES");
    char dir[1024], err[2048];
    snprintf(dir, sizeof dir, "%s/models/tiny-gptoss-mxfp4", fx ? fx : "tests/fixtures");
    fk_checkpoint *ck = fk_checkpoint_open(dir, err, sizeof err);
    ok(ck != NULL, "open %s%s%s", dir, ck ? "" : ": ", ck ? "" : err);
    if (ck) {
        test_kv(ck);
        test_prefix_cache(ck);
        test_ref_model(ck);
        fk_checkpoint_close(ck);
    }
    backends[0]->ops->free(backends[0]);
    backends[1]->ops->free(backends[1]);
    return done_testing();
}
