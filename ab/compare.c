/* compare.c: two runs of one chat -> that chat's report, and the summary.
 *
 * Greedy decoding makes each side's tokens a function of the prompt and the
 * tokens before, so the two sides are compared position by position up to
 * the first position where their tokens differ (or one side stopped): from
 * there on each continues its own text and nothing further is comparable.
 * At every position up to and including that one both sides saw the same
 * context, so their log-probabilities and top-k alternatives are compared
 * there. Agreement = positions before the divergence / positions either side
 * generated (1 when the two agree throughout). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ab.h"
#include "harmony/harmony.h"
#include "harmony/strbuf.h"
#include "harmony/utf8.h"

static json_t *num_or_null(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

/* A token's bytes (an unnamed one's text as the core sent it); "" when unknown. */
static const char *token_bytes(const fktok *tok, const ab_token *t, size_t *len)
{
    const char *b = t->id >= 0 ? fktok_token_bytes(tok, t->id, len) : t->text;
    if (t->id < 0 && b) *len = strlen(b);
    if (!b) *len = 0;
    return b ? b : "";
}

/* A token's bytes as a JSON string (invalid UTF-8 as U+FFFD). */
static json_t *token_text(const fktok *tok, const ab_token *t)
{
    size_t len = 0;
    const char *b = token_bytes(tok, t, &len);
    strbuf s;
    strbuf_init(&s);
    hm_utf8_append_lossy(&s, b, len);
    json_t *j = json_stringn(s.data ? s.data : "", s.len);
    strbuf_clear(&s);
    return j;
}

/* ---- tokens a core did not name ----------------------------------------------------- */

void ab_run_clear(ab_run *r)
{
    for (size_t i = 0; i < r->n; i++) free(r->tok[i].text);
    free(r->tok);
    memset(r, 0, sizeof *r);
}

#define AB_ALIGN_MAX 8 /* an unnamed entry may stand for this many tokens */

/* The text of tokens v[0..k) as a core sends it: their bytes joined, invalid
 * UTF-8 as U+FFFD (malloc'd; NULL on OOM). */
static char *joined_text(const fktok *tok, const ab_token *v, size_t k)
{
    strbuf raw, out;
    strbuf_init(&raw);
    strbuf_init(&out);
    for (size_t i = 0; i < k; i++) {
        size_t len = 0;
        const char *b = v[i].id >= 0 ? fktok_token_bytes(tok, v[i].id, &len) : NULL;
        if (b) strbuf_append(&raw, b, len);
    }
    hm_utf8_append_lossy(&out, raw.data ? raw.data : "", raw.len);
    strbuf_clear(&raw);
    return strbuf_take(&out, NULL);
}

/* x->tok[i] (unnamed) becomes y->tok[i..i+k) when their text is its text.
 * 1 when replaced, 0 when no k fits, -1 on OOM. */
static int name_from(ab_run *x, size_t i, const ab_run *y, const fktok *tok)
{
    for (size_t k = 1; k <= AB_ALIGN_MAX && i + k <= y->n; k++) {
        char *t = joined_text(tok, &y->tok[i], k);
        if (!t) return -1;
        int same = strcmp(t, x->tok[i].text) == 0;
        free(t);
        if (!same) continue;
        if (x->n + k - 1 > x->cap) {
            ab_token *v = realloc(x->tok, (x->n + k - 1) * sizeof *v);
            if (!v) return -1;
            x->tok = v;
            x->cap = x->n + k - 1;
        }
        ab_token old = x->tok[i];
        memmove(&x->tok[i + k], &x->tok[i + 1], (x->n - i - 1) * sizeof *x->tok);
        for (size_t j = 0; j < k; j++)
            x->tok[i + j] =
                (ab_token){.id = y->tok[i + j].id, .logprob = NAN, .inferred = 1, .t_ms = old.t_ms};
        x->n += k - 1;
        free(old.text);
        return 1;
    }
    return 0;
}

int ab_align(ab_run *a, ab_run *b, const fktok *tok)
{
    for (size_t i = 0; i < a->n && i < b->n; i++) {
        int rc = 0;
        if (a->tok[i].id < 0 && b->tok[i].id >= 0) rc = name_from(a, i, b, tok);
        if (b->tok[i].id < 0 && a->tok[i].id >= 0) rc = name_from(b, i, a, tok);
        if (rc < 0) return -1;
    }
    return 0;
}

/* The same token: the same id, or both unnamed with the same text. */
static int same_token(const ab_token *x, const ab_token *y)
{
    if (x->id >= 0 || y->id >= 0) return x->id == y->id;
    return strcmp(x->text, y->text) == 0;
}

/* ---- where each side put reasoning and final -------------------------------------- */

typedef struct channel_walk {
    json_t *messages; /* [{"channel", "recipient", "from", "to", "text"}] */
    json_t *current;  /* the message being read, or NULL */
    strbuf text;      /* its text so far */
    size_t at;        /* index of the token being fed */
    size_t span;      /* first token after the last message ended */
} channel_walk;

static void on_event(void *ud, const hm_event *ev)
{
    channel_walk *w = ud;
    if (ev->kind == HM_EV_MESSAGE_START) {
        json_decref(w->current);
        strbuf_reset(&w->text);
        w->current = json_pack("{s:s, s:s*, s:I}", "channel", ev->channel ? ev->channel : "",
                               "recipient", ev->recipient, "from", (json_int_t)w->span);
    } else if (ev->kind == HM_EV_CONTENT) {
        strbuf_append(&w->text, ev->text, ev->len);
    } else if (ev->kind == HM_EV_MESSAGE_END && w->current) {
        json_object_set_new(w->current, "to", json_integer((json_int_t)w->at + 1));
        json_object_set_new(w->current, "text",
                            json_stringn(w->text.data ? w->text.data : "", w->text.len));
        json_array_append_new(w->messages, w->current);
        w->current = NULL;
        w->span = w->at + 1;
    }
}

/* The Harmony messages of a run, by libfkharmony's parser over the ids (token
 * ids decide what is special), with the token span of each. */
static json_t *messages_of(const ab_run *r, const fktok *tok, int raw)
{
    channel_walk w = {.messages = json_array()};
    strbuf_init(&w.text);
    hm_parser_options po = {.strict = 0, .role_hint_assistant = !raw};
    hm_parser *p = hm_parser_new(&po, on_event, &w);
    for (size_t i = 0; p && i < r->n; i++) {
        size_t len = 0;
        const char *b = token_bytes(tok, &r->tok[i], &len);
        w.at = i;
        hm_parser_feed(p, b, len, r->tok[i].id >= 0 && fktok_is_special(tok, r->tok[i].id),
                       r->tok[i].id);
    }
    w.at = r->n ? r->n - 1 : 0;
    if (p) hm_parser_finish(p);
    hm_parser_free(p);
    json_decref(w.current);
    strbuf_clear(&w.text);
    return w.messages;
}

/* The texts of the messages on `channel`, joined. */
static json_t *channel_text(const json_t *messages, const char *channel)
{
    strbuf s;
    strbuf_init(&s);
    size_t i;
    const json_t *m;
    json_array_foreach(messages, i, m)
    {
        if (strcmp(json_string_value(json_object_get(m, "channel")), channel) != 0 ||
            json_object_get(m, "recipient"))
            continue;
        strbuf_append_str(&s, json_string_value(json_object_get(m, "text")));
    }
    json_t *j = json_stringn(s.data ? s.data : "", s.len);
    strbuf_clear(&s);
    return j;
}

/* ---- one side ---------------------------------------------------------------------- */

static json_t *side_report(const ab_run *r, const fktok *tok, int raw)
{
    json_t *ids = json_array(), *pieces = json_array();
    strbuf all, text;
    strbuf_init(&all);
    strbuf_init(&text);
    size_t unnamed = 0;
    for (size_t i = 0; i < r->n; i++) {
        size_t len = 0;
        const char *b = token_bytes(tok, &r->tok[i], &len);
        json_array_append_new(ids, json_integer(r->tok[i].id));
        json_array_append_new(pieces, token_text(tok, &r->tok[i]));
        strbuf_append(&all, b, len);
        unnamed += r->tok[i].id < 0 || r->tok[i].inferred;
    }
    hm_utf8_append_lossy(&text, all.data ? all.data : "", all.len);
    strbuf_clear(&all);
    json_t *messages = messages_of(r, tok, raw);
    double ttft = r->n ? r->tok[0].t_ms : NAN;
    double span = r->n > 1 ? r->tok[r->n - 1].t_ms - r->tok[0].t_ms : NAN;
    json_t *s = json_pack(
        "{s:I, s:I, s:o, s:o, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:f}", "tokens",
        (json_int_t)r->n, "unnamed_tokens", (json_int_t)unnamed, "ids", ids, "pieces", pieces,
        "text", text.data ? text.data : "", "finish_reason", r->finish, "prompt_tokens",
        r->prompt_tokens >= 0 ? json_integer(r->prompt_tokens) : json_null(), "messages", messages,
        "reasoning", channel_text(messages, "analysis"), "final", channel_text(messages, "final"),
        "ttft_ms", num_or_null(ttft), "itl_ms", num_or_null(span / (double)(r->n - 1)),
        "decode_tokens_per_s", num_or_null(span > 0 ? (double)(r->n - 1) * 1e3 / span : NAN),
        "total_ms", r->total_ms);
    strbuf_clear(&text);
    return s;
}

/* ---- position by position ------------------------------------------------------------ */

/* The log-probability t gives `id` among its alternatives, or NAN. */
static double logprob_of(const ab_token *t, int32_t id)
{
    if (t->id == id) return t->logprob;
    for (int k = 0; k < t->n_top; k++)
        if (t->top_id[k] == id) return t->top_lp[k];
    return NAN;
}

/* Shared alternatives / the larger list's size, or NAN without alternatives. */
static double top_overlap(const ab_token *a, const ab_token *b)
{
    int n = a->n_top > b->n_top ? a->n_top : b->n_top, shared = 0;
    for (int i = 0; i < a->n_top; i++)
        for (int k = 0; k < b->n_top; k++) shared += a->top_id[i] == b->top_id[k];
    return n ? (double)shared / n : NAN;
}

/* One side's token at the divergence: {"id", "text", "logprob"}, or null when
 * that side had stopped. */
static json_t *divergent_token(const ab_run *r, size_t pos, const fktok *tok)
{
    if (pos >= r->n) return json_null();
    return json_pack("{s:i, s:o, s:o}", "id", r->tok[pos].id, "text", token_text(tok, &r->tok[pos]),
                     "logprob", num_or_null(r->tok[pos].logprob));
}

static size_t first_divergence(const ab_run *a, const ab_run *b)
{
    size_t i = 0;
    while (i < a->n && i < b->n && same_token(&a->tok[i], &b->tok[i])) i++;
    return i; /* == a->n == b->n: they agree throughout */
}

json_t *ab_compare_chat(const ab_chat *chat, size_t index, const ab_run *a, const ab_run *b,
                        const fktok *tok)
{
    size_t div = first_divergence(a, b);
    int same = div == a->n && div == b->n;
    size_t compared = a->n > b->n ? a->n : b->n;
    json_t *positions = json_array();
    double sum_abs = 0, max_abs = NAN, sum_overlap = 0;
    size_t n_diff = 0, n_overlap = 0;
    for (size_t i = 0; i <= div && i < a->n && i < b->n; i++) {
        const ab_token *ta = &a->tok[i], *tb = &b->tok[i];
        double d = i < div ? ta->logprob - tb->logprob : NAN;
        double ov = top_overlap(ta, tb);
        if (!isnan(d)) {
            sum_abs += fabs(d);
            n_diff++;
            if (isnan(max_abs) || fabs(d) > max_abs) max_abs = fabs(d);
        }
        if (!isnan(ov)) sum_overlap += ov, n_overlap++;
        json_array_append_new(
            positions, json_pack("{s:I, s:i, s:i, s:o, s:o, s:o, s:o}", "i", (json_int_t)i, "a_id",
                                 ta->id, "b_id", tb->id, "a_logprob", num_or_null(ta->logprob),
                                 "b_logprob", num_or_null(tb->logprob), "logprob_diff",
                                 num_or_null(d), "top_k_overlap", num_or_null(ov)));
    }
    json_t *divergence = json_null();
    if (!same) {
        double a_of_b = div < a->n && div < b->n ? logprob_of(&a->tok[div], b->tok[div].id) : NAN;
        double b_of_a = div < a->n && div < b->n ? logprob_of(&b->tok[div], a->tok[div].id) : NAN;
        divergence = json_pack("{s:I, s:o, s:o, s:o, s:o}", "position", (json_int_t)div, "a",
                               divergent_token(a, div, tok), "b", divergent_token(b, div, tok),
                               "a_logprob_of_b_token", num_or_null(a_of_b), "b_logprob_of_a_token",
                               num_or_null(b_of_a));
    }
    size_t agreed = same ? compared : div;
    return json_pack("{s:I, s:s, s:b, s:I, s:o, s:I, s:I, s:f, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                     "index", (json_int_t)index, "label", chat->label, "raw", chat->raw,
                     "prompt_tokens", (json_int_t)chat->n_prompt, "first_divergence",
                     same ? json_null() : json_integer((json_int_t)div), "compared_tokens",
                     (json_int_t)compared, "agreed_tokens", (json_int_t)agreed, "token_agreement",
                     compared ? (double)agreed / (double)compared : 1.0, "mean_abs_logprob_diff",
                     num_or_null(n_diff ? sum_abs / (double)n_diff : NAN), "max_abs_logprob_diff",
                     num_or_null(max_abs), "top_k_overlap",
                     num_or_null(n_overlap ? sum_overlap / (double)n_overlap : NAN), "divergence",
                     divergence, "positions", positions, "a", side_report(a, tok, chat->raw), "b",
                     side_report(b, tok, chat->raw));
}

/* ---- the summary ------------------------------------------------------------------- */

typedef struct speed_sum {
    double ttft, itl, decode_ms; /* sums of ttft_ms and itl_ms; time spent decoding */
    int n_ttft, n_itl;           /* how many chats gave each */
    long decode_tokens, prompt;  /* tokens after the first; prompt tokens reported */
} speed_sum;

static void add_speed(speed_sum *s, const json_t *side)
{
    const json_t *ttft = json_object_get(side, "ttft_ms"), *itl = json_object_get(side, "itl_ms");
    long n = (long)json_integer_value(json_object_get(side, "tokens"));
    if (json_is_number(ttft)) s->ttft += json_number_value(ttft), s->n_ttft++;
    if (json_is_number(itl)) {
        s->itl += json_number_value(itl), s->n_itl++;
        s->decode_ms += json_number_value(itl) * (double)(n - 1);
        s->decode_tokens += n - 1;
    }
    s->prompt += (long)json_integer_value(json_object_get(side, "prompt_tokens"));
}

static json_t *speed_report(const speed_sum *s)
{
    return json_pack(
        "{s:o, s:o, s:o, s:I}", "ttft_ms", num_or_null(s->n_ttft ? s->ttft / s->n_ttft : NAN),
        "itl_ms", num_or_null(s->n_itl ? s->itl / s->n_itl : NAN), "decode_tokens_per_s",
        num_or_null(s->decode_ms > 0 ? (double)s->decode_tokens * 1e3 / s->decode_ms : NAN),
        "prompt_tokens", (json_int_t)s->prompt);
}

json_t *ab_summary(const json_t *chats)
{
    long compared = 0, agreed = 0, identical = 0, n_diff = 0, n_overlap = 0;
    double sum_abs = 0, max_abs = NAN, sum_overlap = 0;
    speed_sum sa = {0}, sb = {0};
    json_t *divs = json_array();
    size_t i, k;
    const json_t *c, *p;
    json_array_foreach(chats, i, c)
    {
        compared += (long)json_integer_value(json_object_get(c, "compared_tokens"));
        agreed += (long)json_integer_value(json_object_get(c, "agreed_tokens"));
        identical += json_is_null(json_object_get(c, "first_divergence"));
        json_array_append(divs, json_object_get(c, "first_divergence"));
        json_array_foreach(json_object_get(c, "positions"), k, p)
        {
            const json_t *d = json_object_get(p, "logprob_diff");
            const json_t *ov = json_object_get(p, "top_k_overlap");
            if (json_is_number(d)) {
                double v = fabs(json_number_value(d));
                sum_abs += v, n_diff++;
                if (isnan(max_abs) || v > max_abs) max_abs = v;
            }
            if (json_is_number(ov)) sum_overlap += json_number_value(ov), n_overlap++;
        }
        add_speed(&sa, json_object_get(c, "a"));
        add_speed(&sb, json_object_get(c, "b"));
    }
    return json_pack("{s:I, s:I, s:I, s:I, s:f, s:o, s:o, s:o, s:o, s:o, s:o}", "chats",
                     (json_int_t)json_array_size(chats), "identical_chats", (json_int_t)identical,
                     "compared_tokens", (json_int_t)compared, "agreed_tokens", (json_int_t)agreed,
                     "token_agreement", compared ? (double)agreed / (double)compared : 1.0,
                     "first_divergences", divs, "mean_abs_logprob_diff",
                     num_or_null(n_diff ? sum_abs / (double)n_diff : NAN), "max_abs_logprob_diff",
                     num_or_null(max_abs), "top_k_overlap",
                     num_or_null(n_overlap ? sum_overlap / (double)n_overlap : NAN), "a",
                     speed_report(&sa), "b", speed_report(&sb));
}
