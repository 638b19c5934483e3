/* fuzz_tokenize: arbitrary bytes through the bundled o200k_harmony, with and
 * without special tokens. The ids' bytes must always join back to the input,
 * no special id may appear without allow_special, and when the input is valid
 * UTF-8 the streaming decoder must give it back exactly. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/fktok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fktok *tok; /* loaded once, shared read-only */

/* 1 when s[0..n) is valid UTF-8. */
static int valid_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i], lo = 0x80, hi = 0xbf;
        size_t len = c < 0x80                 ? 1
                     : c >= 0xc2 && c <= 0xdf ? 2
                     : c >= 0xe0 && c <= 0xef ? 3
                     : c >= 0xf0 && c <= 0xf4 ? 4
                                              : 0;
        if (!len || i + len > n) return 0;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
        if (len > 1 && (s[i + 1] < lo || s[i + 1] > hi)) return 0;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80) return 0;
        i += len;
    }
    return 1;
}

static void load_once(void)
{
    if (tok) return;
    char err[512];
    if (!getenv("FK_TOKENIZER_DATA")) setenv("FK_TOKENIZER_DATA", FK_SRC_TOKENIZER_DATA, 1);
    tok = fktok_load_default(err, sizeof err);
    if (!tok) {
        fprintf(stderr, "fuzz_tokenize: %s\n", err);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load_once();
    for (int special = 0; special < 2; special++) {
        fktok_ids ids = {0};
        if (fktok_encode(tok, (const char *)data, size, special, &ids)) abort();
        size_t at = 0;
        for (size_t i = 0; i < ids.n; i++) {
            size_t n = 0;
            const char *s = fktok_token_bytes(tok, ids.ids[i], &n);
            if (!s || at + n > size || memcmp(data + at, s, n) != 0) abort();
            if (!special && fktok_is_special(tok, ids.ids[i])) abort();
            at += n;
        }
        if (at != size) abort();
        char *back = NULL;
        size_t len = 0;
        if (fktok_decode(tok, ids.ids, ids.n, &back, &len)) abort();
        if (valid_utf8(data, size) && (len != size || memcmp(back, data, size) != 0)) abort();
        free(back);
        free(ids.ids);
    }
    return 0;
}
