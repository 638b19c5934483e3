/* utf8.c: UTF-8 validation, lossy repair and the streaming repair used by
 * the Harmony parser (see utf8.h). */
#include "harmony/utf8.h"

#include <string.h>

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* ==== validation ================================================================ */

/* Bytes a sequence starting with lead byte b needs (0: b cannot start one). */
static size_t seq_len(unsigned char b)
{
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) return 2;
    if (b >= 0xE0 && b <= 0xEF) return 3;
    if (b >= 0xF0 && b <= 0xF4) return 4;
    return 0;
}

/* Allowed range of the second byte after lead byte b (the others are 80..BF). */
static void second_range(unsigned char b, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (b == 0xE0)
        *lo = 0xA0;
    else if (b == 0xED)
        *hi = 0x9F;
    else if (b == 0xF0)
        *lo = 0x90;
    else if (b == 0xF4)
        *hi = 0x8F;
}

hm_utf8_status hm_utf8_check(const unsigned char *s, size_t n, size_t *valid_up_to,
                             size_t *error_len)
{
    size_t i = 0;
    *error_len = 0;
    while (i < n) {
        /* ASCII fast path, eight bytes at a time. */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= n) break;
        unsigned char b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t need = seq_len(b);
        if (need == 0) {
            *valid_up_to = i;
            *error_len = 1;
            return HM_UTF8_INVALID;
        }
        unsigned char lo, hi;
        second_range(b, &lo, &hi);
        for (size_t k = 1; k < need; k++) {
            if (i + k >= n) {
                *valid_up_to = i;
                return HM_UTF8_INCOMPLETE;
            }
            unsigned char c = s[i + k];
            unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
            if (c < l || c > h) {
                *valid_up_to = i;
                *error_len = k;
                return HM_UTF8_INVALID;
            }
        }
        i += need;
    }
    *valid_up_to = n;
    return HM_UTF8_VALID;
}

int hm_utf8_append_lossy(strbuf *out, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t valid, bad;
        hm_utf8_status st = hm_utf8_check(u + i, n - i, &valid, &bad);
        if (strbuf_append(out, s + i, valid) < 0) return -1;
        i += valid;
        if (st == HM_UTF8_VALID) break;
        if (strbuf_append(out, REPLACEMENT, 3) < 0) return -1;
        i = st == HM_UTF8_INCOMPLETE ? n : i + bad;
    }
    return 0;
}

size_t hm_utf8_decode(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t len = seq_len(u[0]);
    if (len == 0 || len > n) {
        *cp = 0xFFFD;
        return 1;
    }
    static const unsigned char lead_mask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    uint32_t c = u[0] & lead_mask[len];
    for (size_t k = 1; k < len; k++) c = (c << 6) | (u[k] & 0x3F);
    *cp = c;
    return len;
}

int hm_unicode_is_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* ==== streaming repair ============================================================ */

void hm_utf8_stream_init(hm_utf8_stream *st)
{
    strbuf_init(&st->held);
}

void hm_utf8_stream_clear(hm_utf8_stream *st)
{
    strbuf_clear(&st->held);
}

/* Emit from buf[0..n), where bytes before `fresh` came from earlier pieces.
 * Stops after the first U+FFFD that a fresh byte revealed; returns how many
 * bytes were consumed (the rest is to be held). -1 on OOM. */
static long stream_emit(const char *buf, size_t n, size_t fresh, strbuf *out)
{
    const unsigned char *u = (const unsigned char *)buf;
    size_t i = 0;
    while (i < n) {
        size_t valid, bad;
        hm_utf8_status st = hm_utf8_check(u + i, n - i, &valid, &bad);
        if (strbuf_append(out, buf + i, valid) < 0) return -1;
        i += valid;
        if (st != HM_UTF8_INVALID) return (long)i;
        if (strbuf_append(out, REPLACEMENT, 3) < 0) return -1;
        /* The byte that proved the sequence bad: the lead itself or the one after. */
        size_t revealed_by = bad == 1 && seq_len(u[i]) == 0 ? i : i + bad;
        i += bad;
        if (revealed_by >= fresh) return (long)i;
    }
    return (long)i;
}

int hm_utf8_stream_push(hm_utf8_stream *st, const char *bytes, size_t n, strbuf *out)
{
    if (st->held.len == 0) {
        long used = stream_emit(bytes, n, 0, out);
        if (used < 0) return -1;
        return strbuf_append(&st->held, bytes + used, n - (size_t)used);
    }
    size_t fresh = st->held.len;
    if (strbuf_append(&st->held, bytes, n) < 0) return -1;
    long used = stream_emit(st->held.data, st->held.len, fresh, out);
    if (used < 0) return -1;
    size_t rest = st->held.len - (size_t)used;
    memmove(st->held.data, st->held.data + used, rest);
    st->held.len = rest;
    st->held.data[rest] = '\0';
    return 0;
}

int hm_utf8_stream_flush(hm_utf8_stream *st, strbuf *out)
{
    int rc = hm_utf8_append_lossy(out, st->held.data, st->held.len);
    strbuf_reset(&st->held);
    return rc;
}
