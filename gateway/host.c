/* host.c: log, config_get, event_base and a thread-safe post() for drivers. */
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

static const char *host_config_get(const fk_host *host, const char *key)
{
    return fk_config_get(services(host)->config, key);
}

static struct event_base *host_event_base(const fk_host *host)
{
    return services(host)->base;
}

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

/* Loop thread: take the whole queue, then run it outside the lock. */
static void drain(fk_host_services *h)
{
    pthread_mutex_lock(&h->lock);
    fk_post_item *it = h->head;
    h->head = h->tail = NULL;
    pthread_mutex_unlock(&h->lock);
    while (it) {
        fk_post_item *next = it->next;
        it->fn(it->arg);
        free(it);
        it = next;
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    drain(arg);
}

int fk_host_init(fk_host_services *h, const struct fk_config *cfg, struct event_base *base,
                 const char *driver_name)
{
    h->table.abi_version = FK_DRIVER_ABI_VERSION;
    h->table.struct_size = sizeof h->table;
    h->table.host_data = h;
    h->table.log = host_log;
    h->table.config_get = host_config_get;
    h->table.event_base = host_event_base;
    h->table.post = host_post;
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
    drain(h);
    event_free(h->wake);
    h->wake = NULL;
    pthread_mutex_destroy(&h->lock);
}
