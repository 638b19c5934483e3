/* kv.h (private to the engine): the paged KV cache's layout, shared by
 * kv.c (the pool and the block tables), prefix.c (the prefix cache's index)
 * and model.c.
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
 * block in its tables. A block nobody holds is free, or, with the prefix
 * cache on, cached: a full block whose content (the tokens of its positions
 * and of every position before) is recorded in a prefix node, kept until the
 * pool needs the room and then evicted least recently used first.
 *
 * Prefix nodes (vLLM's automatic prefix caching, with the block hash made
 * exact): node N stands for "the block of tokens T following the prefix of
 * node P". Its key is (P's serial, T); serials are never reused, so a node
 * can only be found by walking from the first block through nodes that all
 * still exist, and a match is a full comparison of the key, never a hash
 * alone. A node holds the cached block of each group that has one; it goes
 * away with its last block. */
#ifndef FK_KV_H
#define FK_KV_H

#include "backend.h"
#include "model.h"

#define FK_KV_MAX_GROUPS 2 /* full-attention layers, sliding-window layers */

/* One cached block content (see above). Unused nodes have serial 0. */
typedef struct fk_prefix_node {
    uint64_t serial;                 /* unique over the pool's life; 0: unused */
    uint64_t parent;                 /* serial of the node of the block before; 0: first block */
    uint64_t hash;                   /* of (parent, tokens): the bucket */
    int32_t block[FK_KV_MAX_GROUPS]; /* the cached block of each group; -1: none */
    int32_t next;                    /* next node in its bucket; -1: end */
} fk_prefix_node;

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
    /* the prefix cache */
    int prefix_on;         /* 1: full blocks are recorded and found again */
    int32_t *node_of;      /* [n_blocks] the node caching each block; -1: none */
    int32_t *lru_prev;     /* [n_blocks] cached blocks nobody holds, least recent first */
    int32_t *lru_next;     /* [n_blocks] (links; -1 ends) */
    int32_t lru_head;      /* least recently released cached block; -1: none */
    int32_t lru_tail;      /* most recently released; -1: none */
    size_t n_lru;          /* blocks on that list */
    fk_prefix_node *nodes; /* [n_blocks] (a node has at least one block) */
    int32_t *node_tokens;  /* [n_blocks, block_tokens] each node's tokens */
    int32_t *free_nodes;   /* [n_blocks] stack of unused node ids */
    size_t n_free_nodes;   /* entries on free_nodes */
    int32_t *buckets;      /* [n_buckets] first node of each hash bucket; -1: empty */
    size_t n_buckets;      /* a power of two */
    uint64_t next_serial;  /* the next node's serial (from 1) */
    uint64_t evictions;    /* cached blocks evicted so far */
};

struct fk_kv {
    fk_kv_pool *pool;                 /* borrowed */
    int capacity;                     /* max positions */
    int len;                          /* positions filled */
    int n_table;                      /* entries per table: ceil(capacity / block_tokens) */
    int32_t *table[FK_KV_MAX_GROUPS]; /* [n_table] block per logical block, -1 none */
    int lo[FK_KV_MAX_GROUPS];         /* first table entry still held */
    int hi[FK_KV_MAX_GROUPS];         /* entries [lo, hi) are held */
    int32_t *tokens;                  /* [capacity] the token at each position */
    uint64_t *serial;                 /* [n_table] prefix node serial of each full block */
    int n_committed;                  /* full blocks whose serial is known */
};

/* The model wrote positions len .. len+n-1 for tokens[0..n): record them
 * and, with the prefix cache on, enter the blocks they filled (model.c). */
void fk_kv_advance(fk_kv *kv, const int32_t *tokens, int n);

/* ---- prefix.c: the node index -------------------------------------------------- */

/* Allocate the index for p->n_blocks nodes. 0, or -1 on OOM. */
int fk_prefix_init(fk_kv_pool *p);
void fk_prefix_free(fk_kv_pool *p);
/* The node for (parent, tokens[block_tokens]), or -1. */
int32_t fk_prefix_find(const fk_kv_pool *p, uint64_t parent, const int32_t *tokens);
/* A new node for that key (the caller found none), with no block yet. */
int32_t fk_prefix_add(fk_kv_pool *p, uint64_t parent, const int32_t *tokens);
/* The node no longer caches its block of group g; a node left with none is
 * removed. */
void fk_prefix_forget(fk_kv_pool *p, int32_t node, int g);

#endif
