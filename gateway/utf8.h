/* utf8.h: keep JSON strings valid when bytes come from clients or cores. */
#ifndef FK_GATEWAY_UTF8_H
#define FK_GATEWAY_UTF8_H

#include <jansson.h>
#include <stddef.h>

/* How many leading bytes of s[0..n) to emit now: all of it, except an
 * incomplete character at the end (held back for the next piece). */
size_t fk_utf8_complete_prefix(const char *s, size_t n);
/* JSON string of s[0..n) with each maximal invalid subpart (and an
 * unfinished sequence at the end) replaced by one U+FFFD: the rule of
 * common/utf8.h, as the Harmony parser applies it to chat output. */
json_t *fk_json_lossy_string(const char *s, size_t n);

#endif
