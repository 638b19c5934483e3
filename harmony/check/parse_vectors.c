/* parse_vectors.c: runs one parse vector (tests/fixtures/harmony/README.md).
 *
 * A vector is run up to three ways, each compared with every expectation:
 *   tokens   its input_tokens, each id decoded to one piece (bytes and
 *            special flag from the tokenizer; an id outside the vocabulary
 *            is an undecodable token: one U+FFFD, as the streaming decoder
 *            of libfktok writes it), with expected_deltas checked per id;
 *   encoded  without input_tokens: input_text encoded by the tokenizer with
 *            special tokens allowed, as the README prescribes (token level is
 *            what upstream parses);
 *   scanned  input_text split by the Harmony text scanner, fed once whole and
 *            once a byte at a time (text level must give the same messages).
 * Every run must give the expected messages (role, name, channel, recipient,
 * content type, content), fail exactly when expected_error is not null (with
 * the same text), and leave expected_current_content in progress. */
#include "harmony/check/check.h"
#include "harmony/harmony.h"
#include "harmony/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== one run ===================================================================== */

/* A message the parser completed, or the one in progress. */
typedef struct got_message {
    hm_role role;       /* author role */
    char *name;         /* tool author or NULL */
    char *channel;      /* or NULL */
    char *recipient;    /* or NULL */
    char *content_type; /* or NULL */
    strbuf content;     /* all its content */
} got_message;

typedef struct run_result {
    got_message *msgs; /* completed messages, then possibly one in progress */
    size_t n_done;     /* completed */
    int open;          /* 1 when msgs[n_done] is in progress */
    char *error;       /* error text or NULL */
    strbuf delta;      /* content emitted by the current piece */
} run_result;

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void on_event(void *ud, const hm_event *ev)
{
    run_result *r = ud;
    switch (ev->kind) {
    case HM_EV_MESSAGE_START: {
        r->msgs = realloc(r->msgs, (r->n_done + 1) * sizeof *r->msgs);
        got_message *m = &r->msgs[r->n_done];
        m->role = ev->role;
        m->name = dup_or_null(ev->name);
        m->channel = dup_or_null(ev->channel);
        m->recipient = dup_or_null(ev->recipient);
        m->content_type = dup_or_null(ev->content_type);
        strbuf_init(&m->content);
        strbuf_append(&m->content, "", 0);
        r->open = 1;
        break;
    }
    case HM_EV_CONTENT:
        if (r->open) strbuf_append(&r->msgs[r->n_done].content, ev->text, ev->len);
        strbuf_append(&r->delta, ev->text, ev->len);
        break;
    case HM_EV_MESSAGE_END:
        if (r->open) r->n_done++;
        r->open = 0;
        break;
    case HM_EV_ERROR:
        free(r->error);
        r->error = strdup(ev->error);
        break;
    }
}

static void result_free(run_result *r)
{
    size_t n = r->n_done + (r->open ? 1 : 0);
    for (size_t i = 0; i < n; i++) {
        free(r->msgs[i].name);
        free(r->msgs[i].channel);
        free(r->msgs[i].recipient);
        free(r->msgs[i].content_type);
        strbuf_clear(&r->msgs[i].content);
    }
    free(r->msgs);
    free(r->error);
    strbuf_clear(&r->delta);
}

/* A piece to feed. */
typedef struct piece {
    const char *text; /* borrowed */
    size_t len;       /* bytes */
    int is_special;   /* special token */
    int32_t id;       /* token id or -1 */
} piece;

typedef struct piece_list {
    piece *v;    /* array */
    size_t n;    /* used */
    strbuf heap; /* owns the text of scanned pieces (offsets fixed up at the end) */
} piece_list;

/* Feeds pieces; with `deltas` (one slot per piece) records each piece's content. */
static void run_pieces(const piece *v, size_t n, int strict, int hint, int eos, run_result *r,
                       json_t *deltas)
{
    memset(r, 0, sizeof *r);
    strbuf_init(&r->delta);
    hm_parser_options o = {strict, hint};
    hm_parser *p = hm_parser_new(&o, on_event, r);
    for (size_t i = 0; i < n; i++) {
        strbuf_reset(&r->delta);
        hm_parser_feed(p, v[i].text, v[i].len, v[i].is_special, v[i].id);
        if (deltas)
            json_array_append_new(deltas, r->delta.len ? json_stringn(r->delta.data, r->delta.len)
                                                       : json_null());
    }
    if (eos) hm_parser_finish(p);
    hm_parser_free(p);
}

/* ==== comparing =================================================================== */

static const char *role_string(hm_role r)
{
    static const char *names[] = {"system", "developer", "user", "assistant", "tool"};
    return names[r];
}

/* Quotes s for a one-line reason (escapes, cut at 60 bytes). */
static void quote(char *out, size_t out_len, const char *s)
{
    if (!s) {
        snprintf(out, out_len, "null");
        return;
    }
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; s[i] && o + 6 < out_len && i < 60; i++) {
        char c = s[i];
        if (c == '\n' || c == '"' || c == '\\' || c == '\t') {
            out[o++] = '\\';
            c = c == '\n' ? 'n' : c == '\t' ? 't' : c;
        }
        out[o++] = c;
    }
    out[o++] = '"';
    out[o] = '\0';
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Compares one field; on a difference writes why and returns 0. */
static int field(const char *run, size_t i, const char *what, const char *got, const char *want,
                 char *why, size_t why_len)
{
    if (same_str(got, want)) return 1;
    char g[160], w[160];
    quote(g, sizeof g, got);
    quote(w, sizeof w, want);
    snprintf(why, why_len, "%s: message %zu %s: got %s, want %s", run, i, what, g, w);
    return 0;
}

static const char *opt_string(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static int compare_message(const char *run, size_t i, const got_message *m, const json_t *want,
                           char *why, size_t why_len)
{
    const json_t *name = json_object_get(want, "name");
    return field(run, i, "role", role_string(m->role), opt_string(want, "role"), why, why_len) &&
           field(run, i, "name", m->name, name ? json_string_value(name) : NULL, why, why_len) &&
           field(run, i, "channel", m->channel, opt_string(want, "channel"), why, why_len) &&
           field(run, i, "recipient", m->recipient, opt_string(want, "recipient"), why, why_len) &&
           field(run, i, "content_type", m->content_type, opt_string(want, "content_type"), why,
                 why_len) &&
           field(run, i, "content", m->content.data, opt_string(want, "content"), why, why_len);
}

static int compare_result(const char *run, const run_result *r, const json_t *v, char *why,
                          size_t why_len)
{
    const json_t *want_msgs = json_object_get(v, "expected_messages");
    const char *want_error = opt_string(v, "expected_error");
    if (want_error && !r->error) {
        snprintf(why, why_len, "%s: no error, want \"%s\"", run, want_error);
        return 0;
    }
    if (!want_error && r->error) {
        snprintf(why, why_len, "%s: unexpected error \"%s\"", run, r->error);
        return 0;
    }
    if (want_error && strcmp(r->error, want_error) != 0) {
        snprintf(why, why_len, "%s: error \"%s\", want \"%s\"", run, r->error, want_error);
        return 0;
    }
    if (r->n_done != json_array_size(want_msgs)) {
        snprintf(why, why_len, "%s: %zu messages, want %zu", run, r->n_done,
                 json_array_size(want_msgs));
        return 0;
    }
    for (size_t i = 0; i < r->n_done; i++)
        if (!compare_message(run, i, &r->msgs[i], json_array_get(want_msgs, i), why, why_len))
            return 0;
    const json_t *cur = json_object_get(v, "expected_current_content");
    if (cur) {
        const char *got = r->open ? r->msgs[r->n_done].content.data : "";
        if (!field(run, r->n_done, "current content", got, json_string_value(cur), why, why_len))
            return 0;
    }
    return 1;
}

static int compare_deltas(const json_t *got, const json_t *want, char *why, size_t why_len)
{
    if (json_array_size(got) != json_array_size(want)) {
        snprintf(why, why_len, "tokens: %zu deltas, want %zu", json_array_size(got),
                 json_array_size(want));
        return 0;
    }
    for (size_t i = 0; i < json_array_size(want); i++) {
        const char *g = json_string_value(json_array_get(got, i));
        const char *w = json_string_value(json_array_get(want, i));
        if (!same_str(g, w)) {
            char gq[160], wq[160];
            quote(gq, sizeof gq, g);
            quote(wq, sizeof wq, w);
            snprintf(why, why_len, "tokens: delta after token %zu: got %s, want %s", i, gq, wq);
            return 0;
        }
    }
    return 1;
}

/* ==== building pieces ================================================================ */

static const char REPLACEMENT[] = "\xEF\xBF\xBD";

/* One piece per id. 0, or -1 with why when an id is not an integer. */
static int pieces_from_ids(const fktok *tok, const json_t *ids, piece *out, char *why,
                           size_t why_len)
{
    for (size_t i = 0; i < json_array_size(ids); i++) {
        const json_t *j = json_array_get(ids, i);
        if (!json_is_integer(j)) {
            snprintf(why, why_len, "input_tokens[%zu] is not an integer", i);
            return -1;
        }
        json_int_t id = json_integer_value(j);
        size_t len = 0;
        const char *bytes = NULL;
        if (id >= 0 && id <= INT32_MAX) bytes = fktok_token_bytes(tok, (int32_t)id, &len);
        if (!bytes) {
            out[i] = (piece){REPLACEMENT, 3, 0, -1};
            continue;
        }
        out[i] = (piece){bytes, len, fktok_is_special(tok, (int32_t)id), (int32_t)id};
    }
    return 0;
}

/* Collects scanner output: text is copied into one heap; pointers fixed later. */
static void collect(void *ud, const char *text, size_t len, int is_special)
{
    piece_list *pl = ud;
    pl->v = realloc(pl->v, (pl->n + 1) * sizeof *pl->v);
    pl->v[pl->n] = (piece){(const char *)(uintptr_t)pl->heap.len, len, is_special, -1};
    pl->n++;
    strbuf_append(&pl->heap, text, len);
}

static void scan_text(const char *text, size_t len, size_t chunk, piece_list *pl)
{
    memset(pl, 0, sizeof *pl);
    strbuf_init(&pl->heap);
    strbuf_append(&pl->heap, "", 0);
    hm_scanner *sc = hm_scanner_new();
    for (size_t i = 0; i < len; i += chunk) {
        size_t n = len - i < chunk ? len - i : chunk;
        hm_scanner_feed(sc, text + i, n, collect, pl);
    }
    hm_scanner_finish(sc, collect, pl);
    hm_scanner_free(sc);
    for (size_t i = 0; i < pl->n; i++) pl->v[i].text = pl->heap.data + (uintptr_t)pl->v[i].text;
}

/* ==== the vector ====================================================================== */

static int check_run(const char *name, const piece *v, size_t n, const json_t *vec, int strict,
                     int hint, int eos, json_t *deltas, char *why, size_t why_len)
{
    run_result r;
    run_pieces(v, n, strict, hint, eos, &r, deltas);
    int pass = compare_result(name, &r, vec, why, why_len);
    result_free(&r);
    return pass;
}

int fk_check_parse_vector(const json_t *vec, const fktok *tok, char *why, size_t why_len)
{
    const json_t *hint_j = json_object_get(vec, "role_hint");
    const json_t *text_j = json_object_get(vec, "input_text");
    const json_t *ids = json_object_get(vec, "input_tokens");
    const json_t *want_deltas = json_object_get(vec, "expected_deltas");
    if (!json_is_array(json_object_get(vec, "expected_messages")) ||
        !json_is_boolean(json_object_get(vec, "strict")) ||
        !json_is_boolean(json_object_get(vec, "eos")) || !(json_is_string(text_j) || ids)) {
        snprintf(why, why_len, "not a parse vector (expected_messages, strict, eos, input)");
        return 0;
    }
    if (hint_j && !json_is_null(hint_j) && !same_str(json_string_value(hint_j), "assistant")) {
        snprintf(why, why_len, "role_hint must be null or \"assistant\"");
        return 0;
    }
    int strict = json_is_true(json_object_get(vec, "strict"));
    int eos = json_is_true(json_object_get(vec, "eos"));
    int hint = json_is_string(hint_j);
    int pass = 1, runs = 0;

    json_t *id_list = NULL;
    fktok_ids enc = {NULL, 0, 0};
    if (!ids && json_is_string(text_j) && tok) {
        const char *t = json_string_value(text_j);
        if (fktok_encode(tok, t, json_string_length(text_j), 1, &enc) < 0) {
            snprintf(why, why_len, "encoded: out of memory");
            return 0;
        }
        id_list = json_array();
        for (size_t i = 0; i < enc.n; i++) json_array_append_new(id_list, json_integer(enc.ids[i]));
        free(enc.ids);
    }
    const json_t *token_input = ids ? ids : id_list;
    if (token_input) {
        if (!json_is_array(token_input)) {
            snprintf(why, why_len, "input_tokens is not an array");
            json_decref(id_list);
            return 0;
        }
        if (!tok) {
            snprintf(why, why_len, "input_tokens need a tokenizer (--tokenizer)");
            json_decref(id_list);
            return 0;
        }
        size_t n = json_array_size(token_input);
        piece *v = calloc(n ? n : 1, sizeof *v);
        json_t *got_deltas = json_array();
        pass = pieces_from_ids(tok, token_input, v, why, why_len) == 0 &&
               check_run(ids ? "tokens" : "encoded", v, n, vec, strict, hint, eos, got_deltas, why,
                         why_len);
        if (pass && ids && want_deltas)
            pass = compare_deltas(got_deltas, want_deltas, why, why_len);
        json_decref(got_deltas);
        free(v);
        runs++;
    }
    json_decref(id_list);
    if (pass && json_is_string(text_j)) {
        const char *t = json_string_value(text_j);
        size_t len = json_string_length(text_j);
        size_t chunks[2] = {len ? len : 1, 1};
        for (int k = 0; k < 2 && pass; k++) {
            piece_list pl;
            scan_text(t, len, chunks[k], &pl);
            pass = check_run(k == 0 ? "scanned" : "scanned bytewise", pl.v, pl.n, vec, strict, hint,
                             eos, NULL, why, why_len);
            free(pl.v);
            strbuf_clear(&pl.heap);
            runs++;
        }
    }
    if (pass && runs == 0) {
        snprintf(why, why_len, "nothing to run");
        pass = 0;
    }
    return pass;
}
