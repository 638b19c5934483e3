/* job.c: the lifecycle of one generation: wait for the core, start, stream,
 * pause, cancel, end. */
#include "job.h"

#include <errno.h>
#include <math.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>
#include <event2/http_struct.h>
#include <poll.h>
#include <sys/socket.h>

#include "log.h"
#include "sse.h"

static void job_free(fk_job *j);
static void wake_now(fk_job *j);

/* ---- client side: disconnects ---------------------------------------------------- */

/* A running generation is cancelled (on_done follows); a waiting job ends
 * from its timer. */
static void job_cancel(fk_job *j)
{
    if (j->gen_done || j->cancelled) return;
    j->cancelled = 1;
    if (j->gen)
        j->slot->router.driver.table->cancel(j->gen);
    else
        wake_now(j);
}

static void stop_watching(fk_job *j)
{
    if (j->peer_watch) event_free(j->peer_watch);
    j->peer_watch = NULL;
    if (j->peer_poll) event_free(j->peer_poll);
    j->peer_poll = NULL;
    if (j->keepalive) event_free(j->keepalive);
    j->keepalive = NULL;
}

static void client_gone(fk_job *j, const char *how)
{
    if (j->client_gone) return;
    j->client_gone = 1;
    fk_debug("%s: client disconnected (%s); cancelling", j->request_id, how);
    stop_watching(j);
    job_cancel(j);
}

/* libevent frees the connection (peer closed, write failed, timeout); the
 * request was detached from it and is still ours to end. */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    fk_job *j = arg;
    j->evcon = NULL;
    client_gone(j, "connection closed");
}

static int send_chunk(fk_job *j, struct evbuffer *buf);

/* After the probe: a client that closed its socket answers it with a reset. */
static void on_peer_poll(evutil_socket_t fd, short what, void *arg)
{
    fk_job *j = arg;
    struct pollfd p = {.fd = event_get_fd(j->peer_poll), .events = 0};
    if (poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP))) client_gone(j, "peer closed");
}

/* The client sent EOF. HTTP/1.1 allows closing only the sending side after a
 * whole request (half-close), and such a client still reads the reply; one
 * that closed its socket looks the same until we write. So write something
 * harmless (an SSE comment once the stream started, else an interim
 * "102 Processing", which HTTP/1.1 clients skip), then watch for the reset a
 * closed socket answers with. HTTP/1.0 has no interim replies: EOF is gone. */
static void peer_eof(fk_job *j, evutil_socket_t fd)
{
    static const char probe[] = "HTTP/1.1 102 Processing\r\n\r\n";
    event_free(j->peer_watch);
    j->peer_watch = NULL;
    if (j->req->major == 1 && j->req->minor == 0) {
        client_gone(j, "peer closed");
        return;
    }
    if (j->stream && j->headers_sent) {
        struct evbuffer *buf = evbuffer_new();
        fk_sse_add_keepalive(buf);
        send_chunk(j, buf);
        evbuffer_free(buf);
    } else if (send(fd, probe, sizeof probe - 1, MSG_NOSIGNAL | MSG_DONTWAIT) !=
               (ssize_t)sizeof probe - 1) {
        client_gone(j, "peer closed");
        return;
    }
    fk_debug("%s: the client closed its sending side; still answering", j->request_id);
    j->peer_poll = event_new(j->gw->base, fd, EV_PERSIST, on_peer_poll, j);
    struct timeval tv = {0, FK_JOB_PEER_POLL_MS * 1000};
    if (j->peer_poll) event_add(j->peer_poll, &tv);
}

/* evhttp does not read while we answer, so a peer's EOF would go unnoticed
 * until the next write: watch the socket ourselves. */
static void on_peer_readable(evutil_socket_t fd, short what, void *arg)
{
    fk_job *j = arg;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) {
        peer_eof(j, fd);
        return;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        client_gone(j, "peer closed");
        return;
    }
    /* pipelined bytes: evhttp reads them after this reply; stop watching */
    if (n > 0) {
        event_free(j->peer_watch);
        j->peer_watch = NULL;
    }
}

/* ---- output ---------------------------------------------------------------------- */

static void send_headers(fk_job *j)
{
    if (j->headers_sent) return;
    j->headers_sent = 1;
    fk_count_reply(j->gw, j->endpoint, 200);
    fk_sse_start(j->req);
}

static size_t pending_output(const fk_job *j)
{
    if (!j->evcon) return 0;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(j->evcon);
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

/* The connection's output drained after a pause: let the driver go on. */
static void on_drained(struct evhttp_connection *evcon, void *arg)
{
    fk_job *j = arg;
    if (!j->paused || j->gen_done || j->client_gone) return;
    j->paused = 0;
    j->slot->router.driver.table->resume(j->gen);
}

/* Send buf as one chunk; returns 1 when the client is too slow (pause). */
static int send_chunk(fk_job *j, struct evbuffer *buf)
{
    if (evbuffer_get_length(buf) == 0 || j->client_gone) return 0;
    send_headers(j);
    j->wrote_since_tick = 1;
    if (pending_output(j) + evbuffer_get_length(buf) > FK_JOB_HIGH_WATER && !j->gen_done) {
        j->paused = 1;
        evhttp_send_reply_chunk_with_cb(j->req, buf, on_drained, j);
        return 1;
    }
    evhttp_send_reply_chunk(j->req, buf);
    return 0;
}

static void on_keepalive(evutil_socket_t fd, short what, void *arg)
{
    fk_job *j = arg;
    if (j->paused || j->client_gone || j->gen_done) return;
    if (!j->wrote_since_tick) {
        struct evbuffer *buf = evbuffer_new();
        fk_sse_add_keepalive(buf);
        send_chunk(j, buf);
        evbuffer_free(buf);
    }
    j->wrote_since_tick = 0;
}

/* ---- driver callbacks --------------------------------------------------------------- */

static void observe_pieces(fk_job *j, size_t n)
{
    fk_core_stats *m = j->slot->stats;
    double now = fk_now();
    if (!j->produced) {
        j->produced = 1;
        m->waiting--;
        m->running++;
        fk_histogram_observe(&m->ttft, now - j->t_start);
    } else {
        for (size_t i = 0; i < n; i++) fk_histogram_observe(&m->itl, (now - j->t_last) / (double)n);
    }
    j->t_last = now;
    j->n_pieces += (int)n;
    m->generation_tokens += n;
}

/* The driver's pieces as this host's fk_piece array: as they are when the
 * sizes agree, else copied (members the driver lacks read as absent). NULL on OOM. */
static const fk_piece *host_pieces(fk_job *j, const fk_piece *p, size_t n, size_t size)
{
    if (size == sizeof *p) return p;
    if (n > j->scratch_cap) {
        fk_piece *s = realloc(j->scratch, n * sizeof *s);
        if (!s) return NULL;
        j->scratch = s;
        j->scratch_cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        fk_abi_copy(&j->scratch[i], sizeof *p, FK_AT(p, i, size), size);
        if (!FK_HAS(size, fk_piece, logprob)) j->scratch[i].logprob = NAN;
    }
    return j->scratch;
}

/* max_tokens, whatever the core does: a piece that carries a token id is one
 * completion token (a piece without one continues a token's text, or comes
 * from a core that counts for itself). Returns how many of the n pieces fit
 * the budget; once one does not, the generation is cancelled and ends as
 * "length" (on_done). */
static size_t within_budget(fk_job *j, const fk_piece *p, size_t n)
{
    if (j->length_cut) return 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i].token_id < 0) continue;
        if (j->max_tokens > 0 && j->n_tokens == j->max_tokens) {
            fk_debug("%s: max_tokens (%d) reached; the core went on: cancelling", j->request_id,
                     j->max_tokens);
            j->length_cut = 1;
            job_cancel(j);
            return i;
        }
        j->n_tokens++;
    }
    return n;
}

static int on_pieces(void *ud, const fk_piece *driver_pieces, size_t n, size_t piece_size)
{
    fk_job *j = ud;
    if (j->client_gone || j->gen_done || n == 0) return 0;
    const fk_piece *pieces = host_pieces(j, driver_pieces, n, piece_size);
    if (!pieces) return 0; /* out of memory: these pieces are lost, the reply goes on */
    n = within_budget(j, pieces, n);
    if (n == 0) return 0;
    observe_pieces(j, n);
    if (!j->stream) {
        j->ops->pieces(j, pieces, n, NULL);
        return 0;
    }
    struct evbuffer *buf = evbuffer_new();
    j->ops->pieces(j, pieces, n, buf);
    int pause = send_chunk(j, buf);
    evbuffer_free(buf);
    return pause;
}

static void on_waiting(void *ud, const char *what)
{
    fk_job *j = ud;
    fk_debug("%s: waiting: %s", j->request_id, what ? what : "");
    if (!j->stream || j->client_gone || j->paused || j->gen_done) return;
    struct evbuffer *buf = evbuffer_new();
    fk_sse_add_keepalive(buf);
    send_chunk(j, buf);
    evbuffer_free(buf);
}

static void count_done(fk_job *j, const fk_gen_stats *st)
{
    fk_core_stats *m = j->slot->stats;
    if (j->produced)
        m->running--;
    else
        m->waiting--;
    m->prompt_tokens += (uint64_t)(st && st->prompt_tokens > 0 ? st->prompt_tokens : 0);
    /* pieces were counted as they came; the core's own count is the truth */
    if (st && st->completion_tokens > 0)
        m->generation_tokens += (uint64_t)st->completion_tokens - (uint64_t)j->n_pieces;
    fk_histogram_observe(&m->e2e, fk_now() - j->t_start);
    if (st && st->finish == FK_FINISH_CANCELLED) m->cancelled++;
    if (st && st->finish == FK_FINISH_ERROR) m->errors++;
}

/* End the HTTP side: an error (as JSON or as a last SSE event) or success. */
static void end_reply(fk_job *j, const fk_gen_stats *st, const fk_api_error *err)
{
    fk_api_error e;
    int failed = st->finish == FK_FINISH_ERROR || st->finish == FK_FINISH_CANCELLED;
    if (st->finish == FK_FINISH_ERROR)
        e = *err;
    else if (st->finish == FK_FINISH_CANCELLED)
        fk_api_error_set(&e, 503, "unavailable_error", "server_shutting_down", NULL,
                         "the generation was cancelled: the server is shutting down");
    if (!j->stream) {
        if (failed) {
            fk_reply_error(j->gw, j->req, j->endpoint, &e);
        } else {
            json_t *body = j->ops->finish(j, st, NULL);
            fk_reply_json(j->gw, j->req, j->endpoint, 200, body);
        }
        return;
    }
    if (failed && !j->headers_sent) {
        fk_reply_error(j->gw, j->req, j->endpoint, &e);
        return;
    }
    struct evbuffer *buf = evbuffer_new();
    if (failed && j->ops->stream_error) {
        j->ops->stream_error(j, &e, buf);
    } else if (failed) {
        json_t *ej = fk_api_error_json(&e);
        fk_sse_add_json(buf, ej);
        json_decref(ej);
    } else {
        j->ops->finish(j, st, buf);
    }
    if (!j->ops->no_done) fk_sse_add_done(buf);
    send_chunk(j, buf);
    evbuffer_free(buf);
    evhttp_send_reply_end(j->req);
}

/* End both sides: the reply (with `e` when the generation failed) and the
 * job. `ran`: a generation ran (it counts in the metrics); else the job
 * never got one (refused, or it waited in vain). */
static void job_end(fk_job *j, const fk_gen_stats *st, const fk_api_error *e, int ran)
{
    j->gen_done = 1;
    j->gen = NULL;
    if (ran)
        count_done(j, st);
    else
        j->slot->stats->waiting--;
    stop_watching(j);
    if (j->evcon) evhttp_connection_set_closecb(j->evcon, NULL, NULL);
    j->evcon = NULL;
    if (j->client_gone) {
        /* a detached request is freed by libevent when we end it, without
         * its completion callback */
        evhttp_request_set_on_complete_cb(j->req, NULL, NULL);
        j->gw->replies_in_flight--;
        if (j->headers_sent)
            evhttp_send_reply_end(j->req);
        else
            evhttp_send_reply(j->req, 499, "Client Closed Request", NULL);
        fk_count_reply(j->gw, j->endpoint, 499);
    } else {
        end_reply(j, st, e);
    }
    j->req = NULL;
    if (!j->in_generate) job_free(j);
}

static void wait_ready(fk_job *j);

static void on_done(void *ud, const fk_gen_stats *stats, const fk_error *err)
{
    fk_job *j = ud;
    fk_gen_stats st;
    fk_abi_copy(&st, sizeof st, stats, stats ? stats->struct_size : 0);
    if (j->length_cut) { /* we stopped it at max_tokens: the client got exactly that */
        st.finish = FK_FINISH_LENGTH;
        st.completion_tokens = j->n_tokens;
        err = NULL;
    }
    fk_error de; /* as far as the driver wrote it */
    fk_abi_copy(&de, sizeof de, err, err ? err->struct_size : 0);
    if (st.finish == FK_FINISH_ERROR && de.not_ready && !j->produced && !j->cancelled) {
        fk_debug("%s: the core is not ready after all; waiting again", j->request_id);
        j->gen = NULL;
        j->requeued = 1;
        wait_ready(j);
        return;
    }
    fk_api_error e = {0};
    if (st.finish == FK_FINISH_ERROR) {
        fk_warn("%s: generation failed: %s", j->request_id,
                de.message ? de.message : "(no message)");
        fk_api_error_from_driver(&e, err);
    }
    job_end(j, &st, &e, 1);
}

static const fk_gen_callbacks job_callbacks = {sizeof job_callbacks, on_pieces, on_done,
                                               on_waiting};

/* ---- lifecycle ----------------------------------------------------------------- */

fk_job_input *fk_job_input_new(void)
{
    fk_job_input *in = calloc(1, sizeof *in);
    if (in) hm_prompt_init(&in->prompt);
    return in;
}

void fk_job_input_free(fk_job_input *in)
{
    if (!in) return;
    json_decref(in->body);
    free(in->model);
    hm_prompt_clear(&in->prompt);
    free(in->segs);
    free(in->tools);
    free(in->body_text);
    free(in);
}

fk_job *fk_job_new(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info,
                   const char *id_prefix, const char *model, int stream, int include_usage,
                   const fk_job_ops *ops, void *state, fk_job_input *in)
{
    fk_job *j = calloc(1, sizeof *j);
    if (!j || !(j->model = strdup(model ? model : ""))) {
        free(j);
        ops->free(state);
        fk_job_input_free(in);
        return NULL;
    }
    j->gw = gw;
    j->slot = in->slot;
    j->req = req;
    j->endpoint = info->endpoint;
    snprintf(j->request_id, sizeof j->request_id, "%s", info->request_id);
    fk_make_id(gw, id_prefix, j->id, sizeof j->id);
    j->created = fk_created(gw);
    j->ops = ops;
    j->state = state;
    j->in = in;
    j->stream = stream;
    j->include_usage = include_usage;
    j->t_start = j->t_last = fk_now();
    return j;
}

static void job_link(fk_job *j)
{
    fk_gateway *gw = j->gw;
    j->next = gw->jobs;
    if (gw->jobs) gw->jobs->prev = j;
    gw->jobs = j;
    gw->n_jobs++;
    j->slot->stats->waiting++;
    j->slot->jobs++;
}

static void job_free(fk_job *j)
{
    fk_gateway *gw = j->gw;
    if (j->prev)
        j->prev->next = j->next;
    else if (gw->jobs == j)
        gw->jobs = j->next;
    if (j->next) j->next->prev = j->prev;
    gw->n_jobs--;
    stop_watching(j);
    if (j->wait_timer) event_free(j->wait_timer);
    j->ops->free(j->state);
    fk_job_input_free(j->in);
    free(j->model);
    free(j->scratch);
    fk_slot *slot = j->slot;
    free(j);
    fk_slot_job_ended(gw, slot);
    fk_shutdown_check(gw);
}

static void watch_client(fk_job *j)
{
    fk_gateway *gw = j->gw;
    j->evcon = evhttp_request_get_connection(j->req);
    if (!j->evcon) return;
    evhttp_connection_set_closecb(j->evcon, on_conn_close, j);
    struct bufferevent *bev = evhttp_connection_get_bufferevent(j->evcon);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd >= 0) {
        j->peer_watch = event_new(gw->base, fd, EV_READ | EV_PERSIST, on_peer_readable, j);
        if (j->peer_watch) event_add(j->peer_watch, NULL);
    }
    if (j->stream && gw->config->keepalive_s > 0) {
        j->keepalive = event_new(gw->base, -1, EV_PERSIST, on_keepalive, j);
        double s = gw->config->keepalive_s;
        struct timeval tv = {(time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6)};
        if (j->keepalive) event_add(j->keepalive, &tv);
    }
}

/* ---- waiting for the core, then starting ---------------------------------------- */

/* The request as the driver gets it, built from the job's input. */
static void build_request(const fk_job *j, fk_gen_request *gr)
{
    const fk_job_input *in = j->in;
    struct evbuffer *body = evhttp_request_get_input_buffer(j->req);
    *gr = (fk_gen_request){
        .struct_size = sizeof *gr,
        .mode = in->mode,
        .request_id = j->request_id,
        .model = in->model,
        .segments = in->segs,
        .n_segments = in->n_segs,
        .segment_size = sizeof *in->segs,
        .sampling = &in->rp.sampling,
        .max_model_len = j->slot->cfg.max_model_len,
        .client_path = in->path,
        .client_body = in->body_text ? in->body_text : (const char *)evbuffer_pullup(body, -1),
        .client_body_len = in->body_text ? strlen(in->body_text) : evbuffer_get_length(body),
        .tools_json = in->tools};
}

/* End a job that has no generation running, with `e` (NULL: cancelled). */
static void end_unstarted(fk_job *j, const fk_api_error *e)
{
    fk_gen_stats st = {.struct_size = sizeof st,
                       .finish = e ? FK_FINISH_ERROR : FK_FINISH_CANCELLED};
    job_end(j, &st, e, 0);
}

static void start_generate(fk_job *j)
{
    fk_gen_request gr;
    build_request(j, &gr);
    fk_error derr = {.struct_size = sizeof derr};
    j->max_tokens = gr.sampling->max_tokens;
    j->in_generate = 1;
    fk_gen *gen =
        j->slot->router.driver.table->generate(j->slot->router.core, &gr, &job_callbacks, j, &derr);
    j->in_generate = 0;
    if (j->gen_done) { /* the driver finished inside generate() */
        job_free(j);
        return;
    }
    if (j->requeued) { /* ... or sent the job back to waiting */
        j->requeued = 0;
        return;
    }
    if (gen) {
        j->gen = gen;
        return;
    }
    if (derr.not_ready && fk_now() < j->t_start + j->slot->cfg.wait_ready_s) {
        wait_ready(j);
        return;
    }
    fk_api_error e;
    fk_api_error_from_driver(&e, &derr);
    end_unstarted(j, &e);
}

/* Start if the core is ready, wait while it loads, answer 503 otherwise. */
static void try_start(fk_job *j)
{
    if (j->cancelled) {
        end_unstarted(j, NULL);
        return;
    }
    char detail[512] = "";
    fk_health h = j->slot->router.driver.table->health(j->slot->router.core, detail, sizeof detail);
    if (!detail[0]) snprintf(detail, sizeof detail, "no detail");
    double wait_s = j->slot->cfg.wait_ready_s;
    if (h == FK_HEALTH_READY) {
        start_generate(j);
        return;
    }
    if (h == FK_HEALTH_LOADING && fk_now() < j->t_start + wait_s) {
        wait_ready(j);
        return;
    }
    fk_api_error e;
    if (h == FK_HEALTH_LOADING)
        fk_api_error_set(&e, 503, "unavailable_error", "model_not_ready", NULL,
                         "the core is still loading after %g s (FK_WAIT_READY_S): %s", wait_s,
                         detail);
    else if (h == FK_HEALTH_UNAVAILABLE)
        fk_api_error_set(&e, 503, "unavailable_error", "core_unavailable", NULL,
                         "the core is unavailable: %s", detail);
    else
        fk_api_error_set(&e, 503, "unavailable_error", "core_unavailable", NULL,
                         "the core failed: %s", detail);
    if (h != FK_HEALTH_ERROR) e.retry_after_s = 5;
    end_unstarted(j, &e);
}

static void on_wait_tick(evutil_socket_t fd, short what, void *arg)
{
    try_start(arg);
}

/* Look at the core again in `ms`. */
static void wait_after(fk_job *j, long ms)
{
    if (!j->wait_timer) j->wait_timer = evtimer_new(j->gw->base, on_wait_tick, j);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (j->wait_timer) evtimer_add(j->wait_timer, &tv);
}

static void wait_ready(fk_job *j)
{
    wait_after(j, FK_JOB_READY_POLL_MS);
}

static void wake_now(fk_job *j)
{
    wait_after(j, 0);
}

void fk_job_submit(fk_job *j)
{
    job_link(j);
    watch_client(j);
    try_start(j);
}

void fk_jobs_cancel_all(fk_gateway *gw)
{
    for (fk_job *j = gw->jobs; j; j = j->next) job_cancel(j);
}
