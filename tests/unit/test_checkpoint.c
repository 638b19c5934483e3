/* test_checkpoint.c: the loader on the two tiny fixture checkpoints, on
 * handmade broken checkpoints (every problem reported, by file and tensor),
 * and on fk-mkmodel output (both expert forms, sharded and single-file). */
#include "drivers/cuda/checkpoint/checkpoint.h"
#include "drivers/cuda/checkpoint/st_writer.h"
#include "tests/tap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ---- handmade checkpoints ----------------------------------------------------- */

static char root[] = "/tmp/fk-test-ck-XXXXXX";

/* A small valid config: H 32, 2 layers, 2 heads of 16 over 1 kv head, 2 experts of 32. */
static const char *SMALL_CONFIG =
    "{\"hidden_size\":32,\"num_hidden_layers\":2,\"num_attention_heads\":2,"
    "\"num_key_value_heads\":1,\"head_dim\":16,\"intermediate_size\":32,"
    "\"num_local_experts\":2,\"num_experts_per_tok\":1,\"sliding_window\":4,"
    "\"vocab_size\":64,\"max_position_embeddings\":256,\"rope_theta\":150000,"
    "\"eos_token_id\":3}";

static void put_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, len, f);
    fclose(f);
}

/* A fresh directory root/name holding config.json (text). Returns its path (static). */
static const char *new_dir(const char *name, const char *config)
{
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    mkdir(dir, 0777);
    put_file(dir, "config.json", config, strlen(config));
    return dir;
}

/* The tensor list of SMALL_CONFIG with MXFP4 experts; *n receives the count. */
static fk_tensor_spec *small_specs(size_t *n)
{
    fk_gptoss_config c;
    char err[256];
    if (fk_config_parse(SMALL_CONFIG, strlen(SMALL_CONFIG), &c, err, sizeof err)) return NULL;
    *n = fk_gptoss_tensor_specs(&c, 1, NULL, 0);
    fk_tensor_spec *s = calloc(*n, sizeof *s);
    fk_gptoss_tensor_specs(&c, 1, s, *n);
    return s;
}

/* Write specs (entries with an empty name skipped) as one zero-filled shard,
 * and an index listing them plus extra_name -> extra_file when given. */
static void write_checkpoint(const char *dir, const fk_tensor_spec *s, size_t n,
                             const char *extra_name, const char *extra_file)
{
    const char *shard = "model-00001-of-00001.safetensors";
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, shard);
    fk_st_writer *w = fk_st_writer_open(path, err, sizeof err);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!s[i].name[0]) continue;
        fk_st_writer_add(w, s[i].name, s[i].dtype, s[i].ndim, s[i].shape);
        size_t b = fk_dtype_size(s[i].dtype);
        for (int d = 0; d < s[i].ndim; d++) b *= (size_t)s[i].shape[d];
        total += b;
    }
    uint8_t *zeros = calloc(1, total ? total : 1);
    fk_st_writer_write(w, zeros, total);
    free(zeros);
    if (fk_st_writer_close(w, err, sizeof err)) diag("writer: %s", err);
    size_t cap = 160 * n + 512, used = 0;
    char *idx = malloc(cap);
    used += (size_t)snprintf(idx, cap, "{\"metadata\":{},\"weight_map\":{");
    const char *sep = "";
    for (size_t i = 0; i < n; i++) {
        if (!s[i].name[0]) continue;
        used += (size_t)snprintf(idx + used, cap - used, "%s\"%s\":\"%s\"", sep, s[i].name, shard);
        sep = ",";
    }
    if (extra_name)
        used += (size_t)snprintf(idx + used, cap - used, ",\"%s\":\"%s\"", extra_name, extra_file);
    snprintf(idx + used, cap - used, "}}");
    put_file(dir, "model.safetensors.index.json", idx, strlen(idx));
    free(idx);
}

static fk_tensor_spec *find_spec(fk_tensor_spec *s, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s[i].name, name) == 0) return &s[i];
    return NULL;
}

/* Open dir expecting failure; returns the error text (static). */
static const char *open_error(const char *dir)
{
    static char err[8192];
    err[0] = '\0';
    fk_checkpoint *ck = fk_checkpoint_open(dir, err, sizeof err);
    if (ck) {
        fk_checkpoint_close(ck);
        return "(opened)";
    }
    return err;
}

static void expect_in(const char *err, const char *substr, const char *what)
{
    if (!ok(strstr(err, substr) != NULL, "%s: \"%s\"", what, substr)) diag("got: %s", err);
}

/* The table reproduces the 20b release: 459 tensors, 13,761,264,768 bytes. */
static void test_20b_table(void)
{
    char path[4096], err[512] = "";
    fk_gptoss_config c;
    snprintf(path, sizeof path, "%s/models/tiny-gptoss-mxfp4", fixtures());
    if (fk_config_load(path, &c, err, sizeof err)) diag("%s", err);
    c.hidden_size = 2880;
    c.n_layers = 24;
    c.n_heads = 64;
    c.n_kv_heads = 8;
    c.head_dim = 64;
    c.intermediate_size = 2880;
    c.n_experts = 32;
    c.experts_per_token = 4;
    size_t n = fk_gptoss_tensor_specs(&c, 1, NULL, 0);
    is_int((long long)n, 459, "20b dims: 459 tensors");
    fk_tensor_spec *s = calloc(n, sizeof *s);
    fk_gptoss_tensor_specs(&c, 1, s, n);
    unsigned long long total = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned long long b = fk_dtype_size(s[i].dtype);
        for (int d = 0; d < s[i].ndim; d++) b *= (unsigned long long)s[i].shape[d];
        total += b;
    }
    is_int((long long)total, 13761264768LL, "20b dims: 13,761,264,768 bytes");
    ok(fk_gptoss_tensor_specs(&c, 1, s, 3) == 459 &&
           strcmp(s[2].name, "model.layers.0.self_attn.q_proj.weight") == 0,
       "short buffer: count still returned, first entries filled");
    free(s);
}

static void test_handmade_good(void)
{
    size_t n;
    fk_tensor_spec *s = small_specs(&n);
    is_int((long long)n, 3 + 2 * 19, "small model lists 41 tensors");
    const char *dir = new_dir("good", SMALL_CONFIG);
    write_checkpoint(dir, s, n, NULL, NULL);
    char err[4096] = "";
    fk_checkpoint *ck = fk_checkpoint_open(dir, err, sizeof err);
    if (!ok(ck != NULL, "handmade checkpoint opens")) diag("%s", err);
    if (ck) {
        is_int((long long)fk_checkpoint_count(ck), (long long)n, "all tensors present");
        ok(strstr(fk_checkpoint_tensor_file(ck, "lm_head.weight"), "model-00001-of-00001") != NULL,
           "tensor file reported");
        fk_checkpoint_close(ck);
    }
    free(s);
}

static void test_many_problems(void)
{
    size_t n;
    fk_tensor_spec *s = small_specs(&n);
    find_spec(s, n, "model.layers.1.self_attn.q_proj.weight")->shape[1] = 33;
    find_spec(s, n, "model.layers.0.mlp.router.weight")->dtype = FK_DT_F32;
    find_spec(s, n, "model.layers.1.mlp.router.bias")->name[0] = '\0';
    find_spec(s, n, "model.layers.0.self_attn.sinks")->name[0] = '\0';
    find_spec(s, n, "lm_head.weight")->name[0] = '\0';
    const char *dir = new_dir("many", SMALL_CONFIG);
    write_checkpoint(dir, s, n, NULL, NULL);
    const char *err = open_error(dir);
    expect_in(err,
              "model-00001-of-00001.safetensors: model.layers.1.self_attn.q_proj.weight: shape "
              "[32,33] expected [32,32]",
              "wrong shape");
    expect_in(err,
              "model-00001-of-00001.safetensors: model.layers.0.mlp.router.weight: dtype F32 "
              "expected BF16",
              "wrong dtype");
    expect_in(err, "missing tensor model.layers.1.mlp.router.bias (expected BF16 [2])",
              "missing router bias");
    expect_in(err, "missing tensor model.layers.0.self_attn.sinks (expected BF16 [2])",
              "missing sinks");
    expect_in(err, "missing tensor lm_head.weight (expected BF16 [64,32])", "missing lm_head");
    int lines = 1;
    for (const char *p = err; *p; p++) lines += *p == '\n';
    is_int(lines, 5, "five problems, one per line");
    free(s);
}

static void test_index_problems(void)
{
    size_t n;
    fk_tensor_spec *s = small_specs(&n);
    const char *dir = new_dir("index-extra", SMALL_CONFIG);
    write_checkpoint(dir, s, n, "model.layers.0.mlp.extra", "model-00001-of-00001.safetensors");
    expect_in(open_error(dir),
              "model-00001-of-00001.safetensors: model.layers.0.mlp.extra: listed in "
              "model.safetensors.index.json but not in the shard",
              "index entry missing from its shard");
    dir = new_dir("index-noshard", SMALL_CONFIG);
    write_checkpoint(dir, s, n, "x", "model-00009-of-00009.safetensors");
    expect_in(open_error(dir), "model-00009-of-00009.safetensors: cannot open",
              "index names a missing shard");
    dir = new_dir("index-escape", SMALL_CONFIG);
    write_checkpoint(dir, s, n, "y", "../evil.safetensors");
    expect_in(open_error(dir), "shard \"../evil.safetensors\" is not a plain file name",
              "shard path outside the directory");
    dir = new_dir("index-badjson", SMALL_CONFIG);
    write_checkpoint(dir, s, n, NULL, NULL);
    put_file(dir, "model.safetensors.index.json", "{\"weight_map\":", 14);
    expect_in(open_error(dir), "model.safetensors.index.json: not valid JSON", "bad index JSON");
    dir = new_dir("empty", SMALL_CONFIG);
    expect_in(open_error(dir), "neither model.safetensors.index.json nor model.safetensors",
              "no weights at all");
    dir = new_dir("badconfig", "{\"hidden_size\":32,");
    expect_in(open_error(dir), "config.json: not valid JSON", "bad config JSON");
    free(s);
}

static void test_truncated_shard(void)
{
    size_t n;
    fk_tensor_spec *s = small_specs(&n);
    const char *dir = new_dir("truncated", SMALL_CONFIG);
    write_checkpoint(dir, s, n, NULL, NULL);
    char path[512];
    snprintf(path, sizeof path, "%s/model-00001-of-00001.safetensors", dir);
    struct stat st;
    stat(path, &st);
    require(truncate(path, st.st_size - 100) == 0, "the test's shard is cut by 100 bytes");
    const char *err = open_error(dir);
    expect_in(err, "model-00001-of-00001.safetensors: ", "truncated: file named");
    expect_in(err, "outside the data section", "truncated: offsets past the data");
    free(s);
}

/* A single model.safetensors made of a raw header and zero data. A header
 * whose hlen is its own length is padded with spaces to a multiple of 8
 * unless unaligned is set. */
static const char *raw_single(const char *name, uint64_t hlen, const char *header, size_t data,
                              int unaligned)
{
    const char *dir = new_dir(name, SMALL_CONFIG);
    size_t h = strlen(header);
    size_t padded = hlen == h && !unaligned ? (h + 7) & ~(size_t)7 : h;
    if (hlen == h) hlen = padded;
    size_t len = 8 + padded + data;
    uint8_t *b = calloc(1, len);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(hlen >> (8 * i));
    memcpy(b + 8, header, h);
    memset(b + 8 + h, ' ', padded - h);
    put_file(dir, "model.safetensors", b, len);
    free(b);
    return dir;
}

static void test_broken_single_files(void)
{
    const char *dir = raw_single("hdr-past", 1000000, "{}", 0, 0);
    expect_in(open_error(dir),
              "model.safetensors: header length 1000000 runs past the end of the file",
              "header length past the end");
    dir = raw_single("hdr-json", 5, "{\"a\":", 0, 0);
    expect_in(open_error(dir), "model.safetensors: header is not valid JSON", "bad header JSON");
    const char *h = "{\"model.norm.weight\":{\"dtype\":\"BF17\",\"shape\":[32],"
                    "\"data_offsets\":[0,64]}}";
    dir = raw_single("dtype", strlen(h), h, 64, 0);
    expect_in(open_error(dir), "model.safetensors: model.norm.weight: unknown dtype \"BF17\"",
              "unknown dtype");
    h = "{\"model.norm.weight\":{\"dtype\":\"BF16\",\"shape\":[32],\"data_offsets\":[0,60]}}";
    dir = raw_single("numel", strlen(h), h, 64, 0);
    expect_in(open_error(dir),
              "model.norm.weight: BF16 [32] needs 64 bytes but data_offsets "
              "[0,60] hold 60",
              "numel/size mismatch");
    h = "{\"a\":{\"dtype\":\"BF16\",\"shape\":[32],\"data_offsets\":[0,64]},"
        "\"b\":{\"dtype\":\"BF16\",\"shape\":[32],\"data_offsets\":[32,96]}}";
    dir = raw_single("overlap", strlen(h), h, 96, 0);
    expect_in(open_error(dir), "tensors a [0,64] and b [32,96] overlap", "overlapping tensors");
    h = "{\"model.norm.weight\":{\"dtype\":\"BF16\",\"shape\":[32],\"data_offsets\":[0,64]}}";
    dir = raw_single("partial", strlen(h), h, 64, 0);
    const char *err = open_error(dir);
    expect_in(err, "missing tensor model.embed_tokens.weight (expected BF16 [64,32])",
              "single file: missing tensors listed");
    if (!ok(strstr(err, "model.norm.weight") == NULL, "single file: present tensor not listed"))
        diag("got: %s", err);
    dir = raw_single("unaligned", strlen(h), h, 64, 1);
    expect_in(open_error(dir),
              "model.norm.weight: data at file offset 81 is not aligned to 2 bytes",
              "unaligned BF16 data");
}

/* ---- fk-mkmodel round trips --------------------------------------------------- */

static int run_mkmodel(const char *args)
{
    const char *b = getenv("FK_TOP_BUILDDIR");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s/drivers/cuda/tools/fk-mkmodel' %s >/dev/null 2>&1", b ? b : ".",
             args);
    return system(cmd);
}

static void check_made(const char *dir, int mxfp4, int shards)
{
    char err[8192] = "";
    fk_checkpoint *ck = fk_checkpoint_open(dir, err, sizeof err);
    if (!ok(ck != NULL, "fk-mkmodel %s x%d opens", mxfp4 ? "mxfp4" : "bf16", shards)) {
        diag("%s", err);
        return;
    }
    const fk_gptoss_config *c = fk_checkpoint_config(ck);
    ok(c->hidden_size == 64 && c->n_layers == 3 && c->n_heads == 4 && c->n_kv_heads == 2 &&
           c->intermediate_size == 32 && c->n_experts == 4 && c->experts_per_token == 2 &&
           c->vocab_size == 512 && c->rope_yarn && !c->rope_truncate,
       "made config round-trips");
    is_int(c->experts_mxfp4, mxfp4, "expert form detected");
    is_int((long long)fk_checkpoint_count(ck), 3 + 3 * (mxfp4 ? 19 : 17), "tensor count");
    const fk_tensor *q = fk_checkpoint_get(ck, "model.layers.2.self_attn.q_proj.weight");
    ok(SHAPE_IS(q, 64, 64), "q_proj [64,64]");
    int finite = 1;
    const uint16_t *v = q->data;
    for (size_t i = 0; i < q->nbytes / 2; i++) finite &= ((v[i] >> 7) & 0xff) < 0x7f; /* |x| < 1 */
    ok(finite, "bf16 weights small and finite");
    if (mxfp4) {
        const fk_tensor *sc = fk_checkpoint_get(ck, "model.layers.1.mlp.experts.down_proj_scales");
        ok(SHAPE_IS(sc, 4, 64, 1), "down scales [4,64,1]");
        int near = 1;
        for (size_t i = 0; i < sc->nbytes; i++)
            near &= ((const uint8_t *)sc->data)[i] >= 119 && ((const uint8_t *)sc->data)[i] <= 121;
        ok(near, "scales near 2^-7");
    } else {
        ok(SHAPE_IS(fk_checkpoint_get(ck, "model.layers.0.mlp.experts.gate_up_proj"), 4, 64, 64),
           "bf16 gate_up_proj [4,64,64]");
    }
    fk_checkpoint_close(ck);
}

static void test_mkmodel(void)
{
    const char *dims = "--hidden 64 --layers 3 --heads 4 --kv-heads 2 --head-dim 16 "
                       "--intermediate 32 --experts 4 --top-k 2 --vocab 512 --seed 7";
    char args[2048], d1[512], d2[512], d3[512];
    snprintf(d1, sizeof d1, "%s/mk-mxfp4", root);
    snprintf(d2, sizeof d2, "%s/mk-bf16", root);
    snprintf(d3, sizeof d3, "%s/mk-single", root);
    snprintf(args, sizeof args, "--out %s %s --experts-form mxfp4 --shards 3 --verify", d1, dims);
    is_int(run_mkmodel(args), 0, "fk-mkmodel mxfp4, 3 shards");
    check_made(d1, 1, 3);
    snprintf(args, sizeof args, "--out %s/model-00003-of-00003.safetensors", d1);
    struct stat st;
    ok(stat(args + 6, &st) == 0, "third shard written");
    snprintf(args, sizeof args, "--out %s %s --experts-form bf16 --shards 2", d2, dims);
    is_int(run_mkmodel(args), 0, "fk-mkmodel bf16, 2 shards");
    check_made(d2, 0, 2);
    snprintf(args, sizeof args, "--out %s %s --no-index", d3, dims);
    is_int(run_mkmodel(args), 0, "fk-mkmodel single model.safetensors");
    check_made(d3, 1, 1);
    /* the same seed gives the same tensor whatever the sharding */
    char err[4096];
    fk_checkpoint *a = fk_checkpoint_open(d1, err, sizeof err);
    fk_checkpoint *b = fk_checkpoint_open(d3, err, sizeof err);
    if (a && b) {
        const char *nm = "model.layers.1.mlp.experts.gate_up_proj_blocks";
        const fk_tensor *x = fk_checkpoint_get(a, nm), *y = fk_checkpoint_get(b, nm);
        ok(x->nbytes == y->nbytes && memcmp(x->data, y->data, x->nbytes) == 0,
           "tensor data independent of sharding");
    }
    fk_checkpoint_close(a);
    fk_checkpoint_close(b);
    /* --preset 20b gives the 20b shapes; later flags shrink it to a test size */
    char d4[512], tok[512], copy[1100];
    snprintf(d4, sizeof d4, "%s/mk-preset", root);
    snprintf(tok, sizeof tok, "%s/models/tiny-gptoss-mxfp4/generation_config.json", fixtures());
    snprintf(args, sizeof args,
             "--out %s --preset 20b --layers 1 --vocab 256 --experts 2 --top-k 1 "
             "--intermediate 64 --tokenizer %s",
             d4, tok);
    is_int(run_mkmodel(args), 0, "fk-mkmodel --preset 20b with overrides");
    fk_checkpoint *p = fk_checkpoint_open(d4, err, sizeof err);
    if (ok(p != NULL, "preset model opens")) {
        const fk_gptoss_config *c = fk_checkpoint_config(p);
        ok(c->hidden_size == 2880 && c->n_heads == 64 && c->n_kv_heads == 8 && c->head_dim == 64 &&
               c->sliding_window == 128 && c->n_layers == 1 && c->n_experts == 2 &&
               c->layer_sliding[0],
           "preset dims with overrides");
        ok(SHAPE_IS(fk_checkpoint_get(p, "model.layers.0.self_attn.k_proj.weight"), 512, 2880),
           "preset k_proj [512,2880]");
        fk_checkpoint_close(p);
    } else {
        diag("%s", err);
    }
    snprintf(copy, sizeof copy, "cmp -s '%s' '%s/tokenizer.json'", tok, d4);
    is_int(system(copy), 0, "--tokenizer copied byte for byte");
    snprintf(args, sizeof args, "--out %s/mk-bad --hidden 48", root);
    ok(run_mkmodel(args) != 0, "fk-mkmodel refuses MXFP4 with hidden 48");
}

/* --from: the bf16 form of an MXFP4 checkpoint keeps every other tensor byte
 * for byte and holds the experts transposed to x @ W; bf16 -> MXFP4 is refused
 * (it would round). The goldens check the converted values themselves. */
static void test_mkmodel_from(void)
{
    char args[2048], src[512], dst[512], back[512], err[4096];
    snprintf(src, sizeof src, "%s/mk-mxfp4", root);
    snprintf(dst, sizeof dst, "%s/mk-from-bf16", root);
    snprintf(back, sizeof back, "%s/mk-from-mxfp4", root);
    snprintf(args, sizeof args, "--out %s --from %s --experts-form bf16 --verify", dst, src);
    is_int(run_mkmodel(args), 0, "fk-mkmodel --from MXFP4 to bf16");
    fk_checkpoint *a = fk_checkpoint_open(src, err, sizeof err);
    fk_checkpoint *b = fk_checkpoint_open(dst, err, sizeof err);
    if (!ok(a && b, "both open")) {
        diag("%s", err);
    } else {
        size_t same = 0, kept = 0;
        for (size_t i = 0; i < fk_checkpoint_count(a); i++) {
            const fk_tensor *x = fk_checkpoint_tensor(a, i), *y = fk_checkpoint_get(b, x->name);
            if (strstr(x->name, "_blocks") || strstr(x->name, "_scales")) continue;
            kept++;
            same += y && y->nbytes == x->nbytes && memcmp(x->data, y->data, x->nbytes) == 0;
        }
        ok(kept > 0 && same == kept, "every non-expert tensor copied byte for byte (%zu of %zu)",
           same, kept);
        const fk_tensor *gu = fk_checkpoint_get(b, "model.layers.2.mlp.experts.gate_up_proj");
        ok(SHAPE_IS(gu, 4, 64, 64) && gu->dtype == FK_DT_BF16, "experts written as bf16 [E,H,2I]");
        is_int(fk_checkpoint_config(b)->experts_mxfp4, 0, "the copy reads as bf16");
    }
    fk_checkpoint_close(a);
    fk_checkpoint_close(b);
    snprintf(args, sizeof args, "--out %s --from %s --experts-form mxfp4", back, dst);
    ok(run_mkmodel(args) != 0, "fk-mkmodel --from bf16 to MXFP4 is refused");
}

int main(void)
{
    test_fixture_mxfp4();
    test_fixture_bf16();
    test_20b_table();
    if (!mkdtemp(root)) return 1;
    test_handmade_good();
    test_many_problems();
    test_index_problems();
    test_truncated_shard();
    test_broken_single_files();
    test_mkmodel();
    test_mkmodel_from();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) diag("could not remove %s", root);
    return done_testing();
}
