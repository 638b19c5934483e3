/* response_store.h: the Responses API's stored responses, in memory.
 *
 * A stored response is what GET /v1/responses/{id} returns and the
 * conversation through it (every input and output item, the earlier turns'
 * included), which a request naming it as previous_response_id continues.
 * The store is bounded three ways, oldest evicted first:
 *
 *   count   at most max_count responses        FK_RESPONSES_STORE_MAX
 *   age     none older than ttl_s seconds      FK_RESPONSES_STORE_TTL_S
 *   bytes   at most max_bytes in all           FK_RESPONSES_STORE_MB
 *
 * An entry's bytes are its JSON size (response + whole conversation), so a
 * conversation's shared items count once per response that holds them: the
 * bound is on the worst case, not the sharing. Time is passed in (seconds
 * on any monotonic clock), so tests can drive it. Loop thread only.
 *
 * Ownership: the store holds one reference to each response and items array
 * it keeps; what get() returns is borrowed until the next call that changes
 * the store. Stored JSON is never modified (the items are shared between
 * entries by reference). */
#ifndef FK_GATEWAY_RESPONSE_STORE_H
#define FK_GATEWAY_RESPONSE_STORE_H

#include <jansson.h>
#include <stddef.h>

typedef struct fk_response_store fk_response_store;

typedef struct fk_store_limits {
    long max_count;   /* responses kept at most (0: none) */
    double ttl_s;     /* seconds a response is kept */
    size_t max_bytes; /* bytes kept at most, all entries together */
} fk_store_limits;

/* An empty store; NULL on OOM. */
fk_response_store *fk_response_store_new(void);
void fk_response_store_free(fk_response_store *s);

/* Keep `response` and `items` under `id` (a reference to each is taken;
 * an entry with the same id is replaced), evicting what the limits require.
 * 1 when kept, 0 when the limits leave no room for it (max_count 0, or larger
 * than max_bytes alone), -1 on OOM. */
int fk_response_store_put(fk_response_store *s, const fk_store_limits *lim, double now,
                          const char *id, json_t *response, json_t *items);
/* The entry under `id` (borrowed), after dropping what has expired. 1 when
 * found, 0 when unknown or expired. Either out pointer may be NULL. */
int fk_response_store_get(fk_response_store *s, const fk_store_limits *lim, double now,
                          const char *id, json_t **response, json_t **items);
/* Forget `id`. 1 when it was stored (and not expired), else 0. */
int fk_response_store_delete(fk_response_store *s, const fk_store_limits *lim, double now,
                             const char *id);
/* Responses and bytes kept now. */
size_t fk_response_store_count(const fk_response_store *s);
size_t fk_response_store_bytes(const fk_response_store *s);

#endif
