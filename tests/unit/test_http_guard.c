/* test_http_guard: the request framing guard alone (gateway/http_guard.c).
 *
 * Requests pass through unchanged (chunked ones normalised), whole or one
 * byte at a time, pipelined or not; each framing error is refused with its
 * status and code; the body limit holds before a body is read. */
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/http_guard.h"
#include "tests/tap.h"

#define MAX_BODY 1000

typedef struct outcome {
    int requests;     /* FK_GUARD_REQUEST results */
    int refused;      /* 1: FK_GUARD_REFUSE */
    fk_api_error why; /* the refusal */
    char out[200000]; /* what evhttp would read */
    size_t out_len;   /* bytes in out */
} outcome;

/* Feed `s` in pieces of `step` bytes (0: all at once). */
static void run(const char *s, size_t len, size_t step, outcome *o)
{
    memset(o, 0, sizeof *o);
    fk_http_guard g = {0};
    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
    for (size_t at = 0; at < len && !o->refused;) {
        size_t n = step && step < len - at ? step : len - at;
        evbuffer_add(in, s + at, n);
        at += n;
        for (;;) {
            fk_guard_result r = fk_http_guard_feed(&g, in, out, MAX_BODY, &o->why);
            if (r == FK_GUARD_REQUEST) {
                o->requests++;
                continue;
            }
            if (r == FK_GUARD_REFUSE) o->refused = 1;
            break;
        }
    }
    o->out_len = evbuffer_get_length(out);
    if (o->out_len < sizeof o->out) evbuffer_remove(out, o->out, o->out_len);
    evbuffer_free(in);
    evbuffer_free(out);
}

static void passes(const char *name, const char *req, int requests, const char *want_out)
{
    static outcome whole, bytewise;
    size_t len = strlen(req);
    run(req, len, 0, &whole);
    run(req, len, 1, &bytewise);
    const char *want = want_out ? want_out : req;
    ok(!whole.refused && whole.requests == requests && whole.out_len == strlen(want) &&
           memcmp(whole.out, want, whole.out_len) == 0,
       "%s: %d request(s) passed on%s", name, requests, want_out ? ", normalised" : " unchanged");
    if (whole.refused) diag("refused: %d %s", whole.why.status, whole.why.message);
    ok(!bytewise.refused && bytewise.requests == requests && bytewise.out_len == whole.out_len &&
           memcmp(bytewise.out, whole.out, whole.out_len) == 0,
       "%s: the same one byte at a time", name);
}

static void refused(const char *name, const char *req, int status, const char *code)
{
    static outcome whole, bytewise;
    run(req, strlen(req), 0, &whole);
    run(req, strlen(req), 1, &bytewise);
    ok(whole.refused && whole.why.status == status && strcmp(whole.why.code, code) == 0,
       "%s: %d %s (%s)", name, status, code, whole.why.message);
    if (!whole.refused || whole.why.status != status)
        diag("got refused=%d %d %s", whole.refused, whole.why.status, whole.why.code);
    ok(bytewise.refused && bytewise.why.status == status, "%s: the same one byte at a time", name);
}

int main(void)
{
    passes("GET", "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 1, NULL);
    passes("HTTP/1.0, no headers", "GET /v1/models HTTP/1.0\r\n\r\n", 1, NULL);
    passes("POST with a body",
           "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 1, NULL);
    passes("pipelined",
           "GET / HTTP/1.1\r\n\r\nPOST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nabGET / "
           "HTTP/1.1\r\n\r\n",
           3, NULL);
    passes("repeated, equal Content-Length",
           "POST /x HTTP/1.1\r\nContent-Length: 3\r\ncontent-length:3\r\n\r\nabc", 1, NULL);
    passes("empty lines before a request are dropped", "\r\n\r\nGET / HTTP/1.1\r\n\r\n", 1,
           "GET / HTTP/1.1\r\n\r\n");
    passes("chunked, extensions and trailer dropped",
           "POST /x HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
           "5;a=b;c=\"d e\"\r\nhello\r\n0A  ;x\r\n0123456789\r\n0\r\nT: 1\r\nU: 2\r\n\r\n",
           1,
           "POST /x HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
           "5\r\nhello\r\na\r\n0123456789\r\n0\r\n\r\n");
    passes("obs-text and tabs in values", "GET / HTTP/1.1\r\nX: caf\xc3\xa9\tok\r\n\r\n", 1, NULL);
    passes("OPTIONS *", "OPTIONS * HTTP/1.1\r\n\r\n", 1, NULL);

    refused("conflicting Content-Length",
            "POST /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400,
            "malformed_request");
    refused("Content-Length list", "POST /x HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc", 400,
            "malformed_request");
    refused("signed Content-Length", "POST /x HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc", 400,
            "malformed_request");
    refused("Transfer-Encoding with Content-Length",
            "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400,
            "malformed_request");
    refused("Transfer-Encoding in HTTP/1.0",
            "POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "malformed_request");
    refused("gzip", "POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
            "not_implemented");
    refused("two Transfer-Encodings",
            "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            400, "malformed_request");
    refused("Expect", "POST /x HTTP/1.1\r\nExpect: later\r\n\r\n", 417, "expectation_failed");
    refused("a HEAD with a body", "HEAD / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", 400,
            "malformed_request");
    refused("obs-fold", "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400, "malformed_request");
    refused("bare LF", "GET / HTTP/1.1\nHost: x\n\n", 400, "malformed_request");
    refused("bare CR", "GET / HTTP/1.1\r\nX: a\rContent-Length: 5\r\n\r\n", 400,
            "malformed_request");
    refused("control byte in a value", "GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", 400,
            "malformed_request");
    refused("space before the colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400,
            "malformed_request");
    refused("no colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", 400, "malformed_request");
    refused("extra space in the request line", "GET  / HTTP/1.1\r\n\r\n", 400, "malformed_request");
    refused("a target that is not a path", "GET http://evil/ HTTP/1.1\r\n\r\n", 400,
            "malformed_request");
    refused("a space in the target", "GET /a b HTTP/1.1\r\n\r\n", 400, "malformed_request");
    refused("HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 505, "http_version_not_supported");
    refused("not HTTP", "GET / FTP/1.1\r\n\r\n", 400, "malformed_request");
    refused("an unknown method", "BREW /pot HTTP/1.1\r\n\r\n", 405, "method_not_allowed");
    refused("a method that is not a token", "G(T / HTTP/1.1\r\n\r\n", 400, "malformed_request");
    refused("a body over the limit, before it is read",
            "POST /x HTTP/1.1\r\nContent-Length: 1001\r\n\r\n", 413, "request_too_large");
    refused("a chunked body over the limit",
            "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n", 413,
            "request_too_large");
    refused("a malformed chunk size",
            "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
            "malformed_request");
    refused("a chunk size of 17 digits",
            "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000001\r\n", 400,
            "malformed_request");
    refused("chunk data without CRLF",
            "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXY", 400,
            "malformed_request");
    refused("a refused request after a good one", "GET / HTTP/1.1\r\n\r\nGET / HTTP/9.9\r\n\r\n",
            505, "http_version_not_supported");

    char *big = malloc(FK_GUARD_MAX_HEAD + 100);
    if (big) {
        size_t n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nX: ");
        memset(big + n, 'a', FK_GUARD_MAX_HEAD);
        big[n + FK_GUARD_MAX_HEAD] = '\0';
        refused("a head over 64 KiB, still arriving", big, 431, "request_header_fields_too_large");
        strcpy(big + FK_GUARD_MAX_HEAD - 10, "\r\n\r\n");
        passes("a head just under 64 KiB", big, 1, NULL);
        free(big);
    }
    return done_testing();
}
