/* utf8.c: UTF-8 validation with replacement, and partial-character hold-back. */
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

int fk_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len = c < 0x80                 ? 1
                 : c >= 0xC2 && c <= 0xDF ? 2
                 : c >= 0xE0 && c <= 0xEF ? 3
                 : c >= 0xF0 && c <= 0xF4 ? 4
                                          : 0;
    if (len == 0) return 0;
    for (size_t i = 1; i < len; i++) {
        if (i >= n) return -1;
        if ((s[i] & 0xC0) != 0x80) return 0;
        if (i == 1) {
            if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0)) return 0;
            if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90)) return 0;
        }
    }
    return (int)len;
}

size_t fk_utf8_complete_prefix(const char *s, size_t n)
{
    /* Only the last 3 bytes can start an incomplete character. */
    size_t from = n > 3 ? n - 3 : 0;
    for (size_t i = from; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0xC2 && c <= 0xF4 && fk_utf8_seq((const unsigned char *)s + i, n - i) < 0)
            return i;
    }
    return n;
}

json_t *fk_json_lossy_string(const char *s, size_t n)
{
    char *buf = malloc(n * 3 + 1);
    if (!buf) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        int len = fk_utf8_seq((const unsigned char *)s + i, n - i);
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
