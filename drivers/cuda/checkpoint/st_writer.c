/* st_writer.c: streaming safetensors writer (see st_writer.h). */
#include "st_writer.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fk_st_writer {
    FILE *f;          /* the file being written */
    char *path;       /* for messages (owned) */
    json_t *header;   /* tensor entries declared so far, in order */
    uint64_t planned; /* data bytes declared */
    uint64_t written; /* data bytes written */
    int started;      /* 1 once the header is on disk */
    char err[512];    /* first error, reported by close */
};

__attribute__((format(printf, 2, 3))) static int wfail(fk_st_writer *w, const char *fmt, ...)
{
    if (w->err[0]) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
    return -1;
}

fk_st_writer *fk_st_writer_open(const char *path, char *err, size_t err_len)
{
    fk_st_writer *w = calloc(1, sizeof *w);
    if (w) w->path = strdup(path);
    if (w && w->path) w->header = json_object();
    if (!w || !w->path || !w->header) {
        if (w) json_decref(w->header);
        if (w) free(w->path);
        free(w);
        snprintf(err, err_len, "%s: out of memory", path);
        return NULL;
    }
    w->f = fopen(path, "wb");
    if (!w->f) {
        snprintf(err, err_len, "%s: cannot create: %s", path, strerror(errno));
        json_decref(w->header);
        free(w->path);
        free(w);
        return NULL;
    }
    json_object_set_new(w->header, "__metadata__", json_pack("{s:s}", "format", "pt"));
    return w;
}

int fk_st_writer_add(fk_st_writer *w, const char *name, fk_dtype dtype, int ndim,
                     const int64_t *shape)
{
    if (w->started) return wfail(w, "%s: %s declared after data was written", w->path, name);
    if (fk_dtype_size(dtype) == 0 || ndim < 0 || ndim > FK_MAX_DIMS)
        return wfail(w, "%s: %s: bad dtype or rank", w->path, name);
    if (json_object_get(w->header, name)) return wfail(w, "%s: %s declared twice", w->path, name);
    uint64_t bytes = fk_dtype_size(dtype);
    json_t *sh = json_array();
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || __builtin_mul_overflow(bytes, (uint64_t)shape[i], &bytes)) {
            json_decref(sh);
            return wfail(w, "%s: %s: bad shape", w->path, name);
        }
        json_array_append_new(sh, json_integer(shape[i]));
    }
    json_t *e = json_pack("{s:s,s:o,s:[I,I]}", "dtype", fk_dtype_name(dtype), "shape", sh,
                          "data_offsets", (json_int_t)w->planned, (json_int_t)(w->planned + bytes));
    if (!e || json_object_set_new(w->header, name, e))
        return wfail(w, "%s: %s: out of memory", w->path, name);
    w->planned += bytes;
    return 0;
}

/* Length prefix, JSON header, spaces up to a multiple of 8. */
static int write_header(fk_st_writer *w)
{
    w->started = 1;
    char *text = json_dumps(w->header, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text) return wfail(w, "%s: out of memory", w->path);
    size_t n = strlen(text), padded = (n + 7) & ~(size_t)7;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    int ok = fwrite(len8, 1, 8, w->f) == 8 && fwrite(text, 1, n, w->f) == n;
    for (size_t i = n; ok && i < padded; i++) ok = fputc(' ', w->f) != EOF;
    free(text);
    return ok ? 0 : wfail(w, "%s: write failed: %s", w->path, strerror(errno));
}

int fk_st_writer_write(fk_st_writer *w, const void *data, size_t len)
{
    if (w->err[0]) return -1;
    if (!w->started && write_header(w)) return -1;
    if (len > w->planned - w->written)
        return wfail(w, "%s: %zu bytes written past the %llu declared", w->path, len,
                     (unsigned long long)w->planned);
    if (len && fwrite(data, 1, len, w->f) != len)
        return wfail(w, "%s: write failed: %s", w->path, strerror(errno));
    w->written += len;
    return 0;
}

int fk_st_writer_close(fk_st_writer *w, char *err, size_t err_len)
{
    if (!w->started) write_header(w);
    if (!w->err[0] && w->written != w->planned)
        wfail(w, "%s: %llu of %llu data bytes written", w->path, (unsigned long long)w->written,
              (unsigned long long)w->planned);
    if (fclose(w->f) != 0) wfail(w, "%s: close failed: %s", w->path, strerror(errno));
    int rc = w->err[0] ? -1 : 0;
    if (rc && err && err_len) snprintf(err, err_len, "%s", w->err);
    json_decref(w->header);
    free(w->path);
    free(w);
    return rc;
}
