/* server.c: evhttp setup, routing, CORS, bearer auth, request ids, body limits. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "conn.h"
#include "http_guard.h"
#include "log.h"

#define FK_LISTEN_BACKLOG 4096 /* pending connections the kernel may queue */

static const char *const endpoint_names[] = {
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/models",
    "/health",
    "/metrics",
    "other",
    "/version",
    "/v1/responses",
    "/v1/responses/{id}",
    "/ (page)",
};

const char *fk_endpoint_name(fk_endpoint ep)
{
    return endpoint_names[ep];
}

/* ---- ids ----------------------------------------------------------------------- */

void fk_make_id(fk_gateway *gw, const char *prefix, char *buf, size_t len)
{
    uint64_t n = ++gw->next_id;
    if (gw->config->test_fixed_ids) {
        snprintf(buf, len, "%s%06llu", prefix, (unsigned long long)n);
        return;
    }
    unsigned char r[12];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        /* no entropy: fall back to time and the counter */
        uint64_t t = (uint64_t)time(NULL) ^ (n << 20);
        for (size_t i = 0; i < sizeof r; i++)
            r[i] = (unsigned char)(t >> (8 * (i % 8))) ^ (unsigned char)i;
    }
    static const char hex[] = "0123456789abcdef";
    size_t o = (size_t)snprintf(buf, len, "%s", prefix);
    for (size_t i = 0; i < sizeof r && o + 3 <= len; i++) {
        buf[o++] = hex[r[i] >> 4];
        buf[o++] = hex[r[i] & 15];
    }
    if (o < len) buf[o] = '\0';
}

long long fk_created(const fk_gateway *gw)
{
    return gw->config->test_fixed_ids ? 1764000000LL : (long long)time(NULL);
}

/* ---- replies -------------------------------------------------------------------- */

void fk_count_reply(fk_gateway *gw, fk_endpoint ep, int status)
{
    fk_metrics_count_reply(&gw->metrics, fk_endpoint_name(ep), status);
}

const char *fk_reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 417:
        return "Expectation Failed";
    case 431:
        return "Request Header Fields Too Large";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 501:
        return "Not Implemented";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return status < 400 ? "OK" : "Error";
    }
}

void fk_reply_buffer(fk_gateway *gw, struct evhttp_request *req, fk_endpoint ep, int status,
                     const char *content_type, struct evbuffer *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (content_type) {
        evhttp_remove_header(h, "Content-Type");
        evhttp_add_header(h, "Content-Type", content_type);
    }
    fk_count_reply(gw, ep, status);
    evhttp_send_reply(req, status, fk_reason_phrase(status), body);
}

static int add_bytes(const char *text, size_t len, void *data)
{
    return evbuffer_add(data, text, len);
}

void fk_reply_json(fk_gateway *gw, struct evhttp_request *req, fk_endpoint ep, int status,
                   json_t *body)
{
    struct evbuffer *buf = evbuffer_new();
    if (body) json_dump_callback(body, add_bytes, buf, JSON_COMPACT);
    json_decref(body);
    evbuffer_add(buf, "\n", 1);
    fk_reply_buffer(gw, req, ep, status, "application/json", buf);
    evbuffer_free(buf);
}

void fk_reply_error(fk_gateway *gw, struct evhttp_request *req, fk_endpoint ep,
                    const fk_api_error *e)
{
    if (e->retry_after_s > 0) {
        char v[32];
        snprintf(v, sizeof v, "%d", e->retry_after_s);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", v);
    }
    fk_debug("reply %d %s: %s", e->status, e->code, e->message);
    fk_reply_json(gw, req, ep, e->status, fk_api_error_json(e));
}

int fk_read_json_body(fk_gateway *gw, struct evhttp_request *req, json_t **out, fk_api_error *err)
{
    *out = NULL;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in); /* within FK_MAX_BODY_BYTES: the guard saw to it */
    if (len == 0) return fk_api_bad_request(err, "invalid_json", NULL, "the request body is empty");
    const char *data = (const char *)evbuffer_pullup(in, -1);
    json_error_t je;
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return fk_api_bad_request(err, "invalid_json", NULL,
                                  "the request body is not valid JSON: %s (line %d, column %d)",
                                  je.text, je.line, je.column);
    *out = j;
    return 0;
}

/* ---- request preamble: ids, CORS, auth --------------------------------------- */

/* A client's x-request-id is kept when it is short and plain. */
static void request_id(fk_gateway *gw, struct evhttp_request *req, char *buf, size_t len)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), "x-request-id");
    if (v && v[0] && strlen(v) < len && strlen(v) <= 100) {
        const char *p = v;
        while (*p && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || strchr("-_.:/+=", *p)))
            p++;
        if (!*p) {
            snprintf(buf, len, "%s", v);
            return;
        }
    }
    fk_make_id(gw, "req-", buf, len);
}

/* The value for Access-Control-Allow-Origin, or NULL when not allowed. */
static const char *allowed_origin(const fk_gateway *gw, const char *origin)
{
    const char *list = gw->config->cors_origins;
    if (!origin || !list) return NULL;
    if (strcmp(list, "*") == 0) return "*";
    size_t ol = strlen(origin);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',') p++;
        const char *e = p;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > p && t[-1] == ' ') t--;
        if ((size_t)(t - p) == ol && ol > 0 && memcmp(p, origin, ol) == 0) return origin;
        p = e;
    }
    return NULL;
}

static int add_cors(fk_gateway *gw, struct evhttp_request *req)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    const char *allow = allowed_origin(gw, evhttp_find_header(in, "Origin"));
    if (!allow) return 0;
    evhttp_add_header(out, "Access-Control-Allow-Origin", allow);
    if (strcmp(allow, "*") != 0) evhttp_add_header(out, "Vary", "Origin");
    evhttp_add_header(out, "Access-Control-Expose-Headers", "x-request-id");
    return 1;
}

static void preflight(fk_gateway *gw, struct evhttp_request *req, int allowed)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    if (allowed) {
        const char *want = evhttp_find_header(in, "Access-Control-Request-Headers");
        evhttp_add_header(out, "Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
        evhttp_add_header(
            out, "Access-Control-Allow-Headers",
            want && strlen(want) < 1024 ? want : "Authorization, Content-Type, X-Request-Id");
        evhttp_add_header(out, "Access-Control-Max-Age", "600");
    }
    fk_reply_buffer(gw, req, FK_EP_OTHER, 204, NULL, NULL);
}

/* Compare without an early exit, so timing does not reveal the key. */
static int same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la; i++) diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return diff == 0;
}

static int authorized(const fk_gateway *gw, struct evhttp_request *req)
{
    if (!gw->config->api_key) return 1;
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return 0;
    h += 7;
    while (*h == ' ') h++;
    return same_secret(h, gw->config->api_key);
}

/* ---- routing ------------------------------------------------------------------- */

typedef struct route {
    const char *path; /* exact path, or a prefix when it ends in '/' ("/" is exact) */
    int methods;      /* EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE */
    fk_endpoint ep;   /* for metrics */
    int public_bit;   /* 0: FK_API_KEY always applies; PAGE_PUBLIC: never (the chat page's
                         files); else the FK_PUBLIC_* bit that waives it */
    void (*handler)(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info);
} route;

#define PAGE_PUBLIC (-1)

static const route routes[] = {
    {"/v1/chat/completions", EVHTTP_REQ_POST, FK_EP_CHAT, 0, fk_handle_chat},
    {"/v1/completions", EVHTTP_REQ_POST, FK_EP_COMPLETIONS, 0, fk_handle_completions},
    {"/v1/responses", EVHTTP_REQ_POST, FK_EP_RESPONSES, 0, fk_handle_responses},
    {"/v1/responses/", EVHTTP_REQ_GET | EVHTTP_REQ_DELETE, FK_EP_RESPONSE, 0, fk_handle_response},
    {"/v1/models", EVHTTP_REQ_GET, FK_EP_MODELS, 0, fk_handle_models},
    {"/health", EVHTTP_REQ_GET, FK_EP_HEALTH, FK_PUBLIC_HEALTH, fk_handle_health},
    {"/metrics", EVHTTP_REQ_GET, FK_EP_METRICS, FK_PUBLIC_METRICS, fk_handle_metrics},
    {"/version", EVHTTP_REQ_GET, FK_EP_VERSION, FK_PUBLIC_VERSION, fk_handle_version},
    {"/", EVHTTP_REQ_GET, FK_EP_PAGE, PAGE_PUBLIC, fk_handle_page},
    {"/app.js", EVHTTP_REQ_GET, FK_EP_PAGE, PAGE_PUBLIC, fk_handle_page},
    {"/app.css", EVHTTP_REQ_GET, FK_EP_PAGE, PAGE_PUBLIC, fk_handle_page},
};

/* Every reply, once written out: the connection may go on (conn.c), and
 * shutdown waits for these. */
static void on_reply_complete(struct evhttp_request *req, void *arg)
{
    fk_gateway *gw = arg;
    gw->replies_in_flight--;
    fk_conns_reply_done(gw, req);
}

static int route_matches(const route *r, const char *path)
{
    size_t n = strlen(r->path);
    return n > 1 && r->path[n - 1] == '/' ? strncmp(path, r->path, n) == 0
                                          : strcmp(path, r->path) == 0;
}

/* "GET, DELETE" for an Allow header and messages. */
static const char *method_names(int methods)
{
    if (methods == (EVHTTP_REQ_GET | EVHTTP_REQ_DELETE)) return "GET, DELETE";
    return methods == EVHTTP_REQ_GET ? "GET" : "POST";
}

static void on_request(struct evhttp_request *req, void *arg)
{
    fk_gateway *gw = arg;
    evhttp_request_set_on_complete_cb(req, on_reply_complete, gw);
    gw->replies_in_flight++;
    fk_req_info info = {FK_EP_OTHER, ""};
    request_id(gw, req, info.request_id, sizeof info.request_id);
    evhttp_add_header(evhttp_request_get_output_headers(req), "x-request-id", info.request_id);
    int cors = add_cors(gw, req);
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    if (method == EVHTTP_REQ_OPTIONS) {
        preflight(gw, req, cors);
        return;
    }
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (!path) path = "";
    fk_api_error e;
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        const route *r = &routes[i];
        if (!route_matches(r, path)) continue;
        info.endpoint = r->ep;
        if (!((int)method & r->methods)) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                              method_names(r->methods));
            fk_api_error_set(&e, 405, "invalid_request_error", "method_not_allowed", NULL,
                             "%s takes %s", r->path, method_names(r->methods));
            fk_reply_error(gw, req, r->ep, &e);
            return;
        }
        int open = r->public_bit == PAGE_PUBLIC || (r->public_bit & gw->config->public_endpoints);
        if (!open && !authorized(gw, req)) {
            fk_api_error_set(&e, 401, "invalid_request_error", "invalid_api_key", NULL,
                             "Incorrect API key provided. Send it as 'Authorization: Bearer KEY'.");
            fk_reply_error(gw, req, r->ep, &e);
            return;
        }
        r->handler(gw, req, &info);
        return;
    }
    fk_api_error_set(&e, 404, "invalid_request_error", "unknown_url", NULL,
                     "Unknown request URL: %s", path);
    fk_reply_error(gw, req, FK_EP_OTHER, &e);
}

/* ---- lifecycle ----------------------------------------------------------------- */

int fk_server_start(fk_gateway *gw, char *err, size_t err_len)
{
    gw->http = evhttp_new(gw->base);
    if (!gw->http) return snprintf(err, err_len, "evhttp_new failed"), -1;
    evhttp_set_gencb(gw->http, on_request, gw);
    /* The guard (conn.c) refuses other methods, oversized bodies and heads
     * with JSON errors before evhttp reads them; these only back it up. */
    evhttp_set_allowed_methods(gw->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_OPTIONS |
                                             EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                             EVHTTP_REQ_PATCH);
    evhttp_set_max_body_size(gw->http, 1L << 30);
    evhttp_set_max_headers_size(gw->http, 2 * FK_GUARD_MAX_HEAD);
    evhttp_set_timeout(gw->http, gw->config->http_timeout_s);
    evhttp_set_default_content_type(gw->http, "application/json");
    errno = 0;
    gw->bound = evhttp_bind_socket_with_handle(gw->http, gw->config->listen_host,
                                               (ev_uint16_t)gw->config->listen_port);
    if (!gw->bound) {
        int e = errno;
        snprintf(err, err_len, "cannot listen on %s:%d: %s; set FK_LISTEN to a free HOST:PORT",
                 gw->config->listen_host, gw->config->listen_port,
                 e ? strerror(e) : "the address is in use or not local");
        return -1;
    }
    /* evhttp listens with a backlog of 128; a burst of clients (1,000 streams
     * opened at once) would overflow it and wait for SYN retransmits. Linux
     * takes a second listen() as a new backlog (capped by somaxconn). */
    listen(evhttp_bound_socket_get_fd(gw->bound), FK_LISTEN_BACKLOG);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int port = gw->config->listen_port;
    char host[INET6_ADDRSTRLEN] = "";
    if (getsockname(evhttp_bound_socket_get_fd(gw->bound), (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            port = ntohs(a->sin_port);
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            port = ntohs(a->sin6_port);
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        }
    }
    if (fk_conns_start(gw, err, err_len) < 0) return -1;
    fk_log_always("gateway", "listening on %s:%d", host[0] ? host : gw->config->listen_host, port);
    return 0;
}

void fk_server_stop_accepting(fk_gateway *gw)
{
    if (gw->http && gw->bound) evhttp_del_accept_socket(gw->http, gw->bound);
    gw->bound = NULL;
}

void fk_server_free(fk_gateway *gw)
{
    if (gw->http) evhttp_free(gw->http);
    fk_conns_free(gw);
    gw->http = NULL;
    gw->bound = NULL;
}
