/* seg_cache.h: token ids of recent long text segments, so a prompt's
 * boilerplate (the Harmony system message, tool definitions, the earlier
 * turns of a conversation) is tokenized once, not at every request.
 *
 * Text segments are tokenized each on its own (tokenizer/segments.h), so the
 * ids of a segment depend only on its bytes: a hit is exact. The table is
 * direct-mapped (SEG_CACHE_SLOTS entries by hash), holds segments of
 * SEG_CACHE_MIN_BYTES .. SEG_CACHE_MAX_BYTES, and is used by the loop thread
 * only. */
#ifndef FK_LLAMA_SEG_CACHE_H
#define FK_LLAMA_SEG_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define SEG_CACHE_SLOTS 64
#define SEG_CACHE_MIN_BYTES 32
#define SEG_CACHE_MAX_BYTES 65536

/* One remembered segment. */
typedef struct seg_entry {
    uint64_t hash; /* of the text */
    char *text;    /* the text (owned), NULL when the slot is empty */
    size_t len;    /* its length */
    int32_t *ids;  /* its ids (owned) */
    size_t n_ids;  /* how many */
} seg_entry;

typedef struct seg_cache {
    seg_entry slot[SEG_CACHE_SLOTS]; /* by hash % SEG_CACHE_SLOTS */
    uint64_t hits, misses;           /* lookups of cacheable segments */
} seg_cache;

/* 1 when text of len bytes is worth caching. */
int seg_cache_fits(size_t len);
/* The ids of text, or NULL. */
const seg_entry *seg_cache_get(seg_cache *c, const char *text, size_t len);
/* Remember ids[0..n) for text (copied; on OOM nothing is remembered). */
void seg_cache_put(seg_cache *c, const char *text, size_t len, const int32_t *ids, size_t n);
void seg_cache_clear(seg_cache *c);

#endif
