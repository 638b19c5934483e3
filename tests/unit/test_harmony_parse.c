/* test_harmony_parse.c: the streaming Harmony parser, by hand-written cases.
 *
 * Events are recorded as a compact log ("S[assistant|analysis|-|-]",
 * "C[text]" with consecutive content coalesced, "E[end]", "X[error]") so a
 * case states its whole expected event sequence in one string. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harmony/harmony.h"
#include "harmony/strbuf.h"
#include "tests/tap.h"

/* ==== recording ================================================================= */

typedef struct recorder {
    strbuf log;     /* the event log */
    strbuf pending; /* content not yet written to the log (coalescing) */
    strbuf delta;   /* content of the last feed call only */
    int n_content;  /* CONTENT events seen */
    int bad_utf8;   /* a CONTENT event had empty text */
} recorder;

static const char *term_name(hm_terminator t)
{
    static const char *names[] = {"none", "end", "return", "call", "eos"};
    return names[t];
}

static const char *role_str(hm_role r)
{
    static const char *names[] = {"system", "developer", "user", "assistant", "tool"};
    return names[r];
}

static void flush_pending(recorder *r)
{
    if (!r->pending.len) return;
    strbuf_printf(&r->log, "C[%s]", r->pending.data);
    strbuf_reset(&r->pending);
}

static void on_event(void *ud, const hm_event *ev)
{
    recorder *r = ud;
    switch (ev->kind) {
    case HM_EV_MESSAGE_START:
        flush_pending(r);
        strbuf_printf(&r->log, "S[%s%s%s|%s|%s|%s]", role_str(ev->role), ev->name ? ":" : "",
                      ev->name ? ev->name : "", ev->channel ? ev->channel : "-",
                      ev->recipient ? ev->recipient : "-",
                      ev->content_type ? ev->content_type : "-");
        break;
    case HM_EV_CONTENT:
        if (ev->len == 0) r->bad_utf8 = 1;
        r->n_content++;
        strbuf_append(&r->pending, ev->text, ev->len);
        strbuf_append(&r->delta, ev->text, ev->len);
        break;
    case HM_EV_MESSAGE_END:
        flush_pending(r);
        strbuf_printf(&r->log, "E[%s]", term_name(ev->terminator));
        break;
    case HM_EV_ERROR:
        flush_pending(r);
        strbuf_printf(&r->log, "X[%s]", ev->error);
        break;
    }
}

static void recorder_init(recorder *r)
{
    memset(r, 0, sizeof *r);
    strbuf_init(&r->log);
    strbuf_init(&r->pending);
    strbuf_init(&r->delta);
    strbuf_append(&r->log, "", 0);
}

static void recorder_clear(recorder *r)
{
    strbuf_clear(&r->log);
    strbuf_clear(&r->pending);
    strbuf_clear(&r->delta);
}

/* ==== pieces ====================================================================== */

/* Pieces from a string with spelled-out specials (split by the scanner). */
typedef struct piece {
    char *text;     /* owned */
    size_t len;     /* bytes */
    int is_special; /* 1 for a special token */
} piece;

typedef struct pieces {
    piece *v; /* array */
    size_t n; /* used */
} pieces;

static void collect_piece(void *ud, const char *text, size_t len, int is_special)
{
    pieces *ps = ud;
    ps->v = realloc(ps->v, (ps->n + 1) * sizeof *ps->v);
    piece *p = &ps->v[ps->n++];
    p->text = malloc(len + 1);
    memcpy(p->text, text, len);
    p->text[len] = '\0';
    p->len = len;
    p->is_special = is_special;
}

static pieces split(const char *s)
{
    pieces ps = {NULL, 0};
    hm_scanner *sc = hm_scanner_new();
    hm_scanner_feed(sc, s, strlen(s), collect_piece, &ps);
    hm_scanner_finish(sc, collect_piece, &ps);
    hm_scanner_free(sc);
    return ps;
}

static void pieces_free(pieces *ps)
{
    for (size_t i = 0; i < ps->n; i++) free(ps->v[i].text);
    free(ps->v);
}

/* Runs the parser over pieces; text pieces are cut further so that no text
 * piece is longer than `chunk` bytes (0: as they are), or, with cut_at, the
 * text bytes are cut at byte offset cut_at of the whole input. */
static char *run(const pieces *ps, int strict, int hint, size_t chunk, long cut_at, int eos)
{
    recorder r;
    recorder_init(&r);
    hm_parser_options o = {strict, hint};
    hm_parser *p = hm_parser_new(&o, on_event, &r);
    size_t offset = 0;
    for (size_t i = 0; i < ps->n; i++) {
        const piece *pc = &ps->v[i];
        if (pc->is_special) {
            hm_parser_feed(p, pc->text, pc->len, 1, -1);
        } else if (cut_at >= 0 && (size_t)cut_at > offset && (size_t)cut_at < offset + pc->len) {
            size_t k = (size_t)cut_at - offset;
            hm_parser_feed(p, pc->text, k, 0, -1);
            hm_parser_feed(p, pc->text + k, pc->len - k, 0, -1);
        } else {
            size_t step = chunk ? chunk : pc->len;
            for (size_t k = 0; k < pc->len || (k == 0 && pc->len == 0); k += step) {
                size_t n = pc->len - k < step ? pc->len - k : step;
                hm_parser_feed(p, pc->text + k, n, 0, -1);
                if (pc->len == 0) break;
            }
        }
        offset += pc->len;
    }
    if (eos) hm_parser_finish(p);
    hm_parser_free(p);
    flush_pending(&r);
    char *out = strbuf_take(&r.log, NULL);
    recorder_clear(&r);
    return out;
}

static void check(const char *name, const char *input, int strict, int hint, int eos,
                  const char *want)
{
    pieces ps = split(input);
    char *got = run(&ps, strict, hint, 0, -1, eos);
    is_str(got, want, "%s", name);
    free(got);
    pieces_free(&ps);
}

/* Same events for the whole pieces, byte at a time, and cut at every offset. */
static void check_chunkings(const char *name, const char *input, int strict, int hint)
{
    pieces ps = split(input);
    char *whole = run(&ps, strict, hint, 0, -1, 1);
    char *bytes = run(&ps, strict, hint, 1, -1, 1);
    is_str(bytes, whole, "%s: byte at a time", name);
    int same = 1;
    size_t n = strlen(input);
    for (size_t cut = 1; cut < n; cut++) {
        char *got = run(&ps, strict, hint, 0, (long)cut, 1);
        if (strcmp(got, whole) != 0) {
            if (same) diag("cut at %zu: %s", cut, got);
            same = 0;
        }
        free(got);
    }
    ok(same, "%s: cut at every offset", name);
    free(whole);
    free(bytes);
    pieces_free(&ps);
}

/* ==== cases ========================================================================== */

static void test_well_formed(void)
{
    check("analysis then final",
          "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final"
          "<|message|>Answer.<|return|>",
          1, 1, 1,
          "S[assistant|analysis|-|-]C[Think.]E[end]S[assistant|final|-|-]C[Answer.]E[return]");
    check("tool call, recipient after channel",
          "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"a\":1}"
          "<|call|>",
          1, 1, 1,
          "S[assistant|commentary|functions.get_weather|<|constrain|>json]C[{\"a\":1}]E[call]");
    check("tool call, recipient in role part",
          "<|start|>assistant to=functions.f<|channel|>"
          "commentary <|constrain|>json<|message|>{}<|call|>",
          1, 0, 1, "S[assistant|commentary|functions.f|<|constrain|>json]C[{}]E[call]");
    check("tool result author",
          "<|start|>functions.f to=assistant<|channel|>commentary"
          "<|message|>42<|end|>",
          1, 0, 1, "S[tool:functions.f|commentary|assistant|-]C[42]E[end]");
    check("eos closes the message", "<|channel|>final<|message|>Cut", 1, 1, 1,
          "S[assistant|final|-|-]C[Cut]E[eos]");
    check("no eos: message stays open", "<|channel|>final<|message|>Open", 1, 1, 0,
          "S[assistant|final|-|-]C[Open]");
    check("specials inside content stay text",
          "<|channel|>final<|message|>a<|start|>b<|channel|>c<|constrain|>d<|endoftext|><|end|>", 1,
          1, 1,
          "S[assistant|final|-|-]C[a<|start|>b<|channel|>c<|constrain|>d<|endoftext|>]E[end]");
    check("channel ends at whitespace", "<|channel|>final\tjson<|message|>x<|end|>", 1, 1, 1,
          "S[assistant|final|json|-]C[x]E[end]");
    check("empty content", "<|channel|>final<|message|><|end|>", 1, 1, 1,
          "S[assistant|final|-|-]E[end]");
    check("empty completion with hint, strict: eos in header", "", 1, 1, 1,
          "X[Unexpected EOS while waiting for message header to complete]");
    check("empty completion without hint", "", 1, 0, 1, "");
}

static void test_strict_errors(void)
{
    check("text where start expected", "Hello", 1, 0, 1,
          "X[Unexpected token while expecting start token]");
    check("text after a message (strict)", "<|channel|>a<|message|>x<|end|>junk", 1, 1, 1,
          "S[assistant|a|-|-]C[x]E[end]X[Unexpected token while expecting start token]");
    check("leftover header words", "<|channel|>final one two three<|message|>x", 1, 1, 1,
          "X[unexpected tokens remaining in message header]");
    check("unknown role", "<|start|>bogus<|message|>x<|end|>", 1, 0, 1, "X[Unknown role: bogus]");
    check("empty channel (non-strict too)", "<|channel|><|message|>x", 0, 1, 1,
          "X[channel marker present but no channel value found in header]");
    check("terminator in header is header text (strict)", "<|channel|>final Hi<|end|>", 1, 1, 1,
          "X[Unexpected EOS while waiting for message header to complete]");

    /* Nothing is accepted after an error. */
    recorder r;
    recorder_init(&r);
    hm_parser_options o = {1, 0};
    hm_parser *p = hm_parser_new(&o, on_event, &r);
    is_int(hm_parser_feed(p, "x", 1, 0, -1), -1, "feed fails on error");
    is_int(hm_parser_feed(p, "<|start|>", 9, 1, 200006), -1, "feed after error fails");
    is_int(hm_parser_finish(p), -1, "finish after error fails");
    flush_pending(&r);
    is_str(r.log.data, "X[Unexpected token while expecting start token]", "error reported once");
    hm_parser_free(p);
    recorder_clear(&r);
}

static void test_non_strict(void)
{
    check("header closed by terminator keeps words", "<|channel|>commentary Hello<|end|>", 0, 1, 1,
          "S[assistant|commentary|-|-]C[Hello]E[end]");
    check("whitespace kept byte for byte", "<|channel|>final I  cannot\nhelp<|return|>", 0, 1, 1,
          "S[assistant|final|-|-]C[I  cannot\nhelp]E[return]");
    check("later header recovered",
          "<|channel|>analysis<|message|>A<|end|><|start|>assistant"
          "<|channel|>final Hi there<|return|>",
          0, 1, 1, "S[assistant|analysis|-|-]C[A]E[end]S[assistant|final|-|-]C[Hi there]E[return]");
    check("channel where start expected",
          "<|channel|>analysis<|message|>A<|end|><|channel|>final"
          "<|message|>B<|return|>",
          0, 1, 1, "S[assistant|analysis|-|-]C[A]E[end]S[assistant|final|-|-]C[B]E[return]");
    check("eos in header: nothing to keep", "<|channel|>analy", 0, 1, 1, "");
    check("eos in tool call header: syntax only",
          "<|channel|>commentary to=functions.f <|constrain|>json", 0, 1, 1, "");
    check("eos in header with words keeps them", "<|channel|>final Partial answer", 0, 1, 1,
          "S[assistant|final|-|-]C[Partial answer]E[eos]");
    check("leftover words become content", "<|channel|>final one two three<|message|> four<|end|>",
          0, 1, 1, "S[assistant|final|-|-]C[one two three four]E[end]");
    check("start inside a header restarts it",
          "<|start|>assistant<|channel|>final<|message|>ok<|end|>", 0, 1, 1,
          "S[assistant|final|-|-]C[ok]E[end]");
    check("text before start inside header kept",
          "<|channel|>final Lost?<|start|>assistant<|channel|>final<|message|>ok<|end|>", 0, 1, 1,
          "S[assistant|final|-|-]C[Lost?]E[none]S[assistant|final|-|-]C[ok]E[end]");
    check("whitespace between messages is dropped",
          "<|channel|>analysis<|message|>A<|end|>\n<|start|>assistant<|channel|>final"
          "<|message|>B<|return|>",
          0, 1, 1, "S[assistant|analysis|-|-]C[A]E[end]S[assistant|final|-|-]C[B]E[return]");
    check("endoftext after the answer is skipped",
          "<|channel|>final<|message|>B<|return|><|endoftext|>", 0, 1, 1,
          "S[assistant|final|-|-]C[B]E[return]");
    check("text after the answer is kept", "<|channel|>final<|message|>B<|return|>more<|end|>", 0,
          1, 1, "S[assistant|final|-|-]C[B]E[return]S[assistant|-|-|-]C[more]E[end]");
    check("plain text without header", "I must refuse<|end|>", 0, 1, 1,
          "S[assistant|-|-|-]C[I must refuse]E[end]");
    check("unknown lone role word is a tool author", "<|start|>bogus<|message|>x<|end|>", 0, 0, 1,
          "S[tool:bogus|-|-|-]C[x]E[end]");
    check("text where start expected, no hint, non-strict", "Hello", 0, 0, 1,
          "X[Unexpected token while expecting start token]");
    check("invalid utf-8 header repaired", "<|channel|>fi\xFFnal<|message|>x<|end|>", 0, 1, 1,
          "S[assistant|fi\xEF\xBF\xBDnal|-|-]C[x]E[end]");
    check("invalid utf-8 header strict", "<|channel|>fi\xFFnal<|message|>x<|end|>", 1, 1, 1,
          "X[could not decode header]");
}

/* A header that never ends streams as content once it is too long. */
static void test_long_header(void)
{
    strbuf in, want;
    strbuf_init(&in);
    strbuf_init(&want);
    strbuf_append_str(&in, "<|channel|>final ");
    for (int i = 0; i < 300; i++) strbuf_append_str(&in, "wörd ");
    strbuf_append_str(&want, "S[assistant|final|-|-]C[");
    strbuf_append(&want, in.data + 17, in.len - 17);
    strbuf_append_str(&want, "]E[eos]");
    check("overlong header is content", in.data, 0, 1, 1, want.data);
    check_chunkings("overlong header", in.data, 0, 1);

    recorder r;
    recorder_init(&r);
    hm_parser_options o = {0, 1};
    hm_parser *p = hm_parser_new(&o, on_event, &r);
    for (size_t i = 0; i < in.len; i++) hm_parser_feed(p, in.data + i, 1, 0, -1);
    ok(r.n_content > 0, "content streams before the end");
    hm_parser_free(p);
    recorder_clear(&r);
    strbuf_clear(&in);
    strbuf_clear(&want);
}

static void test_chunkings(void)
{
    check_chunkings("two messages",
                    "<|channel|>analysis<|message|>Déjà vu 💖 ok<|end|><|start|>assistant"
                    "<|channel|>final<|message|>Fin: 日本語.<|return|>",
                    1, 1);
    check_chunkings("tool call",
                    "<|channel|>commentary to=functions.get_weather <|constrain|>json"
                    "<|message|>{\"city\":\"Zürich\"}<|call|>",
                    1, 1);
    check_chunkings("invalid bytes",
                    "<|channel|>final<|message|>a\xF0\x9F b\xFF\xFE c\xE2\x82<|end|>", 1, 1);
    check_chunkings("non-strict recovery", "<|channel|>final I  cannot\nhelp<|return|>", 0, 1);
}

/* Feeds raw byte pieces, returning the content delta after each as a '|'-joined list. */
static char *deltas(const char *const *chunks, size_t n, int eos)
{
    recorder r;
    recorder_init(&r);
    hm_parser_options o = {1, 0};
    hm_parser *p = hm_parser_new(&o, on_event, &r);
    hm_parser_feed(p, "<|start|>", 9, 1, 200006);
    hm_parser_feed(p, "assistant", 9, 0, 173781);
    hm_parser_feed(p, "<|message|>", 11, 1, 200008);
    strbuf out;
    strbuf_init(&out);
    for (size_t i = 0; i < n; i++) {
        strbuf_reset(&r.delta);
        int special = strcmp(chunks[i], "<|end|>") == 0;
        hm_parser_feed(p, chunks[i], strlen(chunks[i]), special, -1);
        strbuf_printf(&out, "%s%s", i ? "|" : "", r.delta.len ? r.delta.data : "null");
    }
    if (eos) {
        strbuf_reset(&r.delta);
        hm_parser_finish(p);
        strbuf_printf(&out, "|eos:%s", r.delta.len ? r.delta.data : "null");
    }
    hm_parser_free(p);
    recorder_clear(&r);
    return strbuf_take(&out, NULL);
}

static void test_utf8(void)
{
    const char *emoji[] = {"\xF0\x9F\x92", "\x96"};
    char *d = deltas(emoji, 2, 0);
    is_str(d, "null|\xF0\x9F\x92\x96", "split emoji held back until complete");
    free(d);
    const char *story[] = {" \xF0\x9F", " interesting", " story", "Y"};
    d = deltas(story, 4, 0);
    is_str(d, " |\xEF\xBF\xBD| interesting story|Y", "upstream deltas after a broken sequence");
    free(d);
    const char *two[] = {" \xF0\x9F", " \xF0\x9F", "worked"};
    d = deltas(two, 3, 1);
    is_str(d, " |\xEF\xBF\xBD| \xEF\xBF\xBD|eos:worked", "two broken sequences");
    free(d);
    const char *end[] = {" \xF0\x9F", "<|end|>"};
    d = deltas(end, 2, 0);
    is_str(d, " |\xEF\xBF\xBD", "held bytes flushed at the terminator");
    free(d);
    const char *lone[] = {"\x80\x80", "x"};
    d = deltas(lone, 2, 1);
    is_str(d,
           "\xEF\xBF\xBD|\xEF\xBF\xBD"
           "x|eos:null",
           "each stray continuation byte is one U+FFFD");
    free(d);
    const char *surrogate[] = {"\xED\xA0\x80"};
    d = deltas(surrogate, 1, 1);
    is_str(d, "\xEF\xBF\xBD|eos:\xEF\xBF\xBD\xEF\xBF\xBD", "surrogates are invalid");
    free(d);
}

/* The channel value ends at any Unicode White_Space (upstream's
 * char::is_whitespace), not only ASCII: "final<WS>json" is channel "final"
 * with recipient "json". Characters that only look blank (zero width space,
 * Mongolian vowel separator, BOM) are part of the value. */
static void test_channel_unicode_whitespace(void)
{
    static const struct {
        const char *utf8; /* the character */
        const char *name; /* its code point */
    } spaces[] = {
        {"\t", "U+0009"},           {"\v", "U+000B"},           {"\f", "U+000C"},
        {"\r", "U+000D"},           {"\xC2\x85", "U+0085"},     {"\xC2\xA0", "U+00A0"},
        {"\xE1\x9A\x80", "U+1680"}, {"\xE2\x80\x80", "U+2000"}, {"\xE2\x80\x8A", "U+200A"},
        {"\xE2\x80\xA8", "U+2028"}, {"\xE2\x80\xA9", "U+2029"}, {"\xE2\x80\xAF", "U+202F"},
        {"\xE2\x81\x9F", "U+205F"}, {"\xE3\x80\x80", "U+3000"},
    };
    char in[128], want[128];
    for (size_t i = 0; i < sizeof spaces / sizeof *spaces; i++) {
        snprintf(in, sizeof in, "<|channel|>final%sjson<|message|>x<|end|>", spaces[i].utf8);
        char name[64];
        snprintf(name, sizeof name, "channel ends at %s", spaces[i].name);
        check(name, in, 1, 1, 1, "S[assistant|final|json|-]C[x]E[end]");
        snprintf(name, sizeof name, "channel ends at %s, non-strict", spaces[i].name);
        check(name, in, 0, 1, 1, "S[assistant|final|json|-]C[x]E[end]");
    }
    check_chunkings("channel ends at U+3000", "<|channel|>final\xE3\x80\x80json<|message|>x<|end|>",
                    1, 1);
    static const char *const not_spaces[] = {"\xE2\x80\x8B", "\xE1\xA0\x8E", "\xEF\xBB\xBF"};
    static const char *const not_names[] = {"U+200B", "U+180E", "U+FEFF"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(in, sizeof in, "<|channel|>final%sjson<|message|>x<|end|>", not_spaces[i]);
        snprintf(want, sizeof want, "S[assistant|final%sjson|-|-]C[x]E[end]", not_spaces[i]);
        char name[64];
        snprintf(name, sizeof name, "%s is not whitespace: part of the channel", not_names[i]);
        check(name, in, 1, 1, 1, want);
    }
    check("header closed by a terminator: content after Unicode whitespace",
          "<|channel|>final\xE3\x80\x80Hello<|end|>", 0, 1, 1,
          "S[assistant|final|-|-]C[Hello]E[end]");
}

/* Branches the cases above do not reach: a header without a role, header
 * parts split at every ASCII whitespace, recovery corners, a NULL piece. */
static void test_header_corners(void)
{
    check("no role word (strict)", "<|start|><|message|>x<|end|>", 1, 0, 1,
          "X[message header did not contain a role]");
    check("no role word (non-strict): assistant", "<|start|><|message|>x<|end|>", 0, 0, 1,
          "S[assistant|-|-|-]C[x]E[end]");
    check("parts split at \\n, \\f and \\r",
          "<|start|>assistant\nto=functions.f\f<|channel|>commentary\r<|constrain|>json"
          "<|message|>{}<|call|>",
          1, 0, 1, "S[assistant|commentary|functions.f|<|constrain|>json]C[{}]E[call]");
    check("recipient and content type split at \\n",
          "<|channel|>commentary to=functions.f\njson<|message|>{}<|call|>", 1, 1, 1,
          "S[assistant|commentary|functions.f|json]C[{}]E[call]");
    check("header closed by <|call|> (non-strict) keeps its words",
          "<|channel|>commentary Hi there<|call|>", 0, 1, 1,
          "S[assistant|commentary|-|-]C[Hi there]E[call]");
    check("empty channel value in a header closed by a terminator: no channel, text kept",
          "<|channel|> Hi<|end|>", 0, 1, 1, "S[assistant|-|-|-]C[Hi]E[end]");
    check("eos in a header of recipient and bare content type: syntax only",
          "<|channel|>commentary to=functions.f json", 0, 1, 1, "");
    check("eos in a header with a word after the content type keeps the text",
          "<|channel|>commentary to=functions.f json extra", 0, 1, 1,
          "S[assistant|commentary|-|-]C[to=functions.f json extra]E[eos]");
    check("implied assistant header: another role's word is text", "user says hi<|end|>", 0, 1, 1,
          "S[assistant|-|-|-]C[user says hi]E[end]");
    check("no hint, non-strict: text after a first message opens an assistant message",
          "<|start|>assistant<|channel|>final<|message|>A<|end|>more<|end|>", 0, 0, 1,
          "S[assistant|final|-|-]C[A]E[end]S[assistant|-|-|-]C[more]E[end]");

    recorder r;
    recorder_init(&r);
    hm_parser_options o = {1, 1};
    hm_parser *p = hm_parser_new(&o, on_event, &r);
    hm_parser_feed(p, "<|channel|>", 11, 1, 200005);
    hm_parser_feed(p, "final", 5, 0, -1);
    hm_parser_feed(p, "<|message|>", 11, 1, 200008);
    is_int(hm_parser_feed(p, NULL, 0, 0, -1), 0, "a NULL piece is an empty one");
    hm_parser_feed(p, "ok", 2, 0, -1);
    hm_parser_finish(p);
    flush_pending(&r);
    is_str(r.log.data, "S[assistant|final|-|-]C[ok]E[eos]", "and changes nothing");
    hm_parser_free(p);
    recorder_clear(&r);
}

/* Channel seen at each feed. */
typedef struct channel_probe {
    hm_parser *p; /* the parser */
    strbuf trace; /* channels at each MESSAGE_START and CONTENT */
} channel_probe;

static void probe_event(void *ud, const hm_event *ev)
{
    channel_probe *c = ud;
    const char *ch = hm_parser_channel(c->p);
    if (ev->kind != HM_EV_ERROR) strbuf_printf(&c->trace, "%d:%s ", ev->kind, ch ? ch : "-");
}

static void test_channel(void)
{
    channel_probe c;
    strbuf_init(&c.trace);
    hm_parser_options o = {0, 1};
    c.p = hm_parser_new(&o, probe_event, &c);
    ok(hm_parser_channel(c.p) == NULL, "no channel in the first header");
    pieces ps = split("<|channel|>analysis<|message|>x<|end|><|start|>assistant<|channel|>final"
                      "<|message|>y");
    for (size_t i = 0; i < ps.n; i++)
        hm_parser_feed(c.p, ps.v[i].text, ps.v[i].len, ps.v[i].is_special, -1);
    is_str(hm_parser_channel(c.p), "final", "channel of the message being read");
    hm_parser_finish(c.p);
    ok(hm_parser_channel(c.p) == NULL, "no channel after the end");
    is_str(c.trace.data, "0:analysis 1:analysis 2:analysis 0:final 1:final 2:final ",
           "channel during each event (still set while the message ends)");
    hm_parser_free(c.p);
    pieces_free(&ps);
    strbuf_clear(&c.trace);
}

int main(void)
{
    test_well_formed();
    test_strict_errors();
    test_non_strict();
    test_chunkings();
    test_long_header();
    test_utf8();
    test_channel();
    test_channel_unicode_whitespace();
    test_header_corners();
    return done_testing();
}
