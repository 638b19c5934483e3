/* rand_ops.h: the random inputs and the error measure the backend op tests
 * (test_backend_ops, test_cpu_kernels, test_cuda_ops) share: one seeded
 * generator per test program, so each run draws the same inputs.
 * Header-only: each test is one program of one .c file. */
#ifndef FK_TEST_RAND_OPS_H
#define FK_TEST_RAND_OPS_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15ULL; /* the generator's state */

/* Uniform in [-0.5, 0.5) with all 24 significant bits in use. */
static inline float frand(void)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng >> 40) / (double)(1 << 24)) - 0.5f;
}

/* f truncated to bf16. */
static inline uint16_t bf16_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)(u >> 16);
}

/* n floats frand() * scale (malloc'd; the caller frees). */
static inline float *rand_floats(size_t n, float scale)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = frand() * scale;
    return p;
}

/* n bf16 values frand() * scale (malloc'd; the caller frees). */
static inline uint16_t *rand_bf16(size_t n, float scale)
{
    uint16_t *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = bf16_of(frand() * scale);
    return p;
}

/* Largest |a - b| / (|b| + floor) over n floats; NaN counts as worst. */
static inline double rel_err(const float *a, const float *b, size_t n, double floor)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (fabs(b[i]) + floor);
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

#endif
