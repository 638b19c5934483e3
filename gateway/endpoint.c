/* endpoint.c: the generation endpoints' shared skeleton (see endpoint.h). */
#include "endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Append "'id'" to a ", "-separated list in buf (o bytes used), unless it
 * is there already. */
static size_t add_name(char *buf, size_t len, size_t o, const char *id)
{
    char quoted[256];
    snprintf(quoted, sizeof quoted, "'%s'", id);
    if (strstr(buf, quoted)) return o;
    int w = snprintf(buf + o, len - o, "%s'%s'", o ? ", " : "", id);
    return w > 0 && (size_t)w < len - o ? o + (size_t)w : o;
}

/* 404 naming the model asked for and the ones served (every core's own and
 * its FRONTEND_VLLM_MODEL alias). */
static void model_not_found(const fk_gateway *gw, const char *asked, fk_api_error *err)
{
    char served[1024] = "";
    size_t o = 0;
    for (size_t c = 0; c < gw->n_cores; c++) {
        const fk_slot *s = gw->cores[c];
        fk_model_info models[16];
        size_t n = fk_router_list_models(&s->router, models, 16);
        const char *alias = s->cfg.frontend_model;
        int alias_listed = 0;
        for (size_t i = 0; i < n; i++) {
            if (!models[i].id) continue;
            o = add_name(served, sizeof served, o, models[i].id);
            alias_listed |= alias && strcmp(alias, models[i].id) == 0;
        }
        if (alias && !alias_listed) o = add_name(served, sizeof served, o, alias);
    }
    fk_api_error_set(err, 404, "invalid_request_error", "model_not_found", "model",
                     "The model '%s' does not exist or is not served here; served: %s.", asked,
                     o ? served : "(none)");
}

void fk_handle_generation(fk_gateway *gw, struct evhttp_request *req, const fk_req_info *info,
                          const fk_endpoint_spec *spec)
{
    fk_api_error err;
    void *state = NULL;
    fk_job_input *in = fk_job_input_new();
    if (!in) {
        fk_api_error_set(&err, 500, "server_error", NULL, NULL, "out of memory");
        goto fail;
    }
    in->path = spec->path;
    if (fk_read_json_body(gw, req, &in->body, &err) < 0) goto fail;
    /* The model picks the core, whose limits apply (a "model" that is not a
     * string goes to the default core, whose parser says what is wrong). */
    const char *asked = json_string_value(json_object_get(in->body, "model"));
    const char *model = NULL;
    fk_slot *slot = fk_cores_route(gw, asked, &model);
    const fk_config *cc = slot ? &slot->cfg : &gw->cores[0]->cfg;
    fk_limits lim = {cc->default_max_tokens, cc->max_model_len, gw->config->max_messages,
                     !cc->use_harmony};
    if (spec->parse(in->body, &lim, &in->rp, &err) < 0) goto fail;
    if (!slot) {
        model_not_found(gw, in->rp.model, &err);
        goto fail;
    }
    in->slot = slot;
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

void fk_endpoint_prime(hm_parser *parser, const fk_job_input *in)
{
    const hm_prompt *p = &in->prompt;
    size_t i = p->n;
    while (i > 0 && !(p->segs[i - 1].is_special && !strcmp(p->segs[i - 1].text, "<|start|>"))) i--;
    if (i == 0 || i >= p->n || strcmp(p->segs[i].text, "assistant") != 0) return;
    for (size_t k = i + 1; k < p->n; k++)
        hm_parser_feed(parser, p->segs[k].text, p->segs[k].len, p->segs[k].is_special, -1);
}

int fk_endpoint_mapping_error(const hm_openai_error *he, fk_api_error *err)
{
    if (!strcmp(he->code, "out_of_memory"))
        return fk_api_error_set(err, 500, "server_error", NULL, NULL, "%s", he->message);
    return fk_api_bad_request(err, he->code[0] ? he->code : "invalid_value",
                              he->param[0] ? he->param : NULL, "%s",
                              he->message[0] ? he->message : "invalid request");
}
