/* version.c: GET /version: the gateway's version and each core's driver
 * (the top-level core and driver are the default core's). */
#include <config.h>

#include "server.h"

static json_t *core_entry(const fk_slot *s)
{
    const fk_driver *d = s->router.driver.table;
    return json_pack("{s:s, s:s, s:s, s:s}", "name", s->name, "core", s->cfg.core_kind, "driver",
                     d->name ? d->name : "", "driver_version", d->version ? d->version : "");
}

void fk_handle_version(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info)
{
    json_t *body = core_entry(gw->cores[0]);
    json_t *cores = json_array();
    for (size_t i = 0; i < gw->n_cores; i++) json_array_append_new(cores, core_entry(gw->cores[i]));
    if (body) {
        json_object_del(body, "name");
        json_object_set_new(body, "version", json_string(PACKAGE_VERSION));
        json_object_set_new(body, "cores", cores);
    } else {
        json_decref(cores);
    }
    fk_reply_json(gw, req, info->endpoint, 200, body);
}
