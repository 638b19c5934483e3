/* http_guard.c: request framing checks before evhttp (see the header). */
#include "http_guard.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_CHUNK_LINE 4096 /* a chunk-size line with its extensions, bytes */

/* The methods served (evhttp knows them all); evhttp reads no body for HEAD. */
static const struct {
    const char *name; /* as sent */
    int has_body;     /* evhttp reads a body */
} methods[] = {
    {"GET", 1}, {"POST", 1}, {"OPTIONS", 1}, {"HEAD", 0}, {"PUT", 1}, {"DELETE", 1}, {"PATCH", 1},
};

static fk_guard_result refuse(fk_http_guard *g, fk_api_error *why, int status, const char *code,
                              const char *msg)
{
    g->state = FK_GUARD_REFUSED;
    fk_api_error_set(why, status, "invalid_request_error", code, NULL, "%s", msg);
    return FK_GUARD_REFUSE;
}

static int tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A field value byte: visible, space, tab or obs-text; never a control byte. */
static int value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* ---- the request head ---------------------------------------------------------------- */

/* Offset just past the CRLF CRLF that ends the head in `in`, 0 when it has
 * not arrived, or -1 for a bare LF. `scanned` bytes were looked at before
 * (they hold no terminator and no bare LF). */
static long head_end(struct evbuffer *in, size_t *scanned)
{
    size_t len = evbuffer_get_length(in), from = *scanned;
    if (from >= len) return 0;
    size_t start = from >= 3 ? from - 3 : 0; /* the terminator may straddle */
    struct evbuffer_ptr p;
    if (evbuffer_ptr_set(in, &p, start, EVBUFFER_PTR_SET) < 0) return 0;
    struct evbuffer_iovec v[8];
    char tail[4] = {0}; /* the last bytes seen, newest last */
    size_t at = start;
    while (at < len) {
        int nv = evbuffer_peek(in, (ev_ssize_t)(len - at), &p, v, 8);
        if (nv <= 0) break;
        for (int i = 0; i < nv && i < 8; i++) {
            const char *b = v[i].iov_base;
            size_t n = v[i].iov_len < len - at ? v[i].iov_len : len - at;
            for (size_t k = 0; k < n; k++, at++) {
                memmove(tail, tail + 1, 3);
                tail[3] = b[k];
                if (at < from) continue; /* re-read only to fill `tail` */
                if (b[k] == '\n' && tail[2] != '\r') return -1;
                if (memcmp(tail, "\r\n\r\n", 4) == 0 && at >= 3) return (long)(at + 1);
            }
        }
        if (evbuffer_ptr_set(in, &p, at, EVBUFFER_PTR_SET) < 0) break;
    }
    *scanned = len;
    return 0;
}

typedef struct head_info {
    int has_body_method; /* evhttp reads a body for this method */
    int http10;          /* HTTP/1.0 */
    int has_cl;          /* a Content-Length */
    uint64_t cl;         /* its value */
    int chunked;         /* Transfer-Encoding: chunked */
} head_info;

static fk_guard_result request_line(fk_http_guard *g, const char *s, size_t n, head_info *hi,
                                    fk_api_error *why)
{
    const char *sp1 = memchr(s, ' ', n);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - s)) : NULL;
    if (!sp1 || !sp2 || sp1 == s || sp2 == sp1 + 1)
        return refuse(g, why, 400, "malformed_request",
                      "the request line is not METHOD SP TARGET SP HTTP-VERSION");
    for (const char *p = s; p < sp1; p++)
        if (!tchar((unsigned char)*p))
            return refuse(g, why, 400, "malformed_request", "the method is not a token");
    const char *ver = sp2 + 1;
    size_t vlen = n - (size_t)(ver - s);
    if (vlen == 8 && memcmp(ver, "HTTP/1.1", 8) == 0)
        hi->http10 = 0;
    else if (vlen == 8 && memcmp(ver, "HTTP/1.0", 8) == 0)
        hi->http10 = 1;
    else if (vlen == 8 && memcmp(ver, "HTTP/", 5) == 0 && ver[5] >= '0' && ver[5] <= '9' &&
             ver[6] == '.' && ver[7] >= '0' && ver[7] <= '9')
        return refuse(g, why, 505, "http_version_not_supported",
                      "only HTTP/1.1 and HTTP/1.0 are served here");
    else
        return refuse(g, why, 400, "malformed_request",
                      "the request line does not end in an HTTP version");
    for (const char *p = sp1 + 1; p < sp2; p++)
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
            return refuse(g, why, 400, "malformed_request",
                          "the request target holds a space, a control byte or a non-ASCII "
                          "byte");
    if (sp1[1] != '/' && !(sp2 - sp1 == 2 && sp1[1] == '*'))
        return refuse(g, why, 400, "malformed_request", "the request target must be a path");
    size_t mlen = (size_t)(sp1 - s);
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
        if (strlen(methods[i].name) == mlen && memcmp(methods[i].name, s, mlen) == 0) {
            hi->has_body_method = methods[i].has_body;
            return FK_GUARD_MORE;
        }
    }
    char msg[160];
    snprintf(msg, sizeof msg, "the method %.*s is not served here (GET, POST and OPTIONS are)",
             (int)(mlen > 32 ? 32 : mlen), s);
    return refuse(g, why, 405, "method_not_allowed", msg);
}

/* Content-Length, Transfer-Encoding, Expect. */
static fk_guard_result framing_header(fk_http_guard *g, const char *name, size_t nlen,
                                      const char *v, size_t vlen, head_info *hi, fk_api_error *why)
{
    if (nlen == 14 && strncasecmp(name, "content-length", 14) == 0) {
        if (vlen == 0 || vlen > 18)
            return refuse(g, why, 400, "malformed_request",
                          "Content-Length is not a number of bytes");
        uint64_t x = 0;
        for (size_t i = 0; i < vlen; i++) {
            if (v[i] < '0' || v[i] > '9')
                return refuse(g, why, 400, "malformed_request",
                              "Content-Length is not a number of bytes");
            x = x * 10 + (uint64_t)(v[i] - '0');
        }
        if (hi->has_cl && hi->cl != x) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "conflicting Content-Length headers (%" PRIu64 " and %" PRIu64 ")", hi->cl, x);
            return refuse(g, why, 400, "malformed_request", msg);
        }
        hi->has_cl = 1;
        hi->cl = x;
    } else if (nlen == 17 && strncasecmp(name, "transfer-encoding", 17) == 0) {
        if (hi->chunked)
            return refuse(g, why, 400, "malformed_request", "Transfer-Encoding is repeated");
        if (vlen != 7 || strncasecmp(v, "chunked", 7) != 0)
            return refuse(g, why, 501, "not_implemented",
                          "the only Transfer-Encoding served here is chunked");
        hi->chunked = 1;
    } else if (nlen == 6 && strncasecmp(name, "expect", 6) == 0) {
        if (vlen != 12 || strncasecmp(v, "100-continue", 12) != 0)
            return refuse(g, why, 417, "expectation_failed",
                          "the only Expect served here is 100-continue");
    }
    return FK_GUARD_MORE;
}

/* Check a whole head (h[0..n), ending in CRLF CRLF) and decide the body. */
static fk_guard_result check_head(fk_http_guard *g, const char *h, size_t n, uint64_t max_body,
                                  head_info *hi, fk_api_error *why)
{
    const char *end = h + n - 2; /* the empty line */
    for (const char *cr = memchr(h, '\r', n); cr; cr = memchr(cr + 1, '\r', (size_t)(end - cr)))
        if (cr[1] != '\n')
            return refuse(g, why, 400, "malformed_request",
                          "the request head holds a CR that does not end a line");
    const char *eol = memchr(h, '\r', n);
    if (request_line(g, h, (size_t)(eol - h), hi, why) != FK_GUARD_MORE) return FK_GUARD_REFUSE;
    for (const char *line = eol + 2; line < end;) {
        const char *le = memchr(line, '\r', (size_t)(end - line));
        size_t len = (size_t)(le - line);
        if (is_ows(*line))
            return refuse(g, why, 400, "malformed_request",
                          "a header line starts with whitespace (obs-fold is not accepted)");
        const char *colon = memchr(line, ':', len);
        if (!colon || colon == line)
            return refuse(g, why, 400, "malformed_request", "a header line has no name:value");
        for (const char *p = line; p < colon; p++)
            if (!tchar((unsigned char)*p))
                return refuse(g, why, 400, "malformed_request",
                              "a header name holds a byte that is not a token character");
        const char *v = colon + 1, *ve = le;
        for (const char *p = v; p < ve; p++)
            if (!value_char((unsigned char)*p))
                return refuse(g, why, 400, "malformed_request",
                              "a header value holds a control byte");
        while (v < ve && is_ows(*v)) v++;
        while (ve > v && is_ows(ve[-1])) ve--;
        if (framing_header(g, line, (size_t)(colon - line), v, (size_t)(ve - v), hi, why) !=
            FK_GUARD_MORE)
            return FK_GUARD_REFUSE;
        line = le + 2;
    }
    if (hi->chunked && (hi->has_cl || hi->http10))
        return refuse(g, why, 400, "malformed_request",
                      hi->has_cl ? "both Transfer-Encoding and Content-Length are set"
                                 : "Transfer-Encoding needs HTTP/1.1");
    if (!hi->has_body_method && (hi->chunked || (hi->has_cl && hi->cl > 0)))
        return refuse(g, why, 400, "malformed_request", "a HEAD request carries no body");
    if (hi->has_cl && hi->cl > max_body) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "the request body is %" PRIu64 " bytes; the limit is %" PRIu64 " bytes", hi->cl,
                 max_body);
        g->state = FK_GUARD_REFUSED;
        fk_api_error_set(why, 413, "invalid_request_error", "request_too_large", NULL, "%s", msg);
        return FK_GUARD_REFUSE;
    }
    return FK_GUARD_MORE;
}

static fk_guard_result feed_head(fk_http_guard *g, struct evbuffer *in, struct evbuffer *out,
                                 uint64_t max_body, fk_api_error *why)
{
    long end = head_end(in, &g->scanned);
    if (end < 0)
        return refuse(g, why, 400, "malformed_request",
                      "a line of the request head ends in a bare LF (CRLF is required)");
    if (end == 0) {
        if (evbuffer_get_length(in) > FK_GUARD_MAX_HEAD)
            return refuse(g, why, 431, "request_header_fields_too_large",
                          "the request head is over 65536 bytes");
        return FK_GUARD_MORE;
    }
    if ((size_t)end > FK_GUARD_MAX_HEAD)
        return refuse(g, why, 431, "request_header_fields_too_large",
                      "the request head is over 65536 bytes");
    const char *h = (const char *)evbuffer_pullup(in, end);
    head_info hi = {0};
    if (!h || check_head(g, h, (size_t)end, max_body, &hi, why) != FK_GUARD_MORE)
        return FK_GUARD_REFUSE;
    evbuffer_remove_buffer(in, out, (size_t)end);
    g->scanned = 0;
    g->body_bytes = 0;
    if (hi.chunked) {
        g->state = FK_GUARD_CHUNK_SIZE;
        return FK_GUARD_MORE;
    }
    if (hi.has_cl && hi.cl > 0) {
        g->state = FK_GUARD_BODY;
        g->remaining = hi.cl;
        return FK_GUARD_MORE;
    }
    g->state = FK_GUARD_IDLE;
    g->requests++;
    return FK_GUARD_REQUEST;
}

/* ---- bodies ------------------------------------------------------------------------------ */

/* A CRLF-terminated line at the start of `in`: its length without the CRLF,
 * -1 when it has not all arrived (and is not over `max`), -2 when malformed
 * (a bare LF, or longer than `max`). */
static long line_at(struct evbuffer *in, size_t max)
{
    struct evbuffer_ptr lf = evbuffer_search(in, "\n", 1, NULL);
    if (lf.pos < 0) return evbuffer_get_length(in) > max ? -2 : -1;
    if (lf.pos == 0 || (size_t)lf.pos > max + 1) return -2;
    char cr;
    struct evbuffer_ptr at;
    evbuffer_ptr_set(in, &at, (size_t)lf.pos - 1, EVBUFFER_PTR_SET);
    if (evbuffer_copyout_from(in, &at, &cr, 1) != 1 || cr != '\r') return -2;
    return (long)lf.pos - 1;
}

static fk_guard_result feed_chunk_size(fk_http_guard *g, struct evbuffer *in, struct evbuffer *out,
                                       uint64_t max_body, fk_api_error *why)
{
    long n = line_at(in, MAX_CHUNK_LINE);
    if (n == -1) return FK_GUARD_MORE;
    const char *s = n >= 0 ? (const char *)evbuffer_pullup(in, n + 2) : NULL;
    uint64_t size = 0;
    long i = 0;
    for (; s && i < n && i < 16; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) break;
        size = size * 16 + (uint64_t)d;
    }
    long j = i;
    while (s && j < n && is_ows(s[j])) j++;
    int ok = s && i > 0 && (j == n ? i == n : s[j] == ';');
    for (long k = j; ok && k < n; k++) ok = value_char((unsigned char)s[k]);
    if (!ok) return refuse(g, why, 400, "malformed_request", "a chunk size line is malformed");
    if (size > max_body - g->body_bytes) {
        char msg[160];
        snprintf(msg, sizeof msg, "the chunked request body is over the limit of %" PRIu64 " bytes",
                 max_body);
        g->state = FK_GUARD_REFUSED;
        fk_api_error_set(why, 413, "invalid_request_error", "request_too_large", NULL, "%s", msg);
        return FK_GUARD_REFUSE;
    }
    evbuffer_drain(in, (size_t)n + 2);
    evbuffer_add_printf(out, "%" PRIx64 "\r\n", size);
    g->body_bytes += size;
    g->remaining = size;
    g->state = size ? FK_GUARD_CHUNK_DATA : FK_GUARD_TRAILER;
    return FK_GUARD_MORE;
}

/* Trailer lines are dropped; the empty line ends the request. */
static fk_guard_result feed_trailer(fk_http_guard *g, struct evbuffer *in, struct evbuffer *out,
                                    fk_api_error *why)
{
    for (;;) {
        long n = line_at(in, FK_GUARD_MAX_HEAD);
        if (n == -1) return FK_GUARD_MORE;
        if (n == -2 || g->remaining + (uint64_t)n > FK_GUARD_MAX_HEAD)
            return refuse(g, why, 400, "malformed_request", "the chunked trailer is malformed");
        evbuffer_drain(in, (size_t)n + 2);
        g->remaining += (uint64_t)n + 2;
        if (n == 0) {
            evbuffer_add(out, "\r\n", 2);
            g->state = FK_GUARD_IDLE;
            g->remaining = 0;
            g->requests++;
            return FK_GUARD_REQUEST;
        }
    }
}

/* Move up to g->remaining bytes on; 1 when they are all through. */
static int pass_on(fk_http_guard *g, struct evbuffer *in, struct evbuffer *out)
{
    size_t avail = evbuffer_get_length(in);
    size_t n = g->remaining < avail ? (size_t)g->remaining : avail;
    if (n) evbuffer_remove_buffer(in, out, n);
    g->remaining -= n;
    return g->remaining == 0;
}

fk_guard_result fk_http_guard_feed(fk_http_guard *g, struct evbuffer *in, struct evbuffer *out,
                                   uint64_t max_body, fk_api_error *why)
{
    for (;;) {
        size_t before = evbuffer_get_length(in);
        fk_guard_result r = FK_GUARD_MORE;
        switch (g->state) {
        case FK_GUARD_IDLE: {
            /* Empty lines before a request line are ignored (RFC 9112 2.2). */
            char crlf[2];
            ev_ssize_t got;
            while ((got = evbuffer_copyout(in, crlf, 2)) == 2 && crlf[0] == '\r' && crlf[1] == '\n')
                evbuffer_drain(in, 2);
            if (got == 0 || (got == 1 && crlf[0] == '\r')) return FK_GUARD_MORE;
            g->state = FK_GUARD_HEAD;
            g->scanned = 0;
            continue;
        }
        case FK_GUARD_HEAD:
            r = feed_head(g, in, out, max_body, why);
            break;
        case FK_GUARD_BODY:
            if (!pass_on(g, in, out)) return FK_GUARD_MORE;
            g->state = FK_GUARD_IDLE;
            g->requests++;
            return FK_GUARD_REQUEST;
        case FK_GUARD_CHUNK_SIZE:
            r = feed_chunk_size(g, in, out, max_body, why);
            break;
        case FK_GUARD_CHUNK_DATA:
            if (!pass_on(g, in, out)) return FK_GUARD_MORE;
            g->state = FK_GUARD_CHUNK_END;
            continue;
        case FK_GUARD_CHUNK_END: {
            char crlf[2];
            if (evbuffer_copyout(in, crlf, 2) < 2) {
                if (evbuffer_get_length(in) == 1 && crlf[0] != '\r')
                    return refuse(g, why, 400, "malformed_request",
                                  "chunk data is not followed by CRLF");
                return FK_GUARD_MORE;
            }
            if (crlf[0] != '\r' || crlf[1] != '\n')
                return refuse(g, why, 400, "malformed_request",
                              "chunk data is not followed by CRLF");
            evbuffer_remove_buffer(in, out, 2);
            g->state = FK_GUARD_CHUNK_SIZE;
            continue;
        }
        case FK_GUARD_TRAILER:
            r = feed_trailer(g, in, out, why);
            break;
        case FK_GUARD_REFUSED:
            evbuffer_drain(in, evbuffer_get_length(in));
            return FK_GUARD_MORE;
        }
        if (r != FK_GUARD_MORE) return r;
        if (evbuffer_get_length(in) == before || evbuffer_get_length(in) == 0) return r;
    }
}
