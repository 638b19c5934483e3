/* cuda.h: the CUDA backend of the native engine (backend.h's table on one
 * NVIDIA GPU), and how the engine picks a backend (FK_BACKEND).
 *
 * Every function here exists in every build: without --with-cuda the
 * constructor fails with a message that says so, and fk_backend_is_cuda is
 * 0, so callers need no #ifdef.
 *
 * Design (the kernels' notes are in the .cu files):
 *   - weights are copied once, as the checkpoint holds them (bf16 stays
 *     bf16, MXFP4 codes and e8m0 scales stay MXFP4), into one allocation
 *     sized from the checkpoint up front (a clear error when they do not
 *     fit), through pinned double buffers;
 *   - activations and the KV cache are float32; every matmul decodes its
 *     weights in registers and accumulates in float32, one fixed order per
 *     output whatever the number of rows, so a row gets the same bits alone
 *     or in a batch (backend.h's batch invariance);
 *   - ops are recorded and run at the next synchronising op; a segment that
 *     repeats byte for byte (a decode step of the same batch shape: token
 *     ids, positions and block tables live in staged device memory, not in
 *     kernel arguments) is captured once as a CUDA graph and replayed
 *     (stream.h);
 *   - the fused moe op routes on the GPU, so a decode step has no host
 *     round trip until its argmax or logits.
 * Errors: every CUDA call goes through a check that records "FILE:LINE:
 * call: CUDA's message" (fk_backend_cuda_error). */
#ifndef FK_CUDA_H
#define FK_CUDA_H

#include "drivers/cuda/checkpoint/checkpoint.h"
#include "drivers/cuda/model/backend.h"

#include <stddef.h>
#include <stdint.h>

#define FK_CUDA_ALIGN 256 /* bytes every weight tensor and buffer starts on */

/* What the GPU is. */
typedef struct fk_cuda_info {
    int device;             /* CUDA device index */
    char name[256];         /* "NVIDIA H100 80GB HBM3" (cudaDeviceProp.name) */
    int cc_major, cc_minor; /* compute capability */
    int sm_count;           /* multiprocessors */
    uint64_t total_bytes;   /* device memory */
    uint64_t free_at_start; /* free when the backend started (context made) */
    uint64_t free_now;      /* free at the time of the call */
} fk_cuda_info;

typedef struct fk_cuda_options {
    int device;             /* CUDA device index (0) */
    uint64_t weights_bytes; /* fk_cuda_weights_bytes(ck): reserved at start; 0: per tensor */
    /* Upload progress (bytes copied of weights_bytes), or NULL. Called on
     * the thread that maps the weights. */
    void (*progress)(void *ud, uint64_t done, uint64_t total);
    void *progress_ud; /* passed to progress */
    int graphs;        /* 1: capture repeated segments as CUDA graphs; 0: never */
    int sync_each;     /* 1: wait after every op and name the one that failed (debugging;
                          no graphs) */
} fk_cuda_options;

/* Options with the defaults: device 0, no reservation, graphs on unless
 * the environment says FK_CUDA_GRAPHS=0 (the driver reads that key from its
 * configuration instead), sync_each when it says FK_CUDA_SYNC=1. */
fk_cuda_options fk_cuda_options_default(void);

/* Whether device `device` can run the backend: 1 with info filled, or 0
 * with why ("this build has no CUDA backend (configure --with-cuda)", "no
 * CUDA driver: ...", "no CUDA GPU: ..."). */
int fk_cuda_probe(int device, fk_cuda_info *info, char *why, size_t why_len);

/* The CUDA backend on opt->device, or NULL with err (no GPU, no driver,
 * weights that do not fit: the numbers named). */
fk_backend *fk_backend_cuda_new(const fk_cuda_options *opt, char *err, size_t err_len);

/* 1 when be is a CUDA backend. */
int fk_backend_is_cuda(const fk_backend *be);
/* The GPU of a CUDA backend (free_now read now). */
void fk_backend_cuda_info(fk_backend *be, fk_cuda_info *info);
/* The last CUDA failure of a CUDA backend, "FILE:LINE: call: why"; "" if none. */
const char *fk_backend_cuda_error(const fk_backend *be);

/* Allocate the backend's own scratch (attention partials, expert lists and
 * activations) for calls of up to `rows` rows of this model now, so that
 * free memory measured afterwards is what the KV cache may take. */
fk_status fk_backend_cuda_reserve(fk_backend *be, const fk_gptoss_config *cfg, int rows);

/* Bytes the weights of ck take on the GPU (each tensor rounded up to the
 * backend's alignment): the value for fk_cuda_options.weights_bytes. */
uint64_t fk_cuda_weights_bytes(const fk_checkpoint *ck);

/* ---- the KV cache's share (VLLM_GPU_MEMORY_UTILIZATION) ----------------------------- */

#define FK_CUDA_KV_MARGIN (256ull << 20) /* kept back: graphs, allocator slack */

/* What decides how large the KV pool on a GPU may be (vLLM's rule). */
typedef struct fk_kv_budget {
    uint64_t total;         /* device memory */
    uint64_t free_at_start; /* free when the backend started, before any allocation */
    uint64_t free_now;      /* free with the weights, the run state and the scratch allocated */
    double utilization;     /* VLLM_GPU_MEMORY_UTILIZATION, (0, 1] */
    uint64_t seq_bytes;     /* KV bytes one sequence of max_model_len holds at most */
    int max_model_len;      /* the prompt + completion limit in effect */
} fk_kv_budget;

/* The engine may use utilization * total bytes of the GPU; the KV pool gets
 * what the weights, the run state and the backend's scratch (free_at_start
 * - free_now) leave of it, less FK_CUDA_KV_MARGIN. 0 with err naming the
 * numbers and the key to change when the GPU had less free memory than that
 * share at start, or when one sequence of max_model_len does not fit. */
uint64_t fk_cuda_kv_bytes(const fk_kv_budget *b, char *err, size_t err_len);

/* ---- profile ------------------------------------------------------------------------ */

/* One line of the per-op profile. */
typedef struct fk_cuda_prof {
    const char *op; /* "matmul bf16", "attention", ... */
    uint64_t calls; /* launches timed */
    double ms;      /* summed CUDA event time */
    uint64_t bytes; /* weights and cache bytes those calls read */
} fk_cuda_prof;

#define FK_CUDA_PROF_ROWS 24 /* most lines a profile has */

/* Time every op with CUDA events from now on (graphs are not used while
 * on), clearing the counts; 0 turns it off. */
void fk_backend_cuda_profile(fk_backend *be, int on);
/* The profile so far, one line per op kind that ran: returns the count. */
size_t fk_backend_cuda_profile_read(fk_backend *be, fk_cuda_prof *rows, size_t max);
/* Capture repeated segments as CUDA graphs (1) or never (0), from now on. */
void fk_backend_cuda_set_graphs(fk_backend *be, int on);
/* Device-to-device copy bandwidth in bytes per second (read plus written,
 * as the copy moves them), best of a few copies of `bytes`; 0 on failure. */
double fk_backend_cuda_copy_bandwidth(fk_backend *be, size_t bytes);
/* Segments run so far by replaying a graph, by capturing one, and launch by launch. */
void fk_backend_cuda_counts(fk_backend *be, uint64_t *replays, uint64_t *captures,
                            uint64_t *eagers);

/* ---- picking a backend (FK_BACKEND) ------------------------------------------------ */

typedef enum fk_backend_kind {
    FK_BACKEND_AUTO = 0, /* cuda when built with it and a GPU is there, else cpu */
    FK_BACKEND_CPU,      /* the CPU backend */
    FK_BACKEND_CUDA,     /* the CUDA backend, or an error */
    FK_BACKEND_REF,      /* the reference backend (tests) */
} fk_backend_kind;

/* Parse an FK_BACKEND value ("auto", "cpu", "cuda", "ref"; NULL or "" is
 * auto): 0, or -1 with err naming the accepted values. */
int fk_backend_kind_parse(const char *value, fk_backend_kind *out, char *err, size_t err_len);

/* What to start for `kind`, given what fk_cuda_probe said (gpu: 1 or 0,
 * why: its reason): FK_BACKEND_CPU, FK_BACKEND_CUDA or FK_BACKEND_REF; -1
 * with err when cuda was asked for and cannot run (why is in the message).
 * Pure: the rule, testable without a GPU. */
int fk_backend_choose(fk_backend_kind kind, int gpu, const char *why, char *err, size_t err_len);

/* Start the backend FK_BACKEND names: threads for the CPU backend, opt for
 * CUDA (NULL: defaults). On success *chosen says which started, desc (if
 * not NULL) names it as driver.h's fk_core_metrics.backend does ("cuda:
 * NVIDIA H100 80GB HBM3 (79.1 GiB)", "cpu", "ref"), and err holds why no GPU
 * was used when auto fell back to the CPU ("" otherwise). NULL with err
 * otherwise. */
fk_backend *fk_backend_open(fk_backend_kind kind, int threads, const fk_cuda_options *opt,
                            fk_backend_kind *chosen, char *desc, size_t desc_len, char *err,
                            size_t err_len);

#endif
