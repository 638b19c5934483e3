/* stream.h: the CUDA backend's op stream. Ops are recorded (ops.h), not
 * launched, until a synchronising op ends the segment; the segment then runs
 *   - as a replay of a CUDA graph captured earlier from a byte-identical
 *     segment (a decode step of the same batch shape: the records match and
 *     only the staged data differs),
 *   - or captured now, when this segment's signature was seen before (the
 *     second sighting: a one-off segment is never captured),
 *   - or launch by launch.
 * Host inputs are staged into one pinned area (identical blobs staged once
 * per segment), which reaches the device in one copy at the segment's start;
 * small results of synchronising ops come back through a pinned output area
 * and are copied to the caller's buffers after the wait.
 *
 * Pure C: the CUDA work is behind fk_cu_exec, so tests/unit/test_cuda_host.c
 * checks this bookkeeping with a fake executor and no GPU.
 *
 * Ownership: the stream owns its record array, graph cache entries (their
 * handles are dropped through exec) and bookkeeping; the staging and output
 * areas belong to whoever supplied them (the backend, pinned memory). */
#ifndef FK_CUDA_STREAM_H
#define FK_CUDA_STREAM_H

#include "ops.h"

#include <stddef.h>
#include <stdint.h>

#define FK_CU_GRAPHS 8 /* graphs kept (least recently used dropped) */
#define FK_CU_SEEN 64  /* signatures remembered for the second-sighting rule */

/* How a segment is run. Every function returns 0 or an error (the
 * executor keeps the message). */
typedef struct fk_cu_exec {
    void *ud; /* the backend */
    /* Copy `staged` bytes of the staging area to the device, then launch
     * recs[0..n) one by one (not waiting). */
    int (*launch)(void *ud, const fk_cu_rec *recs, size_t n, size_t staged);
    /* The same work captured into an instantiated graph: *graph, or an
     * error (then nothing ran). */
    int (*capture)(void *ud, const fk_cu_rec *recs, size_t n, size_t staged, void **graph);
    /* Launch a graph made by capture (not waiting). */
    int (*replay)(void *ud, void *graph);
    /* Destroy a graph made by capture. */
    void (*drop)(void *ud, void *graph);
    /* Wait for everything launched; the first error of any of it. */
    int (*wait)(void *ud);
} fk_cu_exec;

/* A result to copy out of the pinned output area after the wait. */
typedef struct fk_cu_post {
    size_t off;   /* in the output area */
    void *dst;    /* the caller's host buffer */
    size_t bytes; /* count */
} fk_cu_post;

/* A captured graph and the segment it was made from. */
typedef struct fk_cu_graph {
    void *handle;       /* from exec.capture; NULL: empty slot */
    uint64_t sig;       /* signature of the segment */
    fk_cu_rec *recs;    /* [n] copy of the records, for the exact comparison */
    size_t n;           /* records */
    size_t staged;      /* staging bytes */
    uint64_t last_used; /* flush counter at the last replay */
} fk_cu_graph;

/* One blob staged in the current segment (for reuse by identical blobs). */
typedef struct fk_cu_blob {
    size_t off;   /* in the staging area */
    size_t bytes; /* size */
} fk_cu_blob;

typedef struct fk_cu_stream {
    fk_cu_exec exec;                    /* how segments run */
    int graphs_on;                      /* 0: never capture (FK_CUDA_GRAPHS=0, profiling) */
    uint8_t *stage;                     /* host staging area (pinned) */
    size_t stage_cap;                   /* its size */
    size_t staged;                      /* bytes used in this segment */
    fk_cu_blob *blobs;                  /* blobs staged in this segment */
    size_t n_blobs, cap_blobs;          /* used, allocated */
    uint8_t *out;                       /* host output area (pinned) */
    size_t out_cap;                     /* its size */
    size_t out_used;                    /* bytes used in this segment */
    fk_cu_post *posts;                  /* copies to make after the wait */
    size_t n_posts, cap_posts;          /* used, allocated */
    fk_cu_rec *recs;                    /* this segment's records */
    size_t n_recs, cap_recs;            /* used, allocated */
    fk_cu_graph graphs[FK_CU_GRAPHS];   /* captured segments */
    uint64_t seen[FK_CU_SEEN];          /* signatures run launch by launch once */
    size_t seen_next;                   /* ring position in seen */
    uint64_t flushes;                   /* segments run */
    uint64_t replays, captures, eagers; /* how they ran (for tests and reports) */
} fk_cu_stream;

/* Start a stream over a staging area and an output area (both host memory
 * the executor can copy from / to, borrowed). */
void fk_cu_stream_init(fk_cu_stream *s, const fk_cu_exec *exec, void *stage, size_t stage_cap,
                       void *out, size_t out_cap);
/* Drop every graph and free the bookkeeping (not the areas). */
void fk_cu_stream_free(fk_cu_stream *s);

/* Bytes still free in the staging area. */
size_t fk_cu_stream_stage_room(const fk_cu_stream *s);
/* Copy `bytes` from src into the staging area, 16-byte aligned, or find an
 * identical blob already staged in this segment: its offset; SIZE_MAX when
 * the area is full (flush, then try again). */
size_t fk_cu_stream_stage(fk_cu_stream *s, const void *src, size_t bytes);

/* Reserve `bytes` of the output area (8-byte aligned) whose contents go to
 * dst after the segment's wait: its offset; SIZE_MAX when full. */
size_t fk_cu_stream_result(fk_cu_stream *s, void *dst, size_t bytes);

/* Append a record. 0, or -1 on OOM. */
int fk_cu_stream_push(fk_cu_stream *s, const fk_cu_rec *r);

/* Run the segment (replay, capture or launch), wait, copy results out and
 * start a new segment. Returns exec's first error, or 0. After an error the
 * segment is discarded all the same. */
int fk_cu_stream_flush(fk_cu_stream *s);

/* Drop every captured graph (the pointers they bake in are about to be
 * freed or their memory reused). */
void fk_cu_stream_forget(fk_cu_stream *s);

/* The signature of a segment: FNV-1a over the records and the staged size. */
uint64_t fk_cu_stream_signature(const fk_cu_rec *recs, size_t n, size_t staged);

#endif
