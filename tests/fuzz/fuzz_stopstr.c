/* fuzz_stopstr: stop strings and token chunks from the input; the released
 * text must be exactly the text before the earliest stop-string occurrence
 * (or all of it when none occurs), whatever the chunking.
 *
 * Input: byte 0 -> 1..4 stop strings; each stop: a length byte (1..8) and
 * its bytes (NUL becomes 'a'); the rest: chunks, each a length byte (0..15)
 * and its bytes. */
#define _GNU_SOURCE /* memmem */
#include "drivers/cuda/serve/stopstr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Offset of the earliest occurrence of any stop in text, or len when none. */
static size_t earliest(const char *text, size_t len, char stops[][9], int n)
{
    size_t best = len;
    for (int i = 0; i < n; i++) {
        const char *hit = memmem(text, len, stops[i], strlen(stops[i]));
        if (hit && (size_t)(hit - text) < best) best = (size_t)(hit - text);
    }
    return best;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t at = 0;
    int n = data[at++] % 4 + 1;
    char stops[4][9] = {{0}};
    const char *ptrs[4];
    for (int i = 0; i < n; i++) {
        if (at >= size) return 0;
        size_t len = data[at++] % 8 + 1;
        for (size_t j = 0; j < len && at < size; j++, at++) stops[i][j] = data[at] ? data[at] : 'a';
        if (!stops[i][0]) stops[i][0] = 'a';
        ptrs[i] = stops[i];
    }
    fk_stopstr *s = fk_stopstr_new(ptrs, (size_t)n);
    if (!s) return 0;
    char *fed = malloc(size + 1), *out = malloc(size + 1);
    size_t n_fed = 0, n_out = 0;
    int matched = 0;
    while (at < size && !matched) {
        size_t len = data[at++] % 16;
        if (len > size - at) len = size - at;
        memcpy(fed + n_fed, data + at, len);
        n_fed += len;
        const char *rel;
        size_t n_rel;
        int rc = fk_stopstr_feed(s, (const char *)data + at, len, &rel, &n_rel);
        at += len;
        if (rc < 0) abort();
        memcpy(out + n_out, rel, n_rel);
        n_out += n_rel;
        matched = rc == 1;
        if (!matched && n_out + fk_stopstr_held(s) != n_fed) abort(); /* nothing lost */
    }
    if (!matched) {
        const char *rel;
        size_t n_rel;
        fk_stopstr_flush(s, &rel, &n_rel);
        memcpy(out + n_out, rel, n_rel);
        n_out += n_rel;
    }
    size_t want = earliest(fed, n_fed, stops, n);
    if (matched != (want < n_fed)) abort();
    if (n_out != want || memcmp(out, fed, n_out) != 0) abort();
    fk_stopstr_free(s);
    free(fed);
    free(out);
    return 0;
}
