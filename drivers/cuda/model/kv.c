/* kv.c: the paged KV cache: a pool of blocks and each sequence's block
 * tables (layout in kv.h). Host bookkeeping only: nothing here touches KV
 * data, so nothing here is slow. */
#include "kv.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- the pool ------------------------------------------------------------------ */

/* Sort the layers into groups: full attention first, then sliding. */
static void group_layers(fk_kv_pool *p, const fk_gptoss_config *c)
{
    int count[FK_KV_MAX_GROUPS] = {0}, kind_group[2] = {-1, -1};
    p->n_groups = 0;
    for (int kind = 0; kind < 2; kind++)
        for (int l = 0; l < c->n_layers; l++) {
            int sliding = c->layer_sliding[l] && c->sliding_window > 0;
            if (sliding != kind) continue;
            if (kind_group[kind] < 0) {
                kind_group[kind] = p->n_groups;
                p->window[p->n_groups++] = kind ? c->sliding_window : 0;
            }
            int g = kind_group[kind];
            p->layer_group[l] = g;
            p->layer_slot[l] = count[g]++;
        }
    p->cache.slots = count[0] > count[1] ? count[0] : count[1];
}

/* Groups and block geometry for blocks of `block_tokens` positions. */
static void layout(fk_kv_pool *p, const fk_gptoss_config *c, int block_tokens)
{
    group_layers(p, c);
    p->cache.block_tokens = block_tokens;
    p->cache.width = c->n_kv_heads * c->head_dim;
    p->cache.block_floats = (size_t)p->cache.slots * 2 * block_tokens * p->cache.width;
}

fk_kv_pool *fk_kv_pool_new(const fk_model *m, size_t bytes, int block_tokens, char *err,
                           size_t err_len)
{
    const fk_gptoss_config *c = fk_model_config(m);
    if (block_tokens < 1 || block_tokens > 1024) {
        snprintf(err, err_len, "KV block size %d: expected 1 to 1024 positions", block_tokens);
        return NULL;
    }
    fk_kv_pool *p = calloc(1, sizeof *p);
    if (!p) goto oom;
    p->be = fk_model_backend(m);
    layout(p, c, block_tokens);
    p->n_blocks = bytes / fk_kv_block_bytes(p);
    if (p->n_blocks < (size_t)p->n_groups || p->n_blocks > INT32_MAX) {
        snprintf(err, err_len,
                 "a KV cache of %zu MiB holds %zu blocks of %zu KiB; a sequence needs at least %d",
                 bytes >> 20, p->n_blocks, fk_kv_block_bytes(p) >> 10, p->n_groups);
        free(p);
        return NULL;
    }
    p->ref = calloc(p->n_blocks, sizeof *p->ref);
    p->free_ids = malloc(p->n_blocks * sizeof *p->free_ids);
    p->cache.base = p->be->ops->alloc(p->be, p->n_blocks * fk_kv_block_bytes(p));
    if (!p->ref || !p->free_ids || !p->cache.base) goto oom;
    /* Lowest ids on top: a lightly used pool stays in few pages. */
    for (size_t i = 0; i < p->n_blocks; i++) p->free_ids[i] = (int32_t)(p->n_blocks - 1 - i);
    p->n_free = p->n_blocks;
    return p;
oom:
    snprintf(err, err_len, "out of memory for a KV cache of %zu MiB", bytes >> 20);
    fk_kv_pool_free(p);
    return NULL;
}

size_t fk_kv_pool_bytes_for(const fk_model *m, int block_tokens, int n_seqs, int n_tokens,
                            int chunk)
{
    fk_kv_pool p = {0};
    layout(&p, fk_model_config(m), block_tokens);
    return (size_t)n_seqs * fk_kv_blocks_needed(&p, n_tokens, chunk) * fk_kv_block_bytes(&p);
}

void fk_kv_pool_free(fk_kv_pool *p)
{
    if (!p) return;
    if (p->cache.base) p->be->ops->release(p->be, p->cache.base);
    free(p->ref);
    free(p->free_ids);
    free(p);
}

size_t fk_kv_pool_blocks(const fk_kv_pool *p)
{
    return p->n_blocks;
}

size_t fk_kv_pool_free_blocks(const fk_kv_pool *p)
{
    return p->n_free;
}

size_t fk_kv_block_bytes(const fk_kv_pool *p)
{
    return p->cache.block_floats * sizeof(float);
}

int fk_kv_block_tokens(const fk_kv_pool *p)
{
    return p->cache.block_tokens;
}

/* Blocks a group holds at most for a sequence of n tokens reserved `chunk`
 * at a time: all of them on full layers; on sliding layers the window
 * before a chunk plus the chunk, over whole blocks (one more for the
 * misalignment). */
static size_t group_need(const fk_kv_pool *p, int g, int n_tokens, int chunk)
{
    size_t B = (size_t)p->cache.block_tokens;
    size_t all = ((size_t)n_tokens + B - 1) / B;
    if (p->window[g] == 0) return all;
    size_t span = ((size_t)p->window[g] - 1 + (size_t)chunk + B - 1) / B + 1;
    return span < all ? span : all;
}

size_t fk_kv_blocks_needed(const fk_kv_pool *p, int n_tokens, int chunk)
{
    size_t n = 0;
    for (int g = 0; g < p->n_groups; g++) n += group_need(p, g, n_tokens, chunk);
    return n;
}

int fk_kv_pool_max_tokens(const fk_kv_pool *p, int chunk)
{
    /* blocks_needed grows with n: the largest n that fits, by bisection. */
    long lo = 0, hi = (long)p->n_blocks * p->cache.block_tokens;
    if (hi > INT32_MAX) hi = INT32_MAX;
    while (lo < hi) {
        long mid = lo + (hi - lo + 1) / 2;
        if (fk_kv_blocks_needed(p, (int)mid, chunk) <= p->n_blocks)
            lo = mid;
        else
            hi = mid - 1;
    }
    return (int)lo;
}

/* A free block with one reference, or -1. */
static int32_t block_take(fk_kv_pool *p)
{
    if (p->n_free == 0) return -1;
    int32_t b = p->free_ids[--p->n_free];
    p->ref[b] = 1;
    return b;
}

/* Drop one reference; the last one frees the block. */
static void block_drop(fk_kv_pool *p, int32_t b)
{
    if (--p->ref[b] == 0) p->free_ids[p->n_free++] = b;
}

/* ---- sequences ------------------------------------------------------------------ */

fk_kv *fk_kv_new(fk_kv_pool *pool, int max_tokens)
{
    if (max_tokens <= 0) return NULL;
    fk_kv *kv = calloc(1, sizeof *kv);
    if (!kv) return NULL;
    kv->pool = pool;
    kv->capacity = max_tokens;
    kv->n_table = (max_tokens + pool->cache.block_tokens - 1) / pool->cache.block_tokens;
    for (int g = 0; g < pool->n_groups; g++) {
        kv->table[g] = malloc((size_t)kv->n_table * sizeof *kv->table[g]);
        if (!kv->table[g]) {
            for (int h = 0; h < g; h++) free(kv->table[h]);
            free(kv);
            return NULL;
        }
        for (int i = 0; i < kv->n_table; i++) kv->table[g][i] = -1;
    }
    return kv;
}

void fk_kv_reset(fk_kv *kv)
{
    for (int g = 0; g < kv->pool->n_groups; g++) {
        for (int i = kv->lo[g]; i < kv->hi[g]; i++)
            if (kv->table[g][i] >= 0) block_drop(kv->pool, kv->table[g][i]);
        for (int i = 0; i < kv->n_table; i++) kv->table[g][i] = -1;
        kv->lo[g] = kv->hi[g] = 0;
    }
    kv->len = 0;
}

void fk_kv_free(fk_kv *kv)
{
    if (!kv) return;
    fk_kv_reset(kv);
    for (int g = 0; g < kv->pool->n_groups; g++) free(kv->table[g]);
    free(kv);
}

int fk_kv_len(const fk_kv *kv)
{
    return kv->len;
}

int fk_kv_capacity(const fk_kv *kv)
{
    return kv->capacity;
}

size_t fk_kv_held(const fk_kv *kv)
{
    size_t n = 0;
    for (int g = 0; g < kv->pool->n_groups; g++)
        for (int i = kv->lo[g]; i < kv->hi[g]; i++) n += kv->table[g][i] >= 0;
    return n;
}

/* Table entries group g must hold for positions from..to-1 to be stored and
 * attended to: [first, end). */
static void group_span(const fk_kv *kv, int g, int from, int to, int *first, int *end)
{
    int B = kv->pool->cache.block_tokens, w = kv->pool->window[g];
    int lo = w && from - w + 1 > 0 ? from - w + 1 : 0;
    *first = lo / B;
    *end = (to + B - 1) / B;
}

size_t fk_kv_reserve_cost(const fk_kv *kv, int n)
{
    size_t cost = 0;
    for (int g = 0; g < kv->pool->n_groups; g++) {
        int first, end;
        group_span(kv, g, kv->len, kv->len + n, &first, &end);
        for (int i = first; i < end; i++) cost += kv->table[g][i] < 0;
    }
    return cost;
}

fk_status fk_kv_reserve(fk_kv *kv, int n)
{
    fk_kv_pool *p = kv->pool;
    if (n < 0 || kv->len + n > kv->capacity) return FK_ERR_KV_FULL;
    /* Give back what no query from len on can see, then take what is missing. */
    for (int g = 0; g < p->n_groups; g++) {
        int first, end;
        group_span(kv, g, kv->len, kv->len + n, &first, &end);
        for (; kv->lo[g] < first && kv->lo[g] < kv->hi[g]; kv->lo[g]++) {
            int32_t *b = &kv->table[g][kv->lo[g]];
            if (*b >= 0) block_drop(p, *b);
            *b = -1;
        }
    }
    if (fk_kv_reserve_cost(kv, n) > p->n_free) return FK_ERR_KV_FULL;
    for (int g = 0; g < p->n_groups; g++) {
        int first, end;
        group_span(kv, g, kv->len, kv->len + n, &first, &end);
        if (kv->hi[g] == kv->lo[g]) kv->lo[g] = kv->hi[g] = first;
        for (int i = first; i < end; i++)
            if (kv->table[g][i] < 0) kv->table[g][i] = block_take(p);
        if (end > kv->hi[g]) kv->hi[g] = end;
    }
    return FK_OK;
}
