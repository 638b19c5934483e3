/* utf8.h: keep JSON strings valid when bytes come from clients or cores. */
#ifndef FK_GATEWAY_UTF8_H
#define FK_GATEWAY_UTF8_H

#include <jansson.h>
#include <stddef.h>

/* How many leading bytes of s[0..n) to emit now: all of it, except an
 * incomplete character at the end (held back for the next piece). */
size_t fk_utf8_complete_prefix(const char *s, size_t n);
/* JSON string of s[0..n) with invalid bytes (and NUL) replaced by U+FFFD. */
json_t *fk_json_lossy_string(const char *s, size_t n);

#endif
