/* pda.c: the byte automaton of pda.h. One step looks at the top frame only;
 * a value that ends pops and advances its parent (value_done). Every push
 * checks that the new frame's shortest completion fits under
 * FK_SCHEMA_MAX_DEPTH, and every choice (a key, another item) is offered
 * only when it can finish, so no accepted prefix is a dead end. */
#include "constrain/pda.h"

#include <string.h>

enum { ROOT_EXPECT = 0, ROOT_DONE = 1 };
enum { OB_OPEN = 0, OB_COLON, OB_VALUE, OB_AFTER, OB_NEXT };
enum { AR_OPEN = 0, AR_AFTER, AR_NEXT };
enum { NU_MINUS = 0, NU_ZERO, NU_INT, NU_DOT, NU_FRAC, NU_EXP, NU_EXP_SIGN, NU_EXP_DIGIT };

/* String content sub-states (fk_pda_string_byte). */
enum {
    S_GROUND = FK_STR_GROUND,
    S_ESC, /* after '\' */
    S_U0,
    S_U1,
    S_U2,
    S_U3,      /* after "\u" and 0..3 hex digits */
    S_HIGH_BS, /* after a high surrogate escape: '\' must follow */
    S_HIGH_U,  /* then 'u' */
    S_L0,
    S_L1,
    S_L2,
    S_L3, /* then the low surrogate's 0..3 digits */
    S_C1,
    S_C2,
    S_C3, /* 1, 2, 3 UTF-8 continuation bytes to go */
    S_E0,
    S_ED,
    S_F0,
    S_F4, /* after E0, ED, F0, F4: a narrower next byte */
};

/* ---- string content ---------------------------------------------------------------- */

static int hex_value(unsigned char b)
{
    if (b >= '0' && b <= '9') return b - '0';
    if (b >= 'a' && b <= 'f') return b - 'a' + 10;
    if (b >= 'A' && b <= 'F') return b - 'A' + 10;
    return -1;
}

/* After k of 4 hex digits with value v: can the escape still end well? A
 * first escape must not be \u0000 or a lone low surrogate (DC00-DFFF); the
 * escape after a high surrogate must be a low one. */
static int escape_possible(uint32_t v, int k, int low)
{
    uint32_t shift = 4u * (uint32_t)(4 - k);
    uint32_t lo = v << shift, hi = lo + (1u << shift) - 1;
    if (low) return lo <= 0xDFFF && hi >= 0xDC00;
    if (lo == 0 && hi == 0) return 0;
    return !(lo >= 0xDC00 && hi <= 0xDFFF);
}

int fk_pda_string_byte(uint8_t *phase, uint32_t *acc, unsigned char b, int *starts)
{
    *starts = 0;
    switch (*phase) {
    case S_GROUND:
        if (b == '"') return FK_STR_BYTE_CLOSE;
        if (b < 0x20) return FK_STR_BYTE_BAD;
        *starts = 1;
        if (b == '\\')
            *phase = S_ESC;
        else if (b < 0x80)
            *phase = S_GROUND;
        else if (b >= 0xC2 && b <= 0xDF)
            *phase = S_C1;
        else if (b == 0xE0)
            *phase = S_E0;
        else if (b == 0xED)
            *phase = S_ED;
        else if (b >= 0xE1 && b <= 0xEF)
            *phase = S_C2;
        else if (b == 0xF0)
            *phase = S_F0;
        else if (b == 0xF4)
            *phase = S_F4;
        else if (b >= 0xF1 && b <= 0xF3)
            *phase = S_C3;
        else
            return FK_STR_BYTE_BAD;
        return FK_STR_BYTE_OK;
    case S_ESC:
        if (b == 'u') {
            *phase = S_U0;
            *acc = 0;
            return FK_STR_BYTE_OK;
        }
        if (!strchr("\"\\/bfnrt", b) || b == 0) return FK_STR_BYTE_BAD;
        *phase = S_GROUND;
        return FK_STR_BYTE_OK;
    case S_U0:
    case S_U1:
    case S_U2:
    case S_U3:
    case S_L0:
    case S_L1:
    case S_L2:
    case S_L3: {
        int low = *phase >= S_L0, k = *phase - (low ? S_L0 : S_U0) + 1, h = hex_value(b);
        if (h < 0) return FK_STR_BYTE_BAD;
        uint32_t v = *acc * 16 + (uint32_t)h;
        if (!escape_possible(v, k, low)) return FK_STR_BYTE_BAD;
        *acc = v;
        if (k < 4)
            *phase = (uint8_t)(*phase + 1);
        else
            *phase = !low && v >= 0xD800 && v <= 0xDBFF ? S_HIGH_BS : S_GROUND;
        return FK_STR_BYTE_OK;
    }
    case S_HIGH_BS:
        if (b != '\\') return FK_STR_BYTE_BAD;
        *phase = S_HIGH_U;
        return FK_STR_BYTE_OK;
    case S_HIGH_U:
        if (b != 'u') return FK_STR_BYTE_BAD;
        *phase = S_L0;
        *acc = 0;
        return FK_STR_BYTE_OK;
    case S_C1:
    case S_C2:
    case S_C3:
        if (b < 0x80 || b > 0xBF) return FK_STR_BYTE_BAD;
        *phase = *phase == S_C1 ? S_GROUND : (uint8_t)(*phase - 1);
        return FK_STR_BYTE_OK;
    case S_E0:
    case S_ED:
        if (*phase == S_E0 ? (b < 0xA0 || b > 0xBF) : (b < 0x80 || b > 0x9F))
            return FK_STR_BYTE_BAD;
        *phase = S_C1;
        return FK_STR_BYTE_OK;
    case S_F0:
    case S_F4:
        if (*phase == S_F0 ? (b < 0x90 || b > 0xBF) : (b < 0x80 || b > 0x8F))
            return FK_STR_BYTE_BAD;
        *phase = S_C2;
        return FK_STR_BYTE_OK;
    }
    return FK_STR_BYTE_BAD;
}

static int is_digit(unsigned char b)
{
    return b >= '0' && b <= '9';
}

/* ---- frames ------------------------------------------------------------------------ */

static const fk_snode *node(const fk_pda *p, uint32_t i)
{
    return &p->s->nodes[i];
}

static fk_pda_frame *top(fk_pda *p)
{
    return &p->f[p->depth - 1];
}

/* Push a frame reading `nd`, if its shortest completion fits. */
static int push(fk_pda *p, uint32_t nd, uint8_t kind, uint8_t phase)
{
    if (p->depth + node(p, nd)->min_depth > FK_SCHEMA_MAX_DEPTH) return 0;
    p->f[p->depth++] = (fk_pda_frame){.node = nd, .kind = kind, .phase = phase};
    return 1;
}

/* The top value ended: pop it and advance its parent. */
static void value_done(fk_pda *p)
{
    p->depth--;
    fk_pda_frame *f = top(p);
    if (f->kind == FK_FR_ROOT)
        f->phase = ROOT_DONE;
    else if (f->kind == FK_FR_OBJECT)
        f->phase = OB_AFTER;
    else
        f->phase = AR_AFTER;
}

/* Narrow a LITERAL frame's candidates by byte b. 1 when some remain. */
static int literal_extend(fk_pda *p, fk_pda_frame *f, unsigned char b)
{
    const fk_schema *s = p->s;
    uint32_t i = f->lo, n = f->n;
    while (i < f->hi) {
        fk_stext t = s->texts[i];
        if (t.len > n && (unsigned char)s->bytes[t.off + n] >= b) break;
        i++;
    }
    uint32_t j = i;
    while (j < f->hi && s->texts[j].len > n && (unsigned char)s->bytes[s->texts[j].off + n] == b)
        j++;
    if (j == i) return 0;
    f->lo = i;
    f->hi = j;
    f->n = n + 1;
    return 1;
}

static int literal_complete(const fk_pda *p, const fk_pda_frame *f)
{
    return f->lo < f->hi && p->s->texts[f->lo].len == f->n;
}

/* Byte b starts a value of node nd (a new frame on top). */
static int value_start(fk_pda *p, uint32_t nd, unsigned char b)
{
    const fk_snode *x = node(p, nd);
    switch (x->kind) {
    case FK_SN_UNION: /* at most one member per family: the first byte picks it */
        for (uint32_t k = 0; k < x->n; k++) {
            uint32_t m = p->s->members[x->first + k];
            const fk_snode *y = node(p, m);
            if (y->kind == FK_SN_LITERALS) { /* its texts decide (it fails cleanly) */
                if (value_start(p, m, b)) return 1;
                continue;
            }
            int fits = y->kind == FK_SN_STRING   ? b == '"'
                       : y->kind == FK_SN_OBJECT ? b == '{'
                       : y->kind == FK_SN_ARRAY  ? b == '['
                                                 : b == '-' || (b >= '0' && b <= '9');
            if (fits) return value_start(p, m, b);
        }
        return 0;
    case FK_SN_STRING:
        return b == '"' && push(p, nd, FK_FR_STRING, S_GROUND);
    case FK_SN_INTEGER:
    case FK_SN_NUMBER:
        if (b == '-') return push(p, nd, FK_FR_NUMBER, NU_MINUS);
        if (b == '0') return push(p, nd, FK_FR_NUMBER, NU_ZERO);
        if (b < '1' || b > '9' || !push(p, nd, FK_FR_NUMBER, NU_INT)) return 0;
        top(p)->n = 1;
        return 1;
    case FK_SN_LITERALS: {
        if (!push(p, nd, FK_FR_LITERAL, 0)) return 0;
        fk_pda_frame *f = top(p);
        f->lo = x->first;
        f->hi = x->first + x->n;
        if (literal_extend(p, f, b)) return 1;
        p->depth--;
        return 0;
    }
    case FK_SN_ARRAY:
        return b == '[' && push(p, nd, FK_FR_ARRAY, AR_OPEN);
    case FK_SN_OBJECT:
        return b == '{' && push(p, nd, FK_FR_OBJECT, OB_OPEN);
    }
    return 0;
}

/* ---- objects ----------------------------------------------------------------------- */

/* 1 when a value of node nd may start in a frame at 0-based index `at`. */
static int fits_at(const fk_pda *p, uint32_t at, uint32_t nd)
{
    return at + node(p, nd)->min_depth <= FK_SCHEMA_MAX_DEPTH;
}

/* The declared properties a key may name next in the object frame at index
 * `at` (its next property f->n): bit i for property n + i, up to and
 * including the first required one (it cannot be skipped). */
static uint64_t key_window(const fk_pda *p, uint32_t at)
{
    const fk_pda_frame *f = &p->f[at];
    const fk_snode *o = node(p, f->node);
    if (at + 2 > FK_SCHEMA_MAX_DEPTH) return 0; /* no room for the key frame */
    uint64_t mask = 0;
    for (uint32_t i = 0; f->n + i < o->n && i < FK_SCHEMA_KEY_WINDOW; i++) {
        const fk_sprop *q = &p->s->props[o->first + f->n + i];
        if (fits_at(p, at + 1, q->node)) mask |= 1ull << i;
        if (q->required) break;
    }
    return mask;
}

/* 1 when the object frame at `at` may take another key. */
static int may_add_key(const fk_pda *p, uint32_t at)
{
    const fk_snode *o = node(p, p->f[at].node);
    if (o->n) return key_window(p, at) != 0;
    return o->free_keys != FK_SN_NONE && at + 2 <= FK_SCHEMA_MAX_DEPTH &&
           fits_at(p, at + 1, o->free_keys);
}

/* 1 when the object frame at `at` may close: no required property left. */
static int may_close(const fk_pda *p, uint32_t at)
{
    const fk_pda_frame *f = &p->f[at];
    const fk_snode *o = node(p, f->node);
    for (uint32_t k = f->n; k < o->n; k++)
        if (p->s->props[o->first + k].required) return 0;
    return 1;
}

/* '"' opens a key of the object frame on top. */
static int key_start(fk_pda *p)
{
    uint32_t at = p->depth - 1;
    fk_pda_frame *f = top(p);
    const fk_snode *o = node(p, f->node);
    if (!may_add_key(p, at)) return 0;
    if (o->n == 0) {
        p->f[p->depth++] = (fk_pda_frame){
            .node = FK_SN_ANY_STRING, .kind = FK_FR_STRING, .phase = S_GROUND, .key = 1};
        return 1;
    }
    uint64_t mask = key_window(p, at);
    p->f[p->depth++] = (fk_pda_frame){.mask = mask, .node = f->node, .lo = f->n, .kind = FK_FR_KEY};
    return 1;
}

static int object_step(fk_pda *p, fk_pda_frame *f, unsigned char b)
{
    uint32_t at = p->depth - 1;
    switch (f->phase) {
    case OB_OPEN:
        if (b == '}' && may_close(p, at)) {
            value_done(p);
            return 1;
        }
        return b == '"' && key_start(p);
    case OB_NEXT:
        return b == '"' && key_start(p);
    case OB_COLON:
        if (b != ':') return 0;
        f->phase = OB_VALUE;
        return 1;
    case OB_VALUE:
        return value_start(p, f->lo, b);
    case OB_AFTER:
        if (b == ',' && may_add_key(p, at)) {
            f->phase = OB_NEXT;
            return 1;
        }
        if (b == '}' && may_close(p, at)) {
            value_done(p);
            return 1;
        }
        return 0;
    }
    return 0;
}

/* A declared key: bytes narrow the candidates; '"' after a whole name ends it. */
static int key_step(fk_pda *p, fk_pda_frame *k, unsigned char b)
{
    const fk_snode *o = node(p, k->node);
    const fk_sprop *props = p->s->props + o->first + k->lo;
    uint64_t keep = 0;
    for (uint64_t m = k->mask; m; m &= m - 1) {
        int i = __builtin_ctzll(m);
        fk_stext t = props[i].key;
        if (b == '"' && t.len == k->n) {
            fk_pda_frame *obj = &p->f[p->depth - 2];
            obj->n = k->lo + (uint32_t)i + 1;
            obj->lo = props[i].node;
            obj->phase = OB_COLON;
            p->depth--;
            return 1;
        }
        if (t.len > k->n && (unsigned char)p->s->bytes[t.off + k->n] == b) keep |= 1ull << i;
    }
    if (!keep) return 0;
    k->mask = keep;
    k->n++;
    return 1;
}

/* ---- the other frames -------------------------------------------------------------- */

static int string_step(fk_pda *p, fk_pda_frame *f, unsigned char b)
{
    int starts;
    int r = fk_pda_string_byte(&f->phase, &f->lo, b, &starts);
    if (r == FK_STR_BYTE_BAD) return 0;
    const fk_snode *x = node(p, f->node);
    if (r == FK_STR_BYTE_CLOSE) {
        if (f->n < x->min) return 0;
        if (f->key) {
            p->depth--;
            fk_pda_frame *obj = top(p);
            obj->lo = node(p, obj->node)->free_keys;
            obj->phase = OB_COLON;
        } else {
            value_done(p);
        }
        return 1;
    }
    if (starts) {
        if (f->n >= x->max) return 0;
        f->n++;
    }
    return 1;
}

/* The number phase after byte b (f->n: digits in the current part), or -1
 * when b does not continue the number. Digits per part are bounded
 * (schema.h): FK_NUMBER_DIGITS before the point, FK_FRACTION_DIGITS after
 * it, FK_EXP_DIGITS in the exponent. */
static int number_next(fk_pda_frame *f, int integer, unsigned char b)
{
    int d = is_digit(b);
    switch (f->phase) {
    case NU_MINUS:
        f->n = 1;
        return b == '0' ? NU_ZERO : d ? NU_INT : -1;
    case NU_ZERO:
    case NU_INT:
        if (f->phase == NU_INT && d) return f->n < FK_NUMBER_DIGITS ? (f->n++, NU_INT) : -1;
        if (integer) return -1;
        f->n = 0;
        return b == '.' ? NU_DOT : b == 'e' || b == 'E' ? NU_EXP : -1;
    case NU_DOT:
    case NU_FRAC:
        if (d) return f->n < FK_FRACTION_DIGITS ? (f->n++, NU_FRAC) : -1;
        f->n = 0;
        return f->phase == NU_FRAC && (b == 'e' || b == 'E') ? NU_EXP : -1;
    case NU_EXP:
        if (b == '+' || b == '-') return NU_EXP_SIGN;
        /* fall through */
    case NU_EXP_SIGN:
    case NU_EXP_DIGIT:
        return d && f->n < FK_EXP_DIGITS ? (f->n++, NU_EXP_DIGIT) : -1;
    }
    return -1;
}

static int number_complete(int phase)
{
    return phase == NU_ZERO || phase == NU_INT || phase == NU_FRAC || phase == NU_EXP_DIGIT;
}

static int array_step(fk_pda *p, fk_pda_frame *f, unsigned char b)
{
    const fk_snode *a = node(p, f->node);
    uint32_t at = p->depth - 1;
    int more = f->n < a->max && fits_at(p, at + 1, a->items);
    switch (f->phase) {
    case AR_OPEN:
        if (b == ']' && a->min == 0) {
            value_done(p);
            return 1;
        }
        if (!more || !value_start(p, a->items, b)) return 0;
        p->f[at].n++;
        return 1;
    case AR_AFTER:
        if (b == ',' && more) {
            f->phase = AR_NEXT;
            return 1;
        }
        if (b == ']' && f->n >= a->min) {
            value_done(p);
            return 1;
        }
        return 0;
    case AR_NEXT:
        if (!value_start(p, a->items, b)) return 0;
        p->f[at].n++;
        return 1;
    }
    return 0;
}

int fk_pda_step(fk_pda *p, unsigned char b)
{
    fk_pda_frame *f = top(p);
    switch (f->kind) {
    case FK_FR_ROOT:
        return f->phase == ROOT_EXPECT && value_start(p, f->node, b);
    case FK_FR_OBJECT:
        return object_step(p, f, b);
    case FK_FR_KEY:
        return key_step(p, f, b);
    case FK_FR_ARRAY:
        return array_step(p, f, b);
    case FK_FR_STRING:
        return string_step(p, f, b);
    case FK_FR_NUMBER: {
        fk_pda_frame before = *f;
        int next = number_next(f, node(p, f->node)->kind == FK_SN_INTEGER, b);
        if (next >= 0) {
            f->phase = (uint8_t)next;
            return 1;
        }
        *f = before;
        if (!number_complete(f->phase)) return 0;
        value_done(p);
        return fk_pda_step(p, b);
    }
    case FK_FR_LITERAL:
        if (literal_extend(p, f, b)) return 1;
        if (!literal_complete(p, f)) return 0;
        value_done(p);
        return fk_pda_step(p, b);
    }
    return 0;
}

int fk_pda_feed(fk_pda *p, const void *bytes, size_t n)
{
    const unsigned char *b = bytes;
    for (size_t i = 0; i < n; i++)
        if (!fk_pda_step(p, b[i])) return 0;
    return 1;
}

void fk_pda_init(fk_pda *p, const fk_schema *s)
{
    p->s = s;
    p->depth = 1;
    p->f[0] = (fk_pda_frame){.node = s->root, .kind = FK_FR_ROOT, .phase = ROOT_EXPECT};
}

int fk_pda_can_end(const fk_pda *p)
{
    if (p->depth == 1) return p->f[0].phase == ROOT_DONE;
    if (p->depth != 2) return 0;
    const fk_pda_frame *f = &p->f[1];
    if (f->kind == FK_FR_NUMBER) return number_complete(f->phase);
    return f->kind == FK_FR_LITERAL && literal_complete(p, f);
}

int fk_pda_plain_string(const fk_pda *p, uint32_t *n, uint32_t *min, uint32_t *max)
{
    const fk_pda_frame *f = &p->f[p->depth - 1];
    if (f->kind != FK_FR_STRING || f->phase != S_GROUND) return 0;
    const fk_snode *x = &p->s->nodes[f->node];
    *n = f->n;
    *min = x->min;
    *max = x->max;
    return 1;
}

void fk_pda_string_advance(fk_pda *p, uint32_t chars)
{
    p->f[p->depth - 1].n += chars;
}
