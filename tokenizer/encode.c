/* encode.c: text -> ids. Added tokens are cut out first (special ones only
 * when allowed); the text between them is split into pre-tokens by the regex
 * and each pre-token is byte-pair merged (bpe.c). Bytes that are not valid
 * UTF-8 are never given to the regex: each becomes its own byte token. */
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "tokenizer/fktok_internal.h"

/* Per-call state: everything the encoder writes, owned by one call. */
typedef struct encode_state {
    const fktok *t;                /* the shared, read-only tokenizer */
    pcre2_match_data *md;          /* regex match results */
    pcre2_match_context *mctx;     /* match limits: the tokenizer's, or own_mctx */
    pcre2_match_context *own_mctx; /* limits raised for a long text, or NULL */
    fk_bpe_scratch scratch;        /* BPE work arrays */
    fktok_ids *out;                /* where ids go */
} encode_state;

/* Split valid UTF-8 text s[0..n) with the regex; matches and the gaps
 * between them are pre-tokens. 0, or -1 on OOM or a failed match. */
static int encode_valid(encode_state *st, const unsigned char *s, size_t n)
{
    const fktok *t = st->t;
    size_t gap = 0, from = 0;
    while (from < n) {
        int rc = pcre2_match(t->re, s, n, from, PCRE2_NO_UTF_CHECK, st->md, st->mctx);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) return -1;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(st->md);
        size_t ms = ov[0], me = ov[1];
        if (me == ms) { /* an empty match splits nothing: step over a char */
            if (ms >= n) break;
            from = ms + fk_utf8_char_len(s + ms, n - ms);
            continue;
        }
        if (ms > gap && fk_bpe_piece(t, s + gap, ms - gap, &st->scratch, st->out)) return -1;
        if (fk_bpe_piece(t, s + ms, me - ms, &st->scratch, st->out)) return -1;
        gap = from = me;
    }
    if (n > gap && fk_bpe_piece(t, s + gap, n - gap, &st->scratch, st->out)) return -1;
    return 0;
}

/* Encode text without added tokens. 0, or -1 on OOM or a failed match. */
static int encode_ordinary(encode_state *st, const unsigned char *s, size_t n)
{
    size_t start = 0, i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = fk_utf8_char_len(s + i, n - i);
        if (len) {
            i += len;
            continue;
        }
        if (i > start && encode_valid(st, s + start, i - start)) return -1;
        if (fk_ids_push(st->out, st->t->byte_id[s[i]])) return -1;
        start = ++i;
    }
    return n > start ? encode_valid(st, s + start, n - start) : 0;
}

/* Find the first added token at or after from (leftmost, then longest) that
 * may be recognised. Returns its id and sets *at, or -1 when none. */
static int32_t next_added(const fktok *t, const unsigned char *s, size_t n, size_t from,
                          int allow_special, size_t *at, size_t *len)
{
    for (size_t i = from; i < n; i++) {
        if (!t->added_first[s[i]]) continue;
        for (size_t k = 0; k < t->n_added_lens; k++) {
            size_t l = t->added_lens[k];
            if (l > n - i) continue;
            int32_t id = fk_bytemap_get(t, &t->added, s + i, l);
            if (id < 0 || (t->kind[id] == FK_TOK_SPECIAL && !allow_special)) continue;
            *at = i;
            *len = l;
            return id;
        }
    }
    return -1;
}

int fktok_encode(const fktok *t, const char *text, size_t len, int allow_special, fktok_ids *out)
{
    const unsigned char *s = (const unsigned char *)text;
    encode_state st = {.t = t, .out = out};
    st.scratch.memo_bits = 6; /* about one memo entry per input byte, 64 to 4096 */
    while (st.scratch.memo_bits < FK_BPE_MEMO_MAX_BITS && ((size_t)1 << st.scratch.memo_bits) < len)
        st.scratch.memo_bits++;
    st.md = pcre2_match_data_create(1, NULL);
    st.mctx = t->mctx;
    if (len > FK_MATCH_LIMIT_FLOOR) {
        uint64_t limit = FK_MATCH_LIMIT + (uint64_t)FK_MATCH_LIMIT_PER_BYTE * len;
        st.mctx = st.own_mctx = pcre2_match_context_copy(t->mctx);
        if (st.own_mctx)
            pcre2_set_match_limit(st.own_mctx, limit < UINT32_MAX ? (uint32_t)limit : UINT32_MAX);
    }
    if (!st.md || !st.mctx) {
        pcre2_match_data_free(st.md);
        pcre2_match_context_free(st.own_mctx);
        return -1;
    }
    int matching = t->n_added_lens > 0 && (allow_special || t->has_plain_added);
    int rc = 0;
    size_t pos = 0;
    while (rc == 0 && pos < len) {
        size_t at = len, alen = 0;
        int32_t id = matching ? next_added(t, s, len, pos, allow_special, &at, &alen) : -1;
        if (id < 0) at = len;
        rc = encode_ordinary(&st, s + pos, at - pos);
        if (rc == 0 && id >= 0) rc = fk_ids_push(out, id);
        pos = at + alen;
    }
    fk_bpe_scratch_free(&st.scratch);
    pcre2_match_data_free(st.md);
    pcre2_match_context_free(st.own_mctx);
    return rc;
}
