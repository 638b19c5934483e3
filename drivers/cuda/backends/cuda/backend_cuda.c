/* backend_cuda.c: the CUDA backend's life cycle, memory ops, how a recorded
 * segment runs on the GPU (the executor behind stream.h) and the profile.
 * The ops themselves are in ops_cuda.c, the kernels in the .cu files. */
#include "cuda_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STAGE_BYTES (8u << 20)   /* staging area to start with */
#define OUT_BYTES (1u << 20)     /* pinned output area to start with */
#define BOUNCE_BYTES (64u << 20) /* each of the two weight upload buffers */

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

fk_status fk_cu_fail(fk_cuda_backend *b, cudaError_t e, const char *call, const char *file,
                     int line)
{
    snprintf(b->err, sizeof b->err, "%s:%d: %s: %s (%s)", base_name(file), line, call,
             cudaGetErrorString(e), cudaGetErrorName(e));
    return e == cudaErrorMemoryAllocation ? FK_ERR_OOM : FK_ERR_DEVICE;
}

/* Make the backend's GPU current on the calling thread (the loader and the
 * scheduler's worker are different threads). */
static fk_status enter(fk_cuda_backend *b)
{
    CU_TRY(b, cudaSetDevice(b->info.device));
    return FK_OK;
}

/* ---- running segments (the executor of stream.h) ------------------------------------ */

/* Events for n records (profiling), created as needed. */
static fk_status ensure_events(fk_cuda_backend *b, size_t n)
{
    if (b->n_events >= 2 * n) return FK_OK;
    cudaEvent_t *ev = realloc(b->events, 2 * n * sizeof *ev);
    if (!ev) return FK_ERR_OOM;
    b->events = ev;
    for (; b->n_events < 2 * n; b->n_events++) CU_TRY(b, cudaEventCreate(&ev[b->n_events]));
    return FK_OK;
}

/* Queue a segment's work: clear the error word, copy the staged bytes, launch
 * every record (between events when profiling; waiting after each with
 * FK_CUDA_SYNC, never while capturing), fetch the error word. */
static int queue_segment(fk_cuda_backend *b, const fk_cu_rec *recs, size_t n, size_t staged,
                         int timed, int capturing)
{
    fk_cu_ctx ctx = {b->err_dev, b->stage_dev, b->out_host};
    if (timed) {
        fk_status st = ensure_events(b, n);
        if (st != FK_OK) return st;
    }
    CU_TRY(b, cudaMemsetAsync(b->err_dev, 0, sizeof *b->err_dev, b->stream));
    if (staged)
        CU_TRY(b, cudaMemcpyAsync(b->stage_dev, b->stage_host, staged, cudaMemcpyHostToDevice,
                                  b->stream));
    for (size_t i = 0; i < n; i++) {
        if (timed) CU_TRY(b, cudaEventRecord(b->events[2 * i], b->stream));
        cudaError_t e = fk_cu_launch(&recs[i], b->stream, &ctx);
        if (e == cudaSuccess && b->sync_each && !capturing) e = cudaStreamSynchronize(b->stream);
        if (e != cudaSuccess)
            return fk_cu_fail(b, e, fk_cu_op_name(recs[i].op), __FILE__, __LINE__);
        if (timed) CU_TRY(b, cudaEventRecord(b->events[2 * i + 1], b->stream));
    }
    CU_TRY(b, cudaMemcpyAsync(b->err_host, b->err_dev, sizeof *b->err_dev, cudaMemcpyDeviceToHost,
                              b->stream));
    return FK_OK;
}

static int ex_launch(void *ud, const fk_cu_rec *recs, size_t n, size_t staged)
{
    fk_cuda_backend *b = ud;
    int st = queue_segment(b, recs, n, staged, b->profiling, 0);
    if (st == FK_OK && b->profiling) {
        b->timed_recs = recs;
        b->timed_n = n;
    }
    return st;
}

static int ex_capture(void *ud, const fk_cu_rec *recs, size_t n, size_t staged, void **graph)
{
    fk_cuda_backend *b = ud;
    cudaGraph_t g = NULL;
    cudaGraphExec_t ge = NULL;
    CU_TRY(b, cudaStreamBeginCapture(b->stream, cudaStreamCaptureModeThreadLocal));
    int st = queue_segment(b, recs, n, staged, 0, 1);
    cudaError_t e = cudaStreamEndCapture(b->stream, &g);
    if (st != FK_OK) {
        if (e == cudaSuccess && g) cudaGraphDestroy(g);
        return st;
    }
    if (e != cudaSuccess) return fk_cu_fail(b, e, "cudaStreamEndCapture", __FILE__, __LINE__);
    e = cudaGraphInstantiate(&ge, g, 0);
    cudaGraphDestroy(g);
    if (e != cudaSuccess) return fk_cu_fail(b, e, "cudaGraphInstantiate", __FILE__, __LINE__);
    *graph = ge;
    return FK_OK;
}

static int ex_replay(void *ud, void *graph)
{
    fk_cuda_backend *b = ud;
    CU_TRY(b, cudaGraphLaunch((cudaGraphExec_t)graph, b->stream));
    return FK_OK;
}

static void ex_drop(void *ud, void *graph)
{
    (void)ud;
    cudaGraphExecDestroy((cudaGraphExec_t)graph);
}

/* Add the timed segment's event times to the profile. */
static void read_profile(fk_cuda_backend *b)
{
    for (size_t i = 0; i < b->timed_n; i++) {
        float ms = 0;
        if (cudaEventElapsedTime(&ms, b->events[2 * i], b->events[2 * i + 1]) != cudaSuccess)
            continue;
        const fk_cu_rec *r = &b->timed_recs[i];
        int line =
            r->op == FK_CU_MATMUL && r->a.matmul.fmt > 0 ? FK_CU_OP_COUNT + r->a.matmul.fmt : r->op;
        b->prof[line].calls++;
        b->prof[line].ms += ms;
        b->prof[line].bytes += r->bytes;
    }
    b->timed_n = 0;
}

static int ex_wait(void *ud)
{
    fk_cuda_backend *b = ud;
    cudaError_t e = cudaStreamSynchronize(b->stream);
    while (b->deferred) {
        cu_deferred *d = b->deferred;
        b->deferred = d->next;
        cudaFree(d->p);
        free(d);
    }
    if (e != cudaSuccess) {
        b->timed_n = 0;
        return fk_cu_fail(b, e, "cudaStreamSynchronize", __FILE__, __LINE__);
    }
    if (b->timed_n) read_profile(b);
    if (*b->err_host) {
        snprintf(b->err, sizeof b->err,
                 "a kernel met bad input: %s (a token id outside the "
                 "vocabulary reached the embedding)",
                 fk_status_str((fk_status)*b->err_host));
        return *b->err_host;
    }
    return FK_OK;
}

fk_status fk_cu_flush(fk_cuda_backend *b)
{
    fk_status st = enter(b);
    if (st != FK_OK) return st;
    return (fk_status)fk_cu_stream_flush(&b->st);
}

/* ---- scratch and staging -------------------------------------------------------------- */

void *fk_cu_scratch(fk_cuda_backend *b, int which, size_t bytes)
{
    if (b->scratch_cap[which] >= bytes && b->scratch[which]) return b->scratch[which];
    if (enter(b) != FK_OK) return NULL;
    size_t cap = b->scratch_cap[which] * 3 / 2;
    if (cap < bytes) cap = bytes;
    if (cap < 4096) cap = 4096;
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, cap);
    if (e != cudaSuccess) {
        fk_cu_fail(b, e, "cudaMalloc(scratch)", __FILE__, __LINE__);
        return NULL;
    }
    if (b->scratch[which]) {
        cu_deferred *d = malloc(sizeof *d);
        if (!d) {
            cudaFree(p);
            snprintf(b->err, sizeof b->err, "out of host memory");
            return NULL;
        }
        *d = (cu_deferred){b->scratch[which], b->deferred};
        b->deferred = d;
    }
    b->scratch[which] = p;
    b->scratch_cap[which] = cap;
    return p;
}

int32_t *fk_cu_host_tmp(fk_cuda_backend *b, size_t n)
{
    if (b->host_tmp_cap >= n) return b->host_tmp;
    int32_t *p = realloc(b->host_tmp, n * sizeof *p);
    if (!p) return NULL;
    b->host_tmp = p;
    b->host_tmp_cap = n;
    return p;
}

/* Replace the staging areas with ones of `cap` bytes (nothing recorded). */
static fk_status grow_stage(fk_cuda_backend *b, size_t cap)
{
    fk_cu_stream_forget(&b->st); /* graphs bake the old device address in */
    cudaFreeHost(b->stage_host);
    cudaFree(b->stage_dev);
    b->stage_host = b->stage_dev = NULL;
    b->st.stage = NULL;
    b->st.stage_cap = b->stage_cap = 0;
    CU_TRY(b, cudaHostAlloc(&b->stage_host, cap, cudaHostAllocPortable));
    CU_TRY(b, cudaMalloc(&b->stage_dev, cap));
    b->st.stage = b->stage_host;
    b->st.stage_cap = b->stage_cap = cap;
    return FK_OK;
}

fk_status fk_cu_stage_room(fk_cuda_backend *b, size_t bytes)
{
    if (fk_cu_stream_stage_room(&b->st) >= bytes) return FK_OK;
    fk_status st = fk_cu_flush(b);
    if (st != FK_OK || fk_cu_stream_stage_room(&b->st) >= bytes) return st;
    return grow_stage(b, bytes + bytes / 2);
}

const void *fk_cu_stage(fk_cuda_backend *b, const void *src, size_t bytes)
{
    size_t off = fk_cu_stream_stage(&b->st, src, bytes);
    if (off == SIZE_MAX) {
        snprintf(b->err, sizeof b->err, "staging area full (call fk_cu_stage_room first)");
        return NULL;
    }
    return (const uint8_t *)b->stage_dev + off;
}

fk_status fk_cu_result(fk_cuda_backend *b, void *dst, size_t bytes, size_t *off)
{
    *off = fk_cu_stream_result(&b->st, dst, bytes);
    if (*off != SIZE_MAX) return FK_OK;
    fk_status st = fk_cu_flush(b);
    if (st != FK_OK) return st;
    *off = fk_cu_stream_result(&b->st, dst, bytes);
    if (*off != SIZE_MAX) return FK_OK;
    fk_cu_stream_forget(&b->st); /* graphs bake the output address in */
    cudaFreeHost(b->out_host);
    b->out_host = NULL;
    b->st.out = NULL;
    b->st.out_cap = b->out_cap = 0;
    CU_TRY(b, cudaHostAlloc(&b->out_host, bytes + bytes / 2, cudaHostAllocPortable));
    b->st.out = b->out_host;
    b->st.out_cap = b->out_cap = bytes + bytes / 2;
    *off = fk_cu_stream_result(&b->st, dst, bytes);
    return *off == SIZE_MAX ? FK_ERR_OOM : FK_OK;
}

fk_status fk_cu_push(fk_cuda_backend *b, const fk_cu_rec *r)
{
    fk_cu_rec plain;
    if (!b->profiling && r->bytes) { /* attention's depends on positions: graphs must not see it */
        memcpy(&plain, r, sizeof plain); /* padding too: records are compared bytewise */
        plain.bytes = 0;
        r = &plain;
    }
    if (fk_cu_stream_push(&b->st, r) != 0) {
        snprintf(b->err, sizeof b->err, "out of host memory for the op records");
        return FK_ERR_OOM;
    }
    return FK_OK;
}

/* ---- memory ops --------------------------------------------------------------------------- */

static void *cu_alloc(fk_backend *be, size_t bytes)
{
    fk_cuda_backend *b = cu_of(be);
    void *p = NULL;
    if (enter(b) != FK_OK) return NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        fk_cu_fail(b, e, "cudaMalloc", __FILE__, __LINE__);
        return NULL;
    }
    return p;
}

static void cu_release(fk_backend *be, void *p)
{
    fk_cuda_backend *b = cu_of(be);
    if (!p) return;
    fk_cu_flush(b);
    cudaFree(p);
}

/* Copy host bytes to the device through the two pinned bounce buffers, so
 * reading the (mmapped) source overlaps the copies. */
static fk_status upload_weights(fk_cuda_backend *b, uint8_t *dst, const uint8_t *src, size_t bytes)
{
    for (size_t done = 0, i = 0; done < bytes; i ^= 1) {
        size_t n = bytes - done < b->bounce_cap ? bytes - done : b->bounce_cap;
        CU_TRY(b, cudaEventSynchronize(b->bounce_done[i]));
        memcpy(b->bounce[i], src + done, n);
        CU_TRY(b, cudaMemcpyAsync(dst + done, b->bounce[i], n, cudaMemcpyHostToDevice, b->stream));
        CU_TRY(b, cudaEventRecord(b->bounce_done[i], b->stream));
        done += n;
        b->uploaded += n;
        if (b->progress) b->progress(b->progress_ud, b->uploaded, b->upload_total);
    }
    CU_TRY(b, cudaStreamSynchronize(b->stream));
    return FK_OK;
}

static fk_status cu_map_weights(fk_backend *be, const void **out, const void *host, size_t bytes)
{
    fk_cuda_backend *b = cu_of(be);
    fk_status st = fk_cu_flush(b);
    if (st != FK_OK) return st;
    size_t need = (bytes + FK_CUDA_ALIGN - 1) / FK_CUDA_ALIGN * FK_CUDA_ALIGN;
    uint8_t *dst;
    cu_arena *a = &b->weights;
    if (a->base && a->cap - a->used >= need) {
        dst = a->base + a->used;
        a->used += need;
        a->live++;
    } else {
        void *p = NULL;
        CU_TRY(b, cudaMalloc(&p, need ? need : 1));
        dst = p;
    }
    st = upload_weights(b, dst, host, bytes);
    if (st != FK_OK) return st;
    *out = dst;
    return FK_OK;
}

static void cu_unmap_weights(fk_backend *be, const void *mapped)
{
    fk_cuda_backend *b = cu_of(be);
    const uint8_t *p = mapped;
    if (!p) return;
    cu_arena *a = &b->weights;
    if (a->base && p >= a->base && p < a->base + a->cap) {
        a->live--;
        return; /* the arena goes with the backend */
    }
    fk_cu_flush(b);
    cudaFree((void *)p);
}

/* Uploads larger than this go straight to the device instead of staging. */
#define UPLOAD_STAGE_MAX (256u << 10)

static fk_status cu_upload(fk_backend *be, void *dst, const void *src, size_t bytes)
{
    fk_cuda_backend *b = cu_of(be);
    if (bytes == 0) return FK_OK;
    if (bytes > UPLOAD_STAGE_MAX) {
        fk_status st = fk_cu_flush(b);
        if (st != FK_OK) return st;
        CU_TRY(b, cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
        return FK_OK;
    }
    fk_status st = fk_cu_stage_room(b, bytes + 16);
    if (st != FK_OK) return st;
    const void *staged = fk_cu_stage(b, src, bytes);
    if (!staged) return FK_ERR_OOM;
    fk_cu_rec r;
    fk_cu_rec_init(&r, FK_CU_COPY);
    r.a.copy.dst = dst;
    r.a.copy.src = staged;
    r.a.copy.bytes = bytes;
    return fk_cu_push(b, &r);
}

static fk_status cu_download(fk_backend *be, void *host, const void *src, size_t bytes)
{
    fk_cuda_backend *b = cu_of(be);
    fk_status st = fk_cu_flush(b);
    if (st != FK_OK || bytes == 0) return st;
    CU_TRY(b, cudaMemcpy(host, src, bytes, cudaMemcpyDeviceToHost));
    return FK_OK;
}

static fk_status cu_synchronize(fk_backend *be)
{
    return fk_cu_flush(cu_of(be));
}

/* ---- life cycle ------------------------------------------------------------------------------ */

/* The device's description, or 0 with why. */
static int describe(int device, fk_cuda_info *info, char *why, size_t why_len)
{
    memset(info, 0, sizeof *info);
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaErrorNoDevice || (e == cudaSuccess && n == 0)) {
        snprintf(why, why_len, "no CUDA GPU is visible (cudaGetDeviceCount: %s)",
                 e == cudaSuccess ? "0 devices" : cudaGetErrorString(e));
        return 0;
    }
    if (e != cudaSuccess) {
        snprintf(why, why_len, "the CUDA driver cannot be used (cudaGetDeviceCount: %s, %s)%s",
                 cudaGetErrorString(e), cudaGetErrorName(e),
                 e == cudaErrorInsufficientDriver
                     ? ": no NVIDIA driver (libcuda.so.1), or one older than this CUDA runtime"
                     : "");
        return 0;
    }
    if (device < 0 || device >= n) {
        snprintf(why, why_len, "CUDA device %d does not exist (%d visible)", device, n);
        return 0;
    }
    struct cudaDeviceProp p;
    size_t free_b = 0, total_b = 0;
    if ((e = cudaGetDeviceProperties(&p, device)) != cudaSuccess ||
        (e = cudaSetDevice(device)) != cudaSuccess ||
        (e = cudaMemGetInfo(&free_b, &total_b)) != cudaSuccess) {
        snprintf(why, why_len, "CUDA device %d cannot start: %s", device, cudaGetErrorString(e));
        return 0;
    }
    info->device = device;
    snprintf(info->name, sizeof info->name, "%s", p.name);
    info->cc_major = p.major;
    info->cc_minor = p.minor;
    info->sm_count = p.multiProcessorCount;
    info->total_bytes = total_b;
    info->free_at_start = info->free_now = free_b;
    if (p.major < 8) {
        snprintf(why, why_len,
                 "%s has compute capability %d.%d; the CUDA backend needs 8.0 or later", p.name,
                 p.major, p.minor);
        return 0;
    }
    return 1;
}

int fk_cuda_probe(int device, fk_cuda_info *info, char *why, size_t why_len)
{
    return describe(device, info, why, why_len);
}

static void cu_free(fk_backend *be)
{
    fk_cuda_backend *b = cu_of(be);
    if (!b) return;
    cudaSetDevice(b->info.device);
    if (b->stream) {
        fk_cu_flush(b);
        fk_cu_stream_free(&b->st);
        cudaStreamDestroy(b->stream);
    }
    for (int i = 0; i < SCR_COUNT; i++) cudaFree(b->scratch[i]);
    for (int i = 0; i < 2; i++) {
        cudaFreeHost(b->bounce[i]);
        if (b->bounce_done[i]) cudaEventDestroy(b->bounce_done[i]);
    }
    for (size_t i = 0; i < b->n_events; i++) cudaEventDestroy(b->events[i]);
    free(b->events);
    cudaFree(b->weights.base);
    cudaFreeHost(b->stage_host);
    cudaFree(b->stage_dev);
    cudaFreeHost(b->out_host);
    cudaFree(b->err_dev);
    cudaFreeHost(b->err_host);
    free(b->host_tmp);
    free(b);
}

/* Streams, pinned areas, the error word and the weight arena. */
static fk_status start(fk_cuda_backend *b, const fk_cuda_options *opt)
{
    CU_TRY(b, cudaStreamCreateWithFlags(&b->stream, cudaStreamNonBlocking));
    CU_TRY(b, cudaHostAlloc(&b->stage_host, STAGE_BYTES, cudaHostAllocPortable));
    CU_TRY(b, cudaMalloc(&b->stage_dev, STAGE_BYTES));
    b->stage_cap = STAGE_BYTES;
    CU_TRY(b, cudaHostAlloc(&b->out_host, OUT_BYTES, cudaHostAllocPortable));
    b->out_cap = OUT_BYTES;
    CU_TRY(b, cudaMalloc((void **)&b->err_dev, sizeof *b->err_dev));
    CU_TRY(b, cudaHostAlloc((void **)&b->err_host, sizeof *b->err_host, cudaHostAllocPortable));
    *b->err_host = 0;
    for (int i = 0; i < 2; i++) {
        CU_TRY(b, cudaHostAlloc(&b->bounce[i], BOUNCE_BYTES, cudaHostAllocPortable));
        CU_TRY(b, cudaEventCreateWithFlags(&b->bounce_done[i], cudaEventDisableTiming));
    }
    b->bounce_cap = BOUNCE_BYTES;
    if (opt->weights_bytes) CU_TRY(b, cudaMalloc((void **)&b->weights.base, opt->weights_bytes));
    b->weights.cap = opt->weights_bytes;
    fk_cu_exec ex = {b, ex_launch, ex_capture, ex_replay, ex_drop, ex_wait};
    fk_cu_stream_init(&b->st, &ex, b->stage_host, b->stage_cap, b->out_host, b->out_cap);
    b->sync_each = opt->sync_each;
    b->graphs = opt->graphs && !opt->sync_each;
    b->st.graphs_on = b->graphs;
    return FK_OK;
}

fk_backend *fk_backend_cuda_new(const fk_cuda_options *opt, char *err, size_t err_len)
{
    fk_cuda_options o = opt ? *opt : fk_cuda_options_default();
    fk_cuda_info info;
    if (!describe(o.device, &info, err, err_len)) return NULL;
    if (o.weights_bytes && o.weights_bytes > info.free_at_start) {
        snprintf(err, err_len,
                 "the weights need %.2f GiB on the GPU, but %s has %.2f GiB free of %.2f GiB",
                 o.weights_bytes / 1073741824.0, info.name, info.free_at_start / 1073741824.0,
                 info.total_bytes / 1073741824.0);
        return NULL;
    }
    fk_cuda_backend *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    b->base.ops = &fk_cuda_ops;
    b->info = info;
    b->upload_total = o.weights_bytes;
    b->progress = o.progress;
    b->progress_ud = o.progress_ud;
    if (start(b, &o) != FK_OK) {
        snprintf(err, err_len, "CUDA backend on %s: %s", info.name, b->err);
        cu_free(&b->base);
        return NULL;
    }
    return &b->base;
}

const fk_backend_ops fk_cuda_ops = {
    .name = "cuda",
    .free = cu_free,
    .alloc = cu_alloc,
    .release = cu_release,
    .map_weights = cu_map_weights,
    .unmap_weights = cu_unmap_weights,
    .upload = cu_upload,
    .download = cu_download,
    .synchronize = cu_synchronize,
    .embed = fk_cu_op_embed,
    .rmsnorm = fk_cu_op_rmsnorm,
    .matmul = fk_cu_op_matmul,
    .rope = fk_cu_op_rope,
    .kv_store = fk_cu_op_kv_store,
    .attention = fk_cu_op_attention,
    .route = fk_cu_op_route,
    .swiglu = fk_cu_op_swiglu,
    .gather = fk_cu_op_gather,
    .scatter_add = fk_cu_op_scatter_add,
    .add = fk_cu_op_add,
    .moe = fk_cu_op_moe,
    .argmax = fk_cu_op_argmax,
};

/* ---- the rest of cuda.h ------------------------------------------------------------------- */

int fk_backend_is_cuda(const fk_backend *be)
{
    return be && be->ops == &fk_cuda_ops;
}

void fk_backend_cuda_info(fk_backend *be, fk_cuda_info *info)
{
    fk_cuda_backend *b = cu_of(be);
    *info = b->info;
    size_t free_b = 0, total_b = 0;
    if (enter(b) == FK_OK && cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
        info->free_now = free_b;
}

const char *fk_backend_cuda_error(const fk_backend *be)
{
    return ((const fk_cuda_backend *)be)->err;
}

void fk_backend_cuda_profile(fk_backend *be, int on)
{
    fk_cuda_backend *b = cu_of(be);
    fk_cu_flush(b);
    b->profiling = on;
    b->st.graphs_on = on ? 0 : b->graphs;
    memset(b->prof, 0, sizeof b->prof);
}

size_t fk_backend_cuda_profile_read(fk_backend *be, fk_cuda_prof *rows, size_t max)
{
    static const char *matmul_names[CU_PROF_MATMUL_FORMS] = {"matmul bf16", "matmul bf16 [K,N]",
                                                             "matmul mxfp4"};
    fk_cuda_backend *b = cu_of(be);
    size_t n = 0;
    for (int i = 0; i < FK_CU_OP_COUNT + CU_PROF_MATMUL_FORMS && n < max; i++) {
        if (!b->prof[i].calls) continue;
        const char *name = i == FK_CU_MATMUL     ? matmul_names[0]
                           : i >= FK_CU_OP_COUNT ? matmul_names[i - FK_CU_OP_COUNT]
                                                 : fk_cu_op_name(i);
        rows[n++] = (fk_cuda_prof){name, b->prof[i].calls, b->prof[i].ms, b->prof[i].bytes};
    }
    return n;
}

void fk_backend_cuda_counts(fk_backend *be, uint64_t *replays, uint64_t *captures, uint64_t *eagers)
{
    fk_cuda_backend *b = cu_of(be);
    *replays = b->st.replays;
    *captures = b->st.captures;
    *eagers = b->st.eagers;
}

void fk_backend_cuda_set_graphs(fk_backend *be, int on)
{
    fk_cuda_backend *b = cu_of(be);
    fk_cu_flush(b);
    b->graphs = on && !b->sync_each;
    b->st.graphs_on = b->graphs && !b->profiling;
}

double fk_backend_cuda_copy_bandwidth(fk_backend *be, size_t bytes)
{
    fk_cuda_backend *b = cu_of(be);
    void *src = NULL, *dst = NULL;
    cudaEvent_t t0 = NULL, t1 = NULL;
    double best = 0;
    if (fk_cu_flush(b) != FK_OK || cudaMalloc(&src, bytes) != cudaSuccess ||
        cudaMalloc(&dst, bytes) != cudaSuccess || cudaEventCreate(&t0) != cudaSuccess ||
        cudaEventCreate(&t1) != cudaSuccess || cudaMemset(src, 1, bytes) != cudaSuccess)
        goto out;
    for (int i = 0; i < 6; i++) {
        float ms = 0;
        if (cudaEventRecord(t0, b->stream) != cudaSuccess ||
            cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, b->stream) != cudaSuccess ||
            cudaEventRecord(t1, b->stream) != cudaSuccess ||
            cudaEventSynchronize(t1) != cudaSuccess ||
            cudaEventElapsedTime(&ms, t0, t1) != cudaSuccess)
            break;
        double bw = 2.0 * (double)bytes / (ms * 1e-3);
        if (i > 0 && bw > best) best = bw; /* the first copy warms up */
    }
out:
    if (t0) cudaEventDestroy(t0);
    if (t1) cudaEventDestroy(t1);
    cudaFree(src);
    cudaFree(dst);
    return best;
}
