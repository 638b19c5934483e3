/* test_scanner.c: the Harmony text scanner (spelled-out specials -> pieces).
 *
 * Pieces are recorded as "T[text]" / "S[special]", with adjacent text pieces
 * merged (the scanner may cut text where chunks end; that is allowed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harmony/harmony.h"
#include "harmony/strbuf.h"
#include "tests/tap.h"

typedef struct rec {
    strbuf log;   /* pieces so far */
    strbuf text;  /* text not yet logged */
    size_t calls; /* callbacks */
} rec;

static void flush_text(rec *r)
{
    if (!r->text.len) return;
    strbuf_printf(&r->log, "T[%s]", r->text.data);
    strbuf_reset(&r->text);
}

static void on_piece(void *ud, const char *text, size_t len, int is_special)
{
    rec *r = ud;
    r->calls++;
    if (is_special) {
        flush_text(r);
        strbuf_append_str(&r->log, "S[");
        strbuf_append(&r->log, text, len);
        strbuf_append_str(&r->log, "]");
    } else {
        strbuf_append(&r->text, text, len);
    }
}

/* Scans s cut into chunks at the given offsets (sorted, ascending). */
static char *scan_cuts(const char *s, const size_t *cuts, size_t n_cuts)
{
    rec r;
    memset(&r, 0, sizeof r);
    strbuf_init(&r.log);
    strbuf_init(&r.text);
    strbuf_append(&r.log, "", 0);
    hm_scanner *sc = hm_scanner_new();
    size_t prev = 0, len = strlen(s);
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t end = i < n_cuts ? cuts[i] : len;
        hm_scanner_feed(sc, s + prev, end - prev, on_piece, &r);
        prev = end;
    }
    hm_scanner_finish(sc, on_piece, &r);
    hm_scanner_free(sc);
    flush_text(&r);
    strbuf_clear(&r.text);
    return strbuf_take(&r.log, NULL);
}

static char *scan_whole(const char *s)
{
    return scan_cuts(s, NULL, 0);
}

static void check(const char *input, const char *want)
{
    char *got = scan_whole(input);
    is_str(got, want, "whole: %s", input);
    free(got);
    size_t n = strlen(input);
    int same = 1;
    for (size_t a = 1; a < n; a++) {
        size_t one[1] = {a};
        char *g = scan_cuts(input, one, 1);
        if (strcmp(g, want) != 0) {
            if (same) diag("cut at %zu: %s", a, g);
            same = 0;
        }
        free(g);
        for (size_t b = a + 1; b < n && n <= 64; b++) {
            size_t two[2] = {a, b};
            g = scan_cuts(input, two, 2);
            if (strcmp(g, want) != 0) {
                if (same) diag("cut at %zu,%zu: %s", a, b, g);
                same = 0;
            }
            free(g);
        }
    }
    ok(same, "every one- and two-cut chunking: %s", input);
    size_t *all = malloc(sizeof *all * (n ? n : 1));
    for (size_t i = 0; i + 1 < n; i++) all[i] = i + 1;
    char *g = scan_cuts(input, all, n ? n - 1 : 0);
    is_str(g, want, "byte at a time: %s", input);
    free(g);
    free(all);
}

int main(void)
{
    check("", "");
    check("plain text", "T[plain text]");
    check("<|start|>assistant<|channel|>final<|message|>Hi<|return|>",
          "S[<|start|>]T[assistant]S[<|channel|>]T[final]S[<|message|>]T[Hi]S[<|return|>]");
    check("a<|constrain|>json<|call|><|end|>b",
          "T[a]S[<|constrain|>]T[json]S[<|call|>]S[<|end|>]T[b]");
    check("<|startoftext|><|endoftext|><|endofprompt|>",
          "S[<|startoftext|>]S[<|endoftext|>]S[<|endofprompt|>]");
    check("unknown <|foo|> stays", "T[unknown <|foo|> stays]");
    check("lone <| and <", "T[lone <| and <]");
    check("ends with <|", "T[ends with <|]");
    check("ends with <|chan", "T[ends with <|chan]");
    check("<<|end|>", "T[<]S[<|end|>]");
    check("<|<|end|>", "T[<|]S[<|end|>]");
    check("<|en<|end|>d|>", "T[<|en]S[<|end|>]T[d|>]");
    check("x<|reserved_200013|>y", "T[x]S[<|reserved_200013|>]T[y]");
    check("<|reserved_201087|><|reserved_200000|>", "S[<|reserved_201087|>]S[<|reserved_200000|>]");
    check("<|reserved_201088|> <|reserved_199999|> <|reserved_200002|> <|reserved_0200013|>",
          "T[<|reserved_201088|> <|reserved_199999|> <|reserved_200002|> <|reserved_0200013|>]");
    check("Déjà <|end|>💖", "T[Déjà ]S[<|end|>]T[💖]");

    ok(hm_is_special_token("<|end|>", 7), "<|end|> is special");
    ok(hm_is_special_token("<|reserved_200004|>", 19), "reserved is special");
    ok(!hm_is_special_token("<|end|>x", 8), "trailing text is not a token");
    ok(!hm_is_special_token("<|en", 4), "a prefix is not a token");
    ok(!hm_is_special_token("<|foo|>", 7), "unknown is not a token");
    ok(!hm_is_special_token("", 0), "empty is not a token");

    /* Text is passed on at once: only a possible prefix is held. */
    rec r;
    memset(&r, 0, sizeof r);
    strbuf_init(&r.log);
    strbuf_init(&r.text);
    hm_scanner *sc = hm_scanner_new();
    hm_scanner_feed(sc, "Hello <|ch", 10, on_piece, &r);
    is_str(r.text.data, "Hello ", "text before a possible prefix is not held");
    hm_scanner_feed(sc, "an", 2, on_piece, &r);
    is_str(r.text.data, "Hello ", "prefix still held");
    hm_scanner_feed(sc, "nel|>x", 6, on_piece, &r);
    flush_text(&r);
    is_str(r.log.data, "T[Hello ]S[<|channel|>]T[x]", "token completed across three chunks");
    hm_scanner_feed(sc, "<|", 2, on_piece, &r);
    hm_scanner_finish(sc, on_piece, &r);
    flush_text(&r);
    is_str(r.log.data, "T[Hello ]S[<|channel|>]T[x]T[<|]", "finish flushes a held prefix");
    size_t calls = r.calls;
    hm_scanner_feed(sc, "abc <def> ghi", 13, on_piece, &r);
    is_int((long long)(r.calls - calls), 1, "text without specials is one piece");
    hm_scanner_free(sc);
    strbuf_clear(&r.log);
    strbuf_clear(&r.text);
    return done_testing();
}
