/* bytelevel.c: the GPT-2 byte-to-unicode alphabet of byte-level BPE
 * vocabularies. Printable Latin-1 bytes stand for themselves; the other 68
 * bytes (controls, space, 0x7f..0xa0, 0xad) map to U+0100.. in byte order. */
#include "tokenizer/fktok_internal.h"

/* 1 for the bytes that stand for themselves. */
static int is_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
}

uint32_t fk_bytelevel_codepoint(uint8_t b)
{
    if (is_printable(b)) return b;
    if (b <= 0x20) return 256u + b;                /* controls and space: U+0100..U+0120 */
    if (b <= 0xa0) return 256u + 33 + (b - 0x7fu); /* 0x7f..0xa0: U+0121..U+0142 */
    return 256u + 67;                              /* 0xad (soft hyphen): U+0143 */
}

/* The byte a code point stands for, or -1. */
static int byte_of_codepoint(uint32_t cp)
{
    if (cp < 256) return is_printable(cp) ? (int)cp : -1;
    if (cp < 256 + 33) return (int)(cp - 256);
    if (cp < 256 + 67) return (int)(cp - 256 - 33 + 0x7f);
    return cp == 256 + 67 ? 0xad : -1;
}

/* Decode one UTF-8 character of at most 3 bytes (the alphabet ends at
 * U+0143). Returns its length, or 0 when invalid. */
static size_t utf8_small(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if ((s[0] & 0xe0) == 0xc0 && n >= 2 && (s[1] & 0xc0) == 0x80) {
        *cp = (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
        return *cp >= 0x80 ? 2 : 0;
    }
    if ((s[0] & 0xf0) == 0xe0 && n >= 3 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80) {
        *cp = (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
        return *cp >= 0x800 ? 3 : 0;
    }
    return 0;
}

int fk_bytelevel_decode(const char *s, size_t n, unsigned char *out, size_t *out_len,
                        uint32_t *bad_cp)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp = 0;
        size_t len = utf8_small(p + i, n - i, &cp);
        int b = len ? byte_of_codepoint(cp) : -1;
        if (b < 0) {
            *bad_cp = len ? cp : 0xFFFFFFFFu;
            return -1;
        }
        out[o++] = (unsigned char)b;
        i += len;
    }
    *out_len = o;
    return 0;
}
