/* statslog.c: every FK_STATS_INTERVAL_S, one line per busy core in vLLM's
 * shape (vLLM names its engine the same way):
 * "Core NAME: Avg prompt throughput: X tokens/s, Avg generation throughput:
 *  Y tokens/s, Running: N reqs, Waiting: M reqs[, KV cache usage: Z%][,
 *  Prefix cache hit rate: H%]", the last two only when the driver's metrics()
 * knows them ("GPU KV cache usage" when its backend is CUDA). A core a reload
 * removed still gets its line while its last requests finish. */
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#include "log.h"

/* ", KV cache usage: Z%, Prefix cache hit rate: H%" as far as the core knows. */
static void core_part(const fk_slot *s, char *buf, size_t len)
{
    fk_core_metrics c;
    buf[0] = '\0';
    if (!s || !fk_router_core_metrics(&s->router, &c)) return;
    int n = 0;
    if (c.kv_usage >= 0)
        n = snprintf(buf, len, ", %sKV cache usage: %.1f%%",
                     c.backend && strncmp(c.backend, "cuda", 4) == 0 ? "GPU " : "",
                     c.kv_usage * 100);
    if (c.prefix_queries > 0 && n >= 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, ", Prefix cache hit rate: %.1f%%",
                 100.0 * (double)c.prefix_hits / (double)c.prefix_queries);
}

/* The serving core named `name`, or NULL (removed). */
static const fk_slot *core_named(const fk_gateway *gw, const char *name)
{
    for (size_t i = 0; i < gw->n_cores; i++)
        if (strcmp(gw->cores[i]->name, name) == 0) return gw->cores[i];
    return NULL;
}

static void log_core(const fk_gateway *gw, fk_core_stats *m, double dt)
{
    uint64_t dp = m->prompt_tokens - m->logged_prompt_tokens;
    uint64_t dg = m->generation_tokens - m->logged_generation_tokens;
    m->logged_prompt_tokens = m->prompt_tokens;
    m->logged_generation_tokens = m->generation_tokens;
    if (dp == 0 && dg == 0 && m->running == 0 && m->waiting == 0) return;
    char core[128];
    core_part(core_named(gw, m->core), core, sizeof core);
    fk_info("Core %s: Avg prompt throughput: %.1f tokens/s, Avg generation throughput: %.1f "
            "tokens/s, Running: %d reqs, Waiting: %d reqs%s",
            m->core, (double)dp / dt, (double)dg / dt, m->running, m->waiting, core);
}

static void on_stats_tick(evutil_socket_t fd, short what, void *arg)
{
    fk_gateway *gw = arg;
    double now = fk_now();
    double dt = now - gw->stats_last;
    gw->stats_last = now;
    if (dt <= 0) dt = 1;
    for (fk_core_stats *m = gw->metrics.cores; m; m = m->next) log_core(gw, m, dt);
}

int fk_statslog_init(fk_gateway *gw)
{
    gw->stats_last = fk_now();
    if (gw->config->stats_interval_s <= 0) return 0;
    gw->stats_timer = event_new(gw->base, -1, EV_PERSIST, on_stats_tick, gw);
    if (!gw->stats_timer) return -1;
    double s = gw->config->stats_interval_s;
    struct timeval tv = {(time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6)};
    return event_add(gw->stats_timer, &tv);
}
