/* request.h: validate an OpenAI request body into generation parameters.
 *
 * Pure functions (no I/O), shared by the generation endpoints and
 * the fuzz target. Wrong types and out-of-range values are 400 errors naming
 * the field; unknown fields are ignored; a null value counts as absent.
 * Fields the core would silently ignore are refused with 400
 * unsupported_parameter naming them: logit_bias (unless empty), and on chat
 * response_format other than {"type":"text"} (both pass in pass-through mode,
 * where llama-server reads them itself). */
#ifndef FK_GATEWAY_REQUEST_H
#define FK_GATEWAY_REQUEST_H

#include <jansson.h>

#include "driver.h"
#include "openai_errors.h"

#define FK_MAX_STOP 4

typedef struct fk_limits {
    int default_max_tokens; /* FRONTEND_MAX_TOKENS */
    int max_model_len;      /* VLLM_MAX_MODEL_LEN (0: none known) */
    int max_messages;       /* FK_MAX_MESSAGES */
    int passthrough;        /* FRONTEND_USE_HARMONY=0: the core reads the chat body itself */
} fk_limits;

typedef struct fk_request_params {
    const char *model;             /* borrowed from the body; NULL when absent */
    int stream;                    /* "stream": true */
    int include_usage;             /* stream_options.include_usage */
    fk_sampling sampling;          /* max_tokens resolved; stop points into `stop` */
    const char *stop[FK_MAX_STOP]; /* borrowed from the body */
    int skip_special_tokens;       /* completions: drop special tokens from text */
    int tokens_as_ids;             /* return_tokens_as_token_ids (vLLM's): logprobs name each
                                      token "token_id:N" instead of spelling it */
    const json_t *prompt;          /* completions: the prompt (string or id array), borrowed */
} fk_request_params;

/* POST /v1/chat/completions. 0, or -1 with err filled. */
int fk_parse_chat_request(const json_t *body, const fk_limits *lim, fk_request_params *out,
                          fk_api_error *err);
/* POST /v1/completions. 0, or -1 with err filled. */
int fk_parse_completion_request(const json_t *body, const fk_limits *lim, fk_request_params *out,
                                fk_api_error *err);

/* POST /v1/responses: chat's sampling fields, max_output_tokens (over
 * max_tokens), stream, and `input` (a string or at most max_messages items).
 * 0, or -1 with err filled. */
int fk_parse_responses_request(const json_t *body, const fk_limits *lim, fk_request_params *out,
                               fk_api_error *err);

#endif
