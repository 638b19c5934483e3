/* test_checkpoint.c: the loader on the two tiny fixture checkpoints. */
#include "cuda/checkpoint.h"
#include "tests/tap.h"

#include <stdlib.h>

static const char *fixtures(void)
{
    const char *f = getenv("FK_FIXTURES");
    return f ? f : "tests/fixtures";
}

static int has_shape(const fk_tensor *t, int ndim, const int64_t *shape)
{
    if (!t || t->ndim != ndim) return 0;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i]) return 0;
    return 1;
}

#define SHAPE_IS(t, ...)                                                                           \
    has_shape(t, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),                        \
              (int64_t[]){__VA_ARGS__})

static void check_common(const fk_checkpoint *ck, const char *label)
{
    const fk_gptoss_config *c = fk_checkpoint_config(ck);
    is_int(c->hidden_size, 32, "%s: hidden_size", label);
    is_int(c->n_layers, 4, "%s: layers", label);
    is_int(c->n_heads, 4, "%s: heads", label);
    is_int(c->n_kv_heads, 2, "%s: kv heads", label);
    is_int(c->head_dim, 16, "%s: head_dim", label);
    is_int(c->n_experts, 4, "%s: experts", label);
    is_int(c->experts_per_token, 2, "%s: top-k", label);
    is_int(c->vocab_size, 201088, "%s: vocab", label);
    is_int(c->sliding_window, 8, "%s: sliding window", label);
    ok(c->layer_sliding[0] && !c->layer_sliding[1] && c->layer_sliding[2] && !c->layer_sliding[3],
       "%s: layer types sliding, full, sliding, full", label);
    is_int(c->n_eos, 3, "%s: eos ids from generation_config.json", label);
    is_int(c->eos_ids[0], 200002, "%s: first eos id", label);
    ok(c->rope_yarn && c->rope_factor == 32.0 && !c->rope_truncate, "%s: yarn factor 32", label);
    const fk_tensor *emb = fk_checkpoint_get(ck, "model.embed_tokens.weight");
    ok(SHAPE_IS(emb, 201088, 32) && emb->dtype == FK_DT_BF16, "%s: embed BF16 [201088,32]", label);
    ok(emb && emb->nbytes == (size_t)201088 * 32 * 2, "%s: embed nbytes", label);
    ok(SHAPE_IS(fk_checkpoint_get(ck, "model.layers.3.self_attn.q_proj.weight"), 64, 32),
       "%s: q_proj [64,32]", label);
    ok(SHAPE_IS(fk_checkpoint_get(ck, "model.layers.1.self_attn.sinks"), 4), "%s: sinks [4]",
       label);
    ok(SHAPE_IS(fk_checkpoint_get(ck, "model.layers.2.mlp.experts.gate_up_proj_bias"), 4, 128),
       "%s: gate_up bias [4,128]", label);
    ok(fk_checkpoint_get(ck, "model.layers.4.input_layernorm.weight") == NULL, "%s: no layer 4",
       label);
    ok(fk_checkpoint_get(ck, "lm_head.weight") != NULL, "%s: lm_head", label);
}

static void test_fixture_mxfp4(void)
{
    char dir[4096], err[4096] = "";
    snprintf(dir, sizeof dir, "%s/models/tiny-gptoss-mxfp4", fixtures());
    fk_checkpoint *ck = fk_checkpoint_open(dir, err, sizeof err);
    if (!ok(ck != NULL, "mxfp4 fixture opens")) {
        diag("%s", err);
        return;
    }
    check_common(ck, "mxfp4");
    is_int(fk_checkpoint_config(ck)->experts_mxfp4, 1, "mxfp4: experts_mxfp4 set");
    const fk_tensor *b = fk_checkpoint_get(ck, "model.layers.0.mlp.experts.gate_up_proj_blocks");
    ok(SHAPE_IS(b, 4, 128, 1, 16) && b->dtype == FK_DT_U8, "mxfp4: blocks U8 [4,128,1,16]");
    ok(SHAPE_IS(fk_checkpoint_get(ck, "model.layers.0.mlp.experts.down_proj_scales"), 4, 32, 2),
       "mxfp4: down scales [4,32,2]");
    is_int((long long)fk_checkpoint_bytes(ck), 25848704, "mxfp4: bytes match the index total");
    fk_checkpoint_close(ck);
}

static void test_fixture_bf16(void)
{
    char dir[4096], err[4096] = "";
    snprintf(dir, sizeof dir, "%s/models/tiny-gptoss-bf16", fixtures());
    fk_checkpoint *ck = fk_checkpoint_open(dir, err, sizeof err);
    if (!ok(ck != NULL, "bf16 fixture opens")) {
        diag("%s", err);
        return;
    }
    check_common(ck, "bf16");
    is_int(fk_checkpoint_config(ck)->experts_mxfp4, 0, "bf16: experts_mxfp4 clear");
    const fk_tensor *gu = fk_checkpoint_get(ck, "model.layers.0.mlp.experts.gate_up_proj");
    ok(SHAPE_IS(gu, 4, 32, 128) && gu->dtype == FK_DT_BF16, "bf16: gate_up_proj BF16 [4,32,128]");
    ok(SHAPE_IS(fk_checkpoint_get(ck, "model.layers.0.mlp.experts.down_proj"), 4, 64, 32),
       "bf16: down_proj [4,64,32]");
    fk_checkpoint_close(ck);
}

int main(void)
{
    test_fixture_mxfp4();
    test_fixture_bf16();
    return done_testing();
}
