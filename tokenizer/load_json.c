/* load_json.c: reads a Hugging Face tokenizer.json holding a byte-level BPE
 * (GPT-2 byte alphabet): model.vocab, model.merges (["a", "b"] pairs or
 * "a b" strings), model.ignore_merges, added_tokens, and a pre_tokenizer made
 * of one Split regex (behavior Isolated) and ByteLevel. Anything this encoder
 * would get wrong (normalizers, dropout, prefix spaces...) is refused by name
 * rather than silently ignored.
 *
 * The two large members (model.vocab, model.merges: 12 MB for o200k) are read
 * in place with the pull reader of json_scan.h; every other member is small
 * and goes through jansson. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/fktok_internal.h"
#include "tokenizer/json_scan.h"

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
    const char *doc;    /* the whole document */
    size_t doc_len;     /* its length */
    const char *vocab;  /* where model.vocab's value starts in doc, or NULL */
    const char *merges; /* where model.merges' value starts in doc, or NULL */
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

/* A reader positioned at one of the big members. */
static void reader_at(json_loader *L, fk_json *j, const char *at)
{
    fkj_init(j, L->doc, L->doc_len);
    j->p = at;
}

/* Report a reader error with its line and column. Returns -1. */
static int json_fail(json_loader *L, fk_json *j, const char *where)
{
    int line, col;
    fkj_position(j, &line, &col);
    fail(L, "%d:%d: bad JSON in %s: %s", line, col, where,
         j->error ? j->error : "unexpected value");
    fkj_free(j);
    return -1;
}

/* Walk model.vocab: with fill 0, check it and find the largest id; with
 * fill 1, give every id its bytes (ids already taken by added tokens keep
 * them). 0, or -1. */
static int walk_vocab(json_loader *L, int fill, long long *max)
{
    fk_json j;
    reader_at(L, &j, L->vocab);
    if (fkj_peek(&j) != '{') {
        fkj_free(&j);
        return fail(L, "model.vocab: expected an object");
    }
    j.p++;
    int first = 1, more;
    const char *key;
    size_t klen;
    while ((more = fkj_object_next(&j, &first, &key, &klen)) == 1) {
        long long id = -1; /* stays -1 when the value is not a number */
        int c = fkj_peek(&j);
        if ((c == '-' || (c >= '0' && c <= '9')) && fkj_int(&j, &id))
            return json_fail(L, &j, "model.vocab");
        if (id < 0 || id >= MAX_TOKEN_ID) {
            fkj_free(&j);
            return fail(L, "model.vocab[\"%.*s\"]: expected an id in 0..%d", (int)klen, key,
                        MAX_TOKEN_ID - 1);
        }
        if (!fill) {
            if (id > *max) *max = id;
            continue;
        }
        fktok *t = L->t;
        if (t->kind[id] == FK_TOK_SPECIAL || t->kind[id] == FK_TOK_ADDED_PLAIN) continue;
        long n = to_bytes(L, key, klen, "model.vocab");
        int rc = n < 0 ? -1 : fk_vocab_set(t, (int32_t)id, L->buf, (size_t)n, FK_TOK_ORDINARY);
        if (rc) {
            fkj_free(&j);
            if (rc == -2) return fail(L, "model.vocab: id %lld is given to two tokens", id);
            return n < 0 ? -1 : fail(L, "out of memory");
        }
    }
    if (more < 0) return json_fail(L, &j, "model.vocab");
    fkj_free(&j);
    return 0;
}

/* Check added_tokens and raise *max to its largest id. 0, or -1. */
static int scan_added(json_loader *L, json_t *added, long long *max)
{
    size_t i;
    json_t *v;
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
        static const char *const unsupported[] = {"lstrip", "rstrip", "single_word"};
        for (size_t k = 0; k < 3; k++)
            if (json_is_true(json_object_get(v, unsupported[k])))
                return fail(L, "added_tokens[%zu].%s: only false is supported", i, unsupported[k]);
        if (json_integer_value(id) > *max) *max = json_integer_value(id);
    }
    return 0;
}

/* Enter the added tokens. 0, or -1. */
static int fill_added(json_loader *L, json_t *added)
{
    size_t i;
    json_t *v;
    json_array_foreach(added, i, v)
    {
        json_t *content = json_object_get(v, "content");
        int32_t id = (int32_t)json_integer_value(json_object_get(v, "id"));
        int kind =
            json_is_true(json_object_get(v, "special")) ? FK_TOK_SPECIAL : FK_TOK_ADDED_PLAIN;
        int rc =
            fk_vocab_set(L->t, id, json_string_value(content), json_string_length(content), kind);
        if (rc == -2) return fail(L, "added_tokens[%zu]: id %d appears twice", i, (int)id);
        if (rc) return fail(L, "out of memory");
    }
    return 0;
}

/* Merges are resolved in batches: every hash probe of a batch is prefetched
 * before the first is needed, so the cache misses on the big tables overlap
 * instead of adding up. */
#define MERGE_BATCH 64

/* One merge of a batch: its left, right and merged token ([0], [1], [2]). */
typedef struct merge_item {
    size_t index;     /* position in model.merges */
    size_t off[3];    /* token bytes: offsets in the batch arena */
    size_t len[3];    /* their lengths */
    uint64_t hash[3]; /* their byte-map hashes */
    int32_t id[3];    /* their ids once found */
} merge_item;

/* A batch of merges and the bytes they refer to. */
typedef struct merge_batch {
    merge_item item[MERGE_BATCH]; /* the merges */
    size_t n;                     /* items in use */
    unsigned char *arena;         /* token bytes of all items */
    size_t len;                   /* arena bytes in use */
    size_t cap;                   /* arena bytes allocated */
} merge_batch;

/* Make room for n more arena bytes. 0, or -1 on OOM. */
static int arena_reserve(json_loader *L, merge_batch *b, size_t n)
{
    if (b->len + n <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    unsigned char *arena = realloc(b->arena, cap);
    if (!arena) return fail(L, "out of memory");
    b->arena = arena;
    b->cap = cap;
    return 0;
}

/* Record token k of the current item from raw bytes, hash it and prefetch
 * its slot. 0, or -1. */
static int item_bytes(json_loader *L, merge_batch *b, int k, const void *s, size_t n)
{
    merge_item *it = &b->item[b->n];
    if (arena_reserve(L, b, n)) return -1;
    memcpy(b->arena + b->len, s, n);
    it->off[k] = b->len;
    it->len[k] = n;
    it->hash[k] = fk_bytemap_hash(s, n);
    fk_bytemap_prefetch(&L->t->ordinary, it->hash[k]);
    b->len += n;
    return 0;
}

/* Record operand k (a byte-level string) of the current item. 0, or -1. */
static int item_operand(json_loader *L, merge_batch *b, int k, const char *s, size_t n)
{
    size_t len = 0;
    uint32_t bad = 0;
    if (reserve(L, n + 1)) return -1;
    if (fk_bytelevel_decode(s, n, L->buf, &len, &bad))
        return fail(L, "model.merges[%zu]: \"%.*s\" is not a byte-level token", b->item[b->n].index,
                    (int)n, s);
    return item_bytes(L, b, k, L->buf, len);
}

/* Read one merge entry into the batch: a "LEFT RIGHT" string or a
 * [LEFT, RIGHT] pair. 0, 1 when the entry has the wrong shape, -1 on another
 * error. */
static int read_merge_entry(json_loader *L, fk_json *j, merge_batch *b)
{
    const char *x, *y;
    size_t nx, ny;
    int c = fkj_peek(j);
    if (c == '"') {
        if (fkj_string(j, &x, &nx)) return 1;
        const char *sp = memchr(x, ' ', nx);
        if (!sp || memchr(sp + 1, ' ', nx - (size_t)(sp + 1 - x)) || sp == x || sp + 1 == x + nx)
            return 1;
        if (item_operand(L, b, 0, x, (size_t)(sp - x))) return -1;
        return item_operand(L, b, 1, sp + 1, nx - (size_t)(sp + 1 - x)) ? -1 : 0;
    }
    if (c != '[') return 1;
    j->p++;
    if (fkj_peek(j) != '"' || fkj_string(j, &x, &nx) || nx == 0) return 1;
    if (item_operand(L, b, 0, x, nx)) return -1; /* before y reuses j->buf */
    if (fkj_expect(j, ',') || fkj_peek(j) != '"' || fkj_string(j, &y, &ny) || ny == 0 ||
        fkj_expect(j, ']'))
        return 1;
    return item_operand(L, b, 1, y, ny) ? -1 : 0;
}

/* Id of token k of item it: an ordinary token, else an added one; -1 when
 * neither. */
static int32_t item_find(json_loader *L, merge_batch *b, merge_item *it, int k)
{
    const unsigned char *s = b->arena + it->off[k];
    int32_t id = fk_bytemap_find(L->t, &L->t->ordinary, s, it->len[k], it->hash[k]);
    return id >= 0 ? id : fk_bytemap_get(L->t, &L->t->added, s, it->len[k]);
}

/* Resolve and record every merge of the batch. 0, or -1. */
static int resolve_batch(json_loader *L, merge_batch *b)
{
    fktok *t = L->t;
    for (size_t k = 0; k < b->n; k++) { /* operands, then the merged bytes */
        merge_item *it = &b->item[k];
        for (int side = 0; side < 2; side++) {
            it->id[side] = item_find(L, b, it, side);
            if (it->id[side] < 0)
                return fail(L, "model.merges[%zu]: \"%.*s\" is not in model.vocab", it->index,
                            (int)it->len[side], (const char *)b->arena + it->off[side]);
        }
        size_t la = t->tok_len[it->id[0]], lb = t->tok_len[it->id[1]];
        if (reserve(L, la + lb + 1)) return -1;
        memcpy(L->buf, t->blob + t->tok_off[it->id[0]], la);
        memcpy(L->buf + la, t->blob + t->tok_off[it->id[1]], lb);
        size_t keep = b->n;
        b->n = k; /* item_bytes writes item b->n */
        int rc = item_bytes(L, b, 2, L->buf, la + lb);
        b->n = keep;
        if (rc) return -1;
    }
    for (size_t k = 0; k < b->n; k++) {
        merge_item *it = &b->item[k];
        it->id[2] = item_find(L, b, it, 2);
        if (it->id[2] < 0)
            return fail(L, "model.merges[%zu]: merged token of ids %d and %d is not in model.vocab",
                        it->index, (int)it->id[0], (int)it->id[1]);
        fk_pairmap_prefetch(&t->merges, it->id[0], it->id[1]);
    }
    for (size_t k = 0; k < b->n; k++) {
        merge_item *it = &b->item[k];
        if (t->kind[it->id[2]] == FK_TOK_SPECIAL) continue;
        if (it->index > INT32_MAX ||
            fk_pairmap_put(&t->merges, it->id[0], it->id[1], (int32_t)it->index, it->id[2]))
            return fail(L, "out of memory");
    }
    b->n = 0;
    b->len = 0;
    return 0;
}

/* Read model.merges: entry i merges with priority i (a later duplicate wins,
 * as in Hugging Face tokenizers). Merges that would produce a special token
 * are dropped so that encoding without specials never yields one. */
static int read_merges(json_loader *L)
{
    fk_json j;
    reader_at(L, &j, L->merges);
    if (fkj_peek(&j) != '[') {
        fkj_free(&j);
        return fail(L, "model.merges: expected an array");
    }
    j.p++;
    const char *items = j.p;
    int first = 1, more;
    size_t i = 0;
    while ((more = fkj_array_next(&j, &first)) == 1 && fkj_skip(&j) == 0) i++;
    if (more < 0 || j.error) return json_fail(L, &j, "model.merges");
    merge_batch *b = calloc(1, sizeof *b);
    int rc = !b || fk_pairmap_reserve(&L->t->merges, i) ? fail(L, "out of memory") : 0;
    j.p = items; /* counted; now read them */
    first = 1;
    for (i = 0; rc == 0 && (more = fkj_array_next(&j, &first)) == 1; i++) {
        b->item[b->n].index = i;
        rc = read_merge_entry(L, &j, b);
        if (rc > 0)
            rc = fail(L, "model.merges[%zu]: expected \"LEFT RIGHT\" or [\"LEFT\", \"RIGHT\"]", i);
        else if (rc == 0 && ++b->n == MERGE_BATCH)
            rc = resolve_batch(L, b);
    }
    if (rc == 0 && more < 0) rc = json_fail(L, &j, "model.merges");
    if (rc == 0) rc = resolve_batch(L, b);
    if (b) free(b->arena);
    free(b);
    fkj_free(&j);
    return rc;
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

/* Build the tokenizer from the small members (root, model) and the big
 * ones found in the document. 0, or -1. */
static int load_root(json_loader *L, json_t *root, json_t *model)
{
    if (!model) return fail(L, "missing model (expected an object)");
    if (!L->vocab) return fail(L, "missing model.vocab (expected an object)");
    if (!L->merges) return fail(L, "missing model.merges (expected an array)");
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

    long long max = -1;
    if (walk_vocab(L, 0, &max) || scan_added(L, added, &max)) return -1;
    if (max < 0) return fail(L, "model.vocab is empty");
    if (fk_vocab_init(L->t, (size_t)max + 1)) return fail(L, "out of memory");
    if (fill_added(L, added) || walk_vocab(L, 1, &max)) return -1;
    int32_t dup_of = -1;
    long dup = fk_vocab_index(L->t, &dup_of);
    if (dup < 0) return fail(L, "out of memory");
    if (dup > 0) return fail(L, "ids %d and %ld are the same token", (int)dup_of, dup);
    int missing = 0;
    if (fk_tok_bind_bytes(L->t, &missing))
        return fail(L, "model.vocab: no token for byte 0x%02x", missing);
    if (read_merges(L)) return -1;
    return read_pre_tokenizer(L, root);
}

/* Parse one small member value with jansson and store it under key in obj
 * (a repeated key is an error). 0, or -1. */
static int keep_small(json_loader *L, fk_json *j, json_t *obj, const char *key, size_t klen,
                      const char *where)
{
    fkj_peek(j);
    const char *start = j->p;
    if (fkj_skip(j)) return json_fail(L, j, where);
    if (json_object_getn(obj, key, klen))
        return fail(L, "%s: key \"%.*s\" appears twice", where, (int)klen, key);
    json_error_t je;
    json_t *v = json_loadb(start, (size_t)(j->p - start),
                           JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!v) {
        int line, col;
        fkj_position(j, &line, &col);
        return fail(L, "%d:%d: bad JSON in %s.%.*s: %s", line, col, where, (int)klen, key, je.text);
    }
    json_object_setn_new(obj, key, klen, v);
    return 0;
}

/* Walk the model object: vocab and merges are only located, the rest kept.
 * 0, or -1. */
static int scan_model(json_loader *L, fk_json *j, json_t *model)
{
    j->p++; /* the '{' */
    int first = 1, more;
    const char *key;
    size_t klen;
    while ((more = fkj_object_next(j, &first, &key, &klen)) == 1) {
        const char **big = klen == 5 && memcmp(key, "vocab", 5) == 0    ? &L->vocab
                           : klen == 6 && memcmp(key, "merges", 6) == 0 ? &L->merges
                                                                        : NULL;
        if (!big) {
            if (keep_small(L, j, model, key, klen, "model")) return -1;
            continue;
        }
        if (*big) return fail(L, "model: key \"%.*s\" appears twice", (int)klen, key);
        fkj_peek(j);
        *big = j->p;
        if (fkj_skip(j)) return json_fail(L, j, "model");
    }
    return more < 0 ? json_fail(L, j, "model") : 0;
}

/* First pass over the document: keep the small members (in root and
 * *model), locate the big ones. 0, or -1. */
static int scan_document(json_loader *L, json_t *root, json_t **model)
{
    fk_json j;
    fkj_init(&j, L->doc, L->doc_len);
    if (fkj_peek(&j) != '{') {
        fkj_free(&j);
        if (fkj_peek(&j) < 0) return fail(L, "1:1: bad JSON: empty document");
        return fail(L, "expected a JSON object at the top");
    }
    j.p++;
    int first = 1, more;
    const char *key;
    size_t klen;
    while ((more = fkj_object_next(&j, &first, &key, &klen)) == 1) {
        int rc;
        if (klen == 5 && memcmp(key, "model", 5) == 0 && fkj_peek(&j) == '{') {
            if (*model)
                rc = fail(L, "key \"model\" appears twice");
            else
                rc =
                    (*model = json_object()) ? scan_model(L, &j, *model) : fail(L, "out of memory");
        } else {
            rc = keep_small(L, &j, root, key, klen, "the top object");
        }
        if (rc) {
            fkj_free(&j);
            return -1;
        }
    }
    if (more < 0) return json_fail(L, &j, "the top object");
    if (fkj_peek(&j) >= 0) {
        j.error = "trailing characters after the top object";
        return json_fail(L, &j, "the document");
    }
    fkj_free(&j);
    return 0;
}

fktok *fktok_load_json_buffer(const char *data, size_t len, const char *name, char *err,
                              size_t err_len)
{
    json_loader L = {.name = name, .err = err, .err_len = err_len, .doc = data, .doc_len = len};
    json_t *root = json_object(), *model = NULL;
    L.t = fk_tok_new();
    int rc = root && L.t ? scan_document(&L, root, &model) : fail(&L, "out of memory");
    if (rc == 0) rc = load_root(&L, root, model);
    json_decref(model);
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
