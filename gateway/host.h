/* host.h: the fk_host services table lent to drivers: configuration (raw,
 * typed and the shared keys), logging, the post queue, timers. */
#ifndef FK_GATEWAY_HOST_H
#define FK_GATEWAY_HOST_H

#include <pthread.h>

#include "driver.h"

struct event_base;
struct event;
struct fk_config;
typedef struct fk_post_item fk_post_item;

typedef struct fk_host_services {
    fk_host table;                  /* what drivers see; host_data points back here */
    fk_core_config core;            /* the shared keys, as core_config() hands them out */
    const struct fk_config *config; /* for config_get and the typed getters */
    struct event_base *base;        /* the loop */
    const char *driver_name;        /* log prefix */
    pthread_mutex_t lock;           /* guards the queue below */
    fk_post_item *head;             /* posted work, oldest first */
    fk_post_item *tail;             /* last posted item */
    struct event *wake;             /* made active by post() to drain the queue */
} fk_host_services;

/* Fill the table and create the wake event. 0, or -1 on failure. */
int fk_host_init(fk_host_services *h, const struct fk_config *cfg, struct event_base *base,
                 const char *driver_name);
/* Drop what is still queued (the driver is gone), then free the event. */
void fk_host_clear(fk_host_services *h);

#endif
