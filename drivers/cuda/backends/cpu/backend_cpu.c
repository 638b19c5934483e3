/* backend_cpu.c: the fast CPU kernels behind backend.h, threaded with
 * threadpool.h (the plain ones they are tested against are in
 * backends/ref/).
 *
 * Vectorisation. The matmul tiles are written with GCC/clang vector
 * extensions (8-lane float vectors: one AVX2 register): bf16 is widened in
 * registers (zero-extend + shift), MXFP4 codes are decoded in registers
 * (AVX2: byte-table lookups, vpshufb, per 16 codes; otherwise integer bit
 * arithmetic), and partial sums stay in registers, so no float
 * reduction is reordered and no -ffast-math is needed. The same tiles written
 * as plain arrays were auto-vectorised by gcc 12 into 128-bit shuffles
 * (2.9 GB/s against 8.9 GB/s per core for a bf16 matvec here). The other
 * loops (bias, embedding, rmsnorm scaling, rope, attention's axpy and
 * rescale, scatter_add, add) are plain C that gcc 12 -O3 -march=native
 * vectorises (checked with -fopt-info-vec-optimized). No dequantized or
 * transposed copy of any weight exists.
 *
 * Batching: a matmul splits the N outputs across threads; each thread runs
 * all x rows against one small tile of weight rows while that tile sits in
 * L1/L2, so every weight byte comes from memory once per call whatever R is.
 *
 * These tiles are the "generic" kernel level. A backend takes the level
 * chosen in cpu_features.h when it starts (FK_CPU_KERNELS; by default the
 * best the CPU runs) and sends each [N, K] matmul to that level's kernels
 * (matmul_avx512.c, matmul_amx.c) when the matrix's shape fits them, else
 * here. The choice depends on the matrix, never on R (batch invariance). */
#include "drivers/cuda/backends/host/host_memory.h"
#include "drivers/cuda/backends/host/route_pick.h"
#include "drivers/cuda/model/backend.h"
#include "drivers/cuda/model/mxfp4.h"
#include "attention_avx512.h"
#include "cpu_features.h"
#include "matmul_kernels.h"
#include "threadpool.h"

#include <math.h>
#include <stdlib.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif
#include <string.h>

/* The 8-lane helpers below are static and always inlined, so the vector
 * calling convention (which differs without AVX) never crosses a call. */
#pragma GCC diagnostic ignored "-Wpsabi"

#define MAX_RB 4 /* x rows per register tile */
#define MAX_RW 8 /* weight rows per register tile */
#ifndef ROW1_RW
#define ROW1_RW 8 /* weight rows per tile for a single x row (streams in flight) */
#endif
/* Weight rows per tile for several x rows (measured here, 8 and 128 rows):
 * bf16 three (12 sums + 3 weights + 1 x in 16 registers); MXFP4 one, as its
 * decode needs registers of its own. */
#define ROWS_RW_BF16 3
#define ROWS_RW_MXFP4 1
#define XBLOCK 32 /* x rows kept hot in L2 while a thread's weight rows stream */
#define TCOLS 32  /* output columns per task in the [K, N] (x W) kernel */
#define TROWS 2   /* x rows per register tile in the [K, N] kernel */

/* Eight-lane vectors (GCC/clang vector extensions: one AVX2 register, two
 * SSE registers without AVX). */
typedef float v8f __attribute__((vector_size(32)));
typedef uint32_t v8u __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef uint16_t v8h __attribute__((vector_size(16)));
typedef uint8_t v8b __attribute__((vector_size(8)));

typedef struct cpu_backend {
    fk_backend base;      /* ops table; must be first */
    fk_pool *pool;        /* the worker threads */
    fk_cpu_level level;   /* the matmul kernels it uses (cpu_features.h) */
    void *xp;             /* prepared activations of the current matmul (owned) */
    size_t xp_bytes;      /* xp's size */
    void **scratch;       /* [threads] per-thread kernel scratch (owned) */
    size_t scratch_bytes; /* each scratch[i]'s size */
} cpu_backend;

static fk_pool *pool_of(fk_backend *be)
{
    return ((cpu_backend *)be)->pool;
}

#define ALWAYS_INLINE inline __attribute__((always_inline))

static ALWAYS_INLINE v8f load8f(const float *p)
{
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Eight bf16 values widened in registers: zero-extend, shift, reinterpret. */
static ALWAYS_INLINE v8f load8bf(const uint16_t *p)
{
    v8h h;
    memcpy(&h, p, sizeof h);
    return (v8f)(__builtin_convertvector(h, v8u) << 16);
}

#if !defined(__AVX2__)
/* A little-endian 32-bit word as read from memory, in host order. */
static ALWAYS_INLINE uint32_t le32(uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return __builtin_bswap32(v);
#else
    return v;
#endif
}

/* Eight e2m1 codes (low 4 bits of each lane; higher bits ignored) -> floats
 * times the block scale, computed from the bits as fk_fp4_bits does; the
 * sign is bit 3 moved to bit 31. */
static ALWAYS_INLINE v8f fp4x8(v8u c, float scale)
{
    v8u sign = (c << 28) & 0x80000000u;
    v8u e = c & 7u;
    v8u normal = (e << 22) + (126u << 23);
    v8u sub = (v8u)(-(v8i)e) & 0x3F000000u; /* e 0 -> +0.0, 1 -> 0.5 */
    v8u small = (v8u)(e < 2u);              /* all ones where subnormal */
    v8f m = (v8f)((small & sub) | (~small & normal)) * scale;
    return (v8f)((v8u)m ^ sign);
}
#endif

static ALWAYS_INLINE float hsum8(v8f v)
{
    float s = 0.0f;
    for (int l = 0; l < 8; l++) s += v[l];
    return s;
}

/* ---- bf16 [N, K] tiles ------------------------------------------------------- */

/* y[b][r] = sum_k x[b][k] w[r][k] for b < RB, r < RW (compile-time after
 * inlining, so acc[][] lives in registers). x (RB, ldx); w (RW, ldw) bf16;
 * y (RB, ldy). */
static ALWAYS_INLINE void tile_bf16(float *restrict y, int ldy, const float *restrict x, int ldx,
                                    const uint16_t *restrict w, int ldw, int K, const int RB,
                                    const int RW)
{
    v8f acc[MAX_RB][MAX_RW];
    for (int b = 0; b < RB; b++)
        for (int r = 0; r < RW; r++) acc[b][r] = (v8f){0};
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        v8f wf[MAX_RW];
        for (int r = 0; r < RW; r++) wf[r] = load8bf(w + (size_t)r * ldw + k);
        for (int b = 0; b < RB; b++) {
            v8f xb = load8f(x + (size_t)b * ldx + k);
            for (int r = 0; r < RW; r++) acc[b][r] += wf[r] * xb;
        }
    }
    for (int b = 0; b < RB; b++)
        for (int r = 0; r < RW; r++) {
            float s = hsum8(acc[b][r]);
            for (int kk = k; kk < K; kk++)
                s += fk_bf16_f32(w[(size_t)r * ldw + kk]) * x[(size_t)b * ldx + kk];
            y[(size_t)b * ldy + r] = s;
        }
}

/* ---- MXFP4 tiles ------------------------------------------------------------- */

/* Like tile_bf16 with w given as MXFP4 rows: codes (RW, ldq bytes), scales
 * (RW, ldq / 16). Codes are read as four little-endian 32-bit words per
 * block: nibble i of word m is element 8m + i (low nibble first), so a
 * broadcast and a per-lane shift by 4i put eight elements in order in one
 * register. Each block is decoded once, in registers, for all RB rows. */
#if defined(__AVX2__)
/* AVX2 form: a block's 16 bytes become 32 signed int8 values (twice the e2m1
 * value: 0 1 2 3 4 6 8 12 and negatives) with two byte-table lookups
 * (vpshufb), interleaved low nibble first, widened to floats eight at a time;
 * each row's block sum is scaled once by scale/2. About 5 vector ops per
 * 8 values against 7 for the bit-arithmetic form below. */
static ALWAYS_INLINE void tile_mxfp4(float *restrict y, int ldy, const float *restrict x, int ldx,
                                     const uint8_t *restrict q, const uint8_t *restrict sc, int ldq,
                                     int K, const int RB, const int RW)
{
    const __m128i lut = _mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
    const __m128i low4 = _mm_set1_epi8(0x0F);
    v8f acc[MAX_RB][MAX_RW];
    for (int b = 0; b < RB; b++)
        for (int r = 0; r < RW; r++) acc[b][r] = (v8f){0};
    int lds = ldq / FK_MXFP4_BLOCK_BYTES;
    for (int g = 0; g < K / FK_MXFP4_BLOCK; g++) {
        const float *xg = x + (size_t)g * FK_MXFP4_BLOCK;
        for (int r = 0; r < RW; r++) {
            const uint8_t *qb = q + (size_t)r * ldq + (size_t)g * FK_MXFP4_BLOCK_BYTES;
            __m128i codes = _mm_loadu_si128((const __m128i *)qb);
            __m128i lo = _mm_shuffle_epi8(lut, _mm_and_si128(codes, low4));
            __m128i hi = _mm_shuffle_epi8(lut, _mm_and_si128(_mm_srli_epi16(codes, 4), low4));
            __m128i e0 = _mm_unpacklo_epi8(lo, hi); /* elements 0..15 */
            __m128i e1 = _mm_unpackhi_epi8(lo, hi); /* elements 16..31 */
            v8f w[4];
            w[0] = (v8f)_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(e0));
            w[1] = (v8f)_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(e0, e0)));
            w[2] = (v8f)_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(e1));
            w[3] = (v8f)_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(e1, e1)));
            float half_scale = 0.5f * fk_e8m0_f32(sc[(size_t)r * lds + g]);
            for (int b = 0; b < RB; b++) {
                const float *xb = xg + (size_t)b * ldx;
                v8f sum = w[0] * load8f(xb);
                sum += w[1] * load8f(xb + 8);
                sum += w[2] * load8f(xb + 16);
                sum += w[3] * load8f(xb + 24);
                acc[b][r] += sum * half_scale;
            }
        }
    }
    for (int b = 0; b < RB; b++)
        for (int r = 0; r < RW; r++) y[(size_t)b * ldy + r] = hsum8(acc[b][r]);
}
#else
static ALWAYS_INLINE void tile_mxfp4(float *restrict y, int ldy, const float *restrict x, int ldx,
                                     const uint8_t *restrict q, const uint8_t *restrict sc, int ldq,
                                     int K, const int RB, const int RW)
{
    const v8u shifts = {0, 4, 8, 12, 16, 20, 24, 28};
    v8f acc[MAX_RB][MAX_RW];
    for (int b = 0; b < RB; b++)
        for (int r = 0; r < RW; r++) acc[b][r] = (v8f){0};
    int lds = ldq / FK_MXFP4_BLOCK_BYTES;
    for (int g = 0; g < K / FK_MXFP4_BLOCK; g++) {
        float s[MAX_RW];
        for (int r = 0; r < RW; r++) s[r] = fk_e8m0_f32(sc[(size_t)r * lds + g]);
        const uint8_t *qg = q + (size_t)g * FK_MXFP4_BLOCK_BYTES;
        const float *xg = x + (size_t)g * FK_MXFP4_BLOCK;
        for (int m = 0; m < 4; m++) {
            v8f wf[MAX_RW];
            for (int r = 0; r < RW; r++) {
                uint32_t word;
                memcpy(&word, qg + (size_t)r * ldq + 4 * m, 4);
                wf[r] = fp4x8(((v8u){0} + le32(word)) >> shifts, s[r]);
            }
            for (int b = 0; b < RB; b++) {
                v8f xb = load8f(xg + (size_t)b * ldx + 8 * m);
                for (int r = 0; r < RW; r++) acc[b][r] += wf[r] * xb;
            }
        }
    }
    for (int b = 0; b < RB; b++)
        for (int r = 0; r < RW; r++) y[(size_t)b * ldy + r] = hsum8(acc[b][r]);
}
#endif

/* ---- matmul over [N, K] weights --------------------------------------------- */

/* One matmul call shared by the threads. */
typedef struct mm_job {
    float *y;             /* [R, N] */
    const float *x;       /* [R, K] */
    const fk_wmat *w;     /* the weights */
    const uint16_t *bias; /* bf16 [N] or NULL */
    int R;                /* rows of x */
} mm_job;

/* Run one (RB x RW) tile at x row b, weight row n. */
static ALWAYS_INLINE void mm_tile(const mm_job *j, int b, int n, const int RB, const int RW)
{
    const fk_wmat *w = j->w;
    float *y = j->y + (size_t)b * w->n + n;
    const float *x = j->x + (size_t)b * w->k;
    if (w->fmt == FK_W_BF16) {
        tile_bf16(y, w->n, x, w->k, (const uint16_t *)w->data + (size_t)n * w->k, w->k, w->k, RB,
                  RW);
    } else {
        int ldq = w->k / 2;
        tile_mxfp4(y, w->n, x, w->k, (const uint8_t *)w->data + (size_t)n * ldq,
                   w->scales + (size_t)n * (ldq / FK_MXFP4_BLOCK_BYTES), ldq, w->k, RB, RW);
    }
}

/* x rows [b0, b1) against weight rows [n, n + RW). */
static ALWAYS_INLINE void mm_rows(const mm_job *j, int b0, int b1, int n, const int RW)
{
    int b = b0;
    for (; b + 4 <= b1; b += 4) mm_tile(j, b, n, 4, RW);
    switch (b1 - b) {
    case 3:
        mm_tile(j, b, n, 3, RW);
        break;
    case 2:
        mm_tile(j, b, n, 2, RW);
        break;
    case 1:
        mm_tile(j, b, n, 1, RW);
        break;
    default:
        break;
    }
}

/* x rows [b0, b1) against weight rows [n0, n1), RW weight rows at a time. */
static ALWAYS_INLINE void mm_block(const mm_job *j, int b0, int b1, int n0, int n1, const int RW)
{
    int n = n0;
    for (; n + RW <= n1; n += RW) mm_rows(j, b0, b1, n, RW);
    for (; n < n1; n++) mm_rows(j, b0, b1, n, 1);
}

/* Weight rows [n0, n1): the unit of work one thread takes. */
static void mm_task(void *ctx, int64_t n0, int64_t n1, int thread)
{
    (void)thread;
    const mm_job *j = ctx;
    for (int b0 = 0; b0 < j->R; b0 += XBLOCK) {
        int b1 = b0 + XBLOCK < j->R ? b0 + XBLOCK : j->R;
        if (b1 - b0 == 1) {
            /* One row of x: eight weight rows at a time keep eight streams and
             * eight independent sums in flight (22% faster than four here). */
            mm_block(j, b0, b1, (int)n0, (int)n1, ROW1_RW);
        } else if (j->w->fmt == FK_W_MXFP4) {
            mm_block(j, b0, b1, (int)n0, (int)n1, ROWS_RW_MXFP4);
        } else {
            mm_block(j, b0, b1, (int)n0, (int)n1, ROWS_RW_BF16);
        }
    }
    if (j->bias) {
        for (int b = 0; b < j->R; b++) {
            float *y = j->y + (size_t)b * j->w->n;
            for (int64_t n = n0; n < n1; n++) y[n] += fk_bf16_f32(j->bias[n]);
        }
    }
}

/* ---- matmul over [K, N] weights (x W, the BF16 expert form) ------------------ */

/* Output columns [c0*TCOLS, c1*TCOLS): all rows of x against those columns,
 * streaming W row by row (each row's slice is contiguous), TROWS rows of x
 * at a time with their partial sums in registers. N % 8 == 0. */
static void mmt_task(void *ctx, int64_t c0, int64_t c1, int thread)
{
    (void)thread;
    const mm_job *j = ctx;
    const fk_wmat *w = j->w;
    const uint16_t *W = w->data;
    int N = w->n, K = w->k;
    for (int64_t c = c0; c < c1; c++) {
        int n0 = (int)c * TCOLS;
        int nv = (N - n0 < TCOLS ? N - n0 : TCOLS) / 8;
        for (int b0 = 0; b0 < j->R; b0 += TROWS) {
            int rb = j->R - b0 < TROWS ? j->R - b0 : TROWS;
            v8f acc[TROWS][TCOLS / 8];
            for (int b = 0; b < TROWS; b++)
                for (int v = 0; v < TCOLS / 8; v++) acc[b][v] = (v8f){0};
            for (int k = 0; k < K; k++) {
                const uint16_t *wk = W + (size_t)k * N + n0;
                for (int b = 0; b < rb; b++) {
                    float xb = j->x[(size_t)(b0 + b) * K + k];
                    for (int v = 0; v < nv; v++) acc[b][v] += load8bf(wk + 8 * v) * xb;
                }
            }
            for (int b = 0; b < rb; b++) {
                float *y = j->y + (size_t)(b0 + b) * N + n0;
                for (int v = 0; v < nv; v++)
                    for (int l = 0; l < 8; l++)
                        y[8 * v + l] =
                            acc[b][v][l] + (j->bias ? fk_bf16_f32(j->bias[n0 + 8 * v + l]) : 0.0f);
            }
        }
    }
}

/* Chunk size giving each thread several chunks (for balance when another
 * process takes a core), rounded to `align`. */
static int64_t grain_for(fk_pool *p, int64_t n, int64_t align, int64_t min_grain)
{
    int64_t g = n / ((int64_t)fk_pool_size(p) * 8);
    if (g < min_grain) g = min_grain;
    return (g + align - 1) / align * align;
}

/* Scalar fallback for the [K, N] form when N % 8 != 0: y = x W + bias. */
static void mmt_scalar(const mm_job *j)
{
    const uint16_t *W = j->w->data;
    int N = j->w->n, K = j->w->k;
    for (int b = 0; b < j->R; b++)
        for (int n = 0; n < N; n++) {
            float s = j->bias ? fk_bf16_f32(j->bias[n]) : 0.0f;
            for (int k = 0; k < K; k++)
                s += j->x[(size_t)b * K + k] * fk_bf16_f32(W[(size_t)k * N + n]);
            j->y[(size_t)b * N + n] = s;
        }
}

/* ---- matmul through the avx512 and amx kernels (matmul_kernels.h) -------------- */

/* Grow a 64-byte aligned buffer to at least `bytes` (contents not kept); -1
 * when out of memory, the old buffer kept. */
static int reserve(void **buf, size_t *have, size_t bytes)
{
    if (bytes <= *have) return 0;
    void *p = NULL;
    if (posix_memalign(&p, 64, (bytes + 63) & ~(size_t)63) != 0) return -1;
    free(*buf);
    *buf = p;
    *have = bytes;
    return 0;
}

static int reserve_scratch(cpu_backend *c, size_t bytes)
{
    if (bytes <= c->scratch_bytes) return 0;
    for (int t = 0; t < fk_pool_size(c->pool); t++) {
        size_t have = c->scratch_bytes;
        if (reserve(&c->scratch[t], &have, bytes) != 0) return -1;
    }
    c->scratch_bytes = bytes;
    return 0;
}

/* One level matmul shared by the threads; tasks are units of `granule` rows. */
typedef struct level_job {
    fk_mm_job mm;       /* the call */
    fk_cpu_level level; /* FK_CPU_AVX512 or FK_CPU_AMX */
    int granule;        /* output rows per task index */
} level_job;

static void level_task(void *ctx, int64_t u0, int64_t u1, int thread)
{
    const level_job *l = ctx;
    int N = l->mm.w->n;
    int n0 = (int)u0 * l->granule;
    int n1 = u1 * l->granule < N ? (int)u1 * l->granule : N;
    if (l->level == FK_CPU_AMX)
        fk_mmamx_rows(&l->mm, n0, n1, thread);
    else
        fk_mm512_rows(&l->mm, n0, n1);
}

/* Run the matmul on the best kernels the backend's level and the matrix
 * allow. 0 when none applies or their buffers cannot be had: the generic
 * tiles then run it (they need no memory). */
static int matmul_level(cpu_backend *c, float *y, const float *x, const fk_wmat *w,
                        const uint16_t *bias, int R)
{
    fk_cpu_level lv = c->level;
    if (lv >= FK_CPU_AMX && !fk_mmamx_fits(w)) lv = FK_CPU_AVX512;
    if (lv >= FK_CPU_AVX512 && !fk_mm512_fits(w)) lv = FK_CPU_GENERIC;
    if (lv == FK_CPU_GENERIC) return 0;
    int amx = lv == FK_CPU_AMX;
    size_t xb = amx ? fk_mmamx_prep_bytes(w, R) : fk_mm512_prep_bytes(w, R);
    size_t tb = amx ? fk_mmamx_thread_bytes(w, R) : 0;
    if (reserve(&c->xp, &c->xp_bytes, xb) != 0 || reserve_scratch(c, tb) != 0) return 0;
    if (amx)
        fk_mmamx_prep(c->xp, x, w, R);
    else
        fk_mm512_prep(c->xp, x, w, R);
    level_job l = {
        {y, x, w, bias, R, c->xp, c->scratch}, lv, amx ? FK_MMAMX_GRANULE : FK_MM512_GRANULE};
    int64_t units = (w->n + l.granule - 1) / l.granule;
    fk_pool_for(c->pool, units, grain_for(c->pool, units, 1, 1), level_task, &l);
    return 1;
}

static fk_status cpu_matmul(fk_backend *be, float *y, const float *x, const fk_wmat *w,
                            const uint16_t *bias, int R)
{
    if (R < 0 || w->n <= 0 || w->k <= 0) return FK_ERR_ARG;
    if (w->fmt == FK_W_MXFP4 && w->k % FK_MXFP4_BLOCK) return FK_ERR_SHAPE;
    if (R == 0) return FK_OK;
    if (matmul_level((cpu_backend *)be, y, x, w, bias, R)) return FK_OK;
    mm_job j = {y, x, w, bias, R};
    fk_pool *p = pool_of(be);
    if (w->fmt == FK_W_BF16_T) {
        if (w->n % 8) {
            mmt_scalar(&j);
            return FK_OK;
        }
        int64_t chunks = (w->n + TCOLS - 1) / TCOLS;
        fk_pool_for(p, chunks, grain_for(p, chunks, 1, 1), mmt_task, &j);
        return FK_OK;
    }
    /* Chunks start at multiples of every tile width, so each output is
     * computed by the same tile whatever the thread count (same bits). */
    fk_pool_for(p, w->n, grain_for(p, w->n, 24, 24), mm_task, &j);
    return FK_OK;
}

/* ---- elementwise and per-row ops -------------------------------------------- */

static fk_status cpu_embed(fk_backend *be, float *x, const uint16_t *embed, const int32_t *tokens,
                           int R, int H, int V)
{
    (void)be;
    for (int r = 0; r < R; r++)
        if (tokens[r] < 0 || tokens[r] >= V) return FK_ERR_ARG;
    for (int r = 0; r < R; r++) {
        const uint16_t *e = embed + (size_t)tokens[r] * H;
        for (int i = 0; i < H; i++) x[(size_t)r * H + i] = fk_bf16_f32(e[i]);
    }
    return FK_OK;
}

/* One rmsnorm call shared by the threads. */
typedef struct norm_job {
    float *y;          /* [R, H] */
    const float *x;    /* [R, H] */
    const uint16_t *w; /* [H] */
    int H;             /* row length */
    float eps;         /* added to the mean square */
} norm_job;

static void norm_task(void *ctx, int64_t r0, int64_t r1, int thread)
{
    (void)thread;
    const norm_job *j = ctx;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = j->x + r * j->H;
        float *y = j->y + r * j->H;
        double ss = 0.0;
        for (int i = 0; i < j->H; i++) ss += (double)x[i] * x[i];
        float inv = (float)(1.0 / sqrt(ss / j->H + j->eps));
        for (int i = 0; i < j->H; i++) y[i] = x[i] * inv * fk_bf16_f32(j->w[i]);
    }
}

static fk_status cpu_rmsnorm(fk_backend *be, float *y, const float *x, const uint16_t *w, int R,
                             int H, float eps)
{
    if (R < 0 || H <= 0) return FK_ERR_ARG;
    norm_job j = {y, x, w, H, eps};
    fk_pool_for(pool_of(be), R, 8, norm_task, &j);
    return FK_OK;
}

static fk_status cpu_rope(fk_backend *be, float *x, const float *cos_sin, int R, int n_heads,
                          int hd)
{
    (void)be;
    if (hd % 2) return FK_ERR_SHAPE;
    int half = hd / 2;
    for (int r = 0; r < R; r++) {
        const float *c = cos_sin + (size_t)r * hd;
        const float *s = c + half;
        for (int h = 0; h < n_heads; h++) {
            float *x1 = x + ((size_t)r * n_heads + h) * hd;
            float *x2 = x1 + half;
            for (int i = 0; i < half; i++) {
                float a = x1[i], b = x2[i];
                x1[i] = a * c[i] - b * s[i];
                x2[i] = b * c[i] + a * s[i];
            }
        }
    }
    return FK_OK;
}

/* ---- attention --------------------------------------------------------------- */

#define ATTN_MAX_HD 1024 /* per-thread accumulator size */

/* One attention call shared by the threads: tasks are (row, head) pairs. */
typedef struct attn_job {
    float *out;              /* [R, nh*hd] */
    const float *q;          /* [R, nh*hd] */
    const fk_kv_cache *kv;   /* the paged cache */
    int slot;                /* the layer's slot in the blocks */
    const fk_attn_seq *seqs; /* per sequence, increasing row0 */
    int n_seqs;              /* entries in seqs */
    const uint16_t *sinks;   /* [nh] bf16 */
    int nh, nkv, hd, window; /* shapes; window 0 = full */
    float scale;             /* 1/sqrt(hd) */
} attn_job;

static float dot(const float *restrict a, const float *restrict b, int n)
{
    v8f acc = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8) acc += load8f(a + i) * load8f(b + i);
    float s = hsum8(acc);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* One query head at one row: an online softmax over the visible keys whose
 * running denominator starts with the sink's term exp(sink - m). */
static void attn_one(const attn_job *j, int row, int h, float *acc)
{
    const fk_attn_seq *s = fk_attn_seq_of_row(j->seqs, j->n_seqs, row);
    int hd = j->hd;
    int kvh = h / (j->nh / j->nkv);
    int p = s->pos0 + (row - s->row0);
    int lo = j->window > 0 && p - j->window + 1 > 0 ? p - j->window + 1 : 0;
    size_t v_off = (size_t)j->kv->block_tokens * j->kv->width;
    const float *q = j->q + ((size_t)row * j->nh + h) * hd;
    float m = fk_bf16_f32(j->sinks[h]);
    float den = 1.0f;
    for (int i = 0; i < hd; i++) acc[i] = 0.0f;
    for (int t = lo; t <= p; t++) {
        const float *kt = fk_kv_key(j->kv, j->slot, s->blocks, t, kvh, hd);
        const float *vt = kt + v_off;
        float sc = dot(q, kt, hd) * j->scale;
        if (sc > m) {
            float r = expf(m - sc);
            den *= r;
            for (int i = 0; i < hd; i++) acc[i] *= r;
            m = sc;
        }
        float e = expf(sc - m);
        den += e;
        for (int i = 0; i < hd; i++) acc[i] += e * vt[i];
    }
    float *o = j->out + ((size_t)row * j->nh + h) * hd;
    for (int i = 0; i < hd; i++) o[i] = acc[i] / den;
}

static void attn_task(void *ctx, int64_t i0, int64_t i1, int thread)
{
    (void)thread;
    const attn_job *j = ctx;
    float acc[ATTN_MAX_HD];
    for (int64_t i = i0; i < i1; i++) attn_one(j, (int)(i / j->nh), (int)(i % j->nh), acc);
}

/* The avx512 attention kernel's tasks (attention_avx512.h). */
static void attn512_task(void *ctx, int64_t i0, int64_t i1, int thread)
{
    (void)thread;
    fk_attn512_tasks(ctx, i0, i1);
}

/* Shapes and block tables an attention or kv_store call may use. */
static fk_status check_seqs(const fk_kv_cache *c, int slot, const fk_attn_seq *seqs, int n_seqs,
                            int *rows)
{
    if (slot < 0 || slot >= c->slots || n_seqs < 0) return FK_ERR_ARG;
    int row = 0;
    for (int i = 0; i < n_seqs; i++) {
        const fk_attn_seq *s = &seqs[i];
        int last = s->pos0 + s->n_new - 1;
        if (s->row0 != row || s->n_new < 0 || s->pos0 < 0 ||
            (s->n_new > 0 && last / c->block_tokens >= s->n_blocks))
            return FK_ERR_ARG;
        row += s->n_new;
    }
    *rows = row;
    return FK_OK;
}

static fk_status cpu_attention(fk_backend *be, float *out, const float *q, const fk_kv_cache *kv,
                               int slot, const fk_attn_seq *seqs, int n_seqs, const uint16_t *sinks,
                               int nh, int nkv, int hd, int window)
{
    if (hd > ATTN_MAX_HD) return FK_ERR_SHAPE;
    if (nh <= 0 || nkv <= 0 || nh % nkv || hd <= 0 || nkv * hd != kv->width) return FK_ERR_ARG;
    int R;
    fk_status st = check_seqs(kv, slot, seqs, n_seqs, &R);
    if (st != FK_OK || R == 0) return st;
    fk_pool *p = pool_of(be);
    if (((cpu_backend *)be)->level >= FK_CPU_AVX512 && fk_attn512_fits(nh, nkv, hd)) {
        fk_attn512_job a = {out, q, kv, slot, seqs, n_seqs, sinks, nh, nkv, hd, window};
        int64_t tasks = (int64_t)R * nkv;
        fk_pool_for(p, tasks, grain_for(p, tasks, 1, 1), attn512_task, &a);
        return FK_OK;
    }
    attn_job j = {out,   q,  kv,  slot, seqs,   n_seqs,
                  sinks, nh, nkv, hd,   window, 1.0f / sqrtf((float)hd)};
    int64_t n = (int64_t)R * nh;
    fk_pool_for(p, n, grain_for(p, n, 1, 4), attn_task, &j);
    return FK_OK;
}

static fk_status cpu_kv_store(fk_backend *be, const fk_kv_cache *kv, int slot, const float *k,
                              const float *v, const fk_attn_seq *seqs, int n_seqs)
{
    (void)be;
    int R;
    fk_status st = check_seqs(kv, slot, seqs, n_seqs, &R);
    if (st != FK_OK) return st;
    size_t w = (size_t)kv->width, v_off = (size_t)kv->block_tokens * w;
    for (int i = 0; i < n_seqs; i++)
        for (int t = 0; t < seqs[i].n_new; t++)
            if (seqs[i].blocks[(seqs[i].pos0 + t) / kv->block_tokens] < 0) return FK_ERR_ARG;
    for (int i = 0; i < n_seqs; i++) {
        const fk_attn_seq *s = &seqs[i];
        for (int t = 0; t < s->n_new; t++) {
            int p = s->pos0 + t;
            float *dst = fk_kv_key(kv, slot, s->blocks, p, 0, 0);
            memcpy(dst, k + (size_t)(s->row0 + t) * w, w * sizeof(float));
            memcpy(dst + v_off, v + (size_t)(s->row0 + t) * w, w * sizeof(float));
        }
    }
    return FK_OK;
}

/* ---- mixture of experts ------------------------------------------------------- */

static fk_status cpu_route(fk_backend *be, int32_t *idx, float *weight, const float *logits, int R,
                           int E, int k)
{
    (void)be;
    if (k <= 0 || k > E) return FK_ERR_ARG;
    for (int r = 0; r < R; r++) {
        const float *lg = logits + (size_t)r * E;
        int32_t *ix = idx + (size_t)r * k;
        float *w = weight + (size_t)r * k;
        fk_host_route_pick(ix, lg, E, k);
        float mx = lg[ix[0]], sum = 0.0f;
        for (int c = 0; c < k; c++) {
            w[c] = expf(lg[ix[c]] - mx);
            sum += w[c];
        }
        for (int c = 0; c < k; c++) w[c] /= sum;
    }
    return FK_OK;
}

static fk_status cpu_swiglu(fk_backend *be, float *y, const float *gu, int R, int I, float limit,
                            float alpha)
{
    (void)be;
    for (size_t i = 0; i < (size_t)R * I; i++) {
        float g = gu[2 * i], u = gu[2 * i + 1];
        g = g > limit ? limit : g;
        u = u > limit ? limit : u < -limit ? -limit : u;
        y[i] = (u + 1.0f) * g / (1.0f + expf(-alpha * g));
    }
    return FK_OK;
}

static fk_status cpu_gather(fk_backend *be, float *y, const float *x, const int32_t *rows, int n,
                            int W)
{
    (void)be;
    for (int i = 0; i < n; i++)
        memcpy(y + (size_t)i * W, x + (size_t)rows[i] * W, (size_t)W * sizeof(float));
    return FK_OK;
}

static fk_status cpu_scatter_add(fk_backend *be, float *y, const float *x, const int32_t *rows,
                                 const float *scale, int n, int W)
{
    (void)be;
    for (int i = 0; i < n; i++) {
        float *yr = y + (size_t)rows[i] * W;
        const float *xr = x + (size_t)i * W;
        for (int c = 0; c < W; c++) yr[c] += scale[i] * xr[c];
    }
    return FK_OK;
}

static fk_status cpu_add(fk_backend *be, float *y, const float *x, size_t n)
{
    (void)be;
    for (size_t i = 0; i < n; i++) y[i] += x[i];
    return FK_OK;
}

/* ---- sampling ----------------------------------------------------------------- */

/* The lowest index of the largest value: the maximum over eight independent
 * lanes (vectorises), then its first position. NaN is never the maximum; a
 * row of NaNs gives 0. The sampler's greedy rule (sampler.h). */
static int32_t argmax_row(const float *x, int V)
{
    float lane[8];
    for (int j = 0; j < 8; j++) lane[j] = -INFINITY;
    int i = 0;
    for (; i + 8 <= V; i += 8)
        for (int j = 0; j < 8; j++) lane[j] = x[i + j] > lane[j] ? x[i + j] : lane[j];
    float mx = -INFINITY;
    for (; i < V; i++) mx = x[i] > mx ? x[i] : mx;
    for (int j = 0; j < 8; j++) mx = lane[j] > mx ? lane[j] : mx;
    for (i = 0; i < V; i++)
        if (x[i] == mx) return i;
    return 0;
}

static fk_status cpu_argmax(fk_backend *be, int32_t *idx, const float *logits, int R, int V)
{
    (void)be;
    if (R < 0 || V <= 0) return FK_ERR_ARG;
    for (int r = 0; r < R; r++) idx[r] = argmax_row(logits + (size_t)r * V, V);
    return FK_OK;
}

/* ---- the table ---------------------------------------------------------------- */

static void cpu_free(fk_backend *be)
{
    if (!be) return;
    cpu_backend *c = (cpu_backend *)be;
    for (int t = 0; c->scratch && t < fk_pool_size(c->pool); t++) free(c->scratch[t]);
    free(c->scratch);
    free(c->xp);
    fk_pool_free(c->pool);
    free(c);
}

static const fk_backend_ops cpu_ops = {
    .name = "cpu",
    .free = cpu_free,
    .alloc = fk_host_alloc,
    .release = fk_host_release,
    .map_weights = fk_host_map_weights,
    .unmap_weights = fk_host_unmap_weights,
    .upload = fk_host_copy,
    .download = fk_host_copy,
    .synchronize = fk_host_synchronize,
    .embed = cpu_embed,
    .rmsnorm = cpu_rmsnorm,
    .matmul = cpu_matmul,
    .rope = cpu_rope,
    .attention = cpu_attention,
    .kv_store = cpu_kv_store,
    .route = cpu_route,
    .swiglu = cpu_swiglu,
    .gather = cpu_gather,
    .scatter_add = cpu_scatter_add,
    .add = cpu_add,
    .argmax = cpu_argmax,
};

fk_backend *fk_backend_cpu_new(int n_threads)
{
    cpu_backend *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->pool = fk_pool_new(n_threads);
    if (!c->pool) {
        free(c);
        return NULL;
    }
    c->base.ops = &cpu_ops;
    c->level = fk_cpu_kernels();
    c->scratch = calloc((size_t)fk_pool_size(c->pool), sizeof *c->scratch);
    if (!c->scratch) {
        cpu_free(&c->base);
        return NULL;
    }
    return &c->base;
}

int fk_backend_cpu_threads(const fk_backend *be)
{
    return fk_pool_size(((const cpu_backend *)be)->pool);
}
