/* host.c: the services a driver gets (fk_host): configuration through the
 * gateway's own parsers, log, a thread-safe post() and loop timers. */
#include "host.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdlib.h>

#include "gateway_config.h"
#include "log.h"

struct fk_post_item {
    void (*fn)(void *arg); /* work to run on the loop */
    void *arg;             /* its argument */
    fk_post_item *next;    /* next in the queue */
};

struct fk_timer {
    struct event *ev;      /* a one-shot timer event on the loop */
    void (*fn)(void *arg); /* the driver's callback */
    void *arg;             /* its argument */
};

static fk_host_services *services(const fk_host *host)
{
    return (fk_host_services *)host->host_data;
}

static void host_log(const fk_host *host, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fk_logv(level, services(host)->driver_name, fmt, ap);
    va_end(ap);
}

/* ---- configuration ------------------------------------------------------------------- */

static const char *host_config_get(const fk_host *host, const char *key)
{
    return fk_config_get(services(host)->config, key);
}

static int host_config_int(const fk_host *host, const char *key, long long def, long long min,
                           long long max, long long *out, char *err, size_t err_len)
{
    return fk_config_int(services(host)->config, key, def, min, max, out, err, err_len);
}

static int host_config_double(const fk_host *host, const char *key, double def, double min,
                              double max, double *out, char *err, size_t err_len)
{
    return fk_config_double(services(host)->config, key, def, min, max, out, err, err_len);
}

static int host_config_bool(const fk_host *host, const char *key, int def, int *out, char *err,
                            size_t err_len)
{
    return fk_config_bool(services(host)->config, key, def, out, err, err_len);
}

static int host_config_path(const fk_host *host, const char *key, char **out, char *err,
                            size_t err_len)
{
    return fk_config_path(services(host)->config, key, out, err, err_len);
}

static const fk_core_config *host_core_config(const fk_host *host)
{
    return &services(host)->core;
}

static void fill_core_config(fk_core_config *c, const fk_config *cfg)
{
    *c = (fk_core_config){
        .struct_size = sizeof *c,
        .core_kind = cfg->core_kind,
        .api_base = cfg->core_api_base,
        .model_id = cfg->frontend_model,
        .model_path = cfg->model_path,
        .max_model_len = cfg->max_model_len,
        .gpu_memory_utilization = cfg->gpu_memory_utilization,
        .default_max_tokens = cfg->default_max_tokens,
        .use_harmony = cfg->use_harmony,
        .env_dir = cfg->env_dir,
    };
}

/* ---- post ---------------------------------------------------------------------------- */

/* Any thread: queue fn(arg) and wake the loop. */
static int host_post(const fk_host *host, void (*fn)(void *arg), void *arg)
{
    fk_host_services *h = services(host);
    fk_post_item *it = malloc(sizeof *it);
    if (!it) return -1;
    *it = (fk_post_item){fn, arg, NULL};
    pthread_mutex_lock(&h->lock);
    if (h->tail)
        h->tail->next = it;
    else
        h->head = it;
    h->tail = it;
    pthread_mutex_unlock(&h->lock);
    event_active(h->wake, EV_READ, 0);
    return 0;
}

/* Loop thread: take the whole queue; run it outside the lock, or drop it. */
static void drain(fk_host_services *h, int run)
{
    pthread_mutex_lock(&h->lock);
    fk_post_item *it = h->head;
    h->head = h->tail = NULL;
    pthread_mutex_unlock(&h->lock);
    while (it) {
        fk_post_item *next = it->next;
        if (run) it->fn(it->arg);
        free(it);
        it = next;
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    drain(arg, 1);
}

/* ---- timers -------------------------------------------------------------------------- */

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    fk_timer *t = arg;
    t->fn(t->arg);
}

static fk_timer *host_timer_new(const fk_host *host, void (*fn)(void *arg), void *arg)
{
    fk_timer *t = malloc(sizeof *t);
    if (!t) return NULL;
    *t = (fk_timer){NULL, fn, arg};
    t->ev = evtimer_new(services(host)->base, on_timer, t);
    if (!t->ev) {
        free(t);
        return NULL;
    }
    return t;
}

static void host_timer_arm(fk_timer *t, double ms)
{
    if (!(ms > 0)) ms = 0;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(((long long)(ms * 1000)) % 1000000)};
    evtimer_add(t->ev, &tv);
}

static void host_timer_stop(fk_timer *t)
{
    evtimer_del(t->ev);
}

static void host_timer_free(fk_timer *t)
{
    if (!t) return;
    event_free(t->ev);
    free(t);
}

static struct event_base *host_event_base(const fk_host *host)
{
    return services(host)->base;
}

int fk_host_init(fk_host_services *h, const struct fk_config *cfg, struct event_base *base,
                 const char *driver_name)
{
    h->table = (fk_host){
        .abi_version = FK_DRIVER_ABI_VERSION,
        .struct_size = sizeof h->table,
        .host_data = h,
        .log = host_log,
        .config_get = host_config_get,
        .config_int = host_config_int,
        .config_double = host_config_double,
        .config_bool = host_config_bool,
        .config_path = host_config_path,
        .core_config = host_core_config,
        .post = host_post,
        .timer_new = host_timer_new,
        .timer_arm = host_timer_arm,
        .timer_stop = host_timer_stop,
        .timer_free = host_timer_free,
        .event_base = host_event_base,
    };
    fill_core_config(&h->core, cfg);
    h->config = cfg;
    h->base = base;
    h->driver_name = driver_name;
    h->head = h->tail = NULL;
    if (pthread_mutex_init(&h->lock, NULL) != 0) return -1;
    h->wake = event_new(base, -1, 0, on_wake, h);
    return h->wake ? 0 : -1;
}

void fk_host_clear(fk_host_services *h)
{
    if (!h->wake) return;
    drain(h, 0);
    event_free(h->wake);
    h->wake = NULL;
    pthread_mutex_destroy(&h->lock);
}
