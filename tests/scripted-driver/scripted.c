/* scripted.c: fk-driver-scripted.so, a test driver that plays scripted piece
 * streams with programmable delays, errors and stalls.
 *
 * Keys (through fk_host.config_get):
 *   FK_SCRIPT_FILE           JSON file with the scripts (below); without it the
 *                            built-in "default" script is played
 *   FK_SCRIPT_LOG            file to which generate/cancel/pause/resume/done
 *                            events are appended, one line each:
 *                            "EVENT REQUEST_ID SCRIPT[ DETAIL]"
 *   FK_SCRIPT_LOAD_MS        health() reports LOADING this long after create()
 *   FK_SCRIPT_PROBE_DECLINE  probe() declines with this reason
 *   FK_SCRIPT_CREATE_FAIL    create() fails with this reason
 *   FK_SCRIPT_MODEL          the served model id                [fk-scripted]
 *
 * Script file:
 *   {"default": "NAME",
 *    "scripts": {"NAME": {
 *       "harmony": "<|channel|>final<|message|>Hi there<|return|>",  split into
 *                   pieces: each special token alone, text at word starts; or
 *       "pieces": [{"text": "...", "special": true, "id": 200005, "delay_ms": 5}],
 *       "repeat": 1,          play the pieces this many times
 *       "delay_ms": 0,        between pieces (a piece's own delay_ms wins)
 *       "first_delay_ms": 0,  before the first piece
 *       "waiting": false,     call on_waiting before the first piece
 *       "prompt_tokens": N,   reported (default: specials + text bytes / 4)
 *       "finish": "stop",     stop | length | stop_word (after the pieces)
 *       "error": {...},       end with this error instead (fk_error fields:
 *                             status, type, code, param, message, retry_after_s)
 *       "refuse": {...},      generate() refuses with this error
 *       "stall": false,       after the pieces, wait for cancel forever
 *       "thread": false}}}    start playback from a worker thread through
 *                             fk_host.post (exercises the cross-thread path)
 *
 * The script is chosen by the last "script:NAME" in the prompt's text (or in a
 * pass-through body); none -> "default". A pass-through body is written to the
 * log as "body REQUEST_ID SCRIPT JSON", the sampling parameters as
 * "params REQUEST_ID SCRIPT mode=... max_tokens=... stop=a|b". The generation honours max_tokens
 * (finish length), max_model_len (refuses context_length_exceeded), cancel
 * (on_done CANCELLED from the loop) and pause/resume. */
#define _GNU_SOURCE /* memmem */
#include <event2/event.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver.h"

/* ---- scripts ------------------------------------------------------------------ */

typedef struct sc_piece {
    char *text;       /* owned */
    size_t len;       /* bytes */
    int32_t token_id; /* -1 when unknown */
    int is_special;   /* a special token */
    int delay_ms;     /* before this piece; -1: the script's delay */
} sc_piece;

typedef struct sc_error {
    int status;        /* HTTP status */
    char *type;        /* owned or NULL */
    char *code;        /* owned or NULL */
    char *param;       /* owned or NULL */
    char *message;     /* owned or NULL */
    int retry_after_s; /* Retry-After */
} sc_error;

typedef struct sc_script {
    char *name;         /* owned */
    sc_piece *pieces;   /* owned array */
    size_t n_pieces;    /* entries */
    int repeat;         /* plays of the piece list */
    int delay_ms;       /* default delay between pieces */
    int first_delay_ms; /* before the first piece */
    int waiting;        /* call on_waiting before the first piece */
    int prompt_tokens;  /* -1: estimate */
    fk_finish finish;   /* how a complete play ends */
    int has_error;      /* end with `error` */
    sc_error error;     /* the error at the end */
    int has_refuse;     /* generate() refuses with `refuse` */
    sc_error refuse;    /* the refusal */
    int stall;          /* never finish on its own */
    int thread;         /* start from a worker thread via fk_host.post */
} sc_script;

static const struct {
    const char *text; /* spelling */
    int32_t id;       /* o200k_harmony id */
} specials[] = {
    {"<|startoftext|>", 199998}, {"<|endoftext|>", 199999}, {"<|return|>", 200002},
    {"<|constrain|>", 200003},   {"<|channel|>", 200005},   {"<|start|>", 200006},
    {"<|end|>", 200007},         {"<|message|>", 200008},   {"<|call|>", 200012},
};

static int32_t special_id(const char *t, size_t n)
{
    for (size_t i = 0; i < sizeof specials / sizeof *specials; i++)
        if (strlen(specials[i].text) == n && memcmp(specials[i].text, t, n) == 0)
            return specials[i].id;
    return -2;
}

static int add_piece(sc_script *s, const char *t, size_t n, int special, int32_t id, int delay)
{
    sc_piece *p = realloc(s->pieces, (s->n_pieces + 1) * sizeof *p);
    if (!p) return -1;
    s->pieces = p;
    char *copy = malloc(n + 1);
    if (!copy) return -1;
    memcpy(copy, t, n);
    copy[n] = '\0';
    s->pieces[s->n_pieces++] = (sc_piece){copy, n, id, special, delay};
    return 0;
}

/* "<|channel|>final<|message|>Hi there" -> "<|channel|>", "final", "<|message|>", "Hi", " there" */
static int split_harmony(sc_script *s, const char *h)
{
    const char *p = h;
    while (*p) {
        if (p[0] == '<' && p[1] == '|') {
            const char *e = strstr(p + 2, "|>");
            if (e && special_id(p, (size_t)(e + 2 - p)) != -2) {
                size_t n = (size_t)(e + 2 - p);
                if (add_piece(s, p, n, 1, special_id(p, n), -1) < 0) return -1;
                p += n;
                continue;
            }
        }
        const char *q = p;
        while (*q == ' ' || *q == '\n') q++;
        while (*q && *q != ' ' && *q != '\n' && !(q[0] == '<' && q[1] == '|')) q++;
        if (q == p) q++;
        if (add_piece(s, p, (size_t)(q - p), 0, -1, -1) < 0) return -1;
        p = q;
    }
    return 0;
}

static char *dup_opt(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? strdup(v) : NULL;
}

static void load_error(sc_error *e, const json_t *o)
{
    json_t *st = json_object_get(o, "status");
    e->status = st ? (int)json_integer_value(st) : 500;
    e->type = dup_opt(o, "type");
    e->code = dup_opt(o, "code");
    e->param = dup_opt(o, "param");
    e->message = dup_opt(o, "message");
    e->retry_after_s = (int)json_integer_value(json_object_get(o, "retry_after_s"));
}

static void free_error(sc_error *e)
{
    free(e->type);
    free(e->code);
    free(e->param);
    free(e->message);
}

static void free_script(sc_script *s)
{
    for (size_t i = 0; i < s->n_pieces; i++) free(s->pieces[i].text);
    free(s->pieces);
    free(s->name);
    free_error(&s->error);
    free_error(&s->refuse);
}

static int int_or(const json_t *o, const char *key, int def)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int)json_integer_value(v) : def;
}

static int load_script(sc_script *s, const char *name, const json_t *o, char *err, size_t err_len)
{
    memset(s, 0, sizeof *s);
    s->name = strdup(name);
    s->repeat = int_or(o, "repeat", 1);
    s->delay_ms = int_or(o, "delay_ms", 0);
    s->first_delay_ms = int_or(o, "first_delay_ms", 0);
    s->waiting = json_is_true(json_object_get(o, "waiting"));
    s->prompt_tokens = int_or(o, "prompt_tokens", -1);
    s->stall = json_is_true(json_object_get(o, "stall"));
    s->thread = json_is_true(json_object_get(o, "thread"));
    const char *fin = json_string_value(json_object_get(o, "finish"));
    s->finish = !fin || strcmp(fin, "stop") == 0 ? FK_FINISH_STOP
                : strcmp(fin, "length") == 0     ? FK_FINISH_LENGTH
                                                 : FK_FINISH_STOP_WORD;
    if (json_is_object(json_object_get(o, "error"))) {
        s->has_error = 1;
        load_error(&s->error, json_object_get(o, "error"));
    }
    if (json_is_object(json_object_get(o, "refuse"))) {
        s->has_refuse = 1;
        load_error(&s->refuse, json_object_get(o, "refuse"));
    }
    const char *h = json_string_value(json_object_get(o, "harmony"));
    if (h && split_harmony(s, h) < 0) return snprintf(err, err_len, "out of memory"), -1;
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(o, "pieces"), i, p)
    {
        const char *t = json_string_value(json_object_get(p, "text"));
        if (!t) return snprintf(err, err_len, "script %s: piece %zu has no text", name, i), -1;
        int special = json_is_true(json_object_get(p, "special"));
        json_t *id = json_object_get(p, "id");
        int32_t tid = json_is_integer(id) ? (int32_t)json_integer_value(id)
                      : special           ? special_id(t, strlen(t))
                                          : -1;
        if (add_piece(s, t, strlen(t), special, tid < -1 ? -1 : tid, int_or(p, "delay_ms", -1)) < 0)
            return snprintf(err, err_len, "out of memory"), -1;
    }
    return 0;
}

/* ---- the core ------------------------------------------------------------------- */

typedef struct fk_gen sc_gen;

struct fk_core {
    const fk_host *host; /* the gateway's services */
    sc_script *scripts;  /* owned array */
    size_t n_scripts;    /* entries */
    char *default_name;  /* script without "script:NAME" */
    char *model;         /* served model id */
    char *log_path;      /* FK_SCRIPT_LOG or NULL */
    double load_until;   /* monotonic seconds when loading ends */
    double load_ms;      /* FK_SCRIPT_LOAD_MS */
    sc_gen *gens;        /* live generations */
};

struct fk_gen {
    struct fk_core *core;       /* owner */
    sc_gen *next;               /* core->gens links */
    const sc_script *script;    /* what is played */
    const fk_gen_callbacks *cb; /* host callbacks */
    void *ud;                   /* their argument */
    char *request_id;           /* for the log */
    struct event *timer;        /* drives the playback */
    size_t pos;                 /* next piece index over all repeats */
    int delivered;              /* pieces delivered */
    int max_tokens;             /* budget */
    int prompt_tokens;          /* reported */
    int paused;                 /* on_pieces returned 1 */
    int cancelled;              /* cancel() was called */
    int stalled;                /* the script is stalling */
    int waited;                 /* the first step (on_waiting, first delay) ran */
    int posting;                /* a worker thread has yet to post the start */
    double t_start;             /* generate() time */
    double t_first;             /* first piece time */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sc_log(struct fk_core *c, const char *event, const sc_gen *g, const char *detail)
{
    if (!c->log_path) return;
    FILE *f = fopen(c->log_path, "a");
    if (!f) return;
    fprintf(f, "%s %s %s%s%s\n", event, g->request_id, g->script->name, detail ? " " : "",
            detail ? detail : "");
    fclose(f);
}

static const char *cfg(const fk_host *h, const char *key)
{
    const char *v = h->config_get(h, key);
    return v && *v ? v : NULL;
}

static int scripted_probe(const fk_host *host, char *why, size_t why_len)
{
    const char *d = cfg(host, "FK_SCRIPT_PROBE_DECLINE");
    if (!d) return 0;
    snprintf(why, why_len, "%s", d);
    return 1;
}

static const char *builtin_default =
    "{\"scripts\":{\"default\":{\"harmony\":\"<|channel|>analysis<|message|>The user greets "
    "me.<|end|><|start|>assistant<|channel|>final<|message|>Hello! How can I help?<|return|>\"}}}";

static int load_scripts(struct fk_core *c, char *err, size_t err_len)
{
    const char *path = cfg(c->host, "FK_SCRIPT_FILE");
    json_error_t je;
    json_t *root = path ? json_load_file(path, 0, &je) : json_loads(builtin_default, 0, &je);
    if (!root)
        return snprintf(err, err_len, "%s:%d: %s", path ? path : "(builtin)", je.line, je.text), -1;
    const json_t *scripts = json_object_get(root, "scripts");
    const char *def = json_string_value(json_object_get(root, "default"));
    c->default_name = strdup(def ? def : "default");
    size_t n = json_object_size(scripts);
    c->scripts = calloc(n ? n : 1, sizeof *c->scripts);
    const char *name;
    json_t *o;
    int rc = 0;
    json_object_foreach((json_t *)scripts, name, o)
    {
        if (rc == 0) rc = load_script(&c->scripts[c->n_scripts], name, o, err, err_len);
        c->n_scripts++;
    }
    json_decref(root);
    return rc;
}

static void scripted_destroy(struct fk_core *c)
{
    if (!c) return;
    while (c->gens) {
        sc_gen *g = c->gens;
        c->gens = g->next;
        if (g->timer) event_free(g->timer);
        free(g->request_id);
        free(g);
    }
    for (size_t i = 0; i < c->n_scripts; i++) free_script(&c->scripts[i]);
    free(c->scripts);
    free(c->default_name);
    free(c->model);
    free(c->log_path);
    free(c);
}

static struct fk_core *scripted_create(const fk_host *host, char *err, size_t err_len)
{
    const char *fail = cfg(host, "FK_SCRIPT_CREATE_FAIL");
    if (fail) {
        snprintf(err, err_len, "%s", fail);
        return NULL;
    }
    struct fk_core *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->host = host;
    const char *model = cfg(host, "FK_SCRIPT_MODEL");
    c->model = strdup(model ? model : "fk-scripted");
    const char *log = cfg(host, "FK_SCRIPT_LOG");
    c->log_path = log ? strdup(log) : NULL;
    const char *load = cfg(host, "FK_SCRIPT_LOAD_MS");
    c->load_ms = load ? atof(load) : 0;
    c->load_until = now_s() + c->load_ms / 1000.0;
    if (load_scripts(c, err, err_len) < 0) {
        scripted_destroy(c);
        return NULL;
    }
    host->log(host, FK_LOG_INFO, "%zu script(s), model %s", c->n_scripts, c->model);
    return c;
}

static fk_health scripted_health(struct fk_core *c, char *detail, size_t detail_len)
{
    double left = c->load_until - now_s();
    if (left <= 0) return FK_HEALTH_READY;
    snprintf(detail, detail_len, "Loading model: %d%%",
             (int)(100.0 * (1.0 - left * 1000.0 / c->load_ms)));
    return FK_HEALTH_LOADING;
}

static size_t scripted_list_models(struct fk_core *c, fk_model_info *out, size_t max)
{
    if (max > 0) out[0] = (fk_model_info){c->model, "forgekeeper", 0};
    return 1;
}

/* ---- playback ---------------------------------------------------------------------- */

static void unlink_gen(sc_gen *g)
{
    for (sc_gen **pp = &g->core->gens; *pp; pp = &(*pp)->next) {
        if (*pp == g) {
            *pp = g->next;
            return;
        }
    }
}

static void finish(sc_gen *g, fk_finish how, const sc_error *e)
{
    fk_gen_stats st = {.prompt_tokens = g->prompt_tokens,
                       .completion_tokens = g->delivered,
                       .queue_ms = 0,
                       .prefill_ms = g->t_first > 0 ? (g->t_first - g->t_start) * 1000 : 0,
                       .decode_ms = g->t_first > 0 ? (now_s() - g->t_first) * 1000 : 0,
                       .finish = how};
    fk_error fe = {0};
    if (e)
        fe = (fk_error){e->status, e->type ? e->type : "server_error",         e->code,
                        e->param,  e->message ? e->message : "scripted error", e->retry_after_s};
    static const char *const names[] = {"none",   "stop",      "stop_word",
                                        "length", "cancelled", "error"};
    sc_log(g->core, "done", g, names[how]);
    unlink_gen(g);
    g->cb->on_done(g->ud, &st, e ? &fe : NULL);
    event_free(g->timer);
    free(g->request_id);
    free(g);
}

static void schedule(sc_gen *g, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(g->timer, &tv);
}

static size_t total_pieces(const sc_gen *g)
{
    return g->script->n_pieces * (size_t)(g->script->repeat > 0 ? g->script->repeat : 1);
}

/* The timer: deliver a batch (up to the next delay), then schedule the rest. */
static void step(evutil_socket_t fd, short what, void *arg)
{
    sc_gen *g = arg;
    const sc_script *s = g->script;
    if (g->cancelled) return finish(g, FK_FINISH_CANCELLED, NULL);
    if (g->paused || g->stalled) return;
    if (!g->waited) {
        g->waited = 1;
        if (s->waiting) g->cb->on_waiting(g->ud, "scripted: queued");
        if (s->first_delay_ms > 0) return schedule(g, s->first_delay_ms);
    }
    fk_piece batch[64];
    size_t n = 0;
    size_t total = total_pieces(g);
    while (g->pos < total && n < 64 && g->delivered < g->max_tokens) {
        const sc_piece *p = &s->pieces[g->pos % s->n_pieces];
        int delay = p->delay_ms >= 0 ? p->delay_ms : s->delay_ms;
        if (n > 0 && delay > 0) break;
        batch[n++] = (fk_piece){p->text, p->len, p->token_id, p->is_special};
        g->pos++;
        g->delivered++;
    }
    if (n > 0) {
        if (g->t_first == 0) g->t_first = now_s();
        if (g->cb->on_pieces(g->ud, batch, n) != 0) {
            g->paused = 1;
            sc_log(g->core, "pause", g, NULL);
        }
        if (g->cancelled) return finish(g, FK_FINISH_CANCELLED, NULL);
    }
    if (g->pos < total && g->delivered >= g->max_tokens) return finish(g, FK_FINISH_LENGTH, NULL);
    if (g->pos < total) {
        if (g->paused) return;
        const sc_piece *p = &s->pieces[g->pos % s->n_pieces];
        return schedule(g, p->delay_ms >= 0 ? p->delay_ms : s->delay_ms);
    }
    if (s->stall) {
        g->stalled = 1;
        sc_log(g->core, "stall", g, NULL);
        return;
    }
    if (s->has_error) return finish(g, FK_FINISH_ERROR, &s->error);
    finish(g, s->finish, NULL);
}

/* ---- generate ------------------------------------------------------------------------ */

/* The last "script:NAME" in text[0..len), written into name. */
static void find_script_name(const char *text, size_t len, char *name, size_t name_len)
{
    const char *p = text, *end = text + len;
    while (p && p < end) {
        const char *hit = memmem(p, (size_t)(end - p), "script:", 7);
        if (!hit) break;
        const char *q = hit + 7, *e = q;
        while (e < end && ((*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z') ||
                           (*e >= '0' && *e <= '9') || *e == '_' || *e == '-' || *e == '.'))
            e++;
        if (e > q && (size_t)(e - q) < name_len) {
            memcpy(name, q, (size_t)(e - q));
            name[e - q] = '\0';
        }
        p = e;
    }
}

static const sc_script *find_script(const struct fk_core *c, const char *name)
{
    for (size_t i = 0; i < c->n_scripts; i++)
        if (strcmp(c->scripts[i].name, name) == 0) return &c->scripts[i];
    return NULL;
}

static int estimate_prompt(const fk_gen_request *req)
{
    size_t bytes = 0;
    int n = 0;
    for (size_t i = 0; i < req->n_segments; i++) {
        if (req->segments[i].kind == FK_SEG_SPECIAL || req->segments[i].kind == FK_SEG_TOKEN)
            n++;
        else
            bytes += req->segments[i].len;
    }
    if (req->passthrough_body) bytes += strlen(req->passthrough_body);
    return n + (int)((bytes + 3) / 4);
}

static void refuse(fk_error *err, int status, const char *code, const char *param, const char *msg)
{
    *err = (fk_error){status, status >= 500 ? "unavailable_error" : "invalid_request_error",
                      code,   param,
                      msg,    status == 503 ? 5 : 0};
}

/* "params ID SCRIPT mode=M max_tokens=N ... stop=a|b": what the host asked for. */
static void log_params(struct fk_core *c, const sc_gen *g, const fk_gen_request *req)
{
    const fk_sampling *s = &req->sampling;
    char line[1024];
    int n = snprintf(line, sizeof line,
                     "mode=%d model=%s max_model_len=%d max_tokens=%d temperature=%g top_p=%g "
                     "top_k=%d seed=%s%llu presence=%g frequency=%g logprobs=%d top_logprobs=%d "
                     "segments=%zu stop=",
                     (int)req->mode, req->model ? req->model : "-", req->max_model_len,
                     s->max_tokens, s->temperature, s->top_p, s->top_k,
                     s->has_seed ? "" : "none:", (unsigned long long)s->seed, s->presence_penalty,
                     s->frequency_penalty, s->logprobs, s->top_logprobs, req->n_segments);
    for (size_t i = 0; i < s->n_stop && n > 0 && (size_t)n < sizeof line; i++)
        n += snprintf(line + n, sizeof line - (size_t)n, "%s%s", i ? "|" : "", s->stop[i]);
    sc_log(c, "params", g, line);
}

/* Loop thread, posted from start_thread: begin playing. */
static void start_posted(void *arg)
{
    sc_gen *g = arg;
    sc_log(g->core, "posted", g, NULL);
    g->posting = 0;
    schedule(g, 0);
}

/* Worker thread: hand the generation back to the loop, as an engine would. */
static void *start_thread(void *arg)
{
    sc_gen *g = arg;
    const fk_host *h = g->core->host;
    struct timespec ts = {0, 2 * 1000 * 1000};
    nanosleep(&ts, NULL);
    if (h->post(h, start_posted, g) != 0) h->log(h, FK_LOG_ERROR, "post failed");
    return NULL;
}

static sc_gen *scripted_generate(struct fk_core *c, const fk_gen_request *req,
                                 const fk_gen_callbacks *cb, void *ud, fk_error *err)
{
    static char msg[256];
    if (now_s() < c->load_until) {
        refuse(err, 503, "model_loading", NULL, "the scripted model is still loading");
        return NULL;
    }
    char name[64] = "";
    for (size_t i = 0; i < req->n_segments; i++)
        if (req->segments[i].text)
            find_script_name(req->segments[i].text, req->segments[i].len, name, sizeof name);
    if (req->passthrough_body)
        find_script_name(req->passthrough_body, strlen(req->passthrough_body), name, sizeof name);
    const sc_script *s = find_script(c, name[0] ? name : c->default_name);
    if (!s || s->n_pieces == 0) {
        snprintf(msg, sizeof msg, "scripted driver: no script named '%s' (or it is empty)",
                 name[0] ? name : c->default_name);
        refuse(err, 400, "unknown_script", "messages", msg);
        return NULL;
    }
    int prompt = s->prompt_tokens >= 0 ? s->prompt_tokens : estimate_prompt(req);
    if (req->max_model_len > 0 && prompt >= req->max_model_len) {
        snprintf(msg, sizeof msg,
                 "This model's maximum context length is %d tokens. However, your messages "
                 "resulted in %d tokens.",
                 req->max_model_len, prompt);
        refuse(err, 400, "context_length_exceeded", "messages", msg);
        return NULL;
    }
    if (s->has_refuse) {
        *err = (fk_error){s->refuse.status,
                          s->refuse.type ? s->refuse.type : "invalid_request_error",
                          s->refuse.code,
                          s->refuse.param,
                          s->refuse.message ? s->refuse.message : "scripted refusal",
                          s->refuse.retry_after_s};
        return NULL;
    }
    sc_gen *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->core = c;
    g->script = s;
    g->cb = cb;
    g->ud = ud;
    g->request_id = strdup(req->request_id ? req->request_id : "-");
    g->max_tokens = req->sampling.max_tokens > 0 ? req->sampling.max_tokens : 1 << 30;
    if (req->max_model_len > 0 && g->max_tokens > req->max_model_len - prompt)
        g->max_tokens = req->max_model_len - prompt;
    g->prompt_tokens = prompt;
    g->t_start = now_s();
    g->timer = evtimer_new(c->host->event_base(c->host), step, g);
    g->next = c->gens;
    c->gens = g;
    sc_log(c, "generate", g, NULL);
    log_params(c, g, req);
    if (req->passthrough_body) sc_log(c, "body", g, req->passthrough_body);
    /* start_posted runs on this (the loop) thread, after generate() returns */
    pthread_t t;
    g->posting = s->thread && pthread_create(&t, NULL, start_thread, g) == 0;
    if (g->posting)
        pthread_detach(t);
    else
        schedule(g, 0);
    return g;
}

static void scripted_cancel(sc_gen *g)
{
    if (g->cancelled) return;
    g->cancelled = 1;
    sc_log(g->core, "cancel", g, NULL);
    if (g->posting) return; /* start_posted will run the cancelled step */
    evtimer_del(g->timer);
    schedule(g, 0);
}

static void scripted_resume(sc_gen *g)
{
    if (!g->paused) return;
    g->paused = 0;
    sc_log(g->core, "resume", g, NULL);
    schedule(g, 0);
}

static const fk_driver scripted_driver = {
    .abi_version = FK_DRIVER_ABI_VERSION,
    .struct_size = sizeof(fk_driver),
    .name = "scripted",
    .version = "1.0",
    .probe = scripted_probe,
    .create = scripted_create,
    .destroy = scripted_destroy,
    .health = scripted_health,
    .list_models = scripted_list_models,
    .generate = scripted_generate,
    .cancel = scripted_cancel,
    .resume = scripted_resume,
};

const fk_driver *fk_driver_init(void);
__attribute__((visibility("default"))) const fk_driver *fk_driver_init(void)
{
    return &scripted_driver;
}
