/* mxfp4.h: decoding the two compact weight formats of gpt-oss checkpoints.
 *
 * bf16: the top 16 bits of an IEEE float32, so widening is a shift.
 * MXFP4 (OCP microscaling): blocks of 32 values along a row's input
 * dimension, one e8m0 scale byte (2^(s-127)) and 16 bytes of e2m1 codes per
 * block; the low nibble of byte j is element 2j, the high nibble 2j+1.
 * Codes 0..15: +0 +0.5 +1 +1.5 +2 +3 +4 +6 -0 -0.5 -1 -1.5 -2 -3 -4 -6.
 *
 * Header-only so the kernels inline these into their loops; the decoders are
 * written as branch-free integer arithmetic the compiler turns into SIMD. */
#ifndef FK_MXFP4_H
#define FK_MXFP4_H

#include <stdint.h>
#include <string.h>

#define FK_MXFP4_BLOCK 32 /* values per block */
#define FK_MXFP4_BLOCK_VALUES FK_MXFP4_BLOCK
#define FK_MXFP4_BLOCK_BYTES 16 /* code bytes per block */

/* The value table, for tests and readers; the decoders compute it. */
static const float fk_fp4_values[16] = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                                        -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

static inline float fk_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* bf16 bits -> float32 (exact). */
static inline float fk_bf16_f32(uint16_t v)
{
    return fk_bits_f32((uint32_t)v << 16);
}

/* e8m0 scale byte -> 2^(s-127), built from its bits (no libm call in the
 * loops, no branch): s is the float32 exponent field itself, and s = 0 is the
 * subnormal 2^-127. (s = 255, NaN in the format, reads as infinity.) */
static inline float fk_e8m0_f32(uint8_t s)
{
    return fk_bits_f32(((uint32_t)s << 23) | ((uint32_t)(s == 0) << 22));
}

/* Float32 bit pattern of an e2m1 code: magnitudes 2..7 (exponent >= 1) map
 * to exponent (c >> 1) + 126 and mantissa bit c & 1; the subnormal codes 0
 * and 1 (0 and 0.5) are chosen directly; bit 3 is the sign. */
static inline uint32_t fk_fp4_bits(uint32_t c)
{
    uint32_t mag = c & 7u;
    uint32_t normal = (mag << 22) + (126u << 23);
    uint32_t sub = mag * 0x3F000000u; /* 0 -> +0.0, 1 -> 0.5 */
    return (mag < 2u ? sub : normal) | ((c & 8u) << 28);
}

/* One e2m1 code -> float. */
static inline float fk_fp4_f32(uint32_t c)
{
    return fk_bits_f32(fk_fp4_bits(c));
}

/* Decode one block: out[32] = codes(q[16]) * scale. Vectorised by the
 * compiler (gcc -fopt-info-vec: both loops). */
static inline void fk_mxfp4_decode_block(float *restrict out, const uint8_t *restrict q,
                                         float scale)
{
    uint32_t bits[FK_MXFP4_BLOCK];
    for (int j = 0; j < FK_MXFP4_BLOCK_BYTES; j++) {
        bits[2 * j] = fk_fp4_bits(q[j] & 15u);
        bits[2 * j + 1] = fk_fp4_bits((uint32_t)q[j] >> 4);
    }
    for (int j = 0; j < FK_MXFP4_BLOCK; j++) out[j] = fk_bits_f32(bits[j]) * scale;
}

#endif
