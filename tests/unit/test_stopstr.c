/* test_stopstr: stop strings split over tokens, held-back prefixes released
 * when they stop matching, several stops, UTF-8. */
#include "drivers/cuda/serve/stopstr.h"
#include "tests/tap.h"

#include <stdlib.h>
#include <string.h>

/* What a stream of tokens produces: the emitted text and whether it stopped. */
typedef struct run_result {
    char text[256]; /* everything released, NUL-terminated */
    int matched;    /* 1 when a stop string matched */
    int stop_token; /* index of the token at which it matched, -1 if none */
} run_result;

static run_result run(const char *const *stops, size_t n_stops, const char *const *tokens,
                      size_t n_tokens)
{
    run_result r = {.stop_token = -1};
    size_t n = 0;
    fk_stopstr *s = fk_stopstr_new(stops, n_stops);
    const char *out;
    size_t len;
    for (size_t i = 0; i < n_tokens && !r.matched; i++) {
        int rc = fk_stopstr_feed(s, tokens[i], strlen(tokens[i]), &out, &len);
        memcpy(r.text + n, out, len);
        n += len;
        if (rc == 1) {
            r.matched = 1;
            r.stop_token = (int)i;
        }
    }
    if (!r.matched) {
        fk_stopstr_flush(s, &out, &len);
        memcpy(r.text + n, out, len);
        n += len;
    }
    r.text[n] = 0;
    fk_stopstr_free(s);
    return r;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_split_over_tokens(void)
{
    const char *stops[] = {"STOP"};
    /* The stop string split into 1..4 tokens, with text before and after it. */
    const char *one[] = {"abc", "STOP", "xyz"};
    const char *two[] = {"abcST", "OPxyz"};
    const char *three[] = {"abcS", "TO", "Pxyz"};
    const char *four[] = {"abc", "S", "T", "O", "P", "x"};
    const char *const *cases[] = {one, two, three, four};
    size_t sizes[] = {N(one), N(two), N(three), N(four)};
    int at[] = {1, 1, 2, 4};
    for (int c = 0; c < 4; c++) {
        run_result r = run(stops, 1, cases[c], sizes[c]);
        is_str(r.text, "abc", "split case %d: text before the stop only", c + 1);
        ok(r.matched, "split case %d: matched", c + 1);
        is_int(r.stop_token, at[c], "split case %d: matched at the completing token", c + 1);
    }
}

static void test_hold_and_release(void)
{
    const char *stops[] = {"</end>"};
    fk_stopstr *s = fk_stopstr_new(stops, 1);
    const char *out;
    size_t len;
    is_int(fk_stopstr_feed(s, "hello </e", 9, &out, &len), 0, "partial: no match yet");
    is_int((long long)len, 6, "partial: 'hello ' released");
    ok(memcmp(out, "hello ", 6) == 0, "partial: released bytes are the text before '</e'");
    is_int((long long)fk_stopstr_held(s), 3, "partial: '</e' held back");
    is_int(fk_stopstr_feed(s, "x", 1, &out, &len), 0, "diverges: no match");
    is_int((long long)len, 4, "diverges: held prefix released with the new byte");
    ok(memcmp(out, "</ex", 4) == 0, "diverges: released text is '</ex'");
    is_int((long long)fk_stopstr_held(s), 0, "diverges: nothing held");
    /* A held prefix that is itself followed by a new possible start. */
    is_int(fk_stopstr_feed(s, "</</en", 6, &out, &len), 0, "restart: no match");
    is_int((long long)len, 2, "restart: the first '</' is released");
    is_int((long long)fk_stopstr_held(s), 4, "restart: '</en' held");
    fk_stopstr_flush(s, &out, &len);
    is_int((long long)len, 4, "flush releases the held prefix at the end");
    ok(memcmp(out, "</en", 4) == 0, "flush: held bytes come out unchanged");
    fk_stopstr_free(s);

    const char *toks[] = {"a<", "/", "b"};
    run_result r = run(stops, 1, toks, 3);
    is_str(r.text, "a</b", "nothing lost when a prefix stops matching");
    ok(!r.matched, "no match reported");
}

static void test_multiple_stops(void)
{
    const char *stops[] = {"world", "wo!", "", "lo w"};
    const char *toks[] = {"hel", "lo", " wor", "ld"};
    run_result r = run(stops, N(stops), toks, N(toks));
    ok(r.matched, "multiple: matched");
    is_str(r.text, "hel", "multiple: the earliest-starting stop wins ('lo w')");
    is_int(r.stop_token, 2, "multiple: matched when 'lo w' completed");

    const char *toks2[] = {"say wo", "!", " then"};
    r = run(stops, N(stops), toks2, N(toks2));
    is_str(r.text, "say ", "multiple: a second stop string matches too");

    const char *empty_only[] = {""};
    const char *toks3[] = {"abc"};
    fk_stopstr *s = fk_stopstr_new(empty_only, 1);
    ok(!fk_stopstr_active(s), "empty stop strings are ignored");
    fk_stopstr_free(s);
    r = run(empty_only, 1, toks3, 1);
    is_str(r.text, "abc", "no stops: everything released");
}

static void test_utf8(void)
{
    /* "é" is C3 A9; "→" is E2 86 92. Tokens split inside the characters. */
    const char *stops[] = {"\xc3\xa9\xe2\x86\x92"};
    const char *toks[] = {"caf\xc3", "\xa9\xe2", "\x86", "\x92 rest"};
    run_result r = run(stops, 1, toks, N(toks));
    ok(r.matched, "utf8: stop matched across split characters");
    is_str(r.text, "caf", "utf8: text before the stop");

    const char *toks2[] = {"caf\xc3", "\xa9\xe2", "\x86\x91"};
    r = run(stops, 1, toks2, N(toks2));
    ok(!r.matched, "utf8: a different arrow does not match");
    is_str(r.text, "caf\xc3\xa9\xe2\x86\x91", "utf8: every byte released in order");

    /* A stop that starts in the middle of what the stream sends. */
    const char *stops2[] = {"\xe2\x86\x92"};
    const char *toks3[] = {"a\xe2\x86", "\x92"};
    r = run(stops2, 1, toks3, N(toks3));
    is_str(r.text, "a", "utf8: partial character held, then dropped with the match");
}

static void test_after_match(void)
{
    const char *stops[] = {"x"};
    fk_stopstr *s = fk_stopstr_new(stops, 1);
    const char *out;
    size_t len;
    is_int(fk_stopstr_feed(s, "axb", 3, &out, &len), 1, "match inside one token");
    is_int((long long)len, 1, "only 'a' released");
    is_int(fk_stopstr_feed(s, "more", 4, &out, &len), 1, "feeds after a match keep reporting it");
    is_int((long long)len, 0, "and release nothing");
    fk_stopstr_flush(s, &out, &len);
    is_int((long long)len, 0, "flush after a match releases nothing");
    fk_stopstr_free(s);
}

int main(void)
{
    test_split_over_tokens();
    test_hold_and_release();
    test_multiple_stops();
    test_utf8();
    test_after_match();
    return done_testing();
}
