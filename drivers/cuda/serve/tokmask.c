/* tokmask.c: the vocabulary trie, the string table, and masks (tokmask.h). */
#include "tokmask.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKEN_BYTES 255 /* deeper trie levels are not indexed (o200k's longest: 128) */

/* A token that closes a string: where and after how much content. */
typedef struct string_exit {
    int32_t id;     /* the token */
    uint16_t quote; /* offset of the closing '"' in its bytes */
    uint16_t chars; /* code points before it */
} string_exit;

struct fk_tokmask {
    fk_tokmask_bytes_fn bytes;     /* the vocabulary */
    fk_tokmask_special_fn special; /* its special tokens */
    const void *ud;                /* their argument */
    int vocab;                     /* V */
    size_t words;                  /* (V + 63) / 64 */

    /* the trie, pre-order: node i is a prefix one byte longer than its parent */
    uint32_t n_nodes;
    uint8_t *node_byte;  /* // (n_nodes,) the last byte of the prefix */
    uint8_t *node_depth; /* // (n_nodes,) its length (1..MAX_TOKEN_BYTES) */
    int32_t *node_token; /* // (n_nodes,) the token with exactly these bytes, or -1 */
    uint32_t *node_skip; /* // (n_nodes,) the first node after its subtree */
    int32_t *dup_next;   /* // (V,) another token with the same bytes, or -1 */

    /* inside a plain string, from ground */
    uint64_t *stay;      /* // (words,) tokens that stay inside (all bytes content) */
    uint8_t *stay_chars; /* // (V,) their code points (capped at 255) */
    string_exit *exits;  /* tokens that close the string after valid content */
    size_t n_exits;

    /* scratch of one walk */
    fk_pda *states; /* // (MAX_TOKEN_BYTES + 1,) the automaton after each prefix */
};

/* ---- building ---------------------------------------------------------------------- */

typedef struct tok_ref {
    const unsigned char *b; /* its bytes */
    size_t n;               /* how many */
    int32_t id;             /* the token */
} tok_ref;

static int ref_cmp(const void *x, const void *y)
{
    const tok_ref *a = x, *b = y;
    size_t n = a->n < b->n ? a->n : b->n;
    int c = memcmp(a->b, b->b, n);
    if (c) return c;
    if (a->n != b->n) return a->n < b->n ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

/* The ordinary tokens, sorted by bytes. */
static tok_ref *sorted_tokens(const fk_tokmask *m, size_t *count)
{
    tok_ref *r = malloc((size_t)m->vocab * sizeof *r);
    size_t n = 0;
    for (int32_t id = 0; r && id < m->vocab; id++) {
        size_t len = 0;
        const char *b = m->bytes(m->ud, id, &len);
        if (!b || len == 0 || len > MAX_TOKEN_BYTES || m->special(m->ud, id)) continue;
        r[n++] = (tok_ref){(const unsigned char *)b, len, id};
    }
    if (r) qsort(r, n, sizeof *r, ref_cmp);
    *count = n;
    return r;
}

/* Lay the sorted tokens out as a pre-order trie. 0, or -1 on OOM. */
static int build_trie(fk_tokmask *m, const tok_ref *r, size_t n)
{
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) cap += r[i].n; /* an upper bound */
    m->node_byte = malloc(cap + 1);
    m->node_depth = malloc(cap + 1);
    m->node_token = malloc((cap + 1) * sizeof *m->node_token);
    m->node_skip = malloc((cap + 1) * sizeof *m->node_skip);
    m->dup_next = malloc((size_t)m->vocab * sizeof *m->dup_next);
    if (!m->node_byte || !m->node_depth || !m->node_token || !m->node_skip || !m->dup_next)
        return -1;
    for (int i = 0; i < m->vocab; i++) m->dup_next[i] = -1;
    uint32_t open[MAX_TOKEN_BYTES + 1]; /* the node at each depth on the current path */
    uint32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t lcp = 0;
        if (i > 0)
            while (lcp < r[i].n && lcp < r[i - 1].n && r[i].b[lcp] == r[i - 1].b[lcp]) lcp++;
        if (i > 0 && lcp == r[i].n && lcp == r[i - 1].n) { /* same bytes as the one before */
            int32_t at = m->node_token[open[lcp]];
            m->dup_next[r[i].id] = m->dup_next[at];
            m->dup_next[at] = r[i].id;
            continue;
        }
        /* nodes deeper than lcp on the old path end their subtrees here */
        if (i > 0)
            for (size_t d = r[i - 1].n; d > lcp; d--) m->node_skip[open[d]] = k;
        for (size_t d = lcp + 1; d <= r[i].n; d++) {
            m->node_byte[k] = r[i].b[d - 1];
            m->node_depth[k] = (uint8_t)d;
            m->node_token[k] = d == r[i].n ? r[i].id : -1;
            open[d] = k++;
        }
    }
    if (n > 0)
        for (size_t d = r[n - 1].n; d > 0; d--) m->node_skip[open[d]] = k;
    m->n_nodes = k;
    return 0;
}

/* Classify every ordinary token read from a string's ground state. */
static int build_string_table(fk_tokmask *m, const tok_ref *r, size_t n)
{
    m->stay = calloc(m->words, sizeof *m->stay);
    m->stay_chars = calloc((size_t)m->vocab, 1);
    m->exits = malloc((n + 1) * sizeof *m->exits);
    if (!m->stay || !m->stay_chars || !m->exits) return -1;
    for (size_t i = 0; i < n; i++) {
        uint8_t phase = FK_STR_GROUND;
        uint32_t acc = 0, chars = 0;
        int verdict = FK_STR_BYTE_OK;
        size_t at = 0;
        for (; at < r[i].n && verdict == FK_STR_BYTE_OK; at++) {
            int starts;
            verdict = fk_pda_string_byte(&phase, &acc, r[i].b[at], &starts);
            chars += starts;
        }
        int32_t id = r[i].id;
        if (verdict == FK_STR_BYTE_OK) {
            m->stay[id / 64] |= 1ull << (id % 64);
            m->stay_chars[id] = chars > 255 ? 255 : (uint8_t)chars;
        } else if (verdict == FK_STR_BYTE_CLOSE) {
            m->exits[m->n_exits++] = (string_exit){id, (uint16_t)(at - 1), (uint16_t)chars};
        }
    }
    return 0;
}

fk_tokmask *fk_tokmask_new(fk_tokmask_bytes_fn bytes, fk_tokmask_special_fn special, const void *ud,
                           int vocab, char *err, size_t err_len)
{
    fk_tokmask *m = calloc(1, sizeof *m);
    tok_ref *r = NULL;
    size_t n = 0;
    if (!m) goto oom;
    m->bytes = bytes;
    m->special = special;
    m->ud = ud;
    m->vocab = vocab;
    m->words = ((size_t)vocab + 63) / 64;
    m->states = malloc((MAX_TOKEN_BYTES + 1) * sizeof *m->states);
    if (!m->states || !(r = sorted_tokens(m, &n)) || build_trie(m, r, n) < 0 ||
        build_string_table(m, r, n) < 0)
        goto oom;
    free(r);
    return m;
oom:
    free(r);
    fk_tokmask_free(m);
    snprintf(err, err_len, "out of memory indexing the vocabulary for constrained sampling");
    return NULL;
}

void fk_tokmask_free(fk_tokmask *m)
{
    if (!m) return;
    free(m->node_byte);
    free(m->node_depth);
    free(m->node_token);
    free(m->node_skip);
    free(m->dup_next);
    free(m->stay);
    free(m->stay_chars);
    free(m->exits);
    free(m->states);
    free(m);
}

size_t fk_tokmask_words(const fk_tokmask *m)
{
    return m->words;
}

const char *fk_tokmask_token(const fk_tokmask *m, int32_t id, size_t *len)
{
    *len = 0;
    if (id < 0 || id >= m->vocab) return NULL;
    return m->bytes(m->ud, id, len);
}

/* ---- masks ------------------------------------------------------------------------- */

static void set_token(const fk_tokmask *m, uint64_t *mask, int32_t id)
{
    for (; id >= 0; id = m->dup_next[id]) mask[id / 64] |= 1ull << (id % 64);
}

/* Walk the trie from state p, pruning rejected prefixes. */
static void walk(fk_tokmask *m, const fk_pda *p, uint64_t *mask)
{
    fk_pda_copy(&m->states[0], p);
    for (uint32_t i = 0; i < m->n_nodes;) {
        uint32_t d = m->node_depth[i];
        fk_pda *st = &m->states[d];
        fk_pda_copy(st, &m->states[d - 1]);
        if (!fk_pda_step(st, m->node_byte[i])) {
            i = m->node_skip[i];
            continue;
        }
        if (m->node_token[i] >= 0) set_token(m, mask, m->node_token[i]);
        i++;
    }
}

/* Inside a plain string: staying tokens from the table (those with room
 * under maxLength), closing ones through the automaton. */
static void in_string(fk_tokmask *m, const fk_pda *p, uint32_t n, uint32_t max, uint64_t *mask)
{
    uint32_t room = max == FK_SCHEMA_UNBOUNDED ? UINT32_MAX : max - n;
    if (room >= 255) {
        memcpy(mask, m->stay, m->words * sizeof *mask);
    } else {
        for (size_t w = 0; w < m->words; w++) {
            for (uint64_t bits = m->stay[w]; bits; bits &= bits - 1) {
                size_t id = w * 64 + (size_t)__builtin_ctzll(bits);
                if (m->stay_chars[id] <= room) mask[w] |= 1ull << (id % 64);
            }
        }
    }
    fk_pda *st = &m->states[0];
    for (size_t k = 0; k < m->n_exits; k++) {
        const string_exit *e = &m->exits[k];
        if (e->chars > room) continue;
        size_t len = 0;
        const char *b = m->bytes(m->ud, e->id, &len);
        fk_pda_copy(st, p);
        fk_pda_string_advance(st, e->chars);
        if (fk_pda_feed(st, b + e->quote, len - e->quote)) set_token(m, mask, e->id);
    }
}

size_t fk_tokmask_compute(fk_tokmask *m, const fk_pda *p, uint64_t *mask)
{
    memset(mask, 0, m->words * sizeof *mask);
    uint32_t n, min, max;
    if (fk_pda_plain_string(p, &n, &min, &max))
        in_string(m, p, n, max, mask);
    else
        walk(m, p, mask);
    size_t count = 0;
    for (size_t w = 0; w < m->words; w++) count += (size_t)__builtin_popcountll(mask[w]);
    return count;
}

void fk_tokmask_apply(const uint64_t *mask, float *logits, int vocab)
{
    for (int base = 0; base < vocab; base += 64) {
        uint64_t w = mask[base / 64];
        int n = vocab - base < 64 ? vocab - base : 64;
        float *row = logits + base;
        if (w == ~0ull) continue;
        if (w == 0) { /* the common case: a whole word disallowed (vectorises) */
            for (int k = 0; k < n; k++) row[k] = -INFINITY;
            continue;
        }
        uint64_t off = ~w & (n == 64 ? ~0ull : (1ull << n) - 1);
        for (; off; off &= off - 1) row[__builtin_ctzll(off)] = -INFINITY;
    }
}
