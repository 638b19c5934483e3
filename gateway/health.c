/* health.c: GET /health and GET /metrics.
 *
 *   200 {"status":"ok","core":KIND,"model":NAME}
 *   503 {"status":"loading"|"error","detail":"...","core":KIND,"model":NAME} */
#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "server.h"
#include "utf8.h"

void fk_handle_health(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info)
{
    char detail[256] = "";
    fk_health h =
        gw->slot->router.driver.table->health(gw->slot->router.core, detail, sizeof detail);
    const char *model = fk_router_default_model(&gw->slot->router);
    if (h == FK_HEALTH_READY && !gw->shutting_down) {
        json_t *body = json_pack("{s:s, s:s, s:s}", "status", "ok", "core", gw->slot->cfg.core_kind,
                                 "model", model);
        /* a failed SIGHUP reload leaves the previous core serving: say so */
        if (body && gw->reload_error[0])
            json_object_set_new(body, "reload_error",
                                fk_json_lossy_string(gw->reload_error, strlen(gw->reload_error)));
        fk_reply_json(gw, req, info->endpoint, 200, body);
        return;
    }
    const char *status = gw->shutting_down            ? "stopping"
                         : h == FK_HEALTH_LOADING     ? "loading"
                         : h == FK_HEALTH_UNAVAILABLE ? "unavailable"
                                                      : "error";
    if (gw->shutting_down) snprintf(detail, sizeof detail, "shutting down");
    /* the detail comes from the driver: keep the JSON valid whatever its bytes */
    fk_reply_json(gw, req, info->endpoint, 503,
                  json_pack("{s:s, s:o, s:s, s:s}", "status", status, "detail",
                            fk_json_lossy_string(detail, strlen(detail)), "core",
                            gw->slot->cfg.core_kind, "model", model));
}

void fk_handle_metrics(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info)
{
    struct evbuffer *buf = evbuffer_new();
    fk_core_metrics core;
    int has_core = fk_router_core_metrics(&gw->slot->router, &core);
    fk_metrics_write(&gw->metrics, has_core ? &core : NULL,
                     fk_router_default_model(&gw->slot->router), buf);
    fk_conn_stats cs;
    fk_conns_get_stats(gw, &cs);
    fk_metrics_write_connections(&cs, buf);
    fk_reply_buffer(gw, req, info->endpoint, 200, "text/plain; version=0.0.4; charset=utf-8", buf);
    evbuffer_free(buf);
}
