/* strbuf.h: a small growable byte buffer, always NUL-terminated.
 *
 *   strbuf b;
 *   strbuf_init(&b);
 *   strbuf_append_str(&b, "x = ");
 *   strbuf_printf(&b, "%d", 42);
 *   char *s = strbuf_take(&b, &len);   // caller owns s; b is empty again
 *
 * Every append returns 0, or -1 on OOM; after an OOM the buffer keeps what it
 * had and remembers the failure in `oom` (so a caller may check once at the
 * end). Not thread-safe; one owner at a time.
 */
#ifndef FK_HARMONY_STRBUF_H
#define FK_HARMONY_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct strbuf {
    char *data; /* NUL-terminated when non-NULL; NULL until the first append */
    size_t len; /* bytes used, not counting the NUL */
    size_t cap; /* bytes allocated */
    int oom;    /* 1 once any append failed for lack of memory */
} strbuf;

void strbuf_init(strbuf *b);
/* Frees the bytes; b is empty and reusable. */
void strbuf_clear(strbuf *b);
/* Drops the contents but keeps the allocation. */
void strbuf_reset(strbuf *b);

int strbuf_append(strbuf *b, const void *bytes, size_t len);
int strbuf_append_str(strbuf *b, const char *s);
int strbuf_append_char(strbuf *b, char c);
int strbuf_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int strbuf_vprintf(strbuf *b, const char *fmt, va_list ap);

/* Ownership: returns the bytes (malloc'd, NUL-terminated, never NULL unless
 * out of memory) and leaves b empty. *len (may be NULL) receives the length. */
char *strbuf_take(strbuf *b, size_t *len);

#endif
