/* schema.h: a JSON Schema compiled into the graph both cores constrain
 * tool arguments with (the native engine through pda.h, llama-server through
 * gbnf.h), so the two accept exactly the same documents.
 *
 * What a compiled schema accepts (constrain/README.md is the user's copy):
 *   - compact JSON (no whitespace between tokens), UTF-8;
 *   - strings: any code point but the control characters, escapes
 *     \" \\ \/ \b \f \n \r \t and \uXXXX except \u0000 and lone surrogates
 *     (a high surrogate escape must be followed by a low one);
 *   - objects that declare properties: only those, in their declared order,
 *     each at most once, every required one present (optional ones may be
 *     left out); additionalProperties is never used to add others (an object
 *     without them is valid whatever it says). Objects that declare none:
 *     any keys (values by additionalProperties; absent or true: any value),
 *     or `{}` only when additionalProperties is false;
 *   - numbers with at most FK_NUMBER_DIGITS digits before the point (every
 *     integer is exact in a double and in int64), FK_FRACTION_DIGITS after
 *     it (what a double's shortest exact form needs), and an exponent of at
 *     most FK_EXP_DIGITS digits (no number overflows a double);
 *   - enum / const values written as jansson writes them (JSON_COMPACT);
 *   - keywords enforced: type (and type arrays), enum, const, properties,
 *     required, additionalProperties, items, minItems, maxItems, minLength,
 *     maxLength, anyOf / oneOf (as anyOf), allOf with one member, $ref to
 *     "#" or "#/..." (recursion allowed), nullable;
 *   - relaxed (the output still has the right JSON types and structure, but
 *     the keyword is not checked): pattern, format, minimum, maximum,
 *     exclusive*, multipleOf, uniqueItems, allOf with several members,
 *     tuple items / prefixItems (any items), not, if/then/else, contains,
 *     min/maxProperties, and anyOf members of one JSON type that differ
 *     (two object schemas are merged: properties of both, required by
 *     both; two string schemas take the wider lengths);
 *   - a value nested deeper than FK_SCHEMA_MAX_DEPTH frames is not offered.
 *
 * Graph: nodes by index; built-in nodes first (FK_SN_ANY is any JSON value).
 * Every node left in a compiled graph is satisfiable: a branch that no
 * finite document satisfies is removed, and a schema whose root has none is
 * refused. Immutable after compile; one owner (fk_schema_free). */
#ifndef FK_CONSTRAIN_SCHEMA_H
#define FK_CONSTRAIN_SCHEMA_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Frames a document may nest (the root counts one); see pda.h. */
#define FK_SCHEMA_MAX_DEPTH 64
/* Declared properties a key may choose from at one place (a longer run of
 * optional properties is cut: later ones then need an earlier one first). */
#define FK_SCHEMA_KEY_WINDOW 64
#define FK_SCHEMA_UNBOUNDED UINT32_MAX
#define FK_NUMBER_DIGITS 15   /* digits before the point */
#define FK_FRACTION_DIGITS 17 /* digits after it */
#define FK_EXP_DIGITS 2       /* digits of an exponent */

typedef enum fk_snode_kind {
    FK_SN_INTEGER = 0, /* -?(0|[1-9][0-9]*) */
    FK_SN_NUMBER,      /* a JSON number */
    FK_SN_STRING,      /* min..max code points */
    FK_SN_LITERALS,    /* one of n texts (enum/const values, or raw byte strings) */
    FK_SN_ARRAY,       /* min..max values of `items` */
    FK_SN_OBJECT,      /* declared properties, or free keys with `additional` values */
    FK_SN_UNION,       /* one of n members, at most one per JSON type family */
} fk_snode_kind;

/* The built-in nodes every graph starts with. */
enum {
    FK_SN_ANY = 0,    /* a union of the next five: any JSON value */
    FK_SN_ANY_STRING, /* any string */
    FK_SN_ANY_NUMBER, /* any number */
    FK_SN_ANY_OBJECT, /* any object: free keys, any values */
    FK_SN_ANY_ARRAY,  /* any array of any values */
    FK_SN_KEYWORDS,   /* false, null or true */
    FK_SN_BUILTINS,   /* count */
};
#define FK_SN_NONE UINT32_MAX /* no node (an object without free keys) */

typedef struct fk_snode {
    fk_snode_kind kind;
    uint32_t min, max;  /* STRING: code points; ARRAY: items; max FK_SCHEMA_UNBOUNDED: none */
    uint32_t items;     /* ARRAY: the node of every item */
    uint32_t n;         /* LITERALS: texts; OBJECT: declared properties; UNION: members */
    uint32_t first;     /* LITERALS: first text in fk_schema.texts (sorted bytewise);
                           OBJECT: first in fk_schema.props (declared order);
                           UNION: first in fk_schema.members */
    uint32_t free_keys; /* OBJECT without declared properties: the node of every value,
                           or FK_SN_NONE (only `{}`) */
    uint32_t min_depth; /* frames the shortest document of this node needs (itself included) */
} fk_snode;

/* A byte string in fk_schema.bytes. */
typedef struct fk_stext {
    uint32_t off, len;
} fk_stext;

typedef struct fk_sprop {
    fk_stext key;     /* the name as JSON text between the quotes (jansson's escaping) */
    uint32_t node;    /* its value */
    uint8_t required; /* 1: must be present */
} fk_sprop;

typedef struct fk_schema {
    fk_snode *nodes; /* // (n_nodes,) */
    uint32_t n_nodes;
    uint32_t root;   /* the document's node */
    fk_stext *texts; /* // (n_texts,) literal texts */
    uint32_t n_texts;
    fk_sprop *props; /* // (n_props,) */
    uint32_t n_props;
    uint32_t *members; /* // (n_members,) union members */
    uint32_t n_members;
    char *bytes; /* text and key bytes */
    size_t n_bytes;
} fk_schema;

/* Compile a JSON Schema (an object or a boolean). NULL with err ("why") when
 * no document satisfies it, when it is nested too deep, or on OOM. */
fk_schema *fk_schema_compile(const json_t *schema, char *err, size_t err_len);

/* A graph whose documents are exactly one of the n byte strings texts[i]
 * (lens[i] bytes; any bytes, not JSON). NULL on OOM or n == 0. */
fk_schema *fk_schema_literals(const char *const *texts, const size_t *lens, size_t n);

void fk_schema_free(fk_schema *s);

/* The bytes of a text. */
static inline const char *fk_schema_text(const fk_schema *s, fk_stext t)
{
    return s->bytes + t.off;
}

#endif
