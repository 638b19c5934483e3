/* metrics.h: counters, gauges and histograms for GET /metrics (Prometheus text).
 *
 * vLLM's names where the meaning is the same (vllm:time_to_first_token_seconds,
 * vllm:inter_token_latency_seconds, vllm:e2e_request_latency_seconds,
 * vllm:prompt_tokens_total, vllm:generation_tokens_total,
 * vllm:num_requests_running, vllm:num_requests_waiting); fk_ for the rest
 * (fk_http_requests_total{endpoint,status}). Engine gauges come from the
 * driver's optional metrics() (vllm:kv_cache_usage_perc,
 * vllm:num_preemptions_total, vllm:prefix_cache_queries_total,
 * vllm:prefix_cache_hits_total, fk_core_backend_info{backend}), each only
 * when the core knows it; replica series from its optional replicas()
 * (fk_replica_*{replica=URL}). Every series but the HTTP front's
 * (fk_http_requests_total, the connection counters: fk_http_connections,
 * ..._evicted_total, ..._timed_out_total, fk_http_refused_total,
 * fk_http_accept_errors_total) is labelled core=NAME ("default", or the
 * FK_CORES entry) and model_name=MODEL (the core's served model), one sample
 * per core. Loop thread only. */
#ifndef FK_GATEWAY_METRICS_H
#define FK_GATEWAY_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "driver.h"

struct evbuffer;

#define FK_HIST_MAX_BUCKETS 24
#define FK_METRICS_MAX_STATUS 64

typedef struct fk_histogram {
    const double *bounds;                     /* upper bounds, ascending (+Inf implied) */
    int n_bounds;                             /* entries in bounds */
    uint64_t counts[FK_HIST_MAX_BUCKETS + 1]; /* per bucket, not cumulative; last is +Inf */
    double sum;                               /* sum of observations */
    uint64_t count;                           /* number of observations */
} fk_histogram;

typedef struct fk_status_count {
    const char *endpoint; /* static string, e.g. "/v1/chat/completions" */
    int status;           /* HTTP status */
    uint64_t count;       /* replies sent */
} fk_status_count;

/* The HTTP front's connection counters (kept by conn.c). */
typedef struct fk_conn_stats {
    int open;               /* connections evhttp holds */
    int max;                /* the limit in effect */
    uint64_t evicted;       /* closed to admit a newer one */
    uint64_t timed_out;     /* closed by the header timeout */
    uint64_t refused;       /* requests or connections answered with a framing error or 503 */
    uint64_t accept_errors; /* failed accept() calls */
} fk_conn_stats;

/* One core's series. Kept by core name for the gateway's lifetime, so the
 * counters of a core that a reload replaced go on. */
typedef struct fk_core_stats {
    char *core;                 /* the core's name (owned) */
    fk_histogram ttft;          /* vllm:time_to_first_token_seconds */
    fk_histogram itl;           /* vllm:inter_token_latency_seconds */
    fk_histogram e2e;           /* vllm:e2e_request_latency_seconds */
    uint64_t prompt_tokens;     /* vllm:prompt_tokens_total */
    uint64_t generation_tokens; /* vllm:generation_tokens_total */
    int running;                /* generations that produced output */
    int waiting;                /* generations not yet producing output */
    uint64_t cancelled;         /* fk_generations_cancelled_total */
    uint64_t errors;            /* fk_generations_failed_total */
    /* for the periodic log line: totals at the last line */
    uint64_t logged_prompt_tokens;     /* prompt_tokens when last logged */
    uint64_t logged_generation_tokens; /* generation_tokens when last logged */
    struct fk_core_stats *next;        /* the next core's */
} fk_core_stats;

typedef struct fk_metrics {
    fk_core_stats *cores;                          /* per core, in order of first use */
    fk_status_count status[FK_METRICS_MAX_STATUS]; /* fk_http_requests_total */
    int n_status;                                  /* entries used in status */
} fk_metrics;

/* What the exposition shows of one core: its series and what its driver
 * says now. Borrowed for the fk_metrics_write call. */
typedef struct fk_metrics_view {
    const fk_core_stats *stats;      /* the core's series */
    const char *model;               /* its model_name label */
    const fk_core_metrics *engine;   /* the driver's gauges, or NULL (it has none) */
    const fk_replica_info *replicas; /* its upstreams (replicas()), or NULL */
    size_t n_replicas;               /* entries in replicas */
} fk_metrics_view;

void fk_metrics_init(fk_metrics *m);
void fk_metrics_free(fk_metrics *m);
/* Core `name`'s series, made on first use. NULL on OOM. */
fk_core_stats *fk_metrics_core(fk_metrics *m, const char *name);
void fk_histogram_observe(fk_histogram *h, double v);
void fk_metrics_count_reply(fk_metrics *m, const char *endpoint, int status);
/* Append the exposition text: each family once, with one sample per view. */
void fk_metrics_write(const fk_metrics *m, const fk_metrics_view *views, size_t n_views,
                      struct evbuffer *out);

/* The connection counters. */
void fk_metrics_write_connections(const fk_conn_stats *s, struct evbuffer *out);

#endif
