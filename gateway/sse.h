/* sse.h: Server-Sent Events framing on an evhttp chunked reply.
 *
 *   data: {json}\n\n      one event per chunk object
 *   event: NAME\n
 *   data: {json}\n\n      a named event (the Responses API's)
 *   : keep-alive\n\n      a comment (clients ignore it)
 *   data: [DONE]\n\n      the end
 *
 * Functions append to an evbuffer; the caller sends it as one chunk. */
#ifndef FK_GATEWAY_SSE_H
#define FK_GATEWAY_SSE_H

#include <jansson.h>

struct evbuffer;
struct evhttp_request;

/* Set the SSE headers (Content-Type, Cache-Control, X-Accel-Buffering) and
 * start the chunked 200 reply. */
void fk_sse_start(struct evhttp_request *req);
/* Append "data: <compact json>\n\n". */
void fk_sse_add_json(struct evbuffer *buf, const json_t *obj);
/* Append "event: <name>\ndata: <compact json>\n\n". */
void fk_sse_add_event(struct evbuffer *buf, const char *name, const json_t *obj);
void fk_sse_add_done(struct evbuffer *buf);
void fk_sse_add_keepalive(struct evbuffer *buf);

#endif
