/* json_scan.c: the pull reader of json_scan.h. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/json_scan.h"

#define MAX_DEPTH 512 /* nesting refused beyond this */

void fkj_init(fk_json *j, const char *s, size_t n)
{
    memset(j, 0, sizeof *j);
    j->s = j->p = s;
    j->end = s + n;
}

void fkj_free(fk_json *j)
{
    free(j->buf);
    j->buf = NULL;
    j->cap = 0;
}

static int fail(fk_json *j, const char *what)
{
    if (!j->error) j->error = what;
    return -1;
}

int fkj_peek(fk_json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
    return j->p < j->end ? (unsigned char)*j->p : -1;
}

int fkj_expect(fk_json *j, char c)
{
    static const char *const msgs[] = {"expected '{'", "expected '}'", "expected '['",
                                       "expected ']'", "expected ':'", "expected ','"};
    static const char chars[] = "{}[]:,";
    if (fkj_peek(j) == (unsigned char)c) {
        j->p++;
        return 0;
    }
    const char *at = strchr(chars, c);
    return fail(j, at ? msgs[at - chars] : "unexpected character");
}

/* Value of 4 hex digits at p, or -1. */
static long hex4(const char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return -1;
        v = v << 4 | d;
    }
    return v;
}

static size_t put_utf8(char *o, unsigned long cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Unescape the string body [from, to) into j->buf. 0, or -1. */
static int unescape(fk_json *j, const char *from, const char *to, size_t *n)
{
    size_t need = (size_t)(to - from) + 1;
    if (need > j->cap) {
        char *buf = realloc(j->buf, need);
        if (!buf) return fail(j, "out of memory");
        j->buf = buf;
        j->cap = need;
    }
    char *o = j->buf;
    for (const char *p = from; p < to;) {
        if (*p != '\\') {
            *o++ = *p++;
            continue;
        }
        char e = p[1];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            *o++ = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            p += 2;
            continue;
        }
        if (e != 'u' || to - p < 6) return fail(j, "bad escape in string");
        long cp = hex4(p + 2);
        p += 6;
        if (cp >= 0xd800 && cp <= 0xdbff) {
            long lo = to - p >= 6 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2) : -1;
            if (lo < 0xdc00 || lo > 0xdfff) return fail(j, "unpaired surrogate in string");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            p += 6;
        } else if (cp < 0 || (cp >= 0xdc00 && cp <= 0xdfff)) {
            return fail(j, "bad \\u escape in string");
        }
        o += put_utf8(o, (unsigned long)cp);
    }
    *n = (size_t)(o - j->buf);
    return 0;
}

int fkj_string(fk_json *j, const char **s, size_t *n)
{
    if (fkj_peek(j) != '"') return fail(j, "expected a string");
    const char *start = ++j->p, *p = start;
    int escaped = 0;
    for (;;) {
        if (p >= j->end) return fail(j, "unterminated string");
        unsigned char c = (unsigned char)*p;
        if (c == '"') break;
        if (c < 0x20) return fail(j, "control character in string");
        if (c == '\\') {
            escaped = 1;
            if (++p >= j->end) return fail(j, "unterminated string");
        }
        p++;
    }
    j->p = p + 1;
    if (!escaped) {
        *s = start;
        *n = (size_t)(p - start);
        return 0;
    }
    if (unescape(j, start, p, n)) return -1;
    *s = j->buf;
    return 0;
}

int fkj_int(fk_json *j, long long *v)
{
    fkj_peek(j);
    const char *p = j->p;
    int neg = p < j->end && *p == '-';
    p += neg;
    if (p >= j->end || *p < '0' || *p > '9') return fail(j, "expected an integer");
    long long x = 0;
    while (p < j->end && *p >= '0' && *p <= '9') {
        if (x > (1LL << 53)) return fail(j, "integer too large");
        x = x * 10 + (*p++ - '0');
    }
    if (p < j->end && (*p == '.' || *p == 'e' || *p == 'E')) return fail(j, "expected an integer");
    j->p = p;
    *v = neg ? -x : x;
    return 0;
}

/* Step over a string without unescaping it (j->buf stays untouched, so a
 * key read before stays valid). 0, or -1. */
static int skip_string(fk_json *j)
{
    const char *p = j->p + 1;
    for (; p < j->end && *p != '"'; p++) {
        if ((unsigned char)*p < 0x20) return fail(j, "control character in string");
        if (*p == '\\' && ++p >= j->end) break;
    }
    if (p >= j->end) return fail(j, "unterminated string");
    j->p = p + 1;
    return 0;
}

int fkj_skip(fk_json *j)
{
    char stack[MAX_DEPTH];
    size_t depth = 0;
    do {
        int c = fkj_peek(j);
        if (c < 0) return fail(j, "unexpected end of document");
        if (c == '"') {
            if (skip_string(j)) return -1;
        } else if (c == '{' || c == '[') {
            if (depth == MAX_DEPTH) return fail(j, "nesting too deep");
            stack[depth++] = c == '{' ? '}' : ']';
            j->p++;
        } else if (c == '}' || c == ']') {
            if (depth == 0 || stack[depth - 1] != c) return fail(j, "mismatched bracket");
            depth--;
            j->p++;
        } else if (c == ',' || c == ':') {
            if (depth == 0) return fail(j, "expected a value");
            j->p++;
        } else if ((c >= '0' && c <= '9') || c == '-' || (c >= 'a' && c <= 'z')) {
            while (j->p < j->end &&
                   ((*j->p >= '0' && *j->p <= '9') || *j->p == '-' || *j->p == '+' ||
                    *j->p == '.' || (*j->p >= 'a' && *j->p <= 'z') ||
                    (*j->p >= 'A' && *j->p <= 'Z')))
                j->p++;
        } else {
            return fail(j, "unexpected character");
        }
    } while (depth > 0);
    return 0;
}

int fkj_object_next(fk_json *j, int *first, const char **key, size_t *klen)
{
    int c = fkj_peek(j);
    if (c == '}') {
        j->p++;
        return 0;
    }
    if (!*first) {
        if (c != ',') return fail(j, "expected ',' or '}'");
        j->p++;
    }
    *first = 0;
    if (fkj_string(j, key, klen) || fkj_expect(j, ':')) return -1;
    return 1;
}

int fkj_array_next(fk_json *j, int *first)
{
    int c = fkj_peek(j);
    if (c == ']') {
        j->p++;
        return 0;
    }
    if (!*first) {
        if (c != ',') return fail(j, "expected ',' or ']'");
        j->p++;
    }
    *first = 0;
    return 1;
}

void fkj_position(const fk_json *j, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (const char *p = j->s; p < j->p && p < j->end; p++) {
        if (*p == '\n') {
            ++*line;
            *col = 1;
        } else {
            ++*col;
        }
    }
}
