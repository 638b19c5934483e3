/* gbnf.c: schema graph -> GBNF (gbnf.h). One rule per reachable node, two
 * per declared object property (the properties from there on, with and
 * without a comma first), mirroring pda.c: compact JSON, declared keys in
 * order (optional ones may be left out, required ones may not), strings by
 * the same character and escape rules, numbers with the same digit limits. */
#include "constrain/gbnf.h"

#include <stdlib.h>

void fk_gbnf_literal(FILE *out, const char *b, size_t n)
{
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02X", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

void fk_gbnf_common(FILE *out)
{
    /* \u escapes: not \u0000, no lone surrogates (pda.c, escape_possible) */
    fprintf(
        out,
        "fk-hex ::= [0-9a-fA-F]\n"
        "fk-u ::= [1-9a-cA-Ce-fE-F] fk-hex fk-hex fk-hex | [dD] [0-7] fk-hex fk-hex"
        " | \"0\" ( [1-9a-fA-F] fk-hex fk-hex | \"0\" ( [1-9a-fA-F] fk-hex | \"0\" [1-9a-fA-F] ) )"
        " | [dD] [89abAB] fk-hex fk-hex \"\\\\u\" [dD] [c-fC-F] fk-hex fk-hex\n"
        "fk-char ::= [^\"\\\\\\x00-\\x1F] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" fk-u )\n"
        "fk-string ::= \"\\\"\" fk-char* \"\\\"\"\n"
        "fk-int ::= \"-\"? ( \"0\" | [1-9] [0-9]{0,%d} )\n"
        "fk-number ::= fk-int ( \".\" [0-9]{1,%d} )? ( [eE] [-+]? [0-9]{1,%d} )?\n",
        FK_NUMBER_DIGITS - 1, FK_FRACTION_DIGITS, FK_EXP_DIGITS);
}

/* "{m,n}", "{m,}" or nothing for {0,unbounded} ("*" is written by the caller). */
static void repeat(FILE *out, uint32_t min, uint32_t max)
{
    if (max == FK_SCHEMA_UNBOUNDED)
        fprintf(out, "{%u,}", min);
    else
        fprintf(out, "{%u,%u}", min, max);
}

static void ref(FILE *out, const char *prefix, uint32_t node)
{
    fprintf(out, "%s-n%u", prefix, node);
}

/* The rule for the properties of object node o from index p on (comma: one
 * was written before). */
static void props_rule(FILE *out, const fk_schema *s, const char *prefix, uint32_t o, uint32_t p,
                       int comma)
{
    const fk_snode *x = &s->nodes[o];
    const fk_sprop *q = &s->props[x->first + p];
    fprintf(out, "%s-n%u-p%u-%d ::= ", prefix, o, p, comma);
    int last = p + 1 == x->n;
    /* this property, then the rest (with a comma) */
    fputs("( ", out);
    if (comma) fputs("\",\" ", out);
    fputs("\"\\\"\" ", out);
    fk_gbnf_literal(out, fk_schema_text(s, q->key), q->key.len);
    fputs(" \"\\\":\" ", out);
    ref(out, prefix, q->node);
    if (!last) fprintf(out, " %s-n%u-p%u-1", prefix, o, p + 1);
    fputs(" )", out);
    if (!q->required && last) fputc('?', out); /* or without it (an empty alternative */
    if (!q->required && !last)                 /* at a line's end does not parse) */
        fprintf(out, " | %s-n%u-p%u-%d", prefix, o, p + 1, comma);
    fputc('\n', out);
}

static void node_rule(FILE *out, const fk_schema *s, const char *prefix, uint32_t i)
{
    const fk_snode *x = &s->nodes[i];
    ref(out, prefix, i);
    fputs(" ::= ", out);
    switch (x->kind) {
    case FK_SN_INTEGER:
        fputs("fk-int\n", out);
        return;
    case FK_SN_NUMBER:
        fputs("fk-number\n", out);
        return;
    case FK_SN_STRING:
        fputs("\"\\\"\" fk-char", out);
        if (x->min == 0 && x->max == FK_SCHEMA_UNBOUNDED)
            fputc('*', out);
        else
            repeat(out, x->min, x->max);
        fputs(" \"\\\"\"\n", out);
        return;
    case FK_SN_LITERALS:
        for (uint32_t k = 0; k < x->n; k++) {
            fk_stext t = s->texts[x->first + k];
            if (k) fputs(" | ", out);
            fk_gbnf_literal(out, fk_schema_text(s, t), t.len);
        }
        fputc('\n', out);
        return;
    case FK_SN_ARRAY:
        if (x->max == 0) {
            fputs("\"[]\"\n", out);
            return;
        }
        fputs("\"[\" ", out);
        if (x->min == 0) fputs("( ", out);
        ref(out, prefix, x->items);
        fputs(" ( \",\" ", out);
        ref(out, prefix, x->items);
        fputs(" )", out);
        uint32_t lo = x->min ? x->min - 1 : 0;
        uint32_t hi = x->max == FK_SCHEMA_UNBOUNDED ? x->max : x->max - 1;
        if (lo == 0 && hi == FK_SCHEMA_UNBOUNDED)
            fputc('*', out);
        else
            repeat(out, lo, hi);
        if (x->min == 0) fputs(" )?", out);
        fputs(" \"]\"\n", out);
        return;
    case FK_SN_OBJECT:
        if (x->n) {
            fprintf(out, "\"{\" %s-n%u-p0-0 \"}\"\n", prefix, i);
        } else if (x->free_keys == FK_SN_NONE) {
            fputs("\"{}\"\n", out);
        } else {
            fputs("\"{\" ( fk-string \":\" ", out);
            ref(out, prefix, x->free_keys);
            fputs(" ( \",\" fk-string \":\" ", out);
            ref(out, prefix, x->free_keys);
            fputs(" )* )? \"}\"\n", out);
        }
        for (uint32_t p = 0; p < x->n; p++) {
            props_rule(out, s, prefix, i, p, 0);
            props_rule(out, s, prefix, i, p, 1);
        }
        return;
    case FK_SN_UNION:
        for (uint32_t k = 0; k < x->n; k++) {
            if (k) fputs(" | ", out);
            ref(out, prefix, s->members[x->first + k]);
        }
        fputc('\n', out);
        return;
    }
}

/* Mark every node reachable from i. */
static void reach(const fk_schema *s, uint32_t i, uint8_t *seen)
{
    if (i == FK_SN_NONE || seen[i]) return;
    seen[i] = 1;
    const fk_snode *x = &s->nodes[i];
    if (x->kind == FK_SN_ARRAY) reach(s, x->items, seen);
    if (x->kind == FK_SN_OBJECT) {
        reach(s, x->free_keys, seen);
        for (uint32_t k = 0; k < x->n; k++) reach(s, s->props[x->first + k].node, seen);
    }
    if (x->kind == FK_SN_UNION)
        for (uint32_t k = 0; k < x->n; k++) reach(s, s->members[x->first + k], seen);
}

int fk_gbnf_schema(FILE *out, const fk_schema *s, const char *prefix)
{
    uint8_t *seen = calloc(s->n_nodes, 1);
    if (!seen) return -1;
    reach(s, s->root, seen);
    fprintf(out, "%s-root ::= ", prefix);
    ref(out, prefix, s->root);
    fputc('\n', out);
    for (uint32_t i = 0; i < s->n_nodes; i++)
        if (seen[i]) node_rule(out, s, prefix, i);
    free(seen);
    return 0;
}
