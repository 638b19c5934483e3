/* kv.c: the paged KV cache: a pool of blocks, each sequence's block
 * tables, and the prefix cache's use of them (layout and rules in kv.h).
 * Host bookkeeping only: nothing here touches KV data, so nothing here is
 * slow. */
#include "kv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    p->node_of = malloc(p->n_blocks * sizeof *p->node_of);
    p->lru_prev = malloc(p->n_blocks * sizeof *p->lru_prev);
    p->lru_next = malloc(p->n_blocks * sizeof *p->lru_next);
    p->cache.base = p->be->ops->alloc(p->be, p->n_blocks * fk_kv_block_bytes(p));
    if (!p->ref || !p->free_ids || !p->node_of || !p->lru_prev || !p->lru_next || !p->cache.base ||
        fk_prefix_init(p) != 0)
        goto oom;
    /* Lowest ids on top: a lightly used pool stays in few pages. */
    for (size_t i = 0; i < p->n_blocks; i++) {
        p->free_ids[i] = (int32_t)(p->n_blocks - 1 - i);
        p->node_of[i] = -1;
    }
    p->n_free = p->n_blocks;
    p->lru_head = p->lru_tail = -1;
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
    fk_prefix_free(p);
    free(p->ref);
    free(p->free_ids);
    free(p->node_of);
    free(p->lru_prev);
    free(p->lru_next);
    free(p);
}

void fk_kv_pool_set_prefix_cache(fk_kv_pool *p, int on)
{
    p->prefix_on = on != 0;
}

uint64_t fk_kv_pool_evictions(const fk_kv_pool *p)
{
    return p->evictions;
}

size_t fk_kv_pool_blocks(const fk_kv_pool *p)
{
    return p->n_blocks;
}

size_t fk_kv_pool_free_blocks(const fk_kv_pool *p)
{
    return p->n_free + p->n_lru;
}

size_t fk_kv_pool_cached_blocks(const fk_kv_pool *p)
{
    return p->n_lru;
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

/* ---- blocks ---------------------------------------------------------------------- */

static void lru_unlink(fk_kv_pool *p, int32_t b)
{
    int32_t prev = p->lru_prev[b], next = p->lru_next[b];
    if (prev >= 0)
        p->lru_next[prev] = next;
    else
        p->lru_head = next;
    if (next >= 0)
        p->lru_prev[next] = prev;
    else
        p->lru_tail = prev;
    p->n_lru--;
}

static void lru_append(fk_kv_pool *p, int32_t b)
{
    p->lru_prev[b] = p->lru_tail;
    p->lru_next[b] = -1;
    if (p->lru_tail >= 0)
        p->lru_next[p->lru_tail] = b;
    else
        p->lru_head = b;
    p->lru_tail = b;
    p->n_lru++;
}

/* The group whose cached block b is, in its node. */
static int cached_group(const fk_kv_pool *p, int32_t b)
{
    const fk_prefix_node *nd = &p->nodes[p->node_of[b]];
    for (int g = 0; g < FK_KV_MAX_GROUPS; g++)
        if (nd->block[g] == b) return g;
    return 0;
}

/* A block with one reference: a free one, else the least recently used
 * cached one (evicted from the prefix cache), else -1. */
static int32_t block_take(fk_kv_pool *p)
{
    int32_t b;
    if (p->n_free) {
        b = p->free_ids[--p->n_free];
    } else if (p->lru_head >= 0) {
        b = p->lru_head;
        lru_unlink(p, b);
        fk_prefix_forget(p, p->node_of[b], cached_group(p, b));
        p->node_of[b] = -1;
        p->evictions++;
    } else {
        return -1;
    }
    p->ref[b] = 1;
    return b;
}

/* One more reference on a block found in the prefix cache. */
static void block_share(fk_kv_pool *p, int32_t b)
{
    if (p->ref[b]++ == 0) lru_unlink(p, b);
}

/* Drop one reference. The last one frees the block, or, when it is cached,
 * makes it the most recently used candidate for eviction. */
static void block_drop(fk_kv_pool *p, int32_t b)
{
    if (--p->ref[b] > 0) return;
    if (p->node_of[b] >= 0)
        lru_append(p, b);
    else
        p->free_ids[p->n_free++] = b;
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
    kv->tokens = malloc((size_t)max_tokens * sizeof *kv->tokens);
    kv->serial = calloc((size_t)kv->n_table, sizeof *kv->serial);
    int ok = kv->tokens && kv->serial;
    for (int g = 0; ok && g < pool->n_groups; g++) {
        kv->table[g] = malloc((size_t)kv->n_table * sizeof *kv->table[g]);
        ok = kv->table[g] != NULL;
        for (int i = 0; ok && i < kv->n_table; i++) kv->table[g][i] = -1;
    }
    if (ok) return kv;
    for (int g = 0; g < pool->n_groups; g++) free(kv->table[g]);
    free(kv->tokens);
    free(kv->serial);
    free(kv);
    return NULL;
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
    kv->n_committed = 0;
}

void fk_kv_free(fk_kv *kv)
{
    if (!kv) return;
    fk_kv_reset(kv);
    for (int g = 0; g < kv->pool->n_groups; g++) free(kv->table[g]);
    free(kv->tokens);
    free(kv->serial);
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
static void group_span(const fk_kv_pool *p, int g, int from, int to, int *first, int *end)
{
    int B = p->cache.block_tokens, w = p->window[g];
    int lo = w && from - w + 1 > 0 ? from - w + 1 : 0;
    *first = lo / B;
    *end = (to + B - 1) / B;
}

size_t fk_kv_reserve_cost(const fk_kv *kv, int n)
{
    size_t cost = 0;
    for (int g = 0; g < kv->pool->n_groups; g++) {
        int first, end;
        group_span(kv->pool, g, kv->len, kv->len + n, &first, &end);
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
        group_span(p, g, kv->len, kv->len + n, &first, &end);
        for (; kv->lo[g] < first && kv->lo[g] < kv->hi[g]; kv->lo[g]++) {
            int32_t *b = &kv->table[g][kv->lo[g]];
            if (*b >= 0) block_drop(p, *b);
            *b = -1;
        }
    }
    if (fk_kv_reserve_cost(kv, n) > fk_kv_pool_free_blocks(p)) return FK_ERR_KV_FULL;
    for (int g = 0; g < p->n_groups; g++) {
        int first, end;
        group_span(p, g, kv->len, kv->len + n, &first, &end);
        if (kv->hi[g] == kv->lo[g]) kv->lo[g] = kv->hi[g] = first;
        for (int i = first; i < end; i++)
            if (kv->table[g][i] < 0) kv->table[g][i] = block_take(p);
        if (end > kv->hi[g]) kv->hi[g] = end;
    }
    return FK_OK;
}

/* ---- the prefix cache ------------------------------------------------------------ */

/* Enter full block j of the sequence: its node (found or made) and, for each
 * group that holds the block and has none cached yet, the block itself.
 * -1 when no node can be had (the chain stops there). */
static int commit_block(fk_kv *kv, int j)
{
    fk_kv_pool *p = kv->pool;
    const int32_t *t = kv->tokens + (size_t)j * p->cache.block_tokens;
    uint64_t parent = j ? kv->serial[j - 1] : 0;
    int32_t nd = fk_prefix_find(p, parent, t);
    if (nd < 0 && (nd = fk_prefix_add(p, parent, t)) < 0) return -1;
    fk_prefix_node *node = &p->nodes[nd];
    int any = 0;
    for (int g = 0; g < p->n_groups; g++) {
        int32_t b = kv->table[g][j];
        if (b >= 0 && node->block[g] < 0 && p->node_of[b] < 0) {
            node->block[g] = b;
            p->node_of[b] = nd;
        }
        any |= node->block[g] >= 0;
    }
    kv->serial[j] = node->serial;
    if (!any) fk_prefix_forget(p, nd, 0); /* nothing to keep: the node goes */
    return 0;
}

void fk_kv_advance(fk_kv *kv, const int32_t *tokens, int n)
{
    memcpy(kv->tokens + kv->len, tokens, (size_t)n * sizeof *tokens);
    kv->len += n;
    if (!kv->pool->prefix_on) return;
    int full = kv->len / kv->pool->cache.block_tokens;
    while (kv->n_committed < full && commit_block(kv, kv->n_committed) == 0) kv->n_committed++;
}

/* 1 when the cached nodes[0..h) give every group the blocks a sequence
 * continuing at position h * block_tokens reads. */
static int prefix_usable(const fk_kv_pool *p, const int32_t *nodes, int h)
{
    for (int g = 0; g < p->n_groups; g++) {
        int first, end;
        group_span(p, g, h * p->cache.block_tokens, h * p->cache.block_tokens, &first, &end);
        for (int j = first; j < h; j++)
            if (p->nodes[nodes[j]].block[g] < 0) return 0;
    }
    return 1;
}

int fk_kv_reuse_prefix(fk_kv *kv, const int32_t *tokens, int n, int min_left)
{
    fk_kv_pool *p = kv->pool;
    int B = p->cache.block_tokens;
    if (!p->prefix_on || kv->len != 0 || n > kv->capacity) return 0;
    int most = (n - min_left) / B, h = 0;
    int32_t *nodes = most > 0 ? malloc((size_t)most * sizeof *nodes) : NULL;
    if (!nodes) return 0;
    /* Walk the chain as far as it is cached. */
    uint64_t parent = 0;
    int found = 0;
    while (found < most) {
        int32_t nd = fk_prefix_find(p, parent, tokens + (size_t)found * B);
        if (nd < 0) break;
        nodes[found++] = nd;
        parent = p->nodes[nd].serial;
    }
    for (h = found; h > 0 && !prefix_usable(p, nodes, h); h--) continue;
    for (int g = 0; g < p->n_groups; g++) {
        int first, end;
        group_span(p, g, h * B, h * B, &first, &end);
        for (int j = first; j < h; j++) {
            int32_t b = p->nodes[nodes[j]].block[g];
            block_share(p, b);
            kv->table[g][j] = b;
        }
        kv->lo[g] = h ? first : 0;
        kv->hi[g] = h;
    }
    for (int j = 0; j < h; j++) kv->serial[j] = p->nodes[nodes[j]].serial;
    memcpy(kv->tokens, tokens, (size_t)h * B * sizeof *tokens);
    kv->len = h * B;
    kv->n_committed = h;
    free(nodes);
    return h * B;
}
