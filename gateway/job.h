/* job.h: one generation in flight, between an HTTP request and a driver.
 *
 * A job lives until both sides are finished: the driver has called on_done
 * and the HTTP reply has been ended (or the client is gone). It is freed only
 * from on_done, from its own timer, or right after a refused generate(),
 * never from a libevent callback of the connection that may still be on the
 * stack.
 *
 * Readiness is waited for here, once for every driver: a job whose core says
 * LOADING waits (polling health() every FK_JOB_READY_POLL_MS, streams kept
 * alive) up to FK_WAIT_READY_S, then gets 503 model_not_ready with
 * Retry-After; UNAVAILABLE (nothing listening, unresolvable host) and ERROR
 * are answered with 503 at once, with the driver's detail. A driver that
 * finds itself not ready after all (fk_error.not_ready, before any output)
 * sends the job back to waiting.
 *
 *   client disconnect -> cancel(gen) at once; on_done follows; reply ended
 *   client half-close -> EOF after a whole request: answered all the same; a
 *                        probe write tells a closed socket (reset) from a
 *                        half-closed one
 *   slow client       -> on_pieces returns 1 while the socket's output buffer
 *                        is over FK_JOB_HIGH_WATER; resume(gen) once it drains
 *   streaming         -> ": keep-alive" comments every FK_KEEPALIVE_S while
 *                        nothing else was sent, and on the driver's on_waiting
 *   max_tokens        -> pieces with a token id are counted; one past the
 *                        budget is dropped with everything after it, the
 *                        generation cancelled, and the reply ends "length"
 *
 * The endpoint supplies an fk_job_ops table that turns pieces into output. */
#ifndef FK_GATEWAY_JOB_H
#define FK_GATEWAY_JOB_H

#include <jansson.h>

#include "driver.h"
#include "harmony/harmony.h"
#include "request.h"
#include "server.h"

struct evbuffer;
struct event;

#define FK_JOB_HIGH_WATER (256 * 1024)
#define FK_JOB_READY_POLL_MS 100 /* health() polls while a job waits for its core */
#define FK_JOB_PEER_POLL_MS 100  /* after a client's EOF: how often to look for its reset */

typedef struct fk_job fk_job;

/* What a job hands the driver, now or once the core is ready, with
 * everything it points to. Owned by the job (fk_job_input_free). */
typedef struct fk_job_input {
    fk_slot *slot;        /* the core the request goes to (borrowed; the job holds it) */
    json_t *body;         /* the parsed client body (owns the strings rp borrows) */
    fk_request_params rp; /* its parameters; rp.sampling.stop points into rp.stop */
    char *model;          /* the routed model name the driver gets (owned) */
    fk_gen_mode mode;     /* Harmony, raw completion or pass-through */
    const char *path;     /* the endpoint path (static) */
    hm_prompt prompt;     /* chat: the rendered prompt (the segments' text) */
    fk_segment *segs;     /* the prompt as ABI segments (owned), or NULL */
    size_t n_segs;        /* entries in segs */
    char *tools;          /* the request's tools as JSON text (owned), or NULL */
    char *body_text;      /* the body to hand over instead of the request's own
                             (pass-through with special text escaped; owned), or NULL */
} fk_job_input;

/* A zeroed input (prompt initialised). NULL on OOM. */
fk_job_input *fk_job_input_new(void);
void fk_job_input_free(fk_job_input *in);

typedef struct fk_job_ops {
    /* New pieces. Streaming: append SSE events to `sse`; otherwise `sse` is
     * NULL and the endpoint accumulates. */
    void (*pieces)(fk_job *j, const fk_piece *p, size_t n, struct evbuffer *sse);
    /* Successful end. Streaming: append the last events (before [DONE]) to
     * `sse`; otherwise return the whole response body (caller owns). */
    json_t *(*finish)(fk_job *j, const fk_gen_stats *stats, struct evbuffer *sse);
    /* Free the endpoint's state. */
    void (*free)(void *state);
    /* Optional: a failure after the stream started; append the endpoint's
     * error events to `sse`. NULL: one `data: {"error":{...}}` event. */
    void (*stream_error)(fk_job *j, const fk_api_error *e, struct evbuffer *sse);
    /* 1: streams end with their last event, without "data: [DONE]" (the
     * Responses API); 0: with it (chat, completions). */
    int no_done;
} fk_job_ops;

struct fk_job {
    fk_gateway *gw;                  /* owner */
    fk_slot *slot;                   /* the core this job runs on (a reload keeps it) */
    fk_job *prev, *next;             /* gw->jobs list links */
    struct evhttp_request *req;      /* the request; NULL once the reply ended */
    struct evhttp_connection *evcon; /* its connection while we hold its close callback */
    fk_endpoint endpoint;            /* for metrics */
    char request_id[128];            /* for logs and the driver */
    char id[96];                     /* "chatcmpl-..." / "cmpl-..." */
    long long created;               /* unix time in every chunk */
    char *model;                     /* the model name echoed in responses (owned) */
    const fk_job_ops *ops;           /* endpoint formatting */
    void *state;                     /* endpoint state, freed by ops->free */
    fk_job_input *in;                /* the request for the driver (owned) */
    fk_gen *gen;                     /* the driver's generation; NULL when none runs */
    int in_generate;                 /* 1 while driver->generate() is on the stack */
    int requeued;                    /* on_done said not_ready: back to waiting */
    struct event *wait_timer;        /* polls health() while waiting for the core */
    int stream;                      /* 1: SSE reply */
    int include_usage;               /* stream_options.include_usage */
    int headers_sent;                /* SSE reply started */
    int client_gone;                 /* the client disconnected */
    int gen_done;                    /* on_done has been called */
    int paused;                      /* on_pieces returned 1; waiting to resume */
    int cancelled;                   /* cancelled (client gone, shutdown) */
    int wrote_since_tick;            /* output sent since the last keep-alive tick */
    int produced;                    /* at least one piece arrived */
    int n_pieces;                    /* pieces received */
    int max_tokens;                  /* the request's completion budget (0: none) */
    int n_tokens;                    /* pieces with a token id passed on (completion tokens) */
    int length_cut;                  /* 1: max_tokens reached, the rest dropped, gen cancelled */
    fk_piece *scratch;               /* pieces copied from a driver of another piece size */
    size_t scratch_cap;              /* entries allocated in scratch */
    struct event *keepalive;         /* periodic keep-alive timer (streams) */
    struct event *peer_watch;        /* notices a peer's EOF while we generate */
    struct event *peer_poll;         /* after a half-close: notices the peer's reset */
    double t_start;                  /* when the request was accepted */
    double t_last;                   /* when the last piece arrived */
};

/* Make a job for `req` (not started). `state` and `in` are owned by the job
 * from here (freed on failure too). */
fk_job *fk_job_new(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info,
                   const char *id_prefix, const char *model, int stream, int include_usage,
                   const fk_job_ops *ops, void *state, fk_job_input *in);
/* Start the generation now, or once the core is ready. Every failure ends
 * in an error reply and the job freed. */
void fk_job_submit(fk_job *j);
/* Cancel every job's generation (shutdown). */
void fk_jobs_cancel_all(fk_gateway *gw);

#endif
