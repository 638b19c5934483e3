/* model.c: the gpt-oss forward pass (docs/GPTOSS.md) over checkpoint
 * tensors, as a sequence of backend ops.
 *
 * Every call runs "rows": one row per token, from one sequence (prefill) or
 * many (batched decode, one row each). All rows go through each weight
 * together, so a decode step reads every weight once whatever B is. Long
 * inputs are cut into chunks of FK_RUN_ROWS rows.
 *
 * Every op's status is checked (OP / FK_TRY below): a failure stops the call
 * and fk_run_error() names the op, this file and the line. */
#include "model.h"

#include "backend.h"
#include "kv.h"
#include "mxfp4.h"
#include "rope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FK_LOGIT_ROWS 32 /* rows per lm_head call (logits scratch) */

/* One expert matrix family of a layer, all experts packed ([E, ...]). */
typedef struct fk_expert_mats {
    fk_wfmt fmt;           /* FK_W_MXFP4 or FK_W_BF16_T */
    int n, k;              /* per-expert outputs, inputs */
    const void *data;      /* MXFP4 codes or bf16 values, expert-major */
    const uint8_t *scales; /* MXFP4 scales, expert-major; NULL for bf16 */
    const uint16_t *bias;  /* bf16 [E, n] */
} fk_expert_mats;

/* One decoder layer's weights (mapped onto the backend). */
typedef struct fk_layer {
    const uint16_t *ln1, *ln2;         /* [H] input / post-attention norms */
    fk_wmat wq, wk, wv, wo;            /* attention projections */
    const uint16_t *bq, *bk, *bv, *bo; /* their biases */
    const uint16_t *sinks;             /* [nh] */
    fk_wmat router;                    /* [E, H] */
    const uint16_t *router_bias;       /* [E] */
    fk_expert_mats gate_up;            /* [E]: 2I outputs (interleaved), H inputs */
    fk_expert_mats down;               /* [E]: H outputs, I inputs */
    fk_experts experts;                /* both families again, for the fused moe op */
    int window;                        /* sliding window, 0 for full attention */
} fk_layer;

/* Immutable after fk_model_new. */
struct fk_model {
    const fk_checkpoint *ck;  /* borrowed weights */
    fk_gptoss_config cfg;     /* copy of the blueprint */
    fk_backend *be;           /* borrowed */
    fk_rope rope;             /* YaRN tables */
    const uint16_t *embed;    /* [V, H] */
    const uint16_t *norm;     /* [H] final norm */
    fk_wmat lm_head;          /* [V, H] */
    fk_layer *layers;         /* [n_layers] */
    uint64_t bytes_per_token; /* weights one decode step reads */
    const void **mapped;      /* every pointer map_weights gave, for unmap */
    size_t n_mapped;          /* entries in mapped */
};

/* Scratch for one caller. Backend memory unless marked host. */
struct fk_run {
    const fk_model *m; /* the model it runs */
    fk_backend *be;    /* m->be */
    float *x;          /* [R, H] residual stream */
    float *h;          /* [R, H] normed */
    float *q;          /* [R, nh*hd] */
    float *kk;         /* [R, nkv*hd] */
    float *vv;         /* [R, nkv*hd] */
    float *att;        /* [R, nh*hd] */
    float *tmp;        /* [R, H] projection output */
    float *rlogits;    /* [R, E] router logits */
    float *cos_sin;    /* [R, hd] */
    float *ex_in;      /* [R, H] rows routed to one expert */
    float *ex_gu;      /* [R, 2I] */
    float *ex_act;     /* [R, I] */
    float *ex_out;     /* [R, H] */
    float *logits;     /* [FK_LOGIT_ROWS, V] */
    int32_t *tokens;   /* [R] token ids */
    /* host */
    float *cos_sin_host; /* [R, hd] */
    int32_t *route_idx;  /* [R, k] */
    float *route_w;      /* [R, k] */
    int32_t *ex_rows;    /* [R] */
    float *ex_scale;     /* [R] */
    fk_attn_seq *seqs;   /* [R] */
    fk_kv **seq_kv;      /* [R] the cache of each entry of seqs */
    int32_t *logit_rows; /* [R] */
    char err[256];       /* the last failure, "FILE:LINE: op: why" */
};

/* ---- status checks ------------------------------------------------------------ */

const char *fk_status_str(fk_status st)
{
    switch (st) {
    case FK_OK:
        return "ok";
    case FK_ERR_OOM:
        return "out of memory";
    case FK_ERR_SHAPE:
        return "unsupported shape";
    case FK_ERR_ARG:
        return "invalid argument";
    case FK_ERR_DEVICE:
        return "device error";
    case FK_ERR_TOKEN:
        return "token id outside the vocabulary";
    case FK_ERR_KV_FULL:
        return "no room in the KV cache";
    }
    return "unknown status";
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Record where a call failed; returns st. */
static fk_status run_fail(fk_run *r, fk_status st, const char *file, int line, const char *what)
{
    snprintf(r->err, sizeof r->err, "%s:%d: %s: %s", base_name(file), line, what,
             fk_status_str(st));
    return st;
}

/* Return from the calling function when `call` fails, naming it. */
#define FK_TRY(r, what, call)                                                                      \
    do {                                                                                           \
        fk_status st_ = (call);                                                                    \
        if (st_ != FK_OK) return run_fail(r, st_, __FILE__, __LINE__, what);                       \
    } while (0)

/* One backend op on the run's backend, checked. */
#define OP(r, op, ...) FK_TRY(r, #op, (r)->be->ops->op((r)->be, __VA_ARGS__))

/* ---- building ------------------------------------------------------------------ */

/* The mapped data of a role's tensor, or NULL (missing, or map failed: err says). */
static const void *map(fk_model *m, fk_gptoss_tensor role, int layer, char *err, size_t err_len)
{
    const fk_tensor *t = fk_checkpoint_gptoss(m->ck, role, layer);
    char name[128];
    fk_gptoss_tensor_name(role, layer, name, sizeof name);
    if (!t) {
        snprintf(err, err_len, "%s is missing from the checkpoint", name);
        return NULL;
    }
    const void *out = NULL;
    fk_status st = m->be->ops->map_weights(m->be, &out, t->data, t->nbytes);
    if (st != FK_OK) {
        snprintf(err, err_len, "%s: %s backend: %s", name, m->be->ops->name, fk_status_str(st));
        return NULL;
    }
    m->mapped[m->n_mapped++] = out;
    return out;
}

static fk_wmat bf16_mat(const void *data, int n, int k)
{
    fk_wmat w = {FK_W_BF16, n, k, data, NULL};
    return w;
}

/* Map a layer's tensors; -1 with err when one cannot be. */
static int bind_layer(fk_model *m, int l, char *err, size_t err_len)
{
    const fk_gptoss_config *c = &m->cfg;
    fk_layer *L = &m->layers[l];
    int H = c->hidden_size, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    int I = c->intermediate_size;
#define MAP(role) map(m, role, l, err, err_len)
#define NEED(lhs, role)                                                                            \
    if (!(lhs = MAP(role))) return -1
    const void *w;
    NEED(L->ln1, FK_T_LN1);
    NEED(L->ln2, FK_T_LN2);
    NEED(w, FK_T_Q);
    L->wq = bf16_mat(w, qd, H);
    NEED(w, FK_T_K);
    L->wk = bf16_mat(w, kvd, H);
    NEED(w, FK_T_V);
    L->wv = bf16_mat(w, kvd, H);
    NEED(w, FK_T_O);
    L->wo = bf16_mat(w, H, qd);
    NEED(L->bq, FK_T_Q_BIAS);
    NEED(L->bk, FK_T_K_BIAS);
    NEED(L->bv, FK_T_V_BIAS);
    NEED(L->bo, FK_T_O_BIAS);
    NEED(L->sinks, FK_T_SINKS);
    NEED(w, FK_T_ROUTER);
    L->router = bf16_mat(w, c->n_experts, H);
    NEED(L->router_bias, FK_T_ROUTER_BIAS);
    L->gate_up.n = 2 * I;
    L->gate_up.k = H;
    NEED(L->gate_up.bias, FK_T_GATE_UP_BIAS);
    L->down.n = H;
    L->down.k = I;
    NEED(L->down.bias, FK_T_DOWN_BIAS);
    if (c->experts_mxfp4) {
        L->gate_up.fmt = L->down.fmt = FK_W_MXFP4;
        NEED(L->gate_up.data, FK_T_GATE_UP_BLOCKS);
        NEED(L->gate_up.scales, FK_T_GATE_UP_SCALES);
        NEED(L->down.data, FK_T_DOWN_BLOCKS);
        NEED(L->down.scales, FK_T_DOWN_SCALES);
    } else {
        L->gate_up.fmt = L->down.fmt = FK_W_BF16_T;
        NEED(L->gate_up.data, FK_T_GATE_UP);
        NEED(L->down.data, FK_T_DOWN);
    }
#undef NEED
#undef MAP
    L->experts = (fk_experts){L->gate_up.fmt,
                              c->n_experts,
                              H,
                              I,
                              L->gate_up.data,
                              L->gate_up.scales,
                              L->gate_up.bias,
                              L->down.data,
                              L->down.scales,
                              L->down.bias,
                              (float)c->swiglu_limit,
                              (float)c->swiglu_alpha};
    L->window = c->layer_sliding[l] ? c->sliding_window : 0;
    return 0;
}

/* Bytes of one expert's matrix (codes + scales, or bf16 values). */
static uint64_t expert_mat_bytes(const fk_expert_mats *e)
{
    uint64_t values = (uint64_t)e->n * e->k;
    if (e->fmt == FK_W_MXFP4) return values / 2 + values / FK_MXFP4_BLOCK_VALUES;
    return values * 2;
}

static uint64_t compute_bytes_per_token(const fk_model *m)
{
    const fk_gptoss_config *c = &m->cfg;
    uint64_t H = (uint64_t)c->hidden_size, qd = (uint64_t)c->n_heads * c->head_dim;
    uint64_t kvd = (uint64_t)c->n_kv_heads * c->head_dim, E = (uint64_t)c->n_experts;
    uint64_t attn = 2 * (qd * H + 2 * kvd * H + H * qd + qd + 2 * kvd + H + c->n_heads);
    uint64_t router = 2 * (E * H + E);
    uint64_t norms = 2 * 2 * H;
    const fk_layer *L = &m->layers[0];
    uint64_t expert = expert_mat_bytes(&L->gate_up) + expert_mat_bytes(&L->down) +
                      2 * ((uint64_t)L->gate_up.n + L->down.n);
    uint64_t per_layer = attn + router + norms + (uint64_t)c->experts_per_token * expert;
    uint64_t head = 2 * ((uint64_t)c->vocab_size * H + H + H); /* lm_head, norm, embed row */
    return per_layer * (uint64_t)c->n_layers + head;
}

/* The shapes this engine runs; -1 with err otherwise. */
static int check_shape(const fk_gptoss_config *c, char *err, size_t err_len)
{
    if (c->n_heads <= 0 || c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads ||
        c->experts_per_token <= 0 || c->experts_per_token > c->n_experts ||
        (c->experts_mxfp4 && (c->hidden_size % FK_MXFP4_BLOCK_VALUES ||
                              c->intermediate_size % FK_MXFP4_BLOCK_VALUES))) {
        snprintf(err, err_len,
                 "unsupported model shape (heads %d/%d, experts %d of %d, head_dim %d)", c->n_heads,
                 c->n_kv_heads, c->experts_per_token, c->n_experts, c->head_dim);
        return -1;
    }
    return 0;
}

fk_model *fk_model_new(const fk_checkpoint *ck, fk_backend *be, char *err, size_t err_len)
{
    fk_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    m->ck = ck;
    m->be = be;
    m->cfg = *fk_checkpoint_config(ck);
    const fk_gptoss_config *c = &m->cfg;
    if (check_shape(c, err, err_len) != 0) goto fail;
    if (fk_rope_init(&m->rope, c) != 0) {
        snprintf(err, err_len, "unsupported head_dim %d for rope", c->head_dim);
        goto fail;
    }
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    m->mapped = calloc(3 + (size_t)c->n_layers * FK_T_COUNT, sizeof *m->mapped);
    if (!m->layers || !m->mapped) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    const void *lm;
    if (!(m->embed = map(m, FK_T_EMBED, 0, err, err_len)) ||
        !(m->norm = map(m, FK_T_NORM, 0, err, err_len)) ||
        !(lm = map(m, FK_T_LM_HEAD, 0, err, err_len)))
        goto fail;
    m->lm_head = bf16_mat(lm, c->vocab_size, c->hidden_size);
    for (int l = 0; l < c->n_layers; l++)
        if (bind_layer(m, l, err, err_len) != 0) goto fail;
    m->bytes_per_token = compute_bytes_per_token(m);
    return m;
fail:
    fk_model_free(m);
    return NULL;
}

void fk_model_free(fk_model *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->n_mapped; i++) m->be->ops->unmap_weights(m->be, m->mapped[i]);
    free(m->mapped);
    free(m->layers);
    free(m);
}

const fk_gptoss_config *fk_model_config(const fk_model *m)
{
    return &m->cfg;
}

fk_backend *fk_model_backend(const fk_model *m)
{
    return m->be;
}

uint64_t fk_model_bytes_per_token(const fk_model *m)
{
    return m->bytes_per_token;
}

/* ---- run state ------------------------------------------------------------------ */

fk_run *fk_run_new(const fk_model *m, char *err, size_t err_len)
{
    fk_run *r = calloc(1, sizeof *r);
    if (!r) goto oom;
    r->m = m;
    r->be = m->be;
    const fk_gptoss_config *c = &m->cfg;
    size_t R = FK_RUN_ROWS, H = (size_t)c->hidden_size, qd = (size_t)c->n_heads * c->head_dim;
    size_t kvd = (size_t)c->n_kv_heads * c->head_dim, I = (size_t)c->intermediate_size;
    struct {
        void *p;
        size_t bytes;
    } bufs[] = {{&r->x, R * H * 4},
                {&r->h, R * H * 4},
                {&r->q, R * qd * 4},
                {&r->kk, R * kvd * 4},
                {&r->vv, R * kvd * 4},
                {&r->att, R * qd * 4},
                {&r->tmp, R * H * 4},
                {&r->rlogits, R * c->n_experts * 4},
                {&r->cos_sin, R * c->head_dim * 4},
                {&r->ex_in, R * H * 4},
                {&r->ex_gu, R * 2 * I * 4},
                {&r->ex_act, R * I * 4},
                {&r->ex_out, R * H * 4},
                {&r->logits, (size_t)FK_LOGIT_ROWS * c->vocab_size * 4},
                {&r->tokens, R * sizeof(int32_t)}};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        void **p = bufs[i].p;
        *p = r->be->ops->alloc(r->be, bufs[i].bytes);
        if (!*p) goto oom;
    }
    size_t k = (size_t)c->experts_per_token;
    r->cos_sin_host = calloc(R * c->head_dim, sizeof(float));
    r->route_idx = calloc(R * k, sizeof(int32_t));
    r->route_w = calloc(R * k, sizeof(float));
    r->ex_rows = calloc(R, sizeof(int32_t));
    r->ex_scale = calloc(R, sizeof(float));
    r->seqs = calloc(R, sizeof(fk_attn_seq));
    r->seq_kv = calloc(R, sizeof(fk_kv *));
    r->logit_rows = calloc(R, sizeof(int32_t));
    if (!r->cos_sin_host || !r->route_idx || !r->route_w || !r->ex_rows || !r->ex_scale ||
        !r->seqs || !r->seq_kv || !r->logit_rows)
        goto oom;
    return r;
oom:
    snprintf(err, err_len, "out of memory for the run state");
    fk_run_free(r);
    return NULL;
}

void fk_run_free(fk_run *r)
{
    if (!r) return;
    void *bufs[] = {r->x,     r->h,      r->q,       r->kk,      r->vv,
                    r->att,   r->tmp,    r->rlogits, r->cos_sin, r->ex_in,
                    r->ex_gu, r->ex_act, r->ex_out,  r->logits,  r->tokens};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) r->be->ops->release(r->be, bufs[i]);
    free(r->cos_sin_host);
    free(r->route_idx);
    free(r->route_w);
    free(r->ex_rows);
    free(r->ex_scale);
    free(r->seqs);
    free(r->seq_kv);
    free(r->logit_rows);
    free(r);
}

const char *fk_run_error(const fk_run *r)
{
    return r->err;
}

/* ---- the forward pass ------------------------------------------------------------ */

/* A matrix of expert e. */
static fk_wmat expert_mat(const fk_expert_mats *e, int expert)
{
    size_t values = (size_t)e->n * e->k;
    fk_wmat w = {e->fmt, e->n, e->k, NULL, NULL};
    if (e->fmt == FK_W_MXFP4) {
        w.data = (const uint8_t *)e->data + (size_t)expert * values / 2;
        w.scales = e->scales + (size_t)expert * values / FK_MXFP4_BLOCK_VALUES;
    } else {
        w.data = (const uint16_t *)e->data + (size_t)expert * values;
    }
    return w;
}

/* x += sum over chosen experts of w_e * (Wd[e] swiglu(Wgu[e] h + bgu[e]) + bd[e]),
 * the rows routed to each expert going through it together. h, x [R, H]. */
static fk_status moe(fk_run *r, const fk_layer *L, int R)
{
    const fk_gptoss_config *c = &r->m->cfg;
    int H = c->hidden_size, E = c->n_experts, k = c->experts_per_token;
    OP(r, matmul, r->rlogits, r->h, &L->router, L->router_bias, R);
    if (r->be->ops->moe) {
        OP(r, moe, r->x, r->h, r->rlogits, &L->experts, R, k);
        return FK_OK;
    }
    OP(r, route, r->route_idx, r->route_w, r->rlogits, R, E, k);
    for (int e = 0; e < E; e++) {
        int n = 0;
        for (int row = 0; row < R; row++)
            for (int j = 0; j < k; j++)
                if (r->route_idx[row * k + j] == e) {
                    r->ex_rows[n] = row;
                    r->ex_scale[n++] = r->route_w[row * k + j];
                }
        if (n == 0) continue;
        fk_wmat gu = expert_mat(&L->gate_up, e), dn = expert_mat(&L->down, e);
        OP(r, gather, r->ex_in, r->h, r->ex_rows, n, H);
        OP(r, matmul, r->ex_gu, r->ex_in, &gu, L->gate_up.bias + (size_t)e * gu.n, n);
        OP(r, swiglu, r->ex_act, r->ex_gu, n, c->intermediate_size, (float)c->swiglu_limit,
           (float)c->swiglu_alpha);
        OP(r, matmul, r->ex_out, r->ex_act, &dn, L->down.bias + (size_t)e * dn.n, n);
        OP(r, scatter_add, r->x, r->ex_out, r->ex_rows, r->ex_scale, n, H);
    }
    return FK_OK;
}

/* Attention block for all rows: x += Wo attention(rope(Wq h), rope(Wk h), Wv h) + bo,
 * the new keys and values stored in the cache first. */
static fk_status attention_block(fk_run *r, int l, int n_seqs, int R)
{
    const fk_model *m = r->m;
    const fk_gptoss_config *c = &m->cfg;
    const fk_layer *L = &m->layers[l];
    const fk_kv_pool *pool = r->seq_kv[0]->pool;
    int hd = c->head_dim, g = pool->layer_group[l], slot = pool->layer_slot[l];
    for (int s = 0; s < n_seqs; s++) r->seqs[s].blocks = r->seq_kv[s]->table[g];
    OP(r, rmsnorm, r->h, r->x, L->ln1, R, c->hidden_size, (float)c->rms_norm_eps);
    OP(r, matmul, r->q, r->h, &L->wq, L->bq, R);
    OP(r, matmul, r->kk, r->h, &L->wk, L->bk, R);
    OP(r, matmul, r->vv, r->h, &L->wv, L->bv, R);
    OP(r, rope, r->q, r->cos_sin, R, c->n_heads, hd);
    OP(r, rope, r->kk, r->cos_sin, R, c->n_kv_heads, hd);
    OP(r, kv_store, &pool->cache, slot, r->kk, r->vv, r->seqs, n_seqs);
    OP(r, attention, r->att, r->q, &pool->cache, slot, r->seqs, n_seqs, L->sinks, c->n_heads,
       c->n_kv_heads, hd, L->window);
    OP(r, matmul, r->tmp, r->att, &L->wo, L->bo, R);
    OP(r, add, r->x, r->tmp, (size_t)R * c->hidden_size);
    return FK_OK;
}

/* Where the logits of a call's chosen rows go (host); either may be NULL. */
typedef struct logits_out {
    float *logits;   /* [n_rows, V] */
    int32_t *argmax; /* [n_rows] */
} logits_out;

/* lm_head over the chosen rows of x. */
static fk_status head(fk_run *r, const int32_t *rows, int n_rows, logits_out out)
{
    const fk_model *m = r->m;
    const fk_gptoss_config *c = &m->cfg;
    size_t V = (size_t)c->vocab_size;
    for (int i = 0; i < n_rows; i += FK_LOGIT_ROWS) {
        int n = n_rows - i < FK_LOGIT_ROWS ? n_rows - i : FK_LOGIT_ROWS;
        OP(r, gather, r->h, r->x, rows + i, n, c->hidden_size);
        OP(r, rmsnorm, r->h, r->h, m->norm, n, c->hidden_size, (float)c->rms_norm_eps);
        OP(r, matmul, r->logits, r->h, &m->lm_head, NULL, n);
        if (out.argmax) OP(r, argmax, out.argmax + i, r->logits, n, (int)V);
        if (out.logits)
            OP(r, download, out.logits + (size_t)i * V, r->logits, (size_t)n * V * sizeof(float));
    }
    return FK_OK;
}

/* Run R <= FK_RUN_ROWS rows: sequence s (cache seq_kv[s], blocks reserved)
 * owns rows seqs[s].row0 .. + n_new, at positions from its length on;
 * afterwards every cache has grown by its n_new. The chosen rows' logits go
 * to `out`. */
static fk_status run_rows(fk_run *r, int n_seqs, const int32_t *tokens, int R, const int32_t *rows,
                          int n_rows, logits_out out)
{
    const fk_model *m = r->m;
    const fk_gptoss_config *c = &m->cfg;
    int hd = c->head_dim, row = 0;
    for (int s = 0; s < n_seqs; s++) {
        fk_kv *kv = r->seq_kv[s];
        fk_attn_seq *q = &r->seqs[s];
        q->pos0 = kv->len;
        q->row0 = row;
        q->n_blocks = kv->n_table;
        for (int i = 0; i < q->n_new; i++, row++) {
            float *cs = r->cos_sin_host + (size_t)row * hd;
            fk_rope_cos_sin(&m->rope, kv->len + i, cs, cs + hd / 2);
        }
    }
    OP(r, upload, r->cos_sin, r->cos_sin_host, (size_t)R * hd * sizeof(float));
    OP(r, upload, r->tokens, tokens, (size_t)R * sizeof(int32_t));
    OP(r, embed, r->x, m->embed, r->tokens, R, c->hidden_size, c->vocab_size);
    for (int l = 0; l < c->n_layers; l++) {
        fk_status st = attention_block(r, l, n_seqs, R);
        if (st != FK_OK) return st;
        OP(r, rmsnorm, r->h, r->x, m->layers[l].ln2, R, c->hidden_size, (float)c->rms_norm_eps);
        st = moe(r, &m->layers[l], R);
        if (st != FK_OK) return st;
    }
    for (int s = 0; s < n_seqs; s++)
        fk_kv_advance(r->seq_kv[s], tokens + r->seqs[s].row0, r->seqs[s].n_new);
    if (n_rows > 0) return head(r, rows, n_rows, out);
    FK_TRY(r, "synchronize", r->be->ops->synchronize(r->be));
    return FK_OK;
}

/* FK_OK when every token is a vocabulary id. */
static fk_status check_tokens(fk_run *r, const int32_t *tokens, int n)
{
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= r->m->cfg.vocab_size) {
            snprintf(r->err, sizeof r->err, "token id %ld is outside the vocabulary (0 to %d)",
                     (long)tokens[i], r->m->cfg.vocab_size - 1);
            return FK_ERR_TOKEN;
        }
    return FK_OK;
}

fk_status fk_model_forward(const fk_model *m, fk_run *r, fk_kv *kv, const int32_t *tokens, int n,
                           float *logits, int all_logits)
{
    r->err[0] = 0;
    if (r->m != m || n <= 0) return run_fail(r, FK_ERR_ARG, __FILE__, __LINE__, "forward");
    fk_status st = check_tokens(r, tokens, n);
    if (st != FK_OK) return st;
    size_t V = (size_t)m->cfg.vocab_size;
    for (int done = 0; done < n;) {
        int R = n - done < FK_RUN_ROWS ? n - done : FK_RUN_ROWS;
        FK_TRY(r, "reserve KV blocks", fk_kv_reserve(kv, R));
        int n_rows = 0;
        if (!logits) {
            n_rows = 0; /* nobody reads them: skip the final norm and lm_head */
        } else if (all_logits) {
            for (int i = 0; i < R; i++) r->logit_rows[n_rows++] = i;
        } else if (done + R == n) {
            r->logit_rows[n_rows++] = R - 1;
        }
        logits_out out = {logits && all_logits ? logits + (size_t)done * V : logits, NULL};
        r->seq_kv[0] = kv;
        r->seqs[0].n_new = R;
        st = run_rows(r, 1, tokens + done, R, r->logit_rows, n_rows, out);
        if (st != FK_OK) return st;
        done += R;
    }
    return FK_OK;
}

fk_status fk_model_decode(const fk_model *m, fk_run *r, fk_kv *const *kvs, const int32_t *tokens,
                          int B, float *logits, int32_t *greedy)
{
    r->err[0] = 0;
    if (r->m != m || B <= 0) return run_fail(r, FK_ERR_ARG, __FILE__, __LINE__, "decode");
    fk_status st = check_tokens(r, tokens, B);
    if (st != FK_OK) return st;
    for (int b = 1; b < B; b++)
        if (kvs[b]->pool != kvs[0]->pool)
            return run_fail(r, FK_ERR_ARG, __FILE__, __LINE__, "decode: caches of two pools");
    for (int b = 0; b < B; b++) FK_TRY(r, "reserve KV blocks", fk_kv_reserve(kvs[b], 1));
    size_t V = (size_t)m->cfg.vocab_size;
    for (int done = 0; done < B;) {
        int R = B - done < FK_RUN_ROWS ? B - done : FK_RUN_ROWS;
        for (int i = 0; i < R; i++) {
            r->logit_rows[i] = i;
            r->seq_kv[i] = kvs[done + i];
            r->seqs[i].n_new = 1;
        }
        logits_out out = {logits ? logits + (size_t)done * V : NULL, greedy ? greedy + done : NULL};
        st = run_rows(r, R, tokens + done, R, r->logit_rows, R, out);
        if (st != FK_OK) return st;
        done += R;
    }
    return FK_OK;
}
