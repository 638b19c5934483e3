/* constraint.c: the Harmony watcher and the constrained parts (constraint.h).
 *
 * Where the watcher is: in a header (its bytes collected, up to HEADER_MAX;
 * after a terminator a header may begin without <|start|>, as the gateway's
 * non-strict parser reads it) or in a body. The constrained part, when one
 * is active, is an automaton (constrain/pda.h) plus the special tokens that
 * may follow once it holds a whole document:
 *
 *   PART_NAME   "NAME " of a tool          then <|constrain|>
 *   PART_WORD   "json"                     then <|message|>
 *   PART_ARGS   the arguments' JSON        then <|call|> (or <|end|>, <|return|>) */
#include "constraint.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_MAX 1024
#define CHANNEL "<|channel|>"
#define CONSTRAIN "<|constrain|>"

enum { PART_NONE = 0, PART_NAME, PART_WORD, PART_ARGS };

struct fk_constraint {
    fk_toolset tools;              /* the request's functions (owned) */
    fk_schema *names;              /* "NAME " of every tool (owned); NULL without tools */
    fk_schema *word;               /* "json" (owned) */
    fk_schema *any;                /* any JSON document (owned) */
    fk_harmony_ids ids;            /* the special tokens followed */
    fk_tokmask_bytes_fn bytes;     /* token bytes */
    fk_tokmask_special_fn special; /* which tokens are special */
    const void *ud;                /* their vocabulary */

    int in_body;          /* 0: in a header (or between messages), 1: in a body */
    char hdr[HEADER_MAX]; /* the header so far, specials spelled out */
    size_t hdr_len;       /* bytes in hdr */
    int hdr_full;         /* it outgrew hdr: no call is recognised in it */

    int part;        /* PART_*: what is constrained now */
    fk_pda pda;      /* the part's automaton */
    int32_t ends[3]; /* specials allowed once pda holds a whole document */
    int n_ends;      /* entries in ends */
    uint64_t *mask;  /* scratch for fk_constraint_mask, (words,); lazily */
};

/* ---- setup ------------------------------------------------------------------------- */

int fk_harmony_ids_find(fk_harmony_ids *ids, fk_tokmask_bytes_fn bytes,
                        fk_tokmask_special_fn special, const void *ud, int vocab)
{
    static const char *const names[] = {"<|start|>", "<|channel|>", "<|message|>", "<|constrain|>",
                                        "<|call|>",  "<|end|>",     "<|return|>"};
    int32_t *slot[] = {&ids->start, &ids->channel, &ids->message, &ids->constrain,
                       &ids->call,  &ids->end,     &ids->ret};
    for (int k = 0; k < 7; k++) *slot[k] = -1;
    for (int32_t id = 0; id < vocab; id++) {
        if (!special(ud, id)) continue;
        size_t len = 0;
        const char *b = bytes(ud, id, &len);
        for (int k = 0; b && k < 7; k++)
            if (len == strlen(names[k]) && !memcmp(b, names[k], len)) *slot[k] = id;
    }
    for (int k = 0; k < 7; k++)
        if (*slot[k] < 0) return -1;
    return 0;
}

/* "NAME " for every tool. */
static fk_schema *name_literals(const fk_toolset *t)
{
    if (t->n == 0) return NULL;
    char **texts = calloc(t->n, sizeof *texts);
    size_t *lens = calloc(t->n, sizeof *lens);
    fk_schema *s = NULL;
    size_t k = 0;
    for (; texts && lens && k < t->n; k++) {
        lens[k] = strlen(t->names[k]) + 1;
        if (!(texts[k] = malloc(lens[k]))) break;
        memcpy(texts[k], t->names[k], lens[k] - 1);
        texts[k][lens[k] - 1] = ' ';
    }
    if (texts && lens && k == t->n) s = fk_schema_literals((const char *const *)texts, lens, k);
    for (size_t i = 0; texts && i < k; i++) free(texts[i]);
    free(texts);
    free(lens);
    return s;
}

fk_constraint *fk_constraint_new(fk_toolset *tools, const fk_harmony_ids *ids,
                                 fk_tokmask_bytes_fn bytes, fk_tokmask_special_fn special,
                                 const void *ud)
{
    fk_constraint *c = calloc(1, sizeof *c);
    if (!c) {
        fk_toolset_clear(tools);
        return NULL;
    }
    c->tools = *tools;
    memset(tools, 0, sizeof *tools);
    c->ids = *ids;
    c->bytes = bytes;
    c->special = special;
    c->ud = ud;
    static const char *const json_word[] = {"json"};
    static const size_t json_len[] = {4};
    char err[128];
    json_t *yes = json_true();
    c->any = fk_schema_compile(yes, err, sizeof err);
    json_decref(yes);
    c->word = fk_schema_literals(json_word, json_len, 1);
    c->names = name_literals(&c->tools);
    if (!c->any || !c->word || (c->tools.n && !c->names)) {
        fk_constraint_free(c);
        return NULL;
    }
    return c;
}

void fk_constraint_free(fk_constraint *c)
{
    if (!c) return;
    fk_toolset_clear(&c->tools);
    fk_schema_free(c->names);
    fk_schema_free(c->word);
    fk_schema_free(c->any);
    free(c->mask);
    free(c);
}

/* ---- the header -------------------------------------------------------------------- */

static void header_reset(fk_constraint *c)
{
    c->in_body = 0;
    c->hdr_len = 0;
    c->hdr_full = 0;
}

static void header_append(fk_constraint *c, const char *b, size_t n)
{
    if (c->hdr_full || c->hdr_len + n > sizeof c->hdr) {
        c->hdr_full = 1;
        return;
    }
    memcpy(c->hdr + c->hdr_len, b, n);
    c->hdr_len += n;
}

static const char *find_n(const char *h, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(h + i, needle, k)) return h + i;
    return NULL;
}

static void start_part(fk_constraint *c, int part, const fk_schema *s, const int32_t *ends,
                       int n_ends)
{
    c->part = part;
    fk_pda_init(&c->pda, s);
    c->n_ends = n_ends;
    for (int k = 0; k < n_ends; k++) c->ends[k] = ends[k];
}

/* A header that ends in "to=functions." and part of a tool's name, after
 * its channel: the name is constrained from here. */
static void maybe_name(fk_constraint *c)
{
    size_t off, len;
    if (!c->names || c->hdr_full || !fk_header_call(c->hdr, c->hdr_len, &off, &len) ||
        off + len != c->hdr_len)
        return;
    const char *ch = find_n(c->hdr, c->hdr_len, CHANNEL);
    if (!ch || (size_t)(ch - c->hdr) > off) return;
    fk_pda p;
    fk_pda_init(&p, c->names);
    if (!fk_pda_feed(&p, c->hdr + off, len)) return; /* not a tool's name: left free */
    start_part(c, PART_NAME, c->names, &c->ids.constrain, 1);
    fk_pda_copy(&c->pda, &p);
}

/* <|message|>: a body starts; constrain it when the header calls a
 * function or says json. */
static void body_starts(fk_constraint *c)
{
    size_t off, len;
    int calls = !c->hdr_full && fk_header_call(c->hdr, c->hdr_len, &off, &len);
    const char *ct = c->hdr_full ? NULL : find_n(c->hdr, c->hdr_len, CONSTRAIN "json");
    c->in_body = 1;
    if (calls) {
        long i = fk_toolset_find(&c->tools, c->hdr + off, len);
        start_part(c, PART_ARGS, i >= 0 ? c->tools.schemas[i] : c->any, &c->ids.call, 1);
    } else if (ct) {
        int32_t ends[3] = {c->ids.end, c->ids.ret, c->ids.call};
        start_part(c, PART_ARGS, c->any, ends, 3);
    }
}

/* ---- following tokens -------------------------------------------------------------- */

static int is_terminator(const fk_constraint *c, int32_t t)
{
    return t == c->ids.end || t == c->ids.call || t == c->ids.ret;
}

/* A token where nothing is constrained. */
static void follow_free(fk_constraint *c, int32_t t)
{
    if (t == c->ids.start || is_terminator(c, t)) {
        header_reset(c);
        return;
    }
    if (c->in_body) return;
    if (t == c->ids.message) {
        body_starts(c);
        return;
    }
    size_t len = 0;
    const char *b = c->bytes(c->ud, t, &len);
    if (b) header_append(c, b, len);
    if (t != c->ids.channel && t != c->ids.constrain) maybe_name(c);
}

/* One of the part's end specials arrived. */
static void part_ends(fk_constraint *c, int32_t t)
{
    int part = c->part;
    c->part = PART_NONE;
    if (part == PART_NAME) {
        header_append(c, CONSTRAIN, sizeof CONSTRAIN - 1);
        start_part(c, PART_WORD, c->word, &c->ids.message, 1);
    } else if (part == PART_WORD) {
        body_starts(c);
    } else {
        (void)t;
        header_reset(c);
    }
}

int fk_constraint_feed(fk_constraint *c, int32_t t)
{
    if (c->part == PART_NONE) {
        follow_free(c, t);
        return 0;
    }
    size_t len = 0;
    const char *b = c->bytes(c->ud, t, &len);
    if (c->special(c->ud, t)) {
        for (int k = 0; k < c->n_ends; k++)
            if (t == c->ends[k] && fk_pda_can_end(&c->pda)) {
                part_ends(c, t);
                return 0;
            }
    } else if (b) {
        fk_pda p;
        fk_pda_copy(&p, &c->pda);
        if (fk_pda_feed(&p, b, len)) {
            fk_pda_copy(&c->pda, &p);
            if (!c->in_body) header_append(c, b, len);
            return 0;
        }
    }
    c->part = PART_NONE; /* broken (a prompt token): follow freely from here */
    follow_free(c, t);
    return -1;
}

int fk_constraint_active(const fk_constraint *c)
{
    return c->part != PART_NONE;
}

size_t fk_constraint_mask(fk_constraint *c, fk_tokmask *tm, float *logits, int vocab)
{
    if (c->part == PART_NONE) return (size_t)vocab;
    if (!c->mask && !(c->mask = malloc(fk_tokmask_words(tm) * sizeof *c->mask))) return 0;
    size_t count = fk_tokmask_compute(tm, &c->pda, c->mask);
    if (fk_pda_can_end(&c->pda))
        for (int k = 0; k < c->n_ends; k++) {
            c->mask[c->ends[k] / 64] |= 1ull << (c->ends[k] % 64);
            count++;
        }
    fk_tokmask_apply(c->mask, logits, vocab);
    return count;
}
