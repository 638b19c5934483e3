/* fast_event.c: strict subset reader for llama-server stream events (see the header). */
#include "fast_event.h"

#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

typedef struct reader {
    const char *p;   /* next byte */
    const char *end; /* one past the last byte */
} reader;

static void skip_ws(reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static int put(fast_event *ev, const char *b, size_t n)
{
    if (ev->content_len + n + 1 > ev->content_cap) {
        size_t cap = ev->content_cap ? ev->content_cap * 2 : 256;
        while (cap < ev->content_len + n + 1) cap *= 2;
        char *c = realloc(ev->content, cap);
        if (!c) return -1;
        ev->content = c;
        ev->content_cap = cap;
    }
    memcpy(ev->content + ev->content_len, b, n);
    ev->content_len += n;
    ev->content[ev->content_len] = '\0';
    return 0;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static int put_cp(fast_event *ev, unsigned cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80)
        b[0] = (char)cp, n = 1;
    else if (cp < 0x800)
        b[0] = (char)(0xC0 | (cp >> 6)), b[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    else if (cp < 0x10000)
        b[0] = (char)(0xE0 | (cp >> 12)), b[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
        b[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    else
        b[0] = (char)(0xF0 | (cp >> 18)), b[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), b[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    return put(ev, b, n);
}

/* A string at r->p (after the opening quote). decode: append it to ev->content. */
static int string(reader *r, fast_event *ev, int decode)
{
    const char *run = r->p;
    while (r->p < r->end) {
        unsigned char c = (unsigned char)*r->p;
        if (c == '"') {
            if (decode && put(ev, run, (size_t)(r->p - run)) != 0) return -1;
            r->p++;
            return 0;
        }
        if (c < 0x20) return -1;
        if (c >= 0x80) {
            size_t n = fk_utf8_char_len((const unsigned char *)r->p, (size_t)(r->end - r->p));
            if (!n) return -1;
            r->p += n;
            continue;
        }
        if (c != '\\') {
            r->p++;
            continue;
        }
        if (decode && put(ev, run, (size_t)(r->p - run)) != 0) return -1;
        if (r->end - r->p < 2) return -1;
        char e = r->p[1];
        r->p += 2;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char out[] = "\"\\/\b\f\n\r\t";
            if (decode && put(ev, &out[simple - "\"\\/bfnrt"], 1) != 0) return -1;
        } else if (e == 'u') {
            unsigned cp, lo;
            if (r->end - r->p < 4 || hex4(r->p, &cp) != 0) return -1;
            r->p += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return -1;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' ||
                    hex4(r->p + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                    return -1;
                r->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp == 0) return -1; /* jansson refuses \u0000 without JSON_ALLOW_NUL */
            if (decode && put_cp(ev, cp) != 0) return -1;
        } else {
            return -1;
        }
        run = r->p;
    }
    return -1;
}

/* An integer (no fraction or exponent: those go to jansson). */
static int integer(reader *r, int64_t *out)
{
    const char *s = r->p;
    int neg = 0;
    if (r->p < r->end && *r->p == '-') neg = 1, r->p++;
    if (r->p >= r->end || *r->p < '0' || *r->p > '9') return -1;
    if (*r->p == '0' && r->end - r->p > 1 && r->p[1] >= '0' && r->p[1] <= '9') return -1;
    uint64_t v = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
        if (v > (uint64_t)INT64_MAX / 10) return -1;
        v = v * 10 + (uint64_t)(*r->p++ - '0');
    }
    if (v > (uint64_t)INT64_MAX) return -1;
    if (r->p < r->end && (*r->p == '.' || *r->p == 'e' || *r->p == 'E')) return -1;
    if (r->p - s > 19) return -1;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static int literal(reader *r, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return -1;
    r->p += n;
    return 0;
}

static int int_array(reader *r, fast_event *ev, int keep)
{
    r->p++; /* [ */
    skip_ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return 0;
    }
    for (;;) {
        int64_t v;
        skip_ws(r);
        if (integer(r, &v) != 0) return -1;
        if (keep) {
            if (ev->n_tokens == FAST_EVENT_MAX_TOKENS) return -1;
            ev->tokens[ev->n_tokens++] = v;
        }
        skip_ws(r);
        if (r->p >= r->end) return -1;
        if (*r->p == ']') {
            r->p++;
            return 0;
        }
        if (*r->p++ != ',') return -1;
    }
}

int fast_event_parse(const char *s, size_t n, fast_event *ev)
{
    reader r = {s, s + n};
    ev->content_len = 0;
    ev->has_content = ev->has_tokens = ev->has_tokens_predicted = 0;
    ev->n_tokens = 0;
    if (ev->content) ev->content[0] = '\0';
    skip_ws(&r);
    if (r.p >= r.end || *r.p++ != '{') return 0;
    skip_ws(&r);
    if (r.p < r.end && *r.p == '}') return 0; /* nothing useful: let jansson say so */
    for (;;) {
        skip_ws(&r);
        if (r.p >= r.end || *r.p++ != '"') return 0;
        const char *key = r.p;
        while (r.p < r.end && *r.p != '"' && *r.p != '\\' && (unsigned char)*r.p >= 0x20 &&
               (unsigned char)*r.p < 0x80)
            r.p++;
        if (r.p >= r.end || *r.p != '"') return 0;
        size_t klen = (size_t)(r.p - key);
        r.p++;
        int is_content = klen == 7 && memcmp(key, "content", 7) == 0;
        int is_tokens = klen == 6 && memcmp(key, "tokens", 6) == 0;
        int is_stop = klen == 4 && memcmp(key, "stop", 4) == 0;
        int is_predicted = klen == 16 && memcmp(key, "tokens_predicted", 16) == 0;
        if (klen == 5 && memcmp(key, "error", 5) == 0) return 0;
        /* A repeated key: jansson keeps the last; keep it simple and defer. */
        if ((is_content && ev->has_content) || (is_tokens && ev->has_tokens) ||
            (is_predicted && ev->has_tokens_predicted))
            return 0;
        skip_ws(&r);
        if (r.p >= r.end || *r.p++ != ':') return 0;
        skip_ws(&r);
        if (r.p >= r.end) return 0;
        char c = *r.p;
        if (c == '"') {
            r.p++;
            if (string(&r, ev, is_content) != 0) return 0;
            if (is_content) ev->has_content = 1;
        } else if (c == '[') {
            if (int_array(&r, ev, is_tokens) != 0) return 0;
            if (is_tokens) ev->has_tokens = 1;
        } else if (c == 't') {
            if (is_stop || literal(&r, "true") != 0) return 0; /* stop:true is the final event */
        } else if (c == 'f') {
            if (literal(&r, "false") != 0) return 0;
        } else if (c == 'n') {
            if (literal(&r, "null") != 0) return 0;
        } else {
            int64_t v;
            if (integer(&r, &v) != 0) return 0;
            if (is_predicted) {
                ev->tokens_predicted = v;
                ev->has_tokens_predicted = 1;
            }
        }
        if ((is_content && !ev->has_content) || (is_tokens && !ev->has_tokens)) return 0;
        skip_ws(&r);
        if (r.p >= r.end) return 0;
        if (*r.p == '}') {
            r.p++;
            skip_ws(&r);
            return r.p == r.end;
        }
        if (*r.p++ != ',') return 0;
    }
}
