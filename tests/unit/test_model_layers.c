/* test_model_layers: the engine's kernels against small hand-computed cases
 * (YaRN, sink softmax, window masking, MXFP4 codes, router, clamped SwiGLU,
 * bf16, rmsnorm, rope) and the threaded matmuls against naive loops; then
 * the KV cache rules on the tiny fixture model. */
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
    uint16_t sink = bf16_of(0.0f);
    fk_attn_seq s = {NULL, NULL, 8, 0, 3, 0};
    be->ops->attention(be, out, q, k, v, &s, 1, &sink, 1, 1, 4, 0);
    near(out[8], 1.1446590, 2e-6, "sink 0: output of the 3-score example");
    near(out[9], 0.0, 0, "sink 0: other dimensions stay 0");
    near(out[0], 1.0 / (1.0 + 1.0), 1e-6, "position 0 sees itself and the sink: v0 / 2");
    sink = bf16_of(1.0f);
    be->ops->attention(be, out, q, k, v, &s, 1, &sink, 1, 1, 4, 0);
    near(out[8], 0.8556057, 2e-6, "sink 1: output of the 3-score example");
    /* The same query as a decode step: keys 0, 1 from the cache ring. */
    float kc[8 * 4] = {0}, vc[8 * 4] = {0};
    memcpy(kc, k, sizeof(float) * 8);
    memcpy(vc, v, sizeof(float) * 8);
    fk_attn_seq d = {kc, vc, 8, 2, 1, 0};
    be->ops->attention(be, out, q + 8, k + 8, v + 8, &d, 1, &sink, 1, 1, 4, 0);
    near(out[0], 0.8556057, 2e-6, "sink 1, keys 0-1 from the cache");
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
    int windows[3] = {0, 1, 3};
    for (int wi = 0; wi < 3; wi++) {
        int w = windows[wi];
        fk_attn_seq s = {NULL, NULL, 8, 0, T, 0};
        be->ops->attention(be, out, q, k, v, &s, 1, &sink, 1, 1, HD, w);
        int good = 1;
        for (int p = 0; p < T; p++) {
            int lo = w && p - w + 1 > 0 ? p - w + 1 : 0;
            for (int t = 0; t < T; t++) {
                double want = t >= lo && t <= p ? 1.0 / (p - lo + 1) : 0.0;
                if (fabs(out[p * HD + t] - want) > 1e-6) good = 0;
            }
        }
        ok(good, "window %d: query p sees %s", w, w ? "p-window+1 .. p" : "0 .. p");
    }
    /* Decode through a ring of 3 slots (window 3): write positions 0..4 one at
     * a time, query at 5 must see 3, 4, 5 only. */
    float kc[3 * HD] = {0}, vc[3 * HD] = {0};
    for (int p = 0; p < 5; p++) be->ops->kv_store(be, kc, vc, 3, k + p * HD, v + p * HD, p, 1, HD);
    fk_attn_seq d = {kc, vc, 3, 5, 1, 0};
    be->ops->attention(be, out, q, k + 5 * HD, v + 5 * HD, &d, 1, &sink, 1, 1, HD, 3);
    ok(fabs(out[2]) < 1e-9 && fabs(out[3] - 1.0 / 3) < 1e-6 && fabs(out[4] - 1.0 / 3) < 1e-6 &&
           fabs(out[5] - 1.0 / 3) < 1e-6,
       "ring of 3: position 5 sees 3, 4, 5 (%.3f %.3f %.3f %.3f)", out[2], out[3], out[4], out[5]);
    /* A prefill of 5 into a 3-slot ring keeps the last 3. */
    float kc2[3 * HD] = {0}, vc2[3 * HD] = {0};
    be->ops->kv_store(be, kc2, vc2, 3, k, v, 0, 5, HD);
    ok(vc2[0 * HD + 3] == 1.0f && vc2[1 * HD + 4] == 1.0f && vc2[2 * HD + 2] == 1.0f,
       "kv_store of 5 rows into 3 slots keeps positions 2, 3, 4 at p %% 3");
    /* GQA: 4 query heads on 2 kv heads; head j reads kv head j / 2. */
    float q4[4 * HD] = {0}, k2[2 * HD] = {0}, v2[2 * HD], o4[4 * HD];
    for (int i = 0; i < HD; i++) {
        v2[i] = 1.0f;
        v2[HD + i] = 2.0f;
    }
    fk_attn_seq g = {NULL, NULL, 4, 0, 1, 0};
    be->ops->attention(be, o4, q4, k2, v2, &g, 1, (uint16_t[]){sink, sink, sink, sink}, 4, 2, HD,
                       0);
    ok(fabs(o4[0] - 1) < 1e-6 && fabs(o4[HD] - 1) < 1e-6 && fabs(o4[2 * HD] - 2) < 1e-6 &&
           fabs(o4[3 * HD] - 2) < 1e-6,
       "GQA: heads 0,1 read kv head 0, heads 2,3 kv head 1");
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

/* ---- matmul against naive loops ------------------------------------------------------- */

static uint64_t rng = 0x1234567;
static float frand(void)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng >> 40) / (double)(1 << 24)) - 0.5f;
}

/* W[n][k] as the kernel must read it, for each format. */
static double ref_w(const fk_wmat *w, int n, int k)
{
    if (w->fmt == FK_W_BF16) return fk_bf16_f32(((const uint16_t *)w->data)[(size_t)n * w->k + k]);
    if (w->fmt == FK_W_BF16_T)
        return fk_bf16_f32(((const uint16_t *)w->data)[(size_t)k * w->n + n]);
    const uint8_t *q = (const uint8_t *)w->data + (size_t)n * (w->k / 2);
    uint8_t byte = q[k / 2];
    int code = k % 2 ? byte >> 4 : byte & 15;
    return fk_fp4_values[code] * ldexp(1.0, w->scales[(size_t)n * (w->k / 32) + k / 32] - 127);
}

static void test_matmul(fk_backend *one, fk_backend *many)
{
    static const char *names[] = {"bf16 [N,K]", "bf16 [K,N]", "mxfp4"};
    const int shapes[][2] = {{67, 96}, {64, 100}, {130, 64}, {8, 2880}};
    const int rows[] = {1, 3, 8, 37};
    for (int f = 0; f < 3; f++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int N = shapes[s][0], K = shapes[s][1];
            if (f == FK_W_MXFP4 && K % 32) continue;
            size_t nw = (size_t)N * K;
            uint16_t *wb = malloc(nw * sizeof *wb);
            uint8_t *wq = malloc(nw / 2), *sc = malloc(nw / 32 + 1);
            uint16_t *bias = malloc((size_t)N * sizeof *bias);
            for (size_t i = 0; i < nw; i++) wb[i] = bf16_of(frand());
            for (size_t i = 0; i < nw / 2; i++) wq[i] = (uint8_t)(frand() * 256 + 128);
            for (size_t i = 0; i < nw / 32; i++) sc[i] = (uint8_t)(120 + (i % 9));
            for (int n = 0; n < N; n++) bias[n] = bf16_of(frand());
            fk_wmat w = {(fk_wfmt)f, N, K, f == FK_W_MXFP4 ? (void *)wq : (void *)wb,
                         f == FK_W_MXFP4 ? sc : NULL};
            for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++) {
                int R = rows[ri];
                float *x = malloc((size_t)R * K * sizeof *x);
                float *y1 = malloc((size_t)R * N * sizeof *y1);
                float *yn = malloc((size_t)R * N * sizeof *yn);
                for (int i = 0; i < R * K; i++) x[i] = frand();
                one->ops->matmul(one, y1, x, &w, bias, R);
                many->ops->matmul(many, yn, x, &w, bias, R);
                double worst = 0;
                for (int b = 0; b < R; b++)
                    for (int n = 0; n < N; n++) {
                        double ref = fk_bf16_f32(bias[n]), mag = fabs(ref);
                        for (int k = 0; k < K; k++) {
                            double t = ref_w(&w, n, k) * x[(size_t)b * K + k];
                            ref += t;
                            mag += fabs(t);
                        }
                        double e = fabs(y1[(size_t)b * N + n] - ref) / (mag + 1e-30);
                        if (e > worst) worst = e;
                    }
                ok(worst < 1e-6, "%s N=%d K=%d R=%d: within %.1e of a naive double loop", names[f],
                   N, K, R, worst);
                ok(memcmp(y1, yn, (size_t)R * N * sizeof *y1) == 0,
                   "%s N=%d K=%d R=%d: %d threads give the 1-thread bits", names[f], N, K, R,
                   fk_backend_cpu_threads(many));
                free(x);
                free(y1);
                free(yn);
            }
            free(wb);
            free(wq);
            free(sc);
            free(bias);
        }
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

/* ---- the KV cache on the tiny model -------------------------------------------------- */

static void test_kv(void)
{
    const char *fx = getenv("FK_FIXTURES");
    char dir[1024], err[2048];
    snprintf(dir, sizeof dir, "%s/models/tiny-gptoss-mxfp4", fx ? fx : "tests/fixtures");
    fk_checkpoint *ck = fk_checkpoint_open(dir, err, sizeof err);
    ok(ck != NULL, "open %s%s%s", dir, ck ? "" : ": ", ck ? "" : err);
    if (!ck) return;
    fk_model *m = fk_model_new(ck, 2, err, sizeof err);
    ok(m != NULL, "fk_model_new%s%s", m ? "" : ": ", m ? "" : err);
    if (!m) {
        fk_checkpoint_close(ck);
        return;
    }
    const fk_gptoss_config *c = fk_model_config(m);
    int V = c->vocab_size, width = c->n_kv_heads * c->head_dim;
    fk_kv *kv = fk_kv_new(m, 20);
    /* 2 sliding layers keep 8 rows, 2 full layers 20, keys and values in float. */
    is_int((long long)fk_kv_bytes(kv), (long long)(2 * (8 + 20) * 2) * width * 4,
           "sliding layers keep only their window");
    float *lg = malloc((size_t)3 * V * sizeof *lg), *one = malloc((size_t)V * sizeof *one);
    int32_t toks[12] = {200006, 17360, 200008, 12, 500, 9, 77, 1000, 3, 44, 5, 6};
    is_int(fk_model_forward(m, kv, toks, 12, one, 0), 0, "prefill 12 tokens");
    is_int(fk_kv_len(kv), 12, "kv length 12");
    /* Decoding the rest one at a time equals a prefill of everything. */
    fk_kv *kv2 = fk_kv_new(m, 20);
    int32_t all[14] = {0};
    memcpy(all, toks, sizeof toks);
    all[12] = 42;
    all[13] = 4242;
    float *full = malloc((size_t)14 * V * sizeof *full);
    fk_model_forward(m, kv2, all, 14, full, 1);
    fk_model_decode(m, &kv, &all[12], 1, lg);
    fk_model_decode(m, &kv, &all[13], 1, lg + V);
    double e = 0;
    for (int i = 0; i < V; i++) {
        double d1 = fabs(lg[i] - full[(size_t)12 * V + i]),
               d2 = fabs(lg[V + i] - full[(size_t)13 * V + i]);
        e = d1 > e ? d1 : e;
        e = d2 > e ? d2 : e;
    }
    ok(e < 1e-4, "prefill + decode through the ring = one prefill (max diff %.2e)", e);
    /* Batched decode equals one-at-a-time. */
    fk_kv *a = fk_kv_new(m, 20), *b = fk_kv_new(m, 20), *a1 = fk_kv_new(m, 20);
    fk_model_forward(m, a, toks, 5, one, 0);
    fk_model_forward(m, b, toks + 5, 7, one, 0);
    fk_model_forward(m, a1, toks, 5, one, 0);
    fk_kv *pair[2] = {a, b};
    int32_t next[2] = {99, 100};
    is_int(fk_model_decode(m, pair, next, 2, lg), 0, "decode a batch of 2");
    fk_model_decode(m, &a1, next, 1, lg + 2 * V);
    e = 0;
    for (int i = 0; i < V; i++) e = fmax(e, fabs(lg[i] - lg[2 * V + i]));
    ok(e < 1e-5, "batch row 0 = the same sequence alone (max diff %.2e)", e);
    /* NULL logits: the cache advances the same way. */
    fk_kv *c1 = fk_kv_new(m, 20), *c2 = fk_kv_new(m, 20);
    fk_model_forward(m, c1, toks, 6, NULL, 0);
    fk_model_forward(m, c1, toks + 6, 6, one, 0);
    fk_model_forward(m, c2, toks, 12, lg, 0);
    e = 0;
    for (int i = 0; i < V; i++) e = fmax(e, fabs(one[i] - lg[i]));
    ok(fk_kv_len(c1) == 12 && e < 1e-5,
       "a prefill chunk without logits, then one with: same logits (max diff %.2e)", e);
    fk_kv_free(c1);
    fk_kv_free(c2);
    /* Capacity: 20 positions, 14 used in kv2. */
    is_int(fk_model_forward(m, kv2, toks, 7, one, 0), -1, "prefill past capacity is refused");
    is_int(fk_kv_len(kv2), 14, "a refused prefill leaves the cache as it was");
    fk_kv_reset(kv2);
    is_int(fk_kv_len(kv2), 0, "reset empties the cache");
    int32_t bad = V;
    is_int(fk_model_forward(m, kv2, &bad, 1, one, 0), -1,
           "a token outside the vocabulary is refused");
    ok(fk_model_bytes_per_token(m) > (uint64_t)V * c->hidden_size * 2,
       "bytes per token counts lm_head and more (%llu)",
       (unsigned long long)fk_model_bytes_per_token(m));
    free(full);
    free(lg);
    free(one);
    fk_kv_free(a);
    fk_kv_free(b);
    fk_kv_free(a1);
    fk_kv_free(kv);
    fk_kv_free(kv2);
    fk_model_free(m);
    fk_checkpoint_close(ck);
}

int main(void)
{
    fk_backend *one = fk_backend_cpu_new(1), *many = fk_backend_cpu_new(3);
    if (!one || !many) {
        ok(0, "start the CPU backends");
        return done_testing();
    }
    test_yarn();
    test_bf16();
    test_sink_softmax(one);
    test_window(many);
    test_mxfp4(one);
    test_router(one);
    test_swiglu(one);
    test_rmsnorm_rope(one);
    test_matmul(one, many);
    test_pool();
    test_kv();
    one->ops->free(one);
    many->ops->free(many);
    return done_testing();
}
