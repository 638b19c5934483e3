/* test_lossy.c: the gateway's JSON repair (completions, errors, /health)
 * and the Harmony parser's (chat) replace invalid UTF-8 the same way: one
 * U+FFFD per maximal invalid subpart, one for an unfinished sequence at the
 * end, NUL kept. Unicode's table cases, then random bytes. */
#include <stdlib.h>
#include <string.h>

#include "gateway/utf8.h"
#include "harmony/strbuf.h"
#include "harmony/utf8.h"
#include "tests/tap.h"

/* The gateway's repair of s[0..n) as bytes (owned), or NULL. */
static char *gateway_lossy(const char *s, size_t n, size_t *len)
{
    json_t *j = fk_json_lossy_string(s, n);
    if (!j) return NULL;
    *len = json_string_length(j);
    char *out = malloc(*len + 1);
    if (out) memcpy(out, json_string_value(j), *len + 1);
    json_decref(j);
    return out;
}

static int same(const char *s, size_t n)
{
    size_t glen = 0;
    char *g = gateway_lossy(s, n, &glen);
    strbuf h;
    strbuf_init(&h);
    int ok_ = g && hm_utf8_append_lossy(&h, s, n) == 0 && h.len == glen &&
              memcmp(h.data ? h.data : "", g, glen) == 0;
    free(g);
    strbuf_clear(&h);
    return ok_;
}

int main(void)
{
    static const struct {
        const char *name, *in, *want;
        size_t n;
    } t[] = {
        {"valid text stays", "caf\xC3\xA9", "caf\xC3\xA9", 5},
        {"an unfinished sequence at the end is one U+FFFD", "ab\xF0\x9F\x98", "ab\xEF\xBF\xBD", 5},
        {"truncated sequences (Unicode Table 3-11)", "\xE1\x80\xE2\xF0\x91\x92\xF1\xBF\x41",
         "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
         "A",
         9},
        {"a lone FF and trail bytes: one each", "\xFF\x41\x80\xBF\x42",
         "\xEF\xBF\xBD"
         "A\xEF\xBF\xBD\xEF\xBF\xBD"
         "B",
         5},
        {"NUL is kept", "a\0b", "a\0b", 3},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        size_t len = 0;
        char *g = gateway_lossy(t[i].in, t[i].n, &len);
        size_t want_len = t[i].n == 3 && t[i].in[1] == 0 ? 3 : strlen(t[i].want);
        ok(g && len == want_len && memcmp(g, t[i].want, len) == 0, "gateway: %s", t[i].name);
        ok(same(t[i].in, t[i].n), "Harmony agrees: %s", t[i].name);
        free(g);
    }
    srand(12345);
    int agree = 0;
    enum { RUNS = 20000 };
    for (int r = 0; r < RUNS; r++) {
        unsigned char b[12];
        size_t n = (size_t)(rand() % 12) + 1;
        for (size_t k = 0; k < n; k++) {
            int pick = rand() % 4; /* bias towards the bytes that matter */
            b[k] = (unsigned char)(pick == 0   ? 0x80 + rand() % 64
                                   : pick == 1 ? 0xC0 + rand() % 64
                                               : rand() % 256);
        }
        agree += same((const char *)b, n);
    }
    is_int(agree, RUNS, "random byte strings: the two repairs agree on every one");
    return done_testing();
}
