/* chat.c: POST /v1/chat/completions.
 *
 * Harmony path: request -> hm conversation -> rendered segments -> driver
 * (FK_GEN_HARMONY) -> pieces -> hm parser -> hm_openai_out -> deltas / message.
 * FRONTEND_USE_HARMONY=0: the client's body goes to the driver as received
 * (FK_GEN_PASSTHROUGH; the driver rewrites what it forwards); its pieces come
 * back in Harmony form and are parsed the same way. */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "harmony/harmony.h"
#include "log.h"
#include "logprobs.h"
#include "request.h"
#include "special_text.h"
#include "sse.h"

typedef struct chat_state {
    hm_parser *parser;  /* Harmony output parser */
    hm_openai_out *out; /* parser events -> OpenAI message / deltas */
    int sent_delta;     /* streaming: a delta went out (the role rode on it) */
    int pieces;         /* pieces received (fallback completion token count) */
    json_t *lp;         /* logprobs asked for: entries of content tokens not yet sent
                           (streaming) or all of them; NULL when not asked for */
    json_t *lp_maybe;   /* entries of the ordinary tokens since the last special token
                           that have not produced content (yet) */
    int lp_as_ids;      /* logprobs name tokens "token_id:N" (return_tokens_as_token_ids) */
} chat_state;

static void chat_state_free(void *p)
{
    chat_state *s = p;
    if (!s) return;
    if (s->parser) hm_parser_free(s->parser);
    if (s->out) hm_openai_out_free(s->out);
    json_decref(s->lp);
    json_decref(s->lp_maybe);
    free(s);
}

static void on_event(void *ud, const hm_event *ev)
{
    chat_state *s = ud;
    hm_openai_out_event(s->out, ev);
}

static chat_state *chat_state_new(const fk_config *cfg, int logprobs, int lp_as_ids)
{
    chat_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->lp_as_ids = lp_as_ids;
    if (logprobs && (!(s->lp = json_array()) || !(s->lp_maybe = json_array()))) {
        chat_state_free(s);
        return NULL;
    }
    hm_openai_out_options oo = {
        .emit_reasoning_content = cfg->reasoning_fields != FK_REASONING_ONLY,
        .emit_reasoning = cfg->reasoning_fields != FK_REASONING_CONTENT,
        .tool_call_id_prefix = NULL,
    };
    hm_parser_options po = {.strict = 0, .role_hint_assistant = 1};
    s->out = hm_openai_out_new(&oo);
    s->parser = s->out ? hm_parser_new(&po, on_event, s) : NULL;
    if (!s->parser) {
        chat_state_free(s);
        return NULL;
    }
    return s;
}

/* ---- output ----------------------------------------------------------------------- */

/* {"id","object":"chat.completion.chunk","created","model","choices":[...]} */
static json_t *chunk(const fk_job *j, json_t *choices)
{
    json_t *c =
        json_pack("{s:s, s:s, s:I, s:s, s:o}", "id", j->id, "object", "chat.completion.chunk",
                  "created", (json_int_t)j->created, "model", j->model, "choices", choices);
    if (c && j->include_usage) json_object_set_new(c, "usage", json_null());
    return c;
}

/* logprobs: the chunk's logprobs object (stolen), or NULL for null. */
static void add_delta_chunk(const fk_job *j, struct evbuffer *sse, json_t *delta,
                            const char *finish_reason, json_t *logprobs)
{
    json_t *choice = json_pack("{s:i, s:o, s:o, s:o}", "index", 0, "delta", delta, "logprobs",
                               logprobs ? logprobs : json_null(), "finish_reason",
                               finish_reason ? json_string(finish_reason) : json_null());
    json_t *c = chunk(j, json_pack("[o]", choice));
    fk_sse_add_json(sse, c);
    json_decref(c);
}

/* The logprobs of the content tokens not yet sent, as a chunk's object
 * (NULL when there are none). */
static json_t *take_logprobs(chat_state *s)
{
    if (json_array_size(s->lp) == 0) return NULL;
    json_t *o = fk_lp_chat_object(json_copy(s->lp));
    json_array_clear(s->lp);
    return o;
}

/* Each delta as a chunk; the last one that carries content also carries the
 * logprobs of the tokens gathered since the previous one. */
static void flush_deltas(fk_job *j, struct evbuffer *sse)
{
    chat_state *s = j->state;
    json_t *deltas = hm_openai_out_take_deltas(s->out);
    size_t i, last_content = (size_t)-1;
    json_t *d;
    json_array_foreach(deltas, i, d) if (json_object_get(d, "content")) last_content = i;
    json_array_foreach(deltas, i, d)
    {
        add_delta_chunk(j, sse, json_incref(d), NULL, i == last_content ? take_logprobs(s) : NULL);
        s->sent_delta = 1;
    }
    json_decref(deltas);
}

/* Which tokens chat logprobs list: those whose text became content. An
 * ordinary token's entry waits in lp_maybe until content grows (then every
 * waiting entry produced it: a character split over tokens, or header text
 * recovered as content) or a special token ends the run (its entries were a
 * header, reasoning or tool arguments). */
static void note_logprobs(chat_state *s, const fk_piece *p, size_t content_before)
{
    if (p && p->is_special) json_array_clear(s->lp_maybe);
    if (p && !p->is_special) json_array_append_new(s->lp_maybe, fk_lp_chat_entry(p, s->lp_as_ids));
    if (hm_openai_out_content_bytes(s->out) > content_before) {
        json_array_extend(s->lp, s->lp_maybe);
        json_array_clear(s->lp_maybe);
    }
}

static void chat_pieces(fk_job *j, const fk_piece *p, size_t n, struct evbuffer *sse)
{
    chat_state *s = j->state;
    for (size_t i = 0; i < n; i++) {
        size_t content_before = hm_openai_out_content_bytes(s->out);
        hm_parser_feed(s->parser, p[i].text, p[i].len, p[i].is_special, p[i].token_id);
        hm_openai_out_count_token(s->out, hm_parser_channel(s->parser));
        s->pieces++;
        if (s->lp) note_logprobs(s, &p[i], content_before);
    }
    if (sse) flush_deltas(j, sse);
}

static json_t *usage(const chat_state *s, const fk_gen_stats *st)
{
    int completion = st->completion_tokens > 0 ? st->completion_tokens : s->pieces;
    int prompt = st->prompt_tokens > 0 ? st->prompt_tokens : 0;
    int cached = st->cached_tokens > 0 ? st->cached_tokens : 0; /* OpenAI always says it */
    return json_pack("{s:i, s:i, s:i, s:{s:i}, s:{s:i}}", "prompt_tokens", prompt,
                     "completion_tokens", completion, "total_tokens", prompt + completion,
                     "prompt_tokens_details", "cached_tokens", cached, "completion_tokens_details",
                     "reasoning_tokens", hm_openai_out_reasoning_tokens(s->out));
}

static json_t *chat_finish(fk_job *j, const fk_gen_stats *st, struct evbuffer *sse)
{
    chat_state *s = j->state;
    size_t content_before = hm_openai_out_content_bytes(s->out);
    hm_parser_finish(s->parser);
    if (s->lp) note_logprobs(s, NULL, content_before);
    const char *fr = hm_openai_out_finish_reason(s->out, st->finish == FK_FINISH_LENGTH);
    if (!sse) {
        json_t *lp = s->lp ? fk_lp_chat_object(json_incref(s->lp)) : json_null();
        json_t *choice =
            json_pack("{s:i, s:o, s:o, s:s}", "index", 0, "message", hm_openai_out_message(s->out),
                      "logprobs", lp, "finish_reason", fr);
        return json_pack("{s:s, s:s, s:I, s:s, s:[o], s:o}", "id", j->id, "object",
                         "chat.completion", "created", (json_int_t)j->created, "model", j->model,
                         "choices", choice, "usage", usage(s, st));
    }
    flush_deltas(j, sse);
    if (!s->sent_delta)
        add_delta_chunk(j, sse, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL,
                        NULL);
    add_delta_chunk(j, sse, json_object(), fr, take_logprobs(s));
    if (j->include_usage) {
        json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", j->id, "object",
                              "chat.completion.chunk", "created", (json_int_t)j->created, "model",
                              j->model, "choices", "usage", usage(s, st));
        fk_sse_add_json(sse, c);
        json_decref(c);
    }
    return NULL;
}

static const fk_job_ops chat_ops = {chat_pieces, chat_finish, chat_state_free, NULL, 0};

/* ---- request -> prompt ------------------------------------------------------------ */

/* Render the Harmony prompt into in->prompt and view it as in->segs. */
static int render(fk_gateway *gw, fk_job_input *in, fk_api_error *err)
{
    hm_openai_options ho = {.current_date = gw->config->current_date, .default_effort = NULL};
    hm_conversation conv;
    hm_openai_error he;
    if (hm_openai_chat_to_conversation(in->body, &ho, &conv, &he) < 0)
        return fk_endpoint_mapping_error(&he, err);
    int rc = fk_endpoint_render(in, &conv, "messages", err);
    hm_conversation_clear(&conv);
    return rc;
}

/* Pass-through: the client's chat text must not spell special tokens (the
 * core would parse them). Refused (400 naming the field), or escaped into
 * *escaped (a new body text the caller frees; NULL when nothing changed).
 * 0, or -1 with err. */
static int passthrough_special_text(const fk_config *cfg, const json_t *body, char **escaped,
                                    fk_api_error *err)
{
    char where[256];
    *escaped = NULL;
    if (!fk_special_text_find(body, where, sizeof where)) return 0;
    if (cfg->special_text == FK_SPECIAL_TEXT_REJECT)
        return fk_api_bad_request(err, "invalid_value", where,
                                  "%s spells a special token such as <|end|>, which this "
                                  "pass-through core (FRONTEND_USE_HARMONY=0) would parse as one; "
                                  "remove it, or set FK_PASSTHROUGH_SPECIAL_TEXT=escape",
                                  where);
    json_t *copy = json_deep_copy(body);
    if (copy && fk_special_text_escape(copy) >= 0) *escaped = json_dumps(copy, JSON_COMPACT);
    json_decref(copy);
    if (!*escaped) return fk_api_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
    return 0;
}

/* Harmony: the rendered prompt; pass-through: the body as received (or with
 * special-token spellings escaped). The tools go along as JSON text either way. */
static int chat_prepare(fk_gateway *gw, fk_job_input *in, void **state, fk_api_error *err)
{
    const json_t *tools = json_object_get(in->body, "tools");
    if (json_array_size(tools) > 0 && !(in->tools = json_dumps(tools, JSON_COMPACT)))
        return fk_api_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
    in->mode = in->slot->cfg.use_harmony ? FK_GEN_HARMONY : FK_GEN_PASSTHROUGH;
    if (in->mode == FK_GEN_HARMONY && render(gw, in, err) < 0) return -1;
    if (in->mode == FK_GEN_PASSTHROUGH &&
        passthrough_special_text(&in->slot->cfg, in->body, &in->body_text, err) < 0)
        return -1;
    chat_state *s = chat_state_new(gw->config, in->rp.sampling.logprobs, in->rp.tokens_as_ids);
    if (!s) return fk_api_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
    if (in->mode == FK_GEN_HARMONY) fk_endpoint_prime(s->parser, in);
    *state = s;
    return 0;
}

static const fk_endpoint_spec chat_spec = {FK_EP_CHAT,   "/v1/chat/completions",
                                           "chatcmpl-",  fk_parse_chat_request,
                                           chat_prepare, &chat_ops};

void fk_handle_chat(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info)
{
    fk_handle_generation(gw, req, info, &chat_spec);
}
