/* gguf_gptoss.c: gpt-oss metadata, vocabulary and tensors for GGUF (see gguf_gptoss.h). */
#include "gguf_gptoss.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARCH "gpt-oss"
#define CHUNK_BYTES (1u << 20) /* output buffered per fk_gguf_write */
#define MXFP4_BYTES 17         /* GGML block: e8m0 scale + 16 bytes of nibbles */
#define TILE 32                /* output rows gathered at once by a transpose */

/* llama.cpp's gpt-oss graph hard-codes these (llama-graph.cpp, SWIGLU_OAI_MOE). */
#define LLAMA_SWIGLU_ALPHA 1.702
#define LLAMA_SWIGLU_LIMIT 7.0

/* general.file_type values (llama.h's llama_ftype). */
enum { FTYPE_ALL_F32 = 0, FTYPE_MOSTLY_BF16 = 32, FTYPE_MOSTLY_MXFP4_MOE = 38 };

/* ---- checks and metadata ----------------------------------------------------------- */

/* The period P with which llama.cpp's set_swa_pattern(P) marks exactly the
 * config's sliding layers (layer i slides when P == 0 or i % P < P - 1), or
 * -1. gpt-oss alternates (P = 2), tried first. */
static int swa_period(const fk_gptoss_config *c)
{
    for (int k = 0; k <= c->n_layers + 1; k++) {
        int p = k == 0 ? 2 : k == 2 ? 0 : k, ok = 1;
        for (int i = 0; ok && i < c->n_layers; i++) {
            int swa = p == 0 || i % p < p - 1;
            ok = swa == (c->layer_sliding[i] != 0);
        }
        if (ok) return p;
    }
    return -1;
}

int fk_gguf_gptoss_check(const fk_gptoss_config *c, char *err, size_t err_len)
{
    if (fabs(c->swiglu_limit - LLAMA_SWIGLU_LIMIT) > 1e-9 ||
        fabs(c->swiglu_alpha - LLAMA_SWIGLU_ALPHA) > 1e-9) {
        snprintf(err, err_len,
                 "config.json: swiglu_limit %g / swiglu_alpha %g: llama.cpp's gpt-oss graph "
                 "computes only %g / %g",
                 c->swiglu_limit, c->swiglu_alpha, LLAMA_SWIGLU_LIMIT, LLAMA_SWIGLU_ALPHA);
        return -1;
    }
    if (swa_period(c) < 0) {
        snprintf(err, err_len,
                 "config.json: layer_types: llama.cpp marks sliding layers by a period (i %% P "
                 "< P - 1); this pattern has none");
        return -1;
    }
    return 0;
}

static int kv_u32(fk_gguf_writer *w, const char *suffix, uint32_t v)
{
    char key[96];
    snprintf(key, sizeof key, ARCH ".%s", suffix);
    return fk_gguf_kv_u32(w, key, v);
}

static int kv_f32(fk_gguf_writer *w, const char *suffix, double v)
{
    char key[96];
    snprintf(key, sizeof key, ARCH ".%s", suffix);
    return fk_gguf_kv_f32(w, key, (float)v);
}

int fk_gguf_gptoss_metadata(fk_gguf_writer *w, const fk_gptoss_config *c, const char *name,
                            fk_ggml_type outtype)
{
    uint32_t ftype = c->experts_mxfp4          ? FTYPE_MOSTLY_MXFP4_MOE
                     : outtype == FK_GGML_BF16 ? FTYPE_MOSTLY_BF16
                                               : FTYPE_ALL_F32;
    int rc = fk_gguf_kv_str(w, "general.architecture", ARCH) ||
             fk_gguf_kv_str(w, "general.name", name) ||
             fk_gguf_kv_u32(w, "general.file_type", ftype) ||
             fk_gguf_kv_u32(w, "general.quantization_version", 2) ||
             kv_u32(w, "block_count", (uint32_t)c->n_layers) ||
             kv_u32(w, "context_length", (uint32_t)c->max_position_embeddings) ||
             kv_u32(w, "embedding_length", (uint32_t)c->hidden_size) ||
             kv_u32(w, "feed_forward_length", (uint32_t)c->intermediate_size) ||
             kv_u32(w, "expert_feed_forward_length", (uint32_t)c->intermediate_size) ||
             kv_u32(w, "expert_count", (uint32_t)c->n_experts) ||
             kv_u32(w, "expert_used_count", (uint32_t)c->experts_per_token) ||
             kv_u32(w, "attention.head_count", (uint32_t)c->n_heads) ||
             kv_u32(w, "attention.head_count_kv", (uint32_t)c->n_kv_heads) ||
             kv_u32(w, "attention.key_length", (uint32_t)c->head_dim) ||
             kv_u32(w, "attention.value_length", (uint32_t)c->head_dim) ||
             kv_f32(w, "attention.layer_norm_rms_epsilon", c->rms_norm_eps) ||
             kv_u32(w, "attention.sliding_window", (uint32_t)c->sliding_window) ||
             kv_u32(w, "attention.sliding_window_pattern", (uint32_t)swa_period(c)) ||
             kv_f32(w, "rope.freq_base", c->rope_theta);
    if (rc || !c->rope_yarn) return rc ? -1 : 0;
    rc = fk_gguf_kv_str(w, ARCH ".rope.scaling.type", "yarn") ||
         kv_f32(w, "rope.scaling.factor", c->rope_factor) ||
         kv_u32(w, "rope.scaling.original_context_length", (uint32_t)c->rope_original_max_pos) ||
         kv_f32(w, "rope.scaling.yarn_beta_fast", c->rope_beta_fast) ||
         kv_f32(w, "rope.scaling.yarn_beta_slow", c->rope_beta_slow);
    return rc ? -1 : 0;
}

int fk_gguf_gptoss_vocab(fk_gguf_writer *w, const fk_gptoss_config *c, const fk_gguf_vocab *v,
                         const char *pre, const char *chat_template)
{
    int rc =
        fk_gguf_kv_str(w, "tokenizer.ggml.model", "gpt2") ||
        fk_gguf_kv_str(w, "tokenizer.ggml.pre", pre) ||
        fk_gguf_kv_str_array(w, "tokenizer.ggml.tokens", v->tokens, v->token_len, v->n) ||
        fk_gguf_kv_i32_array(w, "tokenizer.ggml.token_type", v->types, v->n) ||
        fk_gguf_kv_str_array(w, "tokenizer.ggml.merges", v->merges, v->merge_len, v->n_merges) ||
        fk_gguf_kv_bool(w, "tokenizer.ggml.add_bos_token", 0);
    if (!rc && v->bos_id >= 0)
        rc = fk_gguf_kv_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)v->bos_id);
    if (!rc && c->n_eos > 0 && (size_t)c->eos_ids[0] < v->n)
        rc = fk_gguf_kv_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)c->eos_ids[0]);
    if (!rc && c->pad_id >= 0 && (size_t)c->pad_id < v->n)
        rc = fk_gguf_kv_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)c->pad_id);
    if (!rc && chat_template) rc = fk_gguf_kv_str(w, "tokenizer.chat_template", chat_template);
    return rc ? -1 : 0;
}

/* ---- the tensor plan ----------------------------------------------------------------- */

/* Appends planned tensors to out[0..cap) while counting all of them. */
typedef struct plan_list {
    const fk_checkpoint *ck; /* where sources are looked up */
    fk_gguf_tensor *out;     /* destination (may be NULL when cap is 0) */
    size_t cap;              /* entries out can hold */
    size_t n;                /* entries produced so far (may exceed cap) */
    int layer;               /* layer of the names being added, -1 for global tensors */
} plan_list;

/* One tensor: GGUF name suffix, type, dims, and its source by checkpoint role
 * (scales: FK_T_COUNT when there are none) in the list's current layer. */
static void add(plan_list *l, const char *name, fk_ggml_type type, fk_gguf_src kind,
                fk_gptoss_tensor src, fk_gptoss_tensor scales, int parity, int ndim, int64_t ne0,
                int64_t ne1, int64_t ne2)
{
    if (l->n < l->cap) {
        fk_gguf_tensor *t = &l->out[l->n];
        memset(t, 0, sizeof *t);
        if (l->layer >= 0)
            snprintf(t->name, sizeof t->name, "blk.%d.%s", l->layer, name);
        else
            snprintf(t->name, sizeof t->name, "%s", name);
        t->type = type;
        t->ndim = ndim;
        t->ne[0] = ne0;
        t->ne[1] = ne1;
        t->ne[2] = ne2;
        t->src_kind = kind;
        t->parity = parity;
        t->src = fk_checkpoint_gptoss(l->ck, src, l->layer);
        if (scales != FK_T_COUNT) t->scales = fk_checkpoint_gptoss(l->ck, scales, l->layer);
    }
    l->n++;
}

static void plan_attention(plan_list *l, const fk_gptoss_config *c, fk_ggml_type out)
{
    int64_t H = c->hidden_size, q = (int64_t)c->n_heads * c->head_dim;
    int64_t kv = (int64_t)c->n_kv_heads * c->head_dim;
    const fk_ggml_type F = FK_GGML_F32;
    add(l, "attn_norm.weight", F, FK_GGUF_COPY, FK_T_LN1, FK_T_COUNT, -1, 1, H, 0, 0);
    add(l, "attn_q.weight", out, FK_GGUF_COPY, FK_T_Q, FK_T_COUNT, -1, 2, H, q, 0);
    add(l, "attn_q.bias", F, FK_GGUF_COPY, FK_T_Q_BIAS, FK_T_COUNT, -1, 1, q, 0, 0);
    add(l, "attn_k.weight", out, FK_GGUF_COPY, FK_T_K, FK_T_COUNT, -1, 2, H, kv, 0);
    add(l, "attn_k.bias", F, FK_GGUF_COPY, FK_T_K_BIAS, FK_T_COUNT, -1, 1, kv, 0, 0);
    add(l, "attn_v.weight", out, FK_GGUF_COPY, FK_T_V, FK_T_COUNT, -1, 2, H, kv, 0);
    add(l, "attn_v.bias", F, FK_GGUF_COPY, FK_T_V_BIAS, FK_T_COUNT, -1, 1, kv, 0, 0);
    add(l, "attn_output.weight", out, FK_GGUF_COPY, FK_T_O, FK_T_COUNT, -1, 2, q, H, 0);
    add(l, "attn_output.bias", F, FK_GGUF_COPY, FK_T_O_BIAS, FK_T_COUNT, -1, 1, H, 0, 0);
    add(l, "attn_sinks.weight", F, FK_GGUF_COPY, FK_T_SINKS, FK_T_COUNT, -1, 1, c->n_heads, 0, 0);
}

static void plan_moe(plan_list *l, const fk_gptoss_config *c, fk_ggml_type out)
{
    int64_t H = c->hidden_size, E = c->n_experts, I = c->intermediate_size;
    const fk_ggml_type F = FK_GGML_F32;
    add(l, "post_attention_norm.weight", F, FK_GGUF_COPY, FK_T_LN2, FK_T_COUNT, -1, 1, H, 0, 0);
    add(l, "ffn_gate_inp.weight", F, FK_GGUF_COPY, FK_T_ROUTER, FK_T_COUNT, -1, 2, H, E, 0);
    add(l, "ffn_gate_inp.bias", F, FK_GGUF_COPY, FK_T_ROUTER_BIAS, FK_T_COUNT, -1, 1, E, 0, 0);
    if (c->experts_mxfp4) {
        const fk_gptoss_tensor gu = FK_T_GATE_UP_BLOCKS, gus = FK_T_GATE_UP_SCALES;
        add(l, "ffn_gate_exps.weight", FK_GGML_MXFP4, FK_GGUF_MXFP4, gu, gus, 0, 3, H, I, E);
        add(l, "ffn_up_exps.weight", FK_GGML_MXFP4, FK_GGUF_MXFP4, gu, gus, 1, 3, H, I, E);
        add(l, "ffn_down_exps.weight", FK_GGML_MXFP4, FK_GGUF_MXFP4, FK_T_DOWN_BLOCKS,
            FK_T_DOWN_SCALES, -1, 3, I, H, E);
    } else {
        const fk_gptoss_tensor gu = FK_T_GATE_UP;
        add(l, "ffn_gate_exps.weight", out, FK_GGUF_TRANSPOSE, gu, FK_T_COUNT, 0, 3, H, I, E);
        add(l, "ffn_up_exps.weight", out, FK_GGUF_TRANSPOSE, gu, FK_T_COUNT, 1, 3, H, I, E);
        add(l, "ffn_down_exps.weight", out, FK_GGUF_TRANSPOSE, FK_T_DOWN, FK_T_COUNT, -1, 3, I, H,
            E);
    }
    const fk_gptoss_tensor gub = FK_T_GATE_UP_BIAS;
    add(l, "ffn_gate_exps.bias", F, FK_GGUF_COPY, gub, FK_T_COUNT, 0, 2, I, E, 0);
    add(l, "ffn_up_exps.bias", F, FK_GGUF_COPY, gub, FK_T_COUNT, 1, 2, I, E, 0);
    add(l, "ffn_down_exps.bias", F, FK_GGUF_COPY, FK_T_DOWN_BIAS, FK_T_COUNT, -1, 2, H, E, 0);
}

size_t fk_gguf_gptoss_plan(const fk_checkpoint *ck, fk_ggml_type outtype, fk_gguf_tensor *out,
                           size_t cap)
{
    const fk_gptoss_config *c = fk_checkpoint_config(ck);
    plan_list l = {.ck = ck, .out = out, .cap = cap, .n = 0, .layer = -1};
    int64_t H = c->hidden_size, V = c->vocab_size;
    add(&l, "token_embd.weight", outtype, FK_GGUF_COPY, FK_T_EMBED, FK_T_COUNT, -1, 2, H, V, 0);
    for (l.layer = 0; l.layer < c->n_layers; l.layer++) {
        plan_attention(&l, c, outtype);
        plan_moe(&l, c, outtype);
    }
    l.layer = -1;
    add(&l, "output_norm.weight", FK_GGML_F32, FK_GGUF_COPY, FK_T_NORM, FK_T_COUNT, -1, 1, H, 0, 0);
    add(&l, "output.weight", outtype, FK_GGUF_COPY, FK_T_LM_HEAD, FK_T_COUNT, -1, 2, H, V, 0);
    return l.n;
}

/* ---- tensor data ---------------------------------------------------------------------- */

/* Output staging: elements or blocks gathered here, written in large pieces. */
typedef struct stage {
    fk_gguf_writer *w; /* destination */
    uint8_t *buf;      /* (CHUNK_BYTES) */
    size_t n;          /* bytes staged */
} stage;

static int stage_flush(stage *s)
{
    int rc = s->n ? fk_gguf_write(s->w, s->buf, s->n) : 0;
    s->n = 0;
    return rc;
}

/* Room for `need` more bytes (flushing first when full); the place to write. */
static uint8_t *stage_room(stage *s, size_t need)
{
    if (s->n + need > CHUNK_BYTES && stage_flush(s)) return NULL;
    uint8_t *p = s->buf + s->n;
    s->n += need;
    return p;
}

/* One bf16 value stored as the output type. */
static void put_value(uint8_t *dst, fk_ggml_type t, uint16_t bf16)
{
    if (t == FK_GGML_BF16) {
        memcpy(dst, &bf16, 2);
    } else {
        uint32_t u = (uint32_t)bf16 << 16;
        memcpy(dst, &u, 4);
    }
}

/* bf16 rows of the source's last dimension, every element or every other. */
static int emit_copy(const fk_gguf_tensor *t, stage *s)
{
    const uint16_t *src = t->src->data;
    size_t el = t->type == FK_GGML_BF16 ? 2 : 4;
    int64_t L = t->src->shape[t->src->ndim - 1];
    size_t rows = t->src->nbytes / 2 / (size_t)L;
    int64_t keep = t->parity < 0 ? L : L / 2;
    for (size_t r = 0; r < rows; r++) {
        const uint16_t *row = src + r * (size_t)L;
        for (int64_t j = 0; j < keep; j++) {
            uint8_t *dst = stage_room(s, el);
            if (!dst) return -1;
            put_value(dst, t->type, row[t->parity < 0 ? j : 2 * j + t->parity]);
        }
    }
    return 0;
}

/* bf16 [E, A, C] -> [E, J, A] with out[e][j][a] = src[e][a][col(j)], gathering
 * TILE output rows per pass over the source rows. */
static int emit_transpose(const fk_gguf_tensor *t, stage *s)
{
    const uint16_t *src = t->src->data;
    int64_t E = t->src->shape[0], A = t->src->shape[1], C = t->src->shape[2];
    int64_t J = t->parity < 0 ? C : C / 2;
    size_t el = t->type == FK_GGML_BF16 ? 2 : 4, row_bytes = (size_t)A * el;
    uint8_t *tile = malloc(TILE * row_bytes);
    if (!tile) return -2;
    int rc = 0;
    for (int64_t e = 0; rc == 0 && e < E; e++) {
        for (int64_t j0 = 0; rc == 0 && j0 < J; j0 += TILE) {
            int64_t nj = J - j0 < TILE ? J - j0 : TILE;
            for (int64_t a = 0; a < A; a++) {
                const uint16_t *row = src + ((size_t)e * (size_t)A + (size_t)a) * (size_t)C;
                for (int64_t jj = 0; jj < nj; jj++) {
                    int64_t col = t->parity < 0 ? j0 + jj : 2 * (j0 + jj) + t->parity;
                    put_value(tile + (size_t)jj * row_bytes + (size_t)a * el, t->type, row[col]);
                }
            }
            rc = stage_flush(s) || fk_gguf_write(s->w, tile, (size_t)nj * row_bytes) ? -1 : 0;
        }
    }
    free(tile);
    return rc;
}

/* One block: checkpoint byte k holds elements 2k (low nibble) and 2k+1 (high);
 * GGML byte j holds elements j (low) and j + 16 (high). */
static void repack_block(const uint8_t *hf, uint8_t *out)
{
    uint8_t e[32];
    for (int k = 0; k < 16; k++) {
        e[2 * k] = hf[k] & 0x0f;
        e[2 * k + 1] = hf[k] >> 4;
    }
    for (int j = 0; j < 16; j++) out[j] = (uint8_t)(e[j] | e[j + 16] << 4);
}

/* blocks [E, R, nb, 16] + scales [E, R, nb] -> GGML MXFP4 rows (every row, or
 * every other row of the interleaved gate_up). */
static int emit_mxfp4(const fk_gguf_tensor *t, stage *s)
{
    const uint8_t *blocks = t->src->data, *scales = t->scales->data;
    int64_t E = t->src->shape[0], R = t->src->shape[1], nb = t->src->shape[2];
    int64_t keep = t->parity < 0 ? R : R / 2;
    for (int64_t e = 0; e < E; e++) {
        for (int64_t k = 0; k < keep; k++) {
            size_t r = (size_t)e * (size_t)R + (size_t)(t->parity < 0 ? k : 2 * k + t->parity);
            for (int64_t b = 0; b < nb; b++) {
                uint8_t *dst = stage_room(s, MXFP4_BYTES);
                if (!dst) return -1;
                size_t at = r * (size_t)nb + (size_t)b;
                dst[0] = scales[at];
                repack_block(blocks + at * 16, dst + 1);
            }
        }
    }
    return 0;
}

int fk_gguf_tensor_emit(const fk_gguf_tensor *t, fk_gguf_writer *w, char *err, size_t err_len)
{
    stage s = {.w = w, .buf = malloc(CHUNK_BYTES), .n = 0};
    int rc = s.buf ? 0 : -2;
    if (rc == 0) {
        if (t->src_kind == FK_GGUF_MXFP4)
            rc = emit_mxfp4(t, &s);
        else if (t->src_kind == FK_GGUF_TRANSPOSE)
            rc = emit_transpose(t, &s);
        else
            rc = emit_copy(t, &s);
    }
    if (rc == 0) rc = stage_flush(&s);
    free(s.buf);
    if (rc == -2) snprintf(err, err_len, "%s: out of memory", t->name);
    return rc ? -1 : 0;
}
