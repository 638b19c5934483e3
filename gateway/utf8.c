/* utf8.c: UTF-8 repair for JSON strings, and partial-character hold-back.
 * Both use the one rule (common/utf8.h, Harmony's hm_utf8_append_lossy), so
 * the chat and completions endpoints replace invalid bytes the same way. */
#include "utf8.h"

#include "common/utf8.h"
#include "harmony/strbuf.h"
#include "harmony/utf8.h"

size_t fk_utf8_complete_prefix(const char *s, size_t n)
{
    /* Only the last 3 bytes can start an incomplete character. */
    size_t from = n > 3 ? n - 3 : 0;
    for (size_t i = from; i < n; i++) {
        if (fk_utf8_classify((const unsigned char *)s + i, n - i) == 0) return i;
    }
    return n;
}

json_t *fk_json_lossy_string(const char *s, size_t n)
{
    strbuf b;
    strbuf_init(&b);
    json_t *j =
        hm_utf8_append_lossy(&b, s, n) == 0 ? json_stringn(b.data ? b.data : "", b.len) : NULL;
    strbuf_clear(&b);
    return j;
}
