/* config.c: config.json (+ generation_config.json) -> fk_gptoss_config.
 *
 * Every dimension is read from the file; a missing key or one of the wrong
 * type is an error naming the key with expected vs found. Defaults, used only
 * where transformers' GptOssConfig has them and released configs may omit them:
 *   layer_types      absent -> alternating, layer i sliding when i is even
 *                    (transformers' default: sliding, full, sliding, ...)
 *   swiglu_alpha     absent -> 1.702;  swiglu_limit absent -> 7.0
 *   rms_norm_eps     absent -> 1e-5
 *   rope_scaling / rope_parameters absent or rope_type "default" -> plain RoPE
 *   yarn beta_fast / beta_slow absent -> 32 / 1; truncate absent -> true
 *     (transformers' default; gpt-oss writes false)
 *   eos: generation_config.json eos_token_id (int or list) when that file
 *        exists and has one, else config.json eos_token_id; pad_token_id -> -1
 * rope_theta is read at the top level or inside rope_parameters. */
#include "checkpoint.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_type.h"
#include "common/regular_file.h"

/* Upper bounds that keep every product of dimensions far inside int64. */
#define CFG_MAX_DIM (1 << 20)
#define CFG_MAX_VOCAB (1 << 24)
#define CFG_MAX_POS (1 << 26)

__attribute__((format(printf, 3, 4))) static int cfg_fail(char *err, size_t err_len,
                                                          const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* What a value is, for messages ("found a string"): json_type.h's words. */
static const char *kind(const json_t *v)
{
    return v ? fk_json_type_name(v) : "nothing (key missing)";
}

/* ---- typed getters: each names the key in its error ----------------------------- */

/* An integer key in [lo, hi]. */
static int get_int(const json_t *obj, const char *where, const char *key, long long lo,
                   long long hi, int *out, char *err, size_t err_len)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        return cfg_fail(err, err_len, "%s: key \"%s\": expected an integer, found %s", where, key,
                        kind(v));
    long long x = json_integer_value(v);
    if (x < lo || x > hi)
        return cfg_fail(err, err_len,
                        "%s: key \"%s\": expected an integer in [%lld, %lld], found %lld", where,
                        key, lo, hi, x);
    *out = (int)x;
    return 0;
}

/* A number key (integer or real) in (lo, hi]; absent -> dflt when has_dflt. */
static int get_num(const json_t *obj, const char *where, const char *key, int has_dflt, double dflt,
                   double lo, double hi, double *out, char *err, size_t err_len)
{
    const json_t *v = json_object_get(obj, key);
    if (!v && has_dflt) {
        *out = dflt;
        return 0;
    }
    if (!json_is_number(v))
        return cfg_fail(err, err_len, "%s: key \"%s\": expected a number, found %s", where, key,
                        kind(v));
    double x = json_number_value(v);
    if (!(x > lo && x <= hi))
        return cfg_fail(err, err_len, "%s: key \"%s\": expected a number in (%g, %g], found %g",
                        where, key, lo, hi, x);
    *out = x;
    return 0;
}

/* ---- sections ----------------------------------------------------------------- */

static int parse_dims(const json_t *root, fk_gptoss_config *c, char *err, size_t err_len)
{
    const char *w = "config.json";
    if (get_int(root, w, "hidden_size", 1, CFG_MAX_DIM, &c->hidden_size, err, err_len) ||
        get_int(root, w, "num_hidden_layers", 1, FK_MAX_LAYERS, &c->n_layers, err, err_len) ||
        get_int(root, w, "num_attention_heads", 1, CFG_MAX_DIM, &c->n_heads, err, err_len) ||
        get_int(root, w, "num_key_value_heads", 1, CFG_MAX_DIM, &c->n_kv_heads, err, err_len) ||
        get_int(root, w, "head_dim", 2, CFG_MAX_DIM, &c->head_dim, err, err_len) ||
        get_int(root, w, "intermediate_size", 1, CFG_MAX_DIM, &c->intermediate_size, err,
                err_len) ||
        get_int(root, w, "num_local_experts", 1, CFG_MAX_DIM, &c->n_experts, err, err_len) ||
        get_int(root, w, "sliding_window", 1, CFG_MAX_POS, &c->sliding_window, err, err_len) ||
        get_int(root, w, "vocab_size", 1, CFG_MAX_VOCAB, &c->vocab_size, err, err_len) ||
        get_int(root, w, "max_position_embeddings", 1, CFG_MAX_POS, &c->max_position_embeddings,
                err, err_len))
        return -1;
    /* top-k: both spellings occur (the 20b release writes both); they must agree. */
    const json_t *a = json_object_get(root, "experts_per_token");
    const json_t *b = json_object_get(root, "num_experts_per_tok");
    const char *key = a ? "experts_per_token" : "num_experts_per_tok";
    if (!a && !b)
        return cfg_fail(err, err_len,
                        "config.json: key \"num_experts_per_tok\" (or \"experts_per_token\"): "
                        "expected an integer, found nothing (key missing)");
    if (get_int(root, w, key, 1, c->n_experts, &c->experts_per_token, err, err_len)) return -1;
    if (a && b) {
        int other;
        if (get_int(root, w, "num_experts_per_tok", 1, c->n_experts, &other, err, err_len))
            return -1;
        if (other != c->experts_per_token)
            return cfg_fail(err, err_len,
                            "config.json: \"experts_per_token\" %d and \"num_experts_per_tok\" %d "
                            "disagree",
                            c->experts_per_token, other);
    }
    if (c->n_heads % c->n_kv_heads)
        return cfg_fail(err, err_len,
                        "config.json: num_attention_heads %d is not a multiple of "
                        "num_key_value_heads %d",
                        c->n_heads, c->n_kv_heads);
    if (c->head_dim % 2)
        return cfg_fail(err, err_len, "config.json: head_dim %d must be even for RoPE",
                        c->head_dim);
    return 0;
}

static int parse_layer_types(const json_t *root, fk_gptoss_config *c, char *err, size_t err_len)
{
    const json_t *lt = json_object_get(root, "layer_types");
    if (!lt || json_is_null(lt)) {
        for (int i = 0; i < c->n_layers; i++) c->layer_sliding[i] = (i % 2) == 0;
        return 0;
    }
    if (!json_is_array(lt))
        return cfg_fail(err, err_len,
                        "config.json: key \"layer_types\": expected an array, found %s", kind(lt));
    if (json_array_size(lt) != (size_t)c->n_layers)
        return cfg_fail(
            err, err_len,
            "config.json: key \"layer_types\": expected %d entries (num_hidden_layers), "
            "found %zu",
            c->n_layers, json_array_size(lt));
    for (int i = 0; i < c->n_layers; i++) {
        const char *s = json_string_value(json_array_get(lt, (size_t)i));
        if (s && strcmp(s, "sliding_attention") == 0)
            c->layer_sliding[i] = 1;
        else if (s && strcmp(s, "full_attention") == 0)
            c->layer_sliding[i] = 0;
        else
            return cfg_fail(err, err_len,
                            "config.json: key \"layer_types\"[%d]: expected \"sliding_attention\" "
                            "or \"full_attention\", found %s%s%s",
                            i, s ? "\"" : kind(json_array_get(lt, (size_t)i)), s ? s : "",
                            s ? "\"" : "");
    }
    return 0;
}

/* rope_parameters may be keyed by layer type; gpt-oss uses one RoPE for all layers. */
static int pick_rope_object(const json_t *root, const json_t **out, const char **where, char *err,
                            size_t err_len)
{
    const json_t *rp = json_object_get(root, "rope_parameters");
    const json_t *rs = json_object_get(root, "rope_scaling");
    *out = NULL;
    if (rp && !json_is_null(rp)) {
        *where = "config.json: rope_parameters";
        if (!json_is_object(rp))
            return cfg_fail(err, err_len,
                            "config.json: key \"rope_parameters\": expected an object, found %s",
                            kind(rp));
        const json_t *full = json_object_get(rp, "full_attention");
        const json_t *slid = json_object_get(rp, "sliding_attention");
        if (json_is_object(full)) {
            if (slid && !json_equal((json_t *)full, (json_t *)slid))
                return cfg_fail(err, err_len,
                                "config.json: rope_parameters differ between full_attention and "
                                "sliding_attention layers (unsupported)");
            *where = "config.json: rope_parameters.full_attention";
            rp = full;
        }
        *out = rp;
        return 0;
    }
    if (rs && !json_is_null(rs)) {
        *where = "config.json: rope_scaling";
        if (!json_is_object(rs))
            return cfg_fail(err, err_len,
                            "config.json: key \"rope_scaling\": expected an object, found %s",
                            kind(rs));
        *out = rs;
    }
    return 0;
}

static int parse_yarn(const json_t *r, const char *w, fk_gptoss_config *c, char *err,
                      size_t err_len)
{
    c->rope_yarn = 1;
    if (get_num(r, w, "factor", 0, 0, 0, 1e6, &c->rope_factor, err, err_len) ||
        get_num(r, w, "beta_fast", 1, 32.0, 0, 1e6, &c->rope_beta_fast, err, err_len) ||
        get_num(r, w, "beta_slow", 1, 1.0, 0, 1e6, &c->rope_beta_slow, err, err_len) ||
        get_int(r, w, "original_max_position_embeddings", 1, CFG_MAX_POS, &c->rope_original_max_pos,
                err, err_len))
        return -1;
    const json_t *tr = json_object_get(r, "truncate");
    if (tr && !json_is_boolean(tr))
        return cfg_fail(err, err_len, "%s: key \"truncate\": expected a boolean, found %s", w,
                        kind(tr));
    c->rope_truncate = tr ? json_is_true(tr) : 1;
    return 0;
}

static int parse_rope(const json_t *root, fk_gptoss_config *c, char *err, size_t err_len)
{
    const json_t *r;
    const char *w = "config.json";
    if (pick_rope_object(root, &r, &w, err, err_len)) return -1;
    /* rope_theta: top level, else inside rope_parameters */
    const json_t *holder = json_object_get(root, "rope_theta") || !r ? root : r;
    if (get_num(holder, holder == root ? "config.json" : w, "rope_theta", 0, 0, 0, 1e12,
                &c->rope_theta, err, err_len))
        return -1;
    c->rope_yarn = 0;
    c->rope_factor = 1.0;
    c->rope_truncate = 0;
    if (!r) return 0;
    const json_t *ty = json_object_get(r, "rope_type");
    if (!ty) ty = json_object_get(r, "type");
    if (ty && !json_is_string(ty))
        return cfg_fail(err, err_len, "%s: key \"rope_type\": expected a string, found %s", w,
                        kind(ty));
    const char *t = ty ? json_string_value(ty) : "default";
    if (strcmp(t, "yarn") == 0) return parse_yarn(r, w, c, err, err_len);
    if (strcmp(t, "default") == 0) return 0;
    return cfg_fail(err, err_len,
                    "%s: key \"rope_type\": expected \"yarn\" or \"default\", found \"%s\"", w, t);
}

/* eos_token_id as an int or a list of ints, each a valid token id. */
static int parse_eos(const json_t *v, const char *where, fk_gptoss_config *c, char *err,
                     size_t err_len)
{
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_array(v) && !json_is_integer(v))
        return cfg_fail(err, err_len,
                        "%s: key \"eos_token_id\": expected an integer or a list of integers, "
                        "found %s",
                        where, kind(v));
    if (n > FK_MAX_EOS)
        return cfg_fail(err, err_len, "%s: key \"eos_token_id\": %zu ids, at most %d supported",
                        where, n, FK_MAX_EOS);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_integer(e) || json_integer_value(e) < 0 ||
            json_integer_value(e) >= c->vocab_size)
            return cfg_fail(err, err_len,
                            "%s: key \"eos_token_id\": entry %zu: expected a token id in [0, %d), "
                            "found %s",
                            where, i, c->vocab_size, kind(e));
        c->eos_ids[i] = (int32_t)json_integer_value(e);
    }
    c->n_eos = (int)n;
    return 0;
}

static int parse_misc(const json_t *root, fk_gptoss_config *c, char *err, size_t err_len)
{
    const char *w = "config.json";
    if (get_num(root, w, "rms_norm_eps", 1, 1e-5, 0, 1, &c->rms_norm_eps, err, err_len) ||
        get_num(root, w, "swiglu_limit", 1, 7.0, 0, 1e9, &c->swiglu_limit, err, err_len) ||
        get_num(root, w, "swiglu_alpha", 1, 1.702, 0, 1e9, &c->swiglu_alpha, err, err_len))
        return -1;
    c->pad_id = -1;
    const json_t *pad = json_object_get(root, "pad_token_id");
    if (pad && !json_is_null(pad)) {
        int id;
        if (get_int(root, w, "pad_token_id", 0, c->vocab_size - 1, &id, err, err_len)) return -1;
        c->pad_id = id;
    }
    const json_t *eos = json_object_get(root, "eos_token_id");
    c->n_eos = 0;
    if (eos && !json_is_null(eos) && parse_eos(eos, w, c, err, err_len)) return -1;
    /* quantization_config says MXFP4: the block size needs H and I divisible by 32 */
    const json_t *q = json_object_get(root, "quantization_config");
    const char *qm = json_string_value(json_object_get(q, "quant_method"));
    if (qm && strcmp(qm, "mxfp4") == 0 && (c->hidden_size % 32 || c->intermediate_size % 32))
        return cfg_fail(err, err_len,
                        "config.json: quant_method mxfp4 needs hidden_size (%d) and "
                        "intermediate_size (%d) divisible by 32",
                        c->hidden_size, c->intermediate_size);
    return 0;
}

/* ---- public ------------------------------------------------------------------- */

int fk_config_parse(const char *json_text, size_t len, fk_gptoss_config *cfg, char *err,
                    size_t err_len)
{
    memset(cfg, 0, sizeof *cfg);
    json_error_t jerr;
    json_t *root = json_loadb(json_text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return cfg_fail(err, err_len, "config.json: not valid JSON: %s (line %d, column %d)",
                        jerr.text, jerr.line, jerr.column);
    int rc = 0;
    if (!json_is_object(root))
        rc = cfg_fail(err, err_len, "config.json: expected a JSON object, found %s", kind(root));
    if (rc == 0) rc = parse_dims(root, cfg, err, err_len);
    if (rc == 0) rc = parse_layer_types(root, cfg, err, err_len);
    if (rc == 0) rc = parse_rope(root, cfg, err, err_len);
    if (rc == 0) rc = parse_misc(root, cfg, err, err_len);
    json_decref(root);
    return rc;
}

/* Read a whole small regular file into a malloc'd buffer; NULL with errno
 * set and `why` saying why. */
static char *slurp(const char *path, size_t *len, char *why, size_t why_len)
{
    FILE *f = fk_fopen_regular(path, why, why_len);
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            if (cap >= (64u << 20)) { /* no config is this large */
                errno = EFBIG;
                break;
            }
            cap = cap ? cap * 2 : 4096;
            char *nb = realloc(buf, cap);
            if (!nb) break;
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) break;
            fclose(f);
            *len = n;
            return buf;
        }
    }
    int e = errno;
    fclose(f);
    free(buf);
    errno = e ? e : EIO;
    snprintf(why, why_len, "%s", strerror(errno));
    return NULL;
}

/* generation_config.json, when present, overrides the eos ids. */
static int load_generation(const char *dir, fk_gptoss_config *cfg, char *err, size_t err_len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    size_t len;
    char why[160];
    char *text = slurp(path, &len, why, sizeof why);
    if (!text) {
        if (errno == ENOENT) return 0;
        return cfg_fail(err, err_len, "%s: cannot read: %s", path, why);
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!root)
        return cfg_fail(err, err_len,
                        "generation_config.json: not valid JSON: %s (line %d, column %d)",
                        jerr.text, jerr.line, jerr.column);
    int rc = 0;
    if (!json_is_object(root))
        rc = cfg_fail(err, err_len, "generation_config.json: expected a JSON object, found %s",
                      kind(root));
    const json_t *eos = json_object_get(root, "eos_token_id");
    if (rc == 0 && eos && !json_is_null(eos))
        rc = parse_eos(eos, "generation_config.json", cfg, err, err_len);
    json_decref(root);
    return rc;
}

int fk_config_load(const char *model_dir, fk_gptoss_config *cfg, char *err, size_t err_len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", model_dir);
    size_t len;
    char why[160];
    char *text = slurp(path, &len, why, sizeof why);
    if (!text) return cfg_fail(err, err_len, "%s: cannot read: %s", path, why);
    int rc = fk_config_parse(text, len, cfg, err, err_len);
    free(text);
    if (rc == 0) rc = load_generation(model_dir, cfg, err, err_len);
    return rc;
}
