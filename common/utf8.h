/* utf8.h: the one UTF-8 rule every module uses (RFC 3629 / Unicode: no
 * overlongs, no surrogates, nothing above U+10FFFF).
 *
 * Invalid input is measured in "maximal subparts" (Unicode's recommended
 * practice for U+FFFD substitution, as in Rust's from_utf8_lossy): the
 * longest prefix of a well-formed sequence, or one byte when the lead byte
 * itself cannot start one. A sequence cut off by the end of the bytes is
 * "unfinished", not invalid.
 *
 * Header-only on purpose: libfktok and libfkharmony are independent
 * convenience libraries that both end up whole-archived into the llama proxy
 * driver, so a shared object file would be defined twice there; static
 * inline functions give each library a private copy of the same rule (and
 * keep the hot scanning loops inlined). */
#ifndef FK_COMMON_UTF8_H
#define FK_COMMON_UTF8_H

#include <stddef.h>

/* Bytes a character starting with lead byte b has: 1 to 4, or 0 when b
 * cannot start one (a continuation byte, C0, C1 or F5..FF). */
static inline size_t fk_utf8_lead_len(unsigned char b)
{
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) return 2;
    if (b >= 0xE0 && b <= 0xEF) return 3;
    if (b >= 0xF0 && b <= 0xF4) return 4;
    return 0;
}

/* Classify the bytes at s[0..n), n >= 1: > 0, a valid character of that
 * length; 0, a valid but unfinished prefix that fills all of s; < 0, an
 * invalid sequence whose maximal subpart has -result bytes (1 to 3). */
static inline int fk_utf8_classify(const unsigned char *s, size_t n)
{
    unsigned char b = s[0];
    int len = (int)fk_utf8_lead_len(b);
    if (len == 0) return -1;
    /* The second byte's range excludes overlongs (E0, F0), surrogates (ED)
     * and code points above U+10FFFF (F4); later bytes are 80..BF. */
    unsigned char lo = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80;
    unsigned char hi = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF;
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n) return 0;
        unsigned char l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (s[i] < l || s[i] > h) return -i;
    }
    return len;
}

/* Length of the valid character at s[0..n), n >= 1, or 0 when none starts
 * there (invalid or truncated). */
static inline size_t fk_utf8_char_len(const unsigned char *s, size_t n)
{
    int r = fk_utf8_classify(s, n);
    return r > 0 ? (size_t)r : 0;
}

#endif
