/* ref_validator.h: a small JSON Schema validator written apart from
 * constrain/ (it reads the schema's JSON, not the compiled graph), the
 * reference the automaton's tests and fuzz target check against.
 *
 * It follows JSON Schema's own meaning for the keywords constrain/ enforces
 * (schema.h): type, enum, const, properties, required, additionalProperties
 * (extra keys valid unless false or failing its schema), items, minItems,
 * maxItems, minLength, maxLength (code points), anyOf, oneOf (exactly one),
 * allOf, $ref ("#", "#/..."), nullable. Keywords constrain/ relaxes are
 * ignored here too, so documents they would reject do not count.
 *
 * Also ref_depth: the frames the automaton needs for a document. */
#ifndef FK_TESTS_REF_VALIDATOR_H
#define FK_TESTS_REF_VALIDATOR_H

#include <jansson.h>
#include <string.h>

static int ref_valid_in(const json_t *root, const json_t *schema, const json_t *v, int budget);

static const json_t *ref_resolve(const json_t *root, const char *ref)
{
    if (ref[0] != '#') return NULL;
    const json_t *cur = root;
    const char *p = ref + 1;
    while (*p == '/' && cur) {
        const char *e = strchr(p + 1, '/');
        size_t n = e ? (size_t)(e - p - 1) : strlen(p + 1);
        char key[128];
        if (n >= sizeof key) return NULL;
        memcpy(key, p + 1, n);
        key[n] = 0;
        cur = json_object_get(cur, key);
        p += n + 1;
    }
    return *p ? NULL : cur;
}

static size_t ref_code_points(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static int ref_type_ok(const char *t, const json_t *v)
{
    if (!strcmp(t, "string")) return json_is_string(v);
    if (!strcmp(t, "integer")) return json_is_integer(v);
    if (!strcmp(t, "number")) return json_is_number(v);
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "null")) return json_is_null(v);
    if (!strcmp(t, "object")) return json_is_object(v);
    if (!strcmp(t, "array")) return json_is_array(v);
    return 1;
}

static int ref_count_ok(const json_t *schema, const char *key, size_t have, int is_min)
{
    const json_t *k = json_object_get(schema, key);
    if (!json_is_integer(k)) return 1;
    return is_min ? (json_int_t)have >= json_integer_value(k)
                  : (json_int_t)have <= json_integer_value(k);
}

static int ref_object_ok(const json_t *root, const json_t *schema, const json_t *v, int budget)
{
    const json_t *props = json_object_get(schema, "properties");
    const json_t *extra = json_object_get(schema, "additionalProperties");
    const json_t *req = json_object_get(schema, "required");
    size_t i;
    const json_t *r;
    json_array_foreach(req, i, r) if (!json_object_get(v, json_string_value(r))) return 0;
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        const json_t *sub = json_object_get(props, key);
        if (sub && !ref_valid_in(root, sub, val, budget)) return 0;
        if (!sub && json_is_false(extra)) return 0;
        if (!sub && json_is_object(extra) && !ref_valid_in(root, extra, val, budget)) return 0;
    }
    return 1;
}

static int ref_valid_in(const json_t *root, const json_t *schema, const json_t *v, int budget)
{
    if (budget <= 0) return 0;
    budget--;
    if (json_is_true(schema)) return 1;
    if (json_is_false(schema)) return 0;
    if (!json_is_object(schema)) return 1;
    const json_t *ref = json_object_get(schema, "$ref");
    if (json_is_string(ref)) {
        const json_t *t = ref_resolve(root, json_string_value(ref));
        return !t || ref_valid_in(root, t, v, budget);
    }
    if (json_is_null(v) && json_is_true(json_object_get(schema, "nullable"))) return 1;
    const json_t *type = json_object_get(schema, "type");
    if (json_is_string(type) && !ref_type_ok(json_string_value(type), v)) return 0;
    if (json_is_array(type)) {
        int any = 0;
        size_t i;
        const json_t *t;
        json_array_foreach(type, i, t) any |= ref_type_ok(json_string_value(t), v);
        if (!any) return 0;
    }
    const json_t *en = json_object_get(schema, "enum");
    if (json_is_array(en)) {
        int any = 0;
        size_t i;
        const json_t *e;
        json_array_foreach(en, i, e) any |= json_equal(e, v);
        if (!any) return 0;
    }
    const json_t *cn = json_object_get(schema, "const");
    if (cn && !json_equal(cn, v)) return 0;
    size_t i;
    const json_t *sub;
    const json_t *any_of = json_object_get(schema, "anyOf");
    if (json_is_array(any_of)) {
        int any = 0;
        json_array_foreach(any_of, i, sub) any |= ref_valid_in(root, sub, v, budget);
        if (!any) return 0;
    }
    const json_t *one_of = json_object_get(schema, "oneOf");
    if (json_is_array(one_of)) {
        int count = 0;
        json_array_foreach(one_of, i, sub) count += ref_valid_in(root, sub, v, budget);
        if (count != 1) return 0;
    }
    const json_t *all_of = json_object_get(schema, "allOf");
    json_array_foreach(all_of, i, sub) if (!ref_valid_in(root, sub, v, budget)) return 0;
    if (json_is_string(v)) {
        size_t n = ref_code_points(json_string_value(v), json_string_length(v));
        if (!ref_count_ok(schema, "minLength", n, 1) || !ref_count_ok(schema, "maxLength", n, 0))
            return 0;
    }
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        if (!ref_count_ok(schema, "minItems", n, 1) || !ref_count_ok(schema, "maxItems", n, 0))
            return 0;
        const json_t *items = json_object_get(schema, "items");
        const json_t *item;
        if (json_is_object(items) || json_is_boolean(items))
            json_array_foreach(v, i, item) if (!ref_valid_in(root, items, item, budget)) return 0;
    }
    if (json_is_object(v) && !ref_object_ok(root, schema, v, budget)) return 0;
    return 1;
}

/* 1 when document v is valid against `schema` (which is its own root). */
static inline int ref_valid(const json_t *schema, const json_t *v)
{
    return ref_valid_in(schema, schema, v, 10000);
}

/* Frames the automaton uses for v: the root frame, one per value, and one
 * for a key inside an object. */
static inline int ref_depth(const json_t *v)
{
    int inner = 0;
    size_t i;
    const char *k;
    const json_t *x;
    if (json_is_array(v)) json_array_foreach(v, i, x)
        {
            int d = ref_depth(x);
            inner = d > inner ? d : inner;
        }
    if (json_is_object(v)) {
        inner = json_object_size(v) ? 1 : 0;
        json_object_foreach((json_t *)v, k, x)
        {
            int d = ref_depth(x);
            inner = d > inner ? d : inner;
        }
    }
    return 1 + inner;
}

#endif
