/* load_tiktoken.c: reads a tiktoken rank file (base64 token, space, rank per
 * line) and adds the o200k_harmony special tokens (HARMONY.md): ids
 * 199998..201087, named where Harmony names them, <|reserved_N|> otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/fktok_internal.h"

#define HARMONY_FIRST_SPECIAL 199998 /* <|startoftext|> */
#define HARMONY_VOCAB 201088         /* one past <|reserved_201087|> */

/* The Harmony special tokens with names; every other id from
 * HARMONY_FIRST_SPECIAL up is <|reserved_ID|>. */
static const struct {
    int32_t id;       /* token id */
    const char *text; /* spelled-out token */
} harmony_named[] = {
    {199998, "<|startoftext|>"}, {199999, "<|endoftext|>"}, {200002, "<|return|>"},
    {200003, "<|constrain|>"},   {200005, "<|channel|>"},   {200006, "<|start|>"},
    {200007, "<|end|>"},         {200008, "<|message|>"},   {200012, "<|call|>"},
    {200018, "<|endofprompt|>"},
};

/* Value of one base64 digit, or -1. */
static int b64_digit(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decode padded base64 s[0..n) into out (room for n bytes). Returns the byte
 * count, or -1 when s is not base64. */
static long b64_decode(const unsigned char *s, size_t n, unsigned char *out)
{
    if (n == 0 || n % 4) return -1;
    size_t pad = (s[n - 1] == '=') + (n >= 2 && s[n - 2] == '=');
    long o = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        for (size_t k = 0; k < 4; k++) {
            int d = (i + k >= n - pad) ? 0 : b64_digit(s[i + k]);
            if (d < 0) return -1;
            v = v << 6 | (uint32_t)d;
        }
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    return o - (long)pad;
}

/* Parse every line of the rank file into the token table. 0, or -1 with
 * "PATH:LINE: reason" in err. */
static int parse_ranks(fktok *t, const char *path, char *buf, size_t len, char *err, size_t err_len)
{
    unsigned char *tok = malloc(len + 1);
    if (!tok) {
        snprintf(err, err_len, "%s: out of memory", path);
        return -1;
    }
    size_t line = 0, n_tokens = 0;
    int rc = 0;
    for (char *p = buf, *end = buf + len; p < end && rc == 0;) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        line++;
        char *sp = memchr(p, ' ', (size_t)(eol - p));
        char *stop = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
        if (stop == p) {
            p = eol + 1;
            continue; /* blank line */
        }
        char *num_end = NULL;
        long rank =
            sp && sp + 1 < stop && sp[1] >= '0' && sp[1] <= '9' ? strtol(sp + 1, &num_end, 10) : -1;
        long n = sp ? b64_decode((unsigned char *)p, (size_t)(sp - p), tok) : -1;
        if (!sp || rank < 0 || num_end != stop) {
            snprintf(err, err_len, "%s:%zu: expected \"BASE64 RANK\"", path, line);
            rc = -1;
        } else if (n <= 0) {
            snprintf(err, err_len, "%s:%zu: token is not base64", path, line);
            rc = -1;
        } else if (rank >= HARMONY_FIRST_SPECIAL) {
            snprintf(err, err_len, "%s:%zu: rank %ld collides with the special tokens (%d..)", path,
                     line, rank, HARMONY_FIRST_SPECIAL);
            rc = -1;
        } else {
            int set = fk_vocab_set(t, (int32_t)rank, tok, (size_t)n, FK_TOK_ORDINARY);
            if (set == -2)
                snprintf(err, err_len, "%s:%zu: rank %ld appears twice", path, line, rank);
            else if (set)
                snprintf(err, err_len, "%s: out of memory", path);
            rc = set ? -1 : 0;
            n_tokens++;
        }
        p = eol + 1;
    }
    free(tok);
    if (rc == 0 && n_tokens == 0) {
        snprintf(err, err_len, "%s: no tokens (not a tiktoken rank file)", path);
        rc = -1;
    }
    return rc;
}

/* Give ids HARMONY_FIRST_SPECIAL.. their special tokens. 0, or -1 on OOM. */
static int add_harmony_specials(fktok *t)
{
    for (int32_t id = HARMONY_FIRST_SPECIAL; id < HARMONY_VOCAB; id++) {
        char name[40];
        snprintf(name, sizeof name, "<|reserved_%d|>", (int)id);
        for (size_t k = 0; k < sizeof harmony_named / sizeof harmony_named[0]; k++)
            if (harmony_named[k].id == id) snprintf(name, sizeof name, "%s", harmony_named[k].text);
        if (fk_vocab_set(t, id, name, strlen(name), FK_TOK_SPECIAL)) return -1;
    }
    return 0;
}

fktok *fktok_load_tiktoken(const char *path, char *err, size_t err_len)
{
    size_t len = 0;
    char *buf = fk_read_file(path, &len, err, err_len);
    if (!buf) return NULL;
    fktok *t = fk_tok_new();
    int ok = t && fk_vocab_init(t, HARMONY_VOCAB) == 0;
    if (!ok) snprintf(err, err_len, "%s: out of memory", path);
    ok = ok && parse_ranks(t, path, buf, len, err, err_len) == 0;
    free(buf);
    if (ok && add_harmony_specials(t)) {
        snprintf(err, err_len, "%s: out of memory", path);
        ok = 0;
    }
    if (ok) {
        int32_t dup_of = -1;
        long dup = fk_vocab_index(t, &dup_of);
        if (dup < 0)
            snprintf(err, err_len, "%s: out of memory", path);
        else if (dup > 0)
            snprintf(err, err_len, "%s: ranks %ld and %ld have the same bytes", path, (long)dup_of,
                     dup);
        ok = dup == 0;
    }
    int missing = 0;
    if (ok && fk_tok_bind_bytes(t, &missing)) {
        snprintf(err, err_len, "%s: no token for byte 0x%02x", path, missing);
        ok = 0;
    }
    if (ok) {
        t->ignore_merges = 1;
        t->merge_by_rank = 1; /* tiktoken: a pair merges when its bytes are a token */
        char rerr[200];
        if (fk_tok_compile_regex(t, fk_o200k_pattern, strlen(fk_o200k_pattern), 0, rerr,
                                 sizeof rerr)) {
            snprintf(err, err_len, "%s: o200k pattern: %s", path, rerr);
            ok = 0;
        }
    }
    if (!ok) {
        fktok_free(t);
        return NULL;
    }
    return t;
}
