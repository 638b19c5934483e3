/* test_host.c: see test_host.h. */
#include "test_host.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/tap.h"

/* KEY="value" lines (backslash, quote and newline escaped). Owned, or NULL. */
static char *env_text(const char *const *kv)
{
    size_t cap = 1;
    for (const char *const *p = kv; p && p[0]; p += 2) cap += strlen(p[0]) + 2 * strlen(p[1]) + 5;
    char *s = malloc(cap), *o = s;
    if (!s) return NULL;
    for (const char *const *p = kv; p && p[0]; p += 2) {
        o += sprintf(o, "%s=\"", p[0]);
        for (const char *c = p[1]; *c; c++) {
            if (*c == '\\' || *c == '"') *o++ = '\\';
            if (*c == '\n') {
                *o++ = '\\';
                *o++ = 'n';
                continue;
            }
            *o++ = *c;
        }
        o += sprintf(o, "\"\n");
    }
    *o = '\0';
    return s;
}

const fk_host *test_host_open(test_host *t, struct event_base *base, const char *const *kv,
                              char *err, size_t err_len)
{
    memset(t, 0, sizeof *t);
    char *text = env_text(kv);
    if (!text) return snprintf(err, err_len, "out of memory"), NULL;
    int rc = fk_config_load_buffer(&t->cfg, text, strlen(text), "test.env", err, err_len);
    free(text);
    if (rc < 0 || fk_host_init(&t->svc, &t->cfg, base, "test") < 0) {
        if (rc == 0) snprintf(err, err_len, "cannot set up the host services");
        fk_config_free(&t->cfg);
        return NULL;
    }
    t->open = 1;
    return &t->svc.table;
}

void test_host_close(test_host *t)
{
    if (!t->open) return;
    fk_host_clear(&t->svc);
    fk_config_free(&t->cfg);
    t->open = 0;
}

const fk_driver *test_load_driver(const char *name, void **handle)
{
    const char *dirs = getenv("FK_DRIVER_DIR");
    char path[4096];
    *handle = NULL;
    for (const char *p = dirs; p && *p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        snprintf(path, sizeof path, "%.*s/fk-driver-%s.so", (int)n, p, name);
        if (access(path, F_OK) == 0) {
            *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
            if (!*handle) diag("dlopen: %s", dlerror());
            void *sym = *handle ? dlsym(*handle, FK_DRIVER_INIT_SYMBOL) : NULL;
            fk_driver_init_fn init;
            memcpy(&init, &sym, sizeof init);
            return sym ? init() : NULL;
        }
        if (!colon) break;
        p = colon + 1;
    }
    diag("fk-driver-%s.so not found in FK_DRIVER_DIR=%s", name, dirs ? dirs : "(unset)");
    return NULL;
}
