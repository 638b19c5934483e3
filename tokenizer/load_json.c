/* load_json.c: reads a Hugging Face tokenizer.json holding a byte-level BPE
 * (GPT-2 byte alphabet): model.vocab, model.merges (["a", "b"] pairs or
 * "a b" strings), model.ignore_merges, added_tokens, and a pre_tokenizer made
 * of one Split regex (behavior Isolated) and ByteLevel. Anything this encoder
 * would get wrong (normalizers, dropout, prefix spaces...) is refused by name
 * rather than silently ignored. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/fktok_internal.h"

/* Ids above this are refused: they would only make the tables huge. */
#define MAX_TOKEN_ID (1 << 24)

/* The pattern ByteLevel uses when its own use_regex is true (GPT-2's). */
static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* Load-time context: where errors go and scratch for byte conversions. */
typedef struct json_loader {
    fktok *t;           /* the tokenizer being built */
    const char *name;   /* file name for messages */
    char *err;          /* caller's message buffer */
    size_t err_len;     /* its size */
    unsigned char *buf; /* scratch for decoded token bytes */
    size_t buf_cap;     /* its size */
} json_loader;

/* The pre-tokenizer as read from the file. */
typedef struct pre_tokenizer {
    const char *pattern;  /* Split pattern (borrowed from the JSON), or NULL */
    size_t pattern_len;   /* its length in bytes */
    int literal;          /* 1: pattern was {"String": ...} */
    int byte_level;       /* 1: a ByteLevel step is present */
    int byte_level_regex; /* 1: that step splits with its own GPT-2 regex */
} pre_tokenizer;

__attribute__((format(printf, 2, 3))) static int fail(json_loader *L, const char *fmt, ...)
{
    int n = snprintf(L->err, L->err_len, "%s: ", L->name);
    if (n >= 0 && (size_t)n < L->err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(L->err + n, L->err_len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Make buf hold at least n bytes. 0, or -1 on OOM. */
static int reserve(json_loader *L, size_t n)
{
    if (n <= L->buf_cap) return 0;
    unsigned char *buf = realloc(L->buf, n);
    if (!buf) return fail(L, "out of memory");
    L->buf = buf;
    L->buf_cap = n;
    return 0;
}

/* Decode a byte-level string into L->buf. Returns its byte length, or -1
 * with an error naming where (what) it came from. */
static long to_bytes(json_loader *L, const char *s, size_t n, const char *what)
{
    size_t len = 0;
    uint32_t bad = 0;
    if (reserve(L, n + 1)) return -1;
    if (fk_bytelevel_decode(s, n, L->buf, &len, &bad)) {
        if (bad == 0xFFFFFFFFu)
            return fail(L, "%s: token \"%.*s\" is not valid UTF-8", what, (int)n, s);
        return fail(L, "%s: token \"%.*s\" has U+%04X, outside the byte-level alphabet", what,
                    (int)n, s, (unsigned)bad);
    }
    return (long)len;
}

/* ---- reading the parts ---- */

/* Find the largest id in model.vocab and added_tokens (checking their
 * shapes). 0, or -1. */
static int scan_ids(json_loader *L, json_t *vocab, json_t *added, size_t *n_vocab)
{
    json_int_t max = -1;
    const char *key;
    json_t *v;
    json_object_foreach(vocab, key, v)
    {
        json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
        if (id < 0 || id >= MAX_TOKEN_ID)
            return fail(L, "model.vocab[\"%s\"]: expected an id in 0..%d", key, MAX_TOKEN_ID - 1);
        if (id > max) max = id;
    }
    size_t i;
    json_array_foreach(added, i, v)
    {
        json_t *id = json_object_get(v, "id");
        json_t *content = json_object_get(v, "content");
        json_t *special = json_object_get(v, "special");
        if (!json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) >= MAX_TOKEN_ID)
            return fail(L, "added_tokens[%zu].id: expected an id in 0..%d", i, MAX_TOKEN_ID - 1);
        if (!json_is_string(content) || json_string_length(content) == 0)
            return fail(L, "added_tokens[%zu].content: expected a non-empty string", i);
        if (special && !json_is_boolean(special))
            return fail(L, "added_tokens[%zu].special: expected true or false", i);
        if (json_integer_value(id) > max) max = json_integer_value(id);
    }
    if (max < 0) return fail(L, "model.vocab is empty");
    *n_vocab = (size_t)max + 1;
    return 0;
}

/* Enter added tokens, then the vocabulary (an id that is also an added token
 * keeps the added token). 0, or -1. */
static int fill_tokens(json_loader *L, json_t *vocab, json_t *added)
{
    fktok *t = L->t;
    size_t i;
    json_t *v;
    json_array_foreach(added, i, v)
    {
        json_t *content = json_object_get(v, "content");
        int32_t id = (int32_t)json_integer_value(json_object_get(v, "id"));
        int kind =
            json_is_true(json_object_get(v, "special")) ? FK_TOK_SPECIAL : FK_TOK_ADDED_PLAIN;
        int rc = fk_vocab_set(t, id, json_string_value(content), json_string_length(content), kind);
        if (rc == -2) return fail(L, "added_tokens[%zu]: id %d appears twice", i, (int)id);
        if (rc) return fail(L, "out of memory");
    }
    const char *key;
    json_object_foreach(vocab, key, v)
    {
        int32_t id = (int32_t)json_integer_value(v);
        if (t->kind[id] == FK_TOK_SPECIAL || t->kind[id] == FK_TOK_ADDED_PLAIN) continue;
        long n = to_bytes(L, key, strlen(key), "model.vocab");
        if (n < 0) return -1;
        int rc = fk_vocab_set(t, id, L->buf, (size_t)n, FK_TOK_ORDINARY);
        if (rc == -2) return fail(L, "model.vocab: id %d is given to two tokens", (int)id);
        if (rc) return fail(L, "out of memory");
    }
    return 0;
}

/* Id of a byte-level token string for a merge, or -1 with an error. */
static int32_t merge_operand(json_loader *L, size_t i, const char *s, size_t n)
{
    char what[64];
    snprintf(what, sizeof what, "model.merges[%zu]", i);
    long len = to_bytes(L, s, n, what);
    if (len < 0) return -1;
    int32_t id = fk_bytemap_get(L->t, &L->t->ordinary, L->buf, (size_t)len);
    if (id < 0) id = fk_bytemap_get(L->t, &L->t->added, L->buf, (size_t)len);
    if (id < 0) return fail(L, "model.merges[%zu]: \"%.*s\" is not in model.vocab", i, (int)n, s);
    return id;
}

/* Read model.merges: entry i merges with priority i (a later duplicate wins,
 * as in Hugging Face tokenizers). Merges that would produce a special token
 * are dropped so that encoding without specials never yields one. */
static int read_merges(json_loader *L, json_t *merges)
{
    fktok *t = L->t;
    size_t i;
    json_t *m;
    json_array_foreach(merges, i, m)
    {
        const char *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        if (json_is_string(m)) {
            a = json_string_value(m);
            const char *sp = memchr(a, ' ', json_string_length(m));
            if (sp && !memchr(sp + 1, ' ', json_string_length(m) - (size_t)(sp + 1 - a))) {
                na = (size_t)(sp - a);
                b = sp + 1;
                nb = json_string_length(m) - na - 1;
            }
        } else if (json_is_array(m) && json_array_size(m) == 2 &&
                   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
            a = json_string_value(json_array_get(m, 0));
            na = json_string_length(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1));
            nb = json_string_length(json_array_get(m, 1));
        }
        if (!b || na == 0 || nb == 0)
            return fail(L, "model.merges[%zu]: expected \"LEFT RIGHT\" or [\"LEFT\", \"RIGHT\"]",
                        i);
        int32_t left = merge_operand(L, i, a, na);
        if (left < 0) return -1;
        int32_t right = merge_operand(L, i, b, nb);
        if (right < 0) return -1;
        size_t la = t->tok_len[left], lb = t->tok_len[right];
        if (reserve(L, la + lb)) return -1;
        memcpy(L->buf, t->blob + t->tok_off[left], la);
        memcpy(L->buf + la, t->blob + t->tok_off[right], lb);
        int32_t result = fk_bytemap_get(t, &t->ordinary, L->buf, la + lb);
        if (result < 0) result = fk_bytemap_get(t, &t->added, L->buf, la + lb);
        if (result < 0)
            return fail(L, "model.merges[%zu]: merged token \"%.*s%.*s\" is not in model.vocab", i,
                        (int)na, a, (int)nb, b);
        if (t->kind[result] == FK_TOK_SPECIAL) continue;
        if (i > INT32_MAX) return fail(L, "model.merges: too many merges");
        if (fk_pairmap_put(&t->merges, left, right, (int32_t)i, result, 1))
            return fail(L, "out of memory");
    }
    return 0;
}

/* Read one pre-tokenizer step into pt. 0, or -1. */
static int read_pre_step(json_loader *L, json_t *step, const char *where, pre_tokenizer *pt)
{
    const char *type = json_string_value(json_object_get(step, "type"));
    if (!type) return fail(L, "%s.type: expected a string", where);
    if (strcmp(type, "Split") == 0) {
        json_t *pat = json_object_get(step, "pattern");
        json_t *re = json_object_get(pat, "Regex"), *str = json_object_get(pat, "String");
        const char *behavior = json_string_value(json_object_get(step, "behavior"));
        if (pt->pattern) return fail(L, "%s: only one Split step is supported", where);
        if (!json_is_string(re) && !json_is_string(str))
            return fail(L, "%s.pattern: expected {\"Regex\": ...} or {\"String\": ...}", where);
        if (!behavior || strcmp(behavior, "Isolated") != 0)
            return fail(L, "%s.behavior: only \"Isolated\" is supported", where);
        if (json_is_true(json_object_get(step, "invert")))
            return fail(L, "%s.invert: inverted splits are not supported", where);
        json_t *p = json_is_string(re) ? re : str;
        pt->pattern = json_string_value(p);
        pt->pattern_len = json_string_length(p);
        pt->literal = !json_is_string(re);
        return 0;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        json_t *prefix = json_object_get(step, "add_prefix_space");
        json_t *use_regex = json_object_get(step, "use_regex");
        if (!prefix || json_is_true(prefix))
            return fail(L, "%s.add_prefix_space: only false is supported", where);
        pt->byte_level = 1;
        pt->byte_level_regex = !use_regex || json_is_true(use_regex);
        return 0;
    }
    return fail(L, "%s.type: \"%s\" is not supported", where, type);
}

/* Read the pre_tokenizer and compile its regex. 0, or -1. */
static int read_pre_tokenizer(json_loader *L, json_t *root)
{
    json_t *pre = json_object_get(root, "pre_tokenizer");
    pre_tokenizer pt = {0};
    if (!json_is_object(pre)) return fail(L, "pre_tokenizer: expected an object");
    const char *type = json_string_value(json_object_get(pre, "type"));
    if (type && strcmp(type, "Sequence") == 0) {
        json_t *steps = json_object_get(pre, "pretokenizers"), *step;
        size_t i;
        if (!json_is_array(steps)) return fail(L, "pre_tokenizer.pretokenizers: expected an array");
        json_array_foreach(steps, i, step)
        {
            char where[64];
            snprintf(where, sizeof where, "pre_tokenizer.pretokenizers[%zu]", i);
            if (read_pre_step(L, step, where, &pt)) return -1;
        }
    } else if (read_pre_step(L, pre, "pre_tokenizer", &pt))
        return -1;
    if (!pt.byte_level)
        return fail(L, "pre_tokenizer: no ByteLevel step (only byte-level BPE is supported)");
    if (pt.pattern && pt.byte_level_regex)
        return fail(
            L, "pre_tokenizer: a Split followed by a ByteLevel with use_regex is not supported");
    if (!pt.pattern) {
        pt.pattern = gpt2_pattern;
        pt.pattern_len = sizeof gpt2_pattern - 1;
    }
    char rerr[200];
    if (fk_tok_compile_regex(L->t, pt.pattern, pt.pattern_len, pt.literal, rerr, sizeof rerr))
        return fail(L, "pre_tokenizer pattern: %s", rerr);
    return 0;
}

/* Refuse BPE options this encoder does not implement. 0, or -1. */
static int check_model_options(json_loader *L, json_t *model)
{
    const char *type = json_string_value(json_object_get(model, "type"));
    if (json_object_get(model, "type") && (!type || strcmp(type, "BPE") != 0))
        return fail(L, "model.type: only \"BPE\" is supported");
    json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout) && json_number_value(dropout) != 0.0)
        return fail(L, "model.dropout: BPE dropout is not supported");
    if (json_is_true(json_object_get(model, "byte_fallback")))
        return fail(L, "model.byte_fallback: not supported (byte-level BPE needs none)");
    const char *affix[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(model, affix[i]);
        if (v && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0))
            return fail(L, "model.%s: not supported", affix[i]);
    }
    return 0;
}

/* Build the tokenizer from a parsed root object. 0, or -1. */
static int load_root(json_loader *L, json_t *root)
{
    if (!json_is_object(root)) return fail(L, "expected a JSON object at the top");
    json_t *model = json_object_get(root, "model");
    if (!json_is_object(model)) return fail(L, "missing model (expected an object)");
    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab)) return fail(L, "missing model.vocab (expected an object)");
    json_t *merges = json_object_get(model, "merges");
    if (!json_is_array(merges)) return fail(L, "missing model.merges (expected an array)");
    json_t *added = json_object_get(root, "added_tokens");
    if (added && !json_is_null(added) && !json_is_array(added))
        return fail(L, "added_tokens: expected an array");
    if (!json_is_array(added)) added = NULL;
    json_t *norm = json_object_get(root, "normalizer");
    if (norm && !json_is_null(norm)) return fail(L, "normalizer: not supported (expected null)");
    if (check_model_options(L, model)) return -1;
    json_t *ignore = json_object_get(model, "ignore_merges");
    if (ignore && !json_is_boolean(ignore))
        return fail(L, "model.ignore_merges: expected true or false");
    L->t->ignore_merges = json_is_true(ignore);

    size_t n_vocab = 0;
    if (scan_ids(L, vocab, added, &n_vocab)) return -1;
    if (fk_vocab_init(L->t, n_vocab)) return fail(L, "out of memory");
    if (fill_tokens(L, vocab, added)) return -1;
    int32_t dup_of = -1;
    long dup = fk_vocab_index(L->t, &dup_of);
    if (dup < 0) return fail(L, "out of memory");
    if (dup > 0) return fail(L, "ids %d and %ld are the same token", (int)dup_of, dup);
    int missing = 0;
    if (fk_tok_bind_bytes(L->t, &missing))
        return fail(L, "model.vocab: no token for byte 0x%02x", missing);
    if (read_merges(L, merges)) return -1;
    return read_pre_tokenizer(L, root);
}

fktok *fktok_load_json_buffer(const char *data, size_t len, const char *name, char *err,
                              size_t err_len)
{
    json_loader L = {.name = name, .err = err, .err_len = err_len};
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!root) {
        snprintf(err, err_len, "%s:%d:%d: bad JSON: %s", name, je.line, je.column, je.text);
        return NULL;
    }
    L.t = fk_tok_new();
    int rc = L.t ? load_root(&L, root) : fail(&L, "out of memory");
    json_decref(root);
    free(L.buf);
    if (rc) {
        fktok_free(L.t);
        return NULL;
    }
    return L.t;
}

fktok *fktok_load_json(const char *path, char *err, size_t err_len)
{
    size_t len = 0;
    char *buf = fk_read_file(path, &len, err, err_len);
    if (!buf) return NULL;
    fktok *t = fktok_load_json_buffer(buf, len, path, err, err_len);
    free(buf);
    return t;
}
