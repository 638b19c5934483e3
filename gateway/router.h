/* router.h: one loaded core and the model names it answers to.
 *
 * FK_CORE_KIND (or FK_DRIVER) picks the driver. A core answers to the ids its
 * driver lists and to its FRONTEND_VLLM_MODEL (an alias); which core a
 * request goes to is decided over all of them (fk_cores_route, cores.c). */
#ifndef FK_GATEWAY_ROUTER_H
#define FK_GATEWAY_ROUTER_H

#include <stddef.h>

#include "driver.h"
#include "driver_loader.h"

struct fk_config;

typedef struct fk_router {
    fk_loaded_driver driver;     /* the plugin */
    fk_core *core;               /* its instance (NULL before create / after destroy) */
    const struct fk_config *cfg; /* the core's configuration (FRONTEND_VLLM_MODEL) */
} fk_router;

/* Load the configured driver and create its core. 0, or -1 with err. */
int fk_router_open(fk_router *r, const struct fk_config *cfg, const fk_host *host, char *err,
                   size_t err_len);
/* Destroy the core and unload the driver (every generation must be done). */
void fk_router_close(fk_router *r);
/* 1 when the core's driver lists `id` among its models. */
int fk_router_lists(const fk_router *r, const char *id);
/* The core's models: up to `max` entries of out (zeroed first); how many were filled. */
size_t fk_router_list_models(const fk_router *r, fk_model_info *out, size_t max);
/* The engine's gauges: 1 when the driver has metrics() (out filled as far as
 * it knows), 0 when not (out holds "unknown" values). */
int fk_router_core_metrics(const fk_router *r, fk_core_metrics *out);
/* The core's upstreams (the driver's replicas()): up to `max` entries of out
 * (zeroed first); how many were filled (0 when the driver shows none). */
size_t fk_router_replicas(const fk_router *r, fk_replica_info *out, size_t max);
/* The served model's name ("" when unknown). */
const char *fk_router_default_model(const fk_router *r);

#endif
