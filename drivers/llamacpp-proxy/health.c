/* health.c: readiness of the llama-server upstream, from polling /health.
 *
 * 200 -> READY, 503 -> LOADING (the model is loading), a refused connection
 * or an unresolvable host -> UNAVAILABLE with a hint (the host answers 503
 * at once then; it waits only for LOADING). Polls every health_interval_ms
 * while not ready and every health_ready_ms once ready. On becoming ready it
 * reads /props once (context size, model path). */
#include "proxy.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper bound for one /health or /props exchange. */
#define HEALTH_REQUEST_MS 5000

static void schedule(fk_core *core, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(core->health_timer, &tv);
}

static void set_state(fk_core *core, fk_health h, const char *detail)
{
    fk_health old = core->health;
    core->health = h;
    snprintf(core->health_detail, sizeof core->health_detail, "%s", detail);
    if (old != h) {
        proxy_log(core, h == FK_HEALTH_READY ? FK_LOG_INFO : FK_LOG_WARN, "upstream %s: %s",
                  core->cfg.api_base,
                  h == FK_HEALTH_READY     ? "ready"
                  : h == FK_HEALTH_LOADING ? detail
                                           : detail);
    }
}

/* /props: n_ctx (top level or under default_generation_settings) and the model file. */
static void read_props(fk_core *core, const char *body, size_t len)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return;
    }
    json_t *n = json_object_get(root, "n_ctx");
    if (!json_is_integer(n))
        n = json_object_get(json_object_get(root, "default_generation_settings"), "n_ctx");
    if (json_is_integer(n) && json_integer_value(n) > 0 && json_integer_value(n) < 100000000)
        core->upstream_n_ctx = (int)json_integer_value(n);
    const char *path = json_string_value(json_object_get(root, "model_path"));
    if (path && *path) {
        const char *slash = strrchr(path, '/');
        free(core->upstream_model);
        core->upstream_model = strdup(slash ? slash + 1 : path);
    }
    json_decref(root);
}

void health_unreachable_detail(const fk_core *core, CURLcode code, const char *curl_error,
                               char *out, size_t out_len)
{
    const char *base = core->cfg.api_base;
    if (code == CURLE_COULDNT_CONNECT)
        snprintf(out, out_len,
                 "nothing accepts connections at %s (connection refused): start llama-server "
                 "there, or set FK_CORE_API_BASE to where it listens",
                 base);
    else if (code == CURLE_COULDNT_RESOLVE_HOST)
        snprintf(out, out_len,
                 "cannot resolve the host of %s (%s): set FK_CORE_API_BASE to where "
                 "llama-server listens, e.g. http://127.0.0.1:8080 (llama-core is the docker "
                 "compose service name, known only inside compose)",
                 base, curl_error);
    else
        snprintf(out, out_len, "cannot reach llama-server at %s: %s", base, curl_error);
}

/* "Loading model" from llama-server's {"error":{"message":...}} */
static void loading_detail(const char *body, size_t len, char *out, size_t out_len)
{
    snprintf(out, out_len, "Loading model");
    json_t *root = json_loadb(body, len, 0, NULL);
    const char *m = json_string_value(json_object_get(json_object_get(root, "error"), "message"));
    if (m) snprintf(out, out_len, "%s", m);
    json_decref(root);
}

static void poll_now(fk_core *core);

static void on_health_done(void *owner, fk_xfer *x, const fk_xfer_end *end)
{
    fk_core *core = owner;
    int was_props = core->health_xfer_is_props;
    core->health_xfer = NULL;
    char detail[sizeof core->health_detail];
    if (was_props) {
        if (end->curl_code == CURLE_OK && end->status == 200)
            read_props(core, end->body, end->body_len);
        core->props_done = 1;
        fk_xfer_free(x);
        schedule(core, core->cfg.health_ready_ms);
        return;
    }
    if (end->curl_code != CURLE_OK) {
        health_unreachable_detail(core, end->curl_code, end->curl_error, detail, sizeof detail);
        set_state(core, FK_HEALTH_UNAVAILABLE, detail);
    } else if (end->status == 200) {
        set_state(core, FK_HEALTH_READY, "");
    } else if (end->status == 503) {
        loading_detail(end->body, end->body_len, detail, sizeof detail);
        set_state(core, FK_HEALTH_LOADING, detail);
    } else {
        snprintf(detail, sizeof detail, "%s/health answered HTTP %ld", core->cfg.api_base,
                 end->status);
        set_state(core, FK_HEALTH_UNAVAILABLE, detail);
    }
    fk_xfer_free(x);
    if (core->health == FK_HEALTH_READY && !core->props_done) {
        poll_now(core);
        return;
    }
    schedule(core, core->health == FK_HEALTH_READY ? core->cfg.health_ready_ms
                                                   : core->cfg.health_interval_ms);
}

static const fk_xfer_sink HEALTH_SINK = {NULL, on_health_done, NULL};

/* Start /health (or /props, once, after the first READY). */
static void poll_now(fk_core *core)
{
    if (core->health_xfer || core->destroying) return;
    int props = core->health == FK_HEALTH_READY && !core->props_done;
    char url[2048];
    snprintf(url, sizeof url, "%s%s", core->cfg.api_base, props ? "/props" : "/health");
    fk_xfer_opts o = {
        .url = url,
        .connect_timeout_ms = core->cfg.connect_timeout_ms,
        .total_ms = HEALTH_REQUEST_MS,
    };
    core->health_xfer_is_props = props;
    core->health_xfer = fk_xfer_start(core->curl, core->base, &o, &HEALTH_SINK, core);
    if (!core->health_xfer) schedule(core, core->cfg.health_interval_ms);
}

static void on_health_timer(evutil_socket_t fd, short what, void *arg)
{
    poll_now(arg);
}

int health_start(fk_core *core)
{
    core->health_timer = evtimer_new(core->base, on_health_timer, core);
    if (!core->health_timer) return -1;
    schedule(core, 0);
    return 0;
}

void health_stop(fk_core *core)
{
    if (core->health_timer) event_free(core->health_timer);
    core->health_timer = NULL;
    if (core->health_xfer) fk_xfer_free(core->health_xfer);
    core->health_xfer = NULL;
}

void health_poke(fk_core *core)
{
    if (!core->health_timer || core->health_xfer) return;
    schedule(core, 0);
}
