/* prefix.c: the prefix cache's index: nodes keyed by (parent serial, the
 * block's tokens) in a chained hash table (kv.h says what a node means).
 * Everything is allocated once with the pool: a node holds at least one
 * block, so there are never more nodes than blocks. */
#include "kv.h"

#include <stdlib.h>
#include <string.h>

int fk_prefix_init(fk_kv_pool *p)
{
    size_t n = p->n_blocks, B = (size_t)p->cache.block_tokens;
    p->n_buckets = 1;
    while (p->n_buckets < 2 * n) p->n_buckets *= 2;
    p->nodes = calloc(n, sizeof *p->nodes);
    p->node_tokens = malloc(n * B * sizeof *p->node_tokens);
    p->free_nodes = malloc(n * sizeof *p->free_nodes);
    p->buckets = malloc(p->n_buckets * sizeof *p->buckets);
    if (!p->nodes || !p->node_tokens || !p->free_nodes || !p->buckets) return -1;
    for (size_t i = 0; i < p->n_buckets; i++) p->buckets[i] = -1;
    for (size_t i = 0; i < n; i++) p->free_nodes[i] = (int32_t)(n - 1 - i);
    p->n_free_nodes = n;
    p->next_serial = 1;
    return 0;
}

void fk_prefix_free(fk_kv_pool *p)
{
    free(p->nodes);
    free(p->node_tokens);
    free(p->free_nodes);
    free(p->buckets);
}

/* FNV-1a over the parent serial and the token ids' bytes. */
static uint64_t key_hash(uint64_t parent, const int32_t *tokens, int n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < 8; i++) h = (h ^ ((parent >> (8 * i)) & 0xFF)) * 0x100000001b3ULL;
    for (int t = 0; t < n; t++)
        for (int i = 0; i < 4; i++)
            h = (h ^ (((uint32_t)tokens[t] >> (8 * i)) & 0xFF)) * 0x100000001b3ULL;
    return h;
}

int32_t fk_prefix_find(const fk_kv_pool *p, uint64_t parent, const int32_t *tokens)
{
    int B = p->cache.block_tokens;
    uint64_t h = key_hash(parent, tokens, B);
    for (int32_t i = p->buckets[h & (p->n_buckets - 1)]; i >= 0; i = p->nodes[i].next) {
        const fk_prefix_node *nd = &p->nodes[i];
        if (nd->hash == h && nd->parent == parent &&
            memcmp(p->node_tokens + (size_t)i * B, tokens, (size_t)B * sizeof *tokens) == 0)
            return i;
    }
    return -1;
}

int32_t fk_prefix_add(fk_kv_pool *p, uint64_t parent, const int32_t *tokens)
{
    if (p->n_free_nodes == 0) return -1;
    int B = p->cache.block_tokens;
    int32_t i = p->free_nodes[--p->n_free_nodes];
    fk_prefix_node *nd = &p->nodes[i];
    nd->serial = p->next_serial++;
    nd->parent = parent;
    nd->hash = key_hash(parent, tokens, B);
    for (int g = 0; g < FK_KV_MAX_GROUPS; g++) nd->block[g] = -1;
    memcpy(p->node_tokens + (size_t)i * B, tokens, (size_t)B * sizeof *tokens);
    int32_t *head = &p->buckets[nd->hash & (p->n_buckets - 1)];
    nd->next = *head;
    *head = i;
    return i;
}

void fk_prefix_forget(fk_kv_pool *p, int32_t node, int g)
{
    fk_prefix_node *nd = &p->nodes[node];
    nd->block[g] = -1;
    for (int h = 0; h < FK_KV_MAX_GROUPS; h++)
        if (nd->block[h] >= 0) return;
    int32_t *link = &p->buckets[nd->hash & (p->n_buckets - 1)];
    while (*link != node) link = &p->nodes[*link].next;
    *link = nd->next;
    nd->serial = 0;
    p->free_nodes[p->n_free_nodes++] = node;
}
