/* kv.c: one sequence's KV cache (layout in kv.h). */
#include "kv.h"

#include <stdlib.h>

fk_kv *fk_kv_new(const fk_model *m, int max_tokens)
{
    const fk_gptoss_config *cfg = fk_model_config(m);
    if (max_tokens <= 0) return NULL;
    fk_kv *kv = calloc(1, sizeof *kv);
    if (!kv) return NULL;
    kv->be = fk_model_backend(m);
    kv->capacity = max_tokens;
    kv->n_layers = cfg->n_layers;
    kv->width = cfg->n_kv_heads * cfg->head_dim;
    kv->slots = calloc((size_t)kv->n_layers, sizeof *kv->slots);
    kv->k = calloc((size_t)kv->n_layers, sizeof *kv->k);
    kv->v = calloc((size_t)kv->n_layers, sizeof *kv->v);
    if (!kv->slots || !kv->k || !kv->v) goto fail;
    for (int l = 0; l < kv->n_layers; l++) {
        int slots = max_tokens;
        if (cfg->layer_sliding[l] && cfg->sliding_window > 0 && cfg->sliding_window < slots)
            slots = cfg->sliding_window;
        size_t n = (size_t)slots * kv->width;
        kv->slots[l] = slots;
        kv->k[l] = kv->be->ops->alloc(kv->be, n);
        kv->v[l] = kv->be->ops->alloc(kv->be, n);
        if (!kv->k[l] || !kv->v[l]) goto fail;
        kv->bytes += 2 * n * sizeof(float);
    }
    return kv;
fail:
    fk_kv_free(kv);
    return NULL;
}

void fk_kv_free(fk_kv *kv)
{
    if (!kv) return;
    for (int l = 0; l < kv->n_layers; l++) {
        if (kv->k) kv->be->ops->release(kv->be, kv->k[l]);
        if (kv->v) kv->be->ops->release(kv->be, kv->v[l]);
    }
    free(kv->slots);
    free(kv->k);
    free(kv->v);
    free(kv);
}

int fk_kv_len(const fk_kv *kv)
{
    return kv->len;
}

int fk_kv_capacity(const fk_kv *kv)
{
    return kv->capacity;
}

void fk_kv_reset(fk_kv *kv)
{
    kv->len = 0;
}

size_t fk_kv_bytes(const fk_kv *kv)
{
    return kv->bytes;
}
