/* driver_native.c: fk-driver-native.so, the native gpt-oss engine as a
 * gateway driver (FK_CORE_KIND=vllm).
 *
 *   create()    reads the configuration and starts a loader thread
 *   loader      tokenizer -> checkpoint (validated, prefaulted) -> backend
 *               (FK_BACKEND: the GPU, or the CPU) -> model (weights
 *               uploaded to a GPU) -> KV cache pool (allocated here, off
 *               the loop; on a GPU sized from VLLM_GPU_MEMORY_UTILIZATION)
 *   on_loaded   (loop, posted by the loader) starts the scheduler
 *   generate()  tokenizes the prompt segments and submits to the scheduler;
 *               before the model is ready it refuses with err->not_ready
 *               (the host holds requests while health() says LOADING)
 *   output      the scheduler's worker posts on_output (at most one in
 *               flight); it runs fk_sched_deliver on the loop, which calls
 *               the host
 *
 * Configuration: the shared keys from fk_host.core_config (VLLM_MODEL_CORE
 * as model_path, VLLM_MAX_MODEL_LEN, FRONTEND_VLLM_MODEL), this driver's own
 * through fk_host.config_int/bool (FK_CPU_KERNELS and FK_BACKEND through config_get):
 *   VLLM_MODEL_CORE      model directory (required)
 *   VLLM_MAX_MODEL_LEN   prompt + completion limit (0/unset: 8192, capped by the model)
 *   VLLM_GPU_MEMORY_UTILIZATION  share of the GPU's memory the engine may use (0.9)
 *   FRONTEND_VLLM_MODEL  served model id (default: the directory's basename)
 *   FK_BACKEND           auto (the GPU when there is one, else the CPU), cpu or cuda
 *   FK_CUDA_GRAPHS       1: decode steps replay as CUDA graphs (default); 0: op by op
 *   FK_THREADS           CPU threads for the model (default: all)
 *   FK_MAX_BATCH         sequences decoded together (default 8)
 *   FK_KV_CACHE_MB       KV cache pool size (default: on the CPU, room for FK_MAX_BATCH
 *                        sequences of VLLM_MAX_MODEL_LEN tokens; on a GPU, what
 *                        VLLM_GPU_MEMORY_UTILIZATION leaves after weights and activations)
 *   FK_PREFILL_CHUNK     prompt tokens prefilled per step (default 512)
 *   FK_CPU_KERNELS       CPU matmul kernels: auto (default: the best this CPU
 *                        runs), amx, avx512 or generic (cpu_features.h)
 *   FK_PREFIX_CACHE      reuse the KV of earlier prompts' shared prefixes (default 1)
 *
 * Threads: every fk_driver function and every host callback runs on the
 * loop thread. The loader thread only writes the load state under `mu` and
 * posts on_loaded; the scheduler's worker only posts on_output. The driver
 * uses the host's post, never libevent itself. */
#include "driver.h"
#include "drivers/cuda/backends/cpu/cpu_features.h"
#include "drivers/cuda/backends/cuda/cuda.h"
#include "drivers/cuda/checkpoint/checkpoint.h"
#include "drivers/cuda/model/model.h"
#include "drivers/cuda/serve/scheduler.h"
#include "drivers/prompt.h"
#include "tokenizer/fktok.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <unistd.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NATIVE_VERSION "0.1.0"
#define KV_BLOCK_TOKENS 16 /* positions per KV cache block (vLLM's default) */

enum load_state {
    LOAD_RUNNING = 0, /* the loader thread is working */
    LOAD_DONE,        /* weights ready; the loop has not started the scheduler yet */
    LOAD_READY,       /* serving */
    LOAD_FAILED,      /* see error */
};

typedef struct fk_gen fk_gen;

struct fk_core {
    const fk_host *host;          /* the gateway's services (borrowed) */
    char *model_dir;              /* VLLM_MODEL_CORE (owned) */
    char *model_id;               /* served model name (owned) */
    int max_model_len;            /* configured, then capped by the model once loaded */
    int n_threads;                /* FK_THREADS; 0: all CPUs */
    fk_backend_kind backend_kind; /* FK_BACKEND */
    int cuda_graphs;              /* FK_CUDA_GRAPHS */
    double gpu_util;              /* VLLM_GPU_MEMORY_UTILIZATION */
    char backend_desc[384];       /* what runs the model, for the log and metrics (written by
                                     the loader, read-only from LOAD_DONE on) */
    size_t kv_bytes;              /* FK_KV_CACHE_MB in bytes; 0: the default */
    fk_sched_config sched_cfg;    /* batch, prefill chunk */

    pthread_t loader;      /* the loader thread */
    pthread_mutex_t mu;    /* guards state, progress, error */
    enum load_state state; /* see load_state */
    int progress;          /* percent loaded */
    char error[1024];      /* why loading failed */

    fktok *tok;        /* tokenizer (written by the loader before LOAD_DONE) */
    fk_checkpoint *ck; /* mmapped weights (idem) */
    fk_backend *be;    /* the backend (idem) */
    fk_model *model;   /* the model (idem) */
    fk_kv_pool *pool;  /* the KV cache (idem) */
    int vocab_size;    /* V, for FK_SEG_TOKEN range checks */
    fk_sched *sched;   /* loop: the running scheduler, from LOAD_READY on */

    atomic_int output_posted; /* worker: an on_output is queued (post) and has not run */
    char errbuf[1100];        /* loop: message text of the last refusal */
    char errparam[128];       /* the field an error names (loop thread) */
};

/* One generation. Ownership: created by generate(), freed right after the
 * host's on_done returns. */
struct fk_gen {
    fk_core *core;       /* owner */
    fk_gen_callbacks cb; /* the host's callbacks (copied; absent ones NULL) */
    void *ud;            /* their user data */
    fk_seq *seq;         /* the scheduler's sequence */
    fk_gen_mode mode;    /* Harmony or raw completion (names the field at fault) */
};

/* ---- configuration ------------------------------------------------------------------ */

/* The last path component of dir, without trailing slashes (owned copy). */
static char *basename_of(const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t start = n;
    while (start > 0 && dir[start - 1] != '/') start--;
    return strndup(dir + start, n - start);
}

/* The host members this driver calls: a host older than these is refused. */
static int host_usable(const fk_host *h, char *err, size_t err_len)
{
    if (FK_HAS_MEMBER(h, fk_host, post)) return 0;
    snprintf(err, err_len,
             "the host's fk_host (%u bytes) lacks config_int, core_config or post (needs %zu "
             "bytes): upgrade fk-gateway",
             h->struct_size, offsetof(fk_host, post) + sizeof h->post);
    return -1;
}

static int read_config(fk_core *c, char *err, size_t err_len)
{
    const fk_host *h = c->host;
    fk_core_config cc;
    const fk_core_config *hc = h->core_config(h);
    fk_abi_copy(&cc, sizeof cc, hc, hc->struct_size);
    const char *dir = cc.model_path;
    if (!dir || !*dir) {
        snprintf(err, err_len,
                 "VLLM_MODEL_CORE is not set: point it at a gpt-oss safetensors directory "
                 "(config.json, model.safetensors.index.json, shards)");
        return -1;
    }
    struct stat st;
    if (stat(dir, &st) != 0) {
        snprintf(err, err_len, "VLLM_MODEL_CORE=%s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, err_len, "VLLM_MODEL_CORE=%s: not a directory", dir);
        return -1;
    }
    long long threads, batch, kv_mb, chunk;
    int prefix;
    if (h->config_int(h, "FK_THREADS", 0, 0, 1024, &threads, err, err_len) ||
        h->config_int(h, "FK_MAX_BATCH", 8, 1, 256, &batch, err, err_len) ||
        h->config_int(h, "FK_KV_CACHE_MB", 0, 0, LLONG_MAX / (1 << 20), &kv_mb, err, err_len) ||
        h->config_int(h, "FK_PREFILL_CHUNK", 512, 1, 1 << 20, &chunk, err, err_len) ||
        h->config_bool(h, "FK_PREFIX_CACHE", 1, &prefix, err, err_len) ||
        fk_cpu_kernels_choose(h->config_get(h, "FK_CPU_KERNELS"), err, err_len) ||
        fk_backend_kind_parse(h->config_get(h, "FK_BACKEND"), &c->backend_kind, err, err_len) ||
        h->config_bool(h, "FK_CUDA_GRAPHS", 1, &c->cuda_graphs, err, err_len))
        return -1;
    c->model_dir = strdup(dir);
    c->model_id = cc.model_id && *cc.model_id ? strdup(cc.model_id) : basename_of(dir);
    if (!c->model_dir || !c->model_id) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    c->max_model_len = cc.max_model_len > 0 ? cc.max_model_len : 8192;
    c->n_threads = (int)threads;
    c->gpu_util = cc.gpu_memory_utilization > 0 ? cc.gpu_memory_utilization : 0.9;
    c->sched_cfg.max_batch = (int)batch;
    c->kv_bytes = (size_t)kv_mb << 20;
    c->sched_cfg.prefill_chunk = (int)chunk;
    c->sched_cfg.prefix_cache = prefix;
    return 0;
}

/* ---- loading (loader thread) -------------------------------------------------------- */

static void set_progress(fk_core *c, int percent)
{
    pthread_mutex_lock(&c->mu);
    c->progress = percent;
    pthread_mutex_unlock(&c->mu);
}

static void prefault_progress(void *ud, uint64_t done, uint64_t total)
{
    set_progress(ud, 10 + (int)(total ? 70 * done / total : 70));
}

/* Weights copied to the GPU: 80% .. 95%. */
static void upload_progress(void *ud, uint64_t done, uint64_t total)
{
    set_progress(ud, 80 + (int)(total ? 15 * done / total : 15));
}

/* The KV pool's size on a GPU: what VLLM_GPU_MEMORY_UTILIZATION leaves once
 * the weights, the backend's scratch and one run's activations are
 * allocated (a run is made here to measure them, then freed: the
 * scheduler makes its own). 0 with err. */
static size_t gpu_kv_bytes(const fk_core *c, const fk_model *m, int len, char *err, size_t err_len)
{
    fk_backend *be = fk_model_backend(m);
    fk_status st = fk_backend_cuda_reserve(be, fk_model_config(m), FK_RUN_ROWS);
    if (st != FK_OK) {
        snprintf(err, err_len, "GPU scratch: %s (%s)", fk_status_str(st),
                 fk_backend_cuda_error(be));
        return 0;
    }
    fk_run *run = fk_run_new(m, err, err_len);
    if (!run) return 0;
    fk_cuda_info gpu;
    fk_backend_cuda_info(be, &gpu);
    fk_run_free(run);
    fk_kv_budget b = {gpu.total_bytes,
                      gpu.free_at_start,
                      gpu.free_now,
                      c->gpu_util,
                      fk_kv_pool_bytes_for(m, KV_BLOCK_TOKENS, 1, len, c->sched_cfg.prefill_chunk),
                      len};
    return (size_t)fk_cuda_kv_bytes(&b, err, err_len);
}

static fktok *load_tokenizer(const fk_core *c, char *err, size_t err_len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", c->model_dir);
    if (access(path, R_OK) == 0) return fktok_load_json(path, err, err_len);
    return fktok_load_default(err, err_len);
}

/* Ownership: on success the tokenizer, checkpoint and model move to the core
 * (the loop takes them at LOAD_DONE); on failure everything is freed here. */
/* Every id the tokenizer can produce needs a row in the model's embedding:
 * refuse a model with a smaller vocabulary at start-up rather than failing
 * every request. 0, or -1 with err. */
static int vocab_covers(const fktok *tok, const fk_model *m, char *err, size_t err_len)
{
    size_t tv = fktok_vocab_size(tok);
    int mv = fk_model_config(m)->vocab_size;
    if (tv <= (size_t)mv) return 0;
    snprintf(err, err_len,
             "the model's vocabulary (%d ids) does not cover the tokenizer's (%zu ids): prompts "
             "would hold ids the model has no embedding for. Make the model with fk-mkmodel "
             "--vocab %zu, or put its own tokenizer.json in VLLM_MODEL_CORE",
             mv, tv, tv);
    return -1;
}

static void on_loaded(void *arg);

/* Hand the end of loading to the loop. */
static void post_loaded(fk_core *c)
{
    if (c->host->post(c->host, on_loaded, c) != 0)
        c->host->log(c->host, FK_LOG_ERROR, "cannot post the end of loading (out of memory)");
}

static void *loader_main(void *arg)
{
    fk_core *c = arg;
    char err[1024] = "";
    fktok *tok = load_tokenizer(c, err, sizeof err);
    fk_checkpoint *ck = NULL;
    fk_backend *be = NULL;
    fk_model *m = NULL;
    fk_kv_pool *pool = NULL;
    if (!tok) goto fail;
    set_progress(c, 5);
    ck = fk_checkpoint_open(c->model_dir, err, sizeof err);
    if (!ck) goto fail;
    set_progress(c, 10);
    fk_checkpoint_prefault(ck, prefault_progress, c);
    fk_cuda_options copt = fk_cuda_options_default();
    copt.weights_bytes = fk_cuda_weights_bytes(ck);
    copt.graphs = c->cuda_graphs;
    copt.progress = upload_progress;
    copt.progress_ud = c;
    fk_backend_kind chosen;
    be = fk_backend_open(c->backend_kind, c->n_threads, &copt, &chosen, c->backend_desc,
                         sizeof c->backend_desc, err, sizeof err);
    if (!be) goto fail;
    if (chosen == FK_BACKEND_CPU)
        c->host->log(c->host, FK_LOG_INFO, "backend cpu (%d threads)%s%s",
                     fk_backend_cpu_threads(be), *err ? "; no GPU: " : "", err);
    else
        c->host->log(c->host, FK_LOG_INFO, "backend %s", c->backend_desc);
    m = fk_model_new(ck, be, err, sizeof err);
    if (!m && fk_backend_is_cuda(be) && *fk_backend_cuda_error(be)) {
        size_t at = strlen(err);
        snprintf(err + at, sizeof err - at, " (%s)", fk_backend_cuda_error(be));
    }
    if (!m || vocab_covers(tok, m, err, sizeof err) != 0) goto fail;
    int len = c->max_model_len, positions = fk_model_config(m)->max_position_embeddings;
    if (len > positions) len = positions;
    size_t kv_bytes = c->kv_bytes;
    if (!kv_bytes && fk_backend_is_cuda(be)) {
        if (!(kv_bytes = gpu_kv_bytes(c, m, len, err, sizeof err))) goto fail;
    } else if (!kv_bytes) {
        kv_bytes = fk_kv_pool_bytes_for(m, KV_BLOCK_TOKENS, c->sched_cfg.max_batch, len,
                                        c->sched_cfg.prefill_chunk);
    }
    pool = fk_kv_pool_new(m, kv_bytes, KV_BLOCK_TOKENS, err, sizeof err);
    if (!pool) goto fail;
    pthread_mutex_lock(&c->mu);
    c->tok = tok;
    c->ck = ck;
    c->be = be;
    c->model = m;
    c->pool = pool;
    c->progress = 100;
    c->state = LOAD_DONE;
    pthread_mutex_unlock(&c->mu);
    post_loaded(c);
    return NULL;
fail:
    fk_kv_pool_free(pool);
    fk_model_free(m);
    if (be) be->ops->free(be);
    fk_checkpoint_close(ck);
    fktok_free(tok);
    pthread_mutex_lock(&c->mu);
    snprintf(c->error, sizeof c->error, "cannot load %s: %s", c->model_dir, err);
    c->state = LOAD_FAILED;
    pthread_mutex_unlock(&c->mu);
    post_loaded(c);
    return NULL;
}

/* ---- prompts ----------------------------------------------------------------------------- */

/* Fill the host's fk_error (member by member: it is the host's size). */
static void set_error(fk_core *c, fk_error *err, int status, const char *type, const char *code,
                      const char *param)
{
    err->http_status = status;
    err->type = type;
    err->code = code;
    err->param = param;
    err->message = c->errbuf;
}

/* Segments -> token ids. 0, or -1 with err filled (message in c->errbuf). */
static int tokenize(fk_core *c, const fk_segment *segs, size_t n, size_t seg_size, fktok_ids *ids,
                    fk_error *err)
{
    int rc = fk_prompt_encode(c->tok, segs, n, seg_size, ids, c->errbuf, sizeof c->errbuf);
    if (rc == FKTOK_SEGMENTS_INVALID)
        set_error(c, err, 400, "invalid_request_error", "invalid_value", "prompt");
    else if (rc != 0)
        set_error(c, err, 500, "server_error", NULL, NULL);
    return rc == 0 ? 0 : -1;
}

/* ---- generations ---------------------------------------------------------------------- */

static void gen_free(fk_gen *g)
{
    free(g);
}

/* Scheduler callbacks (loop thread): forward to the host. */
static int gen_on_pieces(void *ud, const fk_piece *pieces, size_t n, size_t piece_size)
{
    fk_gen *g = ud;
    return g->cb.on_pieces(g->ud, pieces, n, piece_size);
}

static void gen_on_done(void *ud, const fk_gen_stats *st, const fk_error *err)
{
    fk_gen *g = ud;
    g->cb.on_done(g->ud, st, err);
    gen_free(g);
}

static void gen_on_waiting(void *ud, const char *what)
{
    fk_gen *g = ud;
    if (g->cb.on_waiting) g->cb.on_waiting(g->ud, what);
}

static const fk_gen_callbacks sched_callbacks = {sizeof sched_callbacks, gen_on_pieces, gen_on_done,
                                                 gen_on_waiting};

/* The request's prompt + completion limit: its own, capped by the core's. */
static int effective_len(const fk_core *c, int req_len)
{
    return req_len > 0 && req_len < c->max_model_len ? req_len : c->max_model_len;
}

/* The request's function tools compiled into *tools (empty without
 * them, and for raw prompts). 0, or -1 with err (400 naming the field). */
static int read_tools(fk_core *c, const fk_gen_request *req, fk_toolset *tools, fk_error *err)
{
    memset(tools, 0, sizeof *tools);
    if (req->mode != FK_GEN_HARMONY || !req->tools_json) return 0;
    if (fk_toolset_parse(req->tools_json, tools, c->errbuf, sizeof c->errbuf, c->errparam,
                         sizeof c->errparam) == 0)
        return 0;
    set_error(c, err, 400, "invalid_request_error", "invalid_value", c->errparam);
    return -1;
}

/* Tokenize and hand to the scheduler (the tools taken over on success).
 * 0, or -1 with err filled. */
static int submit(fk_core *c, fk_gen *g, const fk_segment *segs, size_t n_segs, size_t seg_size,
                  const fk_sampling *sp, int req_len, fk_toolset *tools, fk_error *err)
{
    fktok_ids ids = {0};
    if (tokenize(c, segs, n_segs, seg_size, &ids, err) != 0) {
        free(ids.ids);
        return -1;
    }
    int limit = effective_len(c, req_len);
    if (ids.n == 0) {
        snprintf(c->errbuf, sizeof c->errbuf, "the prompt is empty");
        set_error(c, err, 400, "invalid_request_error", NULL, "prompt");
        free(ids.ids);
        return -1;
    }
    if (ids.n >= (size_t)limit) {
        snprintf(c->errbuf, sizeof c->errbuf,
                 "This model's maximum context length is %d tokens, but the prompt has %zu "
                 "tokens, which leaves no room for a completion. Shorten the prompt.",
                 limit, ids.n);
        set_error(c, err, 400, "invalid_request_error", "context_length_exceeded",
                  g->mode == FK_GEN_HARMONY ? "messages" : "prompt");
        free(ids.ids);
        return -1;
    }
    int room = limit - (int)ids.n;
    fk_sched_request r = {
        .prompt = ids.ids,
        .n_prompt = (int)ids.n,
        .max_tokens = sp->max_tokens > 0 && sp->max_tokens < room ? sp->max_tokens : room,
        .sampling = {.temperature = sp->temperature,
                     .top_p = sp->top_p,
                     .top_k = sp->top_k,
                     .presence_penalty = sp->presence_penalty,
                     .frequency_penalty = sp->frequency_penalty,
                     .has_seed = sp->has_seed,
                     .seed = sp->seed},
        .stop = sp->stop,
        .n_stop = sp->n_stop,
        .logprobs = sp->logprobs,
        .top_logprobs = sp->top_logprobs,
        .tools = tools,
    };
    g->seq = fk_sched_submit(c->sched, &r, &sched_callbacks, g);
    free(ids.ids);
    if (!g->seq) {
        snprintf(c->errbuf, sizeof c->errbuf, "out of memory while queueing the request");
        set_error(c, err, 500, "server_error", NULL, NULL);
        return -1;
    }
    return 0;
}

/* ---- events (loop thread) ---------------------------------------------------------------- */

static enum load_state load_state(fk_core *c, int *progress)
{
    pthread_mutex_lock(&c->mu);
    enum load_state s = c->state;
    if (progress) *progress = c->progress;
    pthread_mutex_unlock(&c->mu);
    return s;
}

/* Loop: deliver what the worker published. */
static void on_output(void *arg)
{
    fk_core *c = arg;
    atomic_store(&c->output_posted, 0);
    if (c->sched) fk_sched_deliver(c->sched);
}

/* Scheduler worker: ask the loop to deliver, unless a request is already
 * queued (it will take this step's output too). */
static void notify_output(void *ud)
{
    fk_core *c = ud;
    if (atomic_exchange(&c->output_posted, 1)) return;
    if (c->host->post(c->host, on_output, c) != 0) atomic_store(&c->output_posted, 0);
}

static const char *vocab_bytes(const void *ud, int32_t id, size_t *len)
{
    return fktok_token_bytes(ud, id, len);
}

static int vocab_special(const void *ud, int32_t id)
{
    return fktok_is_special(ud, id);
}

/* The loader ended: start serving (or record why not), then settle the
 * requests that waited. */
static void on_loaded(void *arg)
{
    fk_core *c = arg;
    if (load_state(c, NULL) == LOAD_DONE) {
        const fk_gptoss_config *mc = fk_model_config(c->model);
        if (c->max_model_len > mc->max_position_embeddings)
            c->max_model_len = mc->max_position_embeddings;
        c->vocab_size = mc->vocab_size;
        fk_sched_config sc = c->sched_cfg;
        sc.max_model_len = c->max_model_len;
        sc.notify = notify_output;
        sc.notify_ud = c;
        fk_sched_vocab v = {vocab_bytes, vocab_special, c->tok};
        char err[512];
        c->sched = fk_sched_new(c->model, c->pool, &v, &sc, err, sizeof err);
        pthread_mutex_lock(&c->mu);
        if (c->sched && fk_sched_max_model_len(c->sched) < c->max_model_len)
            c->host->log(c->host, FK_LOG_WARN,
                         "max_model_len %d -> %d: a KV cache of %zu MiB holds no more for one "
                         "sequence (raise FK_KV_CACHE_MB)",
                         c->max_model_len, fk_sched_max_model_len(c->sched),
                         fk_kv_pool_blocks(c->pool) * fk_kv_block_bytes(c->pool) >> 20);
        if (c->sched) {
            c->max_model_len = fk_sched_max_model_len(c->sched);
            c->state = LOAD_READY;
        } else {
            c->state = LOAD_FAILED;
            snprintf(c->error, sizeof c->error, "%s", err);
        }
        pthread_mutex_unlock(&c->mu);
    }
    char detail[1100];
    int progress;
    if (load_state(c, &progress) == LOAD_READY)
        c->host->log(c->host, FK_LOG_INFO,
                     "model %s ready (%s on %s, max_model_len %d, max batch %d, KV cache %zu MiB: "
                     "%zu blocks of %d positions)",
                     c->model_id, c->model_dir, c->backend_desc, c->max_model_len,
                     c->sched_cfg.max_batch,
                     fk_kv_pool_blocks(c->pool) * fk_kv_block_bytes(c->pool) >> 20,
                     fk_kv_pool_blocks(c->pool), KV_BLOCK_TOKENS);
    else {
        pthread_mutex_lock(&c->mu);
        snprintf(detail, sizeof detail, "%s", c->error);
        pthread_mutex_unlock(&c->mu);
        c->host->log(c->host, FK_LOG_ERROR, "%s", detail);
    }
}

/* ---- the driver table ------------------------------------------------------------------- */

static void core_free(fk_core *c)
{
    fk_sched_free(c->sched);
    fk_kv_pool_free(c->pool);
    fk_model_free(c->model);
    if (c->be) c->be->ops->free(c->be);
    fk_checkpoint_close(c->ck);
    fktok_free(c->tok);
    pthread_mutex_destroy(&c->mu);
    free(c->model_dir);
    free(c->model_id);
    free(c);
}

static fk_core *native_create(const fk_host *host, char *err, size_t err_len)
{
    if (host_usable(host, err, err_len) != 0) return NULL;
    fk_core *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    c->host = host;
    pthread_mutex_init(&c->mu, NULL);
    if (read_config(c, err, err_len) != 0) {
        core_free(c);
        return NULL;
    }
    int rc = pthread_create(&c->loader, NULL, loader_main, c);
    if (rc != 0) {
        snprintf(err, err_len, "cannot start the loader thread: %s", strerror(rc));
        core_free(c);
        return NULL;
    }
    host->log(host, FK_LOG_INFO, "loading %s as '%s' (max_model_len %d, max batch %d)",
              c->model_dir, c->model_id, c->max_model_len, c->sched_cfg.max_batch);
    return c;
}

/* Waits for the loader (a load cannot be interrupted), stops the worker. */
static void native_destroy(fk_core *c)
{
    if (!c) return;
    pthread_join(c->loader, NULL);
    core_free(c);
}

static fk_health native_health(fk_core *c, char *detail, size_t detail_len)
{
    int progress;
    enum load_state st = load_state(c, &progress);
    if (detail_len) detail[0] = 0;
    if (st == LOAD_READY) return FK_HEALTH_READY;
    if (st == LOAD_FAILED) {
        pthread_mutex_lock(&c->mu);
        snprintf(detail, detail_len, "%s", c->error);
        pthread_mutex_unlock(&c->mu);
        return FK_HEALTH_ERROR;
    }
    snprintf(detail, detail_len, "Loading model: %d%%", progress);
    return FK_HEALTH_LOADING;
}

static size_t native_list_models(fk_core *c, fk_model_info *out, size_t max, size_t info_size)
{
    if (max < 1) return 1;
    if (FK_HAS(info_size, fk_model_info, id)) out->id = c->model_id;
    if (FK_HAS(info_size, fk_model_info, owned_by)) out->owned_by = "forgekeeper";
    if (FK_HAS(info_size, fk_model_info, max_model_len)) out->max_model_len = c->max_model_len;
    return 1;
}

/* Engine gauges: KV blocks held by sequences against the pool (blocks only
 * the prefix cache keeps count as free, as in vLLM), sequences, preemptions
 * and prefix cache lookups. */
static void native_metrics(fk_core *c, fk_core_metrics *out)
{
    if (FK_HAS_MEMBER(out, fk_core_metrics, backend))
        out->backend = load_state(c, NULL) == LOAD_READY ? c->backend_desc : NULL;
    if (!c->sched) return;
    fk_sched_stats st;
    fk_sched_get_stats(c->sched, &st);
    if (FK_HAS_MEMBER(out, fk_core_metrics, kv_usage) && st.kv_blocks_total > 0)
        out->kv_usage = (double)st.kv_blocks_used / (double)st.kv_blocks_total;
    if (FK_HAS_MEMBER(out, fk_core_metrics, running)) out->running = st.running;
    if (FK_HAS_MEMBER(out, fk_core_metrics, waiting)) out->waiting = st.waiting;
    if (FK_HAS_MEMBER(out, fk_core_metrics, preemptions)) out->preemptions = st.preemptions;
    if (FK_HAS_MEMBER(out, fk_core_metrics, prefix_queries))
        out->prefix_queries = st.prefix_queries;
    if (FK_HAS_MEMBER(out, fk_core_metrics, prefix_hits)) out->prefix_hits = st.prefix_hits;
}

static fk_gen *native_generate(fk_core *c, const fk_gen_request *request,
                               const fk_gen_callbacks *cb, void *ud, fk_error *err)
{
    fk_gen_request r; /* as far as the host wrote it */
    fk_abi_copy(&r, sizeof r, request, request->struct_size);
    fk_sampling sp;
    fk_abi_copy(&sp, sizeof sp, r.sampling, r.sampling ? r.sampling->struct_size : 0);
    const fk_gen_request *req = &r;
    if (req->mode == FK_GEN_PASSTHROUGH) {
        snprintf(c->errbuf, sizeof c->errbuf,
                 "the native engine takes Harmony or raw prompts, not pass-through requests");
        set_error(c, err, 400, "invalid_request_error", NULL, NULL);
        return NULL;
    }
    enum load_state st = load_state(c, NULL);
    if (st == LOAD_FAILED) {
        pthread_mutex_lock(&c->mu);
        snprintf(c->errbuf, sizeof c->errbuf, "%s", c->error);
        pthread_mutex_unlock(&c->mu);
        set_error(c, err, 503, "unavailable_error", "model_load_failed", NULL);
        return NULL;
    }
    if (st != LOAD_READY) {
        int progress;
        load_state(c, &progress);
        snprintf(c->errbuf, sizeof c->errbuf, "the model is still loading (%d%%)", progress);
        set_error(c, err, 503, "unavailable_error", "model_not_ready", NULL);
        if (FK_HAS_MEMBER(err, fk_error, retry_after_s)) err->retry_after_s = 5;
        if (FK_HAS_MEMBER(err, fk_error, not_ready)) err->not_ready = 1;
        return NULL;
    }
    fk_gen *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(c->errbuf, sizeof c->errbuf, "out of memory");
        set_error(c, err, 500, "server_error", NULL, NULL);
        return NULL;
    }
    g->core = c;
    fk_abi_copy(&g->cb, sizeof g->cb, cb, cb->struct_size);
    g->ud = ud;
    g->mode = req->mode;
    fk_toolset tools;
    if (read_tools(c, req, &tools, err) != 0 ||
        submit(c, g, req->segments, req->n_segments, req->segment_size, &sp, req->max_model_len,
               &tools, err) != 0) {
        fk_toolset_clear(&tools);
        gen_free(g);
        return NULL;
    }
    fk_toolset_clear(&tools); /* empty unless the scheduler left them (no Harmony specials) */
    return g;
}

static void native_cancel(fk_gen *g)
{
    fk_sched_cancel(g->seq);
}

static void native_resume(fk_gen *g)
{
    fk_sched_resume(g->seq);
}

static const fk_driver native_driver = {
    .abi_version = FK_DRIVER_ABI_VERSION,
    .struct_size = sizeof(fk_driver),
    .name = "native",
    .version = NATIVE_VERSION,
    .probe = NULL,
    .create = native_create,
    .destroy = native_destroy,
    .health = native_health,
    .list_models = native_list_models,
    .generate = native_generate,
    .cancel = native_cancel,
    .resume = native_resume,
    .metrics = native_metrics,
};

/* The one exported symbol (driver.h). */
const fk_driver *fk_driver_init(void);

const fk_driver *fk_driver_init(void)
{
    return &native_driver;
}
