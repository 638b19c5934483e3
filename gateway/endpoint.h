/* endpoint.h: the one skeleton of the generation endpoints (chat,
 * completions, responses): read and parse the body, route the model, let the endpoint
 * build its prompt and output state, then hand a job to the core (job.h,
 * which waits for readiness). An endpoint supplies only what differs. */
#ifndef FK_GATEWAY_ENDPOINT_H
#define FK_GATEWAY_ENDPOINT_H

#include "job.h"

typedef struct fk_endpoint_spec {
    fk_endpoint ep;        /* for metrics and error replies */
    const char *path;      /* the endpoint path, as the driver sees it (client_path) */
    const char *id_prefix; /* "chatcmpl-", "cmpl-" */
    /* Validate the body into in->rp. 0, or -1 with err. */
    int (*parse)(const json_t *body, const fk_limits *lim, fk_request_params *out,
                 fk_api_error *err);
    /* Fill in->mode and the prompt (in->segs, in->prompt, in->tools) and make
     * the output state (freed by ops->free). 0, or -1 with err. */
    int (*prepare)(fk_gateway *gw, fk_job_input *in, void **state, fk_api_error *err);
    const fk_job_ops *ops; /* pieces -> output */
} fk_endpoint_spec;

void fk_handle_generation(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info,
                          const fk_endpoint_spec *spec);

/* For prepare(): render `conv` for completion (analysis dropped by Harmony's
 * rule) into in->prompt and view it as in->segs. 0, or -1 with err (400
 * naming `param` when the conversation cannot be rendered). */
int fk_endpoint_render(fk_job_input *in, const hm_conversation *conv, const char *param,
                       fk_api_error *err);
/* For prepare(): start the output parser where the rendered prompt ends:
 * the segments after its last "<|start|>assistant" (the parser's role hint
 * stands for those two), such as a call header tool_choice forced, are fed
 * to it as if the model had written them (they are not counted as tokens). */
void fk_endpoint_prime(hm_parser *parser, const fk_job_input *in);
/* For prepare(): a Harmony mapping error as a 400. Returns -1. */
int fk_endpoint_mapping_error(const hm_openai_error *he, fk_api_error *err);

#endif
