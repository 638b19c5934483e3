/* kern.h: the arithmetic the CUDA kernels share with host code, written once
 * as inline functions that both nvcc (device code) and the C compiler (the
 * unit tests, tests/unit/test_cuda_host.c) compile. What can be checked on a
 * machine without a GPU is checked through these:
 *   - MXFP4 decoding as the kernels do it: a code byte to two fp16 bit
 *     patterns (value * 2^-14), widened to float and scaled per block;
 *   - the router's top-k in float32 with its tie rule;
 *   - the paged KV address of a position;
 *   - how attention splits a row's keys across blocks (split-K).
 * Nothing here allocates or touches memory other than its arguments. */
#ifndef FK_CUDA_KERN_H
#define FK_CUDA_KERN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __CUDACC__
#define FK_HD static __host__ __device__ __forceinline__
#else
#include <math.h>
#include <string.h>
#define FK_HD static inline
#endif

/* ---- number formats -------------------------------------------------------------- */

FK_HD float fk_k_bits_f32(uint32_t u)
{
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
#endif
}

/* bf16 bits -> float (exact). */
FK_HD float fk_k_bf16(uint16_t v)
{
    return fk_k_bits_f32((uint32_t)v << 16);
}

/* e8m0 scale byte -> 2^(s-127); s = 0 is the subnormal 2^-127 (mxfp4.h). */
FK_HD float fk_k_e8m0(uint8_t s)
{
    return fk_k_bits_f32(((uint32_t)s << 23) | ((uint32_t)(s == 0) << 22));
}

/* fp16 bits -> float (exact; host-side twin of the device's conversion). */
FK_HD float fk_k_half_bits_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 31u, man = h & 0x3FFu;
    if (exp == 0) { /* zero or subnormal: man * 2^-24 */
        float v = (float)man * 5.9604644775390625e-08f;
        return sign ? -v : v;
    }
    if (exp == 31) return fk_k_bits_f32(sign | 0x7F800000u | (man << 13));
    return fk_k_bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

/* Two e2m1 codes of one MXFP4 byte (low nibble: the even element, high: the
 * odd one) as a pair of fp16 bit patterns, low half = even element. An e2m1
 * code s:e1e0:m placed at fp16 bits 15 and 11..9 is an fp16 with exponent
 * field e and top mantissa bit m, which is the e2m1 value times 2^-14 for
 * every code, the subnormal 0.5 included (OpenAI's metal kernels use the
 * same identity). So the block sum of these times x is scaled once by
 * 2^14 * 2^(s-127). */
FK_HD uint32_t fk_k_mxfp4_pair(uint32_t byte)
{
    uint32_t t = (byte & 0x0Fu) | ((byte & 0xF0u) << 12); /* nibbles at bits 0..3, 16..19 */
    return ((t & 0x00070007u) << 9) | ((t & 0x00080008u) << 12);
}

/* The factor a block's sum of (e2m1 * 2^-14) * x is multiplied by: 2^14,
 * then the e8m0 scale (two steps, so no scale byte overflows). */
FK_HD float fk_k_mxfp4_scale(float block_sum, uint8_t scale)
{
    return block_sum * 16384.0f * fk_k_e8m0(scale);
}

/* ---- matmul ------------------------------------------------------------------------- */

#define FK_K_GEMV_WARPS 8 /* warps per block of the matmul kernel */
#define FK_K_GEMV_NR 4    /* outputs one warp group computes together */

/* Warps that share one output group's K range in the matmul kernel (1, 2,
 * 4 or 8): the fewest that still give every multiprocessor two blocks, for
 * N outputs and K inputs (`unit` inputs per load: 8 for bf16, 32 for MXFP4)
 * when `groups` experts run side by side (1 for a plain matmul). A function
 * of the shape and the GPU only, never of the rows, so an output's sum order
 * never depends on how many rows a call has (batch invariance). */
FK_HD int fk_k_gemv_split(int n, int k, int unit, int groups, int sm_count)
{
    long long out_groups = ((long long)n + FK_K_GEMV_NR - 1) / FK_K_GEMV_NR;
    long long units = ((long long)k + unit - 1) / unit;
    int split = 1;
    while (split < FK_K_GEMV_WARPS) {
        long long blocks =
            (out_groups * split + FK_K_GEMV_WARPS - 1) / FK_K_GEMV_WARPS * (long long)groups;
        if (blocks >= 2LL * sm_count || units < 128LL * split) break; /* <2 units a lane */
        split *= 2;
    }
    return split;
}

/* ---- the router -------------------------------------------------------------------- */

/* One row of the route op: the k largest of lg[0..E) (ties: the lower index
 * first) into idx[0..k) best first, and softmax over those k, in float32,
 * into w. The reference backend's selection rule, one pick at a time. */
FK_HD void fk_k_topk_row(const float *lg, int E, int k, int32_t *idx, float *w)
{
    for (int c = 0; c < k; c++) {
        int best = -1;
        for (int e = 0; e < E; e++) {
            int taken = 0;
            for (int d = 0; d < c; d++) taken |= idx[d] == e;
            if (!taken && (best < 0 || lg[e] > lg[best])) best = e;
        }
        idx[c] = best;
    }
    float mx = lg[idx[0]], sum = 0.0f;
    for (int c = 0; c < k; c++) {
        w[c] = expf(lg[idx[c]] - mx);
        sum += w[c];
    }
    for (int c = 0; c < k; c++) w[c] /= sum;
}

/* Reorder one row's k picks (and their weights) by increasing expert id:
 * the order the fused moe op adds the experts in (the unfused model's). */
FK_HD void fk_k_sort_picks(int32_t *idx, float *w, int k)
{
    for (int i = 1; i < k; i++) {
        int32_t e = idx[i];
        float v = w[i];
        int j = i - 1;
        for (; j >= 0 && idx[j] > e; j--) {
            idx[j + 1] = idx[j];
            w[j + 1] = w[j];
        }
        idx[j + 1] = e;
        w[j + 1] = v;
    }
}

/* ---- the paged KV cache ------------------------------------------------------------ */

/* Offset in floats of the key (kv 0) or value (kv 1) row of a position that
 * lives in block `block` at row `row`, layer slot `slot` (backend.h,
 * fk_kv_cache). */
FK_HD size_t fk_k_kv_offset(size_t block_floats, int block_tokens, int width, int32_t block,
                            int slot, int kv, int row)
{
    return (size_t)block * block_floats +
           ((size_t)(slot * 2 + kv) * (size_t)block_tokens + (size_t)row) * (size_t)width;
}

/* ---- attention split-K ------------------------------------------------------------- */

#define FK_K_ATTN_SPLITS 16    /* blocks per (row, kv head): a constant, so a row's */
                               /* sum order never depends on the batch */
#define FK_K_ATTN_MIN_CHUNK 64 /* fewest keys one split takes */
#define FK_K_ATTN_TILE 32      /* keys per shared-memory tile */

/* The keys a query at position p sees: [*lo, p]. window 0: all. */
FK_HD void fk_k_attn_range(int p, int window, int *lo)
{
    *lo = window > 0 && p - window + 1 > 0 ? p - window + 1 : 0;
}

/* Keys per split for n keys: at least FK_K_ATTN_MIN_CHUNK, a multiple of
 * the tile, and few enough that FK_K_ATTN_SPLITS splits cover all n. */
FK_HD int fk_k_attn_chunk(int n)
{
    int per = (n + FK_K_ATTN_SPLITS - 1) / FK_K_ATTN_SPLITS;
    if (per < FK_K_ATTN_MIN_CHUNK) per = FK_K_ATTN_MIN_CHUNK;
    return (per + FK_K_ATTN_TILE - 1) / FK_K_ATTN_TILE * FK_K_ATTN_TILE;
}

/* Split s of a row at position p: keys [*first, *end) (empty when
 * *first >= *end). */
FK_HD void fk_k_attn_split(int p, int window, int s, int *first, int *end)
{
    int lo;
    fk_k_attn_range(p, window, &lo);
    int chunk = fk_k_attn_chunk(p - lo + 1);
    long long f = (long long)lo + (long long)s * chunk, e = f + chunk;
    *first = f > p + 1 ? p + 1 : (int)f;
    *end = e > p + 1 ? p + 1 : (int)e;
}

#endif
