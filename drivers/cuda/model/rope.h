/* rope.h: rotary position embedding tables for gpt-oss (NeoX half-split
 * pairs (i, i + hd/2)), with YaRN scaling.
 *
 * YaRN (truncate false): base frequencies 1/theta^(2i/hd), interpolated ones
 * divided by `factor`, blended by a linear ramp between the correction
 * dimensions low = d(beta_fast), high = d(beta_slow) with
 * d(b) = hd * ln(orig_max / (b * 2 pi)) / (2 ln theta), not rounded (they are
 * only floored/ceiled when the config asks for truncate). cos and sin are both
 * multiplied by the concentration 0.1 ln(factor) + 1. */
#ifndef FK_ROPE_H
#define FK_ROPE_H

#include "drivers/cuda/checkpoint/checkpoint.h"

#define FK_ROPE_MAX_HALF 512 /* largest head_dim / 2 supported */

typedef struct fk_rope {
    int half;                          /* hd / 2: rotated pairs per head */
    double low, high;                  /* YaRN correction range (dims) */
    double concentration;              /* factor on cos and sin */
    double inv_freq[FK_ROPE_MAX_HALF]; /* angle per position for pair i */
} fk_rope;

/* Fill `r` from the config. -1 when head_dim is odd or too large. */
int fk_rope_init(fk_rope *r, const fk_gptoss_config *cfg);

/* Concentration (attention factor) for a YaRN factor: 1 when factor <= 1. */
double fk_rope_concentration(double factor);

/* cos[i], sin[i] for position pos, i < half, concentration applied. The
 * angle is computed in double so long positions keep their precision. */
void fk_rope_cos_sin(const fk_rope *r, int pos, float *cos_out, float *sin_out);

#endif
