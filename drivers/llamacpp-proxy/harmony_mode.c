/* harmony_mode.c: Harmony and raw-completion requests through llama-server's
 * native POST /completion.
 *
 * The prompt is tokenized here, so text from users and tools can never turn
 * into special tokens (llama-server would parse "<|end|>" in any string it
 * tokenizes); the ids go upstream as the prompt array. On the way back the
 * event's `tokens` decide what is special: each id becomes its own piece,
 * special only when the id is a special token (take_output). */
#include "proxy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the request ------------------------------------------------------------------ */

/* The whole prompt through the tokenizer's one rule: the refusal (or OOM)
 * message names the segment at fault. Always -1 with msg/err filled. */
static int refuse_prompt(const fktok *tok, const fk_gen_request *req, fk_error *err, char *msg,
                         size_t msg_len)
{
    fktok_ids all = {0};
    int rc = fk_prompt_encode(tok, req->segments, req->n_segments, req->segment_size, &all, msg,
                              msg_len);
    free(all.ids);
    if (rc == FKTOK_SEGMENTS_INVALID)
        return errors_refuse(err, msg, 400, "invalid_value", "prompt");
    if (rc == 0) snprintf(msg, msg_len, "out of memory while tokenizing the prompt");
    return errors_refuse(err, msg, 500, "internal_error", NULL);
}

/* Append n ids. 0, or -1 on OOM. */
static int append_ids(fktok_ids *out, const int32_t *ids, size_t n)
{
    if (out->n + n > out->cap) {
        size_t cap = out->cap ? out->cap : 256;
        while (cap < out->n + n) cap *= 2;
        int32_t *p = realloc(out->ids, cap * sizeof *p);
        if (!p) return -1;
        out->ids = p;
        out->cap = cap;
    }
    memcpy(out->ids + out->n, ids, n * sizeof *ids);
    out->n += n;
    return 0;
}

/* Segments -> ids. Each segment is tokenized on its own (the tokenizer's
 * rule), so long text segments come from the core's cache when seen before
 * (the system message, tool definitions, earlier turns) and the rest are
 * encoded one by one. 0, or -1 with msg/err filled. */
static int tokenize_prompt(fk_core *core, const fk_gen_request *req, fktok_ids *ids, fk_error *err,
                           char *msg, size_t msg_len)
{
    const char *base = (const char *)req->segments;
    for (size_t i = 0; i < req->n_segments; i++) {
        const fk_segment *s = (const fk_segment *)(const void *)(base + i * req->segment_size);
        int cacheable = s->kind == FK_SEG_TEXT && s->text && seg_cache_fits(s->len);
        const seg_entry *e = cacheable ? seg_cache_get(&core->seg_cache, s->text, s->len) : NULL;
        if (e) {
            if (append_ids(ids, e->ids, e->n_ids) != 0)
                return refuse_prompt(core->tok, req, err, msg, msg_len);
            continue;
        }
        size_t before = ids->n;
        if (fk_prompt_encode(core->tok, s, 1, req->segment_size, ids, msg, msg_len) != 0)
            return refuse_prompt(core->tok, req, err, msg, msg_len);
        if (cacheable)
            seg_cache_put(&core->seg_cache, s->text, s->len, ids->ids + before, ids->n - before);
    }
    return 0;
}

/* llama-server runs its chat-output parser over /completion output too
 * (server-task.cpp, update_chat_msg, with the "Content-only" format when the
 * request names none): common_chat_peg_parse matches content(rest()) + end()
 * code point by code point, and a byte sequence that is not UTF-8 (a lead byte
 * followed by a non-continuation byte, a stray continuation byte: byte tokens
 * a sampled model can emit in any order) fails `any`, so end() fails and the
 * request dies with HTTP 500 "The model produced output that does not match
 * the expected Content-only format", streamed or not. This driver reads the
 * output itself, so it hands llama-server a parser that accepts everything
 * and extracts nothing (the request field "chat_parser": one epsilon; below
 * as the text between the quotes of a JSON string). */
#define NO_OUTPUT_PARSER                                                                           \
    "{\\\"parsers\\\":[{\\\"type\\\":\\\"epsilon\\\"}],\\\"rules\\\":{},\\\"root\\\":0}"

/* What llama-server's last event (or whole answer) carries: the fields read
 * here and nothing else ("response_fields", nested ones as flat "a/b" keys;
 * by default it repeats every generation setting, and reading that took more
 * of a request's CPU than anything else in the driver). */
#define RESPONSE_FIELDS                                                                            \
    "[\"content\",\"tokens\",\"stop\",\"stop_type\",\"tokens_predicted\",\"truncated\","           \
    "\"timings/prompt_n\",\"timings/cache_n\",\"timings/prompt_ms\",\"timings/predicted_n\","      \
    "\"timings/predicted_ms\",\"completion_probabilities\"]"

/* The decimal digits of v at out (at most 20 bytes, no NUL); their count. */
static size_t write_int(char *out, long long v)
{
    char d[24], *p = d + sizeof d;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0) *--p = '-';
    size_t n = (size_t)(d + sizeof d - p);
    memcpy(out, p, n);
    return n;
}

/* Decimal digits of v onto b. */
static void append_int(strbuf *b, long long v)
{
    char d[24];
    strbuf_append(b, d, write_int(d, v));
}

/* A shortest exact decimal of v onto b ("%.17g" round-trips a double). A
 * whole number below 1e15 (temperature 0 or 1, top_p 1: most requests) is
 * written as an integer, the digits %.17g gives it, without snprintf. */
static void append_double(strbuf *b, double v)
{
    if (v == floor(v) && fabs(v) < 1e15 && !(v == 0 && signbit(v))) {
        append_int(b, (long long)v);
        return;
    }
    char d[32];
    int n = snprintf(d, sizeof d, "%.17g", v);
    strbuf_append(b, d, n > 0 ? (size_t)n : 0);
}

/* The ids, comma-separated: digits go into a block on the stack, appended
 * to b a block at a time (one append per id cost as much as the rest of the
 * body). */
static void append_prompt_ids(strbuf *b, const fktok_ids *ids)
{
    char block[2048];
    size_t used = 0;
    for (size_t i = 0; i < ids->n; i++) {
        if (used > sizeof block - 24) {
            strbuf_append(b, block, used);
            used = 0;
        }
        if (i) block[used++] = ',';
        used += write_int(block + used, ids->ids[i]);
    }
    strbuf_append(b, block, used);
}

/* ,"key": then the value. */
static void append_key(strbuf *b, const char *key)
{
    strbuf_append_str(b, ",\"");
    strbuf_append_str(b, key);
    strbuf_append_str(b, "\":");
}

/* The /completion body as JSON text, written directly with appends (a
 * jansson tree of the prompt ids, dumped with one snprintf per id, cost more
 * than the rest of the request). Sampling as the client asked, with
 * llama-server's own truncations off (its defaults are top_k 40 and min_p
 * 0.05): temperature and top_p alone, as OpenAI and the native core sample.
 * `extra`: more fields, each written as ",\"key\":value" (grammar.c). NULL on
 * OOM. */
static char *build_body(const fk_gen *g, const fk_sampling *s, const fktok_ids *ids,
                        const strbuf *extra)
{
    strbuf b;
    strbuf_init(&b);
    strbuf_append_str(&b, "{\"prompt\":[");
    append_prompt_ids(&b, ids);
    strbuf_append_str(&b, "],\"stream\":true,\"min_p\":0,\"cache_prompt\":true,"
                          "\"return_tokens\":true,\"chat_parser\":\"" NO_OUTPUT_PARSER
                          "\",\"response_fields\":" RESPONSE_FIELDS);
    append_key(&b, "n_predict");
    append_int(&b, g->n_predict);
    append_key(&b, "temperature");
    append_double(&b, s->temperature);
    append_key(&b, "top_p");
    append_double(&b, s->top_p > 0 ? s->top_p : 1.0);
    append_key(&b, "top_k");
    append_int(&b, s->top_k > 0 ? s->top_k : 0);
    if (s->has_seed) {
        append_key(&b, "seed");
        append_int(&b, (long long)(s->seed & 0xffffffffu));
    }
    if (s->presence_penalty != 0) {
        append_key(&b, "presence_penalty");
        append_double(&b, s->presence_penalty);
    }
    if (s->frequency_penalty != 0) {
        append_key(&b, "frequency_penalty");
        append_double(&b, s->frequency_penalty);
    }
    if (s->logprobs) { /* the sampled token's logprob comes with at least one alternative */
        append_key(&b, "n_probs");
        append_int(&b, s->top_logprobs > 0 ? s->top_logprobs : 1);
    }
    if (s->n_stop > 0) { /* strings need JSON escaping: jansson writes them */
        json_t *stop = json_array();
        for (size_t i = 0; i < s->n_stop; i++) {
            if (s->stop[i]) json_array_append_new(stop, json_string(s->stop[i]));
        }
        char *text = json_dumps(stop, JSON_COMPACT);
        json_decref(stop);
        if (!text) b.oom = 1;
        append_key(&b, "stop");
        if (text) strbuf_append_str(&b, text);
        free(text);
    }
    if (extra->len) strbuf_append(&b, extra->data, extra->len);
    strbuf_append_char(&b, '}');
    if (b.oom) {
        strbuf_clear(&b);
        return NULL;
    }
    return strbuf_take(&b, NULL);
}

/* With several replicas: the prompt's ids are its units for stickiness. */
static void remember_prompt(fk_gen *g, const fktok_ids *ids)
{
    if (g->core->n_replicas < 2) return;
    uint64_t *units = malloc(ids->n * sizeof *units);
    if (!units) return; /* this request simply goes to the least busy replica */
    for (size_t i = 0; i < ids->n; i++) units[i] = (uint64_t)(uint32_t)ids->ids[i];
    replicas_prefix(g, units, ids->n);
    free(units);
}

int harmony_prepare(fk_gen *g, const fk_gen_request *req, int max_model_len, fk_error *err,
                    char *msg, size_t msg_len)
{
    const char *param = req->mode == FK_GEN_COMPLETION ? "prompt" : "messages";
    fktok_ids ids = {0};
    if (tokenize_prompt(g->core, req, &ids, err, msg, msg_len) != 0) {
        free(ids.ids);
        return -1;
    }
    g->n_prompt = (int)ids.n;
    if (ids.n == 0) {
        free(ids.ids);
        snprintf(msg, msg_len, "the prompt is empty");
        return errors_refuse(err, msg, 400, "invalid_value", param);
    }
    int max_tokens = req->sampling->max_tokens;
    if (max_model_len > 0 && g->n_prompt >= max_model_len) {
        free(ids.ids);
        snprintf(msg, msg_len,
                 "This model's maximum context length is %d tokens. However, your prompt has %d "
                 "tokens, which leaves no room for the completion.",
                 max_model_len, g->n_prompt);
        return errors_refuse(err, msg, 400, "context_length_exceeded", param);
    }
    g->n_predict = max_tokens > 0 ? max_tokens : -1;
    if (max_model_len > 0) {
        int room = max_model_len - g->n_prompt;
        if (g->n_predict < 0 || g->n_predict > room) g->n_predict = room;
    }
    g->top_logprobs = req->sampling->top_logprobs;
    remember_prompt(g, &ids);
    strbuf extra;
    strbuf_init(&extra);
    if (grammar_fields(g, req, &extra, err, msg, msg_len) != 0) {
        strbuf_clear(&extra);
        free(ids.ids);
        return -1;
    }
    g->body = build_body(g, req->sampling, &ids, &extra);
    strbuf_clear(&extra);
    free(ids.ids);
    g->path = strdup("/completion");
    if (!g->body || !g->path) {
        snprintf(msg, msg_len, "out of memory while building the upstream request");
        return errors_refuse(err, msg, 500, "internal_error", NULL);
    }
    g->stats.prompt_tokens = g->n_prompt;
    return 0;
}

/* ---- the stream ------------------------------------------------------------------------- */

/* The bytes of token `id` (specials spelled out), or NULL for an id outside
 * the vocabulary; *special says whether it is a special token. */
static const char *token_bytes(const fktok *tok, int64_t id, size_t *len, int *special)
{
    *special = 0;
    if (id < 0 || id > INT32_MAX) return NULL;
    const char *b = fktok_token_bytes(tok, (int32_t)id, len);
    if (b) *special = fktok_is_special(tok, (int32_t)id);
    return b;
}

/* Queue one piece; out of memory is recorded for on_done. */
static void put_piece(fk_gen *g, const char *text, size_t len, int64_t id, int special)
{
    if (gen_piece(g, text, len, (int32_t)id, special) != 0)
        gen_fail(g, 500, "server_error", "out_of_memory",
                 "out of memory while reading the upstream");
}

/* Forward walk over one event: each id takes its bytes from the content in
 * order. An ordinary token must find its bytes there; a special token takes
 * its spelling when the content has it there, else nothing (llama-server
 * leaves <|return|> and <|call|> out of the text). Content that runs out at
 * or inside an ordinary token was cut by a stop string: the walk ends there.
 * Returns how many ids the walk covers, or -1 when the content holds bytes
 * the ids do not explain. With emit, queues the pieces. */
static long walk_forward(fk_gen *g, const char *c, size_t clen, const int64_t *ids, size_t nt,
                         int emit)
{
    const fktok *tok = g->core->tok;
    size_t at = 0;
    for (size_t i = 0; i < nt; i++) {
        size_t len = 0;
        int special;
        const char *b = token_bytes(tok, ids[i], &len, &special);
        int here = b && len <= clen - at && memcmp(c + at, b, len) == 0;
        if (!here && !special) {
            if (at == clen || (b && len > clen - at && memcmp(c + at, b, clen - at) == 0)) {
                if (emit && at < clen) put_piece(g, c + at, clen - at, ids[i], 0);
                return (long)i;
            }
            return -1;
        }
        if (emit) put_piece(g, b, len, ids[i], special);
        if (here) at += len;
    }
    return at == clen ? (long)nt : -1;
}

/* Backward walk, for an event whose content starts with text held back from
 * earlier tokens (a character split across tokens, the possible start of a
 * stop string): ids take their bytes from the end; the front nobody explains
 * is ordinary text. Always succeeds. */
static void walk_backward(fk_gen *g, const char *c, size_t clen, const int64_t *ids, size_t nt)
{
    const fktok *tok = g->core->tok;
    size_t end = clen, first = nt;
    while (first > 0) {
        size_t len = 0;
        int special;
        const char *b = token_bytes(tok, ids[first - 1], &len, &special);
        if (b && len <= end && memcmp(c + end - len, b, len) == 0)
            end -= len;
        else if (!special)
            break;
        first--;
    }
    if (end) put_piece(g, c, end, -1, 0);
    for (size_t i = first; i < nt; i++) {
        size_t len = 0;
        int special;
        const char *b = token_bytes(tok, ids[i], &len, &special);
        put_piece(g, b, len, ids[i], special);
    }
}

/* One event's text and ids -> queued pieces. With ids, ids alone decide what
 * is special: text never is, whatever it spells (a model can write "<|end|>"
 * in ordinary tokens, one token per event). Only an upstream that gives no ids
 * is read with the Harmony text scanner (the weaker mode). The rule is fixed
 * by the first event with output. */
static void take_output(fk_gen *g, const char *content, size_t clen, const int64_t *ids, size_t nt)
{
    if (g->out_rule == OUT_UNDECIDED) {
        if (nt > 0)
            g->out_rule = OUT_IDS;
        else if (clen > 0)
            g->out_rule = OUT_TEXT;
        else
            return;
    }
    if (g->out_rule == OUT_TEXT) {
        if (clen) hm_scanner_feed(g->scanner, content, clen, gen_scanned_piece, g);
        return;
    }
    if (!g->core->tok || nt == 0) {
        if (clen) put_piece(g, content, clen, -1, 0);
        return;
    }
    if (walk_forward(g, content, clen, ids, nt, 0) >= 0)
        walk_forward(g, content, clen, ids, nt, 1);
    else
        walk_backward(g, content, clen, ids, nt);
}

/* timings.NAME of the last event: "timings/NAME" as response_fields flattens
 * it, or inside "timings" from a server that sends everything. */
static json_t *timing(const json_t *ev, const char *name)
{
    char flat[48];
    snprintf(flat, sizeof flat, "timings/%s", name);
    json_t *v = json_object_get(ev, flat);
    return v ? v : json_object_get(json_object_get(ev, "timings"), name);
}

/* The last event's fields when jansson read it. */
static void final_from_json(const json_t *ev, fast_final *f)
{
    memset(f, 0, sizeof *f);
    const char *st = json_string_value(json_object_get(ev, "stop_type"));
    if (st) snprintf(f->stop_type, sizeof f->stop_type, "%s", st);
    f->tokens_predicted = json_integer_value(json_object_get(ev, "tokens_predicted"));
    json_t *v;
    if ((f->has_predicted_n = json_is_integer(v = timing(ev, "predicted_n"))))
        f->predicted_n = json_integer_value(v);
    if ((f->has_prompt_n = json_is_integer(v = timing(ev, "prompt_n"))))
        f->prompt_n = json_integer_value(v);
    if ((f->has_cache_n = json_is_integer(v = timing(ev, "cache_n"))))
        f->cache_n = json_integer_value(v);
    f->prompt_ms = json_number_value(timing(ev, "prompt_ms"));
    f->predicted_ms = json_number_value(timing(ev, "predicted_ms"));
    f->truncated = json_is_true(json_object_get(ev, "truncated"));
}

/* The last event: usage, timings and why it stopped. */
static void read_final(fk_gen *g, const fast_final *f)
{
    g->final_seen = 1;
    const char *stop_type = f->stop_type;
    int64_t predicted = f->has_predicted_n && f->predicted_n ? f->predicted_n : f->tokens_predicted;
    g->stats.completion_tokens = (int)predicted;
    if (f->has_cache_n)
        g->stats.cached_tokens = (int)f->cache_n;
    else if (f->prompt_n > 0 && f->prompt_n < g->n_prompt)
        g->stats.cached_tokens = g->n_prompt - (int)f->prompt_n;
    g->stats.prefill_ms = f->prompt_ms;
    g->stats.decode_ms = f->predicted_ms;
    if (strcmp(stop_type, "eos") == 0)
        g->stats.finish = FK_FINISH_STOP;
    else if (strcmp(stop_type, "word") == 0)
        g->stats.finish = FK_FINISH_STOP_WORD;
    else if (strcmp(stop_type, "limit") == 0)
        g->stats.finish = FK_FINISH_LENGTH;
    else if (g->n_predict > 0 && predicted >= g->n_predict)
        g->stats.finish = FK_FINISH_LENGTH;
    else
        g->stats.finish = FK_FINISH_STOP;
    if (f->truncated) {
        proxy_log(g->core, FK_LOG_WARN, "request %s: llama-server truncated the prompt",
                  g->request_id);
    }
}

/* max_tokens against an upstream that ignores n_predict. The upstream's
 * count after an event is its tokens_predicted, else one per id (one per
 * event with text when it sends no ids). 1 when the event goes past
 * n_predict: the generation stops before the event's output, as llama-server
 * itself would have, with finish "length". */
static int past_budget(fk_gen *g, int has_predicted, int64_t predicted, size_t nt, size_t clen)
{
    long after = has_predicted && predicted > 0 ? (long)predicted
                 : nt                           ? g->n_generated + (long)nt
                                                : g->n_generated + (clen > 0);
    if (g->n_predict <= 0 || after <= g->n_predict) {
        if (after > g->n_generated) g->n_generated = after;
        return 0;
    }
    g->limit_reached = 1;
    g->stats.finish = FK_FINISH_LENGTH;
    g->stats.completion_tokens = (int)g->n_generated;
    proxy_log(g->core, FK_LOG_WARN,
              "request %s: llama-server went on past n_predict (%d tokens); stopped there",
              g->request_id, g->n_predict);
    return 1;
}

/* An upstream error event. llama-server's own output parser cannot fail on
 * this driver's requests (NO_OUTPUT_PARSER); should another llama-server
 * still fail there, the output so far is what the model generated: it is
 * delivered, with finish length, and the log says why. -1 either way. */
static int take_error(fk_gen *g, const json_t *error)
{
    if (!errors_output_parser_failed(error)) {
        errors_from_json(g, 500, error);
        return -1;
    }
    g->limit_reached = 1;
    g->stats.finish = FK_FINISH_LENGTH;
    g->stats.completion_tokens = (int)g->n_generated;
    proxy_log(g->core, FK_LOG_WARN,
              "request %s: llama-server's own output parser rejected the output after %ld "
              "tokens (%s); delivered what was generated, finish_reason length",
              g->request_id, g->n_generated,
              json_is_string(error) ? json_string_value(error)
                                    : json_string_value(json_object_get(error, "message")));
    return -1;
}

/* llama-server's n_probs answer for the event's tokens,
 * "completion_probabilities": [{"id", "logprob", "top_logprobs": [{"id",
 * "logprob"}...]}...] (log-softmax of the raw logits, as OpenAI defines
 * logprobs), onto the event's pieces from `first`: each piece that carries a
 * token id takes the next entry for that id. Texts of the alternatives come
 * from the tokenizer (the same vocabulary). */
static void attach_logprobs(fk_gen *g, size_t first, const json_t *probs)
{
    size_t at = 0, n = json_array_size(probs);
    for (size_t i = first; i < g->out.n && at < n; i++) {
        int32_t id = g->out.pieces[i].token_id;
        if (id < 0) continue;
        const json_t *e = NULL;
        while (at < n && !e) {
            const json_t *c = json_array_get(probs, at++);
            if (json_integer_value(json_object_get(c, "id")) == id) e = c;
        }
        if (!e) break;
        fk_top_logprob top[FK_MAX_TOP_LOGPROBS];
        size_t nt = 0;
        const json_t *alts = json_object_get(e, "top_logprobs"), *a;
        size_t k;
        json_array_foreach(alts, k, a)
        {
            json_int_t aid = json_integer_value(json_object_get(a, "id"));
            size_t len = 0;
            const char *text = g->core->tok && aid >= 0 && aid <= INT32_MAX
                                   ? fktok_token_bytes(g->core->tok, (int32_t)aid, &len)
                                   : NULL;
            if (nt == (size_t)g->top_logprobs || nt == FK_MAX_TOP_LOGPROBS ||
                !json_is_number(json_object_get(a, "logprob")))
                break;
            top[nt++] = (fk_top_logprob){(int32_t)aid,
                                         (float)json_number_value(json_object_get(a, "logprob")),
                                         text ? text : "", text ? len : 0};
        }
        const json_t *lp = json_object_get(e, "logprob");
        if (gen_piece_logprobs(g, i, json_is_number(lp) ? (float)json_number_value(lp) : NAN, top,
                               nt) != 0)
            gen_fail(g, 500, "server_error", "out_of_memory",
                     "out of memory while reading the upstream");
    }
}

/* One parsed /completion event (streamed, or the whole non-stream answer). */
static int take_event(fk_gen *g, const json_t *ev)
{
    json_t *error = json_object_get(ev, "error");
    if (error) return take_error(g, error);
    const char *content = json_string_value(json_object_get(ev, "content"));
    size_t clen = content ? json_string_length(json_object_get(ev, "content")) : 0;
    json_t *tokens = json_object_get(ev, "tokens");
    size_t nt = json_array_size(tokens);
    json_t *predicted = json_object_get(ev, "tokens_predicted");
    if (!json_is_true(json_object_get(ev, "stop")) &&
        past_budget(g, json_is_integer(predicted), json_integer_value(predicted), nt, clen))
        return -1;
    int64_t *ids = nt ? malloc(nt * sizeof *ids) : NULL;
    for (size_t i = 0; ids && i < nt; i++) {
        json_t *t = json_array_get(tokens, i);
        if (!json_is_integer(t))
            nt = 0; /* not ids: no mapping */
        else
            ids[i] = json_integer_value(t);
    }
    size_t first = g->out.n;
    take_output(g, content ? content : "", clen, ids, ids ? nt : 0);
    free(ids);
    attach_logprobs(g, first, json_object_get(ev, "completion_probabilities"));
    if (json_is_true(json_object_get(ev, "stop"))) {
        fast_final f;
        final_from_json(ev, &f);
        read_final(g, &f);
    }
    if (g->err.set) return -1;
    return gen_flush(g);
}

int harmony_event(fk_gen *g, const char *field, char *value, size_t len)
{
    fast_event *fe = &g->fast;
    if (strcmp(field, "data") == 0 && fast_event_parse(value, len, fe)) {
        if (past_budget(g, fe->has_tokens_predicted, fe->tokens_predicted,
                        fe->has_tokens ? fe->n_tokens : 0, fe->has_content ? fe->content_len : 0))
            return -1;
        take_output(g, fe->has_content ? fe->content : "", fe->has_content ? fe->content_len : 0,
                    fe->tokens, fe->has_tokens ? fe->n_tokens : 0);
        if (g->err.set) return -1;
        return gen_flush(g);
    }
    fast_final ff;
    if (strcmp(field, "data") == 0 && fast_final_parse(value, len, &ff)) {
        read_final(g, &ff);
        return gen_flush(g);
    }
    json_t *root = gen_parse_object(g, value, len);
    if (!root) return -1;
    int r;
    if (strcmp(field, "error") == 0) {
        r = take_error(g, json_object_get(root, "error") ? json_object_get(root, "error") : root);
    } else {
        r = take_event(g, root);
    }
    json_decref(root);
    return r;
}

void harmony_finish(fk_gen *g, const fk_xfer_end *end)
{
    json_t *whole = errors_from_end(g, end);
    if (whole) take_event(g, whole); /* a 2xx answer that was not an event stream */
    json_decref(whole);
    errors_if_cut(g, end, g->final_seen);
    hm_scanner_finish(g->scanner, gen_scanned_piece, g);
    gen_flush(g);
}
