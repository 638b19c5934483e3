/* schema_ts.c: JSON Schema -> the TypeScript-like text gpt-oss was trained on.
 *
 * This follows openai/harmony's converter byte for byte, quirks included (the
 * render vectors pin them): property order as given; nested objects indent
 * their properties by 4 spaces but not their opening brace; an object's
 * description is written both above the property and before the brace;
 * only a description's first line is commented; string defaults are not
 * escaped (and not quoted for enums); non-string defaults are compact JSON as
 * serde_json writes it; oneOf renders as a multi-line union; anything else
 * unsupported is `any`.
 */
#include "harmony/harmony.h"
#include "harmony/strbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Schemas nested deeper than this render as `any`. Upstream cannot even read
 * them: serde_json refuses JSON nested deeper than 128 levels, and every
 * schema level is at least one JSON level. The limit also keeps the
 * indentation (quadratic in depth) and the copying bounded. */
#define HM_SCHEMA_MAX_DEPTH 128

/* ==== compact JSON as serde_json writes it ==================================== */

/* Appends a finite double the way serde_json (ryu) prints it: the shortest
 * digits that read back to the same value, in decimal notation when the
 * decimal exponent is in (-5, 16], else as d.ddde±N; integral values keep ".0". */
static void append_real(strbuf *b, double v)
{
    char buf[40];
    if (v == 0) {
        strbuf_append_str(b, signbit(v) ? "-0.0" : "0.0");
        return;
    }
    /* Shortest round-tripping precision: "%.*e" gives d.ddde±XX. */
    for (int p = 0; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p, v);
        if (strtod(buf, NULL) == v) break;
    }
    char digits[24];
    size_t n = 0;
    const char *s = buf;
    if (*s == '-') {
        strbuf_append_char(b, '-');
        s++;
    }
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9') digits[n++] = *s;
    int exp10 = atoi(s + 1);
    while (n > 1 && digits[n - 1] == '0') n--;
    int kk = exp10 + 1;       /* value = 0.DIGITS * 10^kk */
    int k = kk - (int)n;      /* value = DIGITS * 10^k */
    if (k >= 0 && kk <= 16) { /* 1234000.0 */
        strbuf_append(b, digits, n);
        for (int i = 0; i < k; i++) strbuf_append_char(b, '0');
        strbuf_append_str(b, ".0");
    } else if (kk > 0 && kk <= 16) { /* 12.34 */
        strbuf_append(b, digits, (size_t)kk);
        strbuf_append_char(b, '.');
        strbuf_append(b, digits + kk, n - (size_t)kk);
    } else if (kk > -5 && kk <= 0) { /* 0.001234 */
        strbuf_append_str(b, "0.");
        for (int i = 0; i < -kk; i++) strbuf_append_char(b, '0');
        strbuf_append(b, digits, n);
    } else { /* 1.234e-7, 1e20 */
        strbuf_append_char(b, digits[0]);
        if (n > 1) {
            strbuf_append_char(b, '.');
            strbuf_append(b, digits + 1, n - 1);
        }
        strbuf_printf(b, "e%d", kk - 1);
    }
}

/* A JSON string literal with serde_json's escapes (\" \\ \b \f \n \r \t,
 * other control bytes as \u00xx, everything else verbatim). */
static void append_json_string(strbuf *b, const char *s, size_t len)
{
    strbuf_append_char(b, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            strbuf_append_str(b, "\\\"");
            break;
        case '\\':
            strbuf_append_str(b, "\\\\");
            break;
        case '\b':
            strbuf_append_str(b, "\\b");
            break;
        case '\f':
            strbuf_append_str(b, "\\f");
            break;
        case '\n':
            strbuf_append_str(b, "\\n");
            break;
        case '\r':
            strbuf_append_str(b, "\\r");
            break;
        case '\t':
            strbuf_append_str(b, "\\t");
            break;
        default:
            if (c < 0x20)
                strbuf_printf(b, "\\u%04x", c);
            else
                strbuf_append_char(b, (char)c);
        }
    }
    strbuf_append_char(b, '"');
}

/* Compact JSON, object members in insertion order (serde_json preserve_order). */
static void append_json_compact(strbuf *b, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *val;
        int first = 1;
        strbuf_append_char(b, '{');
        json_object_foreach((json_t *)v, key, val)
        {
            if (!first) strbuf_append_char(b, ',');
            first = 0;
            append_json_string(b, key, strlen(key));
            strbuf_append_char(b, ':');
            append_json_compact(b, val);
        }
        strbuf_append_char(b, '}');
        break;
    }
    case JSON_ARRAY:
        strbuf_append_char(b, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) strbuf_append_char(b, ',');
            append_json_compact(b, json_array_get(v, i));
        }
        strbuf_append_char(b, ']');
        break;
    case JSON_STRING:
        append_json_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        strbuf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        append_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        strbuf_append_str(b, "true");
        break;
    case JSON_FALSE:
        strbuf_append_str(b, "false");
        break;
    case JSON_NULL:
        strbuf_append_str(b, "null");
        break;
    }
}

/* ==== schema helpers ========================================================== */

/* schema[key], or NULL when schema is not an object or has no such member. */
static const json_t *get(const json_t *schema, const char *key)
{
    return json_is_object(schema) ? json_object_get(schema, key) : NULL;
}

/* The string member `key`, or NULL when absent or not a string. */
static const json_t *get_str(const json_t *schema, const char *key)
{
    const json_t *v = get(schema, key);
    return json_is_string(v) ? v : NULL;
}

static void append_jstr(strbuf *b, const json_t *s)
{
    strbuf_append(b, json_string_value(s), json_string_length(s));
}

static int jstr_equal(const json_t *a, const json_t *b)
{
    return json_string_length(a) == json_string_length(b) &&
           memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
}

static int is_enum(const json_t *schema)
{
    const json_t *e = get(schema, "enum");
    return json_is_array(e) && json_array_size(e) > 0;
}

static int is_nullable(const json_t *schema)
{
    return json_is_true(get(schema, "nullable"));
}

static int is_required(const json_t *schema, const char *key)
{
    const json_t *req = get(schema, "required");
    for (size_t i = 0; i < json_array_size(req); i++) {
        const json_t *r = json_array_get(req, i);
        if (json_is_string(r) && strcmp(json_string_value(r), key) == 0) return 1;
    }
    return 0;
}

/* "default: ..." for a property (or a property-level oneOf variant): a string
 * default is quoted without escaping, and not quoted at all when the schema
 * is an enum; other values are compact JSON. */
static void append_default(strbuf *b, const json_t *schema, const json_t *def)
{
    strbuf_append_str(b, "default: ");
    if (json_is_string(def) && !is_enum(schema)) {
        strbuf_append_char(b, '"');
        append_jstr(b, def);
        strbuf_append_char(b, '"');
    } else if (json_is_string(def)) {
        append_jstr(b, def);
    } else {
        append_json_compact(b, def);
    }
}

/* indent + `extra` spaces (malloc'd); NULL on OOM. */
static char *deeper(const char *indent, size_t extra)
{
    size_t n = strlen(indent);
    char *s = malloc(n + extra + 1);
    if (!s) return NULL;
    memcpy(s, indent, n);
    memset(s + n, ' ', extra);
    s[n + extra] = '\0';
    return s;
}

static void ts(strbuf *out, const json_t *schema, const char *indent, int depth);

/* 1 if "null" occurs anywhere in s[0..len) (upstream's `contains("null")`). */
static int mentions_null(const char *s, size_t len)
{
    for (size_t i = 0; i + 4 <= len; i++)
        if (!memcmp(s + i, "null", 4)) return 1;
    return 0;
}

/* ts(schema, indent + extra), then " | null" when the schema is nullable and
 * the text does not already mention null. */
static void append_type(strbuf *out, const json_t *schema, const char *indent, size_t extra,
                        int depth)
{
    char *in = deeper(indent, extra);
    if (!in) {
        out->oom = 1;
        return;
    }
    strbuf t;
    strbuf_init(&t);
    ts(&t, schema, in, depth);
    free(in);
    strbuf_append(out, t.data, t.len);
    if (is_nullable(schema) && !mentions_null(t.data, t.len)) strbuf_append_str(out, " | null");
    if (t.oom) out->oom = 1;
    strbuf_clear(&t);
}

/* ==== converter =============================================================== */

/* A schema whose value is a oneOf array: "\n{indent} | T // comments" per
 * variant. Variant defaults here are always JSON (quoted even for enums). */
static void ts_one_of(strbuf *out, const json_t *variants, const char *indent, int depth)
{
    for (size_t i = 0; i < json_array_size(variants); i++) {
        const json_t *v = json_array_get(variants, i);
        strbuf_printf(out, "\n%s | ", indent);
        append_type(out, v, indent, 3, depth + 1);
        const json_t *desc = get_str(v, "description");
        const json_t *def = get(v, "default");
        if (desc || def) strbuf_append_str(out, " // ");
        if (desc) append_jstr(out, desc);
        if (desc && def) strbuf_append_char(out, ' ');
        if (def && json_is_string(def) && !is_enum(v)) {
            strbuf_append_str(out, "default: \"");
            append_jstr(out, def);
            strbuf_append_char(out, '"');
        } else if (def) {
            strbuf_append_str(out, "default: ");
            append_json_compact(out, def);
        }
    }
}

/* A property whose schema has a oneOf array:
 *   // description          (unless it equals the first variant's)
 *   // default: ...
 *   key?:
 *    | T // variant comments
 *   ,                                                                  */
static void ts_one_of_property(strbuf *out, const char *key, int required, const json_t *val,
                               const json_t *variants, const char *indent, int depth)
{
    const json_t *prop_desc = get_str(val, "description");
    const json_t *first_desc = get_str(json_array_get(variants, 0), "description");
    int desc_above = prop_desc && !(first_desc && jstr_equal(prop_desc, first_desc));
    if (desc_above) {
        strbuf_printf(out, "%s// ", indent);
        append_jstr(out, prop_desc);
        strbuf_append_char(out, '\n');
    }
    const json_t *def = get(val, "default");
    if (def) {
        strbuf_printf(out, "%s// ", indent);
        append_default(out, val, def);
        strbuf_append_char(out, '\n');
    }
    strbuf_printf(out, "%s%s%s:\n", indent, key, required ? "" : "?");
    for (size_t i = 0; i < json_array_size(variants); i++) {
        const json_t *v = json_array_get(variants, i);
        strbuf_printf(out, "%s | ", indent);
        append_type(out, v, indent, 3, depth + 1);
        const json_t *desc = get_str(v, "description");
        if (i == 0 && desc_above) desc = NULL;
        if (desc && prop_desc && jstr_equal(desc, prop_desc)) desc = NULL;
        const json_t *vdef = get(v, "default");
        if (desc || vdef) strbuf_append_str(out, " // ");
        if (desc) append_jstr(out, desc);
        if (desc && vdef) strbuf_append_char(out, ' ');
        if (vdef) append_default(out, v, vdef);
        strbuf_append_char(out, '\n');
    }
    strbuf_printf(out, "%s,\n", indent);
}

/* One property of an object: comments (title, description, examples), then
 * `key?: T, // default: ...` or the oneOf form. */
static void ts_property(strbuf *out, const char *key, int required, const json_t *val,
                        const char *indent, int depth)
{
    const json_t *title = get_str(val, "title");
    if (title) {
        strbuf_printf(out, "%s// ", indent);
        append_jstr(out, title);
        strbuf_printf(out, "\n%s//\n", indent);
    }
    const json_t *one_of = get(val, "oneOf");
    const json_t *desc = get_str(val, "description");
    if (!one_of && desc) {
        strbuf_printf(out, "%s// ", indent);
        append_jstr(out, desc);
        strbuf_append_char(out, '\n');
    }
    const json_t *examples = get(val, "examples");
    if (json_is_array(examples) && json_array_size(examples) > 0) {
        strbuf_printf(out, "%s// Examples:\n", indent);
        for (size_t i = 0; i < json_array_size(examples); i++) {
            const json_t *ex = json_array_get(examples, i);
            if (!json_is_string(ex)) continue;
            strbuf_printf(out, "%s// - \"", indent);
            append_jstr(out, ex);
            strbuf_append_str(out, "\"\n");
        }
    }
    if (json_is_array(one_of)) {
        ts_one_of_property(out, key, required, val, one_of, indent, depth);
        return;
    }
    strbuf_printf(out, "%s%s%s: ", indent, key, required ? "" : "?");
    append_type(out, val, indent, 4, depth + 1);
    strbuf_append_char(out, ',');
    const json_t *def = get(val, "default");
    if (!one_of && def) {
        strbuf_append_str(out, " // ");
        append_default(out, val, def);
    }
    strbuf_append_char(out, '\n');
}

/* type "object": "{\n" properties "{indent}}", preceded by the object's own
 * description as "{indent}// ...\n" (the brace itself is not indented). */
static void ts_object(strbuf *out, const json_t *schema, const char *indent, int depth)
{
    const json_t *desc = get_str(schema, "description");
    if (desc) {
        strbuf_printf(out, "%s// ", indent);
        append_jstr(out, desc);
        strbuf_append_char(out, '\n');
    }
    strbuf_append_str(out, "{\n");
    const json_t *props = get(schema, "properties");
    if (json_is_object(props)) {
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)props, key, val)
            ts_property(out, key, is_required(schema, key), val, indent, depth);
    }
    strbuf_printf(out, "%s}", indent);
}

/* type "string": a union of the enum's string literals, or `string`. */
static void ts_string(strbuf *out, const json_t *schema)
{
    const json_t *e = get(schema, "enum");
    int n = 0;
    for (size_t i = 0; i < json_array_size(e); i++) {
        const json_t *lit = json_array_get(e, i);
        if (!json_is_string(lit)) continue;
        strbuf_append_str(out, n++ ? " | \"" : "\"");
        append_jstr(out, lit);
        strbuf_append_char(out, '"');
    }
    if (n == 0) strbuf_append_str(out, "string");
}

/* type given as an array of names: "a | b" (integer -> number); 0 when none
 * of the entries is a string (the caller then falls back). */
static int ts_type_union(strbuf *out, const json_t *types)
{
    int n = 0;
    for (size_t i = 0; i < json_array_size(types); i++) {
        const json_t *t = json_array_get(types, i);
        if (!json_is_string(t)) continue;
        if (n++) strbuf_append_str(out, " | ");
        if (json_string_length(t) == 7 && !memcmp(json_string_value(t), "integer", 7))
            strbuf_append_str(out, "number");
        else
            append_jstr(out, t);
    }
    return n > 0;
}

static void ts(strbuf *out, const json_t *schema, const char *indent, int depth)
{
    if (depth > HM_SCHEMA_MAX_DEPTH) {
        strbuf_append_str(out, "any");
        return;
    }
    const json_t *one_of = get(schema, "oneOf");
    if (json_is_array(one_of)) {
        ts_one_of(out, one_of, indent, depth);
        return;
    }
    const json_t *type = get(schema, "type");
    if (json_is_array(type) && ts_type_union(out, type)) return;
    const char *t = json_string_value(type);
    if (!t) {
        strbuf_append_str(out, "any");
    } else if (!strcmp(t, "object")) {
        ts_object(out, schema, indent, depth);
    } else if (!strcmp(t, "string")) {
        ts_string(out, schema);
    } else if (!strcmp(t, "number") || !strcmp(t, "integer")) {
        strbuf_append_str(out, "number");
    } else if (!strcmp(t, "boolean")) {
        strbuf_append_str(out, "boolean");
    } else if (!strcmp(t, "array")) {
        const json_t *items = get(schema, "items");
        if (items) {
            ts(out, items, indent, depth + 1);
            strbuf_append_str(out, "[]");
        } else {
            strbuf_append_str(out, "Array<any>");
        }
    } else {
        strbuf_append_str(out, "any");
    }
}

char *hm_schema_to_typescript(const json_t *schema)
{
    strbuf out;
    strbuf_init(&out);
    ts(&out, schema, "", 0);
    if (out.oom) {
        strbuf_clear(&out);
        return NULL;
    }
    return strbuf_take(&out, NULL);
}
