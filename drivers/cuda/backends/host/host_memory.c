/* host_memory.c: memory ops for backends on host memory (see the header). */
#include "drivers/cuda/backends/host/host_memory.h"

#include <stdlib.h>
#include <string.h>

void *fk_host_alloc(fk_backend *be, size_t bytes)
{
    (void)be;
    void *p = NULL;
    bytes = ((bytes ? bytes : 1) + 63) & ~(size_t)63;
    return posix_memalign(&p, 64, bytes) == 0 ? p : NULL;
}

void fk_host_release(fk_backend *be, void *p)
{
    (void)be;
    free(p);
}

fk_status fk_host_map_weights(fk_backend *be, const void **out, const void *host, size_t bytes)
{
    (void)be;
    (void)bytes;
    *out = host;
    return FK_OK;
}

void fk_host_unmap_weights(fk_backend *be, const void *mapped)
{
    (void)be;
    (void)mapped;
}

fk_status fk_host_copy(fk_backend *be, void *dst, const void *src, size_t bytes)
{
    (void)be;
    if (dst != src && bytes) memmove(dst, src, bytes);
    return FK_OK;
}

fk_status fk_host_synchronize(fk_backend *be)
{
    (void)be;
    return FK_OK;
}
