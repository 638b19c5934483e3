/* completions.c: POST /v1/completions, the raw-prompt escape hatch.
 *
 * A prompt string is operator text (FK_SEG_RAW: spelled-out special tokens
 * are parsed as specials); an array of ids is sent as tokens (FK_SEG_TOKEN).
 * The returned text spells special tokens out, unless the request sets
 * "skip_special_tokens": true. */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "logprobs.h"
#include "sse.h"
#include "harmony/strbuf.h"
#include "utf8.h"

typedef struct completion_state {
    strbuf text;      /* output not yet sent (streaming) or all of it */
    int skip_special; /* drop special-token pieces */
    int pieces;       /* pieces received (fallback token count) */
    int logprobs;     /* 1: the request asked for logprobs */
    int as_ids;       /* logprobs name tokens "token_id:N" (return_tokens_as_token_ids) */
    fk_lp_legacy lp;  /* logprobs of the tokens not yet sent (streaming) or all */
    size_t offset;    /* bytes of completion text so far (text_offset) */
} completion_state;

static void completion_state_free(void *p)
{
    completion_state *s = p;
    if (s) strbuf_clear(&s->text);
    if (s) fk_lp_legacy_clear(&s->lp);
    free(s);
}

/* The logprobs of the tokens gathered since the last chunk, or JSON null. */
static json_t *take_logprobs(completion_state *s)
{
    json_t *o = s->logprobs ? fk_lp_legacy_take(&s->lp) : NULL;
    return o ? o : json_null();
}

static void add_text_chunk(const fk_job *j, struct evbuffer *sse, json_t *text, const char *fr)
{
    completion_state *s = j->state;
    json_t *lp = s->logprobs && fk_lp_legacy_pending(&s->lp) ? take_logprobs(s) : json_null();
    json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:o, s:o}]}", "id", j->id, "object",
                          "text_completion", "created", (json_int_t)j->created, "model", j->model,
                          "choices", "index", 0, "text", text, "logprobs", lp, "finish_reason",
                          fr ? json_string(fr) : json_null());
    if (c && j->include_usage) json_object_set_new(c, "usage", json_null());
    fk_sse_add_json(sse, c);
    json_decref(c);
}

/* Streaming: send what forms complete characters, keep the rest. */
static void flush_text(fk_job *j, struct evbuffer *sse, int all)
{
    strbuf *t = &((completion_state *)j->state)->text;
    size_t n = all ? t->len : fk_utf8_complete_prefix(t->data, t->len);
    if (n == 0) return;
    add_text_chunk(j, sse, fk_json_lossy_string(t->data, n), NULL);
    memmove(t->data, t->data + n, t->len - n + 1); /* with the NUL */
    t->len -= n;
}

static void completion_pieces(fk_job *j, const fk_piece *p, size_t n, struct evbuffer *sse)
{
    completion_state *s = j->state;
    for (size_t i = 0; i < n; i++) {
        s->pieces++;
        if (p[i].is_special && s->skip_special) continue;
        strbuf_append(&s->text, p[i].text, p[i].len); /* OOM: the text is cut, the reply goes on */
        if (s->logprobs) fk_lp_legacy_add(&s->lp, &p[i], s->offset, s->as_ids);
        s->offset += p[i].len;
    }
    if (sse) flush_text(j, sse, 0);
}

static json_t *completion_usage(const completion_state *s, const fk_gen_stats *st)
{
    int completion = st->completion_tokens > 0 ? st->completion_tokens : s->pieces;
    int prompt = st->prompt_tokens > 0 ? st->prompt_tokens : 0;
    int cached = st->cached_tokens > 0 ? st->cached_tokens : 0; /* OpenAI always says it */
    return json_pack("{s:i, s:i, s:i, s:{s:i}}", "prompt_tokens", prompt, "completion_tokens",
                     completion, "total_tokens", prompt + completion, "prompt_tokens_details",
                     "cached_tokens", cached);
}

static json_t *completion_finish(fk_job *j, const fk_gen_stats *st, struct evbuffer *sse)
{
    completion_state *s = j->state;
    const char *fr = st->finish == FK_FINISH_LENGTH ? "length" : "stop";
    if (!sse) {
        return json_pack(
            "{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:o, s:s}], s:o}", "id", j->id, "object",
            "text_completion", "created", (json_int_t)j->created, "model", j->model, "choices",
            "index", 0, "text", fk_json_lossy_string(s->text.data ? s->text.data : "", s->text.len),
            "logprobs", take_logprobs(s), "finish_reason", fr, "usage", completion_usage(s, st));
    }
    flush_text(j, sse, 1);
    add_text_chunk(j, sse, json_string(""), fr);
    if (j->include_usage) {
        json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", j->id, "object",
                              "text_completion", "created", (json_int_t)j->created, "model",
                              j->model, "choices", "usage", completion_usage(s, st));
        fk_sse_add_json(sse, c);
        json_decref(c);
    }
    return NULL;
}

static const fk_job_ops completion_ops = {completion_pieces, completion_finish,
                                          completion_state_free, NULL, 0};

/* The prompt as segments in in->segs (borrowing the body's strings): a
 * string is operator text, an array holds ids. */
static int completion_prepare(fk_gateway *gw, fk_job_input *in, void **state, fk_api_error *err)
{
    const json_t *prompt = in->rp.prompt;
    const json_t *text = json_is_string(prompt)                      ? prompt
                         : json_is_string(json_array_get(prompt, 0)) ? json_array_get(prompt, 0)
                                                                     : NULL;
    size_t count = text ? 1 : json_array_size(prompt);
    completion_state *s = calloc(1, sizeof *s);
    in->segs = calloc(count, sizeof *in->segs);
    if (!s || !in->segs) {
        free(s);
        return fk_api_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
    }
    strbuf_init(&s->text);
    if (text) {
        in->segs[0] =
            (fk_segment){FK_SEG_RAW, 0, json_string_value(text), json_string_length(text), -1};
    } else {
        for (size_t i = 0; i < count; i++)
            in->segs[i] = (fk_segment){FK_SEG_TOKEN, 1, NULL, 0,
                                       (int32_t)json_integer_value(json_array_get(prompt, i))};
    }
    in->n_segs = count;
    in->mode = FK_GEN_COMPLETION;
    s->skip_special = in->rp.skip_special_tokens;
    s->logprobs = in->rp.sampling.logprobs;
    s->as_ids = in->rp.tokens_as_ids;
    if (s->logprobs && fk_lp_legacy_init(&s->lp) != 0) {
        free(s);
        return fk_api_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
    }
    *state = s;
    return 0;
}

static const fk_endpoint_spec completion_spec = {
    FK_EP_COMPLETIONS,           "/v1/completions",  "cmpl-",
    fk_parse_completion_request, completion_prepare, &completion_ops};

void fk_handle_completions(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info)
{
    fk_handle_generation(gw, req, info, &completion_spec);
}
