/* response_store.c: stored responses (see response_store.h): a hash of ids
 * over a list in storing order (oldest first), which is also age order. */
#include "response_store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_BUCKETS 64 /* grows by doubling while count > buckets */

typedef struct entry {
    char *id;            /* the response id (owned) */
    json_t *response;    /* what GET returns (one reference) */
    json_t *items;       /* the conversation through it (one reference) */
    size_t bytes;        /* counted against max_bytes */
    double stored_at;    /* `now` when stored */
    struct entry *older; /* age list: the entry stored before, or NULL */
    struct entry *newer; /* the entry stored after, or NULL */
    struct entry *next;  /* next in its hash bucket */
} entry;

struct fk_response_store {
    entry **buckets;  /* n_buckets chains */
    size_t n_buckets; /* a power of two */
    entry *oldest;    /* head of the age list */
    entry *newest;    /* tail of the age list */
    size_t count;     /* entries */
    size_t bytes;     /* sum of their bytes */
};

/* FNV-1a. */
static size_t hash(const char *id)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    return (size_t)h;
}

fk_response_store *fk_response_store_new(void)
{
    fk_response_store *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->buckets = calloc(FIRST_BUCKETS, sizeof *s->buckets);
    if (!s->buckets) {
        free(s);
        return NULL;
    }
    s->n_buckets = FIRST_BUCKETS;
    return s;
}

static void entry_free(entry *e)
{
    free(e->id);
    json_decref(e->response);
    json_decref(e->items);
    free(e);
}

void fk_response_store_free(fk_response_store *s)
{
    if (!s) return;
    for (entry *e = s->oldest, *next; e; e = next) {
        next = e->newer;
        entry_free(e);
    }
    free(s->buckets);
    free(s);
}

static entry **slot_of(const fk_response_store *s, const char *id)
{
    entry **p = &s->buckets[hash(id) & (s->n_buckets - 1)];
    while (*p && strcmp((*p)->id, id) != 0) p = &(*p)->next;
    return p;
}

/* Unlink and free the entry that *slot points to. */
static void remove_at(fk_response_store *s, entry **slot)
{
    entry *e = *slot;
    *slot = e->next;
    if (e->older)
        e->older->newer = e->newer;
    else
        s->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        s->newest = e->older;
    s->count--;
    s->bytes -= e->bytes;
    entry_free(e);
}

static void remove_oldest(fk_response_store *s)
{
    remove_at(s, slot_of(s, s->oldest->id));
}

static void drop_expired(fk_response_store *s, const fk_store_limits *lim, double now)
{
    while (s->oldest && now - s->oldest->stored_at > lim->ttl_s) remove_oldest(s);
}

/* Double the buckets (on OOM keep the chains longer). */
static void grow(fk_response_store *s)
{
    size_t n = s->n_buckets * 2;
    entry **b = calloc(n, sizeof *b);
    if (!b) return;
    for (entry *e = s->oldest; e; e = e->newer) {
        entry **head = &b[hash(e->id) & (n - 1)];
        e->next = *head;
        *head = e;
    }
    free(s->buckets);
    s->buckets = b;
    s->n_buckets = n;
}

static size_t json_size(const json_t *j)
{
    return json_dumpb(j, NULL, 0, JSON_COMPACT);
}

int fk_response_store_put(fk_response_store *s, const fk_store_limits *lim, double now,
                          const char *id, json_t *response, json_t *items)
{
    entry **old = slot_of(s, id);
    if (*old) remove_at(s, old);
    size_t bytes = strlen(id) + sizeof(entry) + json_size(response) + json_size(items);
    if (lim->max_count <= 0 || bytes > lim->max_bytes) return 0;
    drop_expired(s, lim, now);
    while (s->oldest && ((long)s->count >= lim->max_count || s->bytes + bytes > lim->max_bytes))
        remove_oldest(s);
    entry *e = calloc(1, sizeof *e);
    if (!e || !(e->id = strdup(id))) {
        free(e);
        return -1;
    }
    e->response = json_incref(response);
    e->items = json_incref(items);
    e->bytes = bytes;
    e->stored_at = now;
    e->older = s->newest;
    if (s->newest)
        s->newest->newer = e;
    else
        s->oldest = e;
    s->newest = e;
    entry **head = &s->buckets[hash(id) & (s->n_buckets - 1)];
    e->next = *head;
    *head = e;
    s->count++;
    s->bytes += bytes;
    if (s->count > s->n_buckets) grow(s);
    return 1;
}

int fk_response_store_get(fk_response_store *s, const fk_store_limits *lim, double now,
                          const char *id, json_t **response, json_t **items)
{
    drop_expired(s, lim, now);
    entry *e = *slot_of(s, id);
    if (response) *response = e ? e->response : NULL;
    if (items) *items = e ? e->items : NULL;
    return e != NULL;
}

int fk_response_store_delete(fk_response_store *s, const fk_store_limits *lim, double now,
                             const char *id)
{
    drop_expired(s, lim, now);
    entry **slot = slot_of(s, id);
    if (!*slot) return 0;
    remove_at(s, slot);
    return 1;
}

size_t fk_response_store_count(const fk_response_store *s)
{
    return s->count;
}

size_t fk_response_store_bytes(const fk_response_store *s)
{
    return s->bytes;
}
