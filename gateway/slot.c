/* slot.c: one core (a configuration and the driver it loaded), and the
 * retirement of cores a reload replaced or removed.
 *
 * A retired slot takes no new requests; it is freed from the reaper event
 * once its last job ended, never from inside a driver's own callback (its
 * code may still be on the stack). */
#include <config.h>

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "log.h"

void fk_slot_close(fk_slot *s)
{
    if (!s) return;
    fk_slot_close(s->staged);
    fk_router_close(&s->router);
    if (s->host_ready) fk_host_clear(&s->host);
    fk_config_free(&s->cfg);
    free(s->name);
    free(s->fingerprint);
    free(s);
}

fk_slot *fk_slot_open(fk_gateway *gw, const char *name, fk_config *cfg, char *err, size_t err_len)
{
    fk_slot *s = calloc(1, sizeof *s);
    if (!s) {
        fk_config_free(cfg);
        return snprintf(err, err_len, "out of memory"), NULL;
    }
    s->cfg = *cfg; /* moved */
    memset(cfg, 0, sizeof *cfg);
    s->name = strdup(name);
    s->fingerprint = fk_config_fingerprint(&s->cfg);
    s->stats = fk_metrics_core(&gw->metrics, name);
    if (!s->name || !s->fingerprint || !s->stats) {
        fk_slot_close(s);
        return snprintf(err, err_len, "out of memory"), NULL;
    }
    if (strcmp(name, "default") == 0)
        snprintf(s->log_name, sizeof s->log_name, "%s", s->cfg.driver_name);
    else
        snprintf(s->log_name, sizeof s->log_name, "%s[%s]", s->cfg.driver_name, name);
    fk_info("core %s: %s, driver %s, config %s", name, s->cfg.core_kind, s->cfg.driver_name,
            s->cfg.env_path ? s->cfg.env_path : "(environment only)");
    if (fk_host_init(&s->host, &s->cfg, gw->base, s->log_name) < 0) {
        snprintf(err, err_len, "cannot set up host services");
        fk_slot_close(s);
        return NULL;
    }
    s->host_ready = 1;
    if (fk_router_open(&s->router, &s->cfg, &s->host.table, err, err_len) < 0) {
        fk_slot_close(s);
        return NULL;
    }
    return s;
}

fk_health fk_slot_health(const fk_slot *s, char *detail, size_t detail_len)
{
    detail[0] = '\0';
    return s->router.driver.table->health(s->router.core, detail, detail_len);
}

/* The reaper: free retired slots that have no jobs left. */
static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    fk_gateway *gw = arg;
    fk_slot **pp = &gw->retired;
    while (*pp) {
        fk_slot *s = *pp;
        if (s->jobs > 0) {
            pp = &s->next;
            continue;
        }
        *pp = s->next;
        fk_info("core %s: unloading the previous core (driver %s)", s->name, s->cfg.driver_name);
        fk_slot_close(s);
    }
}

static void schedule_reap(fk_gateway *gw)
{
    if (!gw->reaper) gw->reaper = event_new(gw->base, -1, 0, on_reap, gw);
    if (gw->reaper) event_active(gw->reaper, 0, 0);
}

void fk_slot_retire(fk_gateway *gw, fk_slot *s)
{
    fk_slot_close(s->staged);
    s->staged = NULL;
    s->retired = 1;
    s->next = gw->retired;
    gw->retired = s;
    schedule_reap(gw);
}

void fk_slot_job_ended(fk_gateway *gw, fk_slot *s)
{
    s->jobs--;
    if (s->retired && s->jobs == 0) schedule_reap(gw);
}

void fk_slots_free_all(fk_gateway *gw)
{
    while (gw->retired) {
        fk_slot *s = gw->retired;
        gw->retired = s->next;
        fk_slot_close(s);
    }
    for (size_t i = 0; i < gw->n_cores; i++) fk_slot_close(gw->cores[i]);
    free(gw->cores);
    gw->cores = NULL;
    gw->n_cores = 0;
    if (gw->reaper) event_free(gw->reaper);
    gw->reaper = NULL;
}
