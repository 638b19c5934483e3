/* version.c: GET /version: the gateway's version and the loaded driver's. */
#include <config.h>

#include "server.h"

void fk_handle_version(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info)
{
    const fk_driver *d = gw->slot->router.driver.table;
    fk_reply_json(gw, req, info->endpoint, 200,
                  json_pack("{s:s, s:s, s:s, s:s}", "version", PACKAGE_VERSION, "core",
                            gw->slot->cfg.core_kind, "driver", d->name ? d->name : "",
                            "driver_version", d->version ? d->version : ""));
}
