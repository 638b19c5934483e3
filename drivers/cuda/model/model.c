/* model.c: the gpt-oss forward pass (docs/GPTOSS.md) over checkpoint
 * tensors, as a sequence of backend ops.
 *
 * Every call runs "rows": one row per token, from one sequence (prefill) or
 * many (batched decode, one row each). All rows go through each weight
 * together, so a decode step reads every weight once whatever B is. Long
 * inputs are cut into chunks of FK_CHUNK rows. */
#include "model.h"

#include "backend.h"
#include "kv.h"
#include "mxfp4.h"
#include "rope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FK_CHUNK 128     /* rows per pass through the layers */
#define FK_LOGIT_ROWS 32 /* rows per lm_head call (logits scratch) */

/* One expert matrix family of a layer, all experts packed ([E, ...]). */
typedef struct fk_expert_mats {
    fk_wfmt fmt;           /* FK_W_MXFP4 or FK_W_BF16_T */
    int n, k;              /* per-expert outputs, inputs */
    const void *data;      /* MXFP4 codes or bf16 values, expert-major */
    const uint8_t *scales; /* MXFP4 scales, expert-major; NULL for bf16 */
    const uint16_t *bias;  /* bf16 [E, n] */
} fk_expert_mats;

/* One decoder layer's weights (pointers into the checkpoint). */
typedef struct fk_layer {
    const uint16_t *ln1, *ln2;         /* [H] input / post-attention norms */
    fk_wmat wq, wk, wv, wo;            /* attention projections */
    const uint16_t *bq, *bk, *bv, *bo; /* their biases */
    const uint16_t *sinks;             /* [nh] */
    fk_wmat router;                    /* [E, H] */
    const uint16_t *router_bias;       /* [E] */
    fk_expert_mats gate_up;            /* [E]: 2I outputs (interleaved), H inputs */
    fk_expert_mats down;               /* [E]: H outputs, I inputs */
    int window;                        /* sliding window, 0 for full attention */
} fk_layer;

struct fk_model {
    const fk_checkpoint *ck;  /* borrowed weights */
    fk_gptoss_config cfg;     /* copy of the blueprint */
    fk_backend *be;           /* owned */
    fk_rope rope;             /* YaRN tables */
    const uint16_t *embed;    /* [V, H] */
    const uint16_t *norm;     /* [H] final norm */
    fk_wmat lm_head;          /* [V, H] */
    fk_layer *layers;         /* [n_layers] */
    uint64_t bytes_per_token; /* weights one decode step reads */
    /* scratch, backend memory, FK_CHUNK rows each */
    float *x;       /* [R, H] residual stream */
    float *h;       /* [R, H] normed */
    float *q;       /* [R, nh*hd] */
    float *kk;      /* [R, nkv*hd] */
    float *vv;      /* [R, nkv*hd] */
    float *att;     /* [R, nh*hd] */
    float *tmp;     /* [R, H] projection output */
    float *rlogits; /* [R, E] router logits */
    float *cos_sin; /* [R, hd] */
    float *ex_in;   /* [R, H] rows routed to one expert */
    float *ex_gu;   /* [R, 2I] */
    float *ex_act;  /* [R, I] */
    float *ex_out;  /* [R, H] */
    float *logits;  /* [FK_LOGIT_ROWS, V], allocated on first use */
    /* host scratch */
    float *cos_sin_host; /* [R, hd] */
    int32_t *route_idx;  /* [R, k] */
    float *route_w;      /* [R, k] */
    int32_t *ex_rows;    /* [R] */
    float *ex_scale;     /* [R] */
    fk_attn_seq *seqs;   /* [R] */
    int32_t *logit_rows; /* [R] */
};

/* ---- building ------------------------------------------------------------------ */

static const void *tensor(const fk_model *m, const char *fmt, int layer)
{
    char name[256];
    snprintf(name, sizeof name, fmt, layer);
    const fk_tensor *t = fk_checkpoint_get(m->ck, name);
    return t ? t->data : NULL;
}

static fk_wmat bf16_mat(const void *data, int n, int k)
{
    fk_wmat w = {FK_W_BF16, n, k, data, NULL};
    return w;
}

/* Point a layer at its tensors; -1 when one is missing. */
static int bind_layer(fk_model *m, int l, char *err, size_t err_len)
{
    const fk_gptoss_config *c = &m->cfg;
    fk_layer *L = &m->layers[l];
    int H = c->hidden_size, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    int I = c->intermediate_size;
#define P "model.layers.%d."
    L->ln1 = tensor(m, P "input_layernorm.weight", l);
    L->ln2 = tensor(m, P "post_attention_layernorm.weight", l);
    L->wq = bf16_mat(tensor(m, P "self_attn.q_proj.weight", l), qd, H);
    L->wk = bf16_mat(tensor(m, P "self_attn.k_proj.weight", l), kvd, H);
    L->wv = bf16_mat(tensor(m, P "self_attn.v_proj.weight", l), kvd, H);
    L->wo = bf16_mat(tensor(m, P "self_attn.o_proj.weight", l), H, qd);
    L->bq = tensor(m, P "self_attn.q_proj.bias", l);
    L->bk = tensor(m, P "self_attn.k_proj.bias", l);
    L->bv = tensor(m, P "self_attn.v_proj.bias", l);
    L->bo = tensor(m, P "self_attn.o_proj.bias", l);
    L->sinks = tensor(m, P "self_attn.sinks", l);
    L->router = bf16_mat(tensor(m, P "mlp.router.weight", l), c->n_experts, H);
    L->router_bias = tensor(m, P "mlp.router.bias", l);
    L->gate_up.n = 2 * I;
    L->gate_up.k = H;
    L->gate_up.bias = tensor(m, P "mlp.experts.gate_up_proj_bias", l);
    L->down.n = H;
    L->down.k = I;
    L->down.bias = tensor(m, P "mlp.experts.down_proj_bias", l);
    if (c->experts_mxfp4) {
        L->gate_up.fmt = L->down.fmt = FK_W_MXFP4;
        L->gate_up.data = tensor(m, P "mlp.experts.gate_up_proj_blocks", l);
        L->gate_up.scales = tensor(m, P "mlp.experts.gate_up_proj_scales", l);
        L->down.data = tensor(m, P "mlp.experts.down_proj_blocks", l);
        L->down.scales = tensor(m, P "mlp.experts.down_proj_scales", l);
    } else {
        L->gate_up.fmt = L->down.fmt = FK_W_BF16_T;
        L->gate_up.data = tensor(m, P "mlp.experts.gate_up_proj", l);
        L->down.data = tensor(m, P "mlp.experts.down_proj", l);
    }
#undef P
    L->window = c->layer_sliding[l] ? c->sliding_window : 0;
    const void *need[] = {
        L->ln1,         L->ln2,          L->wq.data,   L->wk.data,      L->wv.data,  L->wo.data,
        L->bq,          L->bk,           L->bv,        L->bo,           L->sinks,    L->router.data,
        L->router_bias, L->gate_up.bias, L->down.bias, L->gate_up.data, L->down.data};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (!need[i]) {
            snprintf(err, err_len, "layer %d: a required tensor is missing from the checkpoint", l);
            return -1;
        }
    if (c->experts_mxfp4 && (!L->gate_up.scales || !L->down.scales)) {
        snprintf(err, err_len, "layer %d: MXFP4 expert scales missing", l);
        return -1;
    }
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

static int alloc_scratch(fk_model *m)
{
    const fk_gptoss_config *c = &m->cfg;
    fk_backend *be = m->be;
    size_t R = FK_CHUNK, H = (size_t)c->hidden_size, qd = (size_t)c->n_heads * c->head_dim;
    size_t kvd = (size_t)c->n_kv_heads * c->head_dim, I = (size_t)c->intermediate_size;
    struct {
        float **p;
        size_t n;
    } bufs[] = {{&m->x, R * H},
                {&m->h, R * H},
                {&m->q, R * qd},
                {&m->kk, R * kvd},
                {&m->vv, R * kvd},
                {&m->att, R * qd},
                {&m->tmp, R * H},
                {&m->rlogits, R * c->n_experts},
                {&m->cos_sin, R * c->head_dim},
                {&m->ex_in, R * H},
                {&m->ex_gu, R * 2 * I},
                {&m->ex_act, R * I},
                {&m->ex_out, R * H}};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        *bufs[i].p = be->ops->alloc(be, bufs[i].n);
        if (!*bufs[i].p) return -1;
    }
    size_t k = (size_t)c->experts_per_token;
    m->cos_sin_host = calloc(R * c->head_dim, sizeof(float));
    m->route_idx = calloc(R * k, sizeof(int32_t));
    m->route_w = calloc(R * k, sizeof(float));
    m->ex_rows = calloc(R, sizeof(int32_t));
    m->ex_scale = calloc(R, sizeof(float));
    m->seqs = calloc(R, sizeof(fk_attn_seq));
    m->logit_rows = calloc(R, sizeof(int32_t));
    if (!m->cos_sin_host || !m->route_idx || !m->route_w || !m->ex_rows || !m->ex_scale ||
        !m->seqs || !m->logit_rows)
        return -1;
    return 0;
}

fk_model *fk_model_new(const fk_checkpoint *ck, int n_threads, char *err, size_t err_len)
{
    fk_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    m->ck = ck;
    m->cfg = *fk_checkpoint_config(ck);
    const fk_gptoss_config *c = &m->cfg;
    if (c->n_heads <= 0 || c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads ||
        c->experts_per_token <= 0 || c->experts_per_token > c->n_experts || c->head_dim > 1024 ||
        (c->experts_mxfp4 && (c->hidden_size % FK_MXFP4_BLOCK_VALUES ||
                              c->intermediate_size % FK_MXFP4_BLOCK_VALUES))) {
        snprintf(err, err_len,
                 "unsupported model shape (heads %d/%d, experts %d of %d, head_dim %d)", c->n_heads,
                 c->n_kv_heads, c->experts_per_token, c->n_experts, c->head_dim);
        goto fail;
    }
    if (fk_rope_init(&m->rope, c) != 0) {
        snprintf(err, err_len, "unsupported head_dim %d for rope", c->head_dim);
        goto fail;
    }
    m->be = fk_backend_cpu_new(n_threads);
    if (!m->be) {
        snprintf(err, err_len, "cannot start the CPU backend's threads");
        goto fail;
    }
    m->embed = tensor(m, "model.embed_tokens.weight", 0);
    m->norm = tensor(m, "model.norm.weight", 0);
    m->lm_head = bf16_mat(tensor(m, "lm_head.weight", 0), c->vocab_size, c->hidden_size);
    if (!m->embed || !m->norm || !m->lm_head.data) {
        snprintf(err, err_len, "embed_tokens, norm or lm_head missing from the checkpoint");
        goto fail;
    }
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    if (!m->layers) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    for (int l = 0; l < c->n_layers; l++)
        if (bind_layer(m, l, err, err_len) != 0) goto fail;
    m->bytes_per_token = compute_bytes_per_token(m);
    if (alloc_scratch(m) != 0) {
        snprintf(err, err_len, "out of memory for activations");
        goto fail;
    }
    return m;
fail:
    fk_model_free(m);
    return NULL;
}

void fk_model_free(fk_model *m)
{
    if (!m) return;
    if (m->be) {
        float *bufs[] = {m->x,     m->h,      m->q,       m->kk,      m->vv,
                         m->att,   m->tmp,    m->rlogits, m->cos_sin, m->ex_in,
                         m->ex_gu, m->ex_act, m->ex_out,  m->logits};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            m->be->ops->release(m->be, bufs[i]);
        m->be->ops->free(m->be);
    }
    free(m->cos_sin_host);
    free(m->route_idx);
    free(m->route_w);
    free(m->ex_rows);
    free(m->ex_scale);
    free(m->seqs);
    free(m->logit_rows);
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
static void moe(fk_model *m, const fk_layer *L, int R)
{
    const fk_gptoss_config *c = &m->cfg;
    fk_backend *be = m->be;
    int H = c->hidden_size, E = c->n_experts, k = c->experts_per_token;
    be->ops->matmul(be, m->rlogits, m->h, &L->router, L->router_bias, R);
    be->ops->route(be, m->route_idx, m->route_w, m->rlogits, R, E, k);
    for (int e = 0; e < E; e++) {
        int n = 0;
        for (int r = 0; r < R; r++)
            for (int j = 0; j < k; j++)
                if (m->route_idx[r * k + j] == e) {
                    m->ex_rows[n] = r;
                    m->ex_scale[n++] = m->route_w[r * k + j];
                }
        if (n == 0) continue;
        fk_wmat gu = expert_mat(&L->gate_up, e), dn = expert_mat(&L->down, e);
        be->ops->gather(be, m->ex_in, m->h, m->ex_rows, n, H);
        be->ops->matmul(be, m->ex_gu, m->ex_in, &gu, L->gate_up.bias + (size_t)e * gu.n, n);
        be->ops->swiglu(be, m->ex_act, m->ex_gu, n, c->intermediate_size, (float)c->swiglu_limit,
                        (float)c->swiglu_alpha);
        be->ops->matmul(be, m->ex_out, m->ex_act, &dn, L->down.bias + (size_t)e * dn.n, n);
        be->ops->scatter_add(be, m->x, m->ex_out, m->ex_rows, m->ex_scale, n, H);
    }
}

/* Attention block for all rows: x += Wo attention(rope(Wq h), rope(Wk h), Wv h) + bo. */
static void attention_block(fk_model *m, int l, fk_kv *const *kvs, int n_seqs, int R)
{
    const fk_gptoss_config *c = &m->cfg;
    const fk_layer *L = &m->layers[l];
    fk_backend *be = m->be;
    int hd = c->head_dim, kvd = c->n_kv_heads * hd;
    be->ops->rmsnorm(be, m->h, m->x, L->ln1, R, c->hidden_size, (float)c->rms_norm_eps);
    be->ops->matmul(be, m->q, m->h, &L->wq, L->bq, R);
    be->ops->matmul(be, m->kk, m->h, &L->wk, L->bk, R);
    be->ops->matmul(be, m->vv, m->h, &L->wv, L->bv, R);
    be->ops->rope(be, m->q, m->cos_sin, R, c->n_heads, hd);
    be->ops->rope(be, m->kk, m->cos_sin, R, c->n_kv_heads, hd);
    for (int s = 0; s < n_seqs; s++) {
        m->seqs[s].k_cache = kvs[s]->k[l];
        m->seqs[s].v_cache = kvs[s]->v[l];
        m->seqs[s].slots = kvs[s]->slots[l];
    }
    be->ops->attention(be, m->att, m->q, m->kk, m->vv, m->seqs, n_seqs, L->sinks, c->n_heads,
                       c->n_kv_heads, hd, L->window);
    for (int s = 0; s < n_seqs; s++) {
        const fk_attn_seq *q = &m->seqs[s];
        be->ops->kv_store(be, kvs[s]->k[l], kvs[s]->v[l], q->slots, m->kk + (size_t)q->row0 * kvd,
                          m->vv + (size_t)q->row0 * kvd, q->pos0, q->n_new, kvd);
    }
    be->ops->matmul(be, m->tmp, m->att, &L->wo, L->bo, R);
    be->ops->add(be, m->x, m->tmp, (size_t)R * c->hidden_size);
}

/* lm_head over the chosen rows of x: logits [n_rows, V] on the host. */
static int head(fk_model *m, const int32_t *rows, int n_rows, float *logits)
{
    const fk_gptoss_config *c = &m->cfg;
    fk_backend *be = m->be;
    size_t V = (size_t)c->vocab_size;
    if (!m->logits) {
        m->logits = be->ops->alloc(be, (size_t)FK_LOGIT_ROWS * V);
        if (!m->logits) return -1;
    }
    for (int i = 0; i < n_rows; i += FK_LOGIT_ROWS) {
        int n = n_rows - i < FK_LOGIT_ROWS ? n_rows - i : FK_LOGIT_ROWS;
        be->ops->gather(be, m->h, m->x, rows + i, n, c->hidden_size);
        be->ops->rmsnorm(be, m->h, m->h, m->norm, n, c->hidden_size, (float)c->rms_norm_eps);
        be->ops->matmul(be, m->logits, m->h, &m->lm_head, NULL, n);
        be->ops->download(be, logits + (size_t)i * V, m->logits, (size_t)n * V);
    }
    return 0;
}

/* Run R <= FK_CHUNK rows: sequence s owns rows seqs[s].row0 .. + n_new, at
 * positions kvs[s]->len ..; afterwards every cache has grown by its n_new.
 * The logits of `rows` go to `logits` [n_rows, V]. */
static int run_rows(fk_model *m, fk_kv *const *kvs, const int *n_new, int n_seqs,
                    const int32_t *tokens, int R, const int32_t *rows, int n_rows, float *logits)
{
    const fk_gptoss_config *c = &m->cfg;
    fk_backend *be = m->be;
    int hd = c->head_dim, row = 0;
    for (int s = 0; s < n_seqs; s++) {
        m->seqs[s].pos0 = kvs[s]->len;
        m->seqs[s].n_new = n_new[s];
        m->seqs[s].row0 = row;
        for (int i = 0; i < n_new[s]; i++, row++) {
            float *cs = m->cos_sin_host + (size_t)row * hd;
            fk_rope_cos_sin(&m->rope, kvs[s]->len + i, cs, cs + hd / 2);
        }
    }
    /* The CPU backend's memory is the host's: upload is a copy. */
    memcpy(m->cos_sin, m->cos_sin_host, (size_t)R * hd * sizeof(float));
    be->ops->embed(be, m->x, m->embed, tokens, R, c->hidden_size);
    for (int l = 0; l < c->n_layers; l++) {
        attention_block(m, l, kvs, n_seqs, R);
        be->ops->rmsnorm(be, m->h, m->x, m->layers[l].ln2, R, c->hidden_size,
                         (float)c->rms_norm_eps);
        moe(m, &m->layers[l], R);
    }
    for (int s = 0; s < n_seqs; s++) kvs[s]->len += n_new[s];
    return n_rows > 0 ? head(m, rows, n_rows, logits) : 0;
}

/* 0 when every token is a vocabulary id. */
static int tokens_valid(const fk_model *m, const int32_t *tokens, int n)
{
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->cfg.vocab_size) return 0;
    return 1;
}

int fk_model_forward(fk_model *m, fk_kv *kv, const int32_t *tokens, int n, float *logits,
                     int all_logits)
{
    if (n <= 0 || kv->len + n > kv->capacity || !tokens_valid(m, tokens, n)) return -1;
    size_t V = (size_t)m->cfg.vocab_size;
    for (int done = 0; done < n;) {
        int R = n - done < FK_CHUNK ? n - done : FK_CHUNK;
        int n_rows = 0;
        if (!logits) {
            n_rows = 0; /* nobody reads them: skip the final norm and lm_head */
        } else if (all_logits) {
            for (int r = 0; r < R; r++) m->logit_rows[n_rows++] = r;
        } else if (done + R == n) {
            m->logit_rows[n_rows++] = R - 1;
        }
        float *out = logits && all_logits ? logits + (size_t)done * V : logits;
        if (run_rows(m, &kv, &R, 1, tokens + done, R, m->logit_rows, n_rows, out) != 0) return -1;
        done += R;
    }
    return 0;
}

int fk_model_decode(fk_model *m, fk_kv *const *kvs, const int32_t *tokens, int B, float *logits)
{
    if (B <= 0 || !tokens_valid(m, tokens, B)) return -1;
    for (int b = 0; b < B; b++)
        if (kvs[b]->len + 1 > kvs[b]->capacity) return -1;
    static const int one[FK_CHUNK] = {[0 ... FK_CHUNK - 1] = 1};
    size_t V = (size_t)m->cfg.vocab_size;
    for (int done = 0; done < B;) {
        int R = B - done < FK_CHUNK ? B - done : FK_CHUNK;
        for (int r = 0; r < R; r++) m->logit_rows[r] = r;
        if (run_rows(m, kvs + done, one, R, tokens + done, R, m->logit_rows, R,
                     logits + (size_t)done * V) != 0)
            return -1;
        done += R;
    }
    return 0;
}
