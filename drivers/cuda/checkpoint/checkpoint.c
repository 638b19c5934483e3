/* checkpoint.c: a gpt-oss model directory -> validated, mmapped tensors.
 *
 * 1. config.json (+ generation_config.json) through fk_config_load.
 * 2. model.safetensors.index.json: each shard named in weight_map is opened
 *    (and validated) once; every index entry must be in its shard; tensors a
 *    shard holds beyond the index are ignored. Without an index, a single
 *    model.safetensors provides every tensor.
 * 3. The expert form is taken from layer 0 (gate_up_proj_blocks: MXFP4,
 *    gate_up_proj: BF16), then every tensor of fk_gptoss_tensor_specs is
 *    checked for presence, dtype, shape and alignment.
 * Every problem of steps 2 and 3 is collected and reported at once, one per
 * line. Lookup is a binary search over the tensors sorted by name. */
#include "checkpoint.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define INDEX_NAME "model.safetensors.index.json"
#define SINGLE_NAME "model.safetensors"

/* One tensor of the checkpoint and the shard it lives in. */
typedef struct ck_entry {
    const fk_tensor *t; /* owned by shards[shard] */
    size_t shard;       /* index into fk_checkpoint.shards */
} ck_entry;

struct fk_checkpoint {
    fk_gptoss_config cfg;   /* parsed config; experts_mxfp4 set here */
    fk_st_file **shards;    /* each shard opened once (NULL where opening failed) */
    char **shard_names;     /* file names relative to the directory, sorted */
    size_t n_shards;        /* entries in shards / shard_names */
    ck_entry *entries;      /* every tensor, sorted by name */
    size_t n;               /* entries used */
    size_t cap;             /* entries allocated */
    uint64_t bytes;         /* sum of tensor nbytes */
    char **unavailable;     /* sorted names the index puts in shards that failed to open */
    size_t n_unavailable;   /* entries in unavailable */
    int weights_unreadable; /* 1: no tensor list at all (bad index, bad single file) */
};

/* ---- problem list: lines appended into the caller's err buffer ----------------- */

typedef struct problems {
    char *buf;   /* the caller's err buffer */
    size_t len;  /* its size */
    size_t used; /* bytes written (excluding the NUL) */
    int count;   /* problems recorded */
    int dropped; /* problems that did not fit */
} problems;

/* Room kept free at the end for the "... more" line. */
#define PROBLEM_TAIL 48

__attribute__((format(printf, 2, 3))) static void problem(problems *p, const char *fmt, ...)
{
    p->count++;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t n = strlen(line) + (p->used ? 1 : 0);
    if (!p->buf || p->used + n + PROBLEM_TAIL >= p->len) {
        p->dropped++;
        return;
    }
    snprintf(p->buf + p->used, p->len - p->used, "%s%s", p->used ? "\n" : "", line);
    p->used += n;
}

static void problems_finish(problems *p)
{
    if (p->dropped && p->buf && p->used + 2 < p->len)
        snprintf(p->buf + p->used, p->len - p->used, "%s... and %d more problems",
                 p->used ? "\n" : "", p->dropped);
}

/* ---- building the tensor table ------------------------------------------------ */

static int add_entry(fk_checkpoint *ck, const fk_tensor *t, size_t shard)
{
    if (ck->n == ck->cap) {
        size_t cap = ck->cap ? ck->cap * 2 : 512;
        ck_entry *e = realloc(ck->entries, cap * sizeof *e);
        if (!e) return -1;
        ck->entries = e;
        ck->cap = cap;
    }
    ck->entries[ck->n++] = (ck_entry){.t = t, .shard = shard};
    ck->bytes += t->nbytes;
    return 0;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const ck_entry *)a)->t->name, ((const ck_entry *)b)->t->name);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* bsearch comparator: the key is a name, the elements are char * names. */
static int cmp_ptr_str(const void *key, const void *elem)
{
    return strcmp((const char *)key, *(char *const *)elem);
}

/* Open shard i (dir/shard_names[i]); a failure is one problem. */
static void open_shard(fk_checkpoint *ck, const char *dir, size_t i, problems *p)
{
    char path[4096], err[1024];
    snprintf(path, sizeof path, "%s/%s", dir, ck->shard_names[i]);
    ck->shards[i] = fk_st_open(path, err, sizeof err);
    if (!ck->shards[i]) problem(p, "%s", err);
}

/* The sorted, de-duplicated shard file names of weight_map. */
static int collect_shards(fk_checkpoint *ck, const json_t *wm, problems *p)
{
    size_t n = json_object_size(wm), k = 0;
    ck->shard_names = calloc(n ? n : 1, sizeof *ck->shard_names);
    if (!ck->shard_names) return -1;
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)wm, name, v)
    {
        const char *file = json_string_value(v);
        if (!file) {
            problem(p, INDEX_NAME ": weight_map[\"%s\"]: expected a file name string", name);
            continue;
        }
        if (file[0] == '\0' || strchr(file, '/') || strcmp(file, "..") == 0) {
            problem(p, INDEX_NAME ": weight_map[\"%s\"]: shard \"%s\" is not a plain file name",
                    name, file);
            continue;
        }
        ck->shard_names[k] = strdup(file);
        if (!ck->shard_names[k]) {
            ck->n_shards = k; /* so close frees what was copied */
            return -1;
        }
        k++;
    }
    qsort(ck->shard_names, k, sizeof *ck->shard_names, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < k; i++) {
        if (u && strcmp(ck->shard_names[u - 1], ck->shard_names[i]) == 0)
            free(ck->shard_names[i]);
        else
            ck->shard_names[u++] = ck->shard_names[i];
    }
    ck->n_shards = u;
    return 0;
}

/* Remember a tensor whose shard failed, so it is not reported missing too. */
static int add_unavailable(fk_checkpoint *ck, const char *name)
{
    char **u = realloc(ck->unavailable, (ck->n_unavailable + 1) * sizeof *u);
    if (!u) return -1;
    ck->unavailable = u;
    if (!(u[ck->n_unavailable] = strdup(name))) return -1;
    ck->n_unavailable++;
    return 0;
}

static int load_index(fk_checkpoint *ck, const char *dir, const char *path, problems *p)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        problem(p, INDEX_NAME ": not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                jerr.column);
        ck->weights_unreadable = 1;
        return 0;
    }
    const json_t *wm = json_object_get(root, "weight_map");
    int rc = 0;
    if (!json_is_object(wm)) {
        problem(p, INDEX_NAME ": key \"weight_map\": expected an object");
        ck->weights_unreadable = 1;
    } else if ((rc = collect_shards(ck, wm, p)) == 0) {
        ck->shards = calloc(ck->n_shards ? ck->n_shards : 1, sizeof *ck->shards);
        if (!ck->shards) rc = -1;
        for (size_t i = 0; rc == 0 && i < ck->n_shards; i++) open_shard(ck, dir, i, p);
        const char *name;
        const json_t *v;
        json_object_foreach((json_t *)wm, name, v)
        {
            const char *file = json_string_value(v);
            if (rc || !file) continue;
            char **hit = bsearch(&file, ck->shard_names, ck->n_shards, sizeof(char *), cmp_str);
            if (!hit) continue; /* rejected above */
            size_t s = (size_t)(hit - ck->shard_names);
            if (!ck->shards[s]) { /* its open failure is already listed */
                rc = add_unavailable(ck, name);
                continue;
            }
            const fk_tensor *t = fk_st_find(ck->shards[s], name);
            if (!t)
                problem(p, "%s: %s: listed in " INDEX_NAME " but not in the shard", file, name);
            else
                rc = add_entry(ck, t, s);
        }
    }
    json_decref(root);
    return rc;
}

static int load_single(fk_checkpoint *ck, const char *dir, problems *p)
{
    ck->shard_names = calloc(1, sizeof *ck->shard_names);
    ck->shards = calloc(1, sizeof *ck->shards);
    if (!ck->shard_names || !ck->shards || !(ck->shard_names[0] = strdup(SINGLE_NAME))) return -1;
    ck->n_shards = 1;
    open_shard(ck, dir, 0, p);
    ck->weights_unreadable = ck->shards[0] == NULL;
    for (size_t i = 0; ck->shards[0] && i < fk_st_count(ck->shards[0]); i++)
        if (add_entry(ck, fk_st_tensor(ck->shards[0], i), 0)) return -1;
    return 0;
}

/* ---- validation against the architecture -------------------------------------- */

static const ck_entry *find_entry(const fk_checkpoint *ck, const char *name)
{
    fk_tensor key = {.name = name};
    ck_entry k = {.t = &key};
    if (!ck->n) return NULL;
    return bsearch(&k, ck->entries, ck->n, sizeof k, cmp_entry);
}

static void check_spec(const fk_checkpoint *ck, const fk_tensor_spec *s, problems *p)
{
    char want[160], got[160];
    fk_shape_format(want, sizeof want, s->ndim, s->shape);
    const ck_entry *e = find_entry(ck, s->name);
    if (!e) {
        if (ck->n_unavailable &&
            bsearch(s->name, ck->unavailable, ck->n_unavailable, sizeof(char *), cmp_ptr_str))
            return; /* its shard's failure is already listed */
        problem(p, "missing tensor %s (expected %s %s)", s->name, fk_dtype_name(s->dtype), want);
        return;
    }
    const char *file = ck->shard_names[e->shard];
    const fk_tensor *t = e->t;
    if (t->dtype != s->dtype)
        problem(p, "%s: %s: dtype %s expected %s", file, s->name, fk_dtype_name(t->dtype),
                fk_dtype_name(s->dtype));
    int same = t->ndim == s->ndim;
    for (int d = 0; same && d < s->ndim; d++) same = t->shape[d] == s->shape[d];
    if (!same) {
        fk_shape_format(got, sizeof got, t->ndim, t->shape);
        problem(p, "%s: %s: shape %s expected %s", file, s->name, got, want);
    }
    size_t align = fk_dtype_size(t->dtype);
    if (align > 1 && (uintptr_t)t->data % align) {
        const void *base;
        size_t len;
        fk_st_mapping(ck->shards[e->shard], &base, &len);
        problem(p, "%s: %s: data at file offset %td is not aligned to %zu bytes", file, s->name,
                (const char *)t->data - (const char *)base, align);
    }
}

static int check_architecture(fk_checkpoint *ck, problems *p)
{
    if (ck->weights_unreadable) return 0; /* nothing to check against */
    if (ck->n_unavailable) qsort(ck->unavailable, ck->n_unavailable, sizeof(char *), cmp_str);
    fk_gptoss_config *c = &ck->cfg;
    char blocks[128], bf16[128];
    fk_gptoss_tensor_name(FK_T_GATE_UP_BLOCKS, 0, blocks, sizeof blocks);
    fk_gptoss_tensor_name(FK_T_GATE_UP, 0, bf16, sizeof bf16);
    c->experts_mxfp4 = find_entry(ck, blocks) != NULL || find_entry(ck, bf16) == NULL;
    if (c->experts_mxfp4 && (c->hidden_size % 32 || c->intermediate_size % 32))
        problem(p,
                "config.json: MXFP4 experts need hidden_size (%d) and intermediate_size (%d) "
                "divisible by 32",
                c->hidden_size, c->intermediate_size);
    size_t n = fk_gptoss_tensor_specs(c, c->experts_mxfp4, NULL, 0);
    fk_tensor_spec *specs = malloc(n * sizeof *specs);
    if (!specs) return -1;
    fk_gptoss_tensor_specs(c, c->experts_mxfp4, specs, n);
    for (size_t i = 0; i < n; i++) check_spec(ck, &specs[i], p);
    free(specs);
    return 0;
}

/* ---- public ------------------------------------------------------------------- */

fk_checkpoint *fk_checkpoint_open(const char *dir, char *err, size_t err_len)
{
    if (err && err_len) err[0] = '\0';
    fk_checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck) {
        if (err && err_len) snprintf(err, err_len, "%s: out of memory", dir);
        return NULL;
    }
    if (fk_config_load(dir, &ck->cfg, err, err_len)) {
        fk_checkpoint_close(ck);
        return NULL;
    }
    problems p = {.buf = err, .len = err_len};
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/" INDEX_NAME, dir);
    int rc;
    if (stat(path, &st) == 0) {
        rc = load_index(ck, dir, path, &p);
    } else {
        snprintf(path, sizeof path, "%s/" SINGLE_NAME, dir);
        if (stat(path, &st) == 0)
            rc = load_single(ck, dir, &p);
        else {
            problem(&p, "%s: neither " INDEX_NAME " nor " SINGLE_NAME " found", dir);
            rc = 0;
        }
    }
    if (rc == 0) {
        if (ck->n) qsort(ck->entries, ck->n, sizeof *ck->entries, cmp_entry);
        rc = check_architecture(ck, &p);
    }
    if (rc) problem(&p, "%s: out of memory", dir);
    if (p.count) {
        problems_finish(&p);
        fk_checkpoint_close(ck);
        return NULL;
    }
    return ck;
}

void fk_checkpoint_close(fk_checkpoint *ck)
{
    if (!ck) return;
    for (size_t i = 0; i < ck->n_shards; i++) {
        if (ck->shards) fk_st_close(ck->shards[i]);
        free(ck->shard_names[i]);
    }
    free(ck->shards);
    free(ck->shard_names);
    free(ck->entries);
    for (size_t i = 0; i < ck->n_unavailable; i++) free(ck->unavailable[i]);
    free(ck->unavailable);
    free(ck);
}

const fk_gptoss_config *fk_checkpoint_config(const fk_checkpoint *ck)
{
    return &ck->cfg;
}

const fk_tensor *fk_checkpoint_get(const fk_checkpoint *ck, const char *name)
{
    const ck_entry *e = find_entry(ck, name);
    return e ? e->t : NULL;
}

const char *fk_checkpoint_tensor_file(const fk_checkpoint *ck, const char *name)
{
    const ck_entry *e = find_entry(ck, name);
    return e ? fk_st_path(ck->shards[e->shard]) : NULL;
}

size_t fk_checkpoint_count(const fk_checkpoint *ck)
{
    return ck->n;
}

const fk_tensor *fk_checkpoint_tensor(const fk_checkpoint *ck, size_t i)
{
    return i < ck->n ? ck->entries[i].t : NULL;
}

uint64_t fk_checkpoint_bytes(const fk_checkpoint *ck)
{
    return ck->bytes;
}

/* Fault in [p, p+len) of a read-only mapping: one kernel call where the
 * kernel has MADV_POPULATE_READ, else a read of one byte per page. */
static void populate(const uint8_t *p, size_t len)
{
#ifdef MADV_POPULATE_READ
    if (madvise((void *)p, len, MADV_POPULATE_READ) == 0) return;
#endif
    volatile uint8_t sink = 0;
    for (size_t off = 0; off < len; off += 4096) sink ^= p[off];
    if (len) sink ^= p[len - 1];
    (void)sink;
}

void fk_checkpoint_prefault(const fk_checkpoint *ck,
                            void (*progress)(void *ud, uint64_t done, uint64_t total), void *ud)
{
    const size_t chunk = (size_t)64 << 20;
    uint64_t total = 0, done = 0;
    for (size_t i = 0; i < ck->n_shards; i++) {
        const void *base;
        size_t len;
        fk_st_mapping(ck->shards[i], &base, &len);
        total += len;
    }
    for (size_t i = 0; i < ck->n_shards; i++) {
        const void *base;
        size_t len;
        fk_st_mapping(ck->shards[i], &base, &len);
        for (size_t off = 0; off < len; off += chunk) {
            size_t n = len - off < chunk ? len - off : chunk;
            populate((const uint8_t *)base + off, n);
            done += n;
            if (progress) progress(ud, done, total);
        }
    }
}
