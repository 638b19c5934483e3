/* endpoint.h: the one skeleton of the generation endpoints (chat,
 * completions): read and parse the body, route the model, let the endpoint
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

#endif
