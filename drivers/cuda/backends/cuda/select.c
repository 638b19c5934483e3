/* select.c: FK_BACKEND (which backend the engine starts) and the parts of
 * the CUDA backend's set-up that need no GPU. Built in every build. */
#include "cuda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

fk_cuda_options fk_cuda_options_default(void)
{
    fk_cuda_options o = {0};
    const char *g = getenv("FK_CUDA_GRAPHS"), *sync = getenv("FK_CUDA_SYNC");
    o.graphs = !(g && strcmp(g, "0") == 0);
    o.sync_each = sync && strcmp(sync, "1") == 0;
    return o;
}

uint64_t fk_cuda_weights_bytes(const fk_checkpoint *ck)
{
    uint64_t total = 0;
    for (size_t i = 0; i < fk_checkpoint_count(ck); i++)
        total += (fk_checkpoint_tensor(ck, i)->nbytes + FK_CUDA_ALIGN - 1) / FK_CUDA_ALIGN *
                 FK_CUDA_ALIGN;
    return total;
}

int fk_backend_kind_parse(const char *value, fk_backend_kind *out, char *err, size_t err_len)
{
    static const struct {
        const char *name;
        fk_backend_kind kind;
    } names[] = {{"auto", FK_BACKEND_AUTO},
                 {"cpu", FK_BACKEND_CPU},
                 {"cuda", FK_BACKEND_CUDA},
                 {"ref", FK_BACKEND_REF}};
    if (!value || !*value) {
        *out = FK_BACKEND_AUTO;
        return 0;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(value, names[i].name) == 0) {
            *out = names[i].kind;
            return 0;
        }
    snprintf(err, err_len, "FK_BACKEND=%s: expected auto, cpu or cuda", value);
    return -1;
}

int fk_backend_choose(fk_backend_kind kind, int gpu, const char *why, char *err, size_t err_len)
{
    switch (kind) {
    case FK_BACKEND_CPU:
    case FK_BACKEND_REF:
        return (int)kind;
    case FK_BACKEND_CUDA:
        if (gpu) return FK_BACKEND_CUDA;
        snprintf(err, err_len, "FK_BACKEND=cuda, but %s (FK_BACKEND=cpu runs on the CPU)",
                 why && *why ? why : "no usable GPU");
        return -1;
    case FK_BACKEND_AUTO:
        return gpu ? FK_BACKEND_CUDA : FK_BACKEND_CPU;
    }
    snprintf(err, err_len, "unknown backend kind %d", (int)kind);
    return -1;
}

fk_backend *fk_backend_open(fk_backend_kind kind, int threads, const fk_cuda_options *opt,
                            fk_backend_kind *chosen, char *desc, size_t desc_len, char *err,
                            size_t err_len)
{
    fk_cuda_info info;
    char why[512] = "";
    int device = opt ? opt->device : 0;
    if (err_len) err[0] = '\0';
    int gpu = 0;
    if (kind == FK_BACKEND_CUDA || kind == FK_BACKEND_AUTO)
        gpu = fk_cuda_probe(device, &info, why, sizeof why);
    int pick = fk_backend_choose(kind, gpu, why, err, err_len);
    if (pick < 0) return NULL;
    fk_backend *be = NULL;
    if (pick == FK_BACKEND_CUDA) {
        fk_cuda_options o = opt ? *opt : fk_cuda_options_default();
        be = fk_backend_cuda_new(&o, err, err_len);
        if (be && desc) {
            fk_backend_cuda_info(be, &info);
            snprintf(desc, desc_len, "cuda: %s (%.1f GiB)", info.name,
                     (double)info.total_bytes / (1 << 30));
        }
    } else if (pick == FK_BACKEND_REF) {
        be = fk_backend_ref_new();
        if (!be) snprintf(err, err_len, "out of memory for the reference backend");
        if (be && desc) snprintf(desc, desc_len, "ref");
    } else {
        be = fk_backend_cpu_new(threads);
        if (!be) snprintf(err, err_len, "cannot start the CPU backend's threads");
        if (be && desc) snprintf(desc, desc_len, "cpu");
        if (be) snprintf(err, err_len, "%s", kind == FK_BACKEND_AUTO ? why : "");
    }
    if (be && chosen) *chosen = (fk_backend_kind)pick;
    return be;
}

/* ---- the KV cache's share ------------------------------------------------------------ */

static double gib(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0 * 1024.0);
}

uint64_t fk_cuda_kv_bytes(const fk_kv_budget *b, char *err, size_t err_len)
{
    double share = b->utilization * (double)b->total;
    if ((double)b->free_at_start < share) {
        snprintf(
            err, err_len,
            "the GPU had %.2f GiB free at start-up, less than VLLM_GPU_MEMORY_UTILIZATION=%.2f "
            "of its %.2f GiB (%.2f GiB): lower VLLM_GPU_MEMORY_UTILIZATION or stop what else "
            "uses the GPU",
            gib(b->free_at_start), b->utilization, gib(b->total), share / (1 << 30));
        return 0;
    }
    uint64_t used = b->free_at_start > b->free_now ? b->free_at_start - b->free_now : 0;
    double left = share - (double)used - (double)FK_CUDA_KV_MARGIN;
    if (left < (double)b->seq_bytes || left <= 0) {
        snprintf(err, err_len,
                 "no room for the KV cache: VLLM_GPU_MEMORY_UTILIZATION=%.2f of %.2f GiB is %.2f "
                 "GiB, the weights and activations take %.2f GiB, %.2f GiB is kept back, which "
                 "leaves %.2f GiB, and one sequence of VLLM_MAX_MODEL_LEN=%d needs %.2f GiB: raise "
                 "VLLM_GPU_MEMORY_UTILIZATION or lower VLLM_MAX_MODEL_LEN",
                 b->utilization, gib(b->total), share / (1 << 30), gib(used),
                 gib(FK_CUDA_KV_MARGIN), left > 0 ? left / (1 << 30) : 0.0, b->max_model_len,
                 gib(b->seq_bytes));
        return 0;
    }
    return (uint64_t)left;
}
