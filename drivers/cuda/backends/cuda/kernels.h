/* kernels.h: the C side's entry into the CUDA kernels (kernels.cu,
 * gemv.cu, attention.cu). */
#ifndef FK_CUDA_KERNELS_H
#define FK_CUDA_KERNELS_H

#include "ops.h"

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What every launch may need besides its record. */
typedef struct fk_cu_ctx {
    int *err;        /* device word: a kernel that meets bad input (a token
                        outside the vocabulary) sets it to an fk_status */
    void *stage_dev; /* the staging area on the device */
    void *out_host;  /* the pinned output area */
} fk_cu_ctx;

/* Launch the kernels of one record on stream s (not waiting): cudaSuccess,
 * or the first launch error. */
cudaError_t fk_cu_launch(const fk_cu_rec *r, cudaStream_t s, const fk_cu_ctx *ctx);

/* The gemv launches (gemv.cu); used by fk_cu_launch for matmul and moe. */
cudaError_t fk_cu_gemv_launch(const fk_cu_gemv *g, int grid_rows, cudaStream_t s);
cudaError_t fk_cu_moe(const fk_cu_rec *r, cudaStream_t s);
/* The attention launches (attention.cu). */
cudaError_t fk_cu_attention(const fk_cu_rec *r, cudaStream_t s);
cudaError_t fk_cu_kv_store(const fk_cu_rec *r, cudaStream_t s);

#ifdef __cplusplus
}
#endif

#endif
