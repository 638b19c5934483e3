/* gateway.h: the one fk_gateway object that ties the modules together.
 *
 * Everything here lives on the loop thread, except fk_host.post/log, which
 * drivers may call from any thread. */
#ifndef FK_GATEWAY_GATEWAY_H
#define FK_GATEWAY_GATEWAY_H

#include <stdint.h>

#include "gateway_config.h"
#include "driver.h"
#include "host.h"
#include "metrics.h"
#include "router.h"

struct event_base;
struct evhttp;
struct evhttp_bound_socket;
struct event;
struct fk_job;

typedef struct fk_gateway {
    fk_config cfg;                     /* configuration, read once at start */
    struct event_base *base;           /* the loop */
    struct evhttp *http;               /* the HTTP server */
    struct evhttp_bound_socket *bound; /* the listening socket (NULL once closed) */
    fk_host_services host;             /* services lent to the driver */
    fk_router router;                  /* the loaded core */
    fk_metrics metrics;                /* counters and histograms for /metrics */
    struct fk_job *jobs;               /* generations in flight (doubly linked) */
    int n_jobs;                        /* length of `jobs` */
    int replies_in_flight;             /* job replies not yet written out */
    int shutting_down;                 /* 1 after SIGTERM/SIGINT */
    int grace_expired;                 /* 1 once in-flight requests were cancelled */
    struct event *sig_term;            /* SIGTERM handler */
    struct event *sig_int;             /* SIGINT handler */
    struct event *grace_timer;         /* fires FK_SHUTDOWN_GRACE_S after the signal */
    struct event *stats_timer;         /* the periodic throughput line */
    struct event *drain_timer;         /* polls for written replies before exit */
    double drain_deadline;             /* fk_now() after which we exit anyway */
    double stats_last;                 /* fk_now() at the last throughput line */
    uint64_t next_id;                  /* counter for request and completion ids */
} fk_gateway;

/* Seconds since an arbitrary fixed point (monotonic). */
double fk_now(void);

/* shutdown.c: install SIGTERM/SIGINT handlers. */
int fk_shutdown_init(fk_gateway *gw);
/* Called whenever a job ends: exits the loop once shutting down and idle. */
void fk_shutdown_check(fk_gateway *gw);
/* statslog.c: start the periodic throughput line (FK_STATS_INTERVAL_S). */
int fk_statslog_init(fk_gateway *gw);

#endif
