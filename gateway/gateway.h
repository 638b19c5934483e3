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
struct fk_watch;

/* One core: the configuration it was made with and the driver it loaded.
 * A reload that changes a core loads a new slot beside it (`staged`); once
 * that one is ready, new requests go to it while the old one serves its
 * in-flight jobs, then is freed. */
typedef struct fk_slot {
    char *name;             /* "default", or the FK_CORES entry as written (owned) */
    char *fingerprint;      /* fk_config_fingerprint(&cfg): what a reload compares (owned) */
    char log_name[192];     /* its driver's log prefix: "llamacpp", "llamacpp[vllm.env]" */
    fk_config cfg;          /* the core's own configuration (fk_config_derive) */
    fk_host_services host;  /* services lent to its driver */
    fk_router router;       /* the loaded core */
    fk_core_stats *stats;   /* its series in /metrics (owned by the gateway's metrics) */
    int host_ready;         /* host initialised (teardown needs to know) */
    int jobs;               /* jobs on this core not yet freed */
    int retired;            /* 1: no longer takes requests; freed once `jobs` is 0 */
    struct fk_slot *staged; /* its replacement, loading beside it, or NULL */
    char reload_error[512]; /* why its last replacement failed ("" if none did) */
    struct fk_slot *next;   /* next retired slot */
} fk_slot;

typedef struct fk_gateway {
    fk_config *config;                   /* the main .env: the gateway-wide keys (owned) */
    fk_slot **cores;                     /* the cores new requests go to; cores[0] is the
                                            default core (the main .env's); array owned */
    size_t n_cores;                      /* entries in cores (at least 1 once started) */
    fk_slot *retired;                    /* older slots still finishing jobs */
    struct event *reaper;                /* frees idle retired slots outside driver callbacks */
    struct event *stage_timer;           /* looks at staged replacements until they are ready */
    struct fk_watch *watch;              /* watch.c: looks for changed .env files (owned) */
    char reload_error[1024];             /* why the last reload failed ("" if it did not) */
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
/* slot.c: open the core `cfg` describes (cfg is moved into the slot, also on
 * failure). NULL with err (the driver's error). */
fk_slot *fk_slot_open(fk_gateway *gw, const char *name, fk_config *cfg, char *err, size_t err_len);
/* Destroy the core, unload the driver, free the configuration. */
void fk_slot_close(fk_slot *s);
/* The core's health (detail: why not ready). */
fk_health fk_slot_health(const fk_slot *s, char *detail, size_t detail_len);
/* Take `s` out of service: it is freed once its last job ends. */
void fk_slot_retire(fk_gateway *gw, fk_slot *s);
/* A job on `s` ended (only schedules the reaper). */
void fk_slot_job_ended(fk_gateway *gw, fk_slot *s);
/* Teardown: close every core, staged and retired slot. */
void fk_slots_free_all(fk_gateway *gw);

/* cores.c: read the main .env at `path` (NULL: ./.env if present) and every
 * FK_CORES file, and open every core. -1 with err ("FILE:LINE: KEY: why", a
 * duplicate model id naming both files, or a driver's error); *config_error
 * tells a configuration error from a start-up failure. */
int fk_cores_start(fk_gateway *gw, const char *path, int *config_error, char *err, size_t err_len);
/* SIGHUP or a changed file: read the files again; add, remove and replace
 * the cores that changed (see cores.c). */
void fk_reload(fk_gateway *gw, const char *why);
/* The core a request's `model` goes to (NULL: the default core) and the name
 * it is served as (*name, borrowed); NULL when no core serves it. */
fk_slot *fk_cores_route(const fk_gateway *gw, const char *requested, const char **name);

/* watch.c: poll the .env files every FK_RELOAD_WATCH_MS (of gw->config, as
 * it is at each look; called again after a reload that may have turned it
 * on); a change that has held still for one period reloads. 0, or -1 on OOM. */
int fk_watch_init(fk_gateway *gw);
/* The files to watch: `main`'s own and its FK_CORES files (a main .env that
 * parsed, even when the reload then failed). */
void fk_watch_files(fk_gateway *gw, const fk_config *main);
/* Remember the files as they are now (a reload is about to read them). */
void fk_watch_mark(fk_gateway *gw);
void fk_watch_free(fk_gateway *gw);

/* statslog.c: start the periodic throughput line (FK_STATS_INTERVAL_S). */
int fk_statslog_init(fk_gateway *gw);

#endif
