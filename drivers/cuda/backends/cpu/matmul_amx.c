/* matmul_amx.c: y = x W^T + bias on AMX-BF16 tiles, for bf16 and MXFP4
 * weights [N, K] (K % 32 == 0, N % 16 == 0).
 *
 * One tile product (TDPBF16PS) is C[16][cols] += A[16][32] B[16][cols]: here
 * A is 16 weight rows by one 32-value block of K (bf16, read straight from
 * the checkpoint with a row stride of K, or decoded from MXFP4), B is that
 * block of the activations packed as bf16 pairs, one column per activation
 * part, and C is float32: C[n][c] is weight row n dotted with column c.
 *
 * Exactness: each x value becomes three columns, its bf16 parts
 * hi = bf16(x), mid = bf16(x - hi), lo = bf16(x - hi - mid), which sum to x
 * (3 x 8 significant bits: float32's 24). A bf16 times bf16 product is exact
 * in float32, so the tiles compute the float32 sum of W x, like the generic
 * kernels, in another order. Output = (C[n][3r] + C[n][3r + 1]) + C[n][3r + 2].
 * (Two parts, 16 bits of x, measured 15x the generic kernels' error against
 * the float64 goldens: 2.6e-3 on a logit, over fk-golden's 1e-3.) AMX
 * treats subnormal inputs and products as zero: a part's product below
 * 2^-126 is lost, far below what gpt-oss weights (scales near 2^-8 .. 2^2)
 * and activations produce.
 *
 * Activations (prep): B blocks of `cols` columns, 3 per x row, 5 rows per
 * block (15 columns; 3R when R < 5, so a decode step multiplies no zeros):
 * block mb holds rows 5mb .. 5mb + 4 of x, as [K/2][cols] dwords, each dword
 * the pair (x[2i], x[2i + 1]) of one part. For MXFP4 the pairs follow the
 * decoded column order (below) instead of plain K order.
 *
 * MXFP4 weights are decoded to bf16, exactly (a 2-bit mantissa times a
 * power-of-two scale), into a per-thread scratch that the A tiles then read:
 * mxfp4_avx512.h's mx_decode_bf16 (a table lookup whose entries carry the
 * block's exponent), so the columns are in its eo_column order and x is
 * packed in that order too. Scales outside its range (2^-125 .. 2^125) take
 * a per-value path. With more than one B block a strip is decoded row by
 * row (one sequential stream per row) before its tiles run; it stays in L2.
 *
 * Work: a thread takes 64-row ranges. With R <= 5 (one B block) it runs
 * strips of 16-row weight tiles against the block (two tiles for bf16, four
 * for MXFP4); with more rows, 32-row strips against pairs of B blocks: 2 x 2
 * C tiles, 2 A tiles, 2 B tiles.
 *
 * Compiled for AMX with target attributes; called only when cpu_features.c
 * found the CPU able to run it and the kernel granted the tile state. */
#include "matmul_kernels.h"

#include "drivers/cuda/model/mxfp4.h"

#include <immintrin.h>
#include <string.h>

#if defined(__clang__)
#pragma clang attribute push(                                                                      \
    __attribute__((                                                                                \
        target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,amx-tile,amx-bf16"))),           \
    apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,amx-tile,amx-bf16")
#endif

#include "mxfp4_avx512.h"

#define TILE_ROWS 16  /* weight rows per A tile */
#define TILE_K 32     /* K values per A tile (one MXFP4 block) */
#define PAIRS 16      /* B rows: K pairs per tile */
#define PARTS 3       /* bf16 parts per x value: B columns per x row */
#define BLOCK_ROWS 5  /* x rows per B block (15 of its 16 possible columns) */
#define STRIP_ROWS 32 /* weight rows per strip when R > BLOCK_ROWS */
#define PREFETCH_K 8  /* blocks ahead that a weight row is prefetched from memory */

/* The tile configuration (LDTILECFG's 64-byte operand, palette 1). */
typedef struct tile_config {
    uint8_t palette;      /* 1 */
    uint8_t start_row;    /* 0 */
    uint8_t reserved[14]; /* zero */
    uint16_t colsb[16];   /* bytes per row of each tile */
    uint8_t rows[16];     /* rows of each tile */
} tile_config;

/* Tiles: C 0..3, A 4..5, B 6..7. C and B are `cols` floats/dwords wide. */
static void configure(int cols)
{
    tile_config c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 8; t++) {
        c.rows[t] = TILE_ROWS;
        c.colsb[t] = (uint16_t)(t == 4 || t == 5 ? 64 : cols * 4);
    }
    _tile_loadconfig(&c);
}

/* B block columns for R rows. */
static int block_cols(int R)
{
    return PARTS * (R < BLOCK_ROWS ? R : BLOCK_ROWS);
}

static int block_count(int R)
{
    return (R + BLOCK_ROWS - 1) / BLOCK_ROWS;
}

/* ---- activations ----------------------------------------------------------------- */

size_t fk_mmamx_prep_bytes(const fk_wmat *w, int R)
{
    return (size_t)block_count(R) * (w->k / 2) * block_cols(R) * sizeof(uint32_t);
}

/* The low (first) or high 16 bf16 of v widened to float32 (exact). */
static inline __m512 widen_bf16(__m512i v, int high)
{
    __m256i h = high ? _mm512_extracti64x4_epi64(v, 1) : _mm512_castsi512_si256(v);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* 32 values -> their PARTS bf16 parts, each as 16 dwords of pairs. */
static void split_parts(uint32_t (*parts)[16], const float *v)
{
    __m512 a = _mm512_loadu_ps(v), b = _mm512_loadu_ps(v + 16);
    for (int p = 0; p < PARTS; p++) {
        __m512i h = (__m512i)_mm512_cvtne2ps_pbh(b, a);
        _mm512_storeu_si512(parts[p], h);
        a = _mm512_sub_ps(a, widen_bf16(h, 0)); /* exact: the rounding error */
        b = _mm512_sub_ps(b, widen_bf16(h, 1));
    }
}

void fk_mmamx_prep(void *xp, const float *x, const fk_wmat *w, int R)
{
    int K = w->k, cols = block_cols(R), nb = block_count(R);
    uint32_t *B = xp;
    float ordered[32];
    for (int mb = 0; mb < nb; mb++) {
        uint32_t *blk = B + (size_t)mb * (K / 2) * cols;
        for (int c = 0; c < cols / PARTS; c++) {
            int r = mb * BLOCK_ROWS + c;
            for (int k = 0; k < K; k += 32) {
                uint32_t parts[PARTS][16];
                if (r < R) {
                    const float *xk = x + (size_t)r * K + k;
                    if (w->fmt == FK_W_MXFP4) {
                        eo_order_block(ordered, xk);
                        xk = ordered;
                    }
                    split_parts(parts, xk);
                } else {
                    memset(parts, 0, sizeof parts);
                }
                for (int i = 0; i < 16; i++) {
                    uint32_t *row = blk + (size_t)(k / 2 + i) * cols + PARTS * c;
                    for (int p = 0; p < PARTS; p++) row[p] = parts[p][i];
                }
            }
        }
    }
}

/* ---- MXFP4 decoding ----------------------------------------------------------------- */

/* One block of codes q with scale byte sc -> 32 bf16 in eo_column order,
 * one value at a time: for the rare scales mx_decode_bf16 cannot take
 * (the bf16 bits of the float32 product, exact: it has at most 2 significant
 * bits, or is infinite). */
static void decode_block_scalar(uint16_t *out, const uint8_t *q, uint8_t sc)
{
    for (int c = 0; c < 32; c++) {
        int e = eo_column(c);
        float v = fk_fp4_f32(e % 2 ? q[e / 2] >> 4 : q[e / 2] & 15u) * fk_e8m0_f32(sc);
        uint32_t u;
        memcpy(&u, &v, sizeof u);
        out[c] = (uint16_t)(u >> 16);
    }
}

/* MXFP4 weight rows [n, n + rows) -> bf16 rows at out (row stride K), each
 * 32-value block in eo_column order. Row by row, so each row's codes and
 * scales are read front to back (one sequential stream per row). */
static void decode_rows(uint16_t *out, const fk_wmat *w, int n, int rows)
{
    const __m512i table = mx_bf16_table();
    size_t K = (size_t)w->k, ldq = K / 2, G = ldq / FK_MXFP4_BLOCK_BYTES;
    for (int r = 0; r < rows; r++) {
        const uint8_t *q = (const uint8_t *)w->data + (size_t)(n + r) * ldq;
        const uint8_t *sc = w->scales + (size_t)(n + r) * G;
        uint16_t *o = out + (size_t)r * K;
        if (!mx_bf16_exact(sc, G)) {
            for (size_t g = 0; g < G; g++)
                decode_block_scalar(o + g * TILE_K, q + g * FK_MXFP4_BLOCK_BYTES, sc[g]);
            continue;
        }
        for (size_t g0 = 0; g0 < G; g0 += 16) {
            int gn = G - g0 < 16 ? (int)(G - g0) : 16;
            uint32_t off[16];
            mx_offsets16(off, sc + g0, gn);
            for (size_t g = g0; g < g0 + gn; g++)
                _mm512_storeu_si512(o + g * TILE_K, mx_decode_bf16(q + g * FK_MXFP4_BLOCK_BYTES,
                                                                   off[g - g0], table));
        }
    }
}

/* ---- output --------------------------------------------------------------------------- */

/* Stored C tiles -> y: c [16][16] floats for weight rows n.., B block mb. */
static void write_out(const fk_mm_job *j, const float (*c)[16], int n, int mb)
{
    int N = j->w->n;
    for (int p = 0; p < BLOCK_ROWS; p++) {
        int r = mb * BLOCK_ROWS + p;
        if (r >= j->R) break;
        float *y = j->y + (size_t)r * N + n;
        for (int i = 0; i < TILE_ROWS; i++) {
            const float *part = &c[i][PARTS * p];
            y[i] = (part[0] + part[1]) + part[2] + (j->bias ? fk_bf16_f32(j->bias[n + i]) : 0.0f);
        }
    }
}

/* ---- R <= 5: up to four weight tiles against the one B block ---------------------------- */

/* Weight rows [n, n + 16 nt), nt <= 4, A at a (row stride lda bytes). */
static void small_strip(const fk_mm_job *j, int n, int nt, const uint16_t *a, size_t lda)
{
    int K = j->w->k, cols = block_cols(j->R);
    size_t tile_step = (size_t)TILE_ROWS * (lda / 2);
    const uint32_t *B = j->xp;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int g = 0; g < K / TILE_K; g++) {
        const uint16_t *ag = a + (size_t)g * TILE_K;
        if (g + PREFETCH_K < K / TILE_K)
            for (int r = 0; r < nt * TILE_ROWS; r++)
                _mm_prefetch((const char *)(ag + (size_t)r * (lda / 2) + PREFETCH_K * TILE_K),
                             _MM_HINT_T0);
        _tile_loadd(6, B + (size_t)g * PAIRS * cols, cols * 4);
        _tile_loadd(4, ag, lda);
        _tile_dpbf16ps(0, 4, 6);
        if (nt > 1) {
            _tile_loadd(5, ag + tile_step, lda);
            _tile_dpbf16ps(1, 5, 6);
        }
        if (nt > 2) {
            _tile_loadd(4, ag + 2 * tile_step, lda);
            _tile_dpbf16ps(2, 4, 6);
        }
        if (nt > 3) {
            _tile_loadd(5, ag + 3 * tile_step, lda);
            _tile_dpbf16ps(3, 5, 6);
        }
    }
    float c[4][16][16];
    _tile_stored(0, c[0], 64);
    _tile_stored(1, c[1], 64);
    _tile_stored(2, c[2], 64);
    _tile_stored(3, c[3], 64);
    for (int t = 0; t < nt; t++) write_out(j, (const float(*)[16])c[t], n + t * TILE_ROWS, 0);
}

/* MXFP4 rows [n, n + 16 nt), nt <= 4, against the one B block: each
 * 32-value block of the strip's rows is decoded (in two alternating 4 KiB
 * buffers, in L1) just before its tiles run, so the vector decode of one
 * block overlaps the tile products of the one before; codes are prefetched
 * PREFETCH_K blocks ahead. abuf: 2 x 64 x 32 bf16. */
static void small_strip_mx(const fk_mm_job *j, int n, int nt, uint16_t *abuf)
{
    const fk_wmat *w = j->w;
    const __m512i table = mx_bf16_table();
    int K = w->k, G = K / TILE_K, cols = block_cols(j->R), rows = nt * TILE_ROWS;
    size_t ldq = (size_t)K / 2;
    const uint8_t *Q = (const uint8_t *)w->data + (size_t)n * ldq;
    const uint8_t *S = w->scales + (size_t)n * G;
    const uint32_t *B = j->xp;
    int exact = mx_bf16_exact(S, (size_t)rows * G);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int g0 = 0; g0 < G; g0 += 16) {
        int gn = G - g0 < 16 ? G - g0 : 16;
        uint32_t off[4 * TILE_ROWS][16];
        for (int r = 0; exact && r < rows; r++) mx_offsets16(off[r], S + (size_t)r * G + g0, gn);
        for (int g = g0; g < g0 + gn; g++) {
            uint16_t *a = abuf + (size_t)(g & 1) * 4 * TILE_ROWS * TILE_K;
            for (int r = 0; r < rows; r++) {
                const uint8_t *q = Q + (size_t)r * ldq + (size_t)g * FK_MXFP4_BLOCK_BYTES;
                if (g + PREFETCH_K < G)
                    _mm_prefetch((const char *)(q + PREFETCH_K * FK_MXFP4_BLOCK_BYTES),
                                 _MM_HINT_T0);
                if (exact)
                    _mm512_storeu_si512(a + r * TILE_K, mx_decode_bf16(q, off[r][g - g0], table));
                else
                    decode_block_scalar(a + r * TILE_K, q, S[(size_t)r * G + g]);
            }
            size_t step = TILE_ROWS * TILE_K;
            _tile_loadd(6, B + (size_t)g * PAIRS * cols, cols * 4);
            _tile_loadd(4, a, TILE_K * 2);
            _tile_dpbf16ps(0, 4, 6);
            if (nt > 1) {
                _tile_loadd(5, a + step, TILE_K * 2);
                _tile_dpbf16ps(1, 5, 6);
            }
            if (nt > 2) {
                _tile_loadd(4, a + 2 * step, TILE_K * 2);
                _tile_dpbf16ps(2, 4, 6);
            }
            if (nt > 3) {
                _tile_loadd(5, a + 3 * step, TILE_K * 2);
                _tile_dpbf16ps(3, 5, 6);
            }
        }
    }
    float c[4][16][16];
    _tile_stored(0, c[0], 64);
    _tile_stored(1, c[1], 64);
    _tile_stored(2, c[2], 64);
    _tile_stored(3, c[3], 64);
    for (int t = 0; t < nt; t++) write_out(j, (const float(*)[16])c[t], n + t * TILE_ROWS, 0);
}

/* ---- R > 5: 32-row strips against pairs of B blocks ------------------------------------- */

/* Weight rows [n, n + 16 nt), nt <= 2, A at a (row stride lda bytes). */
static void big_strip(const fk_mm_job *j, int n, int nt, const uint16_t *a, size_t lda)
{
    int K = j->w->k, nb = block_count(j->R), cols = block_cols(j->R);
    size_t blk = (size_t)(K / 2) * cols, tile_step = (size_t)TILE_ROWS * (lda / 2);
    const uint32_t *B = j->xp;
    for (int mb = 0; mb < nb; mb += 2) {
        int two = mb + 1 < nb;
        const uint32_t *b0 = B + (size_t)mb * blk, *b1 = b0 + blk;
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (int g = 0; g < K / TILE_K; g++) {
            _tile_loadd(4, a + (size_t)g * TILE_K, lda);
            _tile_loadd(6, b0 + (size_t)g * PAIRS * cols, cols * 4);
            _tile_dpbf16ps(0, 4, 6);
            if (nt > 1) {
                _tile_loadd(5, a + tile_step + (size_t)g * TILE_K, lda);
                _tile_dpbf16ps(1, 5, 6);
            }
            if (two) {
                _tile_loadd(7, b1 + (size_t)g * PAIRS * cols, cols * 4);
                _tile_dpbf16ps(2, 4, 7);
                if (nt > 1) _tile_dpbf16ps(3, 5, 7);
            }
        }
        float c[4][16][16];
        _tile_stored(0, c[0], 64);
        _tile_stored(1, c[1], 64);
        _tile_stored(2, c[2], 64);
        _tile_stored(3, c[3], 64);
        write_out(j, (const float(*)[16])c[0], n, mb);
        if (nt > 1) write_out(j, (const float(*)[16])c[1], n + TILE_ROWS, mb);
        if (two) {
            write_out(j, (const float(*)[16])c[2], n, mb + 1);
            if (nt > 1) write_out(j, (const float(*)[16])c[3], n + TILE_ROWS, mb + 1);
        }
    }
}

/* ---- entry points ------------------------------------------------------------------------ */

int fk_mmamx_fits(const fk_wmat *w)
{
    return (w->fmt == FK_W_BF16 || w->fmt == FK_W_MXFP4) && w->k % TILE_K == 0 &&
           w->n % TILE_ROWS == 0;
}

size_t fk_mmamx_thread_bytes(const fk_wmat *w, int R)
{
    if (w->fmt != FK_W_MXFP4) return 0;
    if (R <= BLOCK_ROWS) return 2 * 4 * TILE_ROWS * TILE_K * sizeof(uint16_t);
    return (size_t)STRIP_ROWS * w->k * sizeof(uint16_t);
}

void fk_mmamx_rows(const fk_mm_job *j, int n0, int n1, int thread)
{
    const fk_wmat *w = j->w;
    int mx = w->fmt == FK_W_MXFP4, small = j->R <= BLOCK_ROWS;
    /* One B block streaming bf16 from memory: two tiles (32 rows in flight)
     * measured 20-40% faster than four on lm_head at R = 1 (bench_matmul);
     * MXFP4, decoded per block, keeps four. */
    int strip = small && mx ? 4 * TILE_ROWS : STRIP_ROWS;
    size_t lda = (size_t)w->k * 2;
    configure(block_cols(j->R));
    for (int n = n0; n < n1; n += strip) {
        int rows = n1 - n < strip ? n1 - n : strip;
        const uint16_t *a = (const uint16_t *)w->data + (size_t)n * w->k;
        if (mx && small) {
            small_strip_mx(j, n, rows / TILE_ROWS, j->scratch[thread]);
            continue;
        }
        if (mx) {
            a = j->scratch[thread];
            decode_rows(j->scratch[thread], w, n, rows);
        }
        if (small)
            small_strip(j, n, rows / TILE_ROWS, a, lda);
        else
            big_strip(j, n, rows / TILE_ROWS, a, lda);
    }
    _tile_release();
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
