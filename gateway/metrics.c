/* metrics.c: Prometheus text exposition of the gateway's counters. */
#include "metrics.h"

#include <event2/buffer.h>
#include <string.h>

static const double ttft_bounds[] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25, 0.5,
                                     0.75,  1.0,   2.5,  5.0,  7.5,  10.0, 20.0, 40.0, 80.0};
static const double itl_bounds[] = {0.001, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04,
                                    0.05,  0.075, 0.1,  0.15,  0.2,  0.3,   0.4,  0.5,
                                    0.75,  1.0,   2.5,  5.0,   7.5,  10.0};
static const double e2e_bounds[] = {0.01, 0.05, 0.1,  0.3,  0.5,  0.8,  1.0,  1.5,  2.0,  2.5,
                                    5.0,  10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0};

#define COUNT_OF(a) ((int)(sizeof(a) / sizeof *(a)))

void fk_metrics_init(fk_metrics *m)
{
    memset(m, 0, sizeof *m);
    m->ttft = (fk_histogram){.bounds = ttft_bounds, .n_bounds = COUNT_OF(ttft_bounds)};
    m->itl = (fk_histogram){.bounds = itl_bounds, .n_bounds = COUNT_OF(itl_bounds)};
    m->e2e = (fk_histogram){.bounds = e2e_bounds, .n_bounds = COUNT_OF(e2e_bounds)};
}

void fk_histogram_observe(fk_histogram *h, double v)
{
    int i = 0;
    while (i < h->n_bounds && v > h->bounds[i]) i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

void fk_metrics_count_reply(fk_metrics *m, const char *endpoint, int status)
{
    for (int i = 0; i < m->n_status; i++) {
        if (m->status[i].status == status && strcmp(m->status[i].endpoint, endpoint) == 0) {
            m->status[i].count++;
            return;
        }
    }
    if (m->n_status < FK_METRICS_MAX_STATUS)
        m->status[m->n_status++] = (fk_status_count){endpoint, status, 1};
}

/* Label values may not hold '"', '\\' or newlines unescaped. */
static void write_label(struct evbuffer *out, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            evbuffer_add_printf(out, "\\%c", *p);
        else if (*p == '\n')
            evbuffer_add(out, "\\n", 2);
        else
            evbuffer_add(out, p, 1);
    }
}

static void write_histogram(struct evbuffer *out, const char *name, const char *help,
                            const fk_histogram *h, const char *model)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i <= h->n_bounds; i++) {
        cum += h->counts[i];
        evbuffer_add_printf(out, "%s_bucket{model_name=\"", name);
        write_label(out, model);
        if (i < h->n_bounds)
            evbuffer_add_printf(out, "\",le=\"%g\"} %llu\n", h->bounds[i], (unsigned long long)cum);
        else
            evbuffer_add_printf(out, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    evbuffer_add_printf(out, "%s_sum{model_name=\"", name);
    write_label(out, model);
    evbuffer_add_printf(out, "\"} %.6f\n%s_count{model_name=\"", h->sum, name);
    write_label(out, model);
    evbuffer_add_printf(out, "\"} %llu\n", (unsigned long long)h->count);
}

static void write_scalar(struct evbuffer *out, const char *name, const char *type, const char *help,
                         const char *model, unsigned long long v)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s{model_name=\"", name, help, name, type,
                        name);
    write_label(out, model);
    evbuffer_add_printf(out, "\"} %llu\n", v);
}

static void write_gauge(struct evbuffer *out, const char *name, const char *help, const char *model,
                        double v)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s gauge\n%s{model_name=\"", name, help, name,
                        name);
    write_label(out, model);
    evbuffer_add_printf(out, "\"} %g\n", v);
}

/* What the engine knows; unknown values are left out. */
static void write_core(struct evbuffer *out, const fk_core_metrics *c, const char *model)
{
    if (c->kv_usage >= 0)
        write_gauge(out, "vllm:kv_cache_usage_perc", "KV cache usage (1 = full).", model,
                    c->kv_usage);
    write_scalar(out, "vllm:num_preemptions_total", "counter", "Sequences preempted.", model,
                 c->preemptions);
    write_scalar(out, "vllm:prefix_cache_queries_total", "counter",
                 "Prompt tokens looked up in the prefix cache.", model, c->prefix_queries);
    write_scalar(out, "vllm:prefix_cache_hits_total", "counter",
                 "Prompt tokens found in the prefix cache.", model, c->prefix_hits);
    if (c->backend) {
        evbuffer_add_printf(out,
                            "# HELP fk_core_backend_info The engine's compute backend.\n"
                            "# TYPE fk_core_backend_info gauge\nfk_core_backend_info{backend=\"");
        write_label(out, c->backend);
        evbuffer_add_printf(out, "\"} 1\n");
    }
}

void fk_metrics_write(const fk_metrics *m, const fk_core_metrics *core, const char *model,
                      struct evbuffer *out)
{
    if (core) write_core(out, core, model);
    write_scalar(out, "vllm:num_requests_running", "gauge", "Requests producing output.", model,
                 (unsigned long long)m->running);
    write_scalar(out, "vllm:num_requests_waiting", "gauge",
                 "Requests waiting for their first output.", model, (unsigned long long)m->waiting);
    write_scalar(out, "vllm:prompt_tokens_total", "counter", "Prompt tokens processed.", model,
                 m->prompt_tokens);
    write_scalar(out, "vllm:generation_tokens_total", "counter", "Generated tokens.", model,
                 m->generation_tokens);
    write_histogram(out, "vllm:time_to_first_token_seconds", "Time to first output piece.",
                    &m->ttft, model);
    write_histogram(out, "vllm:inter_token_latency_seconds", "Time between output pieces.", &m->itl,
                    model);
    write_histogram(out, "vllm:e2e_request_latency_seconds", "Request latency, end to end.",
                    &m->e2e, model);
    write_scalar(out, "fk_generations_cancelled_total", "counter",
                 "Generations cancelled (client gone or shutdown).", model, m->cancelled);
    write_scalar(out, "fk_generations_failed_total", "counter",
                 "Generations that ended with an error.", model, m->errors);
    evbuffer_add_printf(out, "# HELP fk_http_requests_total HTTP replies by endpoint and status.\n"
                             "# TYPE fk_http_requests_total counter\n");
    for (int i = 0; i < m->n_status; i++)
        evbuffer_add_printf(out, "fk_http_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n",
                            m->status[i].endpoint, m->status[i].status,
                            (unsigned long long)m->status[i].count);
}

/* One unlabelled series (the HTTP front's, not a model's). */
static void write_plain(struct evbuffer *out, const char *name, const char *type, const char *help,
                        unsigned long long v)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
                        v);
}

void fk_metrics_write_connections(const fk_conn_stats *s, struct evbuffer *out)
{
    write_plain(out, "fk_http_connections", "gauge", "Client connections open.",
                (unsigned long long)(s->open > 0 ? s->open : 0));
    write_plain(out, "fk_http_connections_limit", "gauge",
                "Client connections held at most (FK_MAX_CONNECTIONS).",
                (unsigned long long)s->max);
    write_plain(out, "fk_http_connections_evicted_total", "counter",
                "Idle connections closed to admit newer ones.", (unsigned long long)s->evicted);
    write_plain(out, "fk_http_connections_timed_out_total", "counter",
                "Connections closed without a whole request head (FK_HEADER_TIMEOUT_S).",
                (unsigned long long)s->timed_out);
    write_plain(out, "fk_http_refused_total", "counter",
                "Requests or connections refused before routing (framing errors, 503 when full).",
                (unsigned long long)s->refused);
    write_plain(out, "fk_http_accept_errors_total", "counter", "Failed accept() calls.",
                (unsigned long long)s->accept_errors);
}
