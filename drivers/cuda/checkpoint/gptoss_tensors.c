/* gptoss_tensors.c: the tensors a gpt-oss checkpoint must hold, from its config.
 *
 * One table (GPTOSS.md, "Checkpoint layout") drives both the loader's
 * validation and fk-mkmodel's writer, so the two can never disagree. With
 * H hidden, V vocab, nh/nkv heads of hd, E experts of intermediate size I:
 *
 *   model.embed_tokens.weight                    BF16 [V, H]
 *   per layer (model.layers.N.):
 *     input_layernorm.weight                     BF16 [H]
 *     self_attn.{q,k,v}_proj.weight / .bias      BF16 [n*hd, H] / [n*hd]
 *     self_attn.o_proj.weight / .bias            BF16 [H, nh*hd] / [H]
 *     self_attn.sinks                            BF16 [nh]
 *     post_attention_layernorm.weight            BF16 [H]
 *     mlp.router.weight / .bias                  BF16 [E, H] / [E]
 *     MXFP4: mlp.experts.gate_up_proj_blocks     U8   [E, 2I, H/32, 16]
 *            mlp.experts.gate_up_proj_scales     U8   [E, 2I, H/32]
 *            mlp.experts.down_proj_blocks        U8   [E, H, I/32, 16]
 *            mlp.experts.down_proj_scales        U8   [E, H, I/32]
 *     BF16:  mlp.experts.gate_up_proj            BF16 [E, H, 2I]
 *            mlp.experts.down_proj               BF16 [E, I, H]
 *     mlp.experts.gate_up_proj_bias / down_proj_bias  BF16 [E, 2I] / [E, H]
 *   model.norm.weight                            BF16 [H]
 *   lm_head.weight                               BF16 [V, H]
 *
 * For the 20b config in MXFP4 form this lists 459 tensors. */
#include "checkpoint.h"

#include <stdarg.h>
#include <stdio.h>

/* Appends specs to out[0..cap) while counting all of them. */
typedef struct spec_list {
    fk_tensor_spec *out; /* destination array (may be NULL when cap is 0) */
    size_t cap;          /* entries out can hold */
    size_t n;            /* entries produced so far (may exceed cap) */
} spec_list;

__attribute__((format(printf, 6, 7))) static void
add(spec_list *l, fk_dtype dt, int ndim, const int64_t *shape, int layer, const char *fmt, ...)
{
    if (l->n < l->cap) {
        fk_tensor_spec *s = &l->out[l->n];
        char suffix[64];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(suffix, sizeof suffix, fmt, ap);
        va_end(ap);
        if (layer >= 0)
            snprintf(s->name, sizeof s->name, "model.layers.%d.%s", layer, suffix);
        else
            snprintf(s->name, sizeof s->name, "%s", suffix);
        s->dtype = dt;
        s->ndim = ndim;
        for (int i = 0; i < 4; i++) s->shape[i] = i < ndim ? shape[i] : 0;
    }
    l->n++;
}

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define ADD(l, dt, layer, name, ...)                                                               \
    add(l, dt, (int)(sizeof SHAPE(__VA_ARGS__) / sizeof(int64_t)), SHAPE(__VA_ARGS__), layer,      \
        "%s", name)

static void add_attention(spec_list *l, const fk_gptoss_config *c, int i)
{
    int64_t H = c->hidden_size, q = (int64_t)c->n_heads * c->head_dim;
    int64_t kv = (int64_t)c->n_kv_heads * c->head_dim;
    ADD(l, FK_DT_BF16, i, "input_layernorm.weight", H);
    ADD(l, FK_DT_BF16, i, "self_attn.q_proj.weight", q, H);
    ADD(l, FK_DT_BF16, i, "self_attn.q_proj.bias", q);
    ADD(l, FK_DT_BF16, i, "self_attn.k_proj.weight", kv, H);
    ADD(l, FK_DT_BF16, i, "self_attn.k_proj.bias", kv);
    ADD(l, FK_DT_BF16, i, "self_attn.v_proj.weight", kv, H);
    ADD(l, FK_DT_BF16, i, "self_attn.v_proj.bias", kv);
    ADD(l, FK_DT_BF16, i, "self_attn.o_proj.weight", H, q);
    ADD(l, FK_DT_BF16, i, "self_attn.o_proj.bias", H);
    ADD(l, FK_DT_BF16, i, "self_attn.sinks", c->n_heads);
}

static void add_mlp(spec_list *l, const fk_gptoss_config *c, int i, int mxfp4)
{
    int64_t H = c->hidden_size, E = c->n_experts, I = c->intermediate_size;
    ADD(l, FK_DT_BF16, i, "post_attention_layernorm.weight", H);
    ADD(l, FK_DT_BF16, i, "mlp.router.weight", E, H);
    ADD(l, FK_DT_BF16, i, "mlp.router.bias", E);
    if (mxfp4) {
        ADD(l, FK_DT_U8, i, "mlp.experts.gate_up_proj_blocks", E, 2 * I, H / 32, 16);
        ADD(l, FK_DT_U8, i, "mlp.experts.gate_up_proj_scales", E, 2 * I, H / 32);
        ADD(l, FK_DT_U8, i, "mlp.experts.down_proj_blocks", E, H, I / 32, 16);
        ADD(l, FK_DT_U8, i, "mlp.experts.down_proj_scales", E, H, I / 32);
    } else {
        ADD(l, FK_DT_BF16, i, "mlp.experts.gate_up_proj", E, H, 2 * I);
        ADD(l, FK_DT_BF16, i, "mlp.experts.down_proj", E, I, H);
    }
    ADD(l, FK_DT_BF16, i, "mlp.experts.gate_up_proj_bias", E, 2 * I);
    ADD(l, FK_DT_BF16, i, "mlp.experts.down_proj_bias", E, H);
}

size_t fk_gptoss_tensor_specs(const fk_gptoss_config *cfg, int mxfp4, fk_tensor_spec *out,
                              size_t cap)
{
    spec_list l = {.out = out, .cap = cap, .n = 0};
    int64_t V = cfg->vocab_size, H = cfg->hidden_size;
    ADD(&l, FK_DT_BF16, -1, "model.embed_tokens.weight", V, H);
    for (int i = 0; i < cfg->n_layers; i++) {
        add_attention(&l, cfg, i);
        add_mlp(&l, cfg, i, mxfp4);
    }
    ADD(&l, FK_DT_BF16, -1, "model.norm.weight", H);
    ADD(&l, FK_DT_BF16, -1, "lm_head.weight", V, H);
    return l.n;
}
