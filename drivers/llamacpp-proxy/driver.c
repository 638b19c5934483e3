/* driver.c: the llama.cpp proxy driver's table (fk-driver-llamacpp.so):
 * configuration, the core's lifetime, and the lifetime of one generation
 * (a replica, the upstream request, a retry on another replica when the
 * first fails before any output, pieces, the single on_done). */
#include "proxy.h"

#include <errno.h>
#include <math.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DRIVER_VERSION "0.1.0"

/* ---- small helpers ---------------------------------------------------------------- */

double proxy_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void proxy_log(const fk_core *core, int level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (core->host->log) core->host->log(core->host, level, "%s", line);
}

static struct timeval tv_ms(long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

/* ---- configuration ------------------------------------------------------------------ */

/* The host members this driver calls (through event_base, the last one). */
static int host_usable(const fk_host *h, char *err, size_t err_len)
{
    if (FK_HAS_MEMBER(h, fk_host, event_base)) return 0;
    snprintf(err, err_len,
             "the host's fk_host (%u bytes) lacks the typed config getters, core_config or "
             "event_base (needs %zu bytes): upgrade fk-gateway",
             h->struct_size, offsetof(fk_host, event_base) + sizeof h->event_base);
    return -1;
}

static void config_clear(proxy_config *c)
{
    free(c->api_base);
    free(c->model_id);
    free(c->tokenizer_path);
    memset(c, 0, sizeof *c);
}

static int config_load(proxy_config *c, const fk_host *host, char *err, size_t err_len)
{
    fk_core_config cc; /* the shared keys, parsed by the host */
    const fk_core_config *hc = host->core_config(host);
    fk_abi_copy(&cc, sizeof cc, hc, hc->struct_size);
    if (!cc.api_base) {
        snprintf(err, err_len, "FK_CORE_API_BASE is not set (e.g. http://127.0.0.1:8080)");
        return -1;
    }
    c->api_base = strdup(cc.api_base);
    c->model_id = cc.model_id ? strdup(cc.model_id) : NULL;
    if (!c->api_base || (cc.model_id && !c->model_id)) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    c->use_harmony = cc.use_harmony;
    c->max_model_len = cc.max_model_len;
    if (host->config_path(host, "FK_TOKENIZER", &c->tokenizer_path, err, err_len) != 0) return -1;
    struct {
        const char *key; /* the setting */
        long long dflt;  /* its default */
        long long min;   /* its smallest value */
        long scale;      /* to milliseconds (or 1) */
        long *out;       /* where it goes */
    } nums[] = {
        {"FK_LLAMA_HEALTH_INTERVAL_MS", 1000, 10, 1, &c->health_interval_ms},
        {"FK_LLAMA_HEALTH_READY_INTERVAL_MS", 1000, 10, 1, &c->health_ready_ms},
        {"FK_LLAMA_WAITING_NOTIFY_MS", 1000, 10, 1, &c->waiting_notify_ms},
        {"FK_LLAMA_CONNECT_TIMEOUT_MS", 3000, 0, 1, &c->connect_timeout_ms},
        {"FK_LLAMA_FIRST_BYTE_TIMEOUT_S", 600, 0, 1000, &c->first_byte_ms},
        {"FK_LLAMA_IDLE_TIMEOUT_S", 120, 0, 1000, &c->idle_ms},
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        long long v;
        if (host->config_int(host, nums[i].key, nums[i].dflt, nums[i].min,
                             1000000000 / nums[i].scale, &v, err, err_len) != 0)
            return -1;
        *nums[i].out = (long)v * nums[i].scale;
    }
    return 0;
}

static int load_tokenizer(fk_core *core, char *err, size_t err_len)
{
    if (core->tok) return 0;
    char why[512] = "";
    const char *path = core->cfg.tokenizer_path;
    core->tok = path ? fktok_load_json(path, why, sizeof why) : fktok_load_default(why, sizeof why);
    if (!core->tok) {
        snprintf(err, err_len, "cannot load the tokenizer (%s): %s",
                 path ? path : "bundled o200k_harmony", why);
        return -1;
    }
    return 0;
}

/* ---- pieces --------------------------------------------------------------------------- */

int gen_piece(fk_gen *g, const char *text, size_t len, int32_t id, int is_special)
{
    piece_buf *b = &g->out;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        fk_piece *p = realloc(b->pieces, cap * sizeof *p);
        if (!p) return -1;
        b->pieces = p;
        b->cap = cap;
    }
    /* Store the offset now; gen_flush turns it into a pointer. */
    size_t off = b->arena.len;
    if (strbuf_append(&b->arena, text, len) < 0) return -1;
    b->pieces[b->n] = (fk_piece){.text = (const char *)(uintptr_t)off,
                                 .len = len,
                                 .token_id = id,
                                 .is_special = is_special,
                                 .logprob = NAN};
    b->n++;
    return 0;
}

int gen_piece_logprobs(fk_gen *g, size_t i, float logprob, const fk_top_logprob *top, size_t n)
{
    piece_buf *b = &g->out;
    if (b->n_tops + n > b->cap_tops) {
        size_t cap = b->cap_tops ? b->cap_tops : 64;
        while (cap < b->n_tops + n) cap *= 2;
        fk_top_logprob *t = realloc(b->tops, cap * sizeof *t);
        if (!t) return -1;
        b->tops = t;
        b->cap_tops = cap;
    }
    if (n > 0) memcpy(b->tops + b->n_tops, top, n * sizeof *top); /* tops may be NULL at n 0 */
    /* Store the offset now; gen_flush turns it into a pointer. */
    b->pieces[i].logprob = logprob;
    b->pieces[i].n_top = (uint32_t)n;
    b->pieces[i].top = (const fk_top_logprob *)(uintptr_t)b->n_tops;
    b->n_tops += n;
    return 0;
}

int gen_special(fk_gen *g, const char *spelling)
{
    return gen_piece(g, spelling, strlen(spelling), -1, 1);
}

void gen_scanned_piece(void *ud, const char *text, size_t len, int is_special)
{
    fk_gen *g = ud;
    if (gen_piece(g, text, len, -1, is_special) != 0)
        gen_fail(g, 500, "server_error", "out_of_memory",
                 "out of memory while reading the upstream");
}

int gen_flush(fk_gen *g)
{
    piece_buf *b = &g->out;
    if (b->n == 0) return g->cancelled ? -1 : 0;
    for (size_t i = 0; i < b->n; i++) {
        fk_piece *p = &b->pieces[i];
        p->text = b->arena.data + (uintptr_t)p->text;
        p->top = p->n_top ? b->tops + (uintptr_t)p->top : NULL;
    }
    size_t n = b->n;
    b->n = 0;
    b->arena.len = 0;
    b->n_tops = 0;
    if (g->notify) evtimer_del(g->notify);
    g->pieces_sent += (int)n;
    int r = g->cb.on_pieces(g->ud, b->pieces, n, sizeof *b->pieces);
    if (g->cancelled) return -1;
    return r == 1 ? 1 : 0;
}

void gen_fail(fk_gen *g, int http_status, const char *type, const char *code, const char *fmt, ...)
{
    if (g->err.set) return;
    g->err.set = 1;
    g->err.http_status = http_status;
    snprintf(g->err.type, sizeof g->err.type, "%s", type);
    snprintf(g->err.code, sizeof g->err.code, "%s", code ? code : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->err.message, sizeof g->err.message, fmt, ap);
    va_end(ap);
}

json_t *gen_parse_object(fk_gen *g, const char *value, size_t len)
{
    json_error_t je;
    json_t *root = json_loadb(value, len, 0, &je);
    if (!json_is_object(root)) {
        gen_fail(g, 502, "server_error", "upstream_error",
                 "llama-server sent malformed JSON after %d pieces: %s (column %d)", g->pieces_sent,
                 root ? "not an object" : je.text, je.column);
        json_decref(root);
        return NULL;
    }
    return root;
}

/* ---- generation lifecycle ------------------------------------------------------------------ */

static void gen_unlink(fk_gen *g)
{
    fk_core *core = g->core;
    if (g->prev)
        g->prev->next = g->next;
    else if (core->gens == g)
        core->gens = g->next;
    if (g->next) g->next->prev = g->prev;
    g->prev = g->next = NULL;
}

/* An event of a generation: made idle (keep) or freed. */
static void release_event(struct event *ev, int keep)
{
    if (!ev) return;
    if (keep)
        event_del(ev);
    else
        event_free(ev);
}

/* Release g. Its memory becomes the core's spare when there is none yet,
 * with its two events (bound to this address and these callbacks) left
 * allocated and idle for the next generation. */
static void gen_free(fk_gen *g)
{
    fk_core *core = g->core;
    int keep = core && !core->destroying && !core->spare;
    if (g->xfer) fk_xfer_free(g->xfer);
    release_event(g->wake, keep);
    release_event(g->notify, keep);
    if (g->scanner) hm_scanner_free(g->scanner);
    free(g->fast.content);
    free(g->out.pieces);
    strbuf_clear(&g->out.arena);
    free(g->out.tops);
    free(g->path);
    free(g->body);
    if (keep) {
        core->spare = g;
        return;
    }
    free(g);
}

/* A zeroed generation: the spare one when there is one (its idle events
 * kept), else fresh memory. */
static fk_gen *gen_alloc(fk_core *core)
{
    fk_gen *g = core->spare;
    if (!g) return calloc(1, sizeof *g);
    core->spare = NULL;
    struct event *wake = g->wake, *notify = g->notify;
    memset(g, 0, sizeof *g);
    g->wake = wake;
    g->notify = notify;
    return g;
}

/* The core's spare generation, with its events. */
static void gen_free_spare(fk_core *core)
{
    fk_gen *g = core->spare;
    if (!g) return;
    core->spare = NULL;
    if (g->wake) event_free(g->wake);
    if (g->notify) event_free(g->notify);
    free(g);
}

/* Deliver on_done and forget the generation. Called only from loop events. */
static void gen_finish(fk_gen *g)
{
    if (g->state == GEN_DONE) return;
    g->state = GEN_DONE;
    gen_unlink(g);
    if (g->cancelled) {
        g->stats.finish = FK_FINISH_CANCELLED;
        g->err.set = 0;
    } else if (g->err.set) {
        g->stats.finish = FK_FINISH_ERROR;
    } else if (g->stats.finish == FK_FINISH_NONE) {
        g->stats.finish = FK_FINISH_STOP;
    }
    if (g->stats.queue_ms == 0) {
        double first = g->t_first_byte_ms ? g->t_first_byte_ms : proxy_now_ms();
        double q = first - g->t_created_ms - g->stats.prefill_ms;
        g->stats.queue_ms = q > 0 ? q : 0;
    }
    fk_error e = {.struct_size = sizeof e};
    if (g->err.set) {
        e.http_status = g->err.http_status;
        e.type = g->err.type;
        e.code = g->err.code[0] ? g->err.code : NULL;
        e.message = g->err.message;
        e.retry_after_s = g->err.retry_after_s;
        e.not_ready = g->err.not_ready;
        proxy_log(g->core, FK_LOG_WARN, "request %s failed: %d %s: %s", g->request_id,
                  e.http_status, e.code ? e.code : "-", e.message);
    }
    g->cb.on_done(g->ud, &g->stats, g->err.set ? &e : NULL);
    gen_free(g);
}

static int gen_sink_event(void *owner, const char *field, char *value, size_t len)
{
    fk_gen *g = owner;
    g->t_last_event_ms = proxy_now_ms();
    if (g->cancelled) return -1;
    g->events++;
    return g->mode == FK_GEN_PASSTHROUGH ? passthrough_event(g, field, value, len)
                                         : harmony_event(g, field, value, len);
}

static void gen_sink_first_byte(void *owner)
{
    fk_gen *g = owner;
    g->t_first_byte_ms = proxy_now_ms();
}

/* The replica refused the connection or answered 503 (loading): its health
 * says so at once and it is polled now, so no other request is sent there
 * meanwhile. */
static void note_not_ready(replica *r, const fk_xfer_end *end)
{
    int refused = end->curl_code == CURLE_COULDNT_CONNECT;
    int loading = end->curl_code == CURLE_OK && end->status == 503;
    if (refused || loading) {
        char detail[sizeof r->health_detail];
        if (refused)
            health_unreachable_detail(r->base, end->curl_code, end->curl_error, detail,
                                      sizeof detail);
        else
            snprintf(detail, sizeof detail, "Loading model");
        health_set(r, refused ? FK_HEALTH_UNAVAILABLE : FK_HEALTH_LOADING, detail);
    }
    health_poke(r);
}

/* A try that failed before anything of it was read (unreachable, the
 * connection lost, 502/503/504: loading, or a proxy in between) may go to
 * another replica: the client has seen nothing of it. A first-byte timeout
 * is not retried (the replica was working on it), nor a real answer. */
static int retryable(const fk_gen *g, const fk_xfer_end *end)
{
    if (g->cancelled || g->pieces_sent > 0 || g->events > 0 || g->err.set || g->limit_reached ||
        end->aborted || end->timeout != FK_XFER_NO_TIMEOUT)
        return 0;
    switch (end->curl_code) {
    case CURLE_OK:
        return end->status == 502 || end->status == 503 || end->status == 504;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT: /* connecting (our watchdog is excluded above) */
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        return 1;
    default:
        return 0;
    }
}

/* 1 when the try ended in a failure of the replica (for its counter): a
 * transport failure or a server error, not a request the upstream refused. */
static int failed_on_replica(const fk_gen *g, const fk_xfer_end *end)
{
    return !g->cancelled && (end->curl_code != CURLE_OK || end->timeout != FK_XFER_NO_TIMEOUT ||
                             end->status >= 500 || (g->err.set && g->err.http_status >= 500));
}

static int gen_start(fk_gen *g);

static void gen_sink_done(void *owner, fk_xfer *x, const fk_xfer_end *end)
{
    fk_gen *g = owner;
    replica *r = g->replica;
    g->xfer = NULL;
    r->in_flight--;
    int failed = failed_on_replica(g, end);
    if (failed) r->failures++;
    if (retryable(g, end)) {
        note_not_ready(r, end);
        if (gen_start(g) == 0) {
            r->retries++;
            proxy_log(g->core, FK_LOG_WARN,
                      "request %s: %s failed before any output; retried on %s", g->request_id,
                      r->base, g->replica->base);
            fk_xfer_free(x);
            return;
        }
        /* no ready replica left untried: this failure is reported as it is */
    }
    /* The mode's finish also flushes held text when the sink itself stopped on
     * an error or at the completion budget. */
    if (!g->cancelled && (!end->aborted || g->err.set || g->limit_reached)) {
        if (g->mode == FK_GEN_PASSTHROUGH)
            passthrough_finish(g, end);
        else
            harmony_finish(g, end);
        if (failed && g->pieces_sent == 0) note_not_ready(r, end);
        g->err.not_ready =
            g->err.set && g->pieces_sent == 0 && end->curl_code == CURLE_OK && end->status == 503;
    } else if (!g->cancelled && end->aborted && !g->err.set) {
        gen_fail(g, 502, "server_error", "upstream_error", "the upstream stream was abandoned");
    }
    /* A transfer that failed on the wire may mean the replica is gone:
     * have /health say so now rather than at the next poll. */
    if (end->curl_code != CURLE_OK || end->timeout) health_poke(r);
    fk_xfer_free(x);
    gen_finish(g);
}

void gens_fail_silent(replica *r, double silent_ms, const char *why)
{
    double now = proxy_now_ms();
    for (fk_gen *g = r->core->gens; g; g = g->next) {
        if (g->replica != r || g->state != GEN_RUNNING || !g->xfer || g->cancelled) continue;
        double last = g->t_last_event_ms ? g->t_last_event_ms : g->t_started_ms;
        if (now - last < silent_ms) continue;
        gen_fail(g, 504, "server_error", "upstream_timeout",
                 "llama-server at %s stopped answering (%s) and sent nothing for this request "
                 "in %.0f s",
                 r->base, why, (now - last) / 1000);
        fk_xfer_abort(g->xfer);
    }
}

static const fk_xfer_sink GEN_SINK = {gen_sink_event, gen_sink_done, gen_sink_first_byte};

/* Start a try on the next replica. 0, or -1 when no ready replica is left
 * untried (nothing is recorded then). */
static int gen_start(fk_gen *g)
{
    fk_core *core = g->core;
    replica *r = replicas_choose(g);
    if (!r) return -1;
    g->replica = r;
    g->events = 0;
    g->t_first_byte_ms = 0;
    char url[2048];
    snprintf(url, sizeof url, "%s%s", r->base, g->path);
    fk_xfer_opts o = {
        .url = url,
        .body = g->body,
        .request_id = g->request_id[0] ? g->request_id : NULL,
        .connect_timeout_ms = core->cfg.connect_timeout_ms,
        .first_byte_ms = core->cfg.first_byte_ms,
        .idle_ms = core->cfg.idle_ms,
    };
    g->state = GEN_RUNNING;
    g->t_started_ms = proxy_now_ms();
    g->t_last_event_ms = 0;
    g->xfer = fk_xfer_start(core->curl, core->base, &o, &GEN_SINK, g);
    if (!g->xfer) {
        r->in_flight--;
        gen_fail(g, 500, "server_error", "internal_error",
                 "cannot start the upstream request to %s", url);
        event_active(g->wake, 0, 0);
        return 0;
    }
    struct timeval tv = tv_ms(core->cfg.waiting_notify_ms);
    evtimer_add(g->notify, &tv);
    return 0;
}

/* Zero-delay work: a cancelled or failed generation that has no transfer ends. */
static void gen_on_wake(evutil_socket_t fd, short what, void *arg)
{
    fk_gen *g = arg;
    if (g->state == GEN_DONE || g->xfer) return; /* the transfer reports by itself */
    if (g->cancelled || g->err.set) gen_finish(g);
}

/* Periodic until the first piece: keep the client informed (long prompt processing). */
static void gen_on_notify(evutil_socket_t fd, short what, void *arg)
{
    fk_gen *g = arg;
    if (g->pieces_sent > 0) return;
    if (g->cb.on_waiting) g->cb.on_waiting(g->ud, "prompt processing");
    if (g->state == GEN_DONE) return;
    struct timeval tv = tv_ms(g->core->cfg.waiting_notify_ms);
    evtimer_add(g->notify, &tv);
}

/* ---- the table's functions --------------------------------------------------------------------
 */

static fk_core *llama_create(const fk_host *host, char *err, size_t err_len)
{
    if (host_usable(host, err, err_len) != 0) return NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, err_len, "libcurl failed to initialise");
        return NULL;
    }
    fk_core *core = calloc(1, sizeof *core);
    if (!core) {
        snprintf(err, err_len, "out of memory");
        curl_global_cleanup();
        return NULL;
    }
    core->host = host;
    core->base = host->event_base(host);
    if (config_load(&core->cfg, host, err, err_len) != 0 || replicas_init(core, err, err_len) != 0)
        goto fail;
    if (core->cfg.use_harmony && load_tokenizer(core, err, err_len) != 0) goto fail;
    core->curl = fk_curl_loop_new(core->base, 256);
    if (!core->curl) {
        snprintf(err, err_len, "cannot set up libcurl on the event loop");
        goto fail;
    }
    for (int i = 0; i < core->n_replicas; i++) {
        if (health_start(&core->replicas[i]) != 0) {
            snprintf(err, err_len, "cannot start polling %s/health", core->replicas[i].base);
            goto fail;
        }
    }
    proxy_log(core, FK_LOG_INFO, "llama.cpp core at %s (%s mode%s)", core->cfg.api_base,
              core->cfg.use_harmony ? "Harmony" : "pass-through",
              core->n_replicas > 1 ? ", replicas" : "");
    return core;
fail:
    replicas_free(core);
    fk_curl_loop_free(core->curl);
    fktok_free(core->tok);
    config_clear(&core->cfg);
    free(core);
    curl_global_cleanup();
    return NULL;
}

static void llama_destroy(fk_core *core)
{
    if (!core) return;
    core->destroying = 1;
    while (core->gens) {
        fk_gen *g = core->gens;
        gen_unlink(g);
        gen_free(g);
    }
    gen_free_spare(core);
    replicas_free(core);
    fk_curl_loop_free(core->curl);
    fktok_free(core->tok);
    seg_cache_clear(&core->seg_cache);
    config_clear(&core->cfg);
    free(core);
    curl_global_cleanup();
}

static fk_health llama_health(fk_core *core, char *detail, size_t detail_len)
{
    if (detail && detail_len) {
        snprintf(detail, detail_len, "%s",
                 core->health == FK_HEALTH_READY ? "" : core->health_detail);
    }
    return core->health;
}

static size_t llama_list_models(fk_core *core, fk_model_info *out, size_t max, size_t info_size)
{
    if (max < 1) return 1;
    const char *id = core->cfg.model_id ? core->cfg.model_id : replicas_model(core);
    if (FK_HAS(info_size, fk_model_info, id)) out->id = id ? id : "gpt-oss";
    if (FK_HAS(info_size, fk_model_info, owned_by)) out->owned_by = "llamacpp";
    if (FK_HAS(info_size, fk_model_info, max_model_len))
        out->max_model_len =
            core->cfg.max_model_len ? core->cfg.max_model_len : replicas_n_ctx(core);
    return 1;
}

static size_t llama_replicas(fk_core *core, fk_replica_info *out, size_t max, size_t info_size)
{
    for (size_t i = 0; i < max && i < (size_t)core->n_replicas; i++) {
        const replica *r = &core->replicas[i];
        fk_replica_info *o = (fk_replica_info *)((char *)out + i * info_size);
        fk_replica_info v = {
            .url = r->base,
            .health = r->health,
            .detail = r->health == FK_HEALTH_READY ? "" : r->health_detail,
            .in_flight = r->in_flight,
            .slots_total = r->slots_total,
            .slots_idle = r->slots_total >= 0 ? r->slots_total - r->slots_busy : -1,
            .requests = r->requests,
            .failures = r->failures,
            .retries = r->retries,
            .sticky = r->sticky,
        };
        memcpy(o, &v, info_size < sizeof v ? info_size : sizeof v);
    }
    return (size_t)core->n_replicas;
}

/* The message buffer a refusal's text lives in until the host copies it
 * (generate() returns first; the host reads err right after, on this thread). */
static char refusal_msg[2048];

static fk_gen *llama_generate(fk_core *core, const fk_gen_request *request,
                              const fk_gen_callbacks *cb, void *ud, fk_error *err)
{
    fk_gen_request r; /* as far as the host wrote it */
    fk_abi_copy(&r, sizeof r, request, request->struct_size);
    fk_sampling sp;
    fk_abi_copy(&sp, sizeof sp, r.sampling, r.sampling ? r.sampling->struct_size : 0);
    r.sampling = &sp;
    const fk_gen_request *req = &r;
    if (!cb || !cb->on_pieces || !cb->on_done) {
        snprintf(refusal_msg, sizeof refusal_msg, "the host passed no callbacks");
        errors_refuse(err, refusal_msg, 500, "internal_error", NULL);
        return NULL;
    }
    if (core->health != FK_HEALTH_READY) { /* the host asks again once health() says READY */
        snprintf(refusal_msg, sizeof refusal_msg, "llama-server at %.800s is not ready: %.1100s",
                 core->cfg.api_base, core->health_detail);
        errors_refuse(err, refusal_msg, 503,
                      core->health == FK_HEALTH_LOADING ? "model_not_ready" : "core_unavailable",
                      NULL);
        if (FK_HAS_MEMBER(err, fk_error, retry_after_s)) err->retry_after_s = 5;
        if (FK_HAS_MEMBER(err, fk_error, not_ready))
            err->not_ready = core->health == FK_HEALTH_LOADING;
        for (int i = 0; i < core->n_replicas; i++) health_poke(&core->replicas[i]);
        return NULL;
    }
    fk_gen *g = gen_alloc(core);
    if (!g) {
        snprintf(refusal_msg, sizeof refusal_msg, "out of memory");
        errors_refuse(err, refusal_msg, 500, "internal_error", NULL);
        return NULL;
    }
    g->core = core;
    g->sticky = -1;
    fk_abi_copy(&g->cb, sizeof g->cb, cb, cb->struct_size);
    g->ud = ud;
    g->stats.struct_size = sizeof g->stats;
    g->mode = req->mode;
    g->t_created_ms = proxy_now_ms();
    snprintf(g->request_id, sizeof g->request_id, "%s", req->request_id ? req->request_id : "");
    int rc;
    if (req->mode == FK_GEN_PASSTHROUGH) {
        rc = passthrough_prepare(g, req, err, refusal_msg, sizeof refusal_msg);
    } else if (req->mode == FK_GEN_HARMONY || req->mode == FK_GEN_COMPLETION) {
        char why[400];
        if (load_tokenizer(core, why, sizeof why) != 0) {
            snprintf(refusal_msg, sizeof refusal_msg, "%s", why);
            errors_refuse(err, refusal_msg, 500, "tokenizer_unavailable", NULL);
            rc = -1;
        } else {
            int limit = req->max_model_len > 0    ? req->max_model_len
                        : core->cfg.max_model_len ? core->cfg.max_model_len
                                                  : replicas_n_ctx(core);
            rc = harmony_prepare(g, req, limit, err, refusal_msg, sizeof refusal_msg);
        }
    } else {
        snprintf(refusal_msg, sizeof refusal_msg, "unknown generation mode %d", (int)req->mode);
        errors_refuse(err, refusal_msg, 400, "invalid_value", NULL);
        rc = -1;
    }
    g->scanner = rc == 0 ? hm_scanner_new() : NULL;
    if (rc == 0 && !g->wake) g->wake = event_new(core->base, -1, 0, gen_on_wake, g);
    if (rc == 0 && !g->notify) g->notify = evtimer_new(core->base, gen_on_notify, g);
    if (rc == 0 && (!g->scanner || !g->wake || !g->notify)) {
        snprintf(refusal_msg, sizeof refusal_msg, "out of memory");
        errors_refuse(err, refusal_msg, 500, "internal_error", NULL);
        rc = -1;
    }
    if (rc != 0) {
        gen_free(g);
        return NULL;
    }
    g->next = core->gens;
    if (core->gens) core->gens->prev = g;
    core->gens = g;
    if (gen_start(g) != 0) { /* health() said ready a moment ago; a poll may have changed it */
        gen_fail(g, 503, "unavailable_error", "core_unavailable", "no replica is ready: %s",
                 core->health_detail);
        g->err.retry_after_s = 5;
        event_active(g->wake, 0, 0);
    }
    return g;
}

static void llama_cancel(fk_gen *g)
{
    if (!g || g->state == GEN_DONE || g->cancelled) return;
    g->cancelled = 1;
    if (g->xfer)
        fk_xfer_abort(g->xfer);
    else
        event_active(g->wake, 0, 0);
}

static void llama_resume(fk_gen *g)
{
    if (!g || g->state == GEN_DONE) return;
    if (g->xfer) fk_xfer_resume(g->xfer);
}

static const fk_driver LLAMA_DRIVER = {
    .abi_version = FK_DRIVER_ABI_VERSION,
    .struct_size = sizeof(fk_driver),
    .name = "llamacpp",
    .version = DRIVER_VERSION,
    .probe = NULL,
    .create = llama_create,
    .destroy = llama_destroy,
    .health = llama_health,
    .list_models = llama_list_models,
    .generate = llama_generate,
    .cancel = llama_cancel,
    .resume = llama_resume,
    .metrics = NULL,
    .replicas = llama_replicas,
};

__attribute__((visibility("default"))) const fk_driver *fk_driver_init(void);

const fk_driver *fk_driver_init(void)
{
    return &LLAMA_DRIVER;
}
