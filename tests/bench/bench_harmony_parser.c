/* bench_harmony_parser: throughput of the Harmony parser on one core.
 *
 * Generates a realistic large completion (analysis, a preamble, a tool call
 * with JSON arguments, a final answer; mixed ASCII and multibyte text,
 * repeated to about 8 MB) and measures, best of several runs:
 *   tokens      pieces of about 4 bytes (1..7, cut anywhere, multibyte
 *               characters included), specials as their own pieces;
 *   tokens+api  the same, with every event mapped by hm_openai_out and the
 *               deltas taken (and serialised) after every piece, as the
 *               gateway does when streaming;
 *   text/4      the completion as text through the scanner in 4-byte chunks
 *               (a proxy core streaming one token per event), then parsed;
 *   text/4096   the same in 4096-byte chunks.
 * Prints MB/s (of completion bytes) and pieces/s (pieces fed to the parser).
 * Single-threaded; times are the thread's CPU time, so that other processes
 * on a shared machine do not count.
 *
 *   bench_harmony_parser [MEGABYTES] [RUNS] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harmony/harmony.h"
#include "harmony/strbuf.h"
#include "tests/bench/bench_util.h"

/* A piece of the completion. */
typedef struct piece {
    size_t at;      /* offset in the completion text */
    size_t len;     /* bytes */
    int is_special; /* special token */
} piece;

typedef struct bench_state {
    size_t content_bytes; /* content bytes seen (keeps the work observable) */
    size_t pieces;        /* pieces fed to the parser */
    hm_parser *p;         /* the parser (text runs) */
    hm_openai_out *out;   /* the OpenAI mapping (tokens+api run) */
} bench_state;

static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* ==== the completion ============================================================ */

static const char *const WORDS[] = {
    "the",   "user",   "asks",  "about",  "weather", "in",   "Zürich", "we",       "should",
    "call",  "tool",   "then",  "answer", "naïve",   "café", "日本語", "の",       "天気",
    "😀",     "résumé", "42",    "°C",     "data",    "and",  "Привет", "мир",      "μ",
    "let's", "check",  "first", "maybe",  "(",       ")",    "—",      "français",
};

static void words(strbuf *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        strbuf_append_str(b, WORDS[next_rand() % (sizeof WORDS / sizeof *WORDS)]);
        strbuf_append_str(b, next_rand() % 12 == 0 ? ".\n" : " ");
    }
}

/* Appends one piece record, growing the list. */
static void push_piece(piece **ps, size_t *n, size_t *cap, piece p)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        *ps = realloc(*ps, *cap * sizeof **ps);
    }
    (*ps)[(*n)++] = p;
}

/* Adds a special token to the text and the piece list. */
static void special(strbuf *b, piece **ps, size_t *n, size_t *cap, const char *tok)
{
    push_piece(ps, n, cap, (piece){b->len, strlen(tok), 1});
    strbuf_append_str(b, tok);
}

/* Adds text, cut into pieces of 1..7 bytes. */
static void text(strbuf *b, piece **ps, size_t *n, size_t *cap, const char *s, size_t len)
{
    size_t at = b->len;
    strbuf_append(b, s, len);
    for (size_t i = 0; i < len;) {
        size_t k = 1 + next_rand() % 7;
        if (k > len - i) k = len - i;
        push_piece(ps, n, cap, (piece){at + i, k, 0});
        i += k;
    }
}

static void text_str(strbuf *b, piece **ps, size_t *n, size_t *cap, const char *s)
{
    text(b, ps, n, cap, s, strlen(s));
}

/* One assistant message: [<|start|>assistant]<|channel|>HEADER[<|constrain|>json]
 * <|message|>CONTENT TERMINATOR, where CONTENT is `json` when given, else
 * `n_words` random words. */
static void message(strbuf *b, piece **ps, size_t *n, size_t *cap, int with_start,
                    const char *header, const char *json, size_t n_words, const char *terminator)
{
    if (with_start) {
        special(b, ps, n, cap, "<|start|>");
        text_str(b, ps, n, cap, "assistant");
    }
    special(b, ps, n, cap, "<|channel|>");
    text_str(b, ps, n, cap, header);
    if (json) {
        special(b, ps, n, cap, "<|constrain|>");
        text_str(b, ps, n, cap, "json");
    }
    special(b, ps, n, cap, "<|message|>");
    if (json) {
        text_str(b, ps, n, cap, json);
    } else {
        strbuf w;
        strbuf_init(&w);
        words(&w, n_words);
        text(b, ps, n, cap, w.data, w.len);
        strbuf_clear(&w);
    }
    special(b, ps, n, cap, terminator);
}

/* One turn: analysis, preamble, tool call, final. The completion starts
 * after "<|start|>assistant". */
static void turn(strbuf *b, piece **ps, size_t *n, size_t *cap, int first)
{
    message(b, ps, n, cap, !first, "analysis", NULL, 400, "<|end|>");
    message(b, ps, n, cap, 1, "commentary", NULL, 30, "<|end|>");
    message(b, ps, n, cap, 1, "commentary to=functions.get_weather ",
            "{\"location\":\"Zürich, Schweiz\",\"unit\":\"celsius\",\"days\":[1,2,3],"
            "\"note\":\"日本語 ok\"}",
            0, "<|call|>");
    message(b, ps, n, cap, 1, "final", NULL, 250, "<|end|>");
}

/* ==== runs ============================================================================ */

static void count_event(void *ud, const hm_event *ev)
{
    bench_state *st = ud;
    if (ev->kind == HM_EV_CONTENT) st->content_bytes += ev->len;
}

static void api_event(void *ud, const hm_event *ev)
{
    bench_state *st = ud;
    if (ev->kind == HM_EV_CONTENT) st->content_bytes += ev->len;
    hm_openai_out_event(st->out, ev);
}

static void run_pieces(const char *t, const piece *ps, size_t n, int with_api, bench_state *st)
{
    hm_parser_options o = {0, 1};
    memset(st, 0, sizeof *st);
    if (with_api) st->out = hm_openai_out_new(NULL);
    hm_parser *p = hm_parser_new(&o, with_api ? api_event : count_event, st);
    for (size_t i = 0; i < n; i++) {
        hm_parser_feed(p, t + ps[i].at, ps[i].len, ps[i].is_special, -1);
        if (with_api) {
            hm_openai_out_count_token(st->out, hm_parser_channel(p));
            json_t *d = hm_openai_out_take_deltas(st->out);
            for (size_t k = 0; k < json_array_size(d); k++) {
                char *js = json_dumps(json_array_get(d, k), JSON_COMPACT);
                free(js);
            }
            json_decref(d);
        }
    }
    hm_parser_finish(p);
    hm_parser_free(p);
    st->pieces = n;
    hm_openai_out_free(st->out);
}

static void scanned_piece(void *ud, const char *text, size_t len, int is_special)
{
    bench_state *st = ud;
    st->pieces++;
    hm_parser_feed(st->p, text, len, is_special, -1);
}

static void run_text(const char *t, size_t len, size_t chunk, bench_state *st)
{
    hm_parser_options o = {0, 1};
    memset(st, 0, sizeof *st);
    st->p = hm_parser_new(&o, count_event, st);
    hm_scanner *sc = hm_scanner_new();
    for (size_t i = 0; i < len; i += chunk)
        hm_scanner_feed(sc, t + i, len - i < chunk ? len - i : chunk, scanned_piece, st);
    hm_scanner_finish(sc, scanned_piece, st);
    hm_parser_finish(st->p);
    hm_scanner_free(sc);
    hm_parser_free(st->p);
}

int main(int argc, char **argv)
{
    double mb = argc > 1 ? atof(argv[1]) : 8.0;
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    if (mb <= 0 || runs <= 0) {
        fprintf(stderr, "usage: bench_harmony_parser [MEGABYTES] [RUNS]\n");
        return 2;
    }
    strbuf t;
    strbuf_init(&t);
    piece *ps = NULL;
    size_t n = 0, cap = 0;
    for (int first = 1; t.len < (size_t)(mb * 1e6); first = 0) turn(&t, &ps, &n, &cap, first);
    printf("completion: %.2f MB, %zu pieces (%.2f bytes/piece), best of %d runs, CPU time of one "
           "thread\n",
           t.len / 1e6, n, (double)t.len / n, runs);

    const char *names[] = {"tokens", "tokens+api", "text/4", "text/4096"};
    size_t expect_content = 0;
    for (int mode = 0; mode < 4; mode++) {
        double best = 1e30;
        bench_state st;
        for (int r = 0; r < runs; r++) {
            double t0 = bench_clock_s(CLOCK_THREAD_CPUTIME_ID);
            if (mode < 2)
                run_pieces(t.data, ps, n, mode == 1, &st);
            else
                run_text(t.data, t.len, mode == 2 ? 4 : 4096, &st);
            double dt = bench_clock_s(CLOCK_THREAD_CPUTIME_ID) - t0;
            if (dt < best) best = dt;
        }
        if (mode == 0) expect_content = st.content_bytes;
        if (st.content_bytes != expect_content) {
            fprintf(stderr, "%s: %zu content bytes, tokens gave %zu\n", names[mode],
                    st.content_bytes, expect_content);
            return 1;
        }
        printf("%-10s %8.1f MB/s %12.0f pieces/s  (%zu pieces, %.1f ms)\n", names[mode],
               t.len / 1e6 / best, st.pieces / best, st.pieces, best * 1e3);
    }
    free(ps);
    strbuf_clear(&t);
    return 0;
}
