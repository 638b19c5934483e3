/* test_utf8.c: common/utf8 — lead lengths, every range boundary, truncated
 * sequences of each length, and U+FFFD substitution of maximal subparts
 * (the Unicode standard's Tables 3-8 to 3-11), plus exhaustive checks of
 * fk_utf8_char_len against a code-point based reference. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/utf8.h"
#include "tests/tap.h"

/* Reference: length of the valid character at s[0..n), or 0, computed from
 * the code point (RFC 3629) rather than from byte ranges. */
static size_t ref_char_len(const unsigned char *s, size_t n)
{
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    unsigned c = s[0];
    size_t len = c < 0x80             ? 1
                 : (c & 0xE0) == 0xC0 ? 2
                 : (c & 0xF0) == 0xE0 ? 3
                 : (c & 0xF8) == 0xF0 ? 4
                                      : 0;
    if (len == 0 || n < len) return 0;
    uint32_t cp = c & (0xFFu >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (len > 1 && cp < min_cp[len]) return 0;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

/* Encode cp (any value up to U+10FFFF, surrogates included) into b. */
static size_t encode(uint32_t cp, unsigned char *b)
{
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (unsigned char)(0xF0 | (cp >> 18));
    b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Lossy decoding driven by fk_utf8_classify: each maximal subpart, and an
 * unfinished sequence at the end, becomes "<>"; valid bytes are copied. */
static void lossy(const char *in, size_t n, char *out)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, o = 0;
    while (i < n) {
        int r = fk_utf8_classify(s + i, n - i);
        if (r > 0) {
            memcpy(out + o, s + i, (size_t)r);
            o += (size_t)r;
            i += (size_t)r;
        } else {
            memcpy(out + o, "<>", 2);
            o += 2;
            i = r == 0 ? n : i + (size_t)-r;
        }
    }
    out[o] = '\0';
}

/* One classification case: bytes (a C string literal, n bytes) -> want. */
typedef struct cls_case {
    const char *name;  /* what the case pins */
    const char *bytes; /* input */
    size_t n;          /* input length */
    int want;          /* expected fk_utf8_classify result */
} cls_case;

#define CASE(name, lit, want)                                                                      \
    {                                                                                              \
        name, lit, sizeof(lit) - 1, want                                                           \
    }

static const cls_case cases[] = {
    CASE("U+0000", "\x00", 1),
    CASE("U+007F", "\x7F", 1),
    CASE("U+0080 (lowest 2-byte)", "\xC2\x80", 2),
    CASE("U+07FF (highest 2-byte)", "\xDF\xBF", 2),
    CASE("U+0800 (lowest 3-byte)", "\xE0\xA0\x80", 3),
    CASE("U+D7FF (below the surrogates)", "\xED\x9F\xBF", 3),
    CASE("U+E000 (above the surrogates)", "\xEE\x80\x80", 3),
    CASE("U+FFFF (highest 3-byte)", "\xEF\xBF\xBF", 3),
    CASE("U+10000 (lowest 4-byte)", "\xF0\x90\x80\x80", 4),
    CASE("U+10FFFF (highest)", "\xF4\x8F\xBF\xBF", 4),
    CASE("valid char followed by more bytes", "\xC3\xA9zz", 2),
    CASE("lone continuation 80", "\x80", -1),
    CASE("lone continuation BF", "\xBF", -1),
    CASE("overlong lead C0", "\xC0\x80", -1),
    CASE("overlong lead C1", "\xC1\xBF", -1),
    CASE("overlong 3-byte E0 80", "\xE0\x80\x80", -1),
    CASE("overlong 3-byte E0 9F", "\xE0\x9F\xBF", -1),
    CASE("overlong 4-byte F0 80", "\xF0\x80\x80\x80", -1),
    CASE("overlong 4-byte F0 8F", "\xF0\x8F\xBF\xBF", -1),
    CASE("surrogate U+D800", "\xED\xA0\x80", -1),
    CASE("surrogate U+DFFF", "\xED\xBF\xBF", -1),
    CASE("above U+10FFFF: F4 90", "\xF4\x90\x80\x80", -1),
    CASE("above U+10FFFF: F5", "\xF5\x80\x80\x80", -1),
    CASE("lead F8", "\xF8\x88\x80\x80\x80", -1),
    CASE("lead FF", "\xFF", -1),
    CASE("truncated 2-byte: C2", "\xC2", 0),
    CASE("truncated 3-byte: E1", "\xE1", 0),
    CASE("truncated 3-byte: E0 A0", "\xE0\xA0", 0),
    CASE("truncated 3-byte: ED 9F", "\xED\x9F", 0),
    CASE("truncated 4-byte: F1", "\xF1", 0),
    CASE("truncated 4-byte: F0 90", "\xF0\x90", 0),
    CASE("truncated 4-byte: F4 8F BF", "\xF4\x8F\xBF", 0),
    CASE("truncated but already invalid: E0 80", "\xE0\x80", -1),
    CASE("truncated but already invalid: ED A0", "\xED\xA0", -1),
    CASE("truncated but already invalid: F0 8F", "\xF0\x8F", -1),
    CASE("truncated but already invalid: F4 90", "\xF4\x90", -1),
    CASE("subpart 1: C2 then ASCII", "\xC2\x41", -1),
    CASE("subpart 1: E1 then ASCII", "\xE1\x41", -1),
    CASE("subpart 2: E1 80 then ASCII", "\xE1\x80\x41", -2),
    CASE("subpart 2: E0 A0 then C2", "\xE0\xA0\xC2", -2),
    CASE("subpart 2: F1 80 then ASCII", "\xF1\x80\x41", -2),
    CASE("subpart 3: F1 80 80 then ASCII", "\xF1\x80\x80\x41", -3),
    CASE("subpart 3: F4 8F BF then C0", "\xF4\x8F\xBF\xC0", -3),
};

static void test_lead_len(void)
{
    int bad = 0;
    for (unsigned b = 0; b < 256; b++) {
        size_t want = b < 0x80 ? 1 : b < 0xC2 ? 0 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : b < 0xF5 ? 4 : 0;
        if (fk_utf8_lead_len((unsigned char)b) != want) {
            if (bad++ < 5)
                diag("lead %02X: got %zu, want %zu", b, fk_utf8_lead_len((unsigned char)b), want);
        }
    }
    ok(bad == 0, "fk_utf8_lead_len for all 256 bytes");
}

static void test_cases(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const cls_case *c = &cases[i];
        const unsigned char *s = (const unsigned char *)c->bytes;
        is_int(fk_utf8_classify(s, c->n), c->want, "classify: %s", c->name);
        is_int((long long)fk_utf8_char_len(s, c->n), c->want > 0 ? c->want : 0, "char_len: %s",
               c->name);
    }
}

/* Unicode 15, section 3.9, Tables 3-8 to 3-11: one U+FFFD per maximal subpart. */
static void test_maximal_subparts(void)
{
    static const struct {
        const char *name, *in, *want;
        size_t n;
    } t[] = {
        {"Table 3-8", "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64", "a<><><>b<>c<><>d",
         13},
        {"Table 3-9 (non-shortest forms)", "\xC0\xAF\xE0\x80\xBF\xF0\x81\x82\x41",
         "<><><><><><><><>A", 9},
        {"Table 3-10 (surrogates)", "\xED\xA0\x80\xED\xBF\xBF\xED\xAF\x41", "<><><><><><><><>A", 9},
        {"Table 3-11 (out of range, FF, lone trail)", "\xF4\x91\x92\x93\xFF\x41\x80\xBF\x42",
         "<><><><><>A<><>B", 9},
        {"Table 3-11 (truncated sequences)", "\xE1\x80\xE2\xF0\x91\x92\xF1\xBF\x41", "<><><><>A",
         9},
        {"unfinished sequence at the end is one U+FFFD", "ab\xF0\x9F\x98", "ab<>", 5},
    };
    char out[64];
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        lossy(t[i].in, t[i].n, out);
        is_str(out, t[i].want, "maximal subparts: %s", t[i].name);
    }
}

/* Every code point: its encoding is valid, each proper prefix is unfinished;
 * surrogates are invalid with a one-byte subpart (ED, then A0..BF breaks). */
static void test_all_code_points(void)
{
    unsigned char b[4];
    long bad = 0;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        size_t len = encode(cp, b);
        int surrogate = cp >= 0xD800 && cp <= 0xDFFF;
        int want = surrogate ? -1 : (int)len;
        int got = fk_utf8_classify(b, len);
        if (got != want && bad++ < 5) diag("U+%04X: classify %d, want %d", cp, got, want);
        for (size_t k = 1; k < len && !surrogate; k++) {
            got = fk_utf8_classify(b, k);
            if (got != 0 && bad++ < 5) diag("U+%04X prefix %zu: classify %d, want 0", cp, k, got);
        }
    }
    ok(bad == 0, "every code point classifies as its length, prefixes as unfinished");
}

/* Exhaustive over all 1- to 3-byte inputs and all 4-byte inputs whose lead
 * is F0..F4 and whose last byte is 80 or 41: char_len equals the reference. */
static void test_against_reference(void)
{
    unsigned char s[4];
    long bad = 0, checked = 0;
    for (unsigned a = 0; a < 256; a++)
        for (unsigned b = 0; b < 256; b++)
            for (unsigned c = 0; c < 256; c++) {
                s[0] = (unsigned char)a, s[1] = (unsigned char)b, s[2] = (unsigned char)c;
                for (size_t n = 1; n <= 3; n++) {
                    if ((n < 3 && c) || (n < 2 && b)) continue;
                    checked++;
                    if (fk_utf8_char_len(s, n) != ref_char_len(s, n) && bad++ < 5)
                        diag("%02X %02X %02X n=%zu: got %zu, want %zu", a, b, c, n,
                             fk_utf8_char_len(s, n), ref_char_len(s, n));
                }
                if (a < 0xF0 || a > 0xF4) continue;
                for (unsigned d = 0; d < 2; d++) {
                    s[3] = d ? 0x80 : 0x41;
                    checked++;
                    if (fk_utf8_char_len(s, 4) != ref_char_len(s, 4) && bad++ < 5)
                        diag("%02X %02X %02X %02X: got %zu, want %zu", a, b, c, s[3],
                             fk_utf8_char_len(s, 4), ref_char_len(s, 4));
                }
            }
    ok(bad == 0, "fk_utf8_char_len matches the code-point reference on %ld inputs", checked);
}

int main(void)
{
    test_lead_len();
    test_cases();
    test_maximal_subparts();
    test_all_code_points();
    test_against_reference();
    return done_testing();
}
