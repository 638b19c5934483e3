/* logprobs.h: OpenAI's logprobs shapes, built from pieces (fk_piece.logprob,
 * .top). One owner for both endpoints:
 *
 *   chat         choices[].logprobs = {"content": [entry...], "refusal": null}
 *                entry = {"token", "logprob", "bytes", "top_logprobs": [{"token",
 *                "logprob", "bytes"}...]}  (streamed: each chunk carries the
 *                entries of the tokens whose content it delivers)
 *   completions  choices[].logprobs = {"tokens": [...], "token_logprobs": [...],
 *                "top_logprobs": [{token: logprob}...], "text_offset": [...]}
 *                (text_offset: byte offsets into the completion's text)
 *
 * "token" is the token's bytes as a JSON string (invalid UTF-8 repaired, as
 * the text is) and "bytes" keeps them exact; with `as_ids` (the request's
 * return_tokens_as_token_ids, as vLLM names it) a token the core gave an id
 * is named "token_id:N" instead, in "token", the alternatives and the
 * completions form's keys (a piece without an id keeps its text). A
 * log-probability the core did not give (NAN) is written as null. */
#ifndef FK_GATEWAY_LOGPROBS_H
#define FK_GATEWAY_LOGPROBS_H

#include <jansson.h>

#include "driver.h"

/* One chat entry for piece p (caller owns). NULL on OOM. */
json_t *fk_lp_chat_entry(const fk_piece *p, int as_ids);
/* {"content": content, "refusal": null}; content is stolen. */
json_t *fk_lp_chat_object(json_t *content);

/* The completions form, filled piece by piece. */
typedef struct fk_lp_legacy {
    json_t *tokens;         /* [string] */
    json_t *token_logprobs; /* [number|null] */
    json_t *top_logprobs;   /* [{token: logprob}] */
    json_t *text_offset;    /* [integer] */
} fk_lp_legacy;

/* Empty arrays. 0, or -1 on OOM. */
int fk_lp_legacy_init(fk_lp_legacy *l);
/* Append piece p, whose text starts at byte `offset` of the completion. */
void fk_lp_legacy_add(fk_lp_legacy *l, const fk_piece *p, size_t offset, int as_ids);
/* 1 when something was added since the last take. */
int fk_lp_legacy_pending(const fk_lp_legacy *l);
/* The object of everything added since the last take (caller owns); the
 * arrays start empty again. NULL on OOM. */
json_t *fk_lp_legacy_take(fk_lp_legacy *l);
void fk_lp_legacy_clear(fk_lp_legacy *l);

#endif
