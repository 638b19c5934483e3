/* watch.c: reload when a configuration file changes.
 *
 * Every FK_RELOAD_WATCH_MS the main .env and its FK_CORES files are stat()ed.
 * Their signature (device, inode, size, modification and change times, or
 * "missing") is compared with the one taken when the last reload read them;
 * a difference that held still for one period (an editor's write is over by
 * then) reloads, as SIGHUP does. Polling rather than inotify: it sees files
 * replaced by rename, files that appear later, and costs a few stat() calls. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gateway.h"
#include "harmony/strbuf.h"
#include "log.h"

struct fk_watch {
    char **files;        /* the files watched (owned) */
    size_t n_files;      /* entries in files */
    char *loaded;        /* their signature when a reload last read them (owned) */
    char *seen;          /* a different signature seen at the last look, or NULL */
    struct event *timer; /* the next look (one-shot, re-armed with FK_RELOAD_WATCH_MS) */
};

/* The files' signature (owned), NULL on OOM. */
static char *signature(const struct fk_watch *w)
{
    strbuf b;
    strbuf_init(&b);
    for (size_t i = 0; i < w->n_files; i++) {
        struct stat st;
        if (stat(w->files[i], &st) != 0)
            strbuf_printf(&b, "%s missing\n", w->files[i]);
        else
            strbuf_printf(&b, "%s %llu %llu %lld %lld.%09ld %lld.%09ld\n", w->files[i],
                          (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
                          (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                          (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
    }
    if (b.oom) {
        strbuf_clear(&b);
        return NULL;
    }
    return strbuf_take(&b, NULL);
}

/* Look again in FK_RELOAD_WATCH_MS (as the gateway's configuration says now). */
static void arm(fk_gateway *gw)
{
    struct fk_watch *w = gw->watch;
    int period = gw->config->reload_watch_ms;
    if (period <= 0 || evtimer_pending(w->timer, NULL)) return;
    struct timeval tv = {period / 1000, (period % 1000) * 1000};
    evtimer_add(w->timer, &tv);
}

static void look(fk_gateway *gw)
{
    struct fk_watch *w = gw->watch;
    char *now = signature(w);
    if (!now) return;
    if (w->loaded && strcmp(now, w->loaded) == 0) {
        free(w->seen);
        w->seen = NULL;
        free(now);
        return;
    }
    if (!w->seen || strcmp(now, w->seen) != 0) { /* still changing: look again next time */
        free(w->seen);
        w->seen = now;
        return;
    }
    free(now);
    fk_reload(gw, "a configuration file changed");
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    fk_gateway *gw = arg;
    if (gw->shutting_down) return;
    look(gw);
    arm(gw);
}

int fk_watch_init(fk_gateway *gw)
{
    if (!gw->watch && !(gw->watch = calloc(1, sizeof *gw->watch))) return -1;
    struct fk_watch *w = gw->watch;
    if (!w->timer && !(w->timer = evtimer_new(gw->base, on_tick, gw))) return -1;
    if (!w->loaded) fk_watch_mark(gw);
    arm(gw);
    return 0;
}

void fk_watch_files(fk_gateway *gw, const fk_config *main)
{
    if (!gw->watch && !(gw->watch = calloc(1, sizeof *gw->watch))) return;
    struct fk_watch *w = gw->watch;
    size_t n = (main->env_path ? 1 : 0) + main->n_core_files;
    char **files = calloc(n ? n : 1, sizeof *files);
    if (!files) return;
    size_t k = 0;
    if (main->env_path) files[k++] = strdup(main->env_path);
    for (size_t i = 0; i < main->n_core_files; i++) files[k++] = strdup(main->core_files[i]);
    for (size_t i = 0; i < k; i++) {
        if (files[i]) continue;
        for (size_t j = 0; j < k; j++) free(files[j]);
        free(files);
        return;
    }
    for (size_t i = 0; i < w->n_files; i++) free(w->files[i]);
    free(w->files);
    w->files = files;
    w->n_files = k;
}

void fk_watch_mark(fk_gateway *gw)
{
    struct fk_watch *w = gw->watch;
    if (!w) return;
    free(w->loaded);
    free(w->seen);
    w->loaded = signature(w);
    w->seen = NULL;
}

void fk_watch_free(fk_gateway *gw)
{
    struct fk_watch *w = gw->watch;
    if (!w) return;
    if (w->timer) event_free(w->timer);
    for (size_t i = 0; i < w->n_files; i++) free(w->files[i]);
    free(w->files);
    free(w->loaded);
    free(w->seen);
    free(w);
    gw->watch = NULL;
}
