/* test_response_store.c: the stored responses' three bounds (count, age,
 * bytes), oldest first, with time driven by the test; lookups, replacement,
 * deletion, and many entries (the hash grows). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/response_store.h"
#include "tests/tap.h"

static json_t *resp(const char *id)
{
    return json_pack("{s:s, s:s}", "id", id, "object", "response");
}

/* Stores id with a conversation of `n` bytes of text. */
static int put(fk_response_store *s, const fk_store_limits *lim, double now, const char *id,
               size_t n)
{
    char *text = malloc(n + 1);
    memset(text, 'x', n);
    text[n] = '\0';
    json_t *r = resp(id), *items = json_pack("[{s:s}]", "text", text);
    int rc = fk_response_store_put(s, lim, now, id, r, items);
    json_decref(r);
    json_decref(items);
    free(text);
    return rc;
}

static int has(fk_response_store *s, const fk_store_limits *lim, double now, const char *id)
{
    return fk_response_store_get(s, lim, now, id, NULL, NULL);
}

static void count_bound(void)
{
    fk_store_limits lim = {3, 1000, 1 << 20};
    fk_response_store *s = fk_response_store_new();
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        is_int(put(s, &lim, i, id, 10), 1, "put %s", id);
    }
    is_int((long long)fk_response_store_count(s), 3, "count bound: 3 kept");
    ok(!has(s, &lim, 5, "r0") && !has(s, &lim, 5, "r1"), "the two oldest went");
    ok(has(s, &lim, 5, "r2") && has(s, &lim, 5, "r3") && has(s, &lim, 5, "r4"), "the newest stay");
    json_t *r = NULL, *items = NULL;
    fk_response_store_get(s, &lim, 5, "r3", &r, &items);
    is_str(json_string_value(json_object_get(r, "id")), "r3", "get returns the response");
    is_int((long long)json_array_size(items), 1, "... and the items");
    fk_store_limits none = {0, 1000, 1 << 20};
    is_int(put(s, &none, 6, "r9", 10), 0, "max_count 0 keeps nothing");
    fk_response_store_free(s);
}

static void age_bound(void)
{
    fk_store_limits lim = {100, 60, 1 << 20};
    fk_response_store *s = fk_response_store_new();
    put(s, &lim, 0, "a", 10);
    put(s, &lim, 30, "b", 10);
    ok(has(s, &lim, 60, "a"), "60 s old: still there");
    ok(!has(s, &lim, 61, "a"), "61 s old: expired");
    ok(has(s, &lim, 61, "b"), "the younger one stays");
    is_int((long long)fk_response_store_count(s), 1, "the expired one was dropped");
    is_int(fk_response_store_delete(s, &lim, 200, "b"), 0, "an expired id cannot be deleted");
    is_int((long long)fk_response_store_count(s), 0, "empty");
    fk_response_store_free(s);
}

static void byte_bound(void)
{
    fk_store_limits lim = {100, 1000, 3000};
    fk_response_store *s = fk_response_store_new();
    put(s, &lim, 0, "a", 1000);
    put(s, &lim, 1, "b", 1000);
    ok(fk_response_store_bytes(s) > 2000 && fk_response_store_bytes(s) <= 3000,
       "two of 1000 bytes counted (%zu)", fk_response_store_bytes(s));
    put(s, &lim, 2, "c", 1000);
    ok(!has(s, &lim, 3, "a") && has(s, &lim, 3, "b") && has(s, &lim, 3, "c"),
       "a third evicts the oldest");
    ok(fk_response_store_bytes(s) <= 3000, "never over the bound (%zu)",
       fk_response_store_bytes(s));
    is_int(put(s, &lim, 4, "huge", 5000), 0, "one larger than the bound is not kept");
    ok(has(s, &lim, 4, "b") && has(s, &lim, 4, "c"), "... and evicts nothing");
    fk_response_store_free(s);
}

static void replace_and_delete(void)
{
    fk_store_limits lim = {100, 1000, 1 << 20};
    fk_response_store *s = fk_response_store_new();
    put(s, &lim, 0, "a", 10);
    size_t before = fk_response_store_bytes(s);
    put(s, &lim, 1, "a", 100);
    is_int((long long)fk_response_store_count(s), 1, "the same id replaces");
    ok(fk_response_store_bytes(s) > before, "with the new size");
    is_int(fk_response_store_delete(s, &lim, 2, "a"), 1, "delete a stored id");
    is_int(fk_response_store_delete(s, &lim, 2, "a"), 0, "twice: unknown");
    ok(!has(s, &lim, 2, "a"), "gone");
    is_int((long long)fk_response_store_bytes(s), 0, "no bytes left");
    fk_response_store_free(s);
}

static void many(void)
{
    fk_store_limits lim = {100000, 1e9, (size_t)1 << 30};
    fk_response_store *s = fk_response_store_new();
    int all = 1;
    for (int i = 0; i < 5000; i++) {
        char id[16];
        snprintf(id, sizeof id, "resp_%d", i);
        all &= put(s, &lim, i * 1e-3, id, 1) == 1;
    }
    ok(all, "5000 stored");
    int found = 1;
    for (int i = 0; i < 5000; i += 7) {
        char id[16];
        snprintf(id, sizeof id, "resp_%d", i);
        json_t *r = NULL;
        found &= fk_response_store_get(s, &lim, 10, id, &r, NULL) &&
                 !strcmp(json_string_value(json_object_get(r, "id")), id);
    }
    ok(found, "each found under its own id after the hash grew");
    ok(!has(s, &lim, 10, "resp_5000"), "an unknown id is not");
    fk_response_store_free(s);
}

int main(void)
{
    count_bound();
    age_bound();
    byte_bound();
    replace_and_delete();
    many();
    return done_testing();
}
