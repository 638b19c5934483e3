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
struct fk_conns;
struct fk_response_store;

/* One configuration and the core it loaded. SIGHUP makes a new slot for new
 * requests; the old one serves its in-flight jobs, then is freed. */
typedef struct fk_slot {
    fk_config cfg;         /* the configuration this core was made with */
    fk_host_services host; /* services lent to its driver */
    fk_router router;      /* the loaded core */
    int host_ready;        /* host initialised (teardown needs to know) */
    int jobs;              /* jobs on this core not yet freed */
    struct fk_slot *next;  /* next retired slot */
} fk_slot;

typedef struct fk_gateway {
    fk_slot *slot;                       /* the current configuration and core */
    fk_slot *retired;                    /* older slots still finishing jobs */
    struct event *reaper;                /* frees idle retired slots outside driver callbacks */
    char reload_error[512];              /* why the last reload failed ("" if it did not) */
    struct event_base *base;             /* the loop */
    struct evhttp *http;                 /* the HTTP server */
    struct evhttp_bound_socket *bound;   /* the listening socket (NULL once closed) */
    struct fk_conns *conns;              /* connection limit, timeouts, framing guard (conn.c) */
    fk_metrics metrics;                  /* counters and histograms for /metrics */
    struct fk_job *jobs;                 /* generations in flight (doubly linked) */
    struct fk_response_store *responses; /* stored Responses API responses (all slots') */
    int n_jobs;                          /* length of `jobs` */
    int replies_in_flight;               /* job replies not yet written out */
    int shutting_down;                   /* 1 after SIGTERM/SIGINT */
    int grace_expired;                   /* 1 once in-flight requests were cancelled */
    struct event *sig_term;              /* SIGTERM handler */
    struct event *sig_int;               /* SIGINT handler */
    struct event *sig_hup;               /* SIGHUP handler: reload */
    struct event *grace_timer;           /* fires FK_SHUTDOWN_GRACE_S after the signal */
    struct event *stats_timer;           /* the periodic throughput line */
    struct event *drain_timer;           /* polls for written replies before exit */
    double drain_deadline;               /* fk_now() after which we exit anyway */
    double stats_last;                   /* fk_now() at the last throughput line */
    uint64_t next_id;                    /* counter for request and completion ids */
} fk_gateway;

/* Seconds since an arbitrary fixed point (monotonic). */
double fk_now(void);

/* shutdown.c: install SIGTERM/SIGINT handlers. */
int fk_shutdown_init(fk_gateway *gw);
/* Called whenever a job ends: exits the loop once shutting down and idle. */
void fk_shutdown_check(fk_gateway *gw);
/* slot.c: read the configuration at `path` (NULL: ./.env if present) and
 * open its core. NULL with err ("FILE:LINE: KEY: why", or the driver's
 * error); *config_error tells which. */
fk_slot *fk_slot_open(fk_gateway *gw, const char *path, int *config_error, char *err,
                      size_t err_len);
/* Destroy the core, unload the driver, free the configuration. */
void fk_slot_close(fk_slot *s);
/* A job on `s` ended (any thread state: only schedules the reaper). */
void fk_slot_job_ended(fk_gateway *gw, fk_slot *s);
/* SIGHUP: load the file again; on success new requests use the new core. */
void fk_reload(fk_gateway *gw);
/* Teardown: close the current and every retired slot. */
void fk_slots_free_all(fk_gateway *gw);
/* statslog.c: start the periodic throughput line (FK_STATS_INTERVAL_S). */
int fk_statslog_init(fk_gateway *gw);

#endif
