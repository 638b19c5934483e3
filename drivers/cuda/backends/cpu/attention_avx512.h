/* attention_avx512.h: backend.h's attention op for the avx512 and amx
 * levels (cpu_features.h), in attention_avx512.c.
 *
 * A task is one row and one kv head: the nh/nkv query heads sharing that kv
 * head go through its keys together, so each key and value row is read once
 * for all of them. Keys are taken in blocks of 16 positions aligned to
 * multiples of 16: per block, 16 scores per head at once (dot products
 * reduced by a shuffle tree), one softmax rescale, a vector exp, and the
 * weighted values added. A row's result depends only on its position, its
 * window and its sequence's cache, never on the other rows or the thread
 * count (backend.h's batch invariance). */
#ifndef FK_ATTENTION_AVX512_H
#define FK_ATTENTION_AVX512_H

#include "drivers/cuda/model/backend.h"

#include <stdint.h>

/* One attention call as the kernel sees it (backend.h's attention op). */
typedef struct fk_attn512_job {
    float *out;              /* [R, nh*hd] */
    const float *q;          /* [R, nh*hd] */
    const fk_kv_cache *kv;   /* the paged cache */
    int slot;                /* the layer's slot in the blocks */
    const fk_attn_seq *seqs; /* per sequence, increasing row0, rows contiguous from 0 */
    int n_seqs;              /* entries in seqs */
    const uint16_t *sinks;   /* bf16 [nh] */
    int nh, nkv, hd, window; /* shapes; window 0 = full */
} fk_attn512_job;

/* 1 when the kernel handles these shapes: hd % 16 == 0, hd <= 256,
 * nh / nkv <= 16. */
int fk_attn512_fits(int nh, int nkv, int hd);

/* Tasks [i0, i1): task i is row i / nkv, kv head i % nkv. */
void fk_attn512_tasks(const fk_attn512_job *j, int64_t i0, int64_t i1);

#endif
