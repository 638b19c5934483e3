/* cores.c: the cores one gateway serves, routing requests to them by model,
 * and reloads.
 *
 * The main .env is the gateway's configuration and its default core
 * (cores[0], named "default"); each FK_CORES file is one more core, named by
 * its entry as written (gateway_config.h says how its keys are read). Every
 * core listed in FK_CORES needs the model id that routes to it
 * (FRONTEND_VLLM_MODEL); two cores claiming one id is an error naming both
 * files.
 *
 * Reload (SIGHUP, or watch.c seeing a file change): every file is read again
 * and each core compared by name, then by fk_config_fingerprint:
 *   unchanged  the running core stays (its weights are not read again)
 *   changed    the new core loads beside the old one (`staged`); new requests
 *              stay on the old one until the new one is ready, then go to it
 *              while in-flight ones finish on the old one; if the new one
 *              fails (create(), or health() ERROR) the old one stays and
 *              /health says why
 *   added      opened at once (requests wait for it as at start-up)
 *   removed    retired at once: its in-flight requests finish on it
 * Files that do not parse, a missing FRONTEND_VLLM_MODEL or an id claimed
 * twice change nothing: the log and /health's reload_error say why. */
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "log.h"

#define STAGE_POLL_MS 100 /* how often a staged core's health is looked at */

/* ---- reading every core's configuration ----------------------------------------- */

/* The configurations of a main .env's cores: [0] the default core, then one
 * per FK_CORES file. */
typedef struct core_confs {
    fk_config *main;  /* the main .env (owned until handed to the gateway) */
    int main_ok;      /* the main .env parsed */
    fk_config *confs; /* n entries (owned; moved out into slots) */
    size_t n;         /* 1 + main->n_core_files */
} core_confs;

static void confs_free(core_confs *c)
{
    for (size_t i = 0; c->confs && i < c->n; i++) fk_config_free(&c->confs[i]);
    free(c->confs);
    if (c->main) fk_config_free(c->main);
    free(c->main);
    memset(c, 0, sizeof *c);
}

static const char *conf_file(const fk_config *cfg)
{
    return cfg->env_path ? cfg->env_path : "the environment";
}

/* Every core needs an id of its own (the default core may leave it to its driver). */
static int check_ids(const core_confs *c, char *err, size_t err_len)
{
    for (size_t i = 1; i < c->n; i++)
        if (!c->confs[i].frontend_model)
            return snprintf(err, err_len,
                            "%s: FRONTEND_VLLM_MODEL is not set: a core listed in FK_CORES "
                            "needs the model id that routes to it",
                            conf_file(&c->confs[i])),
                   -1;
    for (size_t i = 0; i < c->n; i++) {
        for (size_t j = i + 1; j < c->n; j++) {
            const char *a = c->confs[i].frontend_model, *b = c->confs[j].frontend_model;
            if (!a || !b || strcmp(a, b) != 0) continue;
            int inherited = !fk_dotenv_find(&c->confs[j].file, "FRONTEND_VLLM_MODEL");
            return snprintf(err, err_len,
                            "model id '%s' (FRONTEND_VLLM_MODEL) is claimed by two cores: %s "
                            "and %s%s",
                            a, conf_file(&c->confs[i]), conf_file(&c->confs[j]),
                            inherited ? " (which does not set it and inherits the main .env's)"
                                      : ""),
                   -1;
        }
    }
    return 0;
}

/* Read the main .env at `path` and every core's file. 0, or -1 with err. */
static int confs_read(core_confs *c, const char *path, char *err, size_t err_len)
{
    memset(c, 0, sizeof *c);
    if (!(c->main = calloc(1, sizeof *c->main))) return snprintf(err, err_len, "out of memory"), -1;
    if (fk_config_load(c->main, path, err, err_len) < 0) return -1;
    c->main_ok = 1;
    c->n = 1 + c->main->n_core_files;
    if (!(c->confs = calloc(c->n, sizeof *c->confs)))
        return snprintf(err, err_len, "out of memory"), -1;
    for (size_t i = 0; i < c->n; i++) {
        const char *file = i == 0 ? NULL : c->main->core_files[i - 1];
        if (fk_config_derive(&c->confs[i], c->main, file, err, err_len) < 0) return -1;
    }
    return check_ids(c, err, err_len);
}

/* ---- start-up ------------------------------------------------------------------------ */

int fk_cores_start(fk_gateway *gw, const char *path, int *config_error, char *err, size_t err_len)
{
    core_confs c;
    *config_error = 1;
    if (confs_read(&c, path, err, err_len) < 0) {
        confs_free(&c);
        return -1;
    }
    *config_error = 0;
    fk_log_set_level(c.main->log_level);
    fk_watch_files(gw, c.main);
    gw->config = c.main;
    c.main = NULL;
    if (!(gw->cores = calloc(c.n, sizeof *gw->cores))) {
        confs_free(&c);
        return snprintf(err, err_len, "out of memory"), -1;
    }
    for (size_t i = 0; i < c.n; i++) {
        char why[1024] = "";
        fk_slot *s = fk_slot_open(gw, i == 0 ? "default" : gw->config->core_names[i - 1],
                                  &c.confs[i], why, sizeof why);
        if (!s) {
            if (i == 0)
                snprintf(err, err_len, "%s", why);
            else
                snprintf(err, err_len, "core %s: %s", gw->config->core_names[i - 1], why);
            confs_free(&c);
            return -1;
        }
        gw->cores[gw->n_cores++] = s;
    }
    confs_free(&c);
    return 0;
}

/* ---- staged replacements ------------------------------------------------------------- */

static void add_reload_error(fk_gateway *gw, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add_reload_error(fk_gateway *gw, const char *fmt, ...)
{
    size_t n = strlen(gw->reload_error);
    if (n && n + 2 < sizeof gw->reload_error)
        n += (size_t)snprintf(gw->reload_error + n, sizeof gw->reload_error - n, "; ");
    if (n >= sizeof gw->reload_error) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(gw->reload_error + n, sizeof gw->reload_error - n, fmt, ap);
    va_end(ap);
}

static void on_stage_tick(evutil_socket_t fd, short what, void *arg);

/* Swap in staged cores that are ready, drop those that failed; look again
 * soon while any is still loading. */
static void check_staged(fk_gateway *gw)
{
    int pending = 0;
    for (size_t i = 0; i < gw->n_cores; i++) {
        fk_slot *old = gw->cores[i], *s = old->staged;
        if (!s) continue;
        char detail[512];
        fk_health h = fk_slot_health(s, detail, sizeof detail);
        if (h == FK_HEALTH_READY) {
            old->staged = NULL;
            gw->cores[i] = s;
            fk_info("core %s reloaded: %s, driver %s; %d request(s) finish on the previous core",
                    s->name, s->cfg.core_kind, s->cfg.driver_name, old->jobs);
            fk_slot_retire(gw, old);
        } else if (h == FK_HEALTH_ERROR) {
            old->staged = NULL;
            snprintf(old->reload_error, sizeof old->reload_error,
                     "reload failed: the new core did not start: %.400s", detail);
            add_reload_error(gw, "core %s: %s", old->name, old->reload_error);
            fk_error("core %s: %s; the running core stays", old->name, old->reload_error);
            fk_slot_close(s);
        } else {
            pending++;
        }
    }
    if (!pending) return;
    if (!gw->stage_timer) gw->stage_timer = evtimer_new(gw->base, on_stage_tick, gw);
    struct timeval tv = {0, STAGE_POLL_MS * 1000};
    if (gw->stage_timer) evtimer_add(gw->stage_timer, &tv);
}

static void on_stage_tick(evutil_socket_t fd, short what, void *arg)
{
    check_staged(arg);
}

/* ---- reload ---------------------------------------------------------------------------- */

static fk_slot *find_core(fk_slot **cores, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (cores[i] && strcmp(cores[i]->name, name) == 0) return cores[i];
    return NULL;
}

/* One core of the new configuration: keep, stage or open it. Returns the
 * slot that takes its place in the new list, or NULL (a new core that failed). */
static fk_slot *reload_one(fk_gateway *gw, const char *name, fk_config *cfg)
{
    fk_slot *old = find_core(gw->cores, gw->n_cores, name);
    char *fp = fk_config_fingerprint(cfg);
    char why[1024] = "";
    if (old && fp && strcmp(old->fingerprint, fp) == 0) {
        if (old->staged)
            fk_info("core %s: configuration back as it runs; dropping the staged one", name);
        fk_slot_close(old->staged);
        old->staged = NULL;
        fk_config_free(cfg);
    } else if (old && old->staged && fp && strcmp(old->staged->fingerprint, fp) == 0) {
        fk_config_free(cfg); /* the staged one is this configuration already */
    } else if (old) {
        fk_slot_close(old->staged);
        old->staged = fk_slot_open(gw, name, cfg, why, sizeof why);
        if (!old->staged) {
            snprintf(old->reload_error, sizeof old->reload_error, "reload failed: %.480s", why);
            add_reload_error(gw, "core %s: %s", name, why);
            fk_error("core %s: %s; the running core stays", name, old->reload_error);
        } else {
            fk_info("core %s changed: loading it beside the running one", name);
        }
    } else {
        old = fk_slot_open(gw, name, cfg, why, sizeof why);
        if (old)
            fk_info("core %s added", name);
        else {
            add_reload_error(gw, "core %s: %s", name, why);
            fk_error("core %s: reload failed: %s", name, why);
        }
    }
    free(fp);
    return old;
}

void fk_reload(fk_gateway *gw, const char *why)
{
    const char *path = gw->config->env_path;
    fk_info("%s: reloading %s", why, path ? path : "the environment");
    fk_watch_mark(gw);
    core_confs c;
    char err[1024] = "";
    int rc = confs_read(&c, path, err, sizeof err);
    if (c.main_ok) fk_watch_files(gw, c.main);
    if (rc < 0) {
        confs_free(&c);
        snprintf(gw->reload_error, sizeof gw->reload_error, "reload failed: %s", err);
        fk_error("%s; the previous configuration stays", gw->reload_error);
        return;
    }
    gw->reload_error[0] = '\0';
    for (size_t i = 0; i < gw->n_cores; i++) gw->cores[i]->reload_error[0] = '\0';
    if (strcmp(c.main->listen_host, gw->config->listen_host) != 0 ||
        (c.main->listen_port != gw->config->listen_port && c.main->listen_port != 0))
        fk_warn("FK_LISTEN changed: takes effect at the next start");
    fk_config_free(gw->config);
    free(gw->config);
    gw->config = c.main;
    c.main = NULL;
    fk_log_set_level(gw->config->log_level);
    fk_slot **next = calloc(c.n, sizeof *next);
    if (!next) {
        confs_free(&c);
        snprintf(gw->reload_error, sizeof gw->reload_error, "reload failed: out of memory");
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < c.n; i++) {
        const char *name = i == 0 ? "default" : gw->config->core_names[i - 1];
        fk_slot *s = reload_one(gw, name, &c.confs[i]);
        if (s) next[n++] = s;
    }
    for (size_t i = 0; i < gw->n_cores; i++) {
        fk_slot *s = gw->cores[i];
        if (find_core(next, n, s->name)) continue;
        fk_info("core %s removed; %d request(s) finish on it", s->name, s->jobs);
        fk_slot_retire(gw, s);
    }
    free(gw->cores);
    gw->cores = next;
    gw->n_cores = n;
    confs_free(&c);
    check_staged(gw);
    fk_watch_init(gw);
}

/* ---- routing ----------------------------------------------------------------------------- */

fk_slot *fk_cores_route(const fk_gateway *gw, const char *requested, const char **name)
{
    fk_slot *def = gw->cores[0];
    if (!requested) {
        *name = fk_router_default_model(&def->router);
        return def;
    }
    *name = requested;
    for (size_t i = 0; i < gw->n_cores; i++) {
        const char *alias = gw->cores[i]->cfg.frontend_model;
        if (alias && strcmp(alias, requested) == 0) return gw->cores[i];
    }
    for (size_t i = 0; i < gw->n_cores; i++)
        if (fk_router_lists(&gw->cores[i]->router, requested)) return gw->cores[i];
    return gw->config->accept_any_model ? def : NULL;
}
