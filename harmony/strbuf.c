/* strbuf.c: growable byte buffer (see strbuf.h). */
#include "harmony/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(strbuf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->oom = 0;
}

void strbuf_clear(strbuf *b)
{
    free(b->data);
    strbuf_init(b);
}

void strbuf_reset(strbuf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

/* Makes room for `extra` more bytes plus the NUL. */
static int strbuf_reserve(strbuf *b, size_t extra)
{
    if (extra > (size_t)-1 - b->len - 1) {
        b->oom = 1;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > (size_t)-1 / 2 ? need : cap * 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->oom = 1;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

int strbuf_append(strbuf *b, const void *bytes, size_t len)
{
    if (strbuf_reserve(b, len) < 0) return -1;
    if (len) memcpy(b->data + b->len, bytes, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int strbuf_append_str(strbuf *b, const char *s)
{
    return strbuf_append(b, s, strlen(s));
}

int strbuf_append_char(strbuf *b, char c)
{
    return strbuf_append(b, &c, 1);
}

int strbuf_vprintf(strbuf *b, const char *fmt, va_list ap)
{
    /* Try the room already there first; format again only if it was short. */
    va_list ap2;
    va_copy(ap2, ap);
    size_t room = b->cap > b->len ? b->cap - b->len : 0;
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap2);
    va_end(ap2);
    if (n < 0) return -1;
    if ((size_t)n >= room) {
        if (strbuf_reserve(b, (size_t)n) < 0) {
            if (b->data) b->data[b->len] = '\0';
            return -1;
        }
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    }
    b->len += (size_t)n;
    return 0;
}

int strbuf_printf(strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = strbuf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *strbuf_take(strbuf *b, size_t *len)
{
    if (!b->data) {
        if (strbuf_reserve(b, 0) < 0) return NULL;
        b->data[0] = '\0';
    }
    char *d = b->data;
    if (len) *len = b->len;
    strbuf_init(b);
    return d;
}
