/* curl_loop.c: libcurl multi-socket on libevent (hiperfifo).
 *
 * curl tells us which sockets to watch (socket_cb) and when to call it
 * back (timer_cb); libevent tells us when a socket is ready or the timer
 * is due, and we hand that to curl_multi_socket_action, then collect
 * finished transfers. The timer callback never calls libcurl itself: it
 * only (re)arms a libevent timer, which fires from the loop. */
#include "curl_loop.h"

#include <event2/event.h>
#include <stdlib.h>

/* Finished easy handles kept for reuse (enough for the usual concurrency). */
#define POOL_MAX 64

struct fk_curl_loop {
    CURLM *multi;            /* the multi handle: connection cache, all transfers */
    struct event_base *base; /* the gateway's loop (borrowed) */
    struct event *timer;     /* curl's single timeout */
    int running;             /* transfers curl still counts as running */
    CURL *pool[POOL_MAX];    /* finished easy handles kept for reuse */
    int n_pool;              /* handles in pool */
};

/* Per-socket context (curl_multi_assign): the libevent event watching what curl asked for. */
typedef struct sock_ctx {
    struct event *ev; /* read/write interest on the socket */
} sock_ctx;

/* ---- finished transfers ------------------------------------------------------ */

/* Hand every finished transfer back to its owner. Runs after
 * curl_multi_socket_action returned, so owners may add or remove handles. */
static void check_done(fk_curl_loop *loop)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(loop->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;
        fk_curl_job *job = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&job);
        curl_multi_remove_handle(loop->multi, easy);
        if (job && job->done) job->done(job->owner, easy, result);
    }
}

/* ---- libevent -> curl ----------------------------------------------------------- */

static void on_socket_ready(evutil_socket_t fd, short what, void *arg)
{
    fk_curl_loop *loop = arg;
    int action =
        ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    curl_multi_socket_action(loop->multi, fd, action, &loop->running);
    check_done(loop);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    fk_curl_loop *loop = arg;
    curl_multi_socket_action(loop->multi, CURL_SOCKET_TIMEOUT, 0, &loop->running);
    check_done(loop);
}

/* ---- curl -> libevent ------------------------------------------------------------- */

/* CURLMOPT_TIMERFUNCTION: arm (or disarm, on -1) our timer. A zero timeout
 * becomes a zero-delay timer: curl must not be called from here. */
static int timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
    fk_curl_loop *loop = arg;
    if (timeout_ms < 0) {
        evtimer_del(loop->timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    return evtimer_add(loop->timer, &tv) == 0 ? 0 : -1;
}

/* CURLMOPT_SOCKETFUNCTION: watch, change or forget one socket. */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
    fk_curl_loop *loop = arg;
    sock_ctx *ctx = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (ctx) {
            event_free(ctx->ev);
            free(ctx);
            curl_multi_assign(loop->multi, fd, NULL);
        }
        return 0;
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                 ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (ctx) { /* new interest on the same event (curl changes it a few times a request) */
        event_del(ctx->ev);
        if (event_assign(ctx->ev, loop->base, fd, kind, on_socket_ready, loop) != 0) return -1;
        return event_add(ctx->ev, NULL) == 0 ? 0 : -1;
    }
    ctx = calloc(1, sizeof *ctx);
    if (!ctx) return -1;
    curl_multi_assign(loop->multi, fd, ctx);
    ctx->ev = event_new(loop->base, fd, kind, on_socket_ready, loop);
    if (!ctx->ev || event_add(ctx->ev, NULL) != 0) return -1;
    return 0;
}

/* ---- public ------------------------------------------------------------------------- */

fk_curl_loop *fk_curl_loop_new(struct event_base *base, long max_cached_connections)
{
    fk_curl_loop *loop = calloc(1, sizeof *loop);
    if (!loop) return NULL;
    loop->base = base;
    loop->multi = curl_multi_init();
    loop->timer = evtimer_new(base, on_timer, loop);
    if (!loop->multi || !loop->timer) {
        fk_curl_loop_free(loop);
        return NULL;
    }
    curl_multi_setopt(loop->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(loop->multi, CURLMOPT_SOCKETDATA, loop);
    curl_multi_setopt(loop->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(loop->multi, CURLMOPT_TIMERDATA, loop);
    curl_multi_setopt(loop->multi, CURLMOPT_MAXCONNECTS, max_cached_connections);
    return loop;
}

void fk_curl_loop_free(fk_curl_loop *loop)
{
    if (!loop) return;
    for (int i = 0; i < loop->n_pool; i++) curl_easy_cleanup(loop->pool[i]);
    loop->n_pool = 0;
    /* Cleaning up the multi closes cached connections (socket_cb REMOVE). */
    if (loop->multi) curl_multi_cleanup(loop->multi);
    if (loop->timer) event_free(loop->timer);
    free(loop);
}

int fk_curl_loop_add(fk_curl_loop *loop, CURL *easy)
{
    return curl_multi_add_handle(loop->multi, easy) == CURLM_OK ? 0 : -1;
}

void fk_curl_loop_remove(fk_curl_loop *loop, CURL *easy)
{
    curl_multi_remove_handle(loop->multi, easy);
}

CURL *fk_curl_loop_easy(fk_curl_loop *loop)
{
    if (loop->n_pool == 0) return curl_easy_init();
    return loop->pool[--loop->n_pool];
}

void fk_curl_loop_recycle(fk_curl_loop *loop, CURL *easy)
{
    if (!easy) return;
    if (loop->n_pool < POOL_MAX)
        loop->pool[loop->n_pool++] = easy;
    else
        curl_easy_cleanup(easy);
}
