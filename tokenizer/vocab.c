/* vocab.c: the token table of a tokenizer and its hash maps (bytes -> id,
 * id pair -> merge). Built once by a loader, then read-only. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/fktok_internal.h"

/* ---- hashing ---- */

/* A fast non-cryptographic hash of a byte string (keys are a fixed vocabulary;
 * probing stays short for any query). */
static uint64_t hash_bytes(const unsigned char *s, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return h;
}

/* A slot's tag: high hash bits and the key length (saturated), so a probe
 * rejects nearly every other key without touching the token table. */
static uint32_t make_tag(uint64_t h, size_t n)
{
    return ((uint32_t)h & ~0xffu) | (uint32_t)(n < 0xff ? n : 0xff);
}

/* The first 8 bytes of a key, zero-padded. */
static uint64_t key_head(const void *s, size_t n)
{
    uint64_t w = 0;
    memcpy(&w, s, n < 8 ? n : 8);
    return w;
}

/* Whether slot holds the key s[0..n) with this tag and head. */
static int slot_matches(const fktok *t, const fk_slot *slot, uint32_t tag, uint64_t head,
                        const void *s, size_t n)
{
    if (slot->tag != tag || slot->head != head) return 0;
    if (n <= 8) return 1; /* tag holds the length, head all the bytes */
    return t->tok_len[slot->id] == n &&
           memcmp(t->blob + t->tok_off[slot->id] + 8, (const char *)s + 8, n - 8) == 0;
}

static uint64_t hash_pair(uint64_t key)
{
    key *= 0x9E3779B97F4A7C15ull;
    return key ^ (key >> 29);
}

/* ---- token table ---- */

int fk_vocab_init(fktok *t, size_t n_vocab)
{
    t->n_vocab = n_vocab;
    t->tok_off = calloc(n_vocab ? n_vocab : 1, sizeof *t->tok_off);
    t->tok_len = calloc(n_vocab ? n_vocab : 1, sizeof *t->tok_len);
    t->kind = calloc(n_vocab ? n_vocab : 1, 1);
    return t->tok_off && t->tok_len && t->kind ? 0 : -1;
}

int fk_vocab_set(fktok *t, int32_t id, const void *bytes, size_t len, int kind)
{
    if (t->kind[id] != FK_TOK_NONE) return -2;
    if (len > UINT32_MAX / 2) return -1;
    if (t->blob_len + len + 1 > t->blob_cap) {
        size_t cap = t->blob_cap ? t->blob_cap * 2 : 1 << 20;
        while (cap < t->blob_len + len + 1) cap *= 2;
        if (cap > UINT32_MAX) return -1;
        char *blob = realloc(t->blob, cap);
        if (!blob) return -1;
        t->blob = blob;
        t->blob_cap = cap;
    }
    memcpy(t->blob + t->blob_len, bytes, len);
    t->blob[t->blob_len + len] = '\0';
    t->tok_off[id] = (uint32_t)t->blob_len;
    t->tok_len[id] = (uint32_t)len;
    t->kind[id] = (uint8_t)kind;
    t->blob_len += len + 1;
    return 0;
}

static int bytemap_alloc(fk_bytemap *m, size_t n_keys)
{
    size_t cap = 16;
    while (cap < n_keys * 2) cap *= 2;
    m->slot = malloc(cap * sizeof *m->slot);
    if (!m->slot) return -1;
    for (size_t i = 0; i < cap; i++) m->slot[i] = (fk_slot){0, -1, 0};
    m->mask = cap - 1;
    m->n = 0;
    return 0;
}

/* Insert id (bytes from the table). Returns -1 when new, else the id that
 * already has the same bytes. */
static int32_t bytemap_insert(const fktok *t, fk_bytemap *m, int32_t id)
{
    const unsigned char *s = (const unsigned char *)t->blob + t->tok_off[id];
    size_t n = t->tok_len[id];
    uint64_t h = hash_bytes(s, n), head = key_head(s, n);
    uint32_t tag = make_tag(h, n);
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        int32_t other = m->slot[i].id;
        if (other < 0) {
            m->slot[i] = (fk_slot){tag, id, head};
            m->n++;
            return -1;
        }
        if (slot_matches(t, &m->slot[i], tag, head, s, n)) return other;
    }
}

uint64_t fk_bytemap_hash(const void *s, size_t n)
{
    return hash_bytes(s, n);
}

void fk_bytemap_prefetch(const fk_bytemap *m, uint64_t h)
{
    if (m->slot) __builtin_prefetch(&m->slot[h & m->mask]);
}

int32_t fk_bytemap_find(const fktok *t, const fk_bytemap *m, const void *s, size_t n, uint64_t h)
{
    if (!m->slot) return -1;
    uint64_t head = key_head(s, n);
    uint32_t tag = make_tag(h, n);
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        int32_t id = m->slot[i].id;
        if (id < 0) return -1;
        if (slot_matches(t, &m->slot[i], tag, head, s, n)) return id;
    }
}

int32_t fk_bytemap_get(const fktok *t, const fk_bytemap *m, const void *s, size_t n)
{
    return fk_bytemap_find(t, m, s, n, hash_bytes(s, n));
}

/* Remember one more distinct added-token length (longest first). */
static void note_added_len(fktok *t, size_t len)
{
    for (size_t i = 0; i < t->n_added_lens; i++)
        if (t->added_lens[i] == len) return;
    size_t i = t->n_added_lens++;
    while (i > 0 && t->added_lens[i - 1] < len) {
        t->added_lens[i] = t->added_lens[i - 1];
        i--;
    }
    t->added_lens[i] = len;
}

long fk_vocab_index(fktok *t, int32_t *dup_of)
{
    size_t n_ord = 0, n_add = 0;
    for (size_t id = 0; id < t->n_vocab; id++) {
        if (t->kind[id] == FK_TOK_ORDINARY)
            n_ord++;
        else if (t->kind[id] != FK_TOK_NONE)
            n_add++;
    }
    if (bytemap_alloc(&t->ordinary, n_ord) || bytemap_alloc(&t->added, n_add)) return -1;
    t->added_lens = malloc((n_add ? n_add : 1) * sizeof *t->added_lens); /* room for all */
    if (!t->added_lens) return -1;
    for (size_t id = 0; id < t->n_vocab; id++) {
        int kind = t->kind[id];
        if (kind == FK_TOK_NONE) continue;
        fk_bytemap *m = kind == FK_TOK_ORDINARY ? &t->ordinary : &t->added;
        int32_t other = bytemap_insert(t, m, (int32_t)id);
        if (other >= 0) {
            *dup_of = other;
            return (long)id;
        }
        if (kind == FK_TOK_ORDINARY || t->tok_len[id] == 0) continue;
        t->added_first[(unsigned char)t->blob[t->tok_off[id]]] = 1;
        note_added_len(t, t->tok_len[id]);
        if (kind == FK_TOK_ADDED_PLAIN) t->has_plain_added = 1;
    }
    return 0;
}

/* ---- merges ---- */

/* Rehash into cap slots (a power of two above 2n). 0, or -1 on OOM. */
static int pairmap_rehash(fk_pairmap *m, size_t cap)
{
    fk_pair *slot = malloc(cap * sizeof *slot);
    if (!slot) return -1;
    for (size_t i = 0; i < cap; i++) slot[i].key = UINT64_MAX;
    for (size_t i = 0; m->slot && i <= m->mask; i++) {
        if (m->slot[i].key == UINT64_MAX) continue;
        size_t j = hash_pair(m->slot[i].key) & (cap - 1);
        while (slot[j].key != UINT64_MAX) j = (j + 1) & (cap - 1);
        slot[j] = m->slot[i];
    }
    free(m->slot);
    m->slot = slot;
    m->mask = cap - 1;
    return 0;
}

int fk_pairmap_put(fk_pairmap *m, int32_t left, int32_t right, int32_t prio, int32_t result)
{
    if ((!m->slot || (m->n + 1) * 2 > m->mask + 1) &&
        pairmap_rehash(m, m->slot ? (m->mask + 1) * 2 : 1024))
        return -1;
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    size_t i = hash_pair(key) & m->mask;
    while (m->slot[i].key != UINT64_MAX && m->slot[i].key != key) i = (i + 1) & m->mask;
    if (m->slot[i].key != key) m->n++;
    m->slot[i] = (fk_pair){.key = key, .prio = prio, .result = result};
    return 0;
}

int fk_pairmap_reserve(fk_pairmap *m, size_t n)
{
    size_t cap = m->slot ? m->mask + 1 : 1024;
    while (cap < 2 * n + 2) cap *= 2;
    return m->slot && cap == m->mask + 1 ? 0 : pairmap_rehash(m, cap);
}

void fk_pairmap_prefetch(const fk_pairmap *m, int32_t left, int32_t right)
{
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    if (m->slot) __builtin_prefetch(&m->slot[hash_pair(key) & m->mask]);
}

const fk_pair *fk_pairmap_get(const fk_pairmap *m, int32_t left, int32_t right)
{
    if (!m->slot) return NULL;
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (size_t i = hash_pair(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->slot[i].key == key) return &m->slot[i];
        if (m->slot[i].key == UINT64_MAX) return NULL;
    }
}
