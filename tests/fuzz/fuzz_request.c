/* fuzz_request.c: arbitrary bytes as a request body: JSON parse, chat,
 * completion and Responses validation, the Harmony mappings (chat; Responses
 * alone and with the body's input as its history) and rendering the gateway does,
 * and the error object it would send, and the pass-through check for spelled
 * special tokens (after escaping, none may be left). Nothing may crash or
 * leak; an accepted request holds only values inside the documented ranges
 * (the limits below), a refused one is a 400 naming its field as a string;
 * a rendered prompt starts with <|start|> and ends by opening the assistant's
 * turn. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/openai_errors.h"
#include "gateway/request.h"
#include "gateway/special_text.h"
#include "harmony/harmony.h"

static void render(const json_t *body)
{
    hm_openai_options ho = {.current_date = "2026-11-26", .default_effort = NULL};
    hm_conversation conv;
    hm_conversation_init(&conv);
    hm_openai_error he;
    memset(&he, 0, sizeof he);
    if (hm_openai_chat_to_conversation(body, &ho, &conv, &he) == 0) {
        hm_prompt p;
        hm_prompt_init(&p);
        char *err = NULL;
        if (hm_render(&conv, HM_RENDER_COMPLETION, 1, &p, &err) == 0) {
            size_t len = 0;
            char *flat = hm_prompt_flatten(&p, &len);
            static const char tail[] = "<|start|>assistant";
            if (!flat || strncmp(flat, "<|start|>", 9) != 0 || len < sizeof tail - 1 ||
                memcmp(flat + len - (sizeof tail - 1), tail, sizeof tail - 1) != 0)
                abort();
            free(flat);
        }
        free(err);
        hm_prompt_clear(&p);
    }
    hm_conversation_clear(&conv);
}

/* The Responses mapping, with `history` (NULL or any JSON), rendered. */
static void render_responses(const json_t *body, const json_t *history)
{
    hm_openai_options ho = {.current_date = "2026-11-26", .default_effort = NULL};
    hm_conversation conv;
    hm_openai_error he;
    if (hm_responses_to_conversation(body, history, &ho, &conv, &he) == 0) {
        hm_prompt p;
        hm_prompt_init(&p);
        char *err = NULL;
        if (hm_render(&conv, HM_RENDER_COMPLETION, 1, &p, &err) == 0) {
            size_t len = 0;
            free(hm_prompt_flatten(&p, &len));
        }
        free(err);
        hm_prompt_clear(&p);
        hm_conversation_clear(&conv);
    }
    json_decref(hm_responses_input_items(json_object_get(body, "input")));
}

static void special_text(const json_t *body)
{
    char where[64];
    int found = fk_special_text_find(body, where, sizeof where);
    json_t *copy = json_deep_copy(body);
    int n = copy ? fk_special_text_escape(copy) : -1;
    if (n >= 0 && (found != (n > 0) || fk_special_text_find(copy, where, sizeof where))) abort();
    json_decref(copy);
}

static void emit_error(const fk_api_error *e)
{
    if (e->status != 400) abort();
    json_t *j = fk_api_error_json(e);
    char *s = json_dumps(j, JSON_COMPACT);
    if (!s || !json_is_string(json_object_get(json_object_get(j, "error"), "message"))) abort();
    free(s);
    json_decref(j);
}

/* An accepted request's values lie in the ranges request.c documents. */
static void check_ranges(const fk_request_params *rp, const fk_limits *lim)
{
    const fk_sampling *s = &rp->sampling;
    if (s->max_tokens < 1 || s->max_tokens > lim->max_model_len || s->temperature < 0 ||
        s->temperature > 2 || s->top_p < 0 || s->top_p > 1 || s->top_k < 0 ||
        s->presence_penalty < -2 || s->presence_penalty > 2 || s->frequency_penalty < -2 ||
        s->frequency_penalty > 2 || s->n_stop > FK_MAX_STOP || s->top_logprobs < 0 ||
        s->top_logprobs > 20 || s->stop != rp->stop)
        abort();
    for (size_t i = 0; i < s->n_stop; i++)
        if (!rp->stop[i] || !rp->stop[i][0]) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    if (!body) return 0;
    fk_limits lim = {2048, 8192, 64, size % 2};
    fk_request_params rp;
    fk_api_error err;
    if (fk_parse_chat_request(body, &lim, &rp, &err) == 0) {
        check_ranges(&rp, &lim);
        if (json_array_size(json_object_get(body, "messages")) > (size_t)lim.max_messages) abort();
        render(body);
    } else {
        emit_error(&err);
    }
    if (fk_parse_completion_request(body, &lim, &rp, &err) < 0) {
        emit_error(&err);
    } else {
        check_ranges(&rp, &lim);
        if (!rp.prompt) abort();
    }
    if (fk_parse_responses_request(body, &lim, &rp, &err) < 0)
        emit_error(&err);
    else
        check_ranges(&rp, &lim);
    render_responses(body, NULL);
    render_responses(body, json_object_get(body, "input"));
    special_text(body);
    json_decref(body);
    return 0;
}
