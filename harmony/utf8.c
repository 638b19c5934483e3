/* utf8.c: UTF-8 validation, lossy repair and the streaming repair used by
 * the Harmony parser (see utf8.h). */
#include "harmony/utf8.h"

#include <string.h>

#include "common/utf8.h"

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* ==== validation ================================================================ */

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
        int r = fk_utf8_classify(s + i, n - i);
        if (r > 0) {
            i += (size_t)r;
            continue;
        }
        *valid_up_to = i;
        if (r == 0) return HM_UTF8_INCOMPLETE;
        *error_len = (size_t)-r;
        return HM_UTF8_INVALID;
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
    size_t len = fk_utf8_lead_len(u[0]);
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
        size_t revealed_by = bad == 1 && fk_utf8_lead_len(u[i]) == 0 ? i : i + bad;
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
