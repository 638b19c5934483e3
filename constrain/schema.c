/* schema.c: JSON Schema -> the graph of schema.h, in four passes:
 *
 *   1. build      each schema object once (memoised by its json_t, so $ref
 *                 cycles become cycles in the graph); a $ref is an alias
 *                 node; anyOf/oneOf and type arrays are raw unions;
 *   2. aliases    every reference to an alias is replaced by its target;
 *   3. unions     flattened and merged to at most one member per JSON type
 *                 family (string, number, object, array, keyword), merging
 *                 members of one family (schema.h says how); a union left
 *                 with one member becomes a copy of it;
 *   4. analysis   the frames each node's shortest document needs (a least
 *                 fixpoint: unsatisfiable nodes never get a finite value),
 *                 then unsatisfiable union members, optional properties and
 *                 items are dropped. */
#include "constrain/schema_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- growth ----------------------------------------------------------------------- */

/* Room for `need` elements of `size` in *p (capacity *cap). 0, or -1 on OOM. */
int fk_sb_grow(void **p, uint32_t *cap, uint32_t need, size_t size)
{
    if (need <= *cap) return 0;
    uint32_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(*p, (size_t)c * size);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

uint32_t fk_sb_new_node(builder *b, fk_snode_kind kind)
{
    if (b->s.n_nodes >= MAX_NODES ||
        fk_sb_grow((void **)&b->s.nodes, &b->cap_nodes, b->s.n_nodes + 1, sizeof(fk_snode)) < 0) {
        b->oom = 1;
        return FK_SN_ANY;
    }
    uint32_t cap = b->cap_nodes;
    uint8_t *m = realloc(b->fam_mask, cap);
    if (!m) {
        b->oom = 1;
        return FK_SN_ANY;
    }
    b->fam_mask = m;
    uint32_t i = b->s.n_nodes++;
    b->s.nodes[i] = (fk_snode){.kind = kind, .max = FK_SCHEMA_UNBOUNDED, .free_keys = FK_SN_NONE};
    b->fam_mask[i] = FAM_ALL;
    return i;
}

static fk_stext add_bytes(builder *b, const char *p, size_t n)
{
    if (b->s.n_bytes + n > b->cap_bytes) {
        size_t c = b->cap_bytes ? b->cap_bytes : 256;
        while (c < b->s.n_bytes + n) c *= 2;
        char *q = realloc(b->s.bytes, c);
        if (!q) {
            b->oom = 1;
            return (fk_stext){0, 0};
        }
        b->s.bytes = q;
        b->cap_bytes = c;
    }
    memcpy(b->s.bytes + b->s.n_bytes, p, n);
    fk_stext t = {(uint32_t)b->s.n_bytes, (uint32_t)n};
    b->s.n_bytes += n;
    return t;
}

static void add_text(builder *b, const char *p, size_t n)
{
    if (fk_sb_grow((void **)&b->s.texts, &b->cap_texts, b->s.n_texts + 1, sizeof(fk_stext)) < 0) {
        b->oom = 1;
        return;
    }
    fk_stext t = add_bytes(b, p, n);
    if (!b->oom) b->s.texts[b->s.n_texts++] = t;
}

void fk_sb_add_member(builder *b, uint32_t node)
{
    if (fk_sb_grow((void **)&b->s.members, &b->cap_members, b->s.n_members + 1, sizeof(uint32_t)) <
        0) {
        b->oom = 1;
        return;
    }
    b->s.members[b->s.n_members++] = node;
}

void fk_sb_add_prop(builder *b, fk_stext key, uint32_t node, int required)
{
    if (fk_sb_grow((void **)&b->s.props, &b->cap_props, b->s.n_props + 1, sizeof(fk_sprop)) < 0) {
        b->oom = 1;
        return;
    }
    b->s.props[b->s.n_props++] = (fk_sprop){key, node, (uint8_t)required};
}

/* ---- literal texts ------------------------------------------------------------------- */

static const fk_schema *sort_schema; /* qsort has no context argument */

/* Bytewise, a prefix first. */
static int text_cmp(const void *x, const void *y)
{
    const fk_stext *a = x, *b = y;
    uint32_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(sort_schema->bytes + a->off, sort_schema->bytes + b->off, n);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* Sort and deduplicate the texts of LITERALS node i (they are the last ones
 * added, from node.first). */
void fk_sb_finish_literals(builder *b, uint32_t i)
{
    fk_snode *nd = &b->s.nodes[i];
    fk_stext *t = b->s.texts + nd->first;
    sort_schema = &b->s;
    qsort(t, nd->n, sizeof *t, text_cmp);
    uint32_t k = 0;
    for (uint32_t j = 0; j < nd->n; j++)
        if (k == 0 || text_cmp(&t[k - 1], &t[j]) != 0) t[k++] = t[j];
    nd->n = k;
    b->s.n_texts = nd->first + k;
}

/* The family of a value whose text starts with byte c. */
int fk_sb_family_of_byte(unsigned char c)
{
    if (c == '"') return FAM_STR;
    if (c == '-' || (c >= '0' && c <= '9')) return FAM_NUM;
    if (c == '{') return FAM_OBJ;
    if (c == '[') return FAM_ARR;
    return FAM_KW;
}

/* A LITERALS node of the texts of node `src` (or of the given jansson
 * values) whose family is in `fams`. */
static uint32_t literals_from_values(builder *b, const json_t *values, int fams)
{
    uint32_t i = fk_sb_new_node(b, FK_SN_LITERALS);
    if (b->oom) return FK_SN_ANY;
    b->s.nodes[i].first = b->s.n_texts;
    size_t k;
    const json_t *v;
    json_array_foreach(values, k, v)
    {
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!text) {
            b->oom = 1;
            return FK_SN_ANY;
        }
        size_t n = strlen(text);
        if (n && (fk_sb_family_of_byte((unsigned char)text[0]) & fams)) add_text(b, text, n);
        free(text);
    }
    b->s.nodes[i].n = b->s.n_texts - b->s.nodes[i].first;
    fk_sb_finish_literals(b, i);
    return i;
}

static uint32_t keyword_literals(builder *b, const char *const *words, size_t n)
{
    uint32_t i = fk_sb_new_node(b, FK_SN_LITERALS);
    if (b->oom) return FK_SN_ANY;
    b->s.nodes[i].first = b->s.n_texts;
    for (size_t k = 0; k < n; k++) add_text(b, words[k], strlen(words[k]));
    b->s.nodes[i].n = (uint32_t)n;
    fk_sb_finish_literals(b, i);
    return i;
}

/* ---- pass 1: build ------------------------------------------------------------------ */

static uint32_t compile_node(builder *b, const json_t *schema);

/* The families a "type" keyword allows (FAM_ALL when absent or unknown). */
static int type_families(const json_t *type)
{
    static const struct {
        const char *name;
        int fam;
    } map[] = {{"string", FAM_STR}, {"integer", FAM_NUM}, {"number", FAM_NUM}, {"object", FAM_OBJ},
               {"array", FAM_ARR},  {"boolean", FAM_KW},  {"null", FAM_KW}};
    const json_t *one = type;
    size_t n = json_is_array(type) ? json_array_size(type) : 1, i;
    int fams = 0;
    for (i = 0; i < n; i++) {
        if (json_is_array(type)) one = json_array_get(type, i);
        for (size_t k = 0; json_is_string(one) && k < sizeof map / sizeof *map; k++)
            if (!strcmp(json_string_value(one), map[k].name)) fams |= map[k].fam;
    }
    return fams ? fams : FAM_ALL;
}

static uint32_t count_or(const json_t *o, const char *key, uint32_t def)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) return def;
    json_int_t x = json_integer_value(v);
    return x >= (json_int_t)FK_SCHEMA_UNBOUNDED ? FK_SCHEMA_UNBOUNDED - 1 : (uint32_t)x;
}

/* "#" or "#/a/b~1c" inside b->root, or NULL. */
static const json_t *resolve_ref(const builder *b, const char *ref)
{
    if (ref[0] != '#') return NULL;
    const json_t *cur = b->root;
    const char *p = ref + 1;
    while (*p == '/' && cur) {
        p++;
        char seg[256];
        size_t n = 0;
        while (*p && *p != '/' && n + 1 < sizeof seg) {
            if (p[0] == '~' && p[1] == '0') {
                seg[n++] = '~';
                p += 2;
            } else if (p[0] == '~' && p[1] == '1') {
                seg[n++] = '/';
                p += 2;
            } else {
                seg[n++] = *p++;
            }
        }
        seg[n] = 0;
        if (json_is_object(cur)) {
            cur = json_object_get(cur, seg);
        } else if (json_is_array(cur)) {
            char *end;
            unsigned long i = strtoul(seg, &end, 10);
            cur = *seg && !*end ? json_array_get(cur, i) : NULL;
        } else {
            cur = NULL;
        }
    }
    return *p ? NULL : cur;
}

static uint32_t object_node(builder *b, const json_t *o)
{
    const json_t *props = json_object_get(o, "properties");
    const json_t *req = json_object_get(o, "required");
    const json_t *extra = json_object_get(o, "additionalProperties");
    uint32_t i = fk_sb_new_node(b, FK_SN_OBJECT);
    const char *key;
    const json_t *sub;
    /* Children first (they add props of their own), then this node's run. */
    size_t n_props = json_is_object(props) ? json_object_size(props) : 0;
    size_t n_req = json_is_array(req) ? json_array_size(req) : 0;
    uint32_t *nodes = calloc(n_props + n_req + 1, sizeof *nodes);
    const char **names = calloc(n_props + n_req + 1, sizeof *names);
    uint8_t *required = calloc(n_props + n_req + 1, 1);
    if (!nodes || !names || !required) {
        b->oom = 1;
        free(nodes);
        free(names);
        free(required);
        return i;
    }
    size_t n = 0;
    if (n_props) json_object_foreach((json_t *)props, key, sub)
        {
            names[n] = key;
            nodes[n++] = compile_node(b, sub);
        }
    uint32_t extra_node = json_is_object(extra) ? compile_node(b, extra) : FK_SN_ANY;
    for (size_t r = 0; r < n_req; r++) {
        const char *name = json_string_value(json_array_get(req, r));
        if (!name) continue;
        size_t k = 0;
        while (k < n && strcmp(names[k], name) != 0) k++;
        if (k == n) { /* required but not declared: declared now, valued as extras */
            names[n] = name;
            nodes[n++] = extra_node;
        }
        required[k] = 1;
    }
    b->s.nodes[i].first = b->s.n_props;
    for (size_t k = 0; k < n && !b->oom; k++) {
        json_t *js = json_string(names[k]);
        char *text = js ? json_dumps(js, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        json_decref(js);
        if (!text) {
            b->oom = 1;
            break;
        }
        fk_sb_add_prop(b, add_bytes(b, text + 1, strlen(text) - 2), nodes[k], required[k]);
        free(text);
    }
    b->s.nodes[i].n = (uint32_t)n;
    if (n == 0) b->s.nodes[i].free_keys = json_is_false(extra) ? FK_SN_NONE : extra_node;
    free(nodes);
    free(names);
    free(required);
    return i;
}

/* A node for one JSON type family of schema object o. */
static uint32_t family_node(builder *b, const json_t *o, int fam, int integer_only)
{
    switch (fam) {
    case FAM_STR: {
        uint32_t i = fk_sb_new_node(b, FK_SN_STRING);
        b->s.nodes[i].min = count_or(o, "minLength", 0);
        b->s.nodes[i].max = count_or(o, "maxLength", FK_SCHEMA_UNBOUNDED);
        return i;
    }
    case FAM_NUM:
        return fk_sb_new_node(b, integer_only ? FK_SN_INTEGER : FK_SN_NUMBER);
    case FAM_OBJ:
        return object_node(b, o);
    case FAM_ARR: {
        const json_t *items = json_object_get(o, "items");
        uint32_t it =
            json_is_object(items) || json_is_boolean(items) ? compile_node(b, items) : FK_SN_ANY;
        uint32_t i = fk_sb_new_node(b, FK_SN_ARRAY);
        b->s.nodes[i].items = it;
        b->s.nodes[i].min = count_or(o, "minItems", 0);
        b->s.nodes[i].max = count_or(o, "maxItems", FK_SCHEMA_UNBOUNDED);
        return i;
    }
    default:
        return FK_SN_KEYWORDS;
    }
}

/* The families a schema object without "type" is about (from its keywords). */
static int implied_families(const json_t *o)
{
    static const char *const obj[] = {"properties", "required", "additionalProperties", NULL};
    static const char *const arr[] = {"items", "minItems", "maxItems", "prefixItems", NULL};
    static const char *const str[] = {"minLength", "maxLength", "pattern", NULL};
    int fams = 0;
    for (int k = 0; obj[k]; k++) fams |= json_object_get(o, obj[k]) ? FAM_OBJ : 0;
    for (int k = 0; arr[k]; k++) fams |= json_object_get(o, arr[k]) ? FAM_ARR : 0;
    for (int k = 0; str[k]; k++) fams |= json_object_get(o, str[k]) ? FAM_STR : 0;
    return fams ? fams : FAM_ALL;
}

/* Fill raw union u with nodes of schema object o: its anyOf/oneOf members,
 * or one node per family its type allows; then "nullable". */
static void typed_union(builder *b, uint32_t u, const json_t *o)
{
    const json_t *type = json_object_get(o, "type");
    int fams = type ? type_families(type) : FAM_ALL;
    const json_t *any = json_object_get(o, "anyOf");
    if (!json_is_array(any)) any = json_object_get(o, "oneOf");
    uint32_t first = b->s.n_members;
    uint32_t tmp[8];
    size_t n_tmp = 0;
    if (json_is_array(any)) {
        size_t n = json_array_size(any);
        uint32_t *m = calloc(n + 1, sizeof *m);
        if (!m) {
            b->oom = 1;
            return;
        }
        for (size_t k = 0; k < n; k++) m[k] = compile_node(b, json_array_get(any, k));
        first = b->s.n_members;
        for (size_t k = 0; k < n; k++) fk_sb_add_member(b, m[k]);
        free(m);
        b->fam_mask[u] = (uint8_t)fams;
    } else if (!type && fams == FAM_ALL && implied_families(o) == FAM_ALL) {
        tmp[n_tmp++] = FK_SN_ANY;
    } else {
        int want = type ? fams : implied_families(o);
        int integer_only =
            type && json_is_string(type) && !strcmp(json_string_value(type), "integer");
        if (json_is_array(type)) { /* ["integer", "null"]: integer unless "number" is there too */
            int has_int = 0, has_num = 0;
            size_t k;
            const json_t *t;
            json_array_foreach(type, k, t)
            {
                has_int |= json_is_string(t) && !strcmp(json_string_value(t), "integer");
                has_num |= json_is_string(t) && !strcmp(json_string_value(t), "number");
            }
            integer_only = has_int && !has_num;
        }
        for (int f = FAM_STR; f <= FAM_KW; f <<= 1) {
            if (!(want & f)) continue;
            if (f == FAM_KW) {
                /* boolean and/or null, as the type says (no type: both) */
                static const char *const words[] = {"false", "true", "null"};
                int has_b = !type, has_null = !type;
                size_t k;
                const json_t *t = type;
                for (k = 0; type && k < (json_is_array(type) ? json_array_size(type) : 1); k++) {
                    if (json_is_array(type)) t = json_array_get(type, k);
                    has_b |= json_is_string(t) && !strcmp(json_string_value(t), "boolean");
                    has_null |= json_is_string(t) && !strcmp(json_string_value(t), "null");
                }
                tmp[n_tmp++] = has_b && has_null ? FK_SN_KEYWORDS
                               : has_b           ? keyword_literals(b, words, 2)
                                                 : keyword_literals(b, words + 2, 1);
            } else {
                tmp[n_tmp++] = family_node(b, o, f, integer_only);
            }
        }
        first = b->s.n_members;
    }
    for (size_t k = 0; k < n_tmp; k++) fk_sb_add_member(b, tmp[k]);
    if (json_is_true(json_object_get(o, "nullable"))) {
        static const char *const null_word[] = {"null"};
        b->fam_mask[u] |= FAM_KW;
        fk_sb_add_member(b, keyword_literals(b, null_word, 1));
    }
    b->s.nodes[u].first = first;
    b->s.nodes[u].n = b->s.n_members - first;
}

/* Node i for schema object o (i is already in the memo). */
static void build_object(builder *b, uint32_t i, const json_t *o)
{
    const json_t *ref = json_object_get(o, "$ref");
    const json_t *all = json_object_get(o, "allOf");
    const json_t *en = json_object_get(o, "enum");
    const json_t *cn = json_object_get(o, "const");
    int fams = type_families(json_object_get(o, "type"));
    uint32_t target = FK_SN_NONE;
    if (json_is_string(ref)) {
        const json_t *t = resolve_ref(b, json_string_value(ref));
        target = t ? compile_node(b, t) : FK_SN_ANY;
    } else if (json_is_array(en) || cn) {
        json_t *values = json_is_array(en) ? json_incref((json_t *)en) : json_pack("[O]", cn);
        if (!values) {
            b->oom = 1;
            return;
        }
        target = literals_from_values(b, values, fams);
        json_decref(values);
    } else if (json_is_array(all) && json_array_size(all) == 1) {
        target = compile_node(b, json_array_get(all, 0));
    } else if (json_is_array(all)) {
        target = FK_SN_ANY; /* relaxed */
    }
    if (target != FK_SN_NONE) {
        b->s.nodes[i].kind = (fk_snode_kind)RAW_ALIAS;
        b->s.nodes[i].items = target;
        return;
    }
    b->s.nodes[i].kind = FK_SN_UNION;
    typed_union(b, i, o);
}

static uint32_t compile_node(builder *b, const json_t *schema)
{
    if (b->oom) return FK_SN_ANY;
    if (json_is_false(schema)) return literals_from_values(b, NULL, 0);
    if (!json_is_object(schema)) return FK_SN_ANY; /* true, or not a schema: anything */
    for (uint32_t k = 0; k < b->n_memo; k++)
        if (b->memo[k].schema == schema) return b->memo[k].node;
    uint32_t i = fk_sb_new_node(b, FK_SN_UNION);
    if (b->oom ||
        fk_sb_grow((void **)&b->memo, &b->cap_memo, b->n_memo + 1, sizeof(memo_entry)) < 0) {
        b->oom = 1;
        return FK_SN_ANY;
    }
    b->memo[b->n_memo++] = (memo_entry){schema, i};
    build_object(b, i, schema);
    return i;
}

/* ---- pass 2: aliases ---------------------------------------------------------------- */

/* The node an alias chain ends at (a cycle of aliases: any). */
static uint32_t final_target(const builder *b, uint32_t i)
{
    for (uint32_t steps = 0; steps <= b->s.n_nodes; steps++) {
        if (i == FK_SN_NONE || b->s.nodes[i].kind != (fk_snode_kind)RAW_ALIAS) return i;
        i = b->s.nodes[i].items;
    }
    return FK_SN_ANY;
}

static void resolve_aliases(builder *b)
{
    for (uint32_t i = 0; i < b->s.n_nodes; i++) {
        fk_snode *nd = &b->s.nodes[i];
        if (nd->kind == FK_SN_ARRAY) nd->items = final_target(b, nd->items);
        if (nd->kind == FK_SN_OBJECT) nd->free_keys = final_target(b, nd->free_keys);
    }
    for (uint32_t k = 0; k < b->s.n_props; k++)
        b->s.props[k].node = final_target(b, b->s.props[k].node);
    for (uint32_t k = 0; k < b->s.n_members; k++)
        b->s.members[k] = final_target(b, b->s.members[k]);
    b->s.root = final_target(b, b->s.root);
}

/* ---- the graph --------------------------------------------------------------------- */

static void add_builtins(builder *b)
{
    static const char *const words[] = {"false", "null", "true"};
    uint32_t any = fk_sb_new_node(b, FK_SN_UNION);
    uint32_t str = fk_sb_new_node(b, FK_SN_STRING);
    uint32_t num = fk_sb_new_node(b, FK_SN_NUMBER);
    uint32_t obj = fk_sb_new_node(b, FK_SN_OBJECT);
    uint32_t arr = fk_sb_new_node(b, FK_SN_ARRAY);
    uint32_t kw = keyword_literals(b, words, 3);
    if (b->oom) return;
    b->s.nodes[obj].free_keys = FK_SN_ANY;
    b->s.nodes[arr].items = FK_SN_ANY;
    b->s.nodes[any].first = b->s.n_members;
    for (uint32_t m = str; m <= kw; m++) fk_sb_add_member(b, m);
    b->s.nodes[any].n = kw - str + 1;
    (void)num;
}

static void builder_clear(builder *b)
{
    free(b->fam_mask);
    free(b->memo);
    free(b->merges);
}

/* Passes 2-4 over a built graph; the graph (on success) or nothing. */
static fk_schema *finish(builder *b, char *err, size_t err_len)
{
    if (!b->oom) resolve_aliases(b);
    if (!b->oom) fk_sb_normalise_unions(b);
    int rc = b->oom ? -1 : fk_sb_analyse(b, err, err_len);
    if (b->oom) snprintf(err, err_len, "out of memory (or a schema too large to compile)");
    fk_schema *out = rc == 0 && !b->oom ? malloc(sizeof *out) : NULL;
    if (out) {
        *out = b->s;
    } else {
        free(b->s.nodes);
        free(b->s.texts);
        free(b->s.props);
        free(b->s.members);
        free(b->s.bytes);
    }
    builder_clear(b);
    return out;
}

fk_schema *fk_schema_compile(const json_t *schema, char *err, size_t err_len)
{
    builder b;
    memset(&b, 0, sizeof b);
    b.root = schema;
    add_builtins(&b);
    b.s.root = compile_node(&b, schema);
    return finish(&b, err, err_len);
}

fk_schema *fk_schema_literals(const char *const *texts, const size_t *lens, size_t n)
{
    if (n == 0) return NULL;
    builder b;
    memset(&b, 0, sizeof b);
    add_builtins(&b);
    uint32_t i = fk_sb_new_node(&b, FK_SN_LITERALS);
    if (!b.oom) {
        b.s.nodes[i].first = b.s.n_texts;
        for (size_t k = 0; k < n; k++) add_text(&b, texts[k], lens[k]);
        b.s.nodes[i].n = (uint32_t)n;
        fk_sb_finish_literals(&b, i);
    }
    b.s.root = i;
    char err[64];
    return finish(&b, err, sizeof err);
}

void fk_schema_free(fk_schema *s)
{
    if (!s) return;
    free(s->nodes);
    free(s->texts);
    free(s->props);
    free(s->members);
    free(s->bytes);
    free(s);
}
