/* kv.h (private to the engine): the paged KV cache's layout, shared by
 * kv.c, model.c and the prefix cache.
 *
 * Layers fall into groups by attention kind (vLLM's KV cache groups): the
 * full-attention layers, and the sliding-window layers. A block holds
 * block_tokens positions of keys and values for every layer of one group
 * (layer slot = its index within the group; layout in backend.h,
 * fk_kv_cache), so all blocks have one size and come from one pool. A
 * sequence has one block table per group, indexed by position /
 * block_tokens: full layers keep every block, sliding layers give back the
 * blocks older than their window (the entry becomes -1).
 *
 * Blocks are counted by reference: a sequence holds one reference on each
 * block in its tables. A block nobody holds is free. */
#ifndef FK_KV_H
#define FK_KV_H

#include "backend.h"
#include "model.h"

#define FK_KV_MAX_GROUPS 2 /* full-attention layers, sliding-window layers */

struct fk_kv_pool {
    fk_backend *be;                 /* the model's backend (owns base) */
    fk_kv_cache cache;              /* the memory and its layout */
    size_t n_blocks;                /* blocks in cache.base */
    int n_groups;                   /* 1 or 2 */
    int window[FK_KV_MAX_GROUPS];   /* each group's window; 0 = full attention */
    int layer_group[FK_MAX_LAYERS]; /* group of each layer */
    int layer_slot[FK_MAX_LAYERS];  /* slot of each layer inside its group's blocks */
    int32_t *ref;                   /* [n_blocks] sequences holding each block */
    int32_t *free_ids;              /* [n_blocks] stack of free blocks */
    size_t n_free;                  /* entries on free_ids */
};

struct fk_kv {
    fk_kv_pool *pool;                 /* borrowed */
    int capacity;                     /* max positions */
    int len;                          /* positions filled */
    int n_table;                      /* entries per table: ceil(capacity / block_tokens) */
    int32_t *table[FK_KV_MAX_GROUPS]; /* [n_table] block per logical block, -1 none */
    int lo[FK_KV_MAX_GROUPS];         /* first table entry still held */
    int hi[FK_KV_MAX_GROUPS];         /* entries [lo, hi) are held */
};

#endif
