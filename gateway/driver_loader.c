/* driver_loader.c: dlopen a driver with clear errors, closing it on every failure. */
#include "driver_loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Find NAME in dirs; writes the path into buf. 0 when found. */
static int find_driver(const char *name, const char *dirs, char *buf, size_t len)
{
    const char *p = dirs;
    while (*p) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        if (n > 0) {
            snprintf(buf, len, "%.*s/fk-driver-%s.so", (int)n, p, name);
            if (access(buf, F_OK) == 0) return 0;
        }
        if (!colon) break;
        p = colon + 1;
    }
    return -1;
}

/* ", found: a, b" naming the fk-driver-*.so in dirs (or ", found none"). */
static void list_drivers(const char *dirs, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, ", found:");
    int any = 0;
    for (const char *p = dirs; *p && o < len;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        char dir[4096];
        snprintf(dir, sizeof dir, "%.*s", (int)n, p);
        DIR *d = n ? opendir(dir) : NULL;
        for (struct dirent *e; d && (e = readdir(d)) && o < len;) {
            size_t l = strlen(e->d_name);
            if (l <= 13 || strncmp(e->d_name, "fk-driver-", 10) != 0 ||
                strcmp(e->d_name + l - 3, ".so") != 0)
                continue;
            int w = snprintf(buf + o, len - o, "%s %.*s", any ? "," : "", (int)(l - 13),
                             e->d_name + 10);
            if (w > 0) o += (size_t)w;
            any = 1;
        }
        if (d) closedir(d);
        if (!colon) break;
        p = colon + 1;
    }
    if (!any) snprintf(buf, len, ", found none (FK_DRIVER_DIR: where fk-driver-NAME.so live)");
}

static int load_table(fk_loaded_driver *d, const fk_host *host, char *err, size_t err_len)
{
    dlerror();
    void *sym = dlsym(d->handle, FK_DRIVER_INIT_SYMBOL);
    if (!sym) {
        const char *why = dlerror();
        snprintf(err, err_len, "%s: missing symbol %s (%s)", d->path, FK_DRIVER_INIT_SYMBOL,
                 why ? why : "no error text");
        return -1;
    }
    fk_driver_init_fn init;
    memcpy(&init, &sym, sizeof init); /* object pointer -> function pointer */
    const fk_driver *t = init();
    if (!t) {
        snprintf(err, err_len, "%s: %s returned NULL", d->path, FK_DRIVER_INIT_SYMBOL);
        return -1;
    }
    if (t->abi_version != FK_DRIVER_ABI_VERSION) {
        snprintf(err, err_len, "%s: driver ABI version %u, but this gateway speaks version %u",
                 d->path, t->abi_version, FK_DRIVER_ABI_VERSION);
        return -1;
    }
    /* The host's own copy: members beyond the driver's struct_size read NULL,
     * so an older driver's missing optional members are never called. */
    fk_abi_copy(&d->copy, sizeof d->copy, t, t->struct_size);
    t = &d->copy;
    if (!FK_HAS(t->struct_size, fk_driver, resume) || !t->create || !t->destroy || !t->health ||
        !t->list_models || !t->generate || !t->cancel || !t->resume) {
        snprintf(err, err_len, "%s: driver table is incomplete (struct_size %u)", d->path,
                 t->struct_size);
        return -1;
    }
    if (t->probe) {
        char why[512] = "";
        if (t->probe(host, why, sizeof why) != 0) {
            snprintf(err, err_len, "%s: driver '%s' declined: %s", d->path, t->name ? t->name : "?",
                     why[0] ? why : "no reason given");
            return -1;
        }
    }
    d->table = t;
    return 0;
}

int fk_driver_load(const char *name, const char *dirs, const fk_host *host, fk_loaded_driver *out,
                   char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    char path[4096];
    if (find_driver(name, dirs, path, sizeof path) < 0) {
        char found[512];
        list_drivers(dirs, found, sizeof found);
        snprintf(err, err_len, "driver '%s' not found: no fk-driver-%s.so in %s%s", name, name,
                 dirs[0] ? dirs : "(no directories)", found);
        return -1;
    }
    out->path = strdup(path);
    if (!out->path) return snprintf(err, err_len, "out of memory"), -1;
    out->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!out->handle) {
        const char *why = dlerror();
        snprintf(err, err_len, "%s: cannot load: %s", path, why ? why : "unknown dlopen error");
        fk_driver_unload(out);
        return -1;
    }
    if (load_table(out, host, err, err_len) < 0) {
        fk_driver_unload(out);
        return -1;
    }
    return 0;
}

void fk_driver_unload(fk_loaded_driver *d)
{
    if (d->handle) dlclose(d->handle);
    free(d->path);
    memset(d, 0, sizeof *d);
}
