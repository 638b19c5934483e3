/* responses.c: the Responses API: POST /v1/responses, GET and DELETE
 * /v1/responses/{id}.
 *
 * POST takes the chat path (endpoint.c's skeleton): the request and the
 * conversation stored under previous_response_id -> harmony/responses_in.c
 * -> rendered segments -> driver (FK_GEN_HARMONY) -> pieces -> Harmony
 * parser -> harmony/responses_out.c -> output items, or stream events. A
 * response that ends (completed or incomplete) is stored unless the request
 * says "store": false, with the conversation through it: the earlier turns,
 * this input and this output (response_store.h).
 *
 * A stream is named SSE events, numbered by sequence_number from 0:
 *   response.created, response.in_progress   at the first output
 *   the items' events                        (harmony.h)
 *   response.completed | response.incomplete the whole response
 * and ends without [DONE]. A failure after the stream began is
 * response.failed (the output so far, the error) and then an error event;
 * before it, an ordinary HTTP error as on every endpoint.
 *
 * status "incomplete" (incomplete_details.reason "max_output_tokens") when
 * the core stopped on max_output_tokens or the context, unless the output
 * ends in a finished function call. */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_type.h"
#include "endpoint.h"
#include "harmony/harmony.h"
#include "response_store.h"
#include "sse.h"

#define METADATA_MAX_PAIRS 16
#define METADATA_MAX_KEY 64
#define METADATA_MAX_VALUE 512

typedef struct resp_state {
    hm_parser *parser;     /* Harmony output parser */
    hm_responses_out *out; /* parser events -> items / stream events */
    json_t *echo;          /* request settings every response object repeats (owned) */
    json_t *history;       /* the stored conversation before this input, or NULL (one ref) */
    json_t *input;         /* this request's input as items (one ref) */
    int store;             /* keep the response when it ends */
    int started;           /* streaming: response.created and in_progress went out */
    long long seq;         /* the next sequence_number */
    int pieces;            /* pieces received (fallback output token count) */
} resp_state;

static void resp_state_free(void *p)
{
    resp_state *s = p;
    if (!s) return;
    hm_parser_free(s->parser);
    hm_responses_out_free(s->out);
    json_decref(s->echo);
    json_decref(s->history);
    json_decref(s->input);
    free(s);
}

static void on_event(void *ud, const hm_event *ev)
{
    hm_responses_out_event(((resp_state *)ud)->out, ev);
}

static fk_store_limits store_limits(const fk_config *cfg)
{
    return (fk_store_limits){cfg->responses_store_max, cfg->responses_store_ttl_s,
                             (size_t)cfg->responses_store_mb << 20};
}

/* ---- the response object ------------------------------------------------------------ */

/* {id, object, created_at, status, model, output, usage, error,
 *  incomplete_details, ...echo}; output, usage, incomplete and error are
 * stolen (NULL: null). */
static json_t *response_object(const fk_job *j, const resp_state *s, const char *status,
                               json_t *output, json_t *usage, json_t *incomplete, json_t *error)
{
    json_t *r = json_pack("{s:s, s:s, s:I, s:s, s:s, s:o, s:o, s:o, s:o}", "id", j->id, "object",
                          "response", "created_at", (json_int_t)j->created, "status", status,
                          "model", j->model, "output", output ? output : json_array(), "usage",
                          usage ? usage : json_null(), "error", error ? error : json_null(),
                          "incomplete_details", incomplete ? incomplete : json_null());
    if (r) json_object_update(r, s->echo);
    return r;
}

static json_t *usage(const resp_state *s, const fk_gen_stats *st)
{
    int output = st->completion_tokens > 0 ? st->completion_tokens : s->pieces;
    int input = st->prompt_tokens > 0 ? st->prompt_tokens : 0;
    return json_pack("{s:i, s:{s:i}, s:i, s:{s:i}, s:i}", "input_tokens", input,
                     "input_tokens_details", "cached_tokens",
                     st->cached_tokens > 0 ? st->cached_tokens : 0, "output_tokens", output,
                     "output_tokens_details", "reasoning_tokens",
                     hm_responses_out_reasoning_tokens(s->out), "total_tokens", input + output);
}

/* ---- streaming ------------------------------------------------------------------------ */

/* One event: its sequence number set, named by its type. */
static void send_event(fk_job *j, struct evbuffer *sse, json_t *ev /* stolen */)
{
    resp_state *s = j->state;
    if (!ev) return;
    json_object_set_new(ev, "sequence_number", json_integer(s->seq++));
    fk_sse_add_event(sse, json_string_value(json_object_get(ev, "type")), ev);
    json_decref(ev);
}

/* {type, response} */
static void send_response_event(fk_job *j, struct evbuffer *sse, const char *type,
                                json_t *response /* stolen */)
{
    send_event(j, sse, json_pack("{s:s, s:o}", "type", type, "response", response));
}

static void start_stream(fk_job *j, struct evbuffer *sse)
{
    resp_state *s = j->state;
    if (s->started) return;
    s->started = 1;
    send_response_event(j, sse, "response.created",
                        response_object(j, s, "in_progress", NULL, NULL, NULL, NULL));
    send_response_event(j, sse, "response.in_progress",
                        response_object(j, s, "in_progress", NULL, NULL, NULL, NULL));
}

static void flush_events(fk_job *j, struct evbuffer *sse)
{
    resp_state *s = j->state;
    json_t *events = hm_responses_out_take_events(s->out);
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev) send_event(j, sse, json_incref(ev));
    json_decref(events);
}

/* ---- job ops ----------------------------------------------------------------------------- */

static void resp_pieces(fk_job *j, const fk_piece *p, size_t n, struct evbuffer *sse)
{
    resp_state *s = j->state;
    if (sse) start_stream(j, sse);
    for (size_t i = 0; i < n; i++) {
        hm_parser_feed(s->parser, p[i].text, p[i].len, p[i].is_special, p[i].token_id);
        hm_responses_out_count_token(s->out, hm_parser_channel(s->parser));
        s->pieces++;
    }
    if (sse) flush_events(j, sse);
}

/* Keep the response and the conversation through it: the history, this
 * input, this output. */
static void store(fk_job *j, resp_state *s, json_t *response, json_t *output)
{
    if (!s->store) return;
    json_t *items = json_array();
    if (!items || (s->history && json_array_extend(items, s->history) < 0) ||
        json_array_extend(items, s->input) < 0 || json_array_extend(items, output) < 0) {
        json_decref(items);
        return;
    }
    fk_store_limits lim = store_limits(j->gw->config);
    fk_response_store_put(j->gw->responses, &lim, fk_now(), j->id, response, items);
    json_decref(items);
}

static json_t *resp_finish(fk_job *j, const fk_gen_stats *st, struct evbuffer *sse)
{
    resp_state *s = j->state;
    hm_parser_finish(s->parser);
    int cut = st->finish == FK_FINISH_LENGTH && !hm_responses_out_ends_in_call(s->out);
    json_t *output = hm_responses_out_items(s->out);
    json_t *r =
        response_object(j, s, cut ? "incomplete" : "completed", json_incref(output), usage(s, st),
                        cut ? json_pack("{s:s}", "reason", "max_output_tokens") : NULL, NULL);
    if (r && !cut) json_object_set_new(r, "completed_at", json_integer(fk_created(j->gw)));
    if (r) store(j, s, r, output);
    json_decref(output);
    if (!sse) return r;
    start_stream(j, sse);
    flush_events(j, sse);
    send_response_event(j, sse, cut ? "response.incomplete" : "response.completed", r);
    return NULL;
}

static void resp_stream_error(fk_job *j, const fk_api_error *e, struct evbuffer *sse)
{
    resp_state *s = j->state;
    hm_parser_finish(s->parser);
    start_stream(j, sse);
    flush_events(j, sse);
    const char *code = e->code[0] ? e->code : "server_error";
    send_response_event(
        j, sse, "response.failed",
        response_object(j, s, "failed", hm_responses_out_items(s->out), NULL, NULL,
                        json_pack("{s:s, s:s}", "code", code, "message", e->message)));
    /* the documented error event, with OpenAI's error object as well, which
     * the openai client raises as a typed APIError */
    json_t *ev = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "message", e->message);
    if (ev) {
        json_object_set_new(ev, "param", e->param[0] ? json_string(e->param) : json_null());
        json_t *wrapped = fk_api_error_json(e);
        json_object_set(ev, "error", json_object_get(wrapped, "error"));
        json_decref(wrapped);
    }
    send_event(j, sse, ev);
}

static const fk_job_ops resp_ops = {resp_pieces, resp_finish, resp_state_free, resp_stream_error,
                                    1};

/* ---- request ------------------------------------------------------------------------------ */

static const json_t *field(const json_t *body, const char *name)
{
    const json_t *v = json_object_get(body, name);
    return v && !json_is_null(v) ? v : NULL;
}

static int want(fk_api_error *err, const char *name, const char *what, const json_t *got)
{
    return fk_api_bad_request(err, "invalid_type", name, "'%s' must be %s, got %s", name, what,
                              fk_json_type_name(got));
}

static int unsupported(fk_api_error *err, const char *name, const char *why)
{
    return fk_api_bad_request(err, "unsupported_parameter", name, "'%s' is not supported: %s", name,
                              why);
}

/* metadata: at most 16 string pairs, keys up to 64 characters, values 512. */
static int check_metadata(const json_t *md, fk_api_error *err)
{
    if (!md) return 0;
    if (!json_is_object(md)) return want(err, "metadata", "an object of strings", md);
    if (json_object_size(md) > METADATA_MAX_PAIRS)
        return fk_api_bad_request(err, "invalid_value", "metadata",
                                  "'metadata' holds %zu pairs; the limit is %d",
                                  json_object_size(md), METADATA_MAX_PAIRS);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)md, k, v)
    {
        if (strlen(k) > METADATA_MAX_KEY || !json_is_string(v) ||
            json_string_length(v) > METADATA_MAX_VALUE)
            return fk_api_bad_request(err, "invalid_value", "metadata",
                                      "'metadata' keys must be at most %d characters and values "
                                      "strings of at most %d",
                                      METADATA_MAX_KEY, METADATA_MAX_VALUE);
    }
    return 0;
}

/* The fields only this endpoint has; what the mapping reads (input items,
 * tools, tool_choice, reasoning) is checked there. */
static int check_fields(const json_t *body, fk_api_error *err)
{
    static const char *const bools[] = {"store", "parallel_tool_calls", "background"};
    for (size_t i = 0; i < sizeof bools / sizeof *bools; i++) {
        const json_t *v = field(body, bools[i]);
        if (v && !json_is_boolean(v)) return want(err, bools[i], "a boolean", v);
    }
    static const char *const strings[] = {"instructions", "previous_response_id", "truncation",
                                          "user"};
    for (size_t i = 0; i < sizeof strings / sizeof *strings; i++) {
        const json_t *v = field(body, strings[i]);
        if (v && !json_is_string(v)) return want(err, strings[i], "a string", v);
    }
    const json_t *prev = field(body, "previous_response_id");
    if (prev && json_string_length(prev) == 0)
        return fk_api_bad_request(err, "invalid_value", "previous_response_id",
                                  "'previous_response_id' must not be empty");
    const json_t *trunc = field(body, "truncation");
    if (trunc && strcmp(json_string_value(trunc), "auto") != 0 &&
        strcmp(json_string_value(trunc), "disabled") != 0)
        return fk_api_bad_request(err, "invalid_value", "truncation",
                                  "'truncation' must be auto or disabled");
    if (json_is_true(field(body, "background")))
        return unsupported(err, "background", "responses run in the foreground here");
    if (field(body, "conversation"))
        return unsupported(err, "conversation",
                           "this server has no Conversations API; use previous_response_id");
    if (field(body, "prompt")) return unsupported(err, "prompt", "there are no stored prompts");
    const json_t *text = field(body, "text");
    if (text && !json_is_object(text)) return want(err, "text", "an object", text);
    const json_t *format = field(text, "format");
    const json_t *ftype = field(format, "type");
    if (format && (!json_is_string(ftype) || strcmp(json_string_value(ftype), "text") != 0))
        return unsupported(err, "text.format",
                           "structured output (json_schema, json_object) is not offered; "
                           "use {\"type\":\"text\"}");
    const json_t *include = field(body, "include");
    if (include && !json_is_array(include))
        return want(err, "include", "an array of strings", include);
    return check_metadata(field(body, "metadata"), err);
}

static int resp_parse(const json_t *body, const fk_limits *lim, fk_request_params *out,
                      fk_api_error *err)
{
    if (fk_parse_responses_request(body, lim, out, err) < 0) return -1;
    return check_fields(body, err);
}

/* body[key], or `dflt` (stolen) when absent or null; a new reference. */
static json_t *or_default(const json_t *body, const char *key, json_t *dflt)
{
    const json_t *v = field(body, key);
    if (!v) return dflt;
    json_decref(dflt);
    return json_incref((json_t *)v);
}

/* What every response object repeats of its request. */
static json_t *echo(const json_t *body, const fk_request_params *rp)
{
    const json_t *effort = field(field(body, "reasoning"), "effort");
    json_t *e = json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:{s:o, s:n}, s:b, s:f, s:o, s:o, s:o, s:f, s:o, s:o}",
        "instructions", or_default(body, "instructions", json_null()), "max_output_tokens",
        or_default(body, "max_output_tokens", json_null()), "metadata",
        or_default(body, "metadata", json_object()), "parallel_tool_calls",
        or_default(body, "parallel_tool_calls", json_true()), "previous_response_id",
        or_default(body, "previous_response_id", json_null()), "reasoning", "effort",
        effort ? json_incref((json_t *)effort) : json_string("medium"), "summary", "store",
        !json_is_false(json_object_get(body, "store")), "temperature", rp->sampling.temperature,
        "text", or_default(body, "text", json_pack("{s:{s:s}}", "format", "type", "text")),
        "tool_choice", or_default(body, "tool_choice", json_string("auto")), "tools",
        or_default(body, "tools", json_array()), "top_p", rp->sampling.top_p, "truncation",
        or_default(body, "truncation", json_string("disabled")), "user",
        or_default(body, "user", json_null()));
    return e;
}

/* The function tools as the driver ABI passes them (chat's shape), or NULL. */
static char *tools_for_driver(const json_t *tools)
{
    if (json_array_size(tools) == 0) return NULL;
    json_t *arr = json_array();
    size_t i;
    const json_t *t;
    json_array_foreach(tools, i, t)
    {
        json_t *fn = json_deep_copy(t);
        json_object_del(fn, "type");
        json_array_append_new(arr, json_pack("{s:s, s:o}", "type", "function", "function", fn));
    }
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return text;
}

/* The conversation stored under previous_response_id (*history, a new
 * reference), or NULL when the request names none; 404 when unknown. */
static int previous(fk_gateway *gw, const json_t *body, json_t **history, fk_api_error *err)
{
    const json_t *prev = field(body, "previous_response_id");
    *history = NULL;
    if (!prev) return 0;
    fk_store_limits lim = store_limits(gw->config);
    json_t *items = NULL;
    if (!fk_response_store_get(gw->responses, &lim, fk_now(), json_string_value(prev), NULL,
                               &items))
        return fk_api_error_set(err, 404, "invalid_request_error", "previous_response_not_found",
                                "previous_response_id",
                                "Previous response with id '%s' not found (never stored, "
                                "stored with \"store\": false, expired, or deleted).",
                                json_string_value(prev));
    *history = json_incref(items);
    return 0;
}

/* The prompt into `in` and the output state into `s`. */
static int prepare_state(fk_gateway *gw, fk_job_input *in, resp_state *s, fk_api_error *err)
{
    if (previous(gw, in->body, &s->history, err) < 0) return -1;
    hm_openai_options ho = {.current_date = gw->config->current_date, .default_effort = NULL};
    hm_conversation conv;
    hm_openai_error he;
    if (hm_responses_to_conversation(in->body, s->history, &ho, &conv, &he) < 0)
        return fk_endpoint_mapping_error(&he, err);
    int rc = fk_endpoint_render(in, &conv, "input", err);
    hm_conversation_clear(&conv);
    if (rc < 0) return -1;
    in->mode = FK_GEN_HARMONY;
    in->tools = tools_for_driver(field(in->body, "tools"));
    s->store = !json_is_false(json_object_get(in->body, "store"));
    s->input = hm_responses_input_items(json_object_get(in->body, "input"));
    s->echo = echo(in->body, &in->rp);
    s->out = hm_responses_out_new(in->rp.stream);
    hm_parser_options po = {.strict = 0, .role_hint_assistant = 1};
    s->parser = s->out ? hm_parser_new(&po, on_event, s) : NULL;
    if (!s->input || !s->echo || !s->parser)
        return fk_api_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
    fk_endpoint_prime(s->parser, in);
    return 0;
}

static int resp_prepare(fk_gateway *gw, fk_job_input *in, void **state, fk_api_error *err)
{
    if (!in->slot->cfg.use_harmony)
        return fk_api_bad_request(err, "unsupported_value", NULL,
                                  "/v1/responses needs FRONTEND_USE_HARMONY=1: this core passes "
                                  "chat requests through (FRONTEND_USE_HARMONY=0); use "
                                  "/v1/chat/completions");
    resp_state *s = calloc(1, sizeof *s);
    if (!s) return fk_api_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
    if (prepare_state(gw, in, s, err) < 0) {
        resp_state_free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static const fk_endpoint_spec resp_spec = {FK_EP_RESPONSES, "/v1/responses", "resp_",
                                           resp_parse,      resp_prepare,    &resp_ops};

void fk_handle_responses(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info)
{
    fk_handle_generation(gw, req, info, &resp_spec);
}

/* ---- GET and DELETE /v1/responses/{id} ------------------------------------------------------ */

void fk_handle_response(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info)
{
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    const char *id = path + strlen("/v1/responses/");
    fk_api_error e;
    if (!*id || strchr(id, '/')) {
        fk_api_error_set(&e, 404, "invalid_request_error", "unknown_url", NULL,
                         "Unknown request URL: %s (only /v1/responses/{id} is served)", path);
        fk_reply_error(gw, req, FK_EP_RESPONSE, &e);
        return;
    }
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (query && strstr(query, "stream=true")) {
        fk_api_bad_request(&e, "unsupported_parameter", "stream",
                           "stored responses are returned whole; streaming them again is not "
                           "supported");
        fk_reply_error(gw, req, FK_EP_RESPONSE, &e);
        return;
    }
    fk_store_limits lim = store_limits(gw->config);
    json_t *r = NULL;
    int del = evhttp_request_get_command(req) == EVHTTP_REQ_DELETE;
    int found = del ? fk_response_store_delete(gw->responses, &lim, fk_now(), id)
                    : fk_response_store_get(gw->responses, &lim, fk_now(), id, &r, NULL);
    if (!found) {
        fk_api_error_set(&e, 404, "invalid_request_error", "response_not_found", NULL,
                         "No response with id '%s' is stored (never stored, stored with "
                         "\"store\": false, expired, or deleted).",
                         id);
        fk_reply_error(gw, req, FK_EP_RESPONSE, &e);
        return;
    }
    fk_reply_json(gw, req, FK_EP_RESPONSE, 200,
                  del ? json_pack("{s:s, s:s, s:b}", "id", id, "object", "response", "deleted", 1)
                      : json_incref(r));
}
