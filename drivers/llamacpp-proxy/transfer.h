/* transfer.h: one upstream HTTP request on the curl loop, read as a
 * server-sent event stream (or, for other responses, buffered whole).
 *
 * Events go to the sink one by one; the sink may ask to pause, after which
 * nothing more is delivered until fk_xfer_resume. At most the chunk in hand
 * is buffered here; curl holds the rest (CURL_WRITEFUNC_PAUSE). Timeouts:
 * connect (curl), first byte and between chunks (our timer, off while
 * paused). Everything runs on the loop thread. */
#ifndef FK_LLAMA_TRANSFER_H
#define FK_LLAMA_TRANSFER_H

#include <curl/curl.h>
#include <stddef.h>

#include "curl_loop.h"

struct event_base;

typedef struct fk_xfer fk_xfer;

/* Why the watchdog ended a transfer. */
typedef enum fk_xfer_timeout {
    FK_XFER_NO_TIMEOUT = 0,
    FK_XFER_FIRST_BYTE = 1, /* nothing arrived within first_byte_ms */
    FK_XFER_IDLE = 2,       /* the stream went quiet for idle_ms */
} fk_xfer_timeout;

/* How a transfer ended. Strings are borrowed for the done call. */
typedef struct fk_xfer_end {
    CURLcode curl_code;      /* CURLE_OK when the HTTP exchange completed */
    const char *curl_error;  /* curl's message when curl_code != CURLE_OK */
    fk_xfer_timeout timeout; /* our watchdog fired */
    int aborted;             /* fk_xfer_abort ended it */
    long status;             /* HTTP status, 0 when none arrived */
    const char *body;        /* whole body unless it was an event stream (NUL-terminated) */
    size_t body_len;
    size_t bytes; /* body bytes received */
} fk_xfer_end;

typedef struct fk_xfer_sink {
    /* One SSE event of a 2xx text/event-stream response: `field` is the field
     * name ("data", or llama-server's "error"), value NUL-terminated and
     * writable. Return 0 to go on, 1 to pause, -1 to abort the transfer (the
     * sink keeps its own reason). */
    int (*event)(void *owner, const char *field, char *value, size_t len);
    /* Called exactly once, from the loop; the owner frees the transfer here or later. */
    void (*done)(void *owner, fk_xfer *x, const fk_xfer_end *end);
    /* Optional: the first byte of the body arrived. */
    void (*first_byte)(void *owner);
} fk_xfer_sink;

typedef struct fk_xfer_opts {
    const char *url;        /* copied */
    const char *body;       /* POST body (JSON), NULL for GET; copied */
    const char *request_id; /* X-Request-Id, or NULL */
    long connect_timeout_ms;
    long first_byte_ms; /* 0: none */
    long idle_ms;       /* 0: none */
    long total_ms;      /* 0: none (curl's CURLOPT_TIMEOUT_MS) */
} fk_xfer_opts;

/* Start a request. NULL on failure (nothing will be called back). */
fk_xfer *fk_xfer_start(fk_curl_loop *loop, struct event_base *base, const fk_xfer_opts *opts,
                       const fk_xfer_sink *sink, void *owner);
/* Stop delivering after the sink returned 1... then go on: delivery resumes
 * from the loop (scheduled), never inside this call. */
void fk_xfer_resume(fk_xfer *x);
/* End the transfer soon (scheduled): done follows from the loop with
 * end->aborted set. Safe from anywhere, including inside a sink callback. */
void fk_xfer_abort(fk_xfer *x);
/* Release a transfer after its done callback (may be called inside done). */
void fk_xfer_free(fk_xfer *x);

#endif
