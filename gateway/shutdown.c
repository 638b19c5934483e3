/* shutdown.c: signals. SIGHUP reloads the configuration (slot.c).
 * SIGTERM/SIGINT: stop accepting, let in-flight requests finish
 * within FK_SHUTDOWN_GRACE_S, then cancel them; exit the loop once every
 * reply is written (or after a short drain limit). A second signal cancels
 * at once. */
#include <event2/event.h>
#include <signal.h>

#include "gateway.h"
#include "job.h"
#include "log.h"
#include "server.h"

#define DRAIN_LIMIT_S 2.0 /* longest wait for replies to reach slow clients */

static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    fk_gateway *gw = arg;
    if (gw->replies_in_flight > 0 && fk_now() < gw->drain_deadline) return;
    fk_info("shutdown complete");
    event_base_loopexit(gw->base, NULL);
}

void fk_shutdown_check(fk_gateway *gw)
{
    if (!gw->shutting_down || gw->n_jobs > 0 || gw->drain_timer) return;
    gw->drain_deadline = fk_now() + DRAIN_LIMIT_S;
    gw->drain_timer = event_new(gw->base, -1, EV_PERSIST, on_drain_tick, gw);
    struct timeval tv = {0, 10 * 1000};
    event_add(gw->drain_timer, &tv);
}

static void cancel_all(fk_gateway *gw, const char *why)
{
    if (gw->grace_expired) return;
    gw->grace_expired = 1;
    if (gw->n_jobs > 0) fk_info("%s: cancelling %d request(s)", why, gw->n_jobs);
    fk_jobs_cancel_all(gw);
}

static void on_grace_expired(evutil_socket_t fd, short what, void *arg)
{
    cancel_all(arg, "shutdown grace period over");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    fk_gateway *gw = arg;
    if (gw->shutting_down) {
        cancel_all(gw, "second signal");
        return;
    }
    gw->shutting_down = 1;
    fk_info("%s: stopping; %d request(s) in flight, grace %.1f s",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", gw->n_jobs, gw->config->shutdown_grace_s);
    fk_server_stop_accepting(gw);
    if (gw->stats_timer) event_del(gw->stats_timer);
    double s = gw->config->shutdown_grace_s;
    struct timeval tv = {(time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6)};
    gw->grace_timer = evtimer_new(gw->base, on_grace_expired, gw);
    if (gw->grace_timer) evtimer_add(gw->grace_timer, &tv);
    fk_shutdown_check(gw);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    fk_gateway *gw = arg;
    if (!gw->shutting_down) fk_reload(gw, "SIGHUP");
}

int fk_shutdown_init(fk_gateway *gw)
{
    gw->sig_term = evsignal_new(gw->base, SIGTERM, on_signal, gw);
    gw->sig_int = evsignal_new(gw->base, SIGINT, on_signal, gw);
    gw->sig_hup = evsignal_new(gw->base, SIGHUP, on_hup, gw);
    if (!gw->sig_term || !gw->sig_int || !gw->sig_hup) return -1;
    if (evsignal_add(gw->sig_term, NULL) < 0 || evsignal_add(gw->sig_int, NULL) < 0 ||
        evsignal_add(gw->sig_hup, NULL) < 0)
        return -1;
    return 0;
}
