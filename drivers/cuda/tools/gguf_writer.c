/* gguf_writer.c: streaming GGUF v3 writer (see gguf_writer.h). */
#include "gguf_writer.h"
#include "drivers/cuda/checkpoint/out_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_VERSION 3u
#define GGUF_ALIGN 32u
#define MXFP4_BLOCK 32 /* elements per block */
#define MXFP4_BYTES 17 /* scale byte + 16 bytes of nibbles */

/* GGUF metadata value types (gguf.h's numbering). */
enum { GV_UINT32 = 4, GV_INT32 = 5, GV_FLOAT32 = 6, GV_BOOL = 7, GV_STRING = 8, GV_ARRAY = 9 };

/* A growable byte buffer. */
typedef struct bytes {
    uint8_t *p; /* (cap) */
    size_t n;   /* bytes used */
    size_t cap; /* bytes allocated */
} bytes;

struct fk_gguf_writer {
    fk_out_file out;    /* the file, its path and its first error */
    bytes kv;           /* encoded metadata entries */
    uint64_t n_kv;      /* entries in kv */
    bytes info;         /* encoded tensor infos */
    uint64_t n_tensors; /* tensors declared */
    uint64_t *sizes;    /* (n_tensors) data bytes of each tensor, unpadded */
    size_t sizes_cap;   /* entries allocated in sizes */
    uint64_t planned;   /* data section bytes declared, padding included */
    uint64_t cur;       /* index of the tensor being written */
    uint64_t cur_done;  /* bytes of it written so far */
    int started;        /* 1 once the header is on disk */
};

uint64_t fk_ggml_row_bytes(fk_ggml_type t, int64_t ne0)
{
    if (ne0 <= 0) return 0;
    switch (t) {
    case FK_GGML_F32:
        return 4 * (uint64_t)ne0;
    case FK_GGML_BF16:
        return 2 * (uint64_t)ne0;
    case FK_GGML_MXFP4:
        return ne0 % MXFP4_BLOCK ? 0 : (uint64_t)ne0 / MXFP4_BLOCK * MXFP4_BYTES;
    }
    return 0;
}

const char *fk_ggml_type_name(fk_ggml_type t)
{
    switch (t) {
    case FK_GGML_F32:
        return "F32";
    case FK_GGML_BF16:
        return "BF16";
    case FK_GGML_MXFP4:
        return "MXFP4";
    }
    return "?";
}

/* ---- encoding ------------------------------------------------------------------ */

static int put(fk_gguf_writer *w, bytes *b, const void *p, size_t n)
{
    if (w->out.err[0]) return -1;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        uint8_t *np = realloc(b->p, cap);
        if (!np) return fk_out_fail(&w->out, "%s: out of memory", w->out.path);
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    return 0;
}

/* Little-endian integers, as GGUF stores them (this host is little-endian too,
 * but the encoding does not rely on it). */
static int put_u32(fk_gguf_writer *w, bytes *b, uint32_t v)
{
    uint8_t le[4];
    for (int i = 0; i < 4; i++) le[i] = (uint8_t)(v >> (8 * i));
    return put(w, b, le, 4);
}

static int put_u64(fk_gguf_writer *w, bytes *b, uint64_t v)
{
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(v >> (8 * i));
    return put(w, b, le, 8);
}

static int put_str(fk_gguf_writer *w, bytes *b, const char *s, size_t n)
{
    if (put_u64(w, b, n)) return -1;
    return put(w, b, s, n);
}

/* Key and value type of the next metadata entry. */
static int kv_head(fk_gguf_writer *w, const char *key, uint32_t type)
{
    if (w->started)
        return fk_out_fail(&w->out, "%s: metadata %s added after tensor data", w->out.path, key);
    w->n_kv++;
    if (put_str(w, &w->kv, key, strlen(key))) return -1;
    return put_u32(w, &w->kv, type);
}

int fk_gguf_kv_u32(fk_gguf_writer *w, const char *key, uint32_t v)
{
    if (kv_head(w, key, GV_UINT32)) return -1;
    return put_u32(w, &w->kv, v);
}

int fk_gguf_kv_f32(fk_gguf_writer *w, const char *key, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    if (kv_head(w, key, GV_FLOAT32)) return -1;
    return put_u32(w, &w->kv, u);
}

int fk_gguf_kv_bool(fk_gguf_writer *w, const char *key, int v)
{
    uint8_t b = v ? 1 : 0;
    if (kv_head(w, key, GV_BOOL)) return -1;
    return put(w, &w->kv, &b, 1);
}

int fk_gguf_kv_str(fk_gguf_writer *w, const char *key, const char *v)
{
    if (kv_head(w, key, GV_STRING)) return -1;
    return put_str(w, &w->kv, v, strlen(v));
}

int fk_gguf_kv_str_array(fk_gguf_writer *w, const char *key, const char *const *strs,
                         const size_t *lens, size_t n)
{
    if (kv_head(w, key, GV_ARRAY) || put_u32(w, &w->kv, GV_STRING) || put_u64(w, &w->kv, n))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (put_str(w, &w->kv, strs[i], lens[i])) return -1;
    }
    return 0;
}

int fk_gguf_kv_i32_array(fk_gguf_writer *w, const char *key, const int32_t *v, size_t n)
{
    if (kv_head(w, key, GV_ARRAY) || put_u32(w, &w->kv, GV_INT32) || put_u64(w, &w->kv, n))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (put_u32(w, &w->kv, (uint32_t)v[i])) return -1;
    }
    return 0;
}

static uint64_t padded(uint64_t n)
{
    return (n + GGUF_ALIGN - 1) / GGUF_ALIGN * GGUF_ALIGN;
}

int fk_gguf_add_tensor(fk_gguf_writer *w, const char *name, fk_ggml_type type, int ndim,
                       const int64_t *ne)
{
    if (w->started)
        return fk_out_fail(&w->out, "%s: tensor %s declared after tensor data", w->out.path, name);
    if (ndim < 1 || ndim > 4)
        return fk_out_fail(&w->out, "%s: %s: %d dimensions", w->out.path, name, ndim);
    uint64_t size = fk_ggml_row_bytes(type, ne[0]);
    if (size == 0)
        return fk_out_fail(&w->out, "%s: %s: a row of %lld does not fit %s", w->out.path, name,
                           (long long)ne[0], fk_ggml_type_name(type));
    for (int i = 1; i < ndim; i++) {
        if (ne[i] <= 0 || __builtin_mul_overflow(size, (uint64_t)ne[i], &size))
            return fk_out_fail(&w->out, "%s: %s: bad dimension %lld", w->out.path, name,
                               (long long)ne[i]);
    }
    if (w->n_tensors == w->sizes_cap) {
        size_t cap = w->sizes_cap ? 2 * w->sizes_cap : 64;
        uint64_t *ns = realloc(w->sizes, cap * sizeof *ns);
        if (!ns) return fk_out_fail(&w->out, "%s: out of memory", w->out.path);
        w->sizes = ns;
        w->sizes_cap = cap;
    }
    w->sizes[w->n_tensors++] = size;
    if (put_str(w, &w->info, name, strlen(name)) || put_u32(w, &w->info, (uint32_t)ndim)) return -1;
    for (int i = 0; i < ndim; i++) {
        if (put_u64(w, &w->info, (uint64_t)ne[i])) return -1;
    }
    if (put_u32(w, &w->info, (uint32_t)type) || put_u64(w, &w->info, w->planned)) return -1;
    w->planned += padded(size);
    return 0;
}

/* ---- the file -------------------------------------------------------------------- */

fk_gguf_writer *fk_gguf_writer_open(const char *path, char *err, size_t err_len)
{
    fk_gguf_writer *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, err_len, "%s: out of memory", path);
        return NULL;
    }
    if (fk_out_open(&w->out, path, err, err_len)) {
        free(w);
        return NULL;
    }
    return w;
}

static int write_zeros(fk_gguf_writer *w, uint64_t n)
{
    static const uint8_t zeros[GGUF_ALIGN];
    return fk_out_write(&w->out, zeros, (size_t)n);
}

/* Magic, counts, metadata, tensor infos, padding up to the data section. */
static int write_header(fk_gguf_writer *w)
{
    w->started = 1;
    if (w->out.err[0]) return -1;
    bytes head = {0};
    if (put(w, &head, "GGUF", 4) || put_u32(w, &head, GGUF_VERSION) ||
        put_u64(w, &head, w->n_tensors) || put_u64(w, &head, w->n_kv)) {
        free(head.p);
        return -1;
    }
    int bad = fk_out_write(&w->out, head.p, head.n) || fk_out_write(&w->out, w->kv.p, w->kv.n) ||
              fk_out_write(&w->out, w->info.p, w->info.n);
    uint64_t len = head.n + w->kv.n + w->info.n;
    free(head.p);
    if (bad) return -1;
    return write_zeros(w, padded(len) - len);
}

int fk_gguf_write(fk_gguf_writer *w, const void *data, size_t len)
{
    if (!w->started && write_header(w)) return -1;
    if (w->out.err[0]) return -1;
    const uint8_t *p = data;
    while (len > 0) {
        if (w->cur >= w->n_tensors)
            return fk_out_fail(&w->out, "%s: %zu bytes written past the declared tensors",
                               w->out.path, len);
        uint64_t room = w->sizes[w->cur] - w->cur_done;
        size_t n = len < room ? len : (size_t)room;
        if (fk_out_write(&w->out, p, n)) return -1;
        p += n;
        len -= n;
        w->cur_done += n;
        if (w->cur_done == w->sizes[w->cur]) {
            if (write_zeros(w, padded(w->cur_done) - w->cur_done)) return -1;
            w->cur++;
            w->cur_done = 0;
        }
    }
    return 0;
}

int fk_gguf_writer_close(fk_gguf_writer *w, char *err, size_t err_len)
{
    if (!w->started) write_header(w);
    if (w->cur != w->n_tensors)
        fk_out_fail(&w->out, "%s: data of %llu of %llu tensors written", w->out.path,
                    (unsigned long long)w->cur, (unsigned long long)w->n_tensors);
    int rc = fk_out_close(&w->out, err, err_len);
    free(w->kv.p);
    free(w->info.p);
    free(w->sizes);
    free(w);
    return rc;
}
