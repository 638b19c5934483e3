/* stream.c: recording, staging and running segments of CUDA ops (stream.h). */
#include "stream.h"

#include <stdlib.h>
#include <string.h>

#define STAGE_ALIGN 16 /* staged blobs start on 16 bytes (vector loads) */
#define OUT_ALIGN 8    /* results start on 8 bytes */

/* Grow an array of `size`-byte items to hold one more; 0 or -1 on OOM. */
static int grow(void **items, size_t *cap, size_t used, size_t size)
{
    if (used < *cap) return 0;
    size_t n = *cap ? *cap * 2 : 64;
    void *p = realloc(*items, n * size);
    if (!p) return -1;
    *items = p;
    *cap = n;
    return 0;
}

void fk_cu_stream_init(fk_cu_stream *s, const fk_cu_exec *exec, void *stage, size_t stage_cap,
                       void *out, size_t out_cap)
{
    memset(s, 0, sizeof *s);
    s->exec = *exec;
    s->graphs_on = 1;
    s->stage = stage;
    s->stage_cap = stage_cap;
    s->out = out;
    s->out_cap = out_cap;
}

void fk_cu_stream_forget(fk_cu_stream *s)
{
    for (int i = 0; i < FK_CU_GRAPHS; i++) {
        fk_cu_graph *g = &s->graphs[i];
        if (g->handle) s->exec.drop(s->exec.ud, g->handle);
        free(g->recs);
        memset(g, 0, sizeof *g);
    }
    memset(s->seen, 0, sizeof s->seen);
}

void fk_cu_stream_free(fk_cu_stream *s)
{
    fk_cu_stream_forget(s);
    free(s->blobs);
    free(s->posts);
    free(s->recs);
    memset(s, 0, sizeof *s);
}

/* ---- staging ---------------------------------------------------------------------- */

size_t fk_cu_stream_stage_room(const fk_cu_stream *s)
{
    size_t at = (s->staged + STAGE_ALIGN - 1) / STAGE_ALIGN * STAGE_ALIGN;
    return at < s->stage_cap ? s->stage_cap - at : 0;
}

size_t fk_cu_stream_stage(fk_cu_stream *s, const void *src, size_t bytes)
{
    for (size_t i = 0; i < s->n_blobs; i++) {
        const fk_cu_blob *b = &s->blobs[i];
        if (b->bytes == bytes && memcmp(s->stage + b->off, src, bytes) == 0) return b->off;
    }
    size_t at = (s->staged + STAGE_ALIGN - 1) / STAGE_ALIGN * STAGE_ALIGN;
    if (at > s->stage_cap || bytes > s->stage_cap - at) return SIZE_MAX;
    if (grow((void **)&s->blobs, &s->cap_blobs, s->n_blobs, sizeof *s->blobs) != 0) return SIZE_MAX;
    if (bytes) memcpy(s->stage + at, src, bytes);
    s->blobs[s->n_blobs++] = (fk_cu_blob){at, bytes};
    s->staged = at + bytes;
    return at;
}

size_t fk_cu_stream_result(fk_cu_stream *s, void *dst, size_t bytes)
{
    size_t at = (s->out_used + OUT_ALIGN - 1) / OUT_ALIGN * OUT_ALIGN;
    if (at > s->out_cap || bytes > s->out_cap - at) return SIZE_MAX;
    if (grow((void **)&s->posts, &s->cap_posts, s->n_posts, sizeof *s->posts) != 0) return SIZE_MAX;
    s->posts[s->n_posts++] = (fk_cu_post){at, dst, bytes};
    s->out_used = at + bytes;
    return at;
}

int fk_cu_stream_push(fk_cu_stream *s, const fk_cu_rec *r)
{
    if (grow((void **)&s->recs, &s->cap_recs, s->n_recs, sizeof *s->recs) != 0) return -1;
    memcpy(&s->recs[s->n_recs++], r, sizeof *r); /* padding too: compared bytewise */
    return 0;
}

/* ---- running a segment ------------------------------------------------------------ */

uint64_t fk_cu_stream_signature(const fk_cu_rec *recs, size_t n, size_t staged)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    const unsigned char *p = (const unsigned char *)recs;
    for (size_t i = 0; i < n * sizeof *recs; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    for (size_t i = 0; i < sizeof staged; i++)
        h = (h ^ ((staged >> (8 * i)) & 0xFF)) * 0x100000001b3ULL;
    return h;
}

/* The captured graph of exactly this segment, or NULL. */
static fk_cu_graph *find_graph(fk_cu_stream *s, uint64_t sig)
{
    for (int i = 0; i < FK_CU_GRAPHS; i++) {
        fk_cu_graph *g = &s->graphs[i];
        if (g->handle && g->sig == sig && g->n == s->n_recs && g->staged == s->staged &&
            memcmp(g->recs, s->recs, s->n_recs * sizeof *s->recs) == 0)
            return g;
    }
    return NULL;
}

/* 1 when sig ran launch by launch before; remembers it otherwise. */
static int seen_before(fk_cu_stream *s, uint64_t sig)
{
    for (int i = 0; i < FK_CU_SEEN; i++)
        if (s->seen[i] == sig) return 1;
    s->seen[s->seen_next] = sig;
    s->seen_next = (s->seen_next + 1) % FK_CU_SEEN;
    return 0;
}

/* The slot for a new graph: an empty one, else the least recently used
 * (whose graph is dropped). */
static fk_cu_graph *graph_slot(fk_cu_stream *s)
{
    fk_cu_graph *lru = &s->graphs[0];
    for (int i = 0; i < FK_CU_GRAPHS; i++) {
        if (!s->graphs[i].handle) return &s->graphs[i];
        if (s->graphs[i].last_used < lru->last_used) lru = &s->graphs[i];
    }
    s->exec.drop(s->exec.ud, lru->handle);
    free(lru->recs);
    memset(lru, 0, sizeof *lru);
    return lru;
}

/* Capture the segment into a new cache entry and replay it; falls back to
 * launching one by one when capture fails. */
static int capture_and_replay(fk_cu_stream *s, uint64_t sig)
{
    fk_cu_rec *copy = malloc(s->n_recs * sizeof *copy);
    void *handle = NULL;
    if (!copy || s->exec.capture(s->exec.ud, s->recs, s->n_recs, s->staged, &handle) != 0) {
        free(copy);
        s->eagers++;
        return s->exec.launch(s->exec.ud, s->recs, s->n_recs, s->staged);
    }
    memcpy(copy, s->recs, s->n_recs * sizeof *copy);
    fk_cu_graph *g = graph_slot(s);
    *g = (fk_cu_graph){handle, sig, copy, s->n_recs, s->staged, s->flushes};
    s->captures++;
    return s->exec.replay(s->exec.ud, handle);
}

/* Launch the segment's work in the best way known (not waiting). */
static int run_segment(fk_cu_stream *s)
{
    if (s->n_recs == 0) return 0;
    uint64_t sig = fk_cu_stream_signature(s->recs, s->n_recs, s->staged);
    if (s->graphs_on) {
        fk_cu_graph *g = find_graph(s, sig);
        if (g) {
            g->last_used = s->flushes;
            s->replays++;
            return s->exec.replay(s->exec.ud, g->handle);
        }
        if (seen_before(s, sig)) return capture_and_replay(s, sig);
    }
    s->eagers++;
    return s->exec.launch(s->exec.ud, s->recs, s->n_recs, s->staged);
}

int fk_cu_stream_flush(fk_cu_stream *s)
{
    s->flushes++;
    int rc = run_segment(s);
    int wrc = s->exec.wait(s->exec.ud);
    if (rc == 0) rc = wrc;
    if (rc == 0)
        for (size_t i = 0; i < s->n_posts; i++)
            memcpy(s->posts[i].dst, s->out + s->posts[i].off, s->posts[i].bytes);
    s->n_recs = s->n_blobs = s->n_posts = 0;
    s->staged = s->out_used = 0;
    return rc;
}
