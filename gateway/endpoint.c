/* endpoint.c: the generation endpoints' shared skeleton (see endpoint.h). */
#include "endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Append "'id'" to a ", "-separated list in buf (o bytes used). */
static size_t add_name(char *buf, size_t len, size_t o, const char *id)
{
    int w = snprintf(buf + o, len - o, "%s'%s'", o ? ", " : "", id);
    return w > 0 && (size_t)w < len - o ? o + (size_t)w : o;
}

/* 404 naming the model asked for and the ones served (the core's and the
 * FRONTEND_VLLM_MODEL alias). */
static void model_not_found(const fk_gateway *gw, const char *asked, fk_api_error *err)
{
    fk_model_info models[16];
    size_t n = fk_router_list_models(&gw->slot->router, models, 16);
    const char *alias = gw->slot->cfg.frontend_model;
    char served[512] = "";
    size_t o = 0;
    int alias_listed = 0;
    for (size_t i = 0; i < n; i++) {
        if (!models[i].id) continue;
        o = add_name(served, sizeof served, o, models[i].id);
        alias_listed |= alias && strcmp(alias, models[i].id) == 0;
    }
    if (alias && !alias_listed) o = add_name(served, sizeof served, o, alias);
    fk_api_error_set(err, 404, "invalid_request_error", "model_not_found", "model",
                     "The model '%s' does not exist or is not served here; served: %s.", asked,
                     o ? served : "(none)");
}

void fk_handle_generation(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info,
                          const fk_endpoint_spec *spec)
{
    fk_api_error err;
    fk_limits lim = {gw->slot->cfg.default_max_tokens, gw->slot->cfg.max_model_len,
                     gw->slot->cfg.max_messages, !gw->slot->cfg.use_harmony};
    void *state = NULL;
    fk_job_input *in = fk_job_input_new();
    if (!in) {
        fk_api_error_set(&err, 500, "server_error", NULL, NULL, "out of memory");
        goto fail;
    }
    in->path = spec->path;
    if (fk_read_json_body(gw, req, &in->body, &err) < 0 ||
        spec->parse(in->body, &lim, &in->rp, &err) < 0)
        goto fail;
    const char *model = fk_router_resolve(&gw->slot->router, in->rp.model);
    if (!model) {
        model_not_found(gw, in->rp.model, &err);
        goto fail;
    }
    if (!(in->model = strdup(model))) {
        fk_api_error_set(&err, 500, "server_error", NULL, NULL, "out of memory");
        goto fail;
    }
    if (spec->prepare(gw, in, &state, &err) < 0) goto fail;
    fk_job *j = fk_job_new(gw, req, info, spec->id_prefix, in->rp.model ? in->rp.model : model,
                           in->rp.stream, in->rp.include_usage, spec->ops, state, in);
    if (!j) {
        fk_api_error_set(&err, 500, "server_error", NULL, NULL, "out of memory");
        fk_reply_error(gw, req, spec->ep, &err);
        return;
    }
    fk_job_submit(j);
    return;
fail:
    fk_job_input_free(in);
    fk_reply_error(gw, req, spec->ep, &err);
}

int fk_endpoint_render(fk_job_input *in, const hm_conversation *conv, const char *param,
                       fk_api_error *err)
{
    char *rerr = NULL;
    if (hm_render(conv, HM_RENDER_COMPLETION, 1, &in->prompt, &rerr) < 0) {
        fk_api_bad_request(err, "invalid_value", param, "%s",
                           rerr ? rerr : "cannot render the conversation");
        free(rerr);
        return -1;
    }
    const hm_prompt *p = &in->prompt;
    in->segs = calloc(p->n ? p->n : 1, sizeof *in->segs);
    if (!in->segs) return fk_api_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
    for (size_t i = 0; i < p->n; i++) {
        const hm_segment *h = &p->segs[i];
        in->segs[i] = (fk_segment){h->is_special ? FK_SEG_SPECIAL : FK_SEG_TEXT, h->untrusted,
                                   h->text, h->len, -1};
    }
    in->n_segs = p->n;
    return 0;
}

int fk_endpoint_mapping_error(const hm_openai_error *he, fk_api_error *err)
{
    if (!strcmp(he->code, "out_of_memory"))
        return fk_api_error_set(err, 500, "server_error", NULL, NULL, "%s", he->message);
    return fk_api_bad_request(err, he->code[0] ? he->code : "invalid_value",
                              he->param[0] ? he->param : NULL, "%s",
                              he->message[0] ? he->message : "invalid request");
}
