/* scanner.c: upstream text with spelled-out special tokens -> pieces.
 *
 * Known special tokens are those of o200k_harmony: the ten named ones
 * (<|startoftext|>, <|endoftext|>, <|return|>, <|constrain|>, <|channel|>,
 * <|start|>, <|end|>, <|message|>, <|call|>, <|endofprompt|>) and the
 * reserved ones, spelled "<|reserved_N|>" with N the token id in
 * 200000..201087 (ids that have a name above are not reserved). The reserved
 * ones are included so that the scanner marks exactly what the tokenizer
 * (fktok_encode with allow_special) turns into special ids; the parser keeps
 * both kinds as literal text inside content, so the choice never changes a
 * parse. Any other "<|...|>" text stays text.
 *
 * The scanner holds back only a possible prefix of a known token at the end
 * of a chunk (at most MAX_SPECIAL_LEN - 1 bytes), so text flows on at once;
 * finish flushes that prefix as text. Text between specials is passed on in
 * as few pieces as the chunking allows. */
#include "harmony/harmony.h"

#include <stdlib.h>
#include <string.h>

/* Longest spelling: "<|reserved_201087|>" (19 bytes). */
#define MAX_SPECIAL_LEN 19

#define RESERVED_PREFIX "<|reserved_"
#define RESERVED_FIRST 200000
#define RESERVED_LAST 201087

static const char *const NAMED[] = {
    "<|startoftext|>", "<|endoftext|>", "<|return|>",  "<|constrain|>", "<|channel|>",
    "<|start|>",       "<|end|>",       "<|message|>", "<|call|>",      "<|endofprompt|>",
};

/* Ids below RESERVED_LAST that have a name (not spelled "<|reserved_N|>"). */
static int id_is_named(long id)
{
    static const long named[] = {200002, 200003, 200005, 200006, 200007, 200008, 200012, 200018};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (named[i] == id) return 1;
    return 0;
}

struct hm_scanner {
    char held[MAX_SPECIAL_LEN]; /* a possible prefix of a special token, kept from the last chunk */
    size_t n_held;              /* bytes in held */
};

typedef enum match_result {
    MATCH_NONE = 0,   /* s does not start with a known special token */
    MATCH_PREFIX = 1, /* s (all of it) could be the start of one */
    MATCH_FULL = 2,   /* s starts with one; its length in *len */
} match_result;

/* "<|reserved_N|>" at s[0..n). */
static match_result match_reserved(const char *s, size_t n, size_t *len)
{
    size_t k = strlen(RESERVED_PREFIX);
    size_t m = n < k ? n : k;
    if (memcmp(s, RESERVED_PREFIX, m) != 0) return MATCH_NONE;
    if (n <= k) return MATCH_PREFIX;
    size_t i = k;
    long id = 0;
    while (i < n && i - k < 6 && s[i] >= '0' && s[i] <= '9') id = id * 10 + (s[i++] - '0');
    size_t digits = i - k;
    if (digits > 0 && s[k] == '0') return MATCH_NONE;
    if (i == n) {
        /* Cut off among the digits: still possible if some valid id starts so. */
        if (digits == 0) return MATCH_PREFIX;
        long lo = id, hi = id;
        for (size_t d = digits; d < 6; d++) {
            lo = lo * 10;
            hi = hi * 10 + 9;
        }
        if (digits == 6 && id_is_named(id)) return MATCH_NONE;
        return lo <= RESERVED_LAST && hi >= RESERVED_FIRST ? MATCH_PREFIX : MATCH_NONE;
    }
    if (digits != 6 || id < RESERVED_FIRST || id > RESERVED_LAST || id_is_named(id))
        return MATCH_NONE;
    if (s[i] != '|') return MATCH_NONE;
    if (i + 1 == n) return MATCH_PREFIX;
    if (s[i + 1] != '>') return MATCH_NONE;
    *len = i + 2;
    return MATCH_FULL;
}

/* Does s[0..n) start with a known special token (s[0] == '<')? */
static match_result match_special(const char *s, size_t n, size_t *len)
{
    if (n < 2) return MATCH_PREFIX;
    if (s[1] != '|') return MATCH_NONE;
    int prefix = 0;
    for (size_t i = 0; i < sizeof NAMED / sizeof NAMED[0]; i++) {
        size_t k = strlen(NAMED[i]);
        if (n >= k) {
            if (memcmp(s, NAMED[i], k) == 0) {
                *len = k;
                return MATCH_FULL;
            }
        } else if (memcmp(s, NAMED[i], n) == 0) {
            prefix = 1;
        }
    }
    match_result r = match_reserved(s, n, len);
    if (r == MATCH_FULL) return r;
    return prefix || r == MATCH_PREFIX ? MATCH_PREFIX : MATCH_NONE;
}

int hm_is_special_token(const char *text, size_t len)
{
    size_t got = 0;
    return len > 0 && text[0] == '<' && match_special(text, len, &got) == MATCH_FULL && got == len;
}

hm_scanner *hm_scanner_new(void)
{
    return calloc(1, sizeof(hm_scanner));
}

void hm_scanner_free(hm_scanner *s)
{
    free(s);
}

/* Scans s[from..n) for specials, passing on the text between them. A
 * possible prefix of a special at the very end is held for the next chunk. */
static void scan(hm_scanner *sc, const char *s, size_t from, size_t n, hm_piece_fn fn, void *ud)
{
    size_t text_start = from, i = from;
    while (i < n) {
        const char *lt = memchr(s + i, '<', n - i);
        if (!lt) break;
        i = (size_t)(lt - s);
        size_t len = 0;
        match_result m = match_special(s + i, n - i, &len);
        if (m == MATCH_NONE) {
            i++;
            continue;
        }
        if (i > text_start) fn(ud, s + text_start, i - text_start, 0);
        if (m == MATCH_PREFIX) {
            memcpy(sc->held, s + i, n - i);
            sc->n_held = n - i;
            return;
        }
        fn(ud, s + i, len, 1);
        i += len;
        text_start = i;
    }
    if (n > text_start) fn(ud, s + text_start, n - text_start, 0);
}

void hm_scanner_feed(hm_scanner *sc, const char *text, size_t len, hm_piece_fn fn, void *ud)
{
    size_t pos = 0;
    if (len == 0) return;
    if (sc->n_held) {
        /* Decide the held prefix with up to MAX_SPECIAL_LEN more bytes. */
        char tmp[2 * MAX_SPECIAL_LEN];
        size_t held = sc->n_held, k = len < MAX_SPECIAL_LEN ? len : MAX_SPECIAL_LEN;
        memcpy(tmp, sc->held, held);
        memcpy(tmp + held, text, k);
        size_t n = held + k, i = 0, text_start = 0;
        sc->n_held = 0;
        while (i < held) {
            size_t tlen = 0;
            match_result m = tmp[i] == '<' ? match_special(tmp + i, n - i, &tlen) : MATCH_NONE;
            if (m == MATCH_NONE) {
                i++;
                continue;
            }
            if (i > text_start) fn(ud, tmp + text_start, i - text_start, 0);
            if (m == MATCH_PREFIX) {
                /* Only when all of text fits in tmp: hold again. */
                memcpy(sc->held, tmp + i, n - i);
                sc->n_held = n - i;
                return;
            }
            fn(ud, tmp + i, tlen, 1);
            i += tlen;
            text_start = i;
        }
        if (held > text_start) fn(ud, tmp + text_start, held - text_start, 0);
        pos = i > held ? i - held : 0;
    }
    scan(sc, text, pos, len, fn, ud);
}

void hm_scanner_finish(hm_scanner *sc, hm_piece_fn fn, void *ud)
{
    if (sc->n_held) fn(ud, sc->held, sc->n_held, 0);
    sc->n_held = 0;
}
