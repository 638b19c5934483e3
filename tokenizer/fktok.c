/* fktok.c: tokenizer lifetime, lookups and the pieces the loaders share
 * (regex compilation, byte tokens, the bundled default). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tokenizer/fktok_internal.h"

const char fk_o200k_pattern[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

fktok *fk_tok_new(void)
{
    fktok *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    return t;
}

void fktok_free(fktok *t)
{
    if (!t) return;
    free(t->tok_off);
    free(t->tok_len);
    free(t->kind);
    free(t->blob);
    free(t->ordinary.slot);
    free(t->added.slot);
    free(t->added_lens);
    free(t->merges.slot);
    pcre2_code_free(t->re);
    pcre2_match_context_free(t->mctx);
    free(t);
}

int fk_tok_compile_regex(fktok *t, const char *pattern, size_t len, int literal, char *err,
                         size_t err_len)
{
    int code = 0;
    PCRE2_SIZE offset = 0;
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0);
    t->re = pcre2_compile((PCRE2_SPTR)pattern, len, opts, &code, &offset, NULL);
    if (!t->re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        snprintf(err, err_len, "regex error at offset %zu: %s", (size_t)offset, (char *)msg);
        return -1;
    }
    /* JIT is an optimisation: without it (unsupported platform) matching
     * falls back to the interpreter. */
    (void)pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE);
    t->mctx = pcre2_match_context_create(NULL);
    if (!t->mctx) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    pcre2_set_match_limit(t->mctx, FK_MATCH_LIMIT);
    return 0;
}

int fk_tok_bind_bytes(fktok *t, int *missing)
{
    for (int b = 0; b < 256; b++) {
        unsigned char c = (unsigned char)b;
        t->byte_id[b] = fk_bytemap_get(t, &t->ordinary, &c, 1);
        if (t->byte_id[b] < 0) {
            *missing = b;
            return -1;
        }
    }
    return 0;
}

/* ---- lookups ---- */

int32_t fktok_special_id(const fktok *t, const char *text, size_t len)
{
    int32_t id = fk_bytemap_get(t, &t->added, text, len);
    return id >= 0 && t->kind[id] == FK_TOK_SPECIAL ? id : -1;
}

int fktok_is_special(const fktok *t, int32_t id)
{
    return id >= 0 && (size_t)id < t->n_vocab && t->kind[id] == FK_TOK_SPECIAL;
}

const char *fktok_token_bytes(const fktok *t, int32_t id, size_t *len)
{
    if (id < 0 || (size_t)id >= t->n_vocab || t->kind[id] == FK_TOK_NONE) return NULL;
    *len = t->tok_len[id];
    return t->blob + t->tok_off[id];
}

size_t fktok_vocab_size(const fktok *t)
{
    return t->n_vocab;
}

/* ---- loading by path ---- */

fktok *fktok_load_default(char *err, size_t err_len)
{
    const char *dir = getenv("FK_TOKENIZER_DATA");
    if (!dir || !*dir) dir = FK_PKGDATADIR;
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/o200k_base.tiktoken", dir) >= sizeof path) {
        snprintf(err, err_len, "tokenizer data directory path too long: %s", dir);
        return NULL;
    }
    return fktok_load_tiktoken(path, err, err_len);
}

fktok *fktok_load(const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return fktok_load_tiktoken(path, err, err_len); /* names the open error */
    int c;
    while ((c = fgetc(f)) == ' ' || c == '\t' || c == '\r' || c == '\n') {
    }
    fclose(f);
    return c == '{' ? fktok_load_json(path, err, err_len) : fktok_load_tiktoken(path, err, err_len);
}

char *fk_read_file(const char *path, size_t *len, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    size_t cap = fstat(fileno(f), &st) == 0 && st.st_size > 0 ? (size_t)st.st_size + 1 : 1 << 16;
    size_t n = 0;
    char *buf = malloc(cap + 1);
    while (buf) { /* the size is a hint: read until the end whatever it is */
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *bigger = cap < SIZE_MAX / 4 ? realloc(buf, cap * 2 + 1) : NULL;
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int failed = ferror(f), read_errno = errno;
    fclose(f);
    if (!buf || failed) {
        snprintf(err, err_len, "%s: %s", path, buf ? strerror(read_errno) : "out of memory");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}
