/* statslog.c: every FK_STATS_INTERVAL_S while busy, one line in vLLM's shape:
 * "Avg prompt throughput: X tokens/s, Avg generation throughput: Y tokens/s,
 *  Running: N reqs, Waiting: M reqs, GPU KV cache usage: 0.0%". */
#include <event2/event.h>

#include "gateway.h"
#include "log.h"

static void on_stats_tick(evutil_socket_t fd, short what, void *arg)
{
    fk_gateway *gw = arg;
    fk_metrics *m = &gw->metrics;
    double now = fk_now();
    double dt = now - gw->stats_last;
    uint64_t dp = m->prompt_tokens - m->logged_prompt_tokens;
    uint64_t dg = m->generation_tokens - m->logged_generation_tokens;
    gw->stats_last = now;
    m->logged_prompt_tokens = m->prompt_tokens;
    m->logged_generation_tokens = m->generation_tokens;
    if (dp == 0 && dg == 0 && m->running == 0 && m->waiting == 0) return;
    if (dt <= 0) dt = 1;
    fk_info("Avg prompt throughput: %.1f tokens/s, Avg generation throughput: %.1f tokens/s, "
            "Running: %d reqs, Waiting: %d reqs, GPU KV cache usage: 0.0%%",
            (double)dp / dt, (double)dg / dt, m->running, m->waiting);
}

int fk_statslog_init(fk_gateway *gw)
{
    gw->stats_last = fk_now();
    if (gw->slot->cfg.stats_interval_s <= 0) return 0;
    gw->stats_timer = event_new(gw->base, -1, EV_PERSIST, on_stats_tick, gw);
    if (!gw->stats_timer) return -1;
    double s = gw->slot->cfg.stats_interval_s;
    struct timeval tv = {(time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6)};
    return event_add(gw->stats_timer, &tv);
}
