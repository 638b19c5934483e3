/* checkpoint.h: a gpt-oss model directory as validated, mmapped tensors.
 *
 *   config.json             -> fk_gptoss_config (every dimension read, none assumed)
 *   generation_config.json  -> eos ids (optional file)
 *   model.safetensors.index.json or model.safetensors -> shards, mmapped read-only
 *
 * fk_checkpoint_open validates every shard header (lengths, dtypes, offsets,
 * overlaps, sizes) and then every tensor the architecture needs (name, shape,
 * dtype) against the config, for both expert forms. After it succeeds, every
 * fk_checkpoint_get() of a required name returns a tensor of the documented
 * shape and dtype, so the model code checks nothing again. Each required
 * tensor's data is also aligned to its element size (checked: a misaligned
 * one is reported), so it may be read as uint16_t / float directly.
 *
 * Ownership: the checkpoint owns the mappings and every fk_tensor; tensor data
 * points into the read-only mapping and lives until fk_checkpoint_close(). */
#ifndef FK_CHECKPOINT_H
#define FK_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#define FK_MAX_DIMS 8
#define FK_MAX_LAYERS 256
#define FK_MAX_EOS 8

typedef enum fk_dtype {
    FK_DT_BOOL = 0,
    FK_DT_U8,
    FK_DT_I8,
    FK_DT_I16,
    FK_DT_U16,
    FK_DT_F16,
    FK_DT_BF16,
    FK_DT_I32,
    FK_DT_U32,
    FK_DT_F32,
    FK_DT_I64,
    FK_DT_U64,
    FK_DT_F64,
    FK_DT_COUNT
} fk_dtype;

/* Bytes per element; name as written in safetensors headers ("BF16"). */
size_t fk_dtype_size(fk_dtype dt);
const char *fk_dtype_name(fk_dtype dt);

typedef struct fk_tensor {
    const char *name;
    fk_dtype dtype;
    int ndim;
    int64_t shape[FK_MAX_DIMS];
    const void *data; /* into the read-only mapping */
    size_t nbytes;
} fk_tensor;

/* ---- one safetensors file ------------------------------------------------------ */

typedef struct fk_st_file fk_st_file;

/* mmap `path` read-only and validate its header. NULL with err naming the file. */
fk_st_file *fk_st_open(const char *path, char *err, size_t err_len);
void fk_st_close(fk_st_file *f);
size_t fk_st_count(const fk_st_file *f);
const fk_tensor *fk_st_tensor(const fk_st_file *f, size_t i);
const fk_tensor *fk_st_find(const fk_st_file *f, const char *name);
/* Validate a whole file image held in memory (the fuzz target's entry point):
 * 0 when valid, -1 with err. Calls nothing that needs a real file. */
int fk_st_validate_buffer(const uint8_t *buf, size_t len, char *err, size_t err_len);

/* ---- config ------------------------------------------------------------------- */

typedef struct fk_gptoss_config {
    int hidden_size; /* H */
    int n_layers;
    int n_heads;           /* nh */
    int n_kv_heads;        /* nkv */
    int head_dim;          /* hd */
    int intermediate_size; /* I */
    int n_experts;         /* E */
    int experts_per_token; /* top-k */
    int sliding_window;
    int vocab_size; /* V */
    int max_position_embeddings;
    unsigned char layer_sliding[FK_MAX_LAYERS]; /* 1: sliding_attention layer */
    double rope_theta;
    double rms_norm_eps;
    double swiglu_limit;
    double swiglu_alpha; /* 1.702 when absent */
    /* YaRN (rope_scaling or rope_parameters); factor 1 and yarn 0 when absent */
    int rope_yarn;
    double rope_factor;
    double rope_beta_fast;
    double rope_beta_slow;
    int rope_original_max_pos;
    int rope_truncate; /* 1: round the correction range (not gpt-oss) */
    /* generation_config.json eos ids, else config.json eos_token_id */
    int32_t eos_ids[FK_MAX_EOS];
    int n_eos;
    int32_t pad_id;    /* -1 when absent */
    int experts_mxfp4; /* set by fk_checkpoint_open from the tensors found */
} fk_gptoss_config;

/* Parse config.json text; err names the key and says what was expected. */
int fk_config_parse(const char *json_text, size_t len, fk_gptoss_config *cfg, char *err,
                    size_t err_len);
/* Read DIR/config.json and DIR/generation_config.json (optional). */
int fk_config_load(const char *model_dir, fk_gptoss_config *cfg, char *err, size_t err_len);

/* ---- the checkpoint ------------------------------------------------------------- */

typedef struct fk_checkpoint fk_checkpoint;

/* Open and validate a model directory. On failure NULL, and err lists every
 * problem found (all missing tensors at once), one per line, each naming the
 * file and tensor with expected vs found. */
fk_checkpoint *fk_checkpoint_open(const char *dir, char *err, size_t err_len);
void fk_checkpoint_close(fk_checkpoint *ck);
const fk_gptoss_config *fk_checkpoint_config(const fk_checkpoint *ck);
/* A tensor by its full name ("model.layers.3.self_attn.q_proj.weight"), or NULL. */
const fk_tensor *fk_checkpoint_get(const fk_checkpoint *ck, const char *name);
/* Total bytes of tensor data mapped. */
uint64_t fk_checkpoint_bytes(const fk_checkpoint *ck);

/* Touch every page (so the first request does not pay for page faults),
 * calling progress(done, total) now and then. Optional. */
void fk_checkpoint_prefault(const fk_checkpoint *ck,
                            void (*progress)(void *ud, uint64_t done, uint64_t total), void *ud);

/* ---- additions (loader helpers shared by the loader, fk-mkmodel and tests) ------ */

/* The fk_dtype named `name` ("BF16"): 0, or -1 when the name is unknown. */
int fk_dtype_parse(const char *name, fk_dtype *out);
/* Write "[a,b,c]" into buf (always NUL-terminated when len > 0). */
void fk_shape_format(char *buf, size_t len, int ndim, const int64_t *shape);

/* One tensor gpt-oss needs: its name, dtype and shape from the config. */
typedef struct fk_tensor_spec {
    char name[96];    /* full name, "model.layers.3.self_attn.q_proj.weight" */
    fk_dtype dtype;   /* required dtype */
    int ndim;         /* number of dimensions used in shape */
    int64_t shape[4]; /* required shape */
} fk_tensor_spec;

/* The tensors of a gpt-oss checkpoint by role. Their names are spelled once,
 * in gptoss_tensors.c; the loader's validation, fk-mkmodel and the model all
 * go through these ids. Per-layer roles take a layer index. */
typedef enum fk_gptoss_tensor {
    FK_T_EMBED = 0,      /* model.embed_tokens.weight */
    FK_T_NORM,           /* model.norm.weight */
    FK_T_LM_HEAD,        /* lm_head.weight */
    FK_T_LN1,            /* per layer from here: input_layernorm.weight */
    FK_T_Q,              /* self_attn.q_proj.weight */
    FK_T_Q_BIAS,         /* self_attn.q_proj.bias */
    FK_T_K,              /* self_attn.k_proj.weight */
    FK_T_K_BIAS,         /* self_attn.k_proj.bias */
    FK_T_V,              /* self_attn.v_proj.weight */
    FK_T_V_BIAS,         /* self_attn.v_proj.bias */
    FK_T_O,              /* self_attn.o_proj.weight */
    FK_T_O_BIAS,         /* self_attn.o_proj.bias */
    FK_T_SINKS,          /* self_attn.sinks */
    FK_T_LN2,            /* post_attention_layernorm.weight */
    FK_T_ROUTER,         /* mlp.router.weight */
    FK_T_ROUTER_BIAS,    /* mlp.router.bias */
    FK_T_GATE_UP_BLOCKS, /* MXFP4 experts: mlp.experts.gate_up_proj_blocks */
    FK_T_GATE_UP_SCALES, /* mlp.experts.gate_up_proj_scales */
    FK_T_DOWN_BLOCKS,    /* mlp.experts.down_proj_blocks */
    FK_T_DOWN_SCALES,    /* mlp.experts.down_proj_scales */
    FK_T_GATE_UP,        /* BF16 experts: mlp.experts.gate_up_proj */
    FK_T_DOWN,           /* mlp.experts.down_proj */
    FK_T_GATE_UP_BIAS,   /* both forms: mlp.experts.gate_up_proj_bias */
    FK_T_DOWN_BIAS,      /* mlp.experts.down_proj_bias */
    FK_T_COUNT
} fk_gptoss_tensor;

/* The full name of a role ("model.layers.3.self_attn.q_proj.weight"); the
 * layer is ignored for the model-wide ones. Always NUL-terminated. */
void fk_gptoss_tensor_name(fk_gptoss_tensor t, int layer, char *buf, size_t len);
/* The checkpoint's tensor for a role, or NULL. */
const fk_tensor *fk_checkpoint_gptoss(const fk_checkpoint *ck, fk_gptoss_tensor t, int layer);

/* Fill out[0..cap) with every tensor a gpt-oss checkpoint of this config holds,
 * with the experts in MXFP4 (mxfp4 = 1) or BF16 (mxfp4 = 0) form, in a stable
 * order (embedding, layers 0..L-1, final norm, lm_head). Returns the total
 * count, which may exceed cap (call with cap 0 to size the array). */
size_t fk_gptoss_tensor_specs(const fk_gptoss_config *cfg, int mxfp4, fk_tensor_spec *out,
                              size_t cap);

/* Path of the shard holding a tensor of the checkpoint (for messages), or NULL. */
const char *fk_checkpoint_tensor_file(const fk_checkpoint *ck, const char *name);
/* Number of tensors in the checkpoint and the i-th in name order. */
size_t fk_checkpoint_count(const fk_checkpoint *ck);
const fk_tensor *fk_checkpoint_tensor(const fk_checkpoint *ck, size_t i);

/* The path a shard was opened with, and its whole read-only mapping. */
const char *fk_st_path(const fk_st_file *f);
void fk_st_mapping(const fk_st_file *f, const void **base, size_t *len);

#endif
