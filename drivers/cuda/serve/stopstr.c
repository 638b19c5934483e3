/* stopstr.c: hold back possible stop-string prefixes, drop matched text. */
#define _GNU_SOURCE /* memmem */
#include "stopstr.h"

#include <stdlib.h>
#include <string.h>

struct fk_stopstr {
    char **stops;    /* the stop strings (owned), n_stops of them */
    size_t *lens;    /* their byte lengths */
    size_t n_stops;  /* count */
    char *held;      /* text not yet released (owned) */
    size_t n_held;   /* bytes in held */
    size_t cap_held; /* allocated bytes of held */
    char *out;       /* the last release (owned) */
    size_t cap_out;  /* allocated bytes of out */
    int matched;     /* 1 once a stop string matched */
};

fk_stopstr *fk_stopstr_new(const char *const *stops, size_t n)
{
    fk_stopstr *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->stops = calloc(n ? n : 1, sizeof *s->stops);
    s->lens = calloc(n ? n : 1, sizeof *s->lens);
    if (!s->stops || !s->lens) goto oom;
    for (size_t i = 0; i < n; i++) {
        size_t len = stops[i] ? strlen(stops[i]) : 0;
        if (len == 0) continue;
        if (!(s->stops[s->n_stops] = strdup(stops[i]))) goto oom;
        s->lens[s->n_stops++] = len;
    }
    return s;
oom:
    fk_stopstr_free(s);
    return NULL;
}

void fk_stopstr_free(fk_stopstr *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n_stops; i++) free(s->stops[i]);
    free(s->stops);
    free(s->lens);
    free(s->held);
    free(s->out);
    free(s);
}

int fk_stopstr_active(const fk_stopstr *s)
{
    return s->n_stops > 0;
}

size_t fk_stopstr_held(const fk_stopstr *s)
{
    return s->n_held;
}

static int grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need) n *= 2;
    char *p = realloc(*buf, n);
    if (!p) return -1;
    *buf = p;
    *cap = n;
    return 0;
}

/* Move held[0..n) to the out buffer and drop it from held. */
static void release(fk_stopstr *s, size_t n, const char **out, size_t *out_len)
{
    if (n) memcpy(s->out, s->held, n);
    if (s->n_held > n) memmove(s->held, s->held + n, s->n_held - n);
    s->n_held -= n;
    *out = s->out;
    *out_len = n;
}

/* Offset of the earliest complete stop string in held, or n_held when none. */
static size_t earliest_match(const fk_stopstr *s)
{
    size_t best = s->n_held;
    for (size_t i = 0; i < s->n_stops; i++) {
        const char *hit = memmem(s->held, s->n_held, s->stops[i], s->lens[i]);
        if (hit && (size_t)(hit - s->held) < best) best = (size_t)(hit - s->held);
    }
    return best;
}

/* Length of the longest tail of held that is a proper prefix of a stop string. */
static size_t longest_partial(const fk_stopstr *s)
{
    size_t best = 0;
    for (size_t i = 0; i < s->n_stops; i++) {
        size_t k = s->lens[i] - 1 < s->n_held ? s->lens[i] - 1 : s->n_held;
        for (; k > best; k--) {
            if (memcmp(s->held + s->n_held - k, s->stops[i], k) == 0) {
                best = k;
                break;
            }
        }
    }
    return best;
}

int fk_stopstr_feed(fk_stopstr *s, const char *text, size_t len, const char **out, size_t *out_len)
{
    *out = "";
    *out_len = 0;
    if (s->matched) return 1;
    if (grow(&s->held, &s->cap_held, s->n_held + len) != 0) return -1;
    if (grow(&s->out, &s->cap_out, s->n_held + len) != 0) return -1;
    if (len) memcpy(s->held + s->n_held, text, len);
    s->n_held += len;
    if (s->n_held == 0) return 0;
    size_t at = earliest_match(s);
    if (at < s->n_held) {
        s->matched = 1;
        release(s, at, out, out_len);
        s->n_held = 0;
        return 1;
    }
    release(s, s->n_held - longest_partial(s), out, out_len);
    return 0;
}

void fk_stopstr_flush(fk_stopstr *s, const char **out, size_t *out_len)
{
    *out = "";
    *out_len = 0;
    if (s->matched || !s->n_held) return;
    release(s, s->n_held, out, out_len);
}
