/* conn.c: client connections around evhttp (see the header). */
#include "conn.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_guard.h"
#include "log.h"
#include "openai_errors.h"
#include "server.h"

#define RESERVED_FDS 64       /* descriptors kept for the core, the log, files, reloads */
#define MIN_CONNECTIONS 16    /* the smallest derived limit */
#define ACCEPT_PAUSE_MS 100   /* accepting pauses this long after a failed accept() */
#define ACCEPT_ERROR_EVICT 32 /* idle connections closed per failed accept() */

typedef enum wait_list {
    WL_NONE = 0,  /* not waiting: a request in hand, a body arriving, or closing */
    WL_NEW = 1,   /* accepted, no byte yet (evicted first) */
    WL_HEAD = 2,  /* part of a request head */
    WL_IDLE = 3,  /* keep-alive, between requests */
    WL_COUNT = 4, /* number of lists */
} wait_list;

typedef struct fk_conn fk_conn;

struct fk_conn {
    struct fk_conns *cs;             /* owner; NULL once the server is gone */
    struct bufferevent *filter;      /* what evhttp reads and writes */
    struct bufferevent *sock;        /* the socket's bufferevent: reads (one reference is ours) */
    evutil_socket_t fd;              /* the socket; -1 until set up */
    fk_http_guard guard;             /* framing of what the client sends */
    int pending;                     /* whole requests handed to evhttp, reply not written out */
    int eof_held;                    /* the client's EOF came while a reply was pending */
    int refusing;                    /* our error reply is being written; then evhttp lets go */
    int refusal_due;                 /* a refusal waits for the replies before it */
    fk_api_error refusal;            /* that refusal */
    struct evbuffer *refusal_out;    /* its bytes not yet written (while refusing) */
    int no_linger;                   /* close at once when evhttp lets go */
    int write_failed;                /* the socket refused output; evhttp was told */
    int dropped;                     /* evhttp was told to let go (counted in cs->dropping) */
    int flushing;                    /* inside flush_output: output may be written */
    wait_list list;                  /* the waiting list it is on */
    double since;                    /* when it got there (fk_now) */
    fk_conn *prev, *next;            /* links in that list */
    int in_setup;                    /* on cs->setup */
    fk_conn *setup_next;             /* link in cs->setup */
    struct event *writable;          /* one-shot: the socket takes output again (lazy) */
    struct event *kick;              /* work after a reply was written out (lazy) */
    struct event *flush;             /* writes output evhttp added (created at set-up) */
    bufferevent_data_cb sock_read;   /* the filter's callbacks on `sock`, wrapped (one */
    bufferevent_event_cb sock_event; /* argument for all three, so all are wrapped) */
    void *sock_arg;                  /* their argument (the filter) */
};

/* A socket evhttp let go of, drained before it is closed. */
typedef struct draining {
    struct fk_conns *cs;          /* owner */
    evutil_socket_t fd;           /* the socket */
    double deadline;              /* fk_now() at which it is closed anyway */
    struct event *ev;             /* reads, with the gap as timeout */
    struct draining *prev, *next; /* cs->lingering links */
} draining;

typedef struct fk_conns {
    fk_gateway *gw; /* owner */
    struct {
        fk_conn *head, *tail; /* oldest first */
    } wait[WL_COUNT];
    fk_conn **by_fd;                 /* set-up connections by socket */
    size_t by_fd_len;                /* entries in by_fd */
    fk_conn *setup, *setup_tail;     /* accepted, waiting for set-up (oldest first) */
    int dropping;                    /* connections let go of, not yet freed by evhttp */
    struct event *setup_ev;          /* runs set-up once evhttp has the connection */
    struct event *sweep;             /* every second: header timeouts */
    struct event *resume_accept;     /* accepting again after a failed accept() */
    struct evconnlistener *listener; /* gw->bound's */
    draining *lingering;             /* draining sockets */
    int n_lingering;                 /* entries in lingering */
    double errors_logged_at;         /* fk_now() of the last accept-error line */
    unsigned errors_unlogged;        /* accept errors since that line */
    int last_errno;                  /* the last accept() error */
    fk_conn_stats stats;             /* counters; stats.open, stats.max kept current */
} fk_conns;

static double header_timeout(const fk_conns *cs)
{
    return cs->gw->config->header_timeout_s;
}

/* ---- waiting lists --------------------------------------------------------------------- */

static void list_del(fk_conns *cs, fk_conn *c)
{
    if (c->list == WL_NONE) return;
    if (c->prev)
        c->prev->next = c->next;
    else
        cs->wait[c->list].head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        cs->wait[c->list].tail = c->prev;
    c->prev = c->next = NULL;
    c->list = WL_NONE;
}

/* Move c to the tail of list `wl`; `keep_since`: its time counts from before. */
static void list_put(fk_conns *cs, fk_conn *c, wait_list wl, int keep_since)
{
    if (c->list == wl) return;
    list_del(cs, c);
    if (!keep_since) c->since = fk_now();
    if (wl == WL_NONE) return;
    c->list = wl;
    c->prev = cs->wait[wl].tail;
    if (c->prev)
        c->prev->next = c;
    else
        cs->wait[wl].head = c;
    cs->wait[wl].tail = c;
}

/* The list a connection belongs on now. */
static void place(fk_conns *cs, fk_conn *c)
{
    if (c->refusing || c->refusal_due || c->pending > 0) {
        list_del(cs, c);
    } else if (c->guard.state == FK_GUARD_IDLE) {
        if (c->list != WL_NEW) list_put(cs, c, WL_IDLE, 0);
    } else if (c->guard.state == FK_GUARD_HEAD) {
        list_put(cs, c, WL_HEAD, c->list == WL_NEW);
    } else {
        list_del(cs, c); /* a body: evhttp's inactivity timeout watches it */
    }
}

/* ---- closing ----------------------------------------------------------------------------- */

/* 1 once evhttp has let go of the filter (bufferevent_free clears its
 * callbacks, and evhttp sets them once and never clears them on a server
 * connection). From then on the filter may have no reference left while its
 * finalizer (conn_free) waits in the event queue behind our own events (kick,
 * flush, writable, set-up, sweep). bufferevent_flush and
 * bufferevent_trigger_event take and drop a reference: on such a filter that
 * runs its unlink a second time, which frees `sock` once more
 * (BEV_OPT_CLOSE_ON_FREE), and the finalizer's own release of `sock` then
 * aborts on libevent's "refcnt > 0" assertion. So nothing here flushes,
 * triggers or writes for a connection evhttp let go of. */
static int released(const fk_conn *c)
{
    bufferevent_event_cb event = NULL;
    bufferevent_getcb(c->filter, NULL, NULL, &event, NULL);
    return event == NULL;
}

/* Have evhttp let go of the connection as if the client had closed it
 * (free_context follows once libevent finalizes the filter); for one it let
 * go of already, only note that it is leaving. */
static void drop(fk_conn *c, int deferred)
{
    list_del(c->cs, c);
    if (!c->dropped) c->cs->dropping++;
    c->dropped = 1;
    if (released(c)) return;
    bufferevent_trigger_event(c->filter, BEV_EVENT_EOF | BEV_EVENT_READING,
                              deferred ? BEV_TRIG_DEFER_CALLBACKS : 0);
}

/* Close the longest-idle connection other than `except`. 1 when one was. */
static int evict_one(fk_conns *cs, const fk_conn *except)
{
    for (int wl = WL_NEW; wl < WL_COUNT; wl++) {
        fk_conn *c = cs->wait[wl].head;
        if (c && c == except) c = c->next;
        if (!c) continue;
        if (!released(c)) { /* else its client closed it: it is leaving already */
            fk_debug("closing a connection idle for %.1f s to make room", fk_now() - c->since);
            c->no_linger = 1;
            cs->stats.evicted++;
        }
        drop(c, 0);
        return 1;
    }
    return 0;
}

static void linger_end(draining *l)
{
    fk_conns *cs = l->cs;
    if (l->prev)
        l->prev->next = l->next;
    else
        cs->lingering = l->next;
    if (l->next) l->next->prev = l->prev;
    cs->n_lingering--;
    event_free(l->ev);
    close(l->fd);
    free(l);
}

static void on_linger(evutil_socket_t fd, short what, void *arg)
{
    draining *l = arg;
    char buf[16384];
    int done = (what & EV_TIMEOUT) || fk_now() >= l->deadline;
    for (int i = 0; !done && i < 64; i++) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
        done = 1; /* EOF or an error: the client is done */
    }
    if (done) linger_end(l);
}

/* Drain a socket evhttp shut for writing until the client's EOF, so a
 * client still sending reads our reply instead of a reset. */
static void start_linger(fk_conns *cs, evutil_socket_t fd)
{
    draining *l = calloc(1, sizeof *l);
    struct timeval gap = {FK_LINGER_GAP_S, 0};
    if (l) l->ev = event_new(cs->gw->base, fd, EV_READ | EV_PERSIST, on_linger, l);
    if (!l || !l->ev || event_add(l->ev, &gap) < 0) {
        if (l && l->ev) event_free(l->ev);
        free(l);
        close(fd);
        return;
    }
    l->cs = cs;
    l->fd = fd;
    l->deadline = fk_now() + FK_LINGER_S;
    l->next = cs->lingering;
    if (l->next) l->next->prev = l;
    cs->lingering = l;
    cs->n_lingering++;
}

/* The filter is finalized: evhttp has let go of the connection (and shut the
 * socket for writing). Close or drain the socket, forget the connection. */
static void conn_free(void *ctx)
{
    fk_conn *c = ctx;
    fk_conns *cs = c->cs;
    if (c->writable) event_free(c->writable);
    if (c->kick) event_free(c->kick);
    if (c->flush) event_free(c->flush);
    if (c->refusal_out) evbuffer_free(c->refusal_out);
    bufferevent_decref(c->sock);
    if (cs) {
        if (c->in_setup) {
            fk_conn **p = &cs->setup, *prev = NULL;
            while (*p && *p != c) prev = *p, p = &(*p)->setup_next;
            if (*p) *p = c->setup_next;
            if (cs->setup_tail == c) cs->setup_tail = prev;
        }
        if (c->dropped) cs->dropping--;
        list_del(cs, c);
        if (c->fd >= 0 && (size_t)c->fd < cs->by_fd_len && cs->by_fd[c->fd] == c)
            cs->by_fd[c->fd] = NULL;
        cs->stats.open--;
        if (c->fd >= 0) {
            if (c->no_linger || cs->n_lingering >= cs->stats.max / 8 + 16)
                close(c->fd);
            else
                start_linger(cs, c->fd);
        }
    }
    free(c);
}

/* ---- refusals ---------------------------------------------------------------------------- */

static void on_writable(evutil_socket_t fd, short what, void *arg);

static void wait_writable(fk_conn *c)
{
    if (!c->writable)
        c->writable = event_new(bufferevent_get_base(c->filter), c->fd, EV_WRITE, on_writable, c);
    if (c->writable) event_add(c->writable, NULL);
}

/* Write what is left of the refusal; once all of it is out, evhttp lets go
 * (evhttp shuts the socket for writing, then it lingers). */
static void write_refusal(fk_conn *c)
{
    while (evbuffer_get_length(c->refusal_out) > 0) {
        int n = evbuffer_write(c->refusal_out, c->fd);
        if (n > 0) continue;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            wait_writable(c);
            return;
        }
        c->no_linger = 1; /* the client is gone */
        break;
    }
    drop(c, 1);
}

/* Answer with a JSON error and close: now, or after the replies before it. */
static void refuse(fk_conn *c, const fk_api_error *why)
{
    fk_conns *cs = c->cs;
    if (c->refusing || c->refusal_due) return;
    if (released(c)) {
        drop(c, 0);
        return;
    }
    if (c->pending > 0) {
        c->refusal = *why;
        c->refusal_due = 1;
        list_del(cs, c);
        return;
    }
    c->refusing = 1;
    list_del(cs, c);
    cs->stats.refused++;
    fk_count_reply(cs->gw, FK_EP_OTHER, why->status);
    fk_debug("refused a request: %d %s: %s", why->status, why->code, why->message);
    json_t *j = fk_api_error_json(why);
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    c->refusal_out = evbuffer_new();
    if (!body || !c->refusal_out) {
        free(body);
        c->no_linger = 1;
        drop(c, 1);
        return;
    }
    evbuffer_add_printf(c->refusal_out,
                        "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: "
                        "%zu\r\nConnection: close\r\n\r\n%s\n",
                        why->status, fk_reason_phrase(why->status), strlen(body) + 1, body);
    free(body);
    write_refusal(c);
}

/* ---- the filter -------------------------------------------------------------------------- */

/* Client bytes -> the guard -> what evhttp may read. */
static enum bufferevent_filter_result guard_input(struct evbuffer *src, struct evbuffer *dst,
                                                  ev_ssize_t limit,
                                                  enum bufferevent_flush_mode mode, void *ctx)
{
    (void)limit;
    (void)mode;
    fk_conn *c = ctx;
    if (!c->cs || c->refusing || c->refusal_due) {
        evbuffer_drain(src, evbuffer_get_length(src));
        return BEV_NEED_MORE;
    }
    size_t had = evbuffer_get_length(dst);
    uint64_t max_body = (uint64_t)c->cs->gw->config->max_body_bytes;
    for (;;) {
        fk_api_error why;
        fk_guard_result r = fk_http_guard_feed(&c->guard, src, dst, max_body, &why);
        if (r == FK_GUARD_REQUEST) {
            c->pending++;
            continue;
        }
        if (r == FK_GUARD_REFUSE) refuse(c, &why);
        break;
    }
    place(c->cs, c);
    return evbuffer_get_length(dst) > had ? BEV_OK : BEV_NEED_MORE;
}

/* evhttp's output -> the socket, directly: the filter's output drains only
 * when the kernel has the bytes. */
static enum bufferevent_filter_result socket_output(struct evbuffer *src, struct evbuffer *dst,
                                                    ev_ssize_t limit,
                                                    enum bufferevent_flush_mode mode, void *ctx)
{
    (void)dst;
    (void)limit;
    (void)mode;
    fk_conn *c = ctx;
    if (c->write_failed) return BEV_ERROR;
    /* Only from our own flush: evhttp adds output first and sets what to do
     * once it is written after, so a write now would drain it too soon. */
    if (!c->flushing) return BEV_NEED_MORE;
    if (c->fd < 0) c->fd = bufferevent_getfd(c->sock);
    while (evbuffer_get_length(src) > 0) {
        int n = evbuffer_write(src, c->fd);
        if (n > 0) continue;
        if (n < 0 && errno == EINTR) continue;
        if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
            wait_writable(c);
            return BEV_NEED_MORE;
        }
        /* The client is gone: evhttp hears it as a write error. */
        c->write_failed = 1;
        c->no_linger = 1;
        bufferevent_trigger_event(c->filter, BEV_EVENT_ERROR | BEV_EVENT_WRITING,
                                  BEV_TRIG_DEFER_CALLBACKS);
        return BEV_ERROR;
    }
    return BEV_OK;
}

/* Output evhttp added is written from a callback after evhttp's call returns
 * (it enables writing, and sets what follows the write, only after adding). */
static void on_output_added(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    fk_conn *c = arg;
    if (info->n_added > 0 && c->flush) event_active(c->flush, 0, 0);
}

static void flush_output(fk_conn *c)
{
    if (released(c)) return;
    c->flushing = 1;
    bufferevent_flush(c->filter, EV_WRITE, BEV_NORMAL);
    c->flushing = 0;
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    flush_output(arg);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    fk_conn *c = arg;
    if (released(c)) return;
    if (c->refusing)
        write_refusal(c);
    else
        flush_output(c);
}

/* Events on the socket, before the filter passes them to evhttp: a client
 * that closes its sending side after a whole request (half-close) is still
 * answered; its EOF reaches evhttp once the replies are written. */
static void sock_event(struct bufferevent *sock, short what, void *ctx)
{
    fk_conn *c = ctx;
    if (c->refusing) return;
    if ((what & BEV_EVENT_EOF) && (c->pending > 0 || c->refusal_due)) {
        c->eof_held = 1;
        return;
    }
    c->sock_event(sock, what, c->sock_arg);
}

static void sock_read(struct bufferevent *sock, void *ctx)
{
    fk_conn *c = ctx;
    c->sock_read(sock, c->sock_arg);
}

/* After a reply was written out: the next step on this connection. */
static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    fk_conn *c = arg;
    if (!c->cs || c->pending > 0 || c->refusing || released(c)) return;
    if (c->refusal_due) {
        c->refusal_due = 0;
        refuse(c, &c->refusal);
        return;
    }
    if (c->eof_held) {
        c->eof_held = 0;
        drop(c, 0);
        return;
    }
    /* Bytes of a pipelined request read while evhttp was busy. */
    if (evbuffer_get_length(bufferevent_get_input(c->sock)) > 0)
        bufferevent_flush(c->filter, EV_READ, BEV_NORMAL);
    place(c->cs, c);
}

void fk_conns_reply_done(fk_gateway *gw, struct evhttp_request *req)
{
    fk_conns *cs = gw->conns;
    struct evhttp_connection *evcon = req ? evhttp_request_get_connection(req) : NULL;
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (!cs || fd < 0 || (size_t)fd >= cs->by_fd_len || !cs->by_fd[fd]) return;
    fk_conn *c = cs->by_fd[fd];
    if (c->pending > 0) c->pending--;
    if (c->pending > 0) return;
    if (!c->kick) c->kick = event_new(gw->base, -1, 0, on_kick, c);
    if (c->kick) event_active(c->kick, 0, 0);
}

/* ---- accepting ----------------------------------------------------------------------------- */

static int remember_fd(fk_conns *cs, fk_conn *c)
{
    size_t fd = (size_t)c->fd;
    if (fd >= cs->by_fd_len) {
        size_t n = cs->by_fd_len ? cs->by_fd_len : 1024;
        while (n <= fd) n *= 2;
        fk_conn **t = realloc(cs->by_fd, n * sizeof *t);
        if (!t) return -1;
        memset(t + cs->by_fd_len, 0, (n - cs->by_fd_len) * sizeof *t);
        cs->by_fd = t;
        cs->by_fd_len = n;
    }
    cs->by_fd[fd] = c;
    return 0;
}

/* Runs right after evhttp took new connections (a burst of them may come in
 * one accept callback): note their sockets, oldest first, then hold the
 * limit by closing the longest-idle connections; a newest one that nothing
 * can make room for is answered 503. */
static void set_up_new(fk_conns *cs)
{
    fk_conn *newest = NULL;
    while (cs->setup) {
        fk_conn *c = cs->setup;
        cs->setup = c->setup_next;
        if (!cs->setup) cs->setup_tail = NULL;
        c->in_setup = 0;
        c->fd = bufferevent_getfd(c->filter);
        if (c->fd < 0 || remember_fd(cs, c) < 0) continue;
        list_put(cs, c, WL_NEW, 0);
        newest = c;
    }
    while (cs->stats.open - cs->dropping > cs->stats.max) {
        if (evict_one(cs, newest)) continue;
        if (newest && !newest->refusing) {
            fk_api_error busy;
            fk_api_error_set(&busy, 503, "unavailable_error", "server_busy", NULL,
                             "all %d connections (FK_MAX_CONNECTIONS) are busy", cs->stats.max);
            busy.retry_after_s = 1;
            refuse(newest, &busy);
        }
        break;
    }
}

static void on_setup(evutil_socket_t unused, short what, void *arg)
{
    set_up_new(arg);
}

/* evhttp_set_bevcb: the bufferevent evhttp will use for a new connection. */
static struct bufferevent *new_conn(struct event_base *base, void *arg)
{
    fk_conns *cs = arg;
    fk_conn *c = calloc(1, sizeof *c);
    struct bufferevent *sock = c ? bufferevent_socket_new(base, -1, 0) : NULL;
    struct bufferevent *filter = sock ? bufferevent_filter_new(sock, guard_input, socket_output,
                                                               BEV_OPT_CLOSE_ON_FREE, conn_free, c)
                                      : NULL;
    if (!filter) {
        if (sock) bufferevent_free(sock);
        free(c);
        return NULL; /* evhttp makes a plain one: this connection goes unguarded */
    }
    c->cs = cs;
    c->fd = -1;
    c->sock = sock;
    c->filter = filter;
    bufferevent_incref(sock); /* ours: the socket outlives evhttp's hold for lingering */
    bufferevent_data_cb unused_write;
    bufferevent_getcb(sock, &c->sock_read, &unused_write, &c->sock_event, &c->sock_arg);
    bufferevent_setcb(sock, sock_read, NULL, sock_event, c);
    bufferevent_disable(sock, EV_WRITE); /* output goes to the socket directly */
    c->flush = event_new(base, -1, 0, on_flush, c);
    if (!c->flush || !evbuffer_add_cb(bufferevent_get_output(filter), on_output_added, c)) {
        c->cs = NULL; /* conn_free only frees c and releases sock */
        bufferevent_free(filter);
        return NULL;
    }
    c->in_setup = 1;
    if (cs->setup_tail)
        cs->setup_tail->setup_next = c;
    else
        cs->setup = c;
    cs->setup_tail = c;
    cs->stats.open++;
    event_active(cs->setup_ev, 0, 0);
    return filter;
}

/* At most one line a second, with the count since the last one. */
static void log_accept_errors(fk_conns *cs)
{
    double now = fk_now();
    if (cs->errors_unlogged == 0 || now - cs->errors_logged_at < 1.0) return;
    fk_warn("accept() failed %u time(s) since the last report: %s (%d connections open, limit "
            "%d); closing the longest-idle connections, accepting again in %d ms",
            cs->errors_unlogged, strerror(cs->last_errno), cs->stats.open, cs->stats.max,
            ACCEPT_PAUSE_MS);
    cs->errors_logged_at = now;
    cs->errors_unlogged = 0;
}

/* The server's connections, for on_accept_error: a listener's error callback
 * gets the listener's argument, which is evhttp's. One server per process. */
static fk_conns *accepting;

/* accept() failed (out of descriptors): make room, pause, log with a count. */
static void on_accept_error(struct evconnlistener *lev, void *unused)
{
    fk_conns *cs = accepting;
    if (!cs) return;
    cs->last_errno = EVUTIL_SOCKET_ERROR();
    cs->stats.accept_errors++;
    cs->errors_unlogged++;
    log_accept_errors(cs);
    set_up_new(cs); /* connections of this accept burst become evictable */
    for (int i = 0; i < ACCEPT_ERROR_EVICT && evict_one(cs, NULL); i++) continue;
    evconnlistener_disable(lev);
    struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
    evtimer_add(cs->resume_accept, &tv);
}

static void on_resume_accept(evutil_socket_t fd, short what, void *arg)
{
    fk_conns *cs = arg;
    if (cs->listener && cs->gw->bound) evconnlistener_enable(cs->listener);
}

/* Every second: connections without a whole request head in time. */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    fk_conns *cs = arg;
    double now = fk_now(), t = header_timeout(cs);
    fk_conn *c;
    while ((c = cs->wait[WL_NEW].head) && now - c->since >= t) {
        cs->stats.timed_out++;
        c->no_linger = 1;
        drop(c, 0);
    }
    while ((c = cs->wait[WL_HEAD].head) && now - c->since >= t) {
        cs->stats.timed_out++;
        fk_api_error e;
        fk_api_error_set(&e, 408, "invalid_request_error", "request_timeout", NULL,
                         "the request head did not arrive within %g s (FK_HEADER_TIMEOUT_S)", t);
        refuse(c, &e);
    }
    log_accept_errors(cs);
}

/* ---- set-up and teardown ------------------------------------------------------------------------
 */

/* Raise the soft open-file limit to the hard one; the derived connection limit. */
static int derived_max(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
    rlim_t want = rl.rlim_max == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_max;
    if (want > (rlim_t)1 << 20) want = (rlim_t)1 << 20;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            fk_info("open-file limit raised from %llu to %llu", (unsigned long long)was,
                    (unsigned long long)want);
        else if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
            return 1024;
    }
    long cur = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > ((rlim_t)1 << 20) ? 1L << 20
                                                                               : (long)rl.rlim_cur;
    /* A proxied request holds two descriptors (client and upstream). */
    long n = (cur - RESERVED_FDS) / 2;
    return n < MIN_CONNECTIONS ? MIN_CONNECTIONS : (int)n;
}

int fk_conns_start(fk_gateway *gw, char *err, size_t err_len)
{
    fk_conns *cs = calloc(1, sizeof *cs);
    if (!cs) return snprintf(err, err_len, "out of memory"), -1;
    gw->conns = cs;
    cs->gw = gw;
    int derived = derived_max();
    int configured = gw->config->max_connections;
    cs->stats.max = configured > 0 ? configured : derived;
    if (configured > derived)
        fk_warn("FK_MAX_CONNECTIONS=%d is more than the open-file limit allows (%d); "
                "accept() may fail before the limit is reached",
                configured, derived);
    cs->setup_ev = event_new(gw->base, -1, 0, on_setup, cs);
    cs->sweep = event_new(gw->base, -1, EV_PERSIST, on_sweep, cs);
    cs->resume_accept = evtimer_new(gw->base, on_resume_accept, cs);
    struct timeval sec = {1, 0};
    if (!cs->setup_ev || !cs->sweep || !cs->resume_accept || event_add(cs->sweep, &sec) < 0)
        return snprintf(err, err_len, "cannot create the connection timers"), -1;
    cs->listener = evhttp_bound_socket_get_listener(gw->bound);
    if (cs->listener) {
        accepting = cs;
        evconnlistener_set_error_cb(cs->listener, on_accept_error);
    }
    evhttp_set_bevcb(gw->http, new_conn, cs);
    fk_info("accepting up to %d connections (FK_MAX_CONNECTIONS%s), header timeout %g s",
            cs->stats.max, configured > 0 ? "" : " from the open-file limit", header_timeout(cs));
    return 0;
}

void fk_conns_free(fk_gateway *gw)
{
    fk_conns *cs = gw->conns;
    if (!cs) return;
    /* evhttp is freed: its connections wait for libevent to finalize them.
     * Close their sockets now and let conn_free find no owner. */
    for (size_t fd = 0; fd < cs->by_fd_len; fd++) {
        fk_conn *c = cs->by_fd[fd];
        if (!c) continue;
        close(c->fd);
        c->cs = NULL;
    }
    for (fk_conn *c = cs->setup; c; c = c->setup_next) c->cs = NULL;
    while (cs->lingering) linger_end(cs->lingering);
    if (accepting == cs) accepting = NULL;
    if (cs->setup_ev) event_free(cs->setup_ev);
    if (cs->sweep) event_free(cs->sweep);
    if (cs->resume_accept) event_free(cs->resume_accept);
    free(cs->by_fd);
    free(cs);
    gw->conns = NULL;
}

void fk_conns_get_stats(const fk_gateway *gw, fk_conn_stats *out)
{
    if (gw->conns)
        *out = gw->conns->stats;
    else
        memset(out, 0, sizeof *out);
}
