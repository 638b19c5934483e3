/* test_gguf: fk-gguf's output read back with a GGUF reader of this test's own
 * and compared value by value with the checkpoint it came from.
 *
 * Both tiny fixture checkpoints (MXFP4 and bf16 experts, --outtype bf16 and
 * f32): the header, the gpt-oss metadata and vocabulary llama.cpp reads,
 * every tensor's name, type, dims and aligned offset, and the data: copied
 * and widened matrices, the router and biases, gate/up split from their
 * interleaved rows or columns, bf16 experts transposed, and MXFP4 blocks
 * dequantized GGML's way (element j low and j+16 high, scale/2 with doubled
 * codes) equal to the checkpoint's dequantized Hugging Face way (element 2k
 * low, 2k+1 high). Then a reduced-vocabulary checkpoint, and bad inputs: each
 * gets exit status 2 and a message naming the problem, and no output file. */
#include "drivers/cuda/checkpoint/checkpoint.h"
#include "tests/tap.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *builddir, *fixtures;
static char tmp[256];

/* ---- a GGUF reader (only what the checks need) ------------------------------------------ */

/* One metadata entry: where its value starts in the file image. */
typedef struct kv {
    char key[128];      /* NUL-terminated key */
    uint32_t type;      /* GGUF value type */
    const uint8_t *val; /* the value's encoding */
} kv;

/* One tensor info. */
typedef struct tinfo {
    char name[96];       /* NUL-terminated */
    uint32_t ndim;       /* 1..4 */
    uint64_t ne[4];      /* dims, innermost first */
    uint32_t type;       /* GGML type */
    uint64_t offset;     /* into the data section */
    const uint8_t *data; /* the tensor's bytes */
} tinfo;

typedef struct gguf {
    uint8_t *buf; /* the whole file */
    size_t len;   /* its length */
    uint32_t version;
    kv *kvs; /* (n_kv) */
    uint64_t n_kv;
    tinfo *tensors; /* (n_tensors) */
    uint64_t n_tensors;
    size_t data_at; /* start of the data section */
} gguf;

static uint32_t u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t u64(const uint8_t *p)
{
    return (uint64_t)u32(p) | (uint64_t)u32(p + 4) << 32;
}

/* Bytes of a value of the given type at p (arrays included). */
static size_t value_size(uint32_t type, const uint8_t *p)
{
    static const size_t scalar[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == 8) return 8 + u64(p);
    if (type == 9) {
        uint32_t et = u32(p);
        uint64_t n = u64(p + 4);
        size_t at = 12;
        for (uint64_t i = 0; i < n; i++) at += value_size(et, p + at);
        return at;
    }
    return type < 13 ? scalar[type] : 0;
}

static int gguf_read(const char *path, gguf *g)
{
    memset(g, 0, sizeof *g);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    g->len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    g->buf = malloc(g->len);
    size_t got = g->buf ? fread(g->buf, 1, g->len, f) : 0;
    fclose(f);
    if (got != g->len || g->len < 24 || memcmp(g->buf, "GGUF", 4) != 0) return -1;
    g->version = u32(g->buf + 4);
    g->n_tensors = u64(g->buf + 8);
    g->n_kv = u64(g->buf + 16);
    g->kvs = calloc(g->n_kv, sizeof *g->kvs);
    g->tensors = calloc(g->n_tensors, sizeof *g->tensors);
    const uint8_t *p = g->buf + 24;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        uint64_t kl = u64(p);
        snprintf(g->kvs[i].key, sizeof g->kvs[i].key, "%.*s", (int)kl, (const char *)p + 8);
        p += 8 + kl;
        g->kvs[i].type = u32(p);
        g->kvs[i].val = p + 4;
        p += 4 + value_size(g->kvs[i].type, p + 4);
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        tinfo *t = &g->tensors[i];
        uint64_t nl = u64(p);
        snprintf(t->name, sizeof t->name, "%.*s", (int)nl, (const char *)p + 8);
        p += 8 + nl;
        t->ndim = u32(p);
        p += 4;
        for (uint32_t d = 0; d < t->ndim && d < 4; d++, p += 8) t->ne[d] = u64(p);
        t->type = u32(p);
        t->offset = u64(p + 4);
        p += 12;
    }
    g->data_at = ((size_t)(p - g->buf) + 31) / 32 * 32;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        g->tensors[i].data = g->buf + g->data_at + g->tensors[i].offset;
    return 0;
}

static void gguf_free(gguf *g)
{
    free(g->buf);
    free(g->kvs);
    free(g->tensors);
}

static const kv *find_kv(const gguf *g, const char *key)
{
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (strcmp(g->kvs[i].key, key) == 0) return &g->kvs[i];
    return NULL;
}

static const tinfo *find_tensor(const gguf *g, const char *name)
{
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    return NULL;
}

/* A u32 metadata value, or -1 when absent or of another type. */
static long long kv_u32(const gguf *g, const char *key)
{
    const kv *e = find_kv(g, key);
    return e && e->type == 4 ? (long long)u32(e->val) : -1;
}

static double kv_f32(const gguf *g, const char *key)
{
    const kv *e = find_kv(g, key);
    float f = NAN;
    if (e && e->type == 6) memcpy(&f, e->val, 4);
    return f;
}

/* A string value copied into buf ("" when absent). */
static const char *kv_str(const gguf *g, const char *key, char *buf, size_t len)
{
    const kv *e = find_kv(g, key);
    buf[0] = 0;
    if (e && e->type == 8) snprintf(buf, len, "%.*s", (int)u64(e->val), (const char *)e->val + 8);
    return buf;
}

/* Element i of a string array (into buf), and the array's length. */
static uint64_t kv_arr_str(const gguf *g, const char *key, uint64_t i, char *buf, size_t len)
{
    const kv *e = find_kv(g, key);
    buf[0] = 0;
    if (!e || e->type != 9 || u32(e->val) != 8) return 0;
    uint64_t n = u64(e->val + 4);
    const uint8_t *p = e->val + 12;
    for (uint64_t k = 0; k < n && k < i; k++) p += 8 + u64(p);
    if (i < n) snprintf(buf, len, "%.*s", (int)u64(p), (const char *)p + 8);
    return n;
}

/* ---- values ---------------------------------------------------------------------------- */

static float bf16f(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Element i of a GGUF tensor of type F32 (0) or BF16 (30), as a float. */
static float gguf_at(const tinfo *t, size_t i)
{
    if (t->type == 0) {
        float f;
        memcpy(&f, t->data + 4 * i, 4);
        return f;
    }
    uint16_t b;
    memcpy(&b, t->data + 2 * i, 2);
    return bf16f(b);
}

static float ck_bf16(const fk_tensor *t, size_t i)
{
    return bf16f(((const uint16_t *)t->data)[i]);
}

/* Element j of MXFP4 row `row` (of n elements), GGML's layout: blocks of
 * {e8m0, qs[16]}, qs[j] = code(j) | code(j+16) << 4, value = kvalues[code] *
 * 2^(e-128) with kvalues the e2m1 values doubled. */
static double ggml_mxfp4(const tinfo *t, size_t row, size_t n, size_t j)
{
    static const int kvalues[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    const uint8_t *b = t->data + (row * (n / 32) + j / 32) * 17;
    size_t k = j % 32;
    int code = k < 16 ? b[1 + k] & 15 : b[1 + k - 16] >> 4;
    return kvalues[code] * ldexp(1.0, (int)b[0] - 128);
}

/* The same element from the checkpoint, the Hugging Face way: byte k holds
 * elements 2k (low) and 2k+1 (high); value = fp4[code] * 2^(e-127). */
static double hf_mxfp4(const fk_tensor *blocks, const fk_tensor *scales, size_t row, size_t n,
                       size_t j)
{
    static const double fp4[16] = {0,    0.5,  1,  1.5,  2,  3,  4,  6,
                                   -0.0, -0.5, -1, -1.5, -2, -3, -4, -6};
    const uint8_t *bl = blocks->data, *sc = scales->data;
    size_t blk = row * (n / 32) + j / 32, k = j % 32;
    int code = (bl[blk * 16 + k / 2] >> (4 * (k % 2))) & 15;
    return fp4[code] * ldexp(1.0, (int)sc[blk] - 127);
}

/* ---- running fk-gguf ------------------------------------------------------------------- */

/* Run fk-gguf with args; its stderr goes to tmp/err. Exit status. */
static int run_gguf(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s/drivers/cuda/tools/fk-gguf' %s >'%s/out' 2>'%s/err'", builddir,
             args, tmp, tmp);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int err_has(const char *needle)
{
    char path[300], buf[4096] = "";
    snprintf(path, sizeof path, "%s/err", tmp);
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
    }
    int has = strstr(buf, needle) != NULL;
    if (!has) diag("stderr was: %s", buf);
    return has;
}

static int run_mkmodel(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s/drivers/cuda/tools/fk-mkmodel' %s >/dev/null 2>&1", builddir,
             args);
    return system(cmd);
}

/* ---- checks ---------------------------------------------------------------------------- */

static void check_metadata(const gguf *g, const fk_gptoss_config *c, const char *what)
{
    char s[256];
    is_int(g->version, 3, "%s: GGUF version 3", what);
    is_str(kv_str(g, "general.architecture", s, sizeof s), "gpt-oss", "%s: architecture", what);
    is_int(kv_u32(g, "gpt-oss.block_count"), c->n_layers, "%s: block_count", what);
    is_int(kv_u32(g, "gpt-oss.embedding_length"), c->hidden_size, "%s: embedding_length", what);
    is_int(kv_u32(g, "gpt-oss.context_length"), c->max_position_embeddings, "%s: context", what);
    is_int(kv_u32(g, "gpt-oss.expert_count"), c->n_experts, "%s: expert_count", what);
    is_int(kv_u32(g, "gpt-oss.expert_used_count"), c->experts_per_token, "%s: experts used", what);
    is_int(kv_u32(g, "gpt-oss.expert_feed_forward_length"), c->intermediate_size,
           "%s: expert_feed_forward_length", what);
    is_int(kv_u32(g, "gpt-oss.attention.head_count"), c->n_heads, "%s: heads", what);
    is_int(kv_u32(g, "gpt-oss.attention.head_count_kv"), c->n_kv_heads, "%s: kv heads", what);
    is_int(kv_u32(g, "gpt-oss.attention.key_length"), c->head_dim, "%s: key_length", what);
    is_int(kv_u32(g, "gpt-oss.attention.sliding_window"), c->sliding_window, "%s: window", what);
    is_int(kv_u32(g, "gpt-oss.attention.sliding_window_pattern"), 2, "%s: layer pattern", what);
    ok(kv_f32(g, "gpt-oss.rope.freq_base") == (float)c->rope_theta, "%s: rope theta", what);
    ok(kv_f32(g, "gpt-oss.attention.layer_norm_rms_epsilon") == (float)c->rms_norm_eps,
       "%s: rms eps", what);
    is_str(kv_str(g, "gpt-oss.rope.scaling.type", s, sizeof s), "yarn", "%s: yarn", what);
    ok(kv_f32(g, "gpt-oss.rope.scaling.factor") == (float)c->rope_factor, "%s: yarn factor", what);
    is_int(kv_u32(g, "gpt-oss.rope.scaling.original_context_length"), c->rope_original_max_pos,
           "%s: yarn original context", what);
}

static void check_vocab(const gguf *g, const char *what)
{
    char s[256];
    is_str(kv_str(g, "tokenizer.ggml.model", s, sizeof s), "gpt2", "%s: tokenizer model", what);
    is_str(kv_str(g, "tokenizer.ggml.pre", s, sizeof s), "granite-embed-multi-97m",
           "%s: pre-tokenizer (o200k's regex)", what);
    is_int((long long)kv_arr_str(g, "tokenizer.ggml.tokens", 200006, s, sizeof s), 201088,
           "%s: 201088 tokens", what);
    is_str(s, "<|start|>", "%s: token 200006 is <|start|>", what);
    kv_arr_str(g, "tokenizer.ggml.tokens", 220, s, sizeof s);
    is_str(s, "\xc4\xa0", "%s: token 220 is the byte-level space", what);
    is_int((long long)kv_arr_str(g, "tokenizer.ggml.merges", 0, s, sizeof s), 446189,
           "%s: every merge", what);
    is_str(s, "\xc4\xa0 \xc4\xa0", "%s: first merge", what);
    const kv *types = find_kv(g, "tokenizer.ggml.token_type");
    ok(types && types->type == 9 && u32(types->val) == 5 && u64(types->val + 4) == 201088,
       "%s: token types, int32 x 201088", what);
    if (types) {
        is_int(u32(types->val + 12 + 4 * 200006), 3, "%s: <|start|> is a control token", what);
        is_int(u32(types->val + 12 + 4 * 1000), 1, "%s: token 1000 is normal", what);
    }
    is_int(kv_u32(g, "tokenizer.ggml.eos_token_id"), 200002, "%s: eos <|return|>", what);
    is_int(kv_u32(g, "tokenizer.ggml.padding_token_id"), 199999, "%s: pad", what);
    is_int(kv_u32(g, "tokenizer.ggml.bos_token_id"), 199998, "%s: bos <|startoftext|>", what);
    const kv *ab = find_kv(g, "tokenizer.ggml.add_bos_token");
    ok(ab && ab->type == 7 && ab->val[0] == 0, "%s: add_bos_token false", what);
}

/* Offsets aligned, in order, without overlap; the file ends where the last
 * tensor's padded data ends. */
static void check_layout(const gguf *g, const char *what)
{
    uint64_t end = 0;
    int aligned = 1, ordered = 1;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const tinfo *t = &g->tensors[i];
        uint64_t row = t->type == 39 ? t->ne[0] / 32 * 17 : t->ne[0] * (t->type == 0 ? 4 : 2);
        uint64_t bytes = row;
        for (uint32_t d = 1; d < t->ndim; d++) bytes *= t->ne[d];
        aligned &= t->offset % 32 == 0;
        ordered &= t->offset >= end;
        end = t->offset + (bytes + 31) / 32 * 32;
    }
    ok(aligned, "%s: every tensor offset is 32-byte aligned", what);
    ok(ordered, "%s: tensors in order, no overlap", what);
    is_int((long long)(g->data_at + end), (long long)g->len, "%s: file ends after the last tensor",
           what);
}

static const fk_tensor *ckt(const fk_checkpoint *ck, int layer, fk_gptoss_tensor role)
{
    return fk_checkpoint_gptoss(ck, role, layer);
}

static const tinfo *gt(const gguf *g, int layer, const char *name)
{
    char full[160];
    if (layer < 0)
        snprintf(full, sizeof full, "%s", name);
    else
        snprintf(full, sizeof full, "blk.%d.%s", layer, name);
    const tinfo *t = find_tensor(g, full);
    if (!t) diag("missing tensor %s", full);
    return t;
}

/* GGUF tensor == checkpoint tensor element by element (every other last-dim
 * element from `parity` when parity >= 0). */
static int same_values(const tinfo *t, const fk_tensor *src, int parity)
{
    if (!t || !src) return 0;
    size_t L = (size_t)src->shape[src->ndim - 1], rows = src->nbytes / 2 / L;
    size_t keep = parity < 0 ? L : L / 2, at = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < keep; j++, at++)
            if (gguf_at(t, at) != ck_bf16(src, r * L + (parity < 0 ? j : 2 * j + (size_t)parity)))
                return 0;
    return 1;
}

static void check_dense(const gguf *g, const fk_checkpoint *ck, int want_type, const char *what)
{
    const fk_gptoss_config *c = fk_checkpoint_config(ck);
    const tinfo *e = gt(g, -1, "token_embd.weight");
    ok(e && e->type == (uint32_t)want_type && e->ne[0] == (uint64_t)c->hidden_size &&
           e->ne[1] == (uint64_t)c->vocab_size,
       "%s: token_embd.weight {H, V}", what);
    ok(same_values(e, ckt(ck, -1, FK_T_EMBED), -1), "%s: embedding values", what);
    ok(same_values(gt(g, -1, "output.weight"), ckt(ck, -1, FK_T_LM_HEAD), -1),
       "%s: output.weight = lm_head", what);
    ok(same_values(gt(g, -1, "output_norm.weight"), ckt(ck, -1, FK_T_NORM), -1), "%s: output_norm",
       what);
    for (int l = 0; l < c->n_layers; l++) {
        int all = same_values(gt(g, l, "attn_q.weight"), ckt(ck, l, FK_T_Q), -1) &&
                  same_values(gt(g, l, "attn_k.bias"), ckt(ck, l, FK_T_K_BIAS), -1) &&
                  same_values(gt(g, l, "attn_output.weight"), ckt(ck, l, FK_T_O), -1) &&
                  same_values(gt(g, l, "attn_sinks.weight"), ckt(ck, l, FK_T_SINKS), -1) &&
                  same_values(gt(g, l, "post_attention_norm.weight"), ckt(ck, l, FK_T_LN2), -1) &&
                  same_values(gt(g, l, "ffn_gate_inp.weight"), ckt(ck, l, FK_T_ROUTER), -1);
        ok(all, "%s: layer %d attention, norms, sinks, router", what, l);
        const fk_tensor *gub = ckt(ck, l, FK_T_GATE_UP_BIAS);
        ok(same_values(gt(g, l, "ffn_gate_exps.bias"), gub, 0) &&
               same_values(gt(g, l, "ffn_up_exps.bias"), gub, 1) &&
               same_values(gt(g, l, "ffn_down_exps.bias"), ckt(ck, l, FK_T_DOWN_BIAS), -1),
           "%s: layer %d expert biases (gate even, up odd)", what, l);
        const tinfo *r = gt(g, l, "ffn_gate_inp.weight");
        ok(r && r->type == 0, "%s: layer %d router kept f32", what, l);
    }
}

/* MXFP4 rows: gate = even gate_up rows, up = odd, down as is. */
static void check_mxfp4(const gguf *g, const fk_checkpoint *ck)
{
    const fk_gptoss_config *c = fk_checkpoint_config(ck);
    size_t E = (size_t)c->n_experts, I = (size_t)c->intermediate_size, H = (size_t)c->hidden_size;
    for (int l = 0; l < c->n_layers; l++) {
        const tinfo *gate = gt(g, l, "ffn_gate_exps.weight"), *up = gt(g, l, "ffn_up_exps.weight");
        const tinfo *down = gt(g, l, "ffn_down_exps.weight");
        const fk_tensor *gb = ckt(ck, l, FK_T_GATE_UP_BLOCKS);
        const fk_tensor *gs = ckt(ck, l, FK_T_GATE_UP_SCALES);
        const fk_tensor *db = ckt(ck, l, FK_T_DOWN_BLOCKS);
        const fk_tensor *ds = ckt(ck, l, FK_T_DOWN_SCALES);
        int shapes = gate && up && down && gate->type == 39 && up->type == 39 && down->type == 39 &&
                     gate->ne[0] == H && gate->ne[1] == I && gate->ne[2] == E && down->ne[0] == I &&
                     down->ne[1] == H && down->ne[2] == E;
        ok(shapes, "layer %d: MXFP4 experts {H, I, E} / {I, H, E}", l);
        if (!shapes) continue;
        int same = 1;
        for (size_t e = 0; e < E; e++)
            for (size_t i = 0; i < I; i++)
                for (size_t h = 0; h < H; h++) {
                    same &= ggml_mxfp4(gate, e * I + i, H, h) ==
                            hf_mxfp4(gb, gs, e * 2 * I + 2 * i, H, h);
                    same &= ggml_mxfp4(up, e * I + i, H, h) ==
                            hf_mxfp4(gb, gs, e * 2 * I + 2 * i + 1, H, h);
                    same &= ggml_mxfp4(down, e * H + h, I, i) == hf_mxfp4(db, ds, e * H + h, I, i);
                }
        ok(same, "layer %d: every MXFP4 value dequantizes to the checkpoint's", l);
    }
}

/* bf16 experts: gate[e][i][h] = gate_up[e][h][2i], up the odd columns,
 * down[e][h][i] = down_proj[e][i][h]. */
static void check_bf16_experts(const gguf *g, const fk_checkpoint *ck, int want_type,
                               const char *what)
{
    const fk_gptoss_config *c = fk_checkpoint_config(ck);
    size_t E = (size_t)c->n_experts, I = (size_t)c->intermediate_size, H = (size_t)c->hidden_size;
    for (int l = 0; l < c->n_layers; l++) {
        const tinfo *gate = gt(g, l, "ffn_gate_exps.weight"), *up = gt(g, l, "ffn_up_exps.weight");
        const tinfo *down = gt(g, l, "ffn_down_exps.weight");
        const fk_tensor *gu = ckt(ck, l, FK_T_GATE_UP);
        const fk_tensor *dp = ckt(ck, l, FK_T_DOWN);
        int shapes = gate && up && down && gate->type == (uint32_t)want_type && gate->ne[0] == H &&
                     gate->ne[1] == I && down->ne[0] == I && down->ne[1] == H;
        ok(shapes, "%s: layer %d experts {H, I, E} / {I, H, E}", what, l);
        if (!shapes) continue;
        int same = 1;
        for (size_t e = 0; e < E; e++)
            for (size_t i = 0; i < I; i++)
                for (size_t h = 0; h < H; h++) {
                    same &= gguf_at(gate, (e * I + i) * H + h) ==
                            ck_bf16(gu, (e * H + h) * 2 * I + 2 * i);
                    same &= gguf_at(up, (e * I + i) * H + h) ==
                            ck_bf16(gu, (e * H + h) * 2 * I + 2 * i + 1);
                    same &= gguf_at(down, (e * H + h) * I + i) == ck_bf16(dp, (e * I + i) * H + h);
                }
        ok(same, "%s: layer %d experts transposed exactly", what, l);
    }
}

/* Convert one fixture and check everything. */
static void check_fixture(const char *model, const char *outtype, int want_type)
{
    char dir[512], out[512], args[1200], what[128];
    snprintf(dir, sizeof dir, "%s/models/%s", fixtures, model);
    snprintf(out, sizeof out, "%s/%s-%s.gguf", tmp, model, outtype);
    snprintf(what, sizeof what, "%s --outtype %s", model, outtype);
    snprintf(args, sizeof args, "--model '%s' --out '%s' --outtype %s", dir, out, outtype);
    if (!is_int(run_gguf(args), 0, "%s: fk-gguf exits 0", what)) return;
    char err[4096];
    fk_checkpoint *ck = fk_checkpoint_open(dir, err, sizeof err);
    gguf g;
    if (!ok(ck && gguf_read(out, &g) == 0, "%s: GGUF and checkpoint read back", what)) {
        fk_checkpoint_close(ck);
        return;
    }
    const fk_gptoss_config *c = fk_checkpoint_config(ck);
    is_int((long long)g.n_tensors, 3 + 19LL * c->n_layers, "%s: tensor count", what);
    check_metadata(&g, c, what);
    check_vocab(&g, what);
    check_layout(&g, what);
    check_dense(&g, ck, want_type, what);
    if (c->experts_mxfp4)
        check_mxfp4(&g, ck);
    else
        check_bf16_experts(&g, ck, want_type, what);
    is_int(kv_u32(&g, "general.file_type"),
           c->experts_mxfp4  ? 38
           : want_type == 30 ? 32
                             : 0,
           "%s: file type", what);
    gguf_free(&g);
    fk_checkpoint_close(ck);
}

/* A model with fewer rows than the tokenizer has ids keeps ids < V and the
 * merges among them. */
static void check_reduced_vocab(void)
{
    char args[1200], out[512], s[256];
    snprintf(args, sizeof args,
             "--out '%s/small' --hidden 32 --layers 2 --heads 2 --kv-heads 1 --head-dim 16 "
             "--intermediate 32 --experts 2 --top-k 1 --vocab 300 --tokenizer "
             "'%s/tokenizer/tokenizer.json'",
             tmp, fixtures);
    require(run_mkmodel(args) == 0, "the input model: fk-mkmodel --vocab 300");
    snprintf(out, sizeof out, "%s/small.gguf", tmp);
    snprintf(args, sizeof args, "--model '%s/small' --out '%s'", tmp, out);
    is_int(run_gguf(args), 0, "reduced vocabulary: fk-gguf exits 0");
    ok(err_has("vocab_size 300 is below the tokenizer's ids"), "reduced vocabulary: noted");
    gguf g;
    if (!ok(gguf_read(out, &g) == 0, "reduced vocabulary: GGUF reads back")) return;
    uint64_t n = kv_arr_str(&g, "tokenizer.ggml.tokens", 299, s, sizeof s);
    is_int((long long)n, 300, "reduced vocabulary: 300 tokens");
    uint64_t m = kv_arr_str(&g, "tokenizer.ggml.merges", 0, s, sizeof s);
    ok(m > 0 && m < 446189, "reduced vocabulary: %llu merges kept", (unsigned long long)m);
    is_int(kv_u32(&g, "tokenizer.ggml.eos_token_id"), 299, "reduced vocabulary: eos from config");
    ok(kv_u32(&g, "tokenizer.ggml.bos_token_id") < 0,
       "reduced vocabulary: <|startoftext|> is gone");
    gguf_free(&g);
}

static int no_output(const char *out)
{
    char partial[600];
    snprintf(partial, sizeof partial, "%s.partial", out);
    return access(out, F_OK) != 0 && access(partial, F_OK) != 0;
}

/* Bad inputs: exit 2, a message naming the problem, nothing written. */
static void check_refusals(void)
{
    char args[3000], out[512], dir[512];
    snprintf(out, sizeof out, "%s/refused.gguf", tmp);
    snprintf(args, sizeof args, "--model '%s/nonexistent' --out '%s'", tmp, out);
    is_int(run_gguf(args), 2, "missing model directory: exit 2");
    ok(err_has("nonexistent"), "missing model directory: named");

    snprintf(args, sizeof args, "--model '%s/models/tiny-gptoss-bf16' --out '%s' --outtype q8",
             fixtures, out);
    is_int(run_gguf(args), 2, "--outtype q8: exit 2");
    ok(err_has("--outtype expects bf16 or f32"), "--outtype q8: says what is allowed");

    snprintf(dir, sizeof dir, "%s/notok", tmp);
    snprintf(args, sizeof args,
             "--out '%s' --hidden 32 --layers 2 --heads 2 --kv-heads 1 --head-dim 16 "
             "--intermediate 32 --experts 2 --top-k 1 --vocab 300",
             dir);
    require(run_mkmodel(args) == 0, "the input model: fk-mkmodel without a tokenizer");
    snprintf(args, sizeof args, "--model '%s' --out '%s'", dir, out);
    is_int(run_gguf(args), 2, "no tokenizer.json: exit 2");
    ok(err_has("tokenizer.json") && err_has("--tokenizer"), "no tokenizer.json: says so");

    char tokpath[600];
    snprintf(tokpath, sizeof tokpath, "%s/bad-tokenizer.json", tmp);
    FILE *f = fopen(tokpath, "w");
    if (f) {
        fputs("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},"
              "\"merges\":[[\"a\",\"b\"],[\"a\",\"c\"]]}}",
              f);
        fclose(f);
    }
    snprintf(args, sizeof args, "--model '%s' --out '%s' --tokenizer '%s'", dir, out, tokpath);
    is_int(run_gguf(args), 2, "merge naming an unknown token: exit 2");
    ok(err_has("model.merges[1]: \"c\" is not in model.vocab"), "unknown merge part: named");

    char cfgpath[600];
    snprintf(cfgpath, sizeof cfgpath, "%s/config.json", dir);
    json_t *cfg = json_load_file(cfgpath, 0, NULL);
    json_object_set_new(cfg, "swiglu_limit", json_real(5.0));
    json_dump_file(cfg, cfgpath, 0);
    json_decref(cfg);
    snprintf(args, sizeof args, "--model '%s' --out '%s' --tokenizer '%s/tokenizer/tokenizer.json'",
             dir, out, fixtures);
    is_int(run_gguf(args), 2, "swiglu_limit 5: exit 2");
    ok(err_has("swiglu_limit 5"), "swiglu_limit 5: llama.cpp cannot compute it, says so");
    ok(no_output(out), "refused inputs leave no file behind");
}

int main(void)
{
    builddir = getenv("FK_TOP_BUILDDIR");
    fixtures = getenv("FK_FIXTURES");
    if (!builddir || !fixtures) {
        printf("1..0 # SKIP run through make check (FK_TOP_BUILDDIR, FK_FIXTURES)\n");
        return 0;
    }
    snprintf(tmp, sizeof tmp, "%s/fk-gguf-test.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmp)) return 1;
    check_fixture("tiny-gptoss-mxfp4", "bf16", 30);
    check_fixture("tiny-gptoss-bf16", "bf16", 30);
    check_fixture("tiny-gptoss-bf16", "f32", 0);
    check_reduced_vocab();
    check_refusals();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) diag("could not remove %s", tmp);
    return done_testing();
}
