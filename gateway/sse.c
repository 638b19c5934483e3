/* sse.c: SSE headers and event framing. */
#include "sse.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

void fk_sse_start(struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_remove_header(h, "Content-Type");
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_add_header(h, "X-Accel-Buffering", "no");
    evhttp_send_reply_start(req, 200, "OK");
}

static int add_bytes(const char *text, size_t len, void *data)
{
    return evbuffer_add(data, text, len);
}

void fk_sse_add_json(struct evbuffer *buf, const json_t *obj)
{
    evbuffer_add(buf, "data: ", 6);
    json_dump_callback(obj, add_bytes, buf, JSON_COMPACT);
    evbuffer_add(buf, "\n\n", 2);
}

void fk_sse_add_event(struct evbuffer *buf, const char *name, const json_t *obj)
{
    evbuffer_add_printf(buf, "event: %s\n", name);
    fk_sse_add_json(buf, obj);
}

void fk_sse_add_done(struct evbuffer *buf)
{
    evbuffer_add(buf, "data: [DONE]\n\n", 14);
}

void fk_sse_add_keepalive(struct evbuffer *buf)
{
    evbuffer_add(buf, ": keep-alive\n\n", 14);
}
