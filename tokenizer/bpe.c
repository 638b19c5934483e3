/* bpe.c: byte-pair merging of one pre-token. Symbols form a linked list over
 * the piece's bytes; candidate merges wait in a binary min-heap keyed by
 * (priority, position), so a piece of n bytes costs O(n log n) however long
 * it is. Stale heap entries are skipped when popped. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/fktok_internal.h"

int fk_ids_push(fktok_ids *out, int32_t id)
{
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 64;
        int32_t *ids = realloc(out->ids, cap * sizeof *ids);
        if (!ids) return -1;
        out->ids = ids;
        out->cap = cap;
    }
    out->ids[out->n++] = id;
    return 0;
}

void fk_bpe_scratch_free(fk_bpe_scratch *scratch)
{
    free(scratch->id);
    free(scratch->prev);
    free(scratch->next);
    free(scratch->heap);
    free(scratch->memo);
    memset(scratch, 0, sizeof *scratch);
}

/* Make room for n symbols (and 3n heap entries: n-1 initial pairs plus two
 * per merge). 0, or -1 on OOM. */
static int scratch_reserve(fk_bpe_scratch *s, size_t n)
{
    if (n <= s->cap) return 0;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < n) cap *= 2;
    int32_t *id = realloc(s->id, cap * sizeof *id);
    if (id) s->id = id;
    int32_t *prev = realloc(s->prev, cap * sizeof *prev);
    if (prev) s->prev = prev;
    int32_t *next = realloc(s->next, cap * sizeof *next);
    if (next) s->next = next;
    uint64_t *heap = realloc(s->heap, 3 * cap * sizeof *heap);
    if (heap) s->heap = heap;
    if (!id || !prev || !next || !heap) return -1;
    s->cap = cap;
    return 0;
}

static void heap_push(uint64_t *heap, size_t *n, uint64_t v)
{
    size_t i = (*n)++;
    while (i > 0 && heap[(i - 1) / 2] > v) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = v;
}

static uint64_t heap_pop(uint64_t *heap, size_t *n)
{
    uint64_t top = heap[0], v = heap[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap[c + 1] < heap[c]) c++;
        if (heap[c] >= v) break;
        heap[i] = heap[c];
        i = c;
    }
    heap[i] = v;
    return top;
}

/* Whether symbol pos merges with its right neighbour: 1 with the merge's
 * priority and resulting id, else 0. By rank (tiktoken): the bytes the two
 * symbols cover must be a token, whose rank is the priority. By merge list
 * (tokenizer.json): the id pair must be listed. Either way the answer depends
 * only on the two ids, so it is memoised for the rest of this call. */
static int pair_merge(const fktok *t, const unsigned char *bytes, size_t n, fk_bpe_scratch *s,
                      int32_t pos, int32_t *prio, int32_t *result)
{
    int32_t right = s->next[pos];
    uint64_t key = (uint64_t)(uint32_t)s->id[pos] << 32 | (uint32_t)s->id[right];
    fk_pair *memo = &s->memo[(key * 0x9E3779B97F4A7C15ull) >> (64 - s->memo_bits)];
    if (memo->key != key) {
        memo->key = key;
        memo->prio = memo->result = -1;
        if (t->merge_by_rank) {
            size_t end = s->next[right] >= 0 ? (size_t)s->next[right] : n;
            memo->prio = memo->result =
                fk_bytemap_get(t, &t->ordinary, bytes + pos, end - (size_t)pos);
        } else {
            const fk_pair *p = fk_pairmap_get(&t->merges, s->id[pos], s->id[right]);
            if (p) memo->prio = p->prio, memo->result = p->result;
        }
    }
    *prio = memo->prio;
    *result = memo->result;
    return memo->prio >= 0;
}

/* Queue the merge of symbol pos with its right neighbour, if one exists. */
static void queue_pair(const fktok *t, const unsigned char *bytes, size_t n, fk_bpe_scratch *s,
                       size_t *n_heap, int32_t pos)
{
    int32_t prio, result;
    if (pos < 0 || s->next[pos] < 0 || !pair_merge(t, bytes, n, s, pos, &prio, &result)) return;
    heap_push(s->heap, n_heap, (uint64_t)(uint32_t)prio << 32 | (uint32_t)pos);
}

int fk_bpe_piece(const fktok *t, const unsigned char *bytes, size_t n, fk_bpe_scratch *s,
                 fktok_ids *out)
{
    if (n == 1) return fk_ids_push(out, t->byte_id[bytes[0]]);
    if (t->ignore_merges) {
        int32_t whole = fk_bytemap_get(t, &t->ordinary, bytes, n);
        if (whole >= 0) return fk_ids_push(out, whole);
    }
    if (n > INT32_MAX / 4 || scratch_reserve(s, n)) return -1;
    if (!s->memo) {
        size_t entries = (size_t)1 << s->memo_bits;
        s->memo = malloc(entries * sizeof *s->memo);
        if (!s->memo) return -1;
        for (size_t i = 0; i < entries; i++) s->memo[i].key = UINT64_MAX;
    }
    for (size_t i = 0; i < n; i++) {
        s->id[i] = t->byte_id[bytes[i]];
        s->prev[i] = (int32_t)i - 1;
        s->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    size_t n_heap = 0;
    for (size_t i = 0; i + 1 < n; i++) queue_pair(t, bytes, n, s, &n_heap, (int32_t)i);
    while (n_heap > 0) {
        uint64_t top = heap_pop(s->heap, &n_heap);
        int32_t pos = (int32_t)(uint32_t)top, prio = (int32_t)(top >> 32);
        int32_t now_prio, result;
        if (s->id[pos] < 0 || s->next[pos] < 0) continue;
        if (!pair_merge(t, bytes, n, s, pos, &now_prio, &result) || now_prio != prio)
            continue; /* a neighbour changed since this pair was queued */
        int32_t right = s->next[pos];
        s->id[pos] = result;
        s->id[right] = -1;
        s->next[pos] = s->next[right];
        if (s->next[pos] >= 0) s->prev[s->next[pos]] = pos;
        queue_pair(t, bytes, n, s, &n_heap, s->prev[pos]);
        queue_pair(t, bytes, n, s, &n_heap, pos);
    }
    for (int32_t i = 0; i >= 0; i = s->next[i])
        if (fk_ids_push(out, s->id[i])) return -1;
    return 0;
}
