/* schema_norm.c: passes 3 and 4 of the compiler (schema.c describes them):
 * unions normalised to one member per JSON type family, then the depth
 * analysis and pruning. */
#include "constrain/schema_build.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* ---- pass 3: unions ----------------------------------------------------------------- */

/* The families of a (non-union) node's values. */
static int node_families(const builder *b, uint32_t i)
{
    const fk_snode *nd = &b->s.nodes[i];
    switch (nd->kind) {
    case FK_SN_STRING:
        return FAM_STR;
    case FK_SN_INTEGER:
    case FK_SN_NUMBER:
        return FAM_NUM;
    case FK_SN_OBJECT:
        return FAM_OBJ;
    case FK_SN_ARRAY:
        return FAM_ARR;
    case FK_SN_LITERALS: {
        int f = 0;
        for (uint32_t k = 0; k < nd->n; k++) {
            fk_stext t = b->s.texts[nd->first + k];
            f |= t.len ? fk_sb_family_of_byte((unsigned char)b->s.bytes[t.off]) : 0;
        }
        return f;
    }
    default:
        return FAM_ALL;
    }
}

/* The texts of LITERALS node i in family fam, as a new node (i itself when
 * all are). */
static uint32_t literals_of_family(builder *b, uint32_t i, int fam)
{
    if (node_families(b, i) == fam) return i;
    uint32_t j = fk_sb_new_node(b, FK_SN_LITERALS);
    if (b->oom) return FK_SN_ANY;
    b->s.nodes[j].first = b->s.n_texts;
    fk_snode src = b->s.nodes[i];
    for (uint32_t k = 0; k < src.n; k++) {
        fk_stext t = b->s.texts[src.first + k];
        if (t.len && fk_sb_family_of_byte((unsigned char)b->s.bytes[t.off]) == fam) {
            if (fk_sb_grow((void **)&b->s.texts, &b->cap_texts, b->s.n_texts + 1, sizeof t) < 0) {
                b->oom = 1;
                return FK_SN_ANY;
            }
            b->s.texts[b->s.n_texts++] = t;
        }
    }
    b->s.nodes[j].n = b->s.n_texts - b->s.nodes[j].first;
    return j;
}

/* Code points of the JSON string text t (with its quotes), or 0. */
static uint32_t string_literal_length(const builder *b, fk_stext t)
{
    json_t *v = json_loadb(b->s.bytes + t.off, t.len, JSON_DECODE_ANY, NULL);
    uint32_t n = 0;
    if (json_is_string(v)) {
        const unsigned char *s = (const unsigned char *)json_string_value(v);
        size_t len = json_string_length(v);
        for (size_t k = 0; k < len; k++) n += (s[k] & 0xC0) != 0x80;
    }
    json_decref(v);
    return n;
}

/* 1 when every number text of LITERALS node i is an integer. */
static int literals_are_integers(const builder *b, uint32_t i)
{
    const fk_snode *nd = &b->s.nodes[i];
    for (uint32_t k = 0; k < nd->n; k++) {
        fk_stext t = b->s.texts[nd->first + k];
        if (memchr(b->s.bytes + t.off, '.', t.len) || memchr(b->s.bytes + t.off, 'e', t.len) ||
            memchr(b->s.bytes + t.off, 'E', t.len))
            return 0;
    }
    return 1;
}

static uint32_t merge(builder *b, uint32_t x, uint32_t y);

/* A raw union of x and y, normalised later (memoised, so merging recursive
 * schemas ends). */
static uint32_t union_of(builder *b, uint32_t x, uint32_t y)
{
    if (x == y) return x;
    if (x == FK_SN_NONE) return y;
    if (y == FK_SN_NONE) return x;
    if (x == FK_SN_ANY || y == FK_SN_ANY) return FK_SN_ANY;
    for (uint32_t k = 0; k < b->n_merges; k++)
        if ((b->merges[k].a == x && b->merges[k].b == y) ||
            (b->merges[k].a == y && b->merges[k].b == x))
            return b->merges[k].node;
    uint32_t u = fk_sb_new_node(b, FK_SN_UNION);
    if (b->oom ||
        fk_sb_grow((void **)&b->merges, &b->cap_merges, b->n_merges + 1, sizeof(merge_entry)) < 0) {
        b->oom = 1;
        return FK_SN_ANY;
    }
    b->merges[b->n_merges++] = (merge_entry){x, y, u};
    b->s.nodes[u].first = b->s.n_members;
    fk_sb_add_member(b, x);
    fk_sb_add_member(b, y);
    b->s.nodes[u].n = 2;
    return u;
}

/* Two objects: declared properties of both (a name in both: the union of
 * its schemas), required only where both require; free keys if either has
 * them. */
static uint32_t merge_objects(builder *b, uint32_t x, uint32_t y)
{
    fk_snode a = b->s.nodes[x], c = b->s.nodes[y];
    if (a.n == 0 && c.n == 0) {
        uint32_t i = fk_sb_new_node(b, FK_SN_OBJECT);
        b->s.nodes[i].free_keys = union_of(b, a.free_keys, c.free_keys);
        return i;
    }
    if ((a.n == 0 && a.free_keys != FK_SN_NONE) || (c.n == 0 && c.free_keys != FK_SN_NONE))
        return FK_SN_ANY_OBJECT; /* declared with free keys: relaxed */
    uint32_t total = a.n + c.n;
    fk_sprop *tmp = calloc(total + 1, sizeof *tmp);
    if (!tmp) {
        b->oom = 1;
        return FK_SN_ANY;
    }
    uint32_t n = 0;
    for (uint32_t k = 0; k < a.n; k++) tmp[n++] = b->s.props[a.first + k];
    for (uint32_t k = 0; k < c.n; k++) {
        fk_sprop q = b->s.props[c.first + k];
        uint32_t j = 0;
        while (j < n && !(tmp[j].key.len == q.key.len &&
                          !memcmp(b->s.bytes + tmp[j].key.off, b->s.bytes + q.key.off, q.key.len)))
            j++;
        if (j < a.n) {
            tmp[j].node = union_of(b, tmp[j].node, q.node);
            tmp[j].required = tmp[j].required && q.required;
            tmp[j].key.len |= 0x80000000u; /* seen in both */
        } else {
            q.required = 0;
            tmp[n++] = q;
        }
    }
    uint32_t i = fk_sb_new_node(b, FK_SN_OBJECT);
    b->s.nodes[i].first = b->s.n_props;
    for (uint32_t k = 0; k < n; k++) {
        int both = (tmp[k].key.len & 0x80000000u) != 0;
        tmp[k].key.len &= 0x7fffffffu;
        fk_sb_add_prop(b, tmp[k].key, tmp[k].node, k < a.n ? tmp[k].required && both : 0);
    }
    b->s.nodes[i].n = n;
    free(tmp);
    return i;
}

/* x and y of one family (neither a union) as one node: exact where the
 * union can be written as one node, else the wider one (schema.h). */
static uint32_t merge(builder *b, uint32_t x, uint32_t y)
{
    fk_snode a = b->s.nodes[x], c = b->s.nodes[y];
    if (a.kind == FK_SN_LITERALS && c.kind == FK_SN_LITERALS) {
        uint32_t i = fk_sb_new_node(b, FK_SN_LITERALS);
        if (b->oom) return FK_SN_ANY;
        b->s.nodes[i].first = b->s.n_texts;
        for (uint32_t k = 0; k < a.n + c.n && !b->oom; k++) {
            fk_stext t = k < a.n ? b->s.texts[a.first + k] : b->s.texts[c.first + k - a.n];
            if (fk_sb_grow((void **)&b->s.texts, &b->cap_texts, b->s.n_texts + 1, sizeof t) < 0)
                b->oom = 1;
            else
                b->s.texts[b->s.n_texts++] = t;
        }
        b->s.nodes[i].n = b->s.n_texts - b->s.nodes[i].first;
        fk_sb_finish_literals(b, i);
        return i;
    }
    if (c.kind == FK_SN_LITERALS) return merge(b, y, x);
    int fam = node_families(b, x) | node_families(b, y);
    if (a.kind == FK_SN_LITERALS && (fam & (FAM_OBJ | FAM_ARR)))
        return fam & FAM_OBJ ? FK_SN_ANY_OBJECT : FK_SN_ANY_ARRAY; /* relaxed */
    switch (c.kind) {
    case FK_SN_STRING: {
        uint32_t lo = c.min, hi = c.max;
        if (a.kind == FK_SN_STRING) {
            lo = a.min < lo ? a.min : lo;
            hi = a.max > hi ? a.max : hi;
        } else {
            for (uint32_t k = 0; k < a.n; k++) {
                uint32_t len = string_literal_length(b, b->s.texts[a.first + k]);
                lo = len < lo ? len : lo;
                hi = len > hi ? len : hi;
            }
        }
        uint32_t i = fk_sb_new_node(b, FK_SN_STRING);
        b->s.nodes[i].min = lo;
        b->s.nodes[i].max = hi;
        return i;
    }
    case FK_SN_INTEGER:
        if (a.kind == FK_SN_INTEGER || (a.kind == FK_SN_LITERALS && literals_are_integers(b, x)))
            return y;
        return FK_SN_ANY_NUMBER;
    case FK_SN_NUMBER:
        return y;
    case FK_SN_ARRAY: {
        uint32_t items = union_of(b, a.items, c.items);
        uint32_t i = fk_sb_new_node(b, FK_SN_ARRAY);
        b->s.nodes[i].items = items;
        b->s.nodes[i].min = a.min < c.min ? a.min : c.min;
        b->s.nodes[i].max = a.max > c.max ? a.max : c.max;
        return i;
    }
    case FK_SN_OBJECT:
        return merge_objects(b, x, y);
    default:
        return FK_SN_ANY;
    }
}

/* Collect the non-union members reachable from union u into *out (a
 * depth-first walk; `seen` marks unions already walked). */
static int flatten(builder *b, uint32_t u, uint8_t *seen, uint32_t **out, uint32_t *n,
                   uint32_t *cap)
{
    seen[u] = 1;
    fk_snode nd = b->s.nodes[u];
    for (uint32_t k = 0; k < nd.n; k++) {
        uint32_t m = b->s.members[nd.first + k];
        if (m == FK_SN_ANY) return 1; /* anything: the union is any */
        if (b->s.nodes[m].kind == FK_SN_UNION) {
            if (!seen[m] && flatten(b, m, seen, out, n, cap)) return 1;
            continue;
        }
        if (fk_sb_grow((void **)out, cap, *n + 1, sizeof **out) < 0) {
            b->oom = 1;
            return 0;
        }
        (*out)[(*n)++] = m;
    }
    return 0;
}

/* Union u as at most one member per family (or a copy of its only member). */
static void normalise_union(builder *b, uint32_t u)
{
    uint8_t *seen = calloc(b->s.n_nodes, 1);
    uint32_t *flat = NULL, n = 0, cap = 0;
    if (!seen) {
        b->oom = 1;
        return;
    }
    int any = flatten(b, u, seen, &flat, &n, &cap);
    free(seen);
    int mask = b->fam_mask[u];
    uint32_t by_fam[5];
    for (int f = 0; f < 5; f++) by_fam[f] = FK_SN_NONE;
    for (uint32_t k = 0; k < n && !any && !b->oom; k++) {
        int fams = node_families(b, flat[k]);
        for (int f = 0; f < 5; f++) {
            if (!(fams & mask & (1 << f))) continue;
            uint32_t part = b->s.nodes[flat[k]].kind == FK_SN_LITERALS
                                ? literals_of_family(b, flat[k], 1 << f)
                                : flat[k];
            by_fam[f] = by_fam[f] == FK_SN_NONE ? part : merge(b, by_fam[f], part);
        }
    }
    free(flat);
    if (b->oom) return;
    if (any && mask == FAM_ALL) { /* a copy of any */
        b->s.nodes[u] = b->s.nodes[FK_SN_ANY];
        return;
    }
    if (any) { /* any, within the families the type allows */
        static const uint32_t builtin[5] = {FK_SN_ANY_STRING, FK_SN_ANY_NUMBER, FK_SN_ANY_OBJECT,
                                            FK_SN_ANY_ARRAY, FK_SN_KEYWORDS};
        for (int f = 0; f < 5; f++) by_fam[f] = mask & (1 << f) ? builtin[f] : FK_SN_NONE;
    }
    uint32_t first = b->s.n_members, count = 0, only = FK_SN_NONE;
    for (int f = 0; f < 5; f++) {
        if (by_fam[f] == FK_SN_NONE) continue;
        fk_sb_add_member(b, by_fam[f]);
        only = by_fam[f];
        count++;
    }
    if (count == 1 && b->s.nodes[only].kind != FK_SN_UNION) {
        b->s.nodes[u] = b->s.nodes[only];
        return;
    }
    b->s.nodes[u].kind = FK_SN_UNION;
    b->s.nodes[u].first = first;
    b->s.nodes[u].n = count; /* 0: unsatisfiable (analysis drops it) */
    b->fam_mask[u] = FAM_ALL;
}

/* Normalise every union, including the ones merging makes on the way. A
 * union is normalised when it has at most one member per family, none of
 * them a union. */
void fk_sb_normalise_unions(builder *b)
{
    for (uint32_t i = FK_SN_BUILTINS; i < b->s.n_nodes && !b->oom; i++)
        if (b->s.nodes[i].kind == FK_SN_UNION) normalise_union(b, i);
}

/* ---- pass 4: analysis ----------------------------------------------------------------- */

static uint32_t depth_of(const uint32_t *md, uint32_t node)
{
    return node == FK_SN_NONE ? INF_DEPTH : md[node];
}

/* min_depth of node i from the current estimates md. */
static uint32_t node_depth(const fk_schema *s, const uint32_t *md, uint32_t i)
{
    const fk_snode *nd = &s->nodes[i];
    switch (nd->kind) {
    case FK_SN_INTEGER:
    case FK_SN_NUMBER:
        return 1;
    case FK_SN_STRING:
        return nd->min <= nd->max ? 1 : INF_DEPTH;
    case FK_SN_LITERALS:
        return nd->n ? 1 : INF_DEPTH;
    case FK_SN_ARRAY:
        if (nd->min > nd->max) return INF_DEPTH;
        if (nd->min == 0) return 1;
        return md[nd->items] == INF_DEPTH ? INF_DEPTH : 1 + md[nd->items];
    case FK_SN_OBJECT: { /* itself, then a required value (or a key frame) under it */
        uint32_t need = 0;
        for (uint32_t k = 0; k < nd->n; k++) {
            const fk_sprop *p = &s->props[nd->first + k];
            if (!p->required) continue;
            uint32_t d = md[p->node];
            if (d == INF_DEPTH) return INF_DEPTH;
            need = d > need ? d : need;
        }
        return 1 + need;
    }
    case FK_SN_UNION: {
        uint32_t best = INF_DEPTH;
        for (uint32_t k = 0; k < nd->n; k++) {
            uint32_t d = md[s->members[nd->first + k]];
            best = d < best ? d : best;
        }
        return best;
    }
    }
    return INF_DEPTH;
}

/* Drop what no document can hold: unsatisfiable union members, optional
 * properties and array items (and free keys whose values are). Kept members
 * and properties are copied to a new run at the end of their pool (nodes
 * may share runs: a union left with one member is a copy of it). */
static void prune(builder *b, const uint32_t *md)
{
    fk_schema *s = &b->s;
    for (uint32_t i = 0; i < s->n_nodes && !b->oom; i++) {
        fk_snode nd = s->nodes[i];
        if (md[i] == INF_DEPTH) continue;
        if (nd.kind == FK_SN_UNION) {
            uint32_t first = s->n_members;
            for (uint32_t j = 0; j < nd.n; j++) {
                uint32_t m = s->members[nd.first + j];
                if (md[m] != INF_DEPTH) fk_sb_add_member(b, m);
            }
            s->nodes[i].first = first;
            s->nodes[i].n = s->n_members - first;
        } else if (nd.kind == FK_SN_ARRAY && md[nd.items] == INF_DEPTH) {
            s->nodes[i].max = 0;
        } else if (nd.kind == FK_SN_OBJECT && nd.n == 0) {
            if (depth_of(md, nd.free_keys) == INF_DEPTH) s->nodes[i].free_keys = FK_SN_NONE;
        } else if (nd.kind == FK_SN_OBJECT) {
            uint32_t first = s->n_props;
            for (uint32_t j = 0; j < nd.n; j++) {
                fk_sprop p = s->props[nd.first + j];
                if (md[p.node] != INF_DEPTH) fk_sb_add_prop(b, p.key, p.node, p.required);
            }
            s->nodes[i].first = first;
            s->nodes[i].n = s->n_props - first;
        }
    }
}

/* Least fixpoint of min_depth, then pruning. 0, or -1 when the root is
 * unsatisfiable or too deep. */
int fk_sb_analyse(builder *b, char *err, size_t err_len)
{
    fk_schema *s = &b->s;
    uint32_t *md = malloc((size_t)s->n_nodes * sizeof *md);
    if (!md) {
        b->oom = 1;
        return -1;
    }
    for (uint32_t i = 0; i < s->n_nodes; i++) md[i] = INF_DEPTH;
    for (int changed = 1; changed;) {
        changed = 0;
        for (uint32_t i = 0; i < s->n_nodes; i++) {
            uint32_t d = node_depth(s, md, i);
            if (d < md[i]) {
                md[i] = d;
                changed = 1;
            }
        }
    }
    prune(b, md);
    for (uint32_t i = 0; i < s->n_nodes; i++) s->nodes[i].min_depth = md[i];
    uint32_t root = md[s->root];
    free(md);
    if (root == INF_DEPTH) {
        snprintf(err, err_len, "no JSON document satisfies this schema");
        return -1;
    }
    if (root + 1 > FK_SCHEMA_MAX_DEPTH) {
        snprintf(err, err_len, "its documents nest deeper than %d levels", FK_SCHEMA_MAX_DEPTH - 1);
        return -1;
    }
    return 0;
}
