/* router.c: open one configured core; the model names it lists. */
#include "router.h"

#include <stdio.h>
#include <string.h>

#include "gateway_config.h"
#include "log.h"

int fk_router_open(fk_router *r, const struct fk_config *cfg, const fk_host *host, char *err,
                   size_t err_len)
{
    memset(r, 0, sizeof *r);
    r->cfg = cfg;
    if (fk_driver_load(cfg->driver_name, cfg->driver_dir, host, &r->driver, err, err_len) < 0)
        return -1;
    char why[512] = "";
    r->core = r->driver.table->create(host, why, sizeof why);
    if (!r->core) {
        snprintf(err, err_len, "%s: driver '%s' could not start: %s", r->driver.path,
                 r->driver.table->name ? r->driver.table->name : cfg->driver_name,
                 why[0] ? why : "no reason given");
        fk_driver_unload(&r->driver);
        return -1;
    }
    fk_info("driver %s %s loaded from %s", r->driver.table->name ? r->driver.table->name : "?",
            r->driver.table->version ? r->driver.table->version : "", r->driver.path);
    return 0;
}

void fk_router_close(fk_router *r)
{
    if (r->core) r->driver.table->destroy(r->core);
    r->core = NULL;
    fk_driver_unload(&r->driver);
}

size_t fk_router_list_models(const fk_router *r, fk_model_info *out, size_t max)
{
    memset(out, 0, max * sizeof *out);
    if (!r->core) return 0;
    size_t n = r->driver.table->list_models(r->core, out, max, sizeof *out);
    return n < max ? n : max;
}

int fk_router_core_metrics(const fk_router *r, fk_core_metrics *out)
{
    *out =
        (fk_core_metrics){.struct_size = sizeof *out, .kv_usage = -1, .running = -1, .waiting = -1};
    if (!r->core || !r->driver.table->metrics) return 0;
    r->driver.table->metrics(r->core, out);
    return 1;
}

const char *fk_router_default_model(const fk_router *r)
{
    if (r->cfg->frontend_model) return r->cfg->frontend_model;
    fk_model_info info[1];
    if (fk_router_list_models(r, info, 1) > 0 && info[0].id) return info[0].id;
    return "";
}

size_t fk_router_replicas(const fk_router *r, fk_replica_info *out, size_t max)
{
    memset(out, 0, max * sizeof *out);
    if (!r->core || !r->driver.table->replicas) return 0;
    size_t n = r->driver.table->replicas(r->core, out, max, sizeof *out);
    return n < max ? n : max;
}

int fk_router_lists(const fk_router *r, const char *id)
{
    fk_model_info info[16];
    size_t n = fk_router_list_models(r, info, 16);
    for (size_t i = 0; i < n; i++)
        if (info[i].id && strcmp(info[i].id, id) == 0) return 1;
    return 0;
}
