/* test_harmony_roundtrip.c: render -> parse property test.
 *
 * For many random conversations (seeded PRNG) of assistant messages (and
 * tool results) with random channels, recipients, content types and content
 * (ASCII, multibyte UTF-8, text that spells special tokens), the rendering
 * (hm_render) is parsed back and must give exactly the generated messages,
 * with the same event sequence (content deltas coalesced) whether the pieces
 * are fed
 *   - as rendered (one piece per segment),
 *   - one byte at a time (specials whole),
 *   - with the text cut at every byte offset,
 *   - or flattened to text and fed through the scanner in random chunks
 *     (when no content spells a terminator: at text level that would end the
 *     message, which is why prompts are segments),
 *   - or as real tokens: each segment encoded by the bundled o200k_harmony
 *     tokenizer (specials by id, text with specials not allowed) and every
 *     id decoded back to its bytes, as the native engine streams them (BPE
 *     tokens cut multibyte characters).
 * Half the cases start after "<|start|>assistant" with the role hint. Every
 * case runs in strict mode and again in non-strict mode (same results: the
 * recoveries only touch malformed input). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harmony/harmony.h"
#include "harmony/strbuf.h"
#include "tests/tap.h"
#include "tokenizer/fktok.h"

#define N_CASES 600

static uint64_t rng_state;

static uint64_t next_u64(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t pick(size_t n)
{
    return (size_t)(next_u64() % n);
}

/* ==== random conversations =========================================================== */

static const char *const FRAGMENTS[] = {
    "Hello",       " ",
    "world",       ".",
    "\n",          "42",
    "é",           "ß",
    "日本語",      "💖",
    "🦀 rust",   "Ω≈ç",
    "{\"a\": 1}",  "<|end|>",
    "<|start|>",   "<|channel|>",
    "<|message|>", "<|call|>",
    "<|return|>",  "<|constrain|>",
    "<|foo|>",     "<|",
    "|>",          "to=functions.x",
    "analysis",    "\t",
    "  ",          "\xC2\xA0",
    "end",         "<|endoftext|>",
};

static char *random_content(void)
{
    strbuf b;
    strbuf_init(&b);
    size_t n = pick(8);
    for (size_t i = 0; i < n; i++)
        strbuf_append_str(&b, FRAGMENTS[pick(sizeof FRAGMENTS / sizeof *FRAGMENTS)]);
    return strbuf_take(&b, NULL);
}

static char *random_name(void)
{
    static const char *const names[] = {"get_weather", "lookup", "f", "search_notes", "a_b_c"};
    strbuf b;
    strbuf_init(&b);
    strbuf_printf(&b, "functions.%s", names[pick(5)]);
    return strbuf_take(&b, NULL);
}

static void random_assistant(hm_message *m)
{
    static const char *const channels[] = {"analysis", "commentary", "final", NULL};
    const char *ch = channels[pick(4)];
    m->channel = ch ? strdup(ch) : NULL;
    if (pick(3) == 0) {
        m->recipient = random_name();
        static const char *const types[] = {"<|constrain|>json", "json", NULL};
        const char *t = types[pick(3)];
        m->content_type = t ? strdup(t) : NULL;
    }
    m->content = random_content();
}

static void random_tool_result(hm_message *m)
{
    m->name = random_name();
    m->recipient = strdup("assistant");
    m->channel = strdup("commentary");
    m->content = random_content();
}

static void random_conversation(hm_conversation *c, int role_hint)
{
    hm_conversation_init(c);
    size_t n = 1 + pick(5);
    for (size_t i = 0; i < n; i++) {
        int tool = !(role_hint && i == 0) && pick(5) == 0;
        hm_message *m = hm_conversation_push(c, tool ? HM_ROLE_TOOL : HM_ROLE_ASSISTANT);
        if (tool)
            random_tool_result(m);
        else
            random_assistant(m);
    }
}

/* What the parser must give back for the conversation. */
static char *expected_log(const hm_conversation *c)
{
    strbuf b;
    strbuf_init(&b);
    strbuf_append(&b, "", 0);
    for (size_t i = 0; i < c->n_messages; i++) {
        const hm_message *m = &c->messages[i];
        int tool = m->role == HM_ROLE_TOOL;
        strbuf_printf(&b, "S[%s%s|%s|%s|%s]", tool ? "tool:" : "assistant", tool ? m->name : "",
                      m->channel ? m->channel : "-", m->recipient ? m->recipient : "-",
                      m->content_type ? m->content_type : "-");
        if (m->content[0]) strbuf_printf(&b, "C[%s]", m->content);
        strbuf_printf(&b, "E[%s]", !tool && m->recipient ? "call" : "end");
    }
    return strbuf_take(&b, NULL);
}

/* ==== parsing ============================================================================= */

typedef struct recorder {
    strbuf log;     /* events, content coalesced */
    strbuf pending; /* content not yet logged */
} recorder;

static void flush_pending(recorder *r)
{
    if (!r->pending.len) return;
    strbuf_append_str(&r->log, "C[");
    strbuf_append(&r->log, r->pending.data, r->pending.len);
    strbuf_append_str(&r->log, "]");
    strbuf_reset(&r->pending);
}

static void on_event(void *ud, const hm_event *ev)
{
    static const char *terms[] = {"none", "end", "return", "call", "eos"};
    static const char *roles[] = {"system", "developer", "user", "assistant", "tool:"};
    recorder *r = ud;
    if (ev->kind == HM_EV_CONTENT) {
        strbuf_append(&r->pending, ev->text, ev->len);
        return;
    }
    flush_pending(r);
    if (ev->kind == HM_EV_MESSAGE_START)
        strbuf_printf(&r->log, "S[%s%s|%s|%s|%s]", roles[ev->role], ev->name ? ev->name : "",
                      ev->channel ? ev->channel : "-", ev->recipient ? ev->recipient : "-",
                      ev->content_type ? ev->content_type : "-");
    else if (ev->kind == HM_EV_MESSAGE_END)
        strbuf_printf(&r->log, "E[%s]", terms[ev->terminator]);
    else
        strbuf_printf(&r->log, "X[%s]", ev->error);
}

typedef struct session {
    recorder rec; /* what came out */
    hm_parser *p; /* the parser */
} session;

static int strict_mode = 1; /* parser mode of the current pass */

static void session_start(session *s, int role_hint)
{
    strbuf_init(&s->rec.log);
    strbuf_init(&s->rec.pending);
    strbuf_append(&s->rec.log, "", 0);
    hm_parser_options o = {strict_mode, role_hint};
    s->p = hm_parser_new(&o, on_event, &s->rec);
}

static char *session_end(session *s)
{
    hm_parser_finish(s->p);
    hm_parser_free(s->p);
    flush_pending(&s->rec);
    strbuf_clear(&s->rec.pending);
    return strbuf_take(&s->rec.log, NULL);
}

/* Feeds segments from `first`; text cut in pieces of at most `step` bytes
 * (0: whole), or cut once at global text offset `cut` (>= 0). */
static char *parse_segments(const hm_prompt *pr, size_t first, int role_hint, size_t step, long cut)
{
    session s;
    session_start(&s, role_hint);
    size_t offset = 0;
    for (size_t i = first; i < pr->n; i++) {
        const hm_segment *g = &pr->segs[i];
        if (g->is_special) {
            hm_parser_feed(s.p, g->text, g->len, 1, -1);
            continue;
        }
        if (cut >= 0 && (size_t)cut > offset && (size_t)cut < offset + g->len) {
            size_t k = (size_t)cut - offset;
            hm_parser_feed(s.p, g->text, k, 0, -1);
            hm_parser_feed(s.p, g->text + k, g->len - k, 0, -1);
        } else if (step == 0 || g->len == 0) {
            hm_parser_feed(s.p, g->text, g->len, 0, -1);
        } else {
            for (size_t k = 0; k < g->len; k += step)
                hm_parser_feed(s.p, g->text + k, g->len - k < step ? g->len - k : step, 0, -1);
        }
        offset += g->len;
    }
    return session_end(&s);
}

static void scanner_piece(void *ud, const char *text, size_t len, int is_special)
{
    hm_parser_feed(((session *)ud)->p, text, len, is_special, -1);
}

static char *parse_scanned(const char *text, size_t len, int role_hint)
{
    session s;
    session_start(&s, role_hint);
    hm_scanner *sc = hm_scanner_new();
    for (size_t i = 0; i < len;) {
        size_t n = 1 + pick(pick(2) ? 4 : 24);
        if (n > len - i) n = len - i;
        hm_scanner_feed(sc, text + i, n, scanner_piece, &s);
        i += n;
    }
    hm_scanner_finish(sc, scanner_piece, &s);
    hm_scanner_free(sc);
    return session_end(&s);
}

static void feed_token(const fktok *tok, hm_parser *p, int32_t id)
{
    size_t len = 0;
    const char *bytes = fktok_token_bytes(tok, id, &len);
    if (bytes) hm_parser_feed(p, bytes, len, fktok_is_special(tok, id), id);
}

/* Encodes the segments from `first` and feeds one piece per token. */
static char *parse_tokens(const fktok *tok, const hm_prompt *pr, size_t first, int role_hint)
{
    session s;
    session_start(&s, role_hint);
    fktok_ids ids = {NULL, 0, 0};
    for (size_t i = first; i < pr->n; i++) {
        const hm_segment *g = &pr->segs[i];
        if (g->is_special) {
            feed_token(tok, s.p, fktok_special_id(tok, g->text, g->len));
            continue;
        }
        ids.n = 0;
        fktok_encode(tok, g->text, g->len, 0, &ids);
        for (size_t k = 0; k < ids.n; k++) feed_token(tok, s.p, ids.ids[k]);
    }
    free(ids.ids);
    return session_end(&s);
}

static int spells_terminator(const hm_conversation *c)
{
    for (size_t i = 0; i < c->n_messages; i++) {
        const char *t = c->messages[i].content;
        if (strstr(t, "<|end|>") || strstr(t, "<|return|>") || strstr(t, "<|call|>")) return 1;
    }
    return 0;
}

/* ==== the property ========================================================================= */

typedef struct failures {
    int render, whole, bytes, cuts, scanned, tokens; /* cases failing each property */
    int scanned_runs;                                /* cases run through the scanner */
    int token_runs;                                  /* cases run as tokens */
} failures;

static fktok *tokenizer; /* the bundled o200k_harmony, or NULL */

static void report(int *counter, const char *what, int case_no, const char *got, const char *want)
{
    if ((*counter)++ < 3) diag("case %d %s:\n#   got  %s\n#   want %s", case_no, what, got, want);
}

static void one_case(int case_no, failures *f)
{
    int hint = (int)pick(2);
    hm_conversation c;
    random_conversation(&c, hint);
    hm_prompt pr;
    hm_prompt_init(&pr);
    char *err = NULL;
    if (hm_render(&c, HM_RENDER_CONVERSATION, 0, &pr, &err) < 0) {
        report(&f->render, "render", case_no, err ? err : "?", "");
        free(err);
        hm_conversation_clear(&c);
        return;
    }
    /* With the hint, the parser starts after "<|start|>" "assistant". */
    size_t first = hint ? 2 : 0;
    char *want = expected_log(&c);

    char *whole = parse_segments(&pr, first, hint, 0, -1);
    if (strcmp(whole, want) != 0) report(&f->whole, "whole", case_no, whole, want);
    char *bytes = parse_segments(&pr, first, hint, 1, -1);
    if (strcmp(bytes, want) != 0) report(&f->bytes, "byte at a time", case_no, bytes, want);
    size_t total = 0;
    for (size_t i = first; i < pr.n; i++) total += pr.segs[i].is_special ? 0 : pr.segs[i].len;
    int cut_bad = 0;
    for (size_t cut = 1; cut < total && !cut_bad; cut++) {
        char *got = parse_segments(&pr, first, hint, 0, (long)cut);
        if (strcmp(got, want) != 0) {
            report(&f->cuts, "cut", case_no, got, want);
            cut_bad = 1;
        }
        free(got);
    }
    if (!spells_terminator(&c)) {
        size_t len = 0;
        char *flat = hm_prompt_flatten(&pr, &len);
        size_t skip = hint ? strlen("<|start|>assistant") : 0;
        char *got = parse_scanned(flat + skip, len - skip, hint);
        if (strcmp(got, want) != 0) report(&f->scanned, "scanned", case_no, got, want);
        f->scanned_runs++;
        free(got);
        free(flat);
    }
    char *by_tokens = parse_tokens(tokenizer, &pr, first, hint);
    if (strcmp(by_tokens, want) != 0) report(&f->tokens, "tokens", case_no, by_tokens, want);
    f->token_runs++;
    free(by_tokens);
    free(whole);
    free(bytes);
    free(want);
    hm_prompt_clear(&pr);
    hm_conversation_clear(&c);
}

int main(void)
{
    failures f;
    memset(&f, 0, sizeof f);
    char err[512] = "";
    tokenizer = fktok_load_default(err, sizeof err);
    require(tokenizer != NULL, "the bundled tokenizer loads: %s", err);
    for (strict_mode = 1; strict_mode >= 0; strict_mode--) {
        rng_state = 20261126;
        for (int i = 0; i < N_CASES; i++) one_case(i, &f);
    }
    is_int(f.render, 0, "%d random conversations render (each run strict and non-strict)", N_CASES);
    is_int(f.whole, 0, "parsing the segments gives the conversation back");
    is_int(f.bytes, 0, "one byte at a time gives the same events");
    is_int(f.cuts, 0, "a cut at every byte offset gives the same events");
    is_int(f.scanned, 0, "text through the scanner in random chunks gives the same events");
    require(f.scanned_runs >= N_CASES / 4, "the scanner path ran (%d cases)", f.scanned_runs);
    is_int(f.tokens, 0, "real tokens decoded piece by piece give the same events (%d cases)",
           f.token_runs);
    fktok_free(tokenizer);
    return done_testing();
}
