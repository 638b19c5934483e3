/* fuzz_scanner.c: libFuzzer target for the Harmony text scanner.
 *
 * Input: byte 0 seeds the chunking, the rest is the text. The text is
 * scanned whole and in pseudo-random chunks; both must give the same specials
 * and the same text between them, the pieces must concatenate to the input,
 * and the result must equal a naive reference scan built on
 * hm_is_special_token (longest spelling: 19 bytes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harmony/harmony.h"
#include "harmony/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SPECIAL_LEN 19

typedef struct rec {
    strbuf log;  /* "T<text>\0" / "S<special>\0" records, adjacent text merged */
    strbuf text; /* text not yet logged */
    strbuf all;  /* every byte passed on, in order */
} rec;

static void must(int cond)
{
    if (!cond) abort();
}

static void flush(rec *r)
{
    if (!r->text.len) return;
    strbuf_append(&r->log, "T", 1);
    strbuf_append(&r->log, r->text.data, r->text.len);
    strbuf_append(&r->log, "", 1);
    strbuf_reset(&r->text);
}

static void on_piece(void *ud, const char *text, size_t len, int is_special)
{
    rec *r = ud;
    must(len > 0);
    strbuf_append(&r->all, text, len);
    if (!is_special) {
        strbuf_append(&r->text, text, len);
        return;
    }
    must(hm_is_special_token(text, len));
    flush(r);
    strbuf_append(&r->log, "S", 1);
    strbuf_append(&r->log, text, len);
    strbuf_append(&r->log, "", 1);
}

static void rec_init(rec *r)
{
    strbuf_init(&r->log);
    strbuf_init(&r->text);
    strbuf_init(&r->all);
    strbuf_append(&r->log, "", 0);
    strbuf_append(&r->all, "", 0);
}

static void rec_clear(rec *r)
{
    strbuf_clear(&r->log);
    strbuf_clear(&r->text);
    strbuf_clear(&r->all);
}

static void scan(const char *s, size_t n, uint32_t seed, rec *r)
{
    hm_scanner *sc = hm_scanner_new();
    for (size_t i = 0; i < n;) {
        size_t k = n - i;
        if (seed) {
            seed = seed * 1103515245u + 12345u;
            k = 1 + (seed >> 16) % 23;
            if (k > n - i) k = n - i;
        }
        hm_scanner_feed(sc, s + i, k, on_piece, r);
        i += k;
    }
    hm_scanner_finish(sc, on_piece, r);
    hm_scanner_free(sc);
    flush(r);
}

static void reference(const char *s, size_t n, rec *r)
{
    size_t i = 0;
    while (i < n) {
        size_t len = 0;
        for (size_t k = 2; k <= MAX_SPECIAL_LEN && i + k <= n && !len; k++)
            if (hm_is_special_token(s + i, k)) len = k;
        if (len) {
            on_piece(r, s + i, len, 1);
            i += len;
        } else {
            on_piece(r, s + i, 1, 0);
            i++;
        }
    }
    flush(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    rec whole, chunked, ref;
    rec_init(&whole);
    rec_init(&chunked);
    rec_init(&ref);
    scan(s, n, 0, &whole);
    scan(s, n, 1u + data[0], &chunked);
    reference(s, n, &ref);
    must(whole.all.len == n && memcmp(whole.all.data, s, n) == 0);
    must(chunked.all.len == n && memcmp(chunked.all.data, s, n) == 0);
    must(whole.log.len == chunked.log.len &&
         memcmp(whole.log.data, chunked.log.data, whole.log.len) == 0);
    must(whole.log.len == ref.log.len && memcmp(whole.log.data, ref.log.data, ref.log.len) == 0);
    rec_clear(&whole);
    rec_clear(&chunked);
    rec_clear(&ref);
    return 0;
}
