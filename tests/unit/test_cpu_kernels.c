/* test_cpu_kernels: every kernel level this CPU can run (generic, avx512,
 * amx; cpu_features.h): matmul and attention against naive double loops, bit for bit
 * against itself at another thread count, and exactly on one-hot weights
 * (y = the x value picked, all 24 bits: the amx level's three bf16 parts
 * must carry all of x), and batch invariant (a row alone gets the bits it
 * gets among others). Shapes are chosen so each level's own kernel takes
 * them (N % 16 == 0, K % 32 == 0) and others that fall back (N % 16 != 0,
 * K % 32 != 0); R covers one, several and many x rows on both sides of the
 * amx level's 5-row B blocks. Levels the CPU lacks are reported and skipped. */
#include "drivers/cuda/backends/cpu/cpu_features.h"
#include "drivers/cuda/backends/cpu/matmul_kernels.h"
#include "drivers/cuda/model/backend.h"
#include "drivers/cuda/model/mxfp4.h"
#include "tests/tap.h"
#include "tests/unit/rand_ops.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One weight matrix in both layouts the kernels read. */
typedef struct mats {
    fk_wmat w;      /* the view under test */
    uint16_t *bf;   /* bf16 [N, K] */
    uint8_t *codes; /* MXFP4 codes [N, K/2] */
    uint8_t *sc;    /* MXFP4 scales [N, K/32] */
} mats;

static void mats_free(mats *m)
{
    free(m->bf);
    free(m->codes);
    free(m->sc);
}

/* Random weights, or one-hot rows when onehot: W[n][n % K] = 1 in bf16, or
 * MXFP4 code 2.0 with every scale byte = onehot: the value
 * 2 * 2^(onehot - 127). */
static int mats_make(mats *m, fk_wfmt fmt, int N, int K, int onehot)
{
    size_t nw = (size_t)N * K;
    memset(m, 0, sizeof *m);
    m->bf = calloc(nw, sizeof *m->bf);
    m->codes = calloc(nw / 2 + 1, 1);
    m->sc = calloc(nw / 32 + 1, 1);
    if (!m->bf || !m->codes || !m->sc) return -1;
    for (size_t i = 0; i < nw; i++) m->bf[i] = onehot ? 0 : bf16_of(frand());
    for (size_t i = 0; i < nw / 2; i++) m->codes[i] = onehot ? 0 : (uint8_t)(frand() * 256 + 128);
    for (size_t i = 0; i < nw / 32; i++)
        m->sc[i] = (uint8_t)(onehot ? (size_t)onehot : 118 + i % 13);
    for (int n = 0; onehot && n < N; n++) {
        int k = n % K;
        m->bf[(size_t)n * K + k] = bf16_of(1.0f);
        /* code 4 is 2.0; element k is the low nibble of byte k/2 when even */
        m->codes[(size_t)n * (K / 2) + k / 2] = (uint8_t)(k % 2 ? 4 << 4 : 4);
    }
    m->w = (fk_wmat){fmt, N, K, fmt == FK_W_MXFP4 ? (void *)m->codes : (void *)m->bf,
                     fmt == FK_W_MXFP4 ? m->sc : NULL};
    return 0;
}

/* W[n][k] as a double, decoded independently of the kernels. */
static double ref_w(const fk_wmat *w, int n, int k)
{
    if (w->fmt == FK_W_BF16) return fk_bf16_f32(((const uint16_t *)w->data)[(size_t)n * w->k + k]);
    const uint8_t *q = (const uint8_t *)w->data + (size_t)n * (w->k / 2);
    int code = k % 2 ? q[k / 2] >> 4 : q[k / 2] & 15;
    return fk_fp4_values[code] * ldexp(1.0, w->scales[(size_t)n * (w->k / 32) + k / 32] - 127);
}

/* Worst |y - ref| / sum|terms| over all outputs. */
static double worst_error(const fk_wmat *w, const float *x, const uint16_t *bias, const float *y,
                          int R)
{
    int N = w->n, K = w->k;
    double worst = 0;
    for (int b = 0; b < R; b++)
        for (int n = 0; n < N; n++) {
            double ref = bias ? fk_bf16_f32(bias[n]) : 0.0, mag = fabs(ref);
            for (int k = 0; k < K; k++) {
                double t = ref_w(w, n, k) * x[(size_t)b * K + k];
                ref += t;
                mag += fabs(t);
            }
            double e = fabs(y[(size_t)b * N + n] - ref) / (mag + 1e-30);
            if (e > worst) worst = e;
        }
    return worst;
}

static const char *fmt_name(fk_wfmt f)
{
    return f == FK_W_MXFP4 ? "mxfp4" : "bf16";
}

/* Which kernel a level runs this shape with (the fits rules). */
static const char *kernel_for(fk_cpu_level level, const fk_wmat *w)
{
    if (level >= FK_CPU_AMX && fk_mmamx_fits(w)) return "amx";
    if (level >= FK_CPU_AVX512 && fk_mm512_fits(w)) return "avx512";
    return "generic";
}

/* Random weights and x: near a double loop, the same bits on 1 and 3 threads. */
static void check_random(fk_cpu_level level, fk_backend *one, fk_backend *many, fk_wfmt fmt, int N,
                         int K, const int *rows, int n_rows)
{
    mats m;
    uint16_t *bias = malloc((size_t)N * sizeof *bias);
    if (mats_make(&m, fmt, N, K, 0) != 0 || !bias) {
        ok(0, "allocate the test matrices");
        mats_free(&m);
        free(bias);
        return;
    }
    for (int n = 0; n < N; n++) bias[n] = bf16_of(frand());
    for (int ri = 0; ri < n_rows; ri++) {
        int R = rows[ri];
        float *x = malloc((size_t)R * K * sizeof *x);
        float *y1 = malloc((size_t)R * N * sizeof *y1), *yn = malloc((size_t)R * N * sizeof *yn);
        if (!x || !y1 || !yn) {
            ok(0, "allocate x and y");
        } else {
            for (size_t i = 0; i < (size_t)R * K; i++) x[i] = frand();
            one->ops->matmul(one, y1, x, &m.w, bias, R);
            many->ops->matmul(many, yn, x, &m.w, bias, R);
            double e = worst_error(&m.w, x, bias, y1, R);
            ok(e < 1e-6, "%s level, %s kernel, %s N=%d K=%d R=%d: within %.1e of a double loop",
               fk_cpu_level_name(level), kernel_for(level, &m.w), fmt_name(fmt), N, K, R, e);
            ok(memcmp(y1, yn, (size_t)R * N * sizeof *y1) == 0,
               "%s level, %s N=%d K=%d R=%d: 3 threads give the 1-thread bits",
               fk_cpu_level_name(level), fmt_name(fmt), N, K, R);
            /* Batch invariance (backend.h): the last row alone, same bits. */
            many->ops->matmul(many, yn, x + (size_t)(R - 1) * K, &m.w, bias, 1);
            ok(memcmp(yn, y1 + (size_t)(R - 1) * N, (size_t)N * sizeof *yn) == 0,
               "%s level, %s N=%d K=%d R=%d: the last row alone gets the same bits",
               fk_cpu_level_name(level), fmt_name(fmt), N, K, R);
        }
        free(x);
        free(y1);
        free(yn);
    }
    mats_free(&m);
    free(bias);
}

/* One-hot rows: every output is exactly the x value its row picks (times
 * 2 * 2^(scale - 127) for MXFP4). */
static void check_onehot(fk_cpu_level level, fk_backend *be, fk_wfmt fmt, int N, int K, int R,
                         int scale)
{
    mats m;
    float *x = malloc((size_t)R * K * sizeof *x), *y = malloc((size_t)R * N * sizeof *y);
    float mult = fmt == FK_W_MXFP4 ? ldexpf(1.0f, scale - 126) : 1.0f;
    if (mats_make(&m, fmt, N, K, scale) != 0 || !x || !y) {
        ok(0, "allocate the one-hot case");
    } else {
        for (size_t i = 0; i < (size_t)R * K; i++)
            x[i] = frand() * 2.0f + 1e-3f; /* |x| < 1, not 0 */
        be->ops->matmul(be, y, x, &m.w, NULL, R);
        int bad = 0;
        for (int b = 0; b < R; b++)
            for (int n = 0; n < N; n++)
                if (y[(size_t)b * N + n] != x[(size_t)b * K + n % K] * mult) bad++;
        ok(bad == 0,
           "%s level, %s kernel, %s N=%d K=%d R=%d scale byte %d: one-hot rows give x exactly "
           "(%d off)",
           fk_cpu_level_name(level), kernel_for(level, &m.w), fmt_name(fmt), N, K, R, scale, bad);
    }
    mats_free(&m);
    free(x);
    free(y);
}

/* ---- attention ----------------------------------------------------------------------- */

/* Attention of one row and head in double precision, from backend.h's
 * definition: softmax over the visible keys with the sink in the
 * denominator. K and V of position t, kv head g: kbuf/vbuf [t][nkv*hd]. */
static void ref_attention(double *out, const float *q, const float *kbuf, const float *vbuf,
                          double sink, int p, int window, int nkv, int hd, int g)
{
    int lo = window > 0 && p - window + 1 > 0 ? p - window + 1 : 0;
    double mx = sink, den = 0;
    for (int t = lo; t <= p; t++) {
        double sc = 0;
        for (int i = 0; i < hd; i++) sc += (double)q[i] * kbuf[((size_t)t * nkv + g) * hd + i];
        sc /= sqrt((double)hd);
        if (sc > mx) mx = sc;
    }
    den = exp(sink - mx);
    for (int i = 0; i < hd; i++) out[i] = 0;
    for (int t = lo; t <= p; t++) {
        double sc = 0;
        for (int i = 0; i < hd; i++) sc += (double)q[i] * kbuf[((size_t)t * nkv + g) * hd + i];
        double e = exp(sc / sqrt((double)hd) - mx);
        den += e;
        for (int i = 0; i < hd; i++) out[i] += e * vbuf[((size_t)t * nkv + g) * hd + i];
    }
    for (int i = 0; i < hd; i++) out[i] /= den;
}

/* Two sequences in a paged cache (16-position blocks, listed in a shuffled
 * order): sequence 0 has 37 cached positions and 5 new rows, sequence 1 is
 * 20 new rows from position 0. Near a double loop, the same bits on 1 and 3
 * threads, and sequence 0 alone gets the bits it gets beside sequence 1. */
static void check_attention(fk_cpu_level level, fk_backend *one, fk_backend *many, int nh, int nkv,
                            int hd, int window)
{
    enum { BT = 16, LEN0 = 42, LEN1 = 20, NB = 4 + 2 };
    int width = nkv * hd, R = 5 + LEN1;
    size_t block_floats = (size_t)2 * BT * width;
    float *base = calloc(NB * block_floats, sizeof(float));
    float *k0 = malloc((size_t)LEN0 * width * sizeof(float)), *v0 = malloc(LEN0 * width * 4);
    float *k1 = malloc((size_t)LEN1 * width * sizeof(float)), *v1 = malloc(LEN1 * width * 4);
    float *q = malloc((size_t)R * nh * hd * sizeof(float));
    float *y1 = malloc((size_t)R * nh * hd * sizeof(float)), *yn = malloc(R * nh * hd * 4);
    uint16_t sinks[64];
    if (!base || !k0 || !v0 || !k1 || !v1 || !q || !y1 || !yn || nh > 64) {
        ok(0, "allocate the attention case");
        goto out;
    }
    for (int i = 0; i < nh; i++) sinks[i] = bf16_of(frand() * 4.0f);
    for (size_t i = 0; i < (size_t)LEN0 * width; i++) k0[i] = frand() * 2, v0[i] = frand();
    for (size_t i = 0; i < (size_t)LEN1 * width; i++) k1[i] = frand() * 2, v1[i] = frand();
    for (size_t i = 0; i < (size_t)R * nh * hd; i++) q[i] = frand() * 2;
    fk_kv_cache c = {base, BT, 1, width, block_floats};
    static const int32_t blocks0[3] = {4, 1, 3}, blocks1[2] = {0, 5};
    /* Fill the cache directly in backend.h's layout. */
    for (int t = 0; t < LEN0 + LEN1; t++) {
        int s = t >= LEN0, pos = s ? t - LEN0 : t;
        const float *kk = s ? k1 : k0, *vv = s ? v1 : v0;
        float *blk = base + (size_t)(s ? blocks1 : blocks0)[pos / BT] * block_floats;
        memcpy(blk + (size_t)(pos % BT) * width, kk + (size_t)pos * width, width * sizeof(float));
        memcpy(blk + (size_t)(BT + pos % BT) * width, vv + (size_t)pos * width,
               width * sizeof(float));
    }
    fk_attn_seq seqs[2] = {{blocks0, 3, LEN0 - 5, 5, 0}, {blocks1, 2, 0, LEN1, 5}};
    one->ops->attention(one, y1, q, &c, 0, seqs, 2, sinks, nh, nkv, hd, window);
    many->ops->attention(many, yn, q, &c, 0, seqs, 2, sinks, nh, nkv, hd, window);
    double worst = 0, want[128];
    for (int r = 0; r < R; r++)
        for (int h = 0; h < nh; h++) {
            int s = r >= 5, p = s ? r - 5 : LEN0 - 5 + r;
            ref_attention(want, q + ((size_t)r * nh + h) * hd, s ? k1 : k0, s ? v1 : v0,
                          fk_bf16_f32(sinks[h]), p, window, nkv, hd, h / (nh / nkv));
            for (int i = 0; i < hd; i++) {
                double e = fabs(y1[((size_t)r * nh + h) * hd + i] - want[i]);
                if (e > worst) worst = e;
            }
        }
    ok(worst < 1e-5,
       "%s level, attention nh=%d nkv=%d hd=%d window %d: within %.1e of a double loop",
       fk_cpu_level_name(level), nh, nkv, hd, window, worst);
    ok(memcmp(y1, yn, (size_t)R * nh * hd * sizeof(float)) == 0,
       "%s level, attention hd=%d window %d: 3 threads give the 1-thread bits",
       fk_cpu_level_name(level), hd, window);
    many->ops->attention(many, yn, q, &c, 0, seqs, 1, sinks, nh, nkv, hd, window);
    ok(memcmp(y1, yn, (size_t)5 * nh * hd * sizeof(float)) == 0,
       "%s level, attention hd=%d window %d: a sequence alone gets the same bits",
       fk_cpu_level_name(level), hd, window);
out:
    free(base);
    free(k0);
    free(v0);
    free(k1);
    free(v1);
    free(q);
    free(y1);
    free(yn);
}

static void test_level(fk_cpu_level level)
{
    char err[256];
    if (fk_cpu_kernels_choose(fk_cpu_level_name(level), err, sizeof err) != 0) {
        ok(0, "choose %s: %s", fk_cpu_level_name(level), err);
        return;
    }
    fk_backend *one = fk_backend_cpu_new(1), *many = fk_backend_cpu_new(3);
    if (!one || !many) {
        ok(0, "start the CPU backends");
        if (one) one->ops->free(one);
        if (many) many->ops->free(many);
        return;
    }
    static const int few[] = {1, 2, 3, 5, 6, 8, 11, 16, 33};
    static const int some[] = {1, 5, 8, 40};
    for (int f = 0; f < 2; f++) {
        fk_wfmt fmt = f ? FK_W_MXFP4 : FK_W_BF16;
        check_random(level, one, many, fmt, 16, 32, few, 9);
        check_random(level, one, many, fmt, 208, 96, few, 9);
        check_random(level, one, many, fmt, 1040, 2880, some, 4);
        check_random(level, one, many, fmt, 200, 64, some, 4); /* N % 16 != 0 */
        for (int r = 0; r < 9; r++) check_onehot(level, many, fmt, 272, 64, few[r], 127);
        /* MXFP4 scales: small (2^-87; smaller ones make the amx level's
         * lowest bf16 part of x subnormal, which AMX flushes), the top of
         * its bf16 decoder's range (252) and past it (253: the amx level's
         * per-value path); decode and prefill sized */
        static const int scales[] = {40, 252, 253};
        for (int i = 0; f && i < 3; i++) {
            check_onehot(level, many, fmt, 272, 64, 1, scales[i]);
            check_onehot(level, many, fmt, 272, 64, 16, scales[i]);
        }
    }
    check_attention(level, one, many, 16, 2, 64, 0);
    check_attention(level, one, many, 16, 2, 64, 20);
    check_attention(level, one, many, 4, 2, 32, 0);
    check_attention(level, one, many, 6, 3, 24, 9); /* hd 24: the generic kernel at every level */
    static const int mixed[] = {1, 7};
    check_random(level, one, many, FK_W_BF16, 48, 100, mixed, 2); /* K % 32 != 0 */
    one->ops->free(one);
    many->ops->free(many);
}

int main(void)
{
    fk_cpu_level best = fk_cpu_best();
    diag("this CPU runs up to the %s level", fk_cpu_level_name(best));
    char err[256];
    ok(fk_cpu_kernels_choose("fastest", err, sizeof err) == -1 && strstr(err, "fastest"),
       "an unknown level is refused with its name (%s)", err);
    if (best < FK_CPU_AMX) {
        ok(fk_cpu_kernels_choose("amx", err, sizeof err) == -1 && strstr(err, "at most"),
           "a level above the CPU's is refused (%s)", err);
    }
    for (int l = FK_CPU_GENERIC; l <= FK_CPU_AMX; l++) {
        if (l > (int)best) {
            diag("skipped: the %s level (the CPU lacks it)", fk_cpu_level_name((fk_cpu_level)l));
            continue;
        }
        test_level((fk_cpu_level)l);
    }
    ok(fk_cpu_kernels_choose("auto", err, sizeof err) == 0 && fk_cpu_kernels() == best,
       "auto goes back to the best level");
    return done_testing();
}
