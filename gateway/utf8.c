/* utf8.c: UTF-8 validation with replacement, and partial-character hold-back. */
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

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
    char *buf = malloc(n * 3 + 1);
    if (!buf) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        int len = fk_utf8_classify((const unsigned char *)s + i, n - i);
        if (len <= 0 || s[i] == '\0') {
            memcpy(buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(buf + o, s + i, (size_t)len);
            o += (size_t)len;
            i += (size_t)len;
        }
    }
    json_t *j = json_stringn(buf, o);
    free(buf);
    return j;
}
