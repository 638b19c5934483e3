/* logprobs.c: OpenAI logprobs from pieces (see logprobs.h). */
#include "logprobs.h"

#include <math.h>
#include <stdio.h>

#include "utf8.h"

static json_t *number_or_null(float v)
{
    return isnan(v) ? json_null() : json_real((double)v);
}

static json_t *byte_array(const char *text, size_t len)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < len; i++)
        json_array_append_new(a, json_integer((unsigned char)text[i]));
    return a;
}

/* A token's name: "token_id:N" (as_ids, and the core gave an id), else its
 * text as a JSON string (invalid UTF-8 repaired). */
static json_t *token_name(const char *text, size_t len, int32_t id, int as_ids)
{
    if (!as_ids || id < 0) return fk_json_lossy_string(text, len);
    char name[32];
    snprintf(name, sizeof name, "token_id:%ld", (long)id);
    return json_string(name);
}

/* {"token", "logprob", "bytes"} of one token. */
static json_t *token_object(const char *text, size_t len, int32_t id, float logprob, int as_ids)
{
    return json_pack("{s:o, s:o, s:o}", "token", token_name(text, len, id, as_ids), "logprob",
                     number_or_null(logprob), "bytes", byte_array(text, len));
}

json_t *fk_lp_chat_entry(const fk_piece *p, int as_ids)
{
    json_t *e = token_object(p->text, p->len, p->token_id, p->logprob, as_ids);
    json_t *top = json_array();
    for (uint32_t i = 0; top && i < p->n_top; i++)
        json_array_append_new(top, token_object(p->top[i].text, p->top[i].len, p->top[i].token_id,
                                                p->top[i].logprob, as_ids));
    if (!e || !top || json_object_set_new(e, "top_logprobs", top) != 0) {
        json_decref(e);
        return NULL;
    }
    return e;
}

json_t *fk_lp_chat_object(json_t *content)
{
    return json_pack("{s:o, s:n}", "content", content, "refusal");
}

int fk_lp_legacy_init(fk_lp_legacy *l)
{
    l->tokens = json_array();
    l->token_logprobs = json_array();
    l->top_logprobs = json_array();
    l->text_offset = json_array();
    if (l->tokens && l->token_logprobs && l->top_logprobs && l->text_offset) return 0;
    fk_lp_legacy_clear(l);
    return -1;
}

void fk_lp_legacy_add(fk_lp_legacy *l, const fk_piece *p, size_t offset, int as_ids)
{
    json_t *top = json_object();
    for (uint32_t i = 0; top && i < p->n_top; i++) {
        json_t *key = token_name(p->top[i].text, p->top[i].len, p->top[i].token_id, as_ids);
        if (key)
            json_object_set_new(top, json_string_value(key), number_or_null(p->top[i].logprob));
        json_decref(key);
    }
    json_array_append_new(l->tokens, token_name(p->text, p->len, p->token_id, as_ids));
    json_array_append_new(l->token_logprobs, number_or_null(p->logprob));
    json_array_append_new(l->top_logprobs, top ? top : json_null());
    json_array_append_new(l->text_offset, json_integer((json_int_t)offset));
}

int fk_lp_legacy_pending(const fk_lp_legacy *l)
{
    return json_array_size(l->tokens) > 0;
}

json_t *fk_lp_legacy_take(fk_lp_legacy *l)
{
    json_t *o =
        json_pack("{s:o, s:o, s:o, s:o}", "tokens", l->tokens, "token_logprobs", l->token_logprobs,
                  "top_logprobs", l->top_logprobs, "text_offset", l->text_offset);
    /* the arrays now belong to o (json_pack steals them even when it fails) */
    l->tokens = l->token_logprobs = l->top_logprobs = l->text_offset = NULL;
    if (fk_lp_legacy_init(l) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

void fk_lp_legacy_clear(fk_lp_legacy *l)
{
    json_decref(l->tokens);
    json_decref(l->token_logprobs);
    json_decref(l->top_logprobs);
    json_decref(l->text_offset);
    l->tokens = l->token_logprobs = l->top_logprobs = l->text_offset = NULL;
}
