/* matmul_avx512.c: y = x W^T + bias with AVX-512 float32 FMAs, for bf16 and
 * MXFP4 weights [N, K] (K % 32 == 0). The arithmetic is the generic level's:
 * every weight is widened exactly to float32 and multiplied by the float32
 * activation; only the summation order differs.
 *
 * Decoding in registers, per 32-value block of a weight row:
 *   bf16   64 bytes read as 16 dwords; (dword << 16) is the even elements as
 *          floats, (dword & 0xFFFF0000) the odd ones;
 *   MXFP4  mxfp4_avx512.h: a table lookup (vpermps) per 16 values, in the
 *          fixed order mx_column gives.
 * So x is prepared in that order per block (bf16: 16 even, then 16 odd
 * elements; MXFP4: mx_column) and each block costs two FMAs per x row, with
 * no shuffles of x in the loop.
 *
 * Tiles: RB x rows by RW weight rows, RB * RW accumulators in registers; a
 * thread's weight rows are walked once per XBLOCK x rows, so they come from
 * memory once per XBLOCK rows and from cache for the rest.
 *
 * Compiled for AVX-512 with target attributes; called only when
 * cpu_features.c found the CPU able to run it. */
#include "matmul_kernels.h"

#include "drivers/cuda/model/mxfp4.h"

#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"))),    \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")
#endif

#include "mxfp4_avx512.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))
/* Unroll loops over the register tile's rows completely, so its
 * accumulators are registers, not a stack array (gcc 12 left them in memory:
 * a store and reload per FMA, 3x slower). */
#define UNROLL _Pragma("GCC unroll 8")
#define MAX_RB 4  /* x rows per register tile */
#define MAX_RW 8  /* weight rows per register tile */
#define XBLOCK 32 /* x rows kept in cache while a thread's weight rows stream */

/* ---- activations ----------------------------------------------------------------- */

size_t fk_mm512_prep_bytes(const fk_wmat *w, int R)
{
    return (size_t)R * w->k * sizeof(float);
}

void fk_mm512_prep(void *xp, const float *x, const fk_wmat *w, int R)
{
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    float *o = xp;
    for (size_t i = 0; i < (size_t)R * w->k; i += 32) {
        if (w->fmt == FK_W_MXFP4) {
            mx_order_block(o + i, x + i);
            continue;
        }
        __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
        _mm512_storeu_ps(o + i, _mm512_permutex2var_ps(a, even, b));
        _mm512_storeu_ps(o + i + 16, _mm512_permutex2var_ps(a, odd, b));
    }
}

/* ---- tiles ------------------------------------------------------------------------ */

/* y[b][r] = sum_k x[b][k] w[r][k] for b < RB, r < RW (constants after
 * inlining). xp (RB, K) eo floats; w (RW, ldw) bf16; y (RB, ldy). */
static ALWAYS_INLINE void tile_bf16(float *y, int ldy, const float *xp, const uint16_t *w, int ldw,
                                    int K, const int RB, const int RW)
{
    const __m512i high = _mm512_set1_epi32((int)0xFFFF0000u);
    __m512 acc[MAX_RB][MAX_RW];
    UNROLL
    for (int b = 0; b < RB; b++) UNROLL
    for (int r = 0; r < RW; r++) acc[b][r] = _mm512_setzero_ps();
    for (int k = 0; k < K; k += 32) {
        __m512 ev[MAX_RW], od[MAX_RW];
        UNROLL
        for (int r = 0; r < RW; r++) {
            __m512i v = _mm512_loadu_si512(w + (size_t)r * ldw + k);
            ev[r] = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
            od[r] = _mm512_castsi512_ps(_mm512_and_si512(v, high));
        }
        UNROLL
        for (int b = 0; b < RB; b++) {
            __m512 xe = _mm512_loadu_ps(xp + (size_t)b * K + k);
            __m512 xo = _mm512_loadu_ps(xp + (size_t)b * K + k + 16);
            UNROLL
            for (int r = 0; r < RW; r++) {
                acc[b][r] = _mm512_fmadd_ps(ev[r], xe, acc[b][r]);
                acc[b][r] = _mm512_fmadd_ps(od[r], xo, acc[b][r]);
            }
        }
    }
    UNROLL
    for (int b = 0; b < RB; b++) UNROLL
    for (int r = 0; r < RW; r++) y[(size_t)b * ldy + r] = _mm512_reduce_add_ps(acc[b][r]);
}

/* Like tile_bf16 with MXFP4 rows: codes q (RW, ldq bytes), scales sc
 * (RW, ldq / 16); xp in mx_column order. Scales are converted 16 blocks at a
 * time. */
static ALWAYS_INLINE void tile_mxfp4(float *y, int ldy, const float *xp, const uint8_t *q,
                                     const uint8_t *sc, int ldq, int K, const int RB, const int RW)
{
    const __m512 values = mx_values();
    int lds = ldq / FK_MXFP4_BLOCK_BYTES, G = K / FK_MXFP4_BLOCK;
    __m512 acc[MAX_RB][MAX_RW];
    UNROLL
    for (int b = 0; b < RB; b++) UNROLL
    for (int r = 0; r < RW; r++) acc[b][r] = _mm512_setzero_ps();
    for (int g0 = 0; g0 < G; g0 += 16) {
        int gn = G - g0 < 16 ? G - g0 : 16;
        float sf[MAX_RW][16];
        UNROLL
        for (int r = 0; r < RW; r++) mx_scales16(sf[r], sc + (size_t)r * lds + g0, gn);
        for (int g = g0; g < g0 + gn; g++) {
            __m512 lo[MAX_RW], hi[MAX_RW];
            UNROLL
            for (int r = 0; r < RW; r++)
                mx_decode(&lo[r], &hi[r], q + (size_t)r * ldq + (size_t)g * FK_MXFP4_BLOCK_BYTES,
                          sf[r][g - g0], values);
            UNROLL
            for (int b = 0; b < RB; b++) {
                const float *xb = xp + (size_t)b * K + (size_t)g * FK_MXFP4_BLOCK;
                __m512 xl = _mm512_loadu_ps(xb), xh = _mm512_loadu_ps(xb + 16);
                UNROLL
                for (int r = 0; r < RW; r++) {
                    acc[b][r] = _mm512_fmadd_ps(lo[r], xl, acc[b][r]);
                    acc[b][r] = _mm512_fmadd_ps(hi[r], xh, acc[b][r]);
                }
            }
        }
    }
    UNROLL
    for (int b = 0; b < RB; b++) UNROLL
    for (int r = 0; r < RW; r++) y[(size_t)b * ldy + r] = _mm512_reduce_add_ps(acc[b][r]);
}

/* ---- driving the tiles -------------------------------------------------------------- */

/* One (RB x RW) tile at x row b, weight row n. */
static ALWAYS_INLINE void run_tile(const fk_mm_job *j, int b, int n, const int RB, const int RW)
{
    const fk_wmat *w = j->w;
    int K = w->k;
    float *y = j->y + (size_t)b * w->n + n;
    const float *xp = (const float *)j->xp + (size_t)b * K;
    if (w->fmt == FK_W_BF16) {
        tile_bf16(y, w->n, xp, (const uint16_t *)w->data + (size_t)n * K, K, K, RB, RW);
    } else {
        int ldq = K / 2;
        tile_mxfp4(y, w->n, xp, (const uint8_t *)w->data + (size_t)n * ldq,
                   w->scales + (size_t)n * (ldq / FK_MXFP4_BLOCK_BYTES), ldq, K, RB, RW);
    }
}

/* x rows [b0, b1) against weight rows [n, n + RW). */
static ALWAYS_INLINE void run_rows(const fk_mm_job *j, int b0, int b1, int n, const int RW)
{
    int b = b0;
    for (; b + 4 <= b1; b += 4) run_tile(j, b, n, 4, RW);
    switch (b1 - b) {
    case 3:
        run_tile(j, b, n, 3, RW);
        break;
    case 2:
        run_tile(j, b, n, 2, RW);
        break;
    case 1:
        run_tile(j, b, n, 1, RW);
        break;
    default:
        break;
    }
}

/* x rows [b0, b1) against weight rows [n0, n1), RW rows at a time. */
static ALWAYS_INLINE void run_block(const fk_mm_job *j, int b0, int b1, int n0, int n1,
                                    const int RW)
{
    int n = n0;
    for (; n + RW <= n1; n += RW) run_rows(j, b0, b1, n, RW);
    for (; n < n1; n++) run_rows(j, b0, b1, n, 1);
}

/* One x row (b) against weight rows [n0, n1). */
static ALWAYS_INLINE void run_block1(const fk_mm_job *j, int b, int n0, int n1, const int RW)
{
    int n = n0;
    for (; n + RW <= n1; n += RW) run_tile(j, b, n, 1, RW);
    for (; n < n1; n++) run_tile(j, b, n, 1, 1);
}

int fk_mm512_fits(const fk_wmat *w)
{
    return (w->fmt == FK_W_BF16 || w->fmt == FK_W_MXFP4) && w->k % 32 == 0;
}

void fk_mm512_rows(const fk_mm_job *j, int n0, int n1)
{
    int mx = j->w->fmt == FK_W_MXFP4;
    for (int b0 = 0; b0 < j->R; b0 += XBLOCK) {
        int b1 = b0 + XBLOCK < j->R ? b0 + XBLOCK : j->R;
        /* One x row: more weight rows per tile keep more streams in flight;
         * several: fewer, to leave registers for the x rows' sums. */
        if (b1 - b0 == 1 && mx)
            run_block1(j, b0, n0, n1, 4);
        else if (b1 - b0 == 1)
            run_block1(j, b0, n0, n1, 8);
        else if (mx)
            run_block(j, b0, b1, n0, n1, 2);
        else
            run_block(j, b0, b1, n0, n1, 4);
    }
    if (j->bias) {
        for (int b = 0; b < j->R; b++) {
            float *y = j->y + (size_t)b * j->w->n;
            for (int n = n0; n < n1; n++) y[n] += fk_bf16_f32(j->bias[n]);
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
