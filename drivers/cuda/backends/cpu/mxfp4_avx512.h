/* mxfp4_avx512.h: one MXFP4 block (16 code bytes, 32 values) decoded to two
 * 16-lane float32 vectors with AVX-512, exactly, for the avx512 and amx
 * kernels. Include it inside a file's AVX-512 target region.
 *
 * The 16 code bytes are broadcast to all four 128-bit lanes (a load, no
 * shuffle), each dword lane is shifted right by a per-lane amount (vpsrlvd)
 * so its low nibble is one code, and vpermps looks that nibble up in a
 * 16-entry table of (e2m1 value * block scale); vpermps ignores the higher
 * bits. The two vectors ("lo" and "hi") hold the elements
 *     lo lane i: element mx_column(i),  hi lane i: element mx_column(16 + i)
 * so the kernels read x in that order (prepared once per call), never the
 * weights shuffled. Lane i of the broadcast holds bytes 4(i%4) .. 4(i%4)+3;
 * the shift 8(i/4) picks byte 4(i%4) + i/4, whose low nibble is element
 * 2 (4(i%4) + i/4) and high nibble (shift + 4) the element after it. */
#ifndef FK_MXFP4_AVX512_H
#define FK_MXFP4_AVX512_H

#include "drivers/cuda/model/mxfp4.h"

#include <immintrin.h>

/* The element of a block at decoded position c (0..31). */
static inline int mx_column(int c)
{
    int i = c % 16;
    return 2 * (4 * (i % 4) + i / 4) + c / 16;
}

/* x (32 values of one block) in decoded order. */
static inline void mx_order_block(float *out, const float *x)
{
    for (int c = 0; c < 32; c++) out[c] = x[mx_column(c)];
}

/* The e2m1 values, the table vpermps indexes. */
static inline __m512 mx_values(void)
{
    return _mm512_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f, -0.5f, -1.0f,
                          -1.5f, -2.0f, -3.0f, -4.0f, -6.0f);
}

/* Scale bytes sc[0 .. n), n <= 16, as floats 2^(s - 127) (s = 0: 2^-127,
 * fk_e8m0_f32's rule) in out[0 .. n). Reads no byte past sc[n - 1]. */
static inline void mx_scales16(float *out, const uint8_t *sc, int n)
{
    __mmask16 m = (__mmask16)((1u << n) - 1);
    __m512i s = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, sc));
    __m512i bits = _mm512_slli_epi32(s, 23);
    bits = _mm512_mask_or_epi32(bits, _mm512_cmpeq_epi32_mask(s, _mm512_setzero_si512()), bits,
                                _mm512_set1_epi32(0x400000));
    _mm512_mask_storeu_ps(out, m, _mm512_castsi512_ps(bits));
}

/* Decode the block at q (16 code bytes) with its scale as a float: *lo, *hi
 * as above, each value exactly code * scale. */
static inline void mx_decode(__m512 *lo, __m512 *hi, const uint8_t *q, float scale, __m512 values)
{
    const __m512i shift_lo =
        _mm512_setr_epi32(0, 0, 0, 0, 8, 8, 8, 8, 16, 16, 16, 16, 24, 24, 24, 24);
    const __m512i shift_hi = _mm512_add_epi32(shift_lo, _mm512_set1_epi32(4));
    __m512 table = _mm512_mul_ps(values, _mm512_set1_ps(scale));
    __m512i codes = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)q));
    *lo = _mm512_permutexvar_ps(_mm512_srlv_epi32(codes, shift_lo), table);
    *hi = _mm512_permutexvar_ps(_mm512_srlv_epi32(codes, shift_hi), table);
}

#endif
