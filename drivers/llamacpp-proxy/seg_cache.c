/* seg_cache.c: recent long text segments and their ids (see seg_cache.h). */
#include "seg_cache.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a over 8 bytes at a time (the bytes' order matters, not their alignment). */
static uint64_t hash_text(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h ^ (h >> 32);
}

int seg_cache_fits(size_t len)
{
    return len >= SEG_CACHE_MIN_BYTES && len <= SEG_CACHE_MAX_BYTES;
}

const seg_entry *seg_cache_get(seg_cache *c, const char *text, size_t len)
{
    uint64_t h = hash_text(text, len);
    const seg_entry *e = &c->slot[h % SEG_CACHE_SLOTS];
    if (e->text && e->hash == h && e->len == len && memcmp(e->text, text, len) == 0) {
        c->hits++;
        return e;
    }
    c->misses++;
    return NULL;
}

static void entry_free(seg_entry *e)
{
    free(e->text);
    free(e->ids);
    memset(e, 0, sizeof *e);
}

void seg_cache_put(seg_cache *c, const char *text, size_t len, const int32_t *ids, size_t n)
{
    uint64_t h = hash_text(text, len);
    seg_entry *e = &c->slot[h % SEG_CACHE_SLOTS];
    entry_free(e);
    char *t = malloc(len);
    int32_t *copy = malloc((n ? n : 1) * sizeof *copy);
    if (!t || !copy) {
        free(t);
        free(copy);
        return;
    }
    memcpy(t, text, len);
    memcpy(copy, ids, n * sizeof *copy);
    *e = (seg_entry){h, t, len, copy, n};
}

void seg_cache_clear(seg_cache *c)
{
    for (size_t i = 0; i < SEG_CACHE_SLOTS; i++) entry_free(&c->slot[i]);
}
