/* http_guard.h: checks the framing of every request a client sends before
 * evhttp reads it.
 *
 * evhttp (libevent 2.1) answers framing errors with HTML pages, takes the
 * first of two conflicting Content-Length headers and refuses chunk
 * extensions. The guard sits between the socket and evhttp
 * (conn.c) and passes on only requests whose framing evhttp reads exactly as
 * we do; anything else is refused here with an OpenAI-shaped JSON error:
 *
 *   request line  METHOD SP /target SP HTTP/1.0|1.1 CRLF          400, 505
 *   methods       GET POST HEAD PUT DELETE OPTIONS PATCH (evhttp's) 405
 *   headers       name ":" value CRLF, no obs-fold, no bare LF, no
 *                 control bytes; the head at most FK_GUARD_MAX_HEAD   400, 431
 *   Content-Length digits; repeated only with the same value          400
 *   Transfer-Encoding  "chunked" alone (HTTP/1.1), never with a
 *                 Content-Length                                       400, 501
 *   Expect        "100-continue" only                                 417
 *   a body        never on HEAD (evhttp would read it as a request)   400
 *   body size     at most the configured limit (before it is read)    413
 *
 * Chunked bodies are passed on normalised: chunk extensions (";name=value")
 * and trailer fields are dropped, sizes rewritten in plain hex.
 *
 * Shapes: the guard consumes bytes from `in` as far as it can decide and
 * appends what evhttp may read to `out`. Pure (no I/O), for conn.c and the
 * fuzz target. */
#ifndef FK_GATEWAY_HTTP_GUARD_H
#define FK_GATEWAY_HTTP_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include "openai_errors.h"

struct evbuffer;

#define FK_GUARD_MAX_HEAD (64 * 1024) /* request line + headers, bytes */

typedef enum fk_guard_state {
    FK_GUARD_IDLE = 0,       /* between requests: nothing of the next one yet */
    FK_GUARD_HEAD = 1,       /* part of a request head */
    FK_GUARD_BODY = 2,       /* a Content-Length body */
    FK_GUARD_CHUNK_SIZE = 3, /* a chunk-size line */
    FK_GUARD_CHUNK_DATA = 4, /* chunk data */
    FK_GUARD_CHUNK_END = 5,  /* the CRLF after chunk data */
    FK_GUARD_TRAILER = 6,    /* trailer lines after the last chunk */
    FK_GUARD_REFUSED = 7,    /* a request was refused: nothing more is read */
} fk_guard_state;

typedef struct fk_http_guard {
    fk_guard_state state; /* where in a request the next byte is */
    uint64_t remaining;   /* BODY / CHUNK_DATA: bytes still to pass on */
    uint64_t body_bytes;  /* body bytes of this request so far */
    size_t scanned;       /* HEAD: bytes of the head already checked for its end */
    int requests;         /* whole requests passed on so far */
} fk_http_guard;

typedef enum fk_guard_result {
    FK_GUARD_MORE = 0,    /* everything usable was consumed; wait for more bytes */
    FK_GUARD_REQUEST = 1, /* a whole request was passed on; call again for the next */
    FK_GUARD_REFUSE = 2,  /* the request is refused: `why` says how (state REFUSED) */
} fk_guard_result;

/* Consume from `in`, append to `out`. max_body: the body limit in bytes.
 * On FK_GUARD_REFUSE, `why` holds the JSON error to send before closing. */
fk_guard_result fk_http_guard_feed(fk_http_guard *g, struct evbuffer *in, struct evbuffer *out,
                                   uint64_t max_body, fk_api_error *why);

#endif
