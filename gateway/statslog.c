/* statslog.c: every FK_STATS_INTERVAL_S while busy, one line in vLLM's shape:
 * "Avg prompt throughput: X tokens/s, Avg generation throughput: Y tokens/s,
 *  Running: N reqs, Waiting: M reqs[, KV cache usage: Z%][, Prefix cache hit
 *  rate: H%]", the last two only when the driver's metrics() knows them
 * ("GPU KV cache usage" when its backend is CUDA). */
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#include "log.h"

/* ", KV cache usage: Z%, Prefix cache hit rate: H%" as far as the core knows. */
static void core_part(const fk_gateway *gw, char *buf, size_t len)
{
    fk_core_metrics c;
    buf[0] = '\0';
    if (!fk_router_core_metrics(&gw->slot->router, &c)) return;
    int n = 0;
    if (c.kv_usage >= 0)
        n = snprintf(buf, len, ", %sKV cache usage: %.1f%%",
                     c.backend && strncmp(c.backend, "cuda", 4) == 0 ? "GPU " : "",
                     c.kv_usage * 100);
    if (c.prefix_queries > 0 && n >= 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, ", Prefix cache hit rate: %.1f%%",
                 100.0 * (double)c.prefix_hits / (double)c.prefix_queries);
}

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
    char core[128];
    core_part(gw, core, sizeof core);
    fk_info("Avg prompt throughput: %.1f tokens/s, Avg generation throughput: %.1f tokens/s, "
            "Running: %d reqs, Waiting: %d reqs%s",
            (double)dp / dt, (double)dg / dt, m->running, m->waiting, core);
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
