/* cuda_stub.c: the CUDA backend's entry points in a build without CUDA
 * (configure without --with-cuda): each says so, so callers need no #ifdef. */
#include "cuda.h"

#include <stdio.h>
#include <string.h>

#define NOT_BUILT "this build has no CUDA backend (configure --with-cuda)"

int fk_cuda_probe(int device, fk_cuda_info *info, char *why, size_t why_len)
{
    (void)device;
    memset(info, 0, sizeof *info);
    snprintf(why, why_len, NOT_BUILT);
    return 0;
}

fk_backend *fk_backend_cuda_new(const fk_cuda_options *opt, char *err, size_t err_len)
{
    (void)opt;
    snprintf(err, err_len, NOT_BUILT);
    return NULL;
}

int fk_backend_is_cuda(const fk_backend *be)
{
    (void)be;
    return 0;
}

void fk_backend_cuda_info(fk_backend *be, fk_cuda_info *info)
{
    (void)be;
    memset(info, 0, sizeof *info);
}

const char *fk_backend_cuda_error(const fk_backend *be)
{
    (void)be;
    return NOT_BUILT;
}

fk_status fk_backend_cuda_reserve(fk_backend *be, const fk_gptoss_config *cfg, int rows)
{
    (void)be;
    (void)cfg;
    (void)rows;
    return FK_ERR_ARG;
}

void fk_backend_cuda_profile(fk_backend *be, int on)
{
    (void)be;
    (void)on;
}

size_t fk_backend_cuda_profile_read(fk_backend *be, fk_cuda_prof *rows, size_t max)
{
    (void)be;
    (void)rows;
    (void)max;
    return 0;
}

void fk_backend_cuda_counts(fk_backend *be, uint64_t *replays, uint64_t *captures, uint64_t *eagers)
{
    (void)be;
    *replays = *captures = *eagers = 0;
}

void fk_backend_cuda_set_graphs(fk_backend *be, int on)
{
    (void)be;
    (void)on;
}

double fk_backend_cuda_copy_bandwidth(fk_backend *be, size_t bytes)
{
    (void)be;
    (void)bytes;
    return 0;
}
