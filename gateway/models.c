/* models.c: GET /v1/models: every core's models, plus each core's
 * FRONTEND_VLLM_MODEL as an alias; an id two cores list appears once (the
 * first core's, which is where a request for it goes). */
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

/* 1 when `data` already lists `id`. */
static int listed(const json_t *data, const char *id)
{
    size_t i;
    const json_t *m;
    json_array_foreach(data, i, m)
    {
        const char *have = json_string_value(json_object_get(m, "id"));
        if (have && strcmp(have, id) == 0) return 1;
    }
    return 0;
}

static void add_core(json_t *data, const fk_slot *s)
{
    fk_model_info models[16];
    size_t n = fk_router_list_models(&s->router, models, 16);
    const char *alias = s->cfg.frontend_model;
    for (size_t i = 0; i < n; i++) {
        if (!models[i].id || listed(data, models[i].id)) continue;
        int len = models[i].max_model_len ? models[i].max_model_len : s->cfg.max_model_len;
        json_array_append_new(data, model_entry(models[i].id, models[i].owned_by, len));
    }
    if (alias && !listed(data, alias))
        json_array_append_new(data, model_entry(alias, "forgekeeper", s->cfg.max_model_len));
}

void fk_handle_models(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info)
{
    json_t *data = json_array();
    for (size_t i = 0; i < gw->n_cores; i++) add_core(data, gw->cores[i]);
    fk_reply_json(gw, req, info->endpoint, 200,
                  json_pack("{s:s, s:o}", "object", "list", "data", data));
}
