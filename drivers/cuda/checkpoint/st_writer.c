/* st_writer.c: streaming safetensors writer (see st_writer.h). */
#include "st_writer.h"
#include "out_file.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fk_st_writer {
    fk_out_file out;  /* the file, its path and its first error */
    json_t *header;   /* tensor entries declared so far, in order */
    uint64_t planned; /* data bytes declared */
    uint64_t written; /* data bytes written */
    int started;      /* 1 once the header is on disk */
};

fk_st_writer *fk_st_writer_open(const char *path, char *err, size_t err_len)
{
    fk_st_writer *w = calloc(1, sizeof *w);
    if (w) w->header = json_object();
    if (!w || !w->header) {
        if (w) json_decref(w->header);
        free(w);
        snprintf(err, err_len, "%s: out of memory", path);
        return NULL;
    }
    if (fk_out_open(&w->out, path, err, err_len)) {
        json_decref(w->header);
        free(w);
        return NULL;
    }
    json_object_set_new(w->header, "__metadata__", json_pack("{s:s}", "format", "pt"));
    return w;
}

int fk_st_writer_add(fk_st_writer *w, const char *name, fk_dtype dtype, int ndim,
                     const int64_t *shape)
{
    if (w->started)
        return fk_out_fail(&w->out, "%s: %s declared after data was written", w->out.path, name);
    if (fk_dtype_size(dtype) == 0 || ndim < 0 || ndim > FK_MAX_DIMS)
        return fk_out_fail(&w->out, "%s: %s: bad dtype or rank", w->out.path, name);
    if (json_object_get(w->header, name))
        return fk_out_fail(&w->out, "%s: %s declared twice", w->out.path, name);
    uint64_t bytes = fk_dtype_size(dtype);
    json_t *sh = json_array();
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || __builtin_mul_overflow(bytes, (uint64_t)shape[i], &bytes)) {
            json_decref(sh);
            return fk_out_fail(&w->out, "%s: %s: bad shape", w->out.path, name);
        }
        json_array_append_new(sh, json_integer(shape[i]));
    }
    json_t *e = json_pack("{s:s,s:o,s:[I,I]}", "dtype", fk_dtype_name(dtype), "shape", sh,
                          "data_offsets", (json_int_t)w->planned, (json_int_t)(w->planned + bytes));
    if (!e || json_object_set_new(w->header, name, e))
        return fk_out_fail(&w->out, "%s: %s: out of memory", w->out.path, name);
    w->planned += bytes;
    return 0;
}

/* Length prefix, JSON header, spaces up to a multiple of 8. */
static int write_header(fk_st_writer *w)
{
    w->started = 1;
    char *text = json_dumps(w->header, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text) return fk_out_fail(&w->out, "%s: out of memory", w->out.path);
    size_t n = strlen(text), padded = (n + 7) & ~(size_t)7;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    int rc = fk_out_write(&w->out, len8, 8) || fk_out_write(&w->out, text, n) ||
             fk_out_write(&w->out, "       ", padded - n);
    free(text);
    return rc ? -1 : 0;
}

int fk_st_writer_write(fk_st_writer *w, const void *data, size_t len)
{
    if (w->out.err[0]) return -1;
    if (!w->started && write_header(w)) return -1;
    if (len > w->planned - w->written)
        return fk_out_fail(&w->out, "%s: %zu bytes written past the %llu declared", w->out.path,
                           len, (unsigned long long)w->planned);
    if (fk_out_write(&w->out, data, len)) return -1;
    w->written += len;
    return 0;
}

int fk_st_writer_close(fk_st_writer *w, char *err, size_t err_len)
{
    if (!w->started) write_header(w);
    if (w->written != w->planned)
        fk_out_fail(&w->out, "%s: %llu of %llu data bytes written", w->out.path,
                    (unsigned long long)w->written, (unsigned long long)w->planned);
    int rc = fk_out_close(&w->out, err, err_len);
    json_decref(w->header);
    free(w);
    return rc;
}
