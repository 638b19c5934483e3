/* stopstr.h: stop strings matched across token boundaries.
 *
 * Generated text arrives token by token; a stop string may be split over any
 * number of tokens (and a token may split a UTF-8 character). The matcher
 * holds back the longest tail of the text that could still be the start of a
 * stop string and releases everything before it. When a stop string
 * completes, the text before it is released and the rest (the stop string and
 * anything after it) is dropped. Matching is on bytes: stop strings and text
 * are both UTF-8, so a byte match is a character match.
 *
 * Not thread-safe; one matcher per request. */
#ifndef FK_STOPSTR_H
#define FK_STOPSTR_H

#include <stddef.h>

typedef struct fk_stopstr fk_stopstr;

/* Copy `n` NUL-terminated stop strings (empty ones are ignored). NULL on OOM. */
fk_stopstr *fk_stopstr_new(const char *const *stops, size_t n);
void fk_stopstr_free(fk_stopstr *s);

/* 1 when at least one (non-empty) stop string is set. */
int fk_stopstr_active(const fk_stopstr *s);

/* Feed text[0..len). Sets *out and *out_len to the bytes now safe to emit
 * (borrowed from s until the next call). Returns 1 when a stop string
 * matched (then *out is the text before it and nothing more will be
 * released), 0 when not, -1 on OOM. After a match, further feeds release
 * nothing and return 1. */
int fk_stopstr_feed(fk_stopstr *s, const char *text, size_t len, const char **out, size_t *out_len);

/* End of generation without a match: release everything held back. */
void fk_stopstr_flush(fk_stopstr *s, const char **out, size_t *out_len);

/* Bytes currently held back. */
size_t fk_stopstr_held(const fk_stopstr *s);

#endif
