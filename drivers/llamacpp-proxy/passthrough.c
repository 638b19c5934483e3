/* passthrough.c: FRONTEND_USE_HARMONY=0. The client's OpenAI body goes to
 * the upstream's own endpoint (llama-server parses gpt-oss itself), rewritten
 * here: "model" is the routed name, "max_tokens" the resolved budget
 * ("max_completion_tokens" dropped), stream forced on with usage; its deltas
 * come back as pieces in Harmony form so the gateway reads every core the
 * same way:
 *
 *   reasoning_content / reasoning  -> <|channel|>analysis<|message|>...
 *   content                        -> <|channel|>final<|message|>...
 *   tool_calls[i]                  -> <|start|>assistant to=functions.NAME<|channel|>commentary
 *                                     <|constrain|>json<|message|>{args}<|call|>
 *
 * The first message is written from inside its header (the gateway's parser
 * starts after "<|start|>assistant"); later ones close the previous message
 * and open with <|start|>assistant. Content that itself starts with Harmony
 * tags (an upstream run with --reasoning-format none) is scanned and passed
 * on as it is. */
#include "proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the request ------------------------------------------------------------------ */

/* The client's body as the upstream gets it: the routed model name, the
 * resolved completion budget, streaming with usage. 0, or -1 on OOM. */
static int rewrite_body(json_t *body, const fk_gen_request *req)
{
    if (req->model && json_object_set_new(body, "model", json_string(req->model)) != 0) return -1;
    json_object_del(body, "max_completion_tokens");
    if (req->sampling->max_tokens > 0 &&
        json_object_set_new(body, "max_tokens", json_integer(req->sampling->max_tokens)) != 0)
        return -1;
    if (json_object_set_new(body, "stream", json_true()) != 0) return -1;
    json_t *so = json_object_get(body, "stream_options");
    if (!json_is_object(so)) {
        so = json_object();
        if (json_object_set_new(body, "stream_options", so) != 0) return -1;
    }
    return json_object_set_new(so, "include_usage", json_true());
}

/* FNV-1a of a string: one chat message as a unit. */
static uint64_t text_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* With several replicas: the chat's messages (each as its canonical JSON)
 * are its units for stickiness, since llama-server renders them itself. */
static void remember_messages(fk_gen *g, const json_t *body)
{
    const json_t *messages = json_object_get(body, "messages");
    size_t n = json_array_size(messages);
    if (g->core->n_replicas < 2 || n == 0) return;
    uint64_t *units = malloc(n * sizeof *units);
    if (!units) return; /* this request simply goes to the least busy replica */
    for (size_t i = 0; i < n; i++) {
        char *text = json_dumps(json_array_get(messages, i), JSON_COMPACT | JSON_SORT_KEYS);
        units[i] = text ? text_hash(text) : i;
        free(text);
    }
    replicas_prefix(g, units, n);
    free(units);
}

int passthrough_prepare(fk_gen *g, const fk_gen_request *req, fk_error *err, char *msg,
                        size_t msg_len)
{
    const char *path = req->client_path;
    if (!path || path[0] != '/' || strpbrk(path, " \r\n") || strstr(path, "//")) {
        snprintf(msg, msg_len, "pass-through path \"%s\" is not an absolute upstream path",
                 path ? path : "(null)");
        return errors_refuse(err, msg, 400, "invalid_value", NULL);
    }
    json_error_t je;
    json_t *body =
        req->client_body ? json_loadb(req->client_body, req->client_body_len, 0, &je) : NULL;
    if (!json_is_object(body)) {
        snprintf(msg, msg_len, "the request body is not a JSON object: %s",
                 body               ? "wrong type"
                 : req->client_body ? je.text
                                    : "missing");
        json_decref(body);
        return errors_refuse(err, msg, 400, "invalid_json", NULL);
    }
    g->n_predict = req->sampling->max_tokens;
    remember_messages(g, body);
    if (rewrite_body(body, req) == 0) g->body = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    g->path = strdup(path);
    if (!g->body || !g->path) {
        snprintf(msg, msg_len, "out of memory while building the upstream request");
        return errors_refuse(err, msg, 500, "internal_error", NULL);
    }
    return 0;
}

/* ---- Harmony form ---------------------------------------------------------------------- */

static void text_piece(fk_gen *g, const char *text, size_t len)
{
    if (len && gen_piece(g, text, len, -1, 0) != 0)
        gen_fail(g, 500, "server_error", "internal_error", "out of memory");
}

static void text_str(fk_gen *g, const char *s)
{
    text_piece(g, s, strlen(s));
}

/* hm_piece_fn: scanner output where special tokens must stay text. */
static void plain_piece(void *ud, const char *text, size_t len, int is_special)
{
    text_piece(ud, text, len);
}

/* Close the message being written. */
static void close_message(fk_gen *g, const char *finish)
{
    if (finish && strcmp(finish, "length") == 0) {
        g->pt = PT_NONE; /* cut off: no terminator */
        return;
    }
    if (g->pt == PT_TOOL)
        gen_special(g, "<|call|>");
    else if (g->pt == PT_FINAL && finish && strcmp(finish, "stop") == 0)
        gen_special(g, "<|return|>");
    else if (g->pt == PT_ANALYSIS || g->pt == PT_FINAL)
        gen_special(g, "<|end|>");
    g->pt = PT_NONE;
}

/* Open a message: channel "analysis"/"final", or a tool call to `tool`. */
static void open_message(fk_gen *g, pt_msg kind, const char *tool)
{
    if (g->pt != PT_NONE) close_message(g, NULL);
    char header[300];
    if (kind == PT_TOOL)
        snprintf(header, sizeof header, " to=functions.%.200s", tool ? tool : "unknown");
    else
        header[0] = '\0';
    if (g->pt_messages > 0) {
        gen_special(g, "<|start|>");
        text_str(g, "assistant");
    }
    text_str(g, header);
    gen_special(g, "<|channel|>");
    if (kind == PT_TOOL) {
        text_str(g, "commentary ");
        gen_special(g, "<|constrain|>");
        text_str(g, "json");
    } else {
        text_str(g, kind == PT_ANALYSIS ? "analysis" : "final");
    }
    gen_special(g, "<|message|>");
    g->pt = kind;
    g->pt_messages++;
}

static void take_reasoning(fk_gen *g, const char *text, size_t len)
{
    if (!len) return;
    if (g->pt != PT_ANALYSIS) open_message(g, PT_ANALYSIS, NULL);
    text_piece(g, text, len);
    g->pt_deltas++;
}

/* Content: plain text for a final message, unless the upstream's very first
 * output is Harmony text (raw mode), which is scanned and kept as it is. */
static void take_content(fk_gen *g, const char *text, size_t len)
{
    if (!len) return;
    g->pt_deltas++;
    if (g->pt == PT_RAW) {
        hm_scanner_feed(g->scanner, text, len, gen_scanned_piece, g);
        return;
    }
    if (g->pt == PT_FINAL) {
        text_piece(g, text, len);
        return;
    }
    if (g->pt_messages > 0) {
        open_message(g, PT_FINAL, NULL);
        text_piece(g, text, len);
        return;
    }
    /* First output of all: let the scanner decide. */
    size_t first = g->out.n;
    hm_scanner_feed(g->scanner, text, len, gen_scanned_piece, g);
    if (g->out.n == first) return; /* all held back ("<|chan"): undecided */
    if (g->out.pieces[first].is_special) {
        g->pt = PT_RAW;
        return;
    }
    /* Ordinary text: rewrite what the scanner gave as text after a final header. */
    piece_buf *b = &g->out;
    size_t base = (size_t)(uintptr_t)b->pieces[first].text;
    size_t n = b->arena.len - base;
    char *copy = malloc(n ? n : 1);
    if (!copy) {
        gen_fail(g, 500, "server_error", "internal_error", "out of memory");
        return;
    }
    memcpy(copy, b->arena.data + base, n);
    b->n = first;
    b->arena.len = base;
    open_message(g, PT_FINAL, NULL);
    text_piece(g, copy, n);
    free(copy);
    hm_scanner_finish(g->scanner, plain_piece, g);
}

static void take_tool_call(fk_gen *g, const json_t *tc)
{
    json_t *idx = json_object_get(tc, "index");
    int index = json_is_integer(idx) ? (int)json_integer_value(idx) : 0;
    json_t *fn = json_object_get(tc, "function");
    const char *name = json_string_value(json_object_get(fn, "name"));
    json_t *args = json_object_get(fn, "arguments");
    if (g->pt != PT_TOOL || index != g->pt_tool_index) {
        open_message(g, PT_TOOL, name && *name ? name : NULL);
        g->pt_tool_index = index;
    }
    if (json_is_string(args))
        text_piece(g, json_string_value(args), json_string_length(args));
    else if (args && !json_is_null(args)) {
        char *s = json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
        if (s) text_str(g, s);
        free(s);
    }
    g->pt_deltas++;
}

static void take_usage(fk_gen *g, const json_t *root)
{
    json_t *u = json_object_get(root, "usage");
    if (json_is_object(u)) {
        g->stats.prompt_tokens = (int)json_integer_value(json_object_get(u, "prompt_tokens"));
        g->stats.completion_tokens =
            (int)json_integer_value(json_object_get(u, "completion_tokens"));
        json_t *cached =
            json_object_get(json_object_get(u, "prompt_tokens_details"), "cached_tokens");
        if (json_is_integer(cached)) g->stats.cached_tokens = (int)json_integer_value(cached);
    }
    json_t *t = json_object_get(root, "timings");
    if (json_is_object(t)) {
        g->stats.prefill_ms = json_number_value(json_object_get(t, "prompt_ms"));
        g->stats.decode_ms = json_number_value(json_object_get(t, "predicted_ms"));
        if (!g->stats.prompt_tokens)
            g->stats.prompt_tokens = (int)json_integer_value(json_object_get(t, "prompt_n"));
        if (!g->stats.completion_tokens)
            g->stats.completion_tokens = (int)json_integer_value(json_object_get(t, "predicted_n"));
    }
}

/* One chunk (is_delta) or one whole response. */
static void take_chunk(fk_gen *g, const json_t *root, int is_delta)
{
    json_t *choice = json_array_get(json_object_get(root, "choices"), 0);
    if (json_is_object(choice)) {
        json_t *d = json_object_get(choice, is_delta ? "delta" : "message");
        json_t *r = json_object_get(d, "reasoning_content");
        if (!json_is_string(r)) r = json_object_get(d, "reasoning");
        if (json_is_string(r)) take_reasoning(g, json_string_value(r), json_string_length(r));
        json_t *c = json_object_get(d, "content");
        if (json_is_string(c)) take_content(g, json_string_value(c), json_string_length(c));
        json_t *text = json_object_get(choice, "text"); /* /v1/completions */
        if (json_is_string(text))
            take_content(g, json_string_value(text), json_string_length(text));
        json_t *calls = json_object_get(d, "tool_calls");
        for (size_t i = 0; i < json_array_size(calls); i++)
            take_tool_call(g, json_array_get(calls, i));
        const char *finish = json_string_value(json_object_get(choice, "finish_reason"));
        if (finish) {
            g->pt_finish_seen = 1;
            snprintf(g->pt_finish, sizeof g->pt_finish, "%s", finish);
        }
    }
    take_usage(g, root);
}

/* ---- the stream ------------------------------------------------------------------------- */

/* Output deltas in a chunk, counted as take_chunk counts them (llama-server
 * sends one token per delta). */
static long chunk_deltas(const json_t *root)
{
    json_t *choice = json_array_get(json_object_get(root, "choices"), 0);
    json_t *d = json_object_get(choice, "delta");
    json_t *r = json_object_get(d, "reasoning_content");
    if (!json_is_string(r)) r = json_object_get(d, "reasoning");
    long n = json_string_length(r) > 0;
    n += json_string_length(json_object_get(d, "content")) > 0;
    n += json_string_length(json_object_get(choice, "text")) > 0;
    return n + (long)json_array_size(json_object_get(d, "tool_calls"));
}

int passthrough_event(fk_gen *g, const char *field, char *value, size_t len)
{
    if (strcmp(field, "data") == 0 && len == 6 && memcmp(value, "[DONE]", 6) == 0) {
        g->pt_done_seen = 1;
        return 0;
    }
    json_t *root = gen_parse_object(g, value, len);
    if (!root) return -1;
    json_t *error = json_object_get(root, "error");
    if (strcmp(field, "error") == 0 || error) {
        if (errors_output_parser_failed(error ? error : root)) {
            /* llama-server's chat parser (which makes the deltas read here)
             * refused the output: deliver what arrived, finish length. */
            g->limit_reached = 1;
            snprintf(g->pt_finish, sizeof g->pt_finish, "length");
            proxy_log(g->core, FK_LOG_WARN,
                      "request %s: llama-server's own output parser rejected the output; "
                      "delivered what was generated, finish_reason length",
                      g->request_id);
        } else {
            errors_from_json(g, 500, error ? error : root);
        }
        json_decref(root);
        return -1;
    }
    if (g->n_predict > 0 && g->pt_deltas + chunk_deltas(root) > g->n_predict) {
        /* The upstream went on past max_tokens: stop there, as it should have. */
        json_decref(root);
        g->limit_reached = 1;
        snprintf(g->pt_finish, sizeof g->pt_finish, "length");
        proxy_log(g->core, FK_LOG_WARN,
                  "request %s: llama-server went on past max_tokens (%d); stopped there",
                  g->request_id, g->n_predict);
        return -1;
    }
    take_chunk(g, root, 1);
    json_decref(root);
    if (g->err.set) return -1;
    return gen_flush(g);
}

void passthrough_finish(fk_gen *g, const fk_xfer_end *end)
{
    json_t *whole = errors_from_end(g, end); /* a 2xx answer that was not an event stream */
    json_t *error = json_object_get(whole, "error");
    if (error)
        errors_from_json(g, 500, error);
    else if (whole)
        take_chunk(g, whole, 0);
    g->pt_done_seen |= whole != NULL;
    json_decref(whole);
    errors_if_cut(g, end, g->pt_finish_seen || g->pt_done_seen);
    /* Whatever the scanner still holds is output too. */
    if (g->pt == PT_RAW)
        hm_scanner_finish(g->scanner, gen_scanned_piece, g);
    else {
        size_t first = g->out.n;
        hm_scanner_finish(g->scanner, plain_piece, g);
        if (g->out.n > first && g->pt == PT_NONE) {
            /* Held-back text from an undecided first delta: it was content. */
            piece_buf *b = &g->out;
            size_t base = (size_t)(uintptr_t)b->pieces[first].text;
            size_t n = b->arena.len - base;
            char *copy = malloc(n);
            if (copy) {
                memcpy(copy, b->arena.data + base, n);
                b->n = first;
                b->arena.len = base;
                open_message(g, PT_FINAL, NULL);
                text_piece(g, copy, n);
                free(copy);
            }
        }
    }
    if (!g->err.set) {
        if (g->pt != PT_RAW) close_message(g, g->pt_finish);
        g->stats.finish = strcmp(g->pt_finish, "length") == 0 ? FK_FINISH_LENGTH : FK_FINISH_STOP;
        if (!g->stats.completion_tokens) g->stats.completion_tokens = g->pt_deltas;
    }
    gen_flush(g);
}
