/* fast_event.c: strict subset reader for llama-server stream events (see the header). */
#include "fast_event.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

typedef struct reader {
    const char *p;   /* next byte */
    const char *end; /* one past the last byte */
} reader;

/* 1 for the bytes a JSON string or key holds as they are: printable ASCII
 * other than '"' and '\\'. Runs of them are skipped with one lookup a byte. */
static const unsigned char plain[256] = {
    [0x20 ... 0x21] = 1,
    [0x23 ... 0x5b] = 1,
    [0x5d ... 0x7f] = 1,
};

static void skip_plain(reader *r)
{
    while (r->p < r->end && plain[(unsigned char)*r->p]) r->p++;
}

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
        skip_plain(r);
        if (r->p == r->end) break;
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
        skip_plain(&r);
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

/* ---- the last event ------------------------------------------------------------------ */

/* [s, end) as a double without strtod when that is exact: a plain decimal
 * ("-12.345", no exponent) of at most 15 digits is an integer m below 2^53
 * over 10^k with k <= 15, both exact doubles, so one correctly rounded
 * division gives the double nearest the decimal, strtod's answer (Clinger's
 * fast path). 0 for anything else. strtod cost more than the rest of the
 * last event. */
static int exact_decimal(const char *s, const char *end, double *out)
{
    static const double pow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    int neg = s < end && *s == '-';
    uint64_t m = 0;
    int digits = 0, frac = -1;
    for (const char *p = s + neg; p < end; p++) {
        if (*p == '.') {
            if (frac >= 0) return 0;
            frac = 0;
            continue;
        }
        if (*p < '0' || *p > '9' || ++digits > 15) return 0;
        m = m * 10 + (uint64_t)(*p - '0');
        if (frac >= 0) frac++;
    }
    if (digits == 0) return 0;
    double v = (double)m / pow10[frac > 0 ? frac : 0];
    *out = neg ? -v : v;
    return 1;
}

/* A JSON number at r->p: an integer into *iv (is_int 1), anything with a
 * fraction or exponent into *dv (is_int 0). -1 when it is not JSON's grammar
 * or an integer does not fit in int64 (jansson refuses those too). */
static int number(reader *r, int64_t *iv, double *dv, int *is_int)
{
    const char *s = r->p;
    if (r->p < r->end && *r->p == '-') r->p++;
    if (r->p >= r->end || *r->p < '0' || *r->p > '9') return -1;
    if (*r->p == '0') {
        r->p++;
    } else {
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
    }
    *is_int = 1;
    if (r->p < r->end && *r->p == '.') {
        *is_int = 0;
        r->p++;
        if (r->p >= r->end || *r->p < '0' || *r->p > '9') return -1;
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        *is_int = 0;
        r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-')) r->p++;
        if (r->p >= r->end || *r->p < '0' || *r->p > '9') return -1;
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
    }
    char buf[64];
    size_t len = (size_t)(r->p - s);
    if (len >= sizeof buf) return -1;
    if (*is_int) {
        reader ir = {s, r->p};
        return integer(&ir, iv);
    }
    if (exact_decimal(s, r->p, dv)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    *dv = strtod(buf, &end); /* the C locale: this library never sets another */
    return end == buf + len && isfinite(*dv) ? 0 : -1; /* jansson refuses overflow */
}

/* 1 when key[0..klen) is `name`. */
static int key_is(const char *key, size_t klen, const char *name)
{
    return strlen(name) == klen && memcmp(key, name, klen) == 0;
}

/* One member's value into f; -1 when this reader does not take it. */
static int final_member(reader *r, const char *key, size_t klen, fast_final *f, int *seen_stop)
{
    char c = *r->p;
    if (key_is(key, klen, "stop")) {
        if (*seen_stop || literal(r, "true") != 0) return -1;
        *seen_stop = 1;
        return 0;
    }
    if (key_is(key, klen, "truncated")) {
        f->truncated = c == 't';
        return literal(r, c == 't' ? "true" : "false");
    }
    if (key_is(key, klen, "content")) return literal(r, "\"\"");
    if (key_is(key, klen, "tokens")) {
        if (literal(r, "[") != 0) return -1;
        skip_ws(r);
        return literal(r, "]");
    }
    if (key_is(key, klen, "stop_type")) {
        if (c != '"' || f->stop_type[0]) return -1;
        const char *v = ++r->p;
        while (r->p < r->end && *r->p >= 'a' && *r->p <= 'z') r->p++;
        size_t n = (size_t)(r->p - v);
        if (r->p >= r->end || *r->p != '"' || n == 0 || n >= sizeof f->stop_type) return -1;
        memcpy(f->stop_type, v, n);
        f->stop_type[n] = '\0';
        r->p++;
        return 0;
    }
    int64_t iv = 0;
    double dv = 0;
    int is_int;
    int *has = NULL;
    int64_t *ip = NULL;
    double *dp = NULL;
    if (key_is(key, klen, "tokens_predicted")) ip = &f->tokens_predicted;
    if (key_is(key, klen, "timings/predicted_n")) ip = &f->predicted_n, has = &f->has_predicted_n;
    if (key_is(key, klen, "timings/prompt_n")) ip = &f->prompt_n, has = &f->has_prompt_n;
    if (key_is(key, klen, "timings/cache_n")) ip = &f->cache_n, has = &f->has_cache_n;
    if (key_is(key, klen, "timings/prompt_ms")) dp = &f->prompt_ms;
    if (key_is(key, klen, "timings/predicted_ms")) dp = &f->predicted_ms;
    if ((!ip && !dp) || number(r, &iv, &dv, &is_int) != 0) return -1;
    if (ip) { /* an integer member that is not one reads as absent, as jansson's would */
        if (!is_int) return -1;
        if (has && *has) return -1;
        *ip = iv;
        if (has) *has = 1;
    } else {
        *dp = is_int ? (double)iv : dv;
    }
    return 0;
}

int fast_final_parse(const char *s, size_t n, fast_final *f)
{
    reader r = {s, s + n};
    int seen_stop = 0;
    memset(f, 0, sizeof *f);
    skip_ws(&r);
    if (r.p >= r.end || *r.p++ != '{') return 0;
    for (;;) {
        skip_ws(&r);
        if (r.p >= r.end || *r.p++ != '"') return 0;
        const char *key = r.p;
        skip_plain(&r);
        if (r.p >= r.end || *r.p != '"') return 0;
        size_t klen = (size_t)(r.p - key);
        r.p++;
        skip_ws(&r);
        if (r.p >= r.end || *r.p++ != ':') return 0;
        skip_ws(&r);
        if (r.p >= r.end || final_member(&r, key, klen, f, &seen_stop) != 0) return 0;
        skip_ws(&r);
        if (r.p >= r.end) return 0;
        if (*r.p == '}') {
            r.p++;
            skip_ws(&r);
            return r.p == r.end && seen_stop;
        }
        if (*r.p++ != ',') return 0;
    }
}
