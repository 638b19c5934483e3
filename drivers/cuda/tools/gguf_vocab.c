/* gguf_vocab.c: tokenizer.json -> the GGUF vocabulary (see gguf_vocab.h). */
#include "gguf_vocab.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKEN_ID (1 << 24) /* as libfktok: larger ids only make tables huge */
#define NO_OFFSET SIZE_MAX     /* a token whose text lives in the JSON document */

/* Load-time state: the document, the growing string blob and where errors go. */
typedef struct loader {
    const char *path;  /* file name for messages */
    char *err;         /* caller's message buffer */
    size_t err_len;    /* its size */
    json_t *vocab;     /* model.vocab (borrowed from the document) */
    char *blob;        /* owned strings, NUL-separated */
    size_t blob_len;   /* bytes used */
    size_t blob_cap;   /* bytes allocated */
    size_t *tok_off;   /* (n) offset of a token's text in blob, or NO_OFFSET */
    size_t *merge_off; /* (merges) offset of each kept merge in blob */
    size_t merges_cap; /* entries allocated in merge_off */
} loader;

__attribute__((format(printf, 2, 3))) static int fail(loader *L, const char *fmt, ...)
{
    int n = snprintf(L->err, L->err_len, "%s: ", L->path);
    if (n >= 0 && (size_t)n < L->err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(L->err + n, L->err_len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Append bytes and a NUL to the blob; their offset in *off. */
static int blob_add(loader *L, const char *s, size_t n, size_t *off)
{
    if (L->blob_len + n + 1 > L->blob_cap) {
        size_t cap = L->blob_cap ? L->blob_cap : 1 << 20;
        while (cap < L->blob_len + n + 1) cap *= 2;
        char *nb = realloc(L->blob, cap);
        if (!nb) return fail(L, "out of memory");
        L->blob = nb;
        L->blob_cap = cap;
    }
    memcpy(L->blob + L->blob_len, s, n);
    L->blob[L->blob_len + n] = 0;
    *off = L->blob_len;
    L->blob_len += n + 1;
    return 0;
}

/* The converter's does_token_look_special for o200k: "<|...|>". */
static int looks_special(const char *s)
{
    size_t n = strlen(s);
    return n >= 4 && memcmp(s, "<|", 2) == 0 && memcmp(s + n - 2, "|>", 2) == 0;
}

/* model.vocab: text -> id. */
static int read_vocab(loader *L, fk_gguf_vocab *v)
{
    const char *key;
    json_t *val;
    json_object_foreach(L->vocab, key, val)
    {
        json_int_t id = json_integer_value(val);
        if (!json_is_integer(val) || id < 0 || id >= MAX_TOKEN_ID)
            return fail(L, "model.vocab[\"%s\"]: expected an id in 0..%d", key, MAX_TOKEN_ID - 1);
        if ((size_t)id >= v->n) {
            v->dropped_tokens++;
            continue;
        }
        if (v->tokens[id])
            return fail(L, "model.vocab: id %lld is given to \"%s\" and \"%s\"", (long long)id,
                        v->tokens[id], key);
        v->tokens[id] = key;
        v->token_len[id] = strlen(key);
        v->types[id] = FK_TOKTYPE_NORMAL;
    }
    return 0;
}

/* added_tokens: [{id, content, special}], replacing a vocab entry of the same id. */
static int read_added(loader *L, json_t *added, fk_gguf_vocab *v)
{
    if (added && !json_is_array(added)) return fail(L, "added_tokens: expected an array");
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a)
    {
        json_t *jid = json_object_get(a, "id");
        const char *content = json_string_value(json_object_get(a, "content"));
        json_int_t id = json_integer_value(jid);
        if (!json_is_integer(jid) || id < 0 || id >= MAX_TOKEN_ID || !content || !*content)
            return fail(L, "added_tokens[%zu]: expected an id in 0..%d and a non-empty content", i,
                        MAX_TOKEN_ID - 1);
        if ((size_t)id >= v->n) {
            v->dropped_tokens++;
            continue;
        }
        int special = json_is_true(json_object_get(a, "special"));
        v->tokens[id] = content;
        v->token_len[id] = strlen(content);
        v->types[id] = special || looks_special(content) ? FK_TOKTYPE_CONTROL : FK_TOKTYPE_USER;
        if (strcmp(content, "<|startoftext|>") == 0) v->bos_id = (int32_t)id;
    }
    return 0;
}

/* Ids no entry names become "[PAD<id>]", unused. */
static int fill_pads(loader *L, fk_gguf_vocab *v)
{
    for (size_t id = 0; id < v->n; id++) {
        L->tok_off[id] = NO_OFFSET;
        if (v->tokens[id]) continue;
        char name[32];
        int len = snprintf(name, sizeof name, "[PAD%zu]", id);
        if (blob_add(L, name, (size_t)len, &L->tok_off[id])) return -1;
        v->token_len[id] = (size_t)len;
        v->types[id] = FK_TOKTYPE_UNUSED;
    }
    return 0;
}

/* Id of a model.vocab token, -1 when it is not one. */
static json_int_t vocab_id(loader *L, const char *s, size_t n)
{
    char buf[512];
    if (n >= sizeof buf) return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    json_t *id = json_object_get(L->vocab, buf);
    return json_is_integer(id) ? json_integer_value(id) : -1;
}

/* One merge, as ["left", "right"] or "left right": kept, dropped (it names a
 * token of a reduced vocabulary's dropped ids) or refused. */
static int read_merge(loader *L, fk_gguf_vocab *v, size_t i, json_t *m)
{
    const char *l, *r;
    size_t ll, rl;
    if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
        json_is_string(json_array_get(m, 1))) {
        l = json_string_value(json_array_get(m, 0));
        ll = json_string_length(json_array_get(m, 0));
        r = json_string_value(json_array_get(m, 1));
        rl = json_string_length(json_array_get(m, 1));
    } else if (json_is_string(m)) {
        const char *s = json_string_value(m), *sp = strchr(s + (s[0] != 0), ' ');
        if (!sp) return fail(L, "model.merges[%zu]: \"%s\" is not \"left right\"", i, s);
        l = s;
        ll = (size_t)(sp - s);
        r = sp + 1;
        rl = strlen(r);
    } else {
        return fail(L, "model.merges[%zu]: expected [\"left\", \"right\"] or \"left right\"", i);
    }
    if (memchr(l, ' ', ll) || memchr(r, ' ', rl) || !ll || !rl)
        return fail(L, "model.merges[%zu]: a part is empty or holds a space", i);
    char both[512];
    if (ll + rl >= sizeof both) return fail(L, "model.merges[%zu]: longer than 511 bytes", i);
    memcpy(both, l, ll);
    memcpy(both + ll, r, rl);
    json_int_t ids[3] = {vocab_id(L, l, ll), vocab_id(L, r, rl), vocab_id(L, both, ll + rl)};
    for (int k = 0; k < 3; k++) {
        if (ids[k] < 0)
            return fail(L, "model.merges[%zu]: \"%.*s\" is not in model.vocab", i,
                        (int)(k == 0   ? ll
                              : k == 1 ? rl
                                       : ll + rl),
                        k == 0   ? l
                        : k == 1 ? r
                                 : both);
    }
    if ((size_t)ids[0] >= v->n || (size_t)ids[1] >= v->n || (size_t)ids[2] >= v->n) {
        v->dropped_merges++;
        return 0;
    }
    both[ll] = ' ';
    memcpy(both + ll + 1, r, rl);
    if (v->n_merges == L->merges_cap) {
        size_t cap = L->merges_cap ? 2 * L->merges_cap : 1 << 16;
        size_t *no = realloc(L->merge_off, cap * sizeof *no);
        size_t *nl = realloc(v->merge_len, cap * sizeof *nl);
        if (no) L->merge_off = no;
        if (nl) v->merge_len = nl;
        if (!no || !nl) return fail(L, "out of memory");
        L->merges_cap = cap;
    }
    v->merge_len[v->n_merges] = ll + 1 + rl;
    return blob_add(L, both, ll + 1 + rl, &L->merge_off[v->n_merges++]);
}

static int read_merges(loader *L, json_t *merges, fk_gguf_vocab *v)
{
    if (!json_is_array(merges)) return fail(L, "model.merges: expected an array");
    size_t i;
    json_t *m;
    json_array_foreach(merges, i, m)
    {
        if (read_merge(L, v, i, m)) return -1;
    }
    return 0;
}

/* Blob offsets -> pointers, once the blob no longer moves. */
static int resolve(loader *L, fk_gguf_vocab *v)
{
    v->merges = malloc((v->n_merges ? v->n_merges : 1) * sizeof *v->merges);
    if (!v->merges) return fail(L, "out of memory");
    for (size_t i = 0; i < v->n_merges; i++) v->merges[i] = L->blob + L->merge_off[i];
    for (size_t id = 0; id < v->n; id++) {
        if (L->tok_off[id] != NO_OFFSET) v->tokens[id] = L->blob + L->tok_off[id];
    }
    v->blob = L->blob;
    L->blob = NULL;
    return 0;
}

static int load(loader *L, size_t n_vocab, fk_gguf_vocab *v)
{
    json_error_t je;
    json_t *doc = json_load_file(L->path, 0, &je);
    if (!doc) return fail(L, "line %d: %s", je.line, je.text);
    v->doc = doc;
    json_t *model = json_object_get(doc, "model");
    const char *type = json_string_value(json_object_get(model, "type"));
    if (!type || strcmp(type, "BPE") != 0)
        return fail(L, "model.type: expected \"BPE\" (a byte-level BPE tokenizer)");
    L->vocab = json_object_get(model, "vocab");
    if (!json_is_object(L->vocab)) return fail(L, "model.vocab: expected an object");
    v->n = n_vocab;
    v->tokens = calloc(n_vocab, sizeof *v->tokens);
    v->token_len = calloc(n_vocab, sizeof *v->token_len);
    v->types = calloc(n_vocab, sizeof *v->types);
    L->tok_off = calloc(n_vocab, sizeof *L->tok_off);
    if (!v->tokens || !v->token_len || !v->types || !L->tok_off) return fail(L, "out of memory");
    if (read_vocab(L, v) || read_added(L, json_object_get(doc, "added_tokens"), v) ||
        fill_pads(L, v) || read_merges(L, json_object_get(model, "merges"), v))
        return -1;
    return resolve(L, v);
}

int fk_gguf_vocab_load(const char *path, size_t n_vocab, fk_gguf_vocab *v, char *err,
                       size_t err_len)
{
    memset(v, 0, sizeof *v);
    v->bos_id = -1;
    loader L = {.path = path, .err = err, .err_len = err_len};
    int rc = load(&L, n_vocab, v);
    free(L.blob);
    free(L.tok_off);
    free(L.merge_off);
    if (rc) fk_gguf_vocab_free(v);
    return rc;
}

void fk_gguf_vocab_free(fk_gguf_vocab *v)
{
    free(v->tokens);
    free(v->token_len);
    free(v->types);
    free(v->merges);
    free(v->merge_len);
    free(v->blob);
    json_decref(v->doc);
    memset(v, 0, sizeof *v);
    v->bos_id = -1;
}
