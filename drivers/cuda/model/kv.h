/* kv.h (private to the engine): the KV cache's layout, shared by kv.c and
 * model.c.
 *
 * Per layer two rings of float rows [slots, nkv*hd] (keys, values), in
 * backend memory. Position p lives in row p % slots. Full-attention layers
 * have slots = capacity (so the ring never wraps); sliding layers keep only
 * min(window, capacity) rows. */
#ifndef FK_KV_H
#define FK_KV_H

#include "backend.h"
#include "model.h"

struct fk_kv {
    fk_backend *be; /* the model's backend (owns the memory) */
    int capacity;   /* max_tokens */
    int len;        /* positions filled */
    int n_layers;   /* rings below */
    int width;      /* nkv * hd floats per row */
    int *slots;     /* [n_layers] ring rows */
    float **k;      /* [n_layers] -> [slots, width] */
    float **v;      /* [n_layers] -> [slots, width] */
    size_t bytes;   /* total ring bytes */
};

/* The backend a model computes on (model.c). */
fk_backend *fk_model_backend(const fk_model *m);

#endif
