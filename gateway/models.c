/* models.c: GET /v1/models: the core's models, plus FRONTEND_VLLM_MODEL as an alias. */
#include <string.h>

#include "server.h"

static json_t *model_entry(const char *id, const char *owned_by, int max_model_len)
{
    json_t *m = json_pack("{s:s, s:s, s:I, s:s}", "id", id, "object", "model", "created",
                          (json_int_t)1764000000, "owned_by", owned_by ? owned_by : "forgekeeper");
    if (m && max_model_len > 0)
        json_object_set_new(m, "max_model_len", json_integer(max_model_len));
    return m;
}

void fk_handle_models(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info)
{
    fk_model_info models[16];
    size_t n = fk_router_list_models(&gw->slot->router, models, 16);
    json_t *data = json_array();
    int has_alias = gw->slot->cfg.frontend_model == NULL;
    for (size_t i = 0; i < n; i++) {
        if (!models[i].id) continue;
        int len = models[i].max_model_len ? models[i].max_model_len : gw->slot->cfg.max_model_len;
        json_array_append_new(data, model_entry(models[i].id, models[i].owned_by, len));
        if (gw->slot->cfg.frontend_model && strcmp(models[i].id, gw->slot->cfg.frontend_model) == 0)
            has_alias = 1;
    }
    if (!has_alias)
        json_array_append_new(data, model_entry(gw->slot->cfg.frontend_model, "forgekeeper",
                                                gw->slot->cfg.max_model_len));
    fk_reply_json(gw, req, info->endpoint, 200,
                  json_pack("{s:s, s:o}", "object", "list", "data", data));
}
