/* health.c: GET /health and GET /metrics.
 *
 * /health: the default core at the top level (as with one core), then every
 * core (and its replicas, when its driver has them):
 *   {"status":"ok"|"degraded"|"loading"|"unavailable"|"error"|"stopping",
 *    "detail":"..." (when not ok), "core":KIND, "model":NAME,
 *    "cores":[{"name":"default","kind":KIND,"driver":NAME,"model":NAME,
 *              "status":"ok"|"loading"|"unavailable"|"error","detail":"...",
 *              "reload_error":"...", "pending":{"status":...,"detail":...},
 *              "replicas":[{"url":URL,"status":...,"detail":"...","in_flight":N,
 *                           "slots":N,"slots_idle":N}]}],
 *    "reload_error":"..."}
 * 200 when every core is ready ("ok") or some are ("degraded"); 503 when none
 * is (status and detail the default core's) or the gateway is stopping. */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "server.h"
#include "utf8.h"

#define MAX_REPLICAS 64 /* replicas shown per core */

static const char *health_name(fk_health h)
{
    return h == FK_HEALTH_READY         ? "ok"
           : h == FK_HEALTH_LOADING     ? "loading"
           : h == FK_HEALTH_UNAVAILABLE ? "unavailable"
                                        : "error";
}

/* Driver text may hold any bytes: keep the JSON valid. */
static void set_text(json_t *o, const char *key, const char *text)
{
    if (text && text[0]) json_object_set_new(o, key, fk_json_lossy_string(text, strlen(text)));
}

static json_t *replicas_json(const fk_slot *s)
{
    fk_replica_info r[MAX_REPLICAS];
    size_t n = fk_router_replicas(&s->router, r, MAX_REPLICAS);
    if (n == 0) return NULL;
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_pack("{s:s, s:s, s:i}", "url", r[i].url ? r[i].url : "", "status",
                              health_name(r[i].health), "in_flight", r[i].in_flight);
        if (!o) continue;
        set_text(o, "detail", r[i].detail);
        if (r[i].slots_total >= 0) json_object_set_new(o, "slots", json_integer(r[i].slots_total));
        if (r[i].slots_idle >= 0)
            json_object_set_new(o, "slots_idle", json_integer(r[i].slots_idle));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *core_json(const fk_slot *s, fk_health h, const char *detail)
{
    const fk_driver *d = s->router.driver.table;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", s->name, "kind", s->cfg.core_kind,
                          "driver", d->name ? d->name : "", "model",
                          fk_router_default_model(&s->router), "status", health_name(h));
    if (!o) return NULL;
    set_text(o, "detail", detail);
    set_text(o, "reload_error", s->reload_error);
    if (s->staged) {
        char sd[512];
        fk_health sh = fk_slot_health(s->staged, sd, sizeof sd);
        json_t *p = json_pack("{s:s}", "status", health_name(sh));
        if (p) set_text(p, "detail", sd);
        if (p) json_object_set_new(o, "pending", p);
    }
    json_t *reps = replicas_json(s);
    if (reps) json_object_set_new(o, "replicas", reps);
    return o;
}

void fk_handle_health(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info)
{
    json_t *cores = json_array();
    size_t ready = 0;
    fk_health h0 = FK_HEALTH_ERROR;
    char detail0[512] = "";
    for (size_t i = 0; i < gw->n_cores; i++) {
        char detail[512];
        fk_health h = fk_slot_health(gw->cores[i], detail, sizeof detail);
        ready += h == FK_HEALTH_READY;
        if (i == 0) {
            h0 = h;
            snprintf(detail0, sizeof detail0, "%s", detail);
        }
        json_array_append_new(cores,
                              core_json(gw->cores[i], h, h == FK_HEALTH_READY ? "" : detail));
    }
    const fk_slot *def = gw->cores[0];
    int ok = ready > 0 && !gw->shutting_down;
    const char *status = gw->shutting_down      ? "stopping"
                         : ready == gw->n_cores ? "ok"
                         : ready > 0            ? "degraded"
                                                : health_name(h0);
    json_t *body = json_pack("{s:s, s:s, s:s}", "status", status, "core", def->cfg.core_kind,
                             "model", fk_router_default_model(&def->router));
    if (!ok) set_text(body, "detail", gw->shutting_down ? "shutting down" : detail0);
    json_object_set_new(body, "cores", cores);
    /* a failed reload leaves the previous configuration serving: say so */
    set_text(body, "reload_error", gw->reload_error);
    fk_reply_json(gw, req, info->endpoint, ok ? 200 : 503, body);
}

/* One core's part of the exposition, and what it is read from. */
typedef struct metrics_core {
    fk_core_metrics engine;                 /* the driver's gauges */
    fk_replica_info replicas[MAX_REPLICAS]; /* its upstreams */
} metrics_core;

void fk_handle_metrics(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info)
{
    size_t n = gw->n_cores;
    fk_metrics_view *views = calloc(n, sizeof *views);
    metrics_core *mc = calloc(n, sizeof *mc);
    struct evbuffer *buf = evbuffer_new();
    if (!views || !mc || !buf) {
        free(views);
        free(mc);
        if (buf) evbuffer_free(buf);
        fk_api_error e;
        fk_api_error_set(&e, 500, "server_error", NULL, NULL, "out of memory");
        fk_reply_error(gw, req, info->endpoint, &e);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const fk_slot *s = gw->cores[i];
        views[i] = (fk_metrics_view){
            .stats = s->stats,
            .model = fk_router_default_model(&s->router),
            .engine = fk_router_core_metrics(&s->router, &mc[i].engine) ? &mc[i].engine : NULL,
            .replicas = mc[i].replicas,
            .n_replicas = fk_router_replicas(&s->router, mc[i].replicas, MAX_REPLICAS),
        };
    }
    fk_metrics_write(&gw->metrics, views, n, buf);
    fk_conn_stats cs;
    fk_conns_get_stats(gw, &cs);
    fk_metrics_write_connections(&cs, buf);
    free(views);
    free(mc);
    fk_reply_buffer(gw, req, info->endpoint, 200, "text/plain; version=0.0.4; charset=utf-8", buf);
    evbuffer_free(buf);
}
