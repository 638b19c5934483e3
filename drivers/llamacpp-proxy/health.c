/* health.c: readiness of each llama-server replica, from polling it.
 *
 * /health: 200 -> READY, 503 -> LOADING (the model is loading), a refused
 * connection or an unresolvable host -> UNAVAILABLE with a hint (the host
 * answers 503 at once then; it waits only for LOADING). Polls every
 * health_interval_ms while not ready and every health_ready_ms once ready
 * (both 1 s by default, so a killed upstream shows within about a second; a
 * generation transfer that fails on the wire polls at once). A /health that
 * gets no answer within 5 s means a stopped upstream (it accepts connections
 * and says nothing): its running generations silent that long end with 504
 * then, not after the minutes-long first-byte timeout.
 * On becoming ready it reads /props once (context size, model path), and at
 * each ready poll /slots (how many slots it has and how many are busy, for
 * the least-busy choice) until it answers with something else than a list
 * (started with --no-slots). The core's verdict is its replicas'
 * (replicas_update_health). */
#include "proxy.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper bound for one /health, /props or /slots exchange. */
#define HEALTH_REQUEST_MS 5000

static void schedule(replica *r, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(r->poll_timer, &tv);
}

void health_set(replica *r, fk_health h, const char *detail)
{
    fk_health old = r->health;
    r->health = h;
    snprintf(r->health_detail, sizeof r->health_detail, "%s", detail);
    if (old != h)
        proxy_log(r->core, h == FK_HEALTH_READY ? FK_LOG_INFO : FK_LOG_WARN, "upstream %s: %s",
                  r->base, h == FK_HEALTH_READY ? "ready" : detail);
    replicas_update_health(r->core);
}

/* /props: n_ctx (top level or under default_generation_settings) and the model file. */
static void read_props(replica *r, const char *body, size_t len)
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
        r->n_ctx = (int)json_integer_value(n);
    const char *path = json_string_value(json_object_get(root, "model_path"));
    if (path && *path) {
        const char *slash = strrchr(path, '/');
        free(r->model);
        r->model = strdup(slash ? slash + 1 : path);
    }
    json_decref(root);
}

/* /slots: [{"id":0,"is_processing":false,...},...]. Anything else (501
 * without --slots, another server) means: do not ask again. */
static void read_slots(replica *r, const fk_xfer_end *end)
{
    json_t *root = end->curl_code == CURLE_OK && end->status == 200
                       ? json_loadb(end->body, end->body_len, 0, NULL)
                       : NULL;
    if (!json_is_array(root)) {
        if (end->curl_code == CURLE_OK) r->slots_unsupported = 1;
        r->slots_total = -1;
        json_decref(root);
        return;
    }
    size_t i;
    json_t *slot;
    int busy = 0;
    json_array_foreach(root, i, slot) busy += json_is_true(json_object_get(slot, "is_processing"));
    r->slots_total = (int)json_array_size(root);
    r->slots_busy = busy;
    r->in_flight_at_slots = r->in_flight;
    json_decref(root);
}

void health_unreachable_detail(const char *base, CURLcode code, const char *curl_error, char *out,
                               size_t out_len)
{
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

static void read_health(replica *r, const fk_xfer_end *end)
{
    char detail[sizeof r->health_detail];
    if (end->curl_code != CURLE_OK) {
        health_unreachable_detail(r->base, end->curl_code, end->curl_error, detail, sizeof detail);
        health_set(r, FK_HEALTH_UNAVAILABLE, detail);
        if (end->curl_code == CURLE_OPERATION_TIMEDOUT)
            gens_fail_silent(r, HEALTH_REQUEST_MS, "/health got no answer either");
    } else if (end->status == 200) {
        health_set(r, FK_HEALTH_READY, "");
    } else if (end->status == 503) {
        loading_detail(end->body, end->body_len, detail, sizeof detail);
        health_set(r, FK_HEALTH_LOADING, detail);
    } else {
        snprintf(detail, sizeof detail, "%s/health answered HTTP %ld", r->base, end->status);
        health_set(r, FK_HEALTH_UNAVAILABLE, detail);
    }
}

static void poll_now(replica *r, poll_kind kind);

/* After each answer: what to ask next, now or after the period. */
static void on_poll_done(void *owner, fk_xfer *x, const fk_xfer_end *end)
{
    replica *r = owner;
    poll_kind kind = r->poll;
    r->poll_xfer = NULL;
    if (kind == POLL_HEALTH)
        read_health(r, end);
    else if (kind == POLL_PROPS) {
        if (end->curl_code == CURLE_OK && end->status == 200)
            read_props(r, end->body, end->body_len);
        r->props_done = 1;
    } else {
        read_slots(r, end);
    }
    fk_xfer_free(x);
    int ready = r->health == FK_HEALTH_READY;
    if (ready && kind == POLL_HEALTH && !r->props_done)
        poll_now(r, POLL_PROPS);
    else if (ready && kind != POLL_SLOTS && !r->slots_unsupported)
        poll_now(r, POLL_SLOTS);
    else
        schedule(r, ready ? r->core->cfg.health_ready_ms : r->core->cfg.health_interval_ms);
}

static const fk_xfer_sink POLL_SINK = {NULL, on_poll_done, NULL};

static void poll_now(replica *r, poll_kind kind)
{
    static const char *const paths[] = {"/health", "/props", "/slots"};
    fk_core *core = r->core;
    if (r->poll_xfer || core->destroying) return;
    char url[2048];
    snprintf(url, sizeof url, "%s%s", r->base, paths[kind]);
    fk_xfer_opts o = {
        .url = url,
        .connect_timeout_ms = core->cfg.connect_timeout_ms,
        .total_ms = HEALTH_REQUEST_MS,
    };
    r->poll = kind;
    r->poll_xfer = fk_xfer_start(core->curl, core->base, &o, &POLL_SINK, r);
    if (!r->poll_xfer) schedule(r, core->cfg.health_interval_ms);
}

static void on_poll_timer(evutil_socket_t fd, short what, void *arg)
{
    poll_now(arg, POLL_HEALTH);
}

int health_start(replica *r)
{
    r->poll_timer = evtimer_new(r->core->base, on_poll_timer, r);
    if (!r->poll_timer) return -1;
    schedule(r, 0);
    return 0;
}

void health_stop(replica *r)
{
    if (r->poll_timer) event_free(r->poll_timer);
    r->poll_timer = NULL;
    if (r->poll_xfer) fk_xfer_free(r->poll_xfer);
    r->poll_xfer = NULL;
}

void health_poke(replica *r)
{
    if (!r->poll_timer || r->poll_xfer) return;
    schedule(r, 0);
}
