/* host_memory.h: the memory ops of a backend whose memory is the host's
 * (the CPU and reference backends): written once, named in their op tables.
 *
 * alloc: 64-byte aligned, rounded up to 64 bytes, not touched (a large
 * block, the KV pool, is committed by the OS page by page as it is first
 * written); release frees it. Weights are read in place from the
 * checkpoint's mapping (map/unmap do nothing). upload and download are one
 * copy (overlap allowed); synchronize has nothing to wait for. */
#ifndef FK_HOST_MEMORY_H
#define FK_HOST_MEMORY_H

#include "drivers/cuda/model/backend.h"

void *fk_host_alloc(fk_backend *be, size_t bytes);
void fk_host_release(fk_backend *be, void *p);
fk_status fk_host_map_weights(fk_backend *be, const void **out, const void *host, size_t bytes);
void fk_host_unmap_weights(fk_backend *be, const void *mapped);
fk_status fk_host_copy(fk_backend *be, void *dst, const void *src, size_t bytes);
fk_status fk_host_synchronize(fk_backend *be);

#endif
