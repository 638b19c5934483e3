/* matmul_kernels.h: the levels' matmul kernels behind backend_cpu.c's matmul
 * op (y = x W^T + bias over [N, K] weights; cpu_features.h names the levels).
 *
 * A call runs in three steps, all driven by backend_cpu.c:
 *   1. prep: the calling thread writes x, reordered for the kernel, into a
 *      buffer of prep_bytes (the "prepared activations" xp);
 *   2. rows: the pool's threads compute disjoint output ranges [n0, n1),
 *      each starting at a multiple of the level's granule, for all R rows,
 *      bias included;
 *   3. nothing to undo: y holds the result.
 * Each output element is computed by the same instruction sequence whatever
 * the range it falls in, so results do not depend on the thread count. */
#ifndef FK_MATMUL_KERNELS_H
#define FK_MATMUL_KERNELS_H

#include "drivers/cuda/model/backend.h"

#include <stddef.h>
#include <stdint.h>

/* One matmul call as the kernels see it. */
typedef struct fk_mm_job {
    float *y;             /* [R, N] output */
    const float *x;       /* [R, K] input, as given */
    const fk_wmat *w;     /* the weights: N outputs, K inputs */
    const uint16_t *bias; /* bf16 [N] or NULL */
    int R;                /* rows of x */
    const void *xp;       /* x prepared by the level's prep (owned by the backend) */
    void *const *scratch; /* per-thread scratch, scratch[thread], thread_bytes each */
} fk_mm_job;

/* ---- avx512 (matmul_avx512.c): float32 FMA, bf16 and MXFP4 decoded exactly
 * in registers. x is prepared per 32-value block in the order the decoders
 * produce (bf16: 16 even elements, then 16 odd; MXFP4: mxfp4_avx512.h). */
#define FK_MM512_GRANULE 8 /* output rows per unit of work */
/* 1 when the kernel handles w: bf16 [N, K] or MXFP4, K % 32 == 0. */
int fk_mm512_fits(const fk_wmat *w);
size_t fk_mm512_prep_bytes(const fk_wmat *w, int R);
/* xp [R, K] floats in the decoders' order for w's format. */
void fk_mm512_prep(void *xp, const float *x, const fk_wmat *w, int R);
void fk_mm512_rows(const fk_mm_job *j, int n0, int n1);

/* ---- amx (matmul_amx.c): AMX-BF16 tiles. Each x value is split into
 * hi = bf16(x) and lo = bf16(x - hi); both products with the (exact) bf16
 * weight are exact and are summed in float32, so x is carried to 16
 * significant bits instead of 24 (relative error <= 2^-17 per value, about
 * float32's own rounding over a 2880-term sum). MXFP4 blocks are decoded to
 * bf16 exactly (a 2-bit mantissa times a power of two). */
#define FK_MMAMX_GRANULE 64 /* output rows per unit of work (four 16-row tiles) */
/* 1 when the kernel handles w: bf16 [N, K] or MXFP4, K % 32 == 0,
 * N % 16 == 0. Never depends on R: a row's bits must not change with the
 * rows beside it (backend.h, batch invariance). */
int fk_mmamx_fits(const fk_wmat *w);
size_t fk_mmamx_prep_bytes(const fk_wmat *w, int R);
void fk_mmamx_prep(void *xp, const float *x, const fk_wmat *w, int R);
/* Per-thread scratch one call needs. */
size_t fk_mmamx_thread_bytes(const fk_wmat *w, int R);
void fk_mmamx_rows(const fk_mm_job *j, int n0, int n1, int thread);

#endif
