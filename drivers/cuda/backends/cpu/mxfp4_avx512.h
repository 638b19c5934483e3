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

/* ---- straight to bf16 (the amx level's A tiles) ------------------------------------ *
 * The 16 code bytes twice as 32 words (a 128-bit broadcast load, vpmovzxbw),
 * shifted right by 0 in lanes 0..15 and by 4 in lanes 16..31 (vpsrlvw), index
 * a 32-word table of the e2m1 values' bf16 bits (vpermw reads 5 index bits;
 * the table is stored twice, so the other nibble's low bit does not matter)
 * whose nonzero entries had the block's exponent offset (s - 127) << 7
 * added: the bf16 bits of value * 2^(s - 127), exactly, while 2 <= s <= 252
 * keeps every exponent field normal (mx_bf16_exact). About half the vector
 * work of mx_decode + vcvtne2ps2bf16. Lanes 0..15 are elements 0, 2, .., 30
 * and lanes 16..31 elements 1, 3, .., 31 (eo_column). */

/* The element of a block at bf16-decoded position c (0..31). */
static inline int eo_column(int c)
{
    return c < 16 ? 2 * c : 2 * (c - 16) + 1;
}

/* x (32 values of one block) in eo_column order. */
static inline void eo_order_block(float *out, const float *x)
{
    for (int c = 0; c < 32; c++) out[c] = x[eo_column(c)];
}

/* 1 when every scale byte of sc[0 .. n) is in [2, 252]. */
static inline int mx_bf16_exact(const uint8_t *sc, size_t n)
{
    uint8_t lo = 255, hi = 0;
    for (size_t i = 0; i < n; i++) {
        lo = sc[i] < lo ? sc[i] : lo;
        hi = sc[i] > hi ? sc[i] : hi;
    }
    return n == 0 || (lo >= 2 && hi <= 252);
}

/* Scale bytes sc[0 .. n), n <= 16, as exponent offsets (s - 127) << 7 in
 * both 16-bit halves of out[0 .. n). Reads no byte past sc[n - 1]. */
static inline void mx_offsets16(uint32_t *out, const uint8_t *sc, int n)
{
    __mmask16 m = (__mmask16)((1u << n) - 1);
    __m512i s = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, sc));
    __m512i e = _mm512_and_si512(_mm512_slli_epi32(_mm512_sub_epi32(s, _mm512_set1_epi32(127)), 7),
                                 _mm512_set1_epi32(0xFFFF));
    _mm512_mask_storeu_epi32(out, m, _mm512_or_si512(e, _mm512_slli_epi32(e, 16)));
}

/* The bf16 table: e2m1 values 0, 0.5, .., 6, -0, .., -6, twice. */
static inline __m512i mx_bf16_table(void)
{
    static const uint16_t bits[32] = {
        0x0000, 0x3F00, 0x3F80, 0x3FC0, 0x4000, 0x4040, 0x4080, 0x40C0, 0x8000, 0xBF00, 0xBF80,
        0xBFC0, 0xC000, 0xC040, 0xC080, 0xC0C0, 0x0000, 0x3F00, 0x3F80, 0x3FC0, 0x4000, 0x4040,
        0x4080, 0x40C0, 0x8000, 0xBF00, 0xBF80, 0xBFC0, 0xC000, 0xC040, 0xC080, 0xC0C0};
    return _mm512_loadu_si512(bits);
}

/* Decode the block at q with its offset from mx_offsets16: 32 bf16 in
 * eo_column order. */
static inline __m512i mx_decode_bf16(const uint8_t *q, uint32_t offset, __m512i table)
{
    const __m512i shifts =
        _mm512_set_epi32(0x00040004, 0x00040004, 0x00040004, 0x00040004, 0x00040004, 0x00040004,
                         0x00040004, 0x00040004, 0, 0, 0, 0, 0, 0, 0, 0);
    /* entries 0, 8, 16, 24 are the zeros: they keep no exponent */
    __m512i scaled =
        _mm512_mask_add_epi16(table, 0xFEFEFEFEu, table, _mm512_set1_epi32((int)offset));
    __m512i bytes =
        _mm512_cvtepu8_epi16(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)q)));
    return _mm512_permutexvar_epi16(_mm512_srlv_epi16(bytes, shifts), scaled);
}

#endif
