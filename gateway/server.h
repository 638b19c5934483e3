/* server.h: the HTTP front: evhttp setup, routing, CORS, auth, request ids,
 * body limits, and the reply helpers every endpoint uses. Loop thread only. */
#ifndef FK_GATEWAY_SERVER_H
#define FK_GATEWAY_SERVER_H

#include <jansson.h>
#include <stddef.h>

#include "gateway.h"
#include "openai_errors.h"

struct evhttp_request;
struct evbuffer;

typedef enum fk_endpoint {
    FK_EP_CHAT = 0,        /* POST /v1/chat/completions */
    FK_EP_COMPLETIONS = 1, /* POST /v1/completions */
    FK_EP_MODELS = 2,      /* GET /v1/models */
    FK_EP_HEALTH = 3,      /* GET /health */
    FK_EP_METRICS = 4,     /* GET /metrics */
    FK_EP_OTHER = 5,       /* anything else (404/405) */
    FK_EP_VERSION = 6,     /* GET /version */
    FK_EP_RESPONSES = 7,   /* POST /v1/responses */
    FK_EP_RESPONSE = 8,    /* GET, DELETE /v1/responses/{id} */
    FK_EP_PAGE = 9,        /* GET /, /app.js, /app.css: the chat page */
} fk_endpoint;

/* What the router learned about a request before its handler runs. */
typedef struct fk_req_info {
    fk_endpoint endpoint; /* which endpoint */
    char request_id[128]; /* echoed from x-request-id or made here */
} fk_req_info;

const char *fk_endpoint_name(fk_endpoint ep);

/* Create the server, bind FK_LISTEN and log "listening on HOST:PORT". */
int fk_server_start(fk_gateway *gw, char *err, size_t err_len);
/* Stop accepting new connections (in-flight requests go on). */
void fk_server_stop_accepting(fk_gateway *gw);
/* Free the server (no request may be in flight). */
void fk_server_free(fk_gateway *gw);

/* Replies: each ends the request and counts it for /metrics. */
void fk_reply_json(fk_gateway *gw, struct evhttp_request *req, fk_endpoint ep, int status,
                   json_t *body /* stolen */);
void fk_reply_error(fk_gateway *gw, struct evhttp_request *req, fk_endpoint ep,
                    const fk_api_error *e);
void fk_reply_buffer(fk_gateway *gw, struct evhttp_request *req, fk_endpoint ep, int status,
                     const char *content_type, struct evbuffer *body);
/* "Not Found" for 404, ... */
const char *fk_reason_phrase(int status);
/* Count a reply sent some other way (SSE). */
void fk_count_reply(fk_gateway *gw, fk_endpoint ep, int status);

/* The request body as JSON (the connection guard already refused one over
 * FK_MAX_BODY_BYTES): 400 when it is not valid JSON (or not UTF-8). Caller owns *out. 0 or -1 with
 * err. */
int fk_read_json_body(fk_gateway *gw, struct evhttp_request *req, json_t **out, fk_api_error *err);

/* A fresh id "PREFIX" + 24 random hex digits (or a counter with FK_TEST_FIXED_IDS). */
void fk_make_id(fk_gateway *gw, const char *prefix, char *buf, size_t len);
/* Unix time for "created" (fixed with FK_TEST_FIXED_IDS). */
long long fk_created(const fk_gateway *gw);

/* Endpoint handlers (one file each). */
void fk_handle_chat(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info);
void fk_handle_completions(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info);
void fk_handle_models(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info);
void fk_handle_health(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info);
void fk_handle_metrics(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info);
void fk_handle_version(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info);
/* page.c: the chat page's files. */
void fk_handle_page(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info);
void fk_handle_responses(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info);
/* GET or DELETE /v1/responses/{id} */
void fk_handle_response(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info);

#endif
