/* gptoss_tensors.c: the tensors a gpt-oss checkpoint must hold, from its config.
 *
 * One table (GPTOSS.md, "Checkpoint layout") drives the loader's validation,
 * fk-mkmodel's writer and the model's binding (by role id), so they can
 * never disagree. With
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

#include <stdio.h>

/* Each role's name: model-wide ones whole, per-layer ones after
 * "model.layers.N.". */
static const char *const role_names[FK_T_COUNT] = {
    [FK_T_EMBED] = "model.embed_tokens.weight",
    [FK_T_NORM] = "model.norm.weight",
    [FK_T_LM_HEAD] = "lm_head.weight",
    [FK_T_LN1] = "input_layernorm.weight",
    [FK_T_Q] = "self_attn.q_proj.weight",
    [FK_T_Q_BIAS] = "self_attn.q_proj.bias",
    [FK_T_K] = "self_attn.k_proj.weight",
    [FK_T_K_BIAS] = "self_attn.k_proj.bias",
    [FK_T_V] = "self_attn.v_proj.weight",
    [FK_T_V_BIAS] = "self_attn.v_proj.bias",
    [FK_T_O] = "self_attn.o_proj.weight",
    [FK_T_O_BIAS] = "self_attn.o_proj.bias",
    [FK_T_SINKS] = "self_attn.sinks",
    [FK_T_LN2] = "post_attention_layernorm.weight",
    [FK_T_ROUTER] = "mlp.router.weight",
    [FK_T_ROUTER_BIAS] = "mlp.router.bias",
    [FK_T_GATE_UP_BLOCKS] = "mlp.experts.gate_up_proj_blocks",
    [FK_T_GATE_UP_SCALES] = "mlp.experts.gate_up_proj_scales",
    [FK_T_DOWN_BLOCKS] = "mlp.experts.down_proj_blocks",
    [FK_T_DOWN_SCALES] = "mlp.experts.down_proj_scales",
    [FK_T_GATE_UP] = "mlp.experts.gate_up_proj",
    [FK_T_DOWN] = "mlp.experts.down_proj",
    [FK_T_GATE_UP_BIAS] = "mlp.experts.gate_up_proj_bias",
    [FK_T_DOWN_BIAS] = "mlp.experts.down_proj_bias",
};

void fk_gptoss_tensor_name(fk_gptoss_tensor t, int layer, char *buf, size_t len)
{
    if (len == 0) return;
    if ((unsigned)t >= FK_T_COUNT)
        buf[0] = 0;
    else if (t < FK_T_LN1)
        snprintf(buf, len, "%s", role_names[t]);
    else
        snprintf(buf, len, "model.layers.%d.%s", layer, role_names[t]);
}

const fk_tensor *fk_checkpoint_gptoss(const fk_checkpoint *ck, fk_gptoss_tensor t, int layer)
{
    char name[128];
    fk_gptoss_tensor_name(t, layer, name, sizeof name);
    return fk_checkpoint_get(ck, name);
}

/* Appends specs to out[0..cap) while counting all of them. */
typedef struct spec_list {
    fk_tensor_spec *out; /* destination array (may be NULL when cap is 0) */
    size_t cap;          /* entries out can hold */
    size_t n;            /* entries produced so far (may exceed cap) */
} spec_list;

static void add(spec_list *l, fk_dtype dt, int ndim, const int64_t *shape, fk_gptoss_tensor t,
                int layer)
{
    if (l->n < l->cap) {
        fk_tensor_spec *s = &l->out[l->n];
        fk_gptoss_tensor_name(t, layer, s->name, sizeof s->name);
        s->dtype = dt;
        s->ndim = ndim;
        for (int i = 0; i < 4; i++) s->shape[i] = i < ndim ? shape[i] : 0;
    }
    l->n++;
}

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define ADD(l, dt, layer, role, ...)                                                               \
    add(l, dt, (int)(sizeof SHAPE(__VA_ARGS__) / sizeof(int64_t)), SHAPE(__VA_ARGS__), role, layer)

static void add_attention(spec_list *l, const fk_gptoss_config *c, int i)
{
    int64_t H = c->hidden_size, q = (int64_t)c->n_heads * c->head_dim;
    int64_t kv = (int64_t)c->n_kv_heads * c->head_dim;
    ADD(l, FK_DT_BF16, i, FK_T_LN1, H);
    ADD(l, FK_DT_BF16, i, FK_T_Q, q, H);
    ADD(l, FK_DT_BF16, i, FK_T_Q_BIAS, q);
    ADD(l, FK_DT_BF16, i, FK_T_K, kv, H);
    ADD(l, FK_DT_BF16, i, FK_T_K_BIAS, kv);
    ADD(l, FK_DT_BF16, i, FK_T_V, kv, H);
    ADD(l, FK_DT_BF16, i, FK_T_V_BIAS, kv);
    ADD(l, FK_DT_BF16, i, FK_T_O, H, q);
    ADD(l, FK_DT_BF16, i, FK_T_O_BIAS, H);
    ADD(l, FK_DT_BF16, i, FK_T_SINKS, c->n_heads);
}

static void add_mlp(spec_list *l, const fk_gptoss_config *c, int i, int mxfp4)
{
    int64_t H = c->hidden_size, E = c->n_experts, I = c->intermediate_size;
    ADD(l, FK_DT_BF16, i, FK_T_LN2, H);
    ADD(l, FK_DT_BF16, i, FK_T_ROUTER, E, H);
    ADD(l, FK_DT_BF16, i, FK_T_ROUTER_BIAS, E);
    if (mxfp4) {
        ADD(l, FK_DT_U8, i, FK_T_GATE_UP_BLOCKS, E, 2 * I, H / 32, 16);
        ADD(l, FK_DT_U8, i, FK_T_GATE_UP_SCALES, E, 2 * I, H / 32);
        ADD(l, FK_DT_U8, i, FK_T_DOWN_BLOCKS, E, H, I / 32, 16);
        ADD(l, FK_DT_U8, i, FK_T_DOWN_SCALES, E, H, I / 32);
    } else {
        ADD(l, FK_DT_BF16, i, FK_T_GATE_UP, E, H, 2 * I);
        ADD(l, FK_DT_BF16, i, FK_T_DOWN, E, I, H);
    }
    ADD(l, FK_DT_BF16, i, FK_T_GATE_UP_BIAS, E, 2 * I);
    ADD(l, FK_DT_BF16, i, FK_T_DOWN_BIAS, E, H);
}

size_t fk_gptoss_tensor_specs(const fk_gptoss_config *cfg, int mxfp4, fk_tensor_spec *out,
                              size_t cap)
{
    spec_list l = {.out = out, .cap = cap, .n = 0};
    int64_t V = cfg->vocab_size, H = cfg->hidden_size;
    ADD(&l, FK_DT_BF16, -1, FK_T_EMBED, V, H);
    for (int i = 0; i < cfg->n_layers; i++) {
        add_attention(&l, cfg, i);
        add_mlp(&l, cfg, i, mxfp4);
    }
    ADD(&l, FK_DT_BF16, -1, FK_T_NORM, H);
    ADD(&l, FK_DT_BF16, -1, FK_T_LM_HEAD, V, H);
    return l.n;
}
