/* out_file.c: a file being written with its first error (see the header). */
#include "drivers/cuda/checkpoint/out_file.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int fk_out_open(fk_out_file *o, const char *path, char *err, size_t err_len)
{
    o->err[0] = '\0';
    o->path = strdup(path);
    if (!o->path) {
        snprintf(err, err_len, "%s: out of memory", path);
        return -1;
    }
    o->f = fopen(path, "wb");
    if (!o->f) {
        snprintf(err, err_len, "%s: cannot create: %s", path, strerror(errno));
        free(o->path);
        o->path = NULL;
        return -1;
    }
    return 0;
}

int fk_out_fail(fk_out_file *o, const char *fmt, ...)
{
    if (o->err[0]) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->err, sizeof o->err, fmt, ap);
    va_end(ap);
    return -1;
}

int fk_out_write(fk_out_file *o, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, o->f) != n)
        return fk_out_fail(o, "%s: write failed: %s", o->path, strerror(errno));
    return 0;
}

int fk_out_close(fk_out_file *o, char *err, size_t err_len)
{
    if (fclose(o->f) != 0) fk_out_fail(o, "%s: close failed: %s", o->path, strerror(errno));
    int rc = o->err[0] ? -1 : 0;
    if (rc && err && err_len) snprintf(err, err_len, "%s", o->err);
    free(o->path);
    o->path = NULL;
    return rc;
}
