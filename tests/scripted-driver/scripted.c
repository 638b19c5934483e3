/* scripted.c: fk-driver-scripted.so, a test driver that plays scripted piece
 * streams with programmable delays, errors and stalls.
 *
 * Keys (through fk_host's getters: paths relative to the .env's folder):
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
 *       "cached_tokens": 0,   reported as served from a prefix cache
 *       "finish": "stop",     stop | length | stop_word (after the pieces)
 *       "error": {...},       end with this error instead (fk_error fields:
 *                             status, type, code, param, message, retry_after_s)
 *       "refuse": {...},      generate() refuses with this error
 *       "stall": false,       after the pieces, wait for cancel forever
 *       "ignore_max_tokens": false,  play every piece whatever max_tokens says
 *                             (a core that overruns: the gateway must stop it)
 *       "thread": false}}}    start playback from a worker thread through
 *                             fk_host.post (exercises the cross-thread path)
 *
 * The script is chosen by the last "script:NAME" in the prompt's text (or in a
 * pass-through body); none -> "default". A pass-through body is written to the
 * log as "body REQUEST_ID SCRIPT JSON", the request's tools as "tools
 * REQUEST_ID SCRIPT JSON", the sampling parameters as
 * "params REQUEST_ID SCRIPT mode=... max_tokens=... stop=a|b", the prompt as
 * "prompt REQUEST_ID SCRIPT \"...\"" (a JSON string: segments back to back,
 * specials spelled out). The generation honours max_tokens
 * (finish length), max_model_len (refuses context_length_exceeded), cancel
 * (on_done CANCELLED from the loop) and pause/resume. metrics() reports a KV
 * usage of live generations / 4 (backend "scripted").
 *
 * Like a real driver it uses only the host's services (timers, post), never
 * libevent. Built with -DSCRIPTED_SMALL_STRUCTS it is fk-driver-scripted-small.so,
 * which tests the ABI's size rules from the driver side: its table ends before
 * `metrics` (whose slot holds a function that aborts), and it hands the host
 * pieces, stats and errors smaller than the host's, with values the host must
 * not read just past their end (a completion_tokens of 999, a retry_after_s
 * of 7). */
#define _GNU_SOURCE /* memmem */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
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
    char *name;            /* owned */
    sc_piece *pieces;      /* owned array */
    size_t n_pieces;       /* entries */
    int repeat;            /* plays of the piece list */
    int delay_ms;          /* default delay between pieces */
    int first_delay_ms;    /* before the first piece */
    int waiting;           /* call on_waiting before the first piece */
    int prompt_tokens;     /* -1: estimate */
    int cached_tokens;     /* reported as served from a prefix cache */
    fk_finish finish;      /* how a complete play ends */
    int has_error;         /* end with `error` */
    sc_error error;        /* the error at the end */
    int has_refuse;        /* generate() refuses with `refuse` */
    sc_error refuse;       /* the refusal */
    int stall;             /* never finish on its own */
    int ignore_max_tokens; /* play past max_tokens */
    int thread;            /* start from a worker thread via fk_host.post */
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
    s->cached_tokens = int_or(o, "cached_tokens", 0);
    s->stall = json_is_true(json_object_get(o, "stall"));
    s->ignore_max_tokens = json_is_true(json_object_get(o, "ignore_max_tokens"));
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
    int n_gens;          /* entries in gens */
};

struct fk_gen {
    struct fk_core *core;    /* owner */
    sc_gen *next;            /* core->gens links */
    const sc_script *script; /* what is played */
    fk_gen_callbacks cb;     /* host callbacks (copied; absent ones NULL) */
    void *ud;                /* their argument */
    char *request_id;        /* for the log */
    fk_timer *timer;         /* drives the playback */
    size_t pos;              /* next piece index over all repeats */
    int delivered;           /* pieces delivered */
    int max_tokens;          /* budget */
    int prompt_tokens;       /* reported */
    int paused;              /* on_pieces returned 1 */
    int cancelled;           /* cancel() was called */
    int stalled;             /* the script is stalling */
    int waited;              /* the first step (on_waiting, first delay) ran */
    int posting;             /* a worker thread has yet to post the start */
    double t_start;          /* generate() time */
    double t_first;          /* first piece time */
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

/* The host members this driver calls (up to the timers). */
static int host_usable(const fk_host *h, char *err, size_t err_len)
{
    if (FK_HAS_MEMBER(h, fk_host, timer_free)) return 0;
    snprintf(err, err_len, "the host's fk_host (%u bytes) lacks the timers (timer_free)",
             h->struct_size);
    return -1;
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
    char *path = NULL;
    if (c->host->config_path(c->host, "FK_SCRIPT_FILE", &path, err, err_len) != 0) return -1;
    json_error_t je;
    json_t *root = path ? json_load_file(path, 0, &je) : json_loads(builtin_default, 0, &je);
    if (!root) {
        snprintf(err, err_len, "%s:%d: %s", path ? path : "(builtin)", je.line, je.text);
        free(path);
        return -1;
    }
    free(path);
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
        if (g->timer) c->host->timer_free(g->timer);
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
    if (host_usable(host, err, err_len) != 0) return NULL;
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
    long long load_ms;
    if (host->config_path(host, "FK_SCRIPT_LOG", &c->log_path, err, err_len) != 0 ||
        host->config_int(host, "FK_SCRIPT_LOAD_MS", 0, 0, 3600000, &load_ms, err, err_len) != 0) {
        scripted_destroy(c);
        return NULL;
    }
    c->load_ms = (double)load_ms;
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

static size_t scripted_list_models(struct fk_core *c, fk_model_info *out, size_t max,
                                   size_t info_size)
{
    if (max < 1) return 1;
    if (FK_HAS(info_size, fk_model_info, id)) out->id = c->model;
    if (FK_HAS(info_size, fk_model_info, owned_by)) out->owned_by = "forgekeeper";
    return 1;
}

#ifndef SCRIPTED_SMALL_STRUCTS
/* KV usage: live generations / 4 (capped at 1), so tests can see it change. */
static void scripted_metrics(struct fk_core *c, fk_core_metrics *out)
{
    if (FK_HAS_MEMBER(out, fk_core_metrics, kv_usage))
        out->kv_usage = c->n_gens >= 4 ? 1.0 : c->n_gens / 4.0;
    if (FK_HAS_MEMBER(out, fk_core_metrics, running)) out->running = c->n_gens;
    if (FK_HAS_MEMBER(out, fk_core_metrics, waiting)) out->waiting = 0;
    if (FK_HAS_MEMBER(out, fk_core_metrics, backend)) out->backend = "scripted";
}
#endif

/* ---- playback ---------------------------------------------------------------------- */

static void unlink_gen(sc_gen *g)
{
    for (sc_gen **pp = &g->core->gens; *pp; pp = &(*pp)->next) {
        if (*pp == g) {
            *pp = g->next;
            g->core->n_gens--;
            return;
        }
    }
}

#ifdef SCRIPTED_SMALL_STRUCTS
/* What a driver whose structs ended earlier hands over: the host must read
 * them by their size, never past it. */
typedef struct small_piece {
    const char *text;
    size_t len;
    int32_t token_id;
    int is_special;
} small_piece;

static void deliver_done(sc_gen *g, const fk_gen_stats *st, const fk_error *fe)
{
    fk_gen_stats s = *st;
    s.struct_size = offsetof(fk_gen_stats, completion_tokens);
    s.completion_tokens = 999; /* beyond its size: must not be read */
    fk_error e = fe ? *fe : (fk_error){0};
    e.struct_size = offsetof(fk_error, retry_after_s);
    e.retry_after_s = 7; /* beyond its size: must not be read */
    g->cb.on_done(g->ud, &s, fe ? &e : NULL);
}

static int deliver_pieces(sc_gen *g, const fk_piece *p, size_t n)
{
    small_piece small[64];
    for (size_t i = 0; i < n; i++)
        small[i] = (small_piece){p[i].text, p[i].len, p[i].token_id, p[i].is_special};
    return g->cb.on_pieces(g->ud, (const fk_piece *)(const void *)small, n, sizeof *small);
}
#else
static void deliver_done(sc_gen *g, const fk_gen_stats *st, const fk_error *fe)
{
    g->cb.on_done(g->ud, st, fe);
}

static int deliver_pieces(sc_gen *g, const fk_piece *p, size_t n)
{
    return g->cb.on_pieces(g->ud, p, n, sizeof *p);
}
#endif

/* Fill the host's fk_error member by member (it is the host's size). */
static void set_error(fk_error *err, int status, const char *type, const char *code,
                      const char *param, const char *msg, int retry_after_s)
{
    err->http_status = status;
    err->type = type;
    err->code = code;
    err->param = param;
    err->message = msg;
    if (FK_HAS_MEMBER(err, fk_error, retry_after_s)) err->retry_after_s = retry_after_s;
}

static void refuse(fk_error *err, int status, const char *code, const char *param, const char *msg)
{
    set_error(err, status, status >= 500 ? "unavailable_error" : "invalid_request_error", code,
              param, msg, status == 503 ? 5 : 0);
}

static void finish(sc_gen *g, fk_finish how, const sc_error *e)
{
    fk_gen_stats st = {.struct_size = sizeof st,
                       .prompt_tokens = g->prompt_tokens,
                       .cached_tokens = g->script->cached_tokens,
                       .completion_tokens = g->delivered,
                       .queue_ms = 0,
                       .prefill_ms = g->t_first > 0 ? (g->t_first - g->t_start) * 1000 : 0,
                       .decode_ms = g->t_first > 0 ? (now_s() - g->t_first) * 1000 : 0,
                       .finish = how};
    fk_error fe = {.struct_size = sizeof fe};
    if (e)
        set_error(&fe, e->status, e->type ? e->type : "server_error", e->code, e->param,
                  e->message ? e->message : "scripted error", e->retry_after_s);
    static const char *const names[] = {"none",   "stop",      "stop_word",
                                        "length", "cancelled", "error"};
    sc_log(g->core, "done", g, names[how]);
    unlink_gen(g);
    deliver_done(g, &st, e ? &fe : NULL);
    g->core->host->timer_free(g->timer);
    free(g->request_id);
    free(g);
}

static void schedule(sc_gen *g, int ms)
{
    g->core->host->timer_arm(g->timer, ms);
}

static size_t total_pieces(const sc_gen *g)
{
    return g->script->n_pieces * (size_t)(g->script->repeat > 0 ? g->script->repeat : 1);
}

/* The timer: deliver a batch (up to the next delay), then schedule the rest. */
static void step(void *arg)
{
    sc_gen *g = arg;
    const sc_script *s = g->script;
    if (g->cancelled) return finish(g, FK_FINISH_CANCELLED, NULL);
    if (g->paused || g->stalled) return;
    if (!g->waited) {
        g->waited = 1;
        if (s->waiting && g->cb.on_waiting) g->cb.on_waiting(g->ud, "scripted: queued");
        if (s->first_delay_ms > 0) return schedule(g, s->first_delay_ms);
    }
    fk_piece batch[64];
    size_t n = 0;
    size_t total = total_pieces(g);
    while (g->pos < total && n < 64 && g->delivered < g->max_tokens) {
        const sc_piece *p = &s->pieces[g->pos % s->n_pieces];
        int delay = p->delay_ms >= 0 ? p->delay_ms : s->delay_ms;
        if (n > 0 && delay > 0) break;
        batch[n++] = (fk_piece){.text = p->text,
                                .len = p->len,
                                .token_id = p->token_id,
                                .is_special = p->is_special,
                                .logprob = NAN};
        g->pos++;
        g->delivered++;
    }
    if (n > 0) {
        if (g->t_first == 0) g->t_first = now_s();
        if (deliver_pieces(g, batch, n) != 0) {
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

static const fk_segment *segment(const fk_gen_request *req, size_t i)
{
    return FK_AT(req->segments, i, req->segment_size);
}

static int estimate_prompt(const fk_gen_request *req)
{
    size_t bytes = 0;
    int n = 0;
    for (size_t i = 0; i < req->n_segments; i++) {
        const fk_segment *sg = segment(req, i);
        if (sg->kind == FK_SEG_SPECIAL || sg->kind == FK_SEG_TOKEN)
            n++;
        else
            bytes += sg->len;
    }
    if (req->mode == FK_GEN_PASSTHROUGH) bytes += req->client_body_len;
    return n + (int)((bytes + 3) / 4);
}

/* "params ID SCRIPT mode=M max_tokens=N ... stop=a|b": what the host asked for. */
static void log_params(struct fk_core *c, const sc_gen *g, const fk_gen_request *req)
{
    const fk_sampling *s = req->sampling;
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

/* "prompt ID SCRIPT \"...\"": the prompt's segments back to back (specials
 * spelled out, token ids as <|token:N|>) as one JSON string. */
static void log_prompt(struct fk_core *c, const sc_gen *g, const fk_gen_request *req)
{
    if (!c->log_path) return;
    size_t len = 0;
    for (size_t i = 0; i < req->n_segments; i++) len += segment(req, i)->len + 24;
    char *flat = malloc(len + 1);
    if (!flat) return;
    size_t o = 0;
    for (size_t i = 0; i < req->n_segments; i++) {
        const fk_segment *sg = segment(req, i);
        if (sg->text) {
            memcpy(flat + o, sg->text, sg->len);
            o += sg->len;
        } else {
            o += (size_t)snprintf(flat + o, len + 1 - o, "<|token:%d|>", (int)sg->token_id);
        }
    }
    json_t *js = json_stringn(flat, o);
    char *text = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
    if (text) sc_log(c, "prompt", g, text);
    free(text);
    json_decref(js);
    free(flat);
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

static sc_gen *scripted_generate(struct fk_core *c, const fk_gen_request *request,
                                 const fk_gen_callbacks *cb, void *ud, fk_error *err)
{
    static char msg[256];
    fk_gen_request r; /* as far as the host wrote it */
    fk_abi_copy(&r, sizeof r, request, request->struct_size);
    fk_sampling sp;
    fk_abi_copy(&sp, sizeof sp, r.sampling, r.sampling ? r.sampling->struct_size : 0);
    r.sampling = &sp;
    const fk_gen_request *req = &r;
    if (now_s() < c->load_until) { /* the host waits for health() READY first */
        refuse(err, 503, "model_loading", NULL, "the scripted model is still loading");
        if (FK_HAS_MEMBER(err, fk_error, not_ready)) err->not_ready = 1;
        return NULL;
    }
    char name[64] = "";
    for (size_t i = 0; i < req->n_segments; i++)
        if (segment(req, i)->text)
            find_script_name(segment(req, i)->text, segment(req, i)->len, name, sizeof name);
    if (req->mode == FK_GEN_PASSTHROUGH && req->client_body)
        find_script_name(req->client_body, req->client_body_len, name, sizeof name);
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
        set_error(err, s->refuse.status, s->refuse.type ? s->refuse.type : "invalid_request_error",
                  s->refuse.code, s->refuse.param,
                  s->refuse.message ? s->refuse.message : "scripted refusal",
                  s->refuse.retry_after_s);
        return NULL;
    }
    sc_gen *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->core = c;
    g->script = s;
    fk_abi_copy(&g->cb, sizeof g->cb, cb, cb->struct_size);
    g->ud = ud;
    g->request_id = strdup(req->request_id ? req->request_id : "-");
    g->max_tokens = sp.max_tokens > 0 ? sp.max_tokens : 1 << 30;
    if (req->max_model_len > 0 && g->max_tokens > req->max_model_len - prompt)
        g->max_tokens = req->max_model_len - prompt;
    if (s->ignore_max_tokens) g->max_tokens = 1 << 30;
    g->prompt_tokens = prompt;
    g->t_start = now_s();
    g->timer = c->host->timer_new(c->host, step, g);
    if (!g->request_id || !g->timer) {
        if (g->timer) c->host->timer_free(g->timer);
        free(g->request_id);
        free(g);
        refuse(err, 500, NULL, NULL, "scripted driver: out of memory");
        return NULL;
    }
    g->next = c->gens;
    c->gens = g;
    c->n_gens++;
    sc_log(c, "generate", g, NULL);
    log_params(c, g, req);
    if (req->tools_json) sc_log(c, "tools", g, req->tools_json);
    if (req->mode != FK_GEN_PASSTHROUGH) log_prompt(c, g, req);
    if (req->mode == FK_GEN_PASSTHROUGH && req->client_body) {
        char *body = strndup(req->client_body, req->client_body_len);
        if (body) sc_log(c, "body", g, body);
        free(body);
    }
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
    schedule(g, 0);
}

static void scripted_resume(sc_gen *g)
{
    if (!g->paused) return;
    g->paused = 0;
    sc_log(g->core, "resume", g, NULL);
    schedule(g, 0);
}

#ifdef SCRIPTED_SMALL_STRUCTS
/* Beyond this table's struct_size: the host must never call it. */
static void metrics_beyond_the_table(struct fk_core *c, fk_core_metrics *out)
{
    c->host->log(c->host, FK_LOG_ERROR, "metrics() called beyond the table's struct_size");
    abort();
}
#define SCRIPTED_TABLE_SIZE offsetof(fk_driver, metrics)
#define SCRIPTED_METRICS metrics_beyond_the_table
#else
#define SCRIPTED_TABLE_SIZE sizeof(fk_driver)
#define SCRIPTED_METRICS scripted_metrics
#endif

static const fk_driver scripted_driver = {
    .abi_version = FK_DRIVER_ABI_VERSION,
    .struct_size = SCRIPTED_TABLE_SIZE,
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
    .metrics = SCRIPTED_METRICS,
};

const fk_driver *fk_driver_init(void);
__attribute__((visibility("default"))) const fk_driver *fk_driver_init(void)
{
    return &scripted_driver;
}
