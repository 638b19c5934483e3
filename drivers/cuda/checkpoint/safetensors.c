/* safetensors.c: one .safetensors file, mmapped read-only and validated.
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON header, then
 * the data section. The header maps tensor name -> {dtype, shape,
 * data_offsets [begin, end)} (offsets relative to the data section), plus an
 * optional "__metadata__" object of strings. Everything in the header is
 * checked before any tensor is handed out: lengths, dtypes, shapes (numel
 * overflow), offsets inside the data section, byte counts, overlaps and
 * duplicate names. The tensors point into the mapping; nothing is copied.
 * As with any mmap, a file truncated by someone else while mapped raises
 * SIGBUS on access: model files must not be rewritten in place while served. */
#include "checkpoint.h"
#include "common/json_type.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The safetensors reference implementation refuses headers above 100 MB. */
#define ST_MAX_HEADER (100u * 1000u * 1000u)

struct fk_st_file {
    char *path;         /* as given to fk_st_open (owned) */
    const uint8_t *map; /* the whole file, PROT_READ + MAP_PRIVATE */
    size_t map_len;     /* bytes mapped (the file size) */
    fk_tensor *tensors; /* sorted by name; names owned, data into map */
    size_t n;           /* number of tensors */
};

__attribute__((format(printf, 3, 4))) static int st_fail(char *err, size_t err_len, const char *fmt,
                                                         ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void free_tensors(fk_tensor *t, size_t n)
{
    if (!t) return;
    for (size_t i = 0; i < n; i++) free((char *)t[i].name);
    free(t);
}

/* ---- one header entry --------------------------------------------------------- */

/* A non-negative JSON integer, or -1 when v is anything else. */
static int64_t json_nonneg(const json_t *v)
{
    if (!json_is_integer(v)) return -1;
    json_int_t x = json_integer_value(v);
    return x < 0 ? -1 : (int64_t)x;
}

static int parse_shape(const char *label, const char *name, const json_t *shape, fk_tensor *t,
                       uint64_t *numel, char *err, size_t err_len)
{
    if (!json_is_array(shape))
        return st_fail(err, err_len, "%s: %s: \"shape\" is %s, expected an array of integers",
                       label, name, fk_json_type_name(shape));
    size_t nd = json_array_size(shape);
    if (nd > FK_MAX_DIMS)
        return st_fail(err, err_len, "%s: %s: shape has %zu dimensions, at most %d supported",
                       label, name, nd, FK_MAX_DIMS);
    uint64_t count = 1;
    for (size_t d = 0; d < nd; d++) {
        int64_t dim = json_nonneg(json_array_get(shape, d));
        if (dim < 0)
            return st_fail(err, err_len, "%s: %s: shape[%zu] is not a non-negative integer", label,
                           name, d);
        if (__builtin_mul_overflow(count, (uint64_t)dim, &count))
            return st_fail(err, err_len, "%s: %s: shape element count overflows 64 bits", label,
                           name);
        t->shape[d] = dim;
    }
    t->ndim = (int)nd;
    *numel = count;
    return 0;
}

/* Parse one tensor entry; on success t holds everything and *begin the data offset. */
static int parse_entry(const char *label, const char *name, const json_t *e, const uint8_t *data,
                       uint64_t data_len, fk_tensor *t, char *err, size_t err_len)
{
    if (!json_is_object(e))
        return st_fail(err, err_len, "%s: %s: entry is %s, expected an object", label, name,
                       fk_json_type_name(e));
    const json_t *dt = json_object_get(e, "dtype");
    if (!json_is_string(dt))
        return st_fail(err, err_len, "%s: %s: \"dtype\" is %s, expected a string", label, name,
                       fk_json_type_name(dt));
    if (fk_dtype_parse(json_string_value(dt), &t->dtype) != 0)
        return st_fail(err, err_len,
                       "%s: %s: unknown dtype \"%s\" (expected one of BOOL, U8, I8, I16, U16, "
                       "F16, BF16, I32, U32, F32, I64, U64, F64)",
                       label, name, json_string_value(dt));
    uint64_t numel = 0;
    if (parse_shape(label, name, json_object_get(e, "shape"), t, &numel, err, err_len)) return -1;
    const json_t *off = json_object_get(e, "data_offsets");
    if (!json_is_array(off) || json_array_size(off) != 2)
        return st_fail(err, err_len,
                       "%s: %s: \"data_offsets\" is %s, expected an array [begin, end]", label,
                       name, fk_json_type_name(off));
    int64_t begin = json_nonneg(json_array_get(off, 0));
    int64_t end = json_nonneg(json_array_get(off, 1));
    if (begin < 0 || end < 0)
        return st_fail(err, err_len, "%s: %s: data_offsets must be non-negative integers", label,
                       name);
    if (begin > end || (uint64_t)end > data_len)
        return st_fail(err, err_len,
                       "%s: %s: data_offsets [%lld,%lld] outside the data section of %llu bytes",
                       label, name, (long long)begin, (long long)end, (unsigned long long)data_len);
    uint64_t need;
    if (__builtin_mul_overflow(numel, (uint64_t)fk_dtype_size(t->dtype), &need))
        return st_fail(err, err_len, "%s: %s: byte size overflows 64 bits", label, name);
    if (need != (uint64_t)(end - begin)) {
        char sh[160];
        fk_shape_format(sh, sizeof sh, t->ndim, t->shape);
        return st_fail(err, err_len,
                       "%s: %s: %s %s needs %llu bytes but data_offsets [%lld,%lld] hold %llu",
                       label, name, fk_dtype_name(t->dtype), sh, (unsigned long long)need,
                       (long long)begin, (long long)end, (unsigned long long)(end - begin));
    }
    t->data = data + begin;
    t->nbytes = (size_t)need;
    return 0;
}

/* ---- whole header ------------------------------------------------------------- */

static int cmp_by_offset(const void *a, const void *b)
{
    const fk_tensor *x = *(const fk_tensor *const *)a, *y = *(const fk_tensor *const *)b;
    if (x->data != y->data) return (const uint8_t *)x->data < (const uint8_t *)y->data ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static int cmp_by_name(const void *a, const void *b)
{
    return strcmp(((const fk_tensor *)a)->name, ((const fk_tensor *)b)->name);
}

/* No two tensors with data may share a byte. Tensors t[0..n) all point into one section. */
static int check_overlaps(const char *label, fk_tensor *t, size_t n, const uint8_t *data, char *err,
                          size_t err_len)
{
    if (n < 2) return 0;
    const fk_tensor **by_off = malloc(n * sizeof *by_off);
    if (!by_off) return st_fail(err, err_len, "%s: out of memory", label);
    for (size_t i = 0; i < n; i++) by_off[i] = &t[i];
    qsort(by_off, n, sizeof *by_off, cmp_by_offset);
    const fk_tensor *prev = NULL; /* the non-empty tensor reaching furthest so far */
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const fk_tensor *cur = by_off[i];
        if (cur->nbytes == 0) continue;
        if (prev && (const uint8_t *)cur->data < (const uint8_t *)prev->data + prev->nbytes) {
            long long pb = (const uint8_t *)prev->data - data,
                      cb = (const uint8_t *)cur->data - data;
            rc = st_fail(err, err_len,
                         "%s: tensors %s [%lld,%lld] and %s [%lld,%lld] overlap in the data "
                         "section",
                         label, prev->name, pb, pb + (long long)prev->nbytes, cur->name, cb,
                         cb + (long long)cur->nbytes);
        }
        if (!prev ||
            (const uint8_t *)cur->data + cur->nbytes > (const uint8_t *)prev->data + prev->nbytes)
            prev = cur;
    }
    free(by_off);
    return rc;
}

static int check_metadata(const char *label, const json_t *meta, char *err, size_t err_len)
{
    if (!json_is_object(meta))
        return st_fail(err, err_len, "%s: __metadata__ is %s, expected an object", label,
                       fk_json_type_name(meta));
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)meta, k, v)
    {
        if (!json_is_string(v))
            return st_fail(err, err_len, "%s: __metadata__ key \"%s\" is %s, expected a string",
                           label, k, fk_json_type_name(v));
    }
    return 0;
}

/* Validate the image buf[0..len) (label names it in messages). On success
 * *out is a malloc'd array of *n_out tensors sorted by name, each name malloc'd
 * and each data pointer into buf; the caller frees with free_tensors. */
static int st_parse(const uint8_t *buf, size_t len, const char *label, fk_tensor **out,
                    size_t *n_out, char *err, size_t err_len)
{
    *out = NULL;
    *n_out = 0;
    if (len < 8)
        return st_fail(err, err_len,
                       "%s: file is %zu bytes, too short for the 8-byte header length", label, len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    if (hlen > len - 8)
        return st_fail(err, err_len,
                       "%s: header length %llu runs past the end of the file (%zu bytes after the "
                       "length field): truncated or not a safetensors file",
                       label, (unsigned long long)hlen, len - 8);
    if (hlen > ST_MAX_HEADER)
        return st_fail(err, err_len, "%s: header length %llu exceeds the 100 MB limit", label,
                       (unsigned long long)hlen);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return st_fail(err, err_len, "%s: header is not valid JSON: %s (at byte %d of the header)",
                       label, jerr.text, jerr.position);
    if (!json_is_object(root)) {
        st_fail(err, err_len, "%s: header is %s, expected an object", label,
                fk_json_type_name(root));
        json_decref(root);
        return -1;
    }
    const uint8_t *data = buf + 8 + hlen;
    uint64_t data_len = len - 8 - hlen;
    size_t cap = json_object_size(root), n = 0;
    fk_tensor *t = calloc(cap ? cap : 1, sizeof *t);
    int rc = t ? 0 : st_fail(err, err_len, "%s: out of memory", label);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (rc) break;
        if (strcmp(key, "__metadata__") == 0) {
            rc = check_metadata(label, val, err, err_len);
            continue;
        }
        if (key[0] == '\0') {
            rc = st_fail(err, err_len, "%s: a tensor has an empty name", label);
            break;
        }
        rc = parse_entry(label, key, val, data, data_len, &t[n], err, err_len);
        if (rc == 0) {
            t[n].name = strdup(key);
            if (!t[n].name)
                rc = st_fail(err, err_len, "%s: out of memory", label);
            else
                n++;
        }
    }
    json_decref(root);
    if (rc == 0) rc = check_overlaps(label, t, n, data, err, err_len);
    if (rc == 0) {
        qsort(t, n, sizeof *t, cmp_by_name);
        for (size_t i = 1; i < n && rc == 0; i++)
            if (strcmp(t[i - 1].name, t[i].name) == 0)
                rc = st_fail(err, err_len, "%s: tensor %s appears twice", label, t[i].name);
    }
    if (rc) {
        free_tensors(t, n);
        return -1;
    }
    *out = t;
    *n_out = n;
    return 0;
}

/* ---- public ------------------------------------------------------------------- */

int fk_st_validate_buffer(const uint8_t *buf, size_t len, char *err, size_t err_len)
{
    fk_tensor *t;
    size_t n;
    if (st_parse(buf, len, "<buffer>", &t, &n, err, err_len)) return -1;
    free_tensors(t, n);
    return 0;
}

/* Map path read-only; on success *map and *len hold the mapping (len > 0). */
static int map_file(const char *path, const uint8_t **map, size_t *len, char *err, size_t err_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* no hang on a FIFO */
    if (fd < 0) return st_fail(err, err_len, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return st_fail(err, err_len, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return st_fail(err, err_len, "%s: not a regular file", path);
    }
    if (st.st_size < 8) {
        close(fd);
        return st_fail(err, err_len,
                       "%s: file is %lld bytes, too short for the 8-byte header length", path,
                       (long long)st.st_size);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) return st_fail(err, err_len, "%s: cannot mmap: %s", path, strerror(e));
    *map = m;
    *len = (size_t)st.st_size;
    return 0;
}

fk_st_file *fk_st_open(const char *path, char *err, size_t err_len)
{
    fk_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        st_fail(err, err_len, "%s: out of memory", path);
        return NULL;
    }
    if (map_file(path, &f->map, &f->map_len, err, err_len) ||
        st_parse(f->map, f->map_len, path, &f->tensors, &f->n, err, err_len)) {
        fk_st_close(f);
        return NULL;
    }
    return f;
}

void fk_st_close(fk_st_file *f)
{
    if (!f) return;
    if (f->map) munmap((void *)f->map, f->map_len);
    free_tensors(f->tensors, f->n);
    free(f->path);
    free(f);
}

size_t fk_st_count(const fk_st_file *f)
{
    return f->n;
}

const fk_tensor *fk_st_tensor(const fk_st_file *f, size_t i)
{
    return i < f->n ? &f->tensors[i] : NULL;
}

const fk_tensor *fk_st_find(const fk_st_file *f, const char *name)
{
    fk_tensor key = {.name = name};
    return bsearch(&key, f->tensors, f->n, sizeof key, cmp_by_name);
}

const char *fk_st_path(const fk_st_file *f)
{
    return f->path;
}

void fk_st_mapping(const fk_st_file *f, const void **base, size_t *len)
{
    *base = f->map;
    *len = f->map_len;
}
