/* slot.c: a configuration and the core it loaded, and SIGHUP reloads.
 *
 * A reload reads the same file again. When it parses and the new core starts,
 * new requests go to the new slot while the old one finishes its jobs; it is
 * freed afterwards from the reaper event, never from inside a driver's own
 * callback (its code may still be on the stack). When the reload fails, the
 * old slot stays and /health shows the error. */
#include <config.h>

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "log.h"

void fk_slot_close(fk_slot *s)
{
    if (!s) return;
    fk_router_close(&s->router);
    if (s->host_ready) fk_host_clear(&s->host);
    fk_config_free(&s->cfg);
    free(s);
}

fk_slot *fk_slot_open(fk_gateway *gw, const char *path, int *config_error, char *err,
                      size_t err_len)
{
    fk_slot *s = calloc(1, sizeof *s);
    if (!s) return snprintf(err, err_len, "out of memory"), NULL;
    *config_error = 0;
    if (fk_config_load(&s->cfg, path, err, err_len) < 0) {
        *config_error = 1;
        fk_slot_close(s);
        return NULL;
    }
    fk_log_set_level(s->cfg.log_level);
    fk_info("fk-gateway %s: core %s, driver %s, config %s", PACKAGE_VERSION, s->cfg.core_kind,
            s->cfg.driver_name, s->cfg.env_path ? s->cfg.env_path : "(environment only)");
    if (fk_host_init(&s->host, &s->cfg, gw->base, s->cfg.driver_name) < 0) {
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
        fk_info("unloading the previous core (driver %s)", s->cfg.driver_name);
        fk_slot_close(s);
    }
}

static void schedule_reap(fk_gateway *gw)
{
    if (!gw->reaper) gw->reaper = event_new(gw->base, -1, 0, on_reap, gw);
    if (gw->reaper) event_active(gw->reaper, 0, 0);
}

void fk_slot_job_ended(fk_gateway *gw, fk_slot *s)
{
    s->jobs--;
    if (s != gw->slot && s->jobs == 0) schedule_reap(gw);
}

void fk_reload(fk_gateway *gw)
{
    const char *path = gw->slot->cfg.env_path;
    char err[1024] = "";
    fk_info("SIGHUP: reloading %s", path ? path : "the environment");
    int config_error;
    fk_slot *s = fk_slot_open(gw, path, &config_error, err, sizeof err);
    if (!s) {
        fk_log_set_level(gw->slot->cfg.log_level);
        snprintf(gw->reload_error, sizeof gw->reload_error, "reload failed: %s", err);
        fk_error("%s; the previous configuration stays", gw->reload_error);
        return;
    }
    gw->reload_error[0] = '\0';
    if (strcmp(s->cfg.listen_host, gw->slot->cfg.listen_host) != 0 ||
        (s->cfg.listen_port != gw->slot->cfg.listen_port && s->cfg.listen_port != 0))
        fk_warn("FK_LISTEN changed: takes effect at the next start");
    fk_slot *old = gw->slot;
    old->next = gw->retired;
    gw->retired = old;
    gw->slot = s;
    fk_info("reloaded: core %s, driver %s; %d request(s) finish on the previous core",
            s->cfg.core_kind, s->cfg.driver_name, old->jobs);
    schedule_reap(gw);
}

void fk_slots_free_all(fk_gateway *gw)
{
    while (gw->retired) {
        fk_slot *s = gw->retired;
        gw->retired = s->next;
        fk_slot_close(s);
    }
    fk_slot_close(gw->slot);
    gw->slot = NULL;
    if (gw->reaper) event_free(gw->reaper);
    gw->reaper = NULL;
}
