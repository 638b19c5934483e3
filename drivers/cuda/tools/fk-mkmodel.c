/* fk-mkmodel: write a random gpt-oss checkpoint of any dimensions.
 *
 *   fk-mkmodel --out DIR [--preset 20b] [--hidden N] [--layers N] [--heads N]
 *              [--kv-heads N] [--head-dim N] [--intermediate N] [--experts N]
 *              [--top-k N] [--vocab N] [--sliding-window N]
 *              [--experts-form mxfp4|bf16] [--shards N] [--no-index]
 *              [--seed N] [--tokenizer PATH] [--verify]
 *   fk-mkmodel --out DIR --from SRC [--experts-form mxfp4|bf16] [--shards N] [--no-index]
 *
 * Writes config.json (YaRN rope_scaling as in gpt-oss-20b), generation_config.json,
 * the shards (model-0000k-of-0000N.safetensors) with model.safetensors.index.json,
 * or with --no-index (one shard) a single model.safetensors. The tensor list is
 * fk_gptoss_tensor_specs, the same table the loader validates against. Data
 * is streamed in small chunks (the model is never held in memory): BF16
 * weights ~ N(0, 0.02), norm weights ~ 1 + N(0, 0.02), MXFP4 codes uniform with
 * scales 2^-8..2^-6, so activations stay finite. Each tensor's values depend
 * only on --seed and its name, not on the sharding. --verify reopens the
 * result with fk_checkpoint_open. --preset 20b gives the real 20b dimensions;
 * with --layers 2 that is the benchmark model.
 *
 * --from SRC converts an existing checkpoint instead of drawing random values:
 * the same config and tensors, with the experts written in --experts-form.
 * MXFP4 -> bf16 is exact (every MXFP4 value is a bf16), so the tests derive
 * the bf16 tiny checkpoint from the MXFP4 one instead of keeping both. */
#include "drivers/cuda/checkpoint/checkpoint.h"
#include "drivers/cuda/checkpoint/st_writer.h"
#include "drivers/cuda/model/mxfp4.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* What the command line asked for. */
typedef struct mk_opts {
    const char *out;       /* output directory (created if absent) */
    const char *tokenizer; /* tokenizer.json to copy, or NULL */
    const char *from;      /* --from: checkpoint to convert, or NULL (random values) */
    fk_checkpoint *src;    /* the opened --from checkpoint */
    fk_gptoss_config cfg;  /* dimensions of the model */
    int mxfp4;             /* 1: MXFP4 experts, 0: BF16 experts */
    int shards;            /* number of shard files */
    int no_index;          /* 1: a single model.safetensors without an index */
    int verify;            /* 1: reopen with fk_checkpoint_open afterwards */
    uint64_t seed;         /* base of every tensor's random stream */
} mk_opts;

/* ---- random data ---------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint16_t to_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    u += 0x7fff + ((u >> 16) & 1); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

#define NORMAL_TABLE 4096
/* bf16 samples of N(0, 0.02) and 1 + N(0, 0.02), drawn once (Box-Muller). */
static uint16_t normal_small[NORMAL_TABLE], normal_one[NORMAL_TABLE];

static void init_tables(uint64_t seed)
{
    uint64_t s = seed ^ 0x5eedULL;
    for (int i = 0; i < NORMAL_TABLE; i += 2) {
        double u1 = ((double)(splitmix64(&s) >> 11) + 1.0) / 9007199254740993.0;
        double u2 = (double)(splitmix64(&s) >> 11) / 9007199254740992.0;
        double r = sqrt(-2.0 * log(u1)), a = 2.0 * M_PI * u2;
        double z[2] = {r * cos(a), r * sin(a)};
        for (int k = 0; k < 2; k++) {
            normal_small[i + k] = to_bf16((float)(0.02 * z[k]));
            normal_one[i + k] = to_bf16((float)(1.0 + 0.02 * z[k]));
        }
    }
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Fill buf (n bytes, n a multiple of the dtype size) with the next values of spec. */
static void fill(const fk_tensor_spec *spec, uint64_t *rng, uint8_t *buf, size_t n)
{
    if (spec->dtype == FK_DT_BF16) {
        const uint16_t *table = ends_with(spec->name, "norm.weight") ? normal_one : normal_small;
        uint16_t *v = (uint16_t *)buf;
        for (size_t i = 0; i < n / 2; i += 4) {
            uint64_t r = splitmix64(rng);
            for (size_t k = 0; k < 4 && i + k < n / 2; k++)
                v[i + k] = table[(r >> (16 * k)) & (NORMAL_TABLE - 1)];
        }
    } else if (ends_with(spec->name, "_scales")) {
        for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)(119 + splitmix64(rng) % 3);
    } else {
        for (size_t i = 0; i < n; i += 8) {
            uint64_t r = splitmix64(rng);
            memcpy(buf + i, &r, n - i < 8 ? n - i : 8);
        }
    }
}

static uint64_t spec_bytes(const fk_tensor_spec *s)
{
    uint64_t n = fk_dtype_size(s->dtype);
    for (int i = 0; i < s->ndim; i++) n *= (uint64_t)s->shape[i];
    return n;
}

/* ---- converting (--from) ---------------------------------------------------------- */

/* A source tensor of the same name, dtype and shape as spec, or NULL. */
static const fk_tensor *same_tensor(const fk_checkpoint *src, const fk_tensor_spec *spec)
{
    const fk_tensor *t = fk_checkpoint_get(src, spec->name);
    if (!t || t->dtype != spec->dtype || t->ndim != spec->ndim) return NULL;
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] != spec->shape[i]) return NULL;
    return t;
}

/* Bytes [at, at + n) of the bf16 expert tensor spec ([E, in, out], x @ W)
 * decoded from the source's MXFP4 pair (blocks [E, out, in/32, 16], scales
 * [E, out, in/32]). 0, or -1 when the source has no such pair. */
static int dequant_experts(const fk_checkpoint *src, const fk_tensor_spec *spec, uint64_t at,
                           uint8_t *buf, size_t n)
{
    char name[128];
    snprintf(name, sizeof name, "%s_blocks", spec->name);
    const fk_tensor *blocks = fk_checkpoint_get(src, name);
    snprintf(name, sizeof name, "%s_scales", spec->name);
    const fk_tensor *scales = fk_checkpoint_get(src, name);
    if (!blocks || !scales || spec->ndim != 3) return -1;
    const int64_t in = spec->shape[1], out = spec->shape[2], nb = in / FK_MXFP4_BLOCK;
    const uint8_t *q = blocks->data, *sc = scales->data;
    uint16_t *v = (uint16_t *)buf;
    for (uint64_t k = 0; k < n / 2; k++) {
        uint64_t idx = at / 2 + k; /* element (e, i, o) of [E, in, out] */
        int64_t o = (int64_t)(idx % (uint64_t)out),
                i = (int64_t)(idx / (uint64_t)out % (uint64_t)in);
        int64_t e = (int64_t)(idx / ((uint64_t)out * (uint64_t)in));
        int64_t blk = (e * out + o) * nb + i / FK_MXFP4_BLOCK, j = i % FK_MXFP4_BLOCK;
        uint8_t byte = q[blk * FK_MXFP4_BLOCK_BYTES + j / 2];
        float x = fk_fp4_f32((j & 1) ? byte >> 4 : byte & 15u) * fk_e8m0_f32(sc[blk]);
        uint32_t u;
        memcpy(&u, &x, 4);
        v[k] = (uint16_t)(u >> 16); /* exact: an MXFP4 value is a bf16 */
    }
    return 0;
}

/* Bytes [at, at + n) of spec taken from the --from checkpoint. 0, or -1 with
 * a message when the source cannot give them (e.g. bf16 -> MXFP4). */
static int fill_from(const fk_checkpoint *src, const fk_tensor_spec *spec, uint64_t at,
                     uint8_t *buf, size_t n)
{
    const fk_tensor *t = same_tensor(src, spec);
    if (t) {
        memcpy(buf, (const uint8_t *)t->data + at, n);
        return 0;
    }
    if (spec->dtype == FK_DT_BF16 && dequant_experts(src, spec, at, buf, n) == 0) return 0;
    fprintf(stderr,
            "fk-mkmodel: the source has no tensor %s of that form (only MXFP4 -> bf16 "
            "and same-form copies convert)\n",
            spec->name);
    return -1;
}

/* ---- files ---------------------------------------------------------------------- */

/* Write specs[0..n) into path, streaming through a chunk buffer. */
static int write_shard(const char *path, const fk_tensor_spec *specs, size_t n, uint64_t seed,
                       const fk_checkpoint *src)
{
    char err[1024];
    fk_st_writer *w = fk_st_writer_open(path, err, sizeof err);
    if (!w) {
        fprintf(stderr, "fk-mkmodel: %s\n", err);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        fk_st_writer_add(w, specs[i].name, specs[i].dtype, specs[i].ndim, specs[i].shape);
    const size_t chunk = (size_t)4 << 20;
    uint8_t *buf = malloc(chunk);
    int rc = buf ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint64_t rng = seed ^ name_hash(specs[i].name), total = spec_bytes(&specs[i]);
        for (uint64_t at = 0; rc == 0 && at < total;) {
            size_t m = total - at < chunk ? (size_t)(total - at) : chunk;
            if (src)
                rc = fill_from(src, &specs[i], at, buf, m);
            else
                fill(&specs[i], &rng, buf, m);
            if (rc == 0) rc = fk_st_writer_write(w, buf, m);
            at += m;
        }
    }
    free(buf);
    if (fk_st_writer_close(w, err, sizeof err)) {
        fprintf(stderr, "fk-mkmodel: %s\n", err);
        return -1;
    }
    return rc;
}

static int dump_json(const char *dir, const char *name, json_t *j)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = json_dump_file(j, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (rc) fprintf(stderr, "fk-mkmodel: cannot write %s\n", path);
    json_decref(j);
    return rc;
}

/* eos / pad ids: the o200k_harmony ones when the vocabulary holds them. */
static json_t *eos_ids(const fk_gptoss_config *c)
{
    if (c->vocab_size > 200012) return json_pack("[iii]", 200002, 199999, 200012);
    return json_pack("[i]", c->vocab_size - 1);
}

/* config.json as gpt-oss-20b writes it (alternating layer types, YaRN), and
 * generation_config.json into *gen. The caller owns both. */
static json_t *config_json(const mk_opts *o, json_t **gen)
{
    const fk_gptoss_config *c = &o->cfg;
    json_t *types = json_array();
    for (int i = 0; i < c->n_layers; i++)
        json_array_append_new(types,
                              json_string(i % 2 == 0 ? "sliding_attention" : "full_attention"));
    int pad = c->vocab_size > 200012 ? 199999 : (c->vocab_size > 1 ? c->vocab_size - 2 : 0);
    json_t *eos = eos_ids(c);
    json_t *cfg = json_pack(
        "{s:[s],s:b,s:O,s:i,s:i,s:i,s:i,s:i,s:o,s:i,s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:f,s:i,s:f,"
        "s:f,s:b,s:i}",
        "architectures", "GptOssForCausalLM", "attention_bias", 1, "eos_token_id",
        json_array_get(eos, 0), "experts_per_token", c->experts_per_token, "num_experts_per_tok",
        c->experts_per_token, "head_dim", c->head_dim, "hidden_size", c->hidden_size,
        "intermediate_size", c->intermediate_size, "layer_types", types, "max_position_embeddings",
        c->max_position_embeddings, "model_type", "gpt_oss", "num_attention_heads", c->n_heads,
        "num_hidden_layers", c->n_layers, "num_key_value_heads", c->n_kv_heads, "num_local_experts",
        c->n_experts, "pad_token_id", pad, "sliding_window", c->sliding_window, "rms_norm_eps",
        c->rms_norm_eps, "rope_theta", (int)c->rope_theta, "swiglu_limit", c->swiglu_limit,
        "swiglu_alpha", c->swiglu_alpha, "tie_word_embeddings", 0, "vocab_size", c->vocab_size);
    json_object_set_new(cfg, "rope_scaling",
                        json_pack("{s:f,s:f,s:f,s:i,s:s,s:b}", "beta_fast", c->rope_beta_fast,
                                  "beta_slow", c->rope_beta_slow, "factor", c->rope_factor,
                                  "original_max_position_embeddings", c->rope_original_max_pos,
                                  "rope_type", "yarn", "truncate", c->rope_truncate));
    if (o->mxfp4)
        json_object_set_new(cfg, "quantization_config",
                            json_pack("{s:[ssss],s:s}", "modules_to_not_convert",
                                      "model.layers.*.self_attn", "model.layers.*.mlp.router",
                                      "model.embed_tokens", "lm_head", "quant_method", "mxfp4"));
    *gen =
        json_pack("{s:i,s:o,s:i}", "bos_token_id", pad, "eos_token_id", eos, "pad_token_id", pad);
    return cfg;
}

/* --from: the source's config.json with quantization_config matching the
 * written experts, and its generation_config.json when it has one. */
static int copy_configs(const mk_opts *o)
{
    char path[4096];
    json_error_t jerr;
    snprintf(path, sizeof path, "%s/config.json", o->from);
    json_t *cfg = json_load_file(path, JSON_PRESERVE_ORDER, &jerr);
    if (!cfg) {
        fprintf(stderr, "fk-mkmodel: %s: %s\n", path, jerr.text);
        return -1;
    }
    json_object_del(cfg, "quantization_config");
    if (o->mxfp4)
        json_object_set_new(cfg, "quantization_config",
                            json_pack("{s:[ssss],s:s}", "modules_to_not_convert",
                                      "model.layers.*.self_attn", "model.layers.*.mlp.router",
                                      "model.embed_tokens", "lm_head", "quant_method", "mxfp4"));
    int rc = dump_json(o->out, "config.json", cfg);
    snprintf(path, sizeof path, "%s/generation_config.json", o->from);
    json_t *gen = json_load_file(path, JSON_PRESERVE_ORDER, &jerr);
    if (rc == 0 && gen) rc = dump_json(o->out, "generation_config.json", gen);
    return rc;
}

static int write_configs(const mk_opts *o)
{
    if (o->from) return copy_configs(o);
    json_t *gen, *cfg = config_json(o, &gen);
    int rc = dump_json(o->out, "config.json", cfg);
    return rc | dump_json(o->out, "generation_config.json", gen);
}

static int copy_file(const char *from, const char *dir, const char *name)
{
    char path[4096], buf[1 << 16];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *in = fopen(from, "rb"), *out = in ? fopen(path, "wb") : NULL;
    int rc = in && out ? 0 : -1;
    size_t n;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) rc = -1;
    if (in && ferror(in)) rc = -1;
    if (out && fclose(out)) rc = -1;
    if (in) fclose(in);
    if (rc) fprintf(stderr, "fk-mkmodel: cannot copy %s to %s: %s\n", from, path, strerror(errno));
    return rc;
}

/* Split specs into o->shards runs of about equal bytes and write them. */
static int write_model(const mk_opts *o, const fk_tensor_spec *specs, size_t n)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) total += spec_bytes(&specs[i]);
    uint64_t target = (total + (uint64_t)o->shards - 1) / (uint64_t)o->shards;
    json_t *map = json_object();
    size_t start = 0;
    int rc = 0;
    for (int s = 0; rc == 0 && s < o->shards; s++) {
        size_t end = start;
        uint64_t bytes = 0;
        /* the last shard takes the rest; the others leave at least one tensor per later shard */
        while (end < n &&
               (s == o->shards - 1 || (bytes < target && n - end > (size_t)(o->shards - 1 - s))))
            bytes += spec_bytes(&specs[end++]);
        char name[64], path[4096];
        if (o->no_index)
            snprintf(name, sizeof name, "model.safetensors");
        else
            snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, o->shards);
        snprintf(path, sizeof path, "%s/%s", o->out, name);
        rc = write_shard(path, specs + start, end - start, o->seed, o->src);
        for (size_t i = start; i < end; i++)
            json_object_set_new(map, specs[i].name, json_string(name));
        start = end;
    }
    if (rc == 0 && !o->no_index)
        rc = dump_json(o->out, "model.safetensors.index.json",
                       json_pack("{s:{s:I},s:O}", "metadata", "total_size", (json_int_t)total,
                                 "weight_map", map));
    json_decref(map);
    return rc;
}

/* ---- command line --------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: fk-mkmodel --out DIR [--preset 20b] [--hidden N] [--layers N] [--heads N]\n"
          "         [--kv-heads N] [--head-dim N] [--intermediate N] [--experts N] [--top-k N]\n"
          "         [--vocab N] [--sliding-window N] [--experts-form mxfp4|bf16] [--shards N]\n"
          "         [--no-index] [--seed N] [--tokenizer PATH] [--verify]\n"
          "       fk-mkmodel --out DIR --from SRC [--experts-form mxfp4|bf16] [--shards N]\n"
          "         [--no-index] [--tokenizer PATH] [--verify]\n"
          "Writes a gpt-oss checkpoint with random weights of the given dimensions\n"
          "(small defaults; --preset 20b: gpt-oss-20b's), or with --from a copy of SRC\n"
          "with its experts converted to --experts-form (MXFP4 -> bf16 is exact).\n"
          "\n"
          "  --out DIR            the folder to write (created)\n"
          "  --preset 20b         gpt-oss-20b's dimensions (the options below override)\n"
          "  --hidden N           hidden size                       [64]\n"
          "  --layers N           layers                            [2]\n"
          "  --heads N            attention heads                   [4]\n"
          "  --kv-heads N         key/value heads                   [2]\n"
          "  --head-dim N         head dimension                    [16]\n"
          "  --intermediate N     expert intermediate size          [64]\n"
          "  --experts N          experts per layer                 [4]\n"
          "  --top-k N            experts per token                 [2]\n"
          "  --vocab N            vocabulary size                   [1024]\n"
          "                       fk-gateway serves a model only when its vocabulary\n"
          "                       covers the tokenizer's: --vocab 201088 for the bundled\n"
          "                       o200k_harmony, or --tokenizer with a smaller one\n"
          "  --sliding-window N   sliding attention window          [128]\n"
          "  --experts-form F     mxfp4 (as gpt-oss ships) or bf16  [mxfp4]\n"
          "  --shards N           safetensors shards                [1]\n"
          "  --no-index           one model.safetensors, no index file\n"
          "  --seed N             random seed (values depend on it and the tensor name) [1]\n"
          "  --tokenizer PATH     copy this tokenizer.json into DIR\n"
          "  --verify             reopen the result with the engine's loader\n"
          "  --from SRC           convert SRC instead of drawing random weights\n"
          "  --help               this text\n",
          f);
}

/* Small defaults, then the 20b dimensions when --preset 20b appears anywhere. */
static void defaults(mk_opts *o, int preset_20b)
{
    fk_gptoss_config *c = &o->cfg;
    memset(o, 0, sizeof *o);
    *c = (fk_gptoss_config){.hidden_size = 64,
                            .n_layers = 2,
                            .n_heads = 4,
                            .n_kv_heads = 2,
                            .head_dim = 16,
                            .intermediate_size = 64,
                            .n_experts = 4,
                            .experts_per_token = 2,
                            .sliding_window = 128,
                            .vocab_size = 1024};
    if (preset_20b)
        *c = (fk_gptoss_config){.hidden_size = 2880,
                                .n_layers = 24,
                                .n_heads = 64,
                                .n_kv_heads = 8,
                                .head_dim = 64,
                                .intermediate_size = 2880,
                                .n_experts = 32,
                                .experts_per_token = 4,
                                .sliding_window = 128,
                                .vocab_size = 201088};
    c->max_position_embeddings = 131072;
    c->rope_theta = 150000;
    c->rms_norm_eps = 1e-5;
    c->swiglu_limit = 7.0;
    c->swiglu_alpha = 1.702;
    c->rope_factor = 32;
    c->rope_beta_fast = 32;
    c->rope_beta_slow = 1;
    c->rope_original_max_pos = 4096;
    o->mxfp4 = 1;
    o->shards = 1;
    o->seed = 1;
}

static int parse_int(const char *s, const char *flag, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "fk-mkmodel: %s expects an integer in [%ld, %ld], got \"%s\"\n", flag, lo,
                hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

enum { OPT_PRESET = 256, OPT_NOINDEX, OPT_FORM, OPT_SEED, OPT_TOK, OPT_VERIFY, OPT_FROM, OPT_DIM };

static const struct option long_opts[] = {
    {"out", required_argument, 0, 'o'},
    {"preset", required_argument, 0, OPT_PRESET},
    {"experts-form", required_argument, 0, OPT_FORM},
    {"shards", required_argument, 0, 's'},
    {"no-index", no_argument, 0, OPT_NOINDEX},
    {"seed", required_argument, 0, OPT_SEED},
    {"tokenizer", required_argument, 0, OPT_TOK},
    {"verify", no_argument, 0, OPT_VERIFY},
    {"from", required_argument, 0, OPT_FROM},
    {"help", no_argument, 0, 'h'},
    /* dimensions: OPT_DIM + position in dim_fields */
    {"hidden", required_argument, 0, OPT_DIM + 0},
    {"layers", required_argument, 0, OPT_DIM + 1},
    {"heads", required_argument, 0, OPT_DIM + 2},
    {"kv-heads", required_argument, 0, OPT_DIM + 3},
    {"head-dim", required_argument, 0, OPT_DIM + 4},
    {"intermediate", required_argument, 0, OPT_DIM + 5},
    {"experts", required_argument, 0, OPT_DIM + 6},
    {"top-k", required_argument, 0, OPT_DIM + 7},
    {"vocab", required_argument, 0, OPT_DIM + 8},
    {"sliding-window", required_argument, 0, OPT_DIM + 9},
    {0, 0, 0, 0},
};

static int *dim_field(fk_gptoss_config *c, int i)
{
    int *fields[] = {&c->hidden_size, &c->n_layers,          &c->n_heads,   &c->n_kv_heads,
                     &c->head_dim,    &c->intermediate_size, &c->n_experts, &c->experts_per_token,
                     &c->vocab_size,  &c->sliding_window};
    return fields[i];
}

static int parse_args(int argc, char **argv, mk_opts *o)
{
    int preset = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--preset=20b") == 0 ||
            (strcmp(a, "--preset") == 0 && i + 1 < argc && strcmp(argv[i + 1], "20b") == 0))
            preset = 1;
    }
    defaults(o, preset);
    int opt;
    while ((opt = getopt_long(argc, argv, "o:s:h", long_opts, NULL)) != -1) {
        if (opt >= OPT_DIM && opt < OPT_DIM + 10) {
            char flag[40];
            snprintf(flag, sizeof flag, "--%s", long_opts[opt - OPT_DIM + 10].name);
            if (parse_int(optarg, flag, 1, 1 << 24, dim_field(&o->cfg, opt - OPT_DIM))) return -1;
            continue;
        }
        switch (opt) {
        case 'o':
            o->out = optarg;
            break;
        case 's':
            if (parse_int(optarg, "--shards", 1, 9999, &o->shards)) return -1;
            break;
        case OPT_PRESET:
            if (strcmp(optarg, "20b") != 0) {
                fprintf(stderr, "fk-mkmodel: unknown preset \"%s\" (only 20b)\n", optarg);
                return -1;
            }
            break;
        case OPT_FORM:
            if (strcmp(optarg, "mxfp4") && strcmp(optarg, "bf16")) {
                fprintf(stderr, "fk-mkmodel: --experts-form expects mxfp4 or bf16\n");
                return -1;
            }
            o->mxfp4 = strcmp(optarg, "mxfp4") == 0;
            break;
        case OPT_NOINDEX:
            o->no_index = 1;
            break;
        case OPT_SEED: {
            char *end;
            errno = 0;
            o->seed = strtoull(optarg, &end, 0);
            if (errno || *end || end == optarg) {
                fprintf(stderr, "fk-mkmodel: --seed expects an integer, got \"%s\"\n", optarg);
                return -1;
            }
            break;
        }
        case OPT_TOK:
            o->tokenizer = optarg;
            break;
        case OPT_VERIFY:
            o->verify = 1;
            break;
        case OPT_FROM:
            o->from = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (!o->out || optind != argc) {
        usage(stderr);
        return -1;
    }
    if (o->no_index && o->shards != 1) {
        fprintf(stderr, "fk-mkmodel: --no-index needs --shards 1\n");
        return -1;
    }
    return 0;
}

/* The options must describe a model the loader accepts: run the config that
 * would be written through the loader's own parser before writing anything. */
static int check_config(const mk_opts *o)
{
    json_t *gen, *cfg = config_json(o, &gen);
    char *text = json_dumps(cfg, JSON_COMPACT), err[512];
    json_decref(cfg);
    json_decref(gen);
    fk_gptoss_config parsed;
    int rc = text ? fk_config_parse(text, strlen(text), &parsed, err, sizeof err) : -1;
    if (rc) fprintf(stderr, "fk-mkmodel: not a valid model: %s\n", text ? err : "out of memory");
    free(text);
    return rc;
}

static int verify(const char *dir)
{
    char err[8192];
    fk_checkpoint *ck = fk_checkpoint_open(dir, err, sizeof err);
    if (!ck) {
        fprintf(stderr, "fk-mkmodel: verify failed:\n%s\n", err);
        return -1;
    }
    printf("verified %s: %zu tensors, %llu bytes, experts %s\n", dir, fk_checkpoint_count(ck),
           (unsigned long long)fk_checkpoint_bytes(ck),
           fk_checkpoint_config(ck)->experts_mxfp4 ? "mxfp4" : "bf16");
    fk_checkpoint_close(ck);
    return 0;
}

/* --from: open SRC and take its dimensions. 0, or -1 with a message. */
static int open_source(mk_opts *o)
{
    char err[8192];
    o->src = fk_checkpoint_open(o->from, err, sizeof err);
    if (!o->src) {
        fprintf(stderr, "fk-mkmodel: --from %s:\n%s\n", o->from, err);
        return -1;
    }
    o->cfg = *fk_checkpoint_config(o->src);
    return 0;
}

int main(int argc, char **argv)
{
    mk_opts o;
    if (parse_args(argc, argv, &o)) return 2;
    if (o.from ? open_source(&o) : check_config(&o)) return 2;
    if (mkdir(o.out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "fk-mkmodel: cannot create %s: %s\n", o.out, strerror(errno));
        return 1;
    }
    size_t n = fk_gptoss_tensor_specs(&o.cfg, o.mxfp4, NULL, 0);
    if ((size_t)o.shards > n) {
        fprintf(stderr, "fk-mkmodel: --shards %d exceeds the %zu tensors\n", o.shards, n);
        return 2;
    }
    fk_tensor_spec *specs = malloc(n * sizeof *specs);
    if (!specs) return 1;
    fk_gptoss_tensor_specs(&o.cfg, o.mxfp4, specs, n);
    init_tables(o.seed);
    int rc = write_configs(&o);
    if (rc == 0) rc = write_model(&o, specs, n);
    if (rc == 0 && o.tokenizer) rc = copy_file(o.tokenizer, o.out, "tokenizer.json");
    free(specs);
    if (o.src) fk_checkpoint_close(o.src);
    if (rc == 0 && o.verify) rc = verify(o.out);
    return rc ? 1 : 0;
}
