/* dotenv.c: a small, strict .env parser (see dotenv.h for the grammar). */
#include "dotenv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/regular_file.h"
#include "harmony/strbuf.h"

/* ---- entries ----------------------------------------------------------------- */

void fk_dotenv_init(fk_dotenv *d)
{
    memset(d, 0, sizeof *d);
}

void fk_dotenv_free(fk_dotenv *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].key);
        free(d->v[i].value);
    }
    free(d->v);
    fk_dotenv_init(d);
}

const fk_dotenv_entry *fk_dotenv_find(const fk_dotenv *d, const char *key)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->v[i].key, key) == 0) return &d->v[i];
    return NULL;
}

int fk_dotenv_copy(fk_dotenv *dst, const fk_dotenv *src)
{
    fk_dotenv_init(dst);
    if (src->n == 0) return 0;
    if (!(dst->v = calloc(src->n, sizeof *dst->v))) return -1;
    dst->cap = src->n;
    for (; dst->n < src->n; dst->n++) {
        const fk_dotenv_entry *e = &src->v[dst->n];
        char *key = strdup(e->key), *value = strdup(e->value);
        if (!key || !value) {
            free(key);
            free(value);
            fk_dotenv_free(dst);
            return -1;
        }
        dst->v[dst->n] = (fk_dotenv_entry){key, value, e->line};
    }
    return 0;
}

/* Takes ownership of key and value (frees them on failure). */
static int dotenv_set(fk_dotenv *d, char *key, char *value, int line)
{
    for (size_t i = 0; i < d->n; i++) {
        if (strcmp(d->v[i].key, key) == 0) {
            free(d->v[i].value);
            free(key);
            d->v[i].value = value;
            d->v[i].line = line;
            return 0;
        }
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        fk_dotenv_entry *v = realloc(d->v, cap * sizeof *v);
        if (!v) {
            free(key);
            free(value);
            return -1;
        }
        d->v = v;
        d->cap = cap;
    }
    d->v[d->n++] = (fk_dotenv_entry){key, value, line};
    return 0;
}

/* ---- the parser ---------------------------------------------------------------- */

typedef struct cursor {
    const char *p;     /* next byte */
    const char *end;   /* one past the last byte */
    int line;          /* line of *p, 1-based */
    const char *fname; /* for messages */
    char *err;         /* message buffer */
    size_t err_len;
} cursor;

__attribute__((format(printf, 3, 4))) static int fail(cursor *c, int line, const char *fmt, ...)
{
    int n = snprintf(c->err, c->err_len, "%s:%d: ", c->fname, line);
    if (n >= 0 && (size_t)n < c->err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->err_len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int at_end(const cursor *c)
{
    return c->p >= c->end;
}

static void skip_blanks(cursor *c)
{
    while (!at_end(c) && (*c->p == ' ' || *c->p == '\t')) c->p++;
}

/* Skip to just past the end of the current line. */
static void skip_line(cursor *c)
{
    while (!at_end(c) && *c->p != '\n') c->p++;
    if (!at_end(c)) {
        c->p++;
        c->line++;
    }
}

static int is_key_start(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_';
}

static int is_key_char(char ch)
{
    return is_key_start(ch) || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-';
}

/* After a closing quote: blanks, then end of line, "\r\n" or a comment. */
static int after_quote(cursor *c, int line)
{
    skip_blanks(c);
    if (at_end(c) || *c->p == '\n' || *c->p == '#' ||
        (*c->p == '\r' && (c->p + 1 == c->end || c->p[1] == '\n'))) {
        skip_line(c);
        return 0;
    }
    return fail(c, line, "unexpected text after the closing quote");
}

static int read_quoted(cursor *c, char quote, strbuf *val, int line)
{
    c->p++; /* the opening quote */
    for (;;) {
        if (at_end(c))
            return fail(c, line, "unterminated %s-quoted value",
                        quote == '"' ? "double" : "single");
        char ch = *c->p++;
        if (ch == quote) return after_quote(c, line);
        if (ch == '\n') c->line++;
        if (ch == '\\' && quote == '"') {
            if (at_end(c)) continue;
            char e = *c->p++;
            switch (e) {
            case 'n':
                ch = '\n';
                break;
            case 't':
                ch = '\t';
                break;
            case 'r':
                ch = '\r';
                break;
            case '\\':
            case '"':
            case '\'':
            case '$':
                ch = e;
                break;
            case '\n':
                /* a backslash-newline continues the line */
                c->line++;
                continue;
            default:
                if (strbuf_append_char(val, '\\') < 0) return fail(c, line, "out of memory");
                ch = e;
            }
        }
        if (strbuf_append_char(val, ch) < 0) return fail(c, line, "out of memory");
    }
}

static int read_unquoted(cursor *c, strbuf *val)
{
    const char *start = c->p;
    while (!at_end(c) && *c->p != '\n') {
        /* " #" starts a comment */
        if (*c->p == '#' && c->p > start && (c->p[-1] == ' ' || c->p[-1] == '\t')) break;
        c->p++;
    }
    const char *stop = c->p;
    while (stop > start && (stop[-1] == ' ' || stop[-1] == '\t' || stop[-1] == '\r')) stop--;
    for (const char *q = start; q < stop; q++)
        if (strbuf_append_char(val, *q) < 0) return -1;
    skip_line(c);
    return 0;
}

static int parse_entry(cursor *c, fk_dotenv *out)
{
    int line = c->line;
    if (c->end - c->p > 7 && memcmp(c->p, "export", 6) == 0 &&
        (c->p[6] == ' ' || c->p[6] == '\t')) {
        c->p += 6;
        skip_blanks(c);
    }
    const char *k = c->p;
    if (at_end(c) || !is_key_start(*c->p)) return fail(c, line, "expected KEY=VALUE");
    while (!at_end(c) && is_key_char(*c->p)) c->p++;
    size_t klen = (size_t)(c->p - k);
    char after = at_end(c) ? '\n' : *c->p;
    skip_blanks(c);
    if (at_end(c) || *c->p != '=') {
        const char *eol = memchr(c->p, '\n', (size_t)(c->end - c->p));
        if (!memchr(c->p, '=', (size_t)((eol ? eol : c->end) - c->p)))
            return fail(c, line, "%.*s: expected '=' after the key (a line is KEY=VALUE)",
                        (int)klen, k);
        return fail(c, line, "%.*s: invalid character '%c' in a key (letters, digits, _ . -)",
                    (int)klen, k, after == ' ' || after == '\t' ? after : *c->p);
    }
    c->p++;
    skip_blanks(c);
    strbuf val;
    strbuf_init(&val);
    int rc;
    if (!at_end(c) && (*c->p == '"' || *c->p == '\''))
        rc = read_quoted(c, *c->p, &val, line);
    else
        rc = read_unquoted(c, &val);
    if (rc < 0) {
        strbuf_clear(&val);
        if (!c->err[0]) fail(c, line, "out of memory");
        return -1;
    }
    char *key = strndup(k, klen);
    char *value = strbuf_take(&val, NULL);
    if (!key || !value) {
        free(key);
        free(value);
        return fail(c, line, "out of memory");
    }
    if (dotenv_set(out, key, value, line) < 0) return fail(c, line, "out of memory");
    return 0;
}

int fk_dotenv_parse(const char *buf, size_t len, const char *fname, fk_dotenv *out, char *err,
                    size_t err_len)
{
    cursor c = {buf, buf + len, 1, fname, err, err_len};
    if (err_len) err[0] = '\0';
    if (memchr(buf, '\0', len)) {
        const char *nul = memchr(buf, '\0', len);
        int line = 1;
        for (const char *q = buf; q < nul; q++) line += *q == '\n';
        return fail(&c, line, "NUL byte in file");
    }
    /* A UTF-8 byte-order mark is allowed at the very start. */
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) c.p += 3;
    while (!at_end(&c)) {
        skip_blanks(&c);
        if (at_end(&c)) break;
        if (*c.p == '\n' || *c.p == '#' || *c.p == '\r') {
            if (*c.p == '\r' && c.p + 1 < c.end && c.p[1] != '\n')
                return fail(&c, c.line, "stray carriage return");
            skip_line(&c);
            continue;
        }
        if (parse_entry(&c, out) < 0) return -1;
    }
    return 0;
}

int fk_dotenv_load(const char *path, fk_dotenv *out, char *err, size_t err_len)
{
    char why[160];
    FILE *f = fk_fopen_regular(path, why, sizeof why);
    if (!f) {
        snprintf(err, err_len, "%s: %s", path, why);
        return -1;
    }
    strbuf all;
    strbuf_init(&all);
    char chunk[4096];
    size_t got;
    int rc = 0;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        rc = strbuf_append(&all, chunk, got);
        if (rc < 0 || all.len > (1u << 20)) {
            snprintf(err, err_len, "%s: file too large or out of memory", path);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        rc = -1;
    }
    fclose(f);
    if (rc == 0) rc = fk_dotenv_parse(all.data ? all.data : "", all.len, path, out, err, err_len);
    strbuf_clear(&all);
    return rc;
}
