/* metrics.c: Prometheus text exposition of the gateway's counters. */
#include "metrics.h"

#include <event2/buffer.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
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
}

void fk_metrics_free(fk_metrics *m)
{
    while (m->cores) {
        fk_core_stats *c = m->cores;
        m->cores = c->next;
        free(c->core);
        free(c);
    }
}

fk_core_stats *fk_metrics_core(fk_metrics *m, const char *name)
{
    fk_core_stats **pp = &m->cores;
    for (; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->core, name) == 0) return *pp;
    fk_core_stats *c = calloc(1, sizeof *c);
    if (!c || !(c->core = strdup(name))) {
        free(c);
        return NULL;
    }
    c->ttft = (fk_histogram){.bounds = ttft_bounds, .n_bounds = COUNT_OF(ttft_bounds)};
    c->itl = (fk_histogram){.bounds = itl_bounds, .n_bounds = COUNT_OF(itl_bounds)};
    c->e2e = (fk_histogram){.bounds = e2e_bounds, .n_bounds = COUNT_OF(e2e_bounds)};
    *pp = c;
    return c;
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

/* ---- text -------------------------------------------------------------------------- */

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

/* NAME{core="C",model_name="M" (the caller closes the braces) */
static void open_sample(struct evbuffer *out, const char *name, const fk_metrics_view *v)
{
    evbuffer_add_printf(out, "%s{core=\"", name);
    write_label(out, v->stats->core);
    evbuffer_add(out, "\",model_name=\"", 14);
    write_label(out, v->model ? v->model : "");
    evbuffer_add(out, "\"", 1);
}

static void header(struct evbuffer *out, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One value of a family for one core; 0 when the core does not know it. */
typedef int (*value_fn)(const fk_metrics_view *v, double *out);

/* A family with one sample per core that knows it (no header when none does). */
static void family(struct evbuffer *out, const char *name, const char *type, const char *help,
                   const fk_metrics_view *views, size_t n, value_fn get)
{
    int started = 0;
    for (size_t i = 0; i < n; i++) {
        double x;
        if (!get(&views[i], &x)) continue;
        if (!started++) header(out, name, type, help);
        open_sample(out, name, &views[i]);
        evbuffer_add_printf(out, "} %.15g\n", x);
    }
}

static void histogram(struct evbuffer *out, const char *name, const char *help,
                      const fk_metrics_view *views, size_t n, size_t offset)
{
    header(out, name, "histogram", help);
    for (size_t k = 0; k < n; k++) {
        const fk_histogram *h = (const fk_histogram *)((const char *)views[k].stats + offset);
        char bucket[128];
        snprintf(bucket, sizeof bucket, "%s_bucket", name);
        uint64_t cum = 0;
        for (int i = 0; i <= h->n_bounds; i++) {
            cum += h->counts[i];
            open_sample(out, bucket, &views[k]);
            if (i < h->n_bounds)
                evbuffer_add_printf(out, ",le=\"%g\"} %llu\n", h->bounds[i],
                                    (unsigned long long)cum);
            else
                evbuffer_add_printf(out, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        }
        char sum[128], count[128];
        snprintf(sum, sizeof sum, "%s_sum", name);
        snprintf(count, sizeof count, "%s_count", name);
        open_sample(out, sum, &views[k]);
        evbuffer_add_printf(out, "} %.6f\n", h->sum);
        open_sample(out, count, &views[k]);
        evbuffer_add_printf(out, "} %llu\n", (unsigned long long)h->count);
    }
}

/* The per-core values, one getter each. */
#define STAT(fn, expr)                                                                             \
    static int fn(const fk_metrics_view *v, double *out)                                           \
    {                                                                                              \
        *out = (double)(expr);                                                                     \
        return 1;                                                                                  \
    }
STAT(get_running, v->stats->running)
STAT(get_waiting, v->stats->waiting)
STAT(get_prompt, v->stats->prompt_tokens)
STAT(get_generation, v->stats->generation_tokens)
STAT(get_cancelled, v->stats->cancelled)
STAT(get_errors, v->stats->errors)
#undef STAT

#define ENGINE(fn, expr, known)                                                                    \
    static int fn(const fk_metrics_view *v, double *out)                                           \
    {                                                                                              \
        const fk_core_metrics *c = v->engine;                                                      \
        if (!c || !(known)) return 0;                                                              \
        *out = (double)(expr);                                                                     \
        return 1;                                                                                  \
    }
ENGINE(get_kv_usage, c->kv_usage, c->kv_usage >= 0)
ENGINE(get_preemptions, c->preemptions, 1)
ENGINE(get_prefix_queries, c->prefix_queries, 1)
ENGINE(get_prefix_hits, c->prefix_hits, 1)
#undef ENGINE

static void write_backend(struct evbuffer *out, const fk_metrics_view *views, size_t n)
{
    int started = 0;
    for (size_t i = 0; i < n; i++) {
        if (!views[i].engine || !views[i].engine->backend) continue;
        if (!started++)
            header(out, "fk_core_backend_info", "gauge", "The engine's compute backend.");
        open_sample(out, "fk_core_backend_info", &views[i]);
        evbuffer_add(out, ",backend=\"", 10);
        write_label(out, views[i].engine->backend);
        evbuffer_add_printf(out, "\"} 1\n");
    }
}

/* ---- replicas ----------------------------------------------------------------------- */

typedef struct replica_family {
    const char *name; /* series name */
    const char *type; /* counter or gauge */
    const char *help; /* HELP text */
    /* the value, 0 when unknown */
    int (*get)(const fk_replica_info *r, double *out);
} replica_family;

#define REPLICA(fn, expr, known)                                                                   \
    static int fn(const fk_replica_info *r, double *out)                                           \
    {                                                                                              \
        if (!(known)) return 0;                                                                    \
        *out = (double)(expr);                                                                     \
        return 1;                                                                                  \
    }
REPLICA(rep_up, r->health == FK_HEALTH_READY, 1)
REPLICA(rep_running, r->in_flight, 1)
REPLICA(rep_requests, r->requests, 1)
REPLICA(rep_failures, r->failures, 1)
REPLICA(rep_retries, r->retries, 1)
REPLICA(rep_sticky, r->sticky, 1)
REPLICA(rep_slots, r->slots_total, r->slots_total >= 0)
REPLICA(rep_idle, r->slots_idle, r->slots_idle >= 0)
#undef REPLICA

static const replica_family replica_families[] = {
    {"fk_replica_up", "gauge", "1 while the replica is ready.", rep_up},
    {"fk_replica_requests_running", "gauge", "This core's requests on the replica now.",
     rep_running},
    {"fk_replica_requests_total", "counter", "Requests sent to the replica.", rep_requests},
    {"fk_replica_failures_total", "counter",
     "Requests on the replica that ended with a transport failure or an upstream error.",
     rep_failures},
    {"fk_replica_retries_total", "counter",
     "Requests moved from the replica to another before any output.", rep_retries},
    {"fk_replica_sticky_total", "counter",
     "Requests sent to the replica because it held their prompt's prefix.", rep_sticky},
    {"fk_replica_slots", "gauge", "The replica's generation slots (llama-server /slots).",
     rep_slots},
    {"fk_replica_slots_idle", "gauge", "Of those, idle at the last look.", rep_idle},
};

static void write_replicas(struct evbuffer *out, const fk_metrics_view *views, size_t n)
{
    for (int f = 0; f < COUNT_OF(replica_families); f++) {
        const replica_family *rf = &replica_families[f];
        int started = 0;
        for (size_t i = 0; i < n; i++) {
            for (size_t k = 0; k < views[i].n_replicas; k++) {
                const fk_replica_info *r = &views[i].replicas[k];
                double x;
                if (!rf->get(r, &x)) continue;
                if (!started++) header(out, rf->name, rf->type, rf->help);
                open_sample(out, rf->name, &views[i]);
                evbuffer_add(out, ",replica=\"", 10);
                write_label(out, r->url ? r->url : "");
                evbuffer_add_printf(out, "\"} %.15g\n", x);
            }
        }
    }
}

void fk_metrics_write(const fk_metrics *m, const fk_metrics_view *v, size_t n, struct evbuffer *out)
{
    family(out, "vllm:kv_cache_usage_perc", "gauge", "KV cache usage (1 = full).", v, n,
           get_kv_usage);
    family(out, "vllm:num_preemptions_total", "counter", "Sequences preempted.", v, n,
           get_preemptions);
    family(out, "vllm:prefix_cache_queries_total", "counter",
           "Prompt tokens looked up in the prefix cache.", v, n, get_prefix_queries);
    family(out, "vllm:prefix_cache_hits_total", "counter",
           "Prompt tokens found in the prefix cache.", v, n, get_prefix_hits);
    write_backend(out, v, n);
    family(out, "vllm:num_requests_running", "gauge", "Requests producing output.", v, n,
           get_running);
    family(out, "vllm:num_requests_waiting", "gauge", "Requests waiting for their first output.", v,
           n, get_waiting);
    family(out, "vllm:prompt_tokens_total", "counter", "Prompt tokens processed.", v, n,
           get_prompt);
    family(out, "vllm:generation_tokens_total", "counter", "Generated tokens.", v, n,
           get_generation);
    histogram(out, "vllm:time_to_first_token_seconds", "Time to first output piece.", v, n,
              offsetof(fk_core_stats, ttft));
    histogram(out, "vllm:inter_token_latency_seconds", "Time between output pieces.", v, n,
              offsetof(fk_core_stats, itl));
    histogram(out, "vllm:e2e_request_latency_seconds", "Request latency, end to end.", v, n,
              offsetof(fk_core_stats, e2e));
    family(out, "fk_generations_cancelled_total", "counter",
           "Generations cancelled (client gone or shutdown).", v, n, get_cancelled);
    family(out, "fk_generations_failed_total", "counter", "Generations that ended with an error.",
           v, n, get_errors);
    write_replicas(out, v, n);
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
