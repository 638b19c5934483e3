/* schema_build.h: the compiler's working state, shared by its two files
 * (schema.c builds and finishes a graph, schema_norm.c normalises unions
 * and analyses it). Private to constrain/. */
#ifndef FK_CONSTRAIN_SCHEMA_BUILD_H
#define FK_CONSTRAIN_SCHEMA_BUILD_H

#include "constrain/schema.h"

#define RAW_ALIAS 100        /* pass 1 only: a node that stands for node `items` */
#define INF_DEPTH UINT32_MAX /* min_depth of an unsatisfiable node */
#define MAX_NODES (1u << 20) /* merges of recursive unions stop here (relaxed to any) */

/* JSON type families: the byte a value starts with tells them apart. */
enum { FAM_STR = 1, FAM_NUM = 2, FAM_OBJ = 4, FAM_ARR = 8, FAM_KW = 16, FAM_ALL = 31 };

typedef struct memo_entry {
    const json_t *schema; /* a schema object compiled */
    uint32_t node;        /* into this node */
} memo_entry;

typedef struct merge_entry {
    uint32_t a, b; /* two nodes merged */
    uint32_t node; /* into this union */
} merge_entry;

/* The graph being built and what building it needs. */
typedef struct builder {
    fk_schema s; /* the graph (its arrays grow) */
    uint32_t cap_nodes, cap_texts, cap_props, cap_members;
    size_t cap_bytes;
    uint8_t *fam_mask;  /* // (cap_nodes,) raw unions: the families the schema's "type" allows */
    const json_t *root; /* the document $ref pointers resolve in */
    memo_entry *memo;   /* schema objects compiled so far */
    uint32_t n_memo, cap_memo;
    merge_entry *merges; /* unions made by merging, for reuse */
    uint32_t n_merges, cap_merges;
    int oom; /* an allocation failed */
} builder;

/* Room for `need` elements of `size` in *p (capacity *cap). 0, or -1 on OOM. */
int fk_sb_grow(void **p, uint32_t *cap, uint32_t need, size_t size);
/* A new node of `kind` (FK_SN_ANY and b->oom set on failure). */
uint32_t fk_sb_new_node(builder *b, fk_snode_kind kind);
void fk_sb_add_member(builder *b, uint32_t node);
void fk_sb_add_prop(builder *b, fk_stext key, uint32_t node, int required);
/* Sort and deduplicate the texts of LITERALS node i (the last ones added). */
void fk_sb_finish_literals(builder *b, uint32_t i);
/* The family of a value whose text starts with byte c. */
int fk_sb_family_of_byte(unsigned char c);

/* Pass 3: every union as at most one member per family. */
void fk_sb_normalise_unions(builder *b);
/* Pass 4: min_depth, pruning. 0, or -1 with err when the root is
 * unsatisfiable or too deep. */
int fk_sb_analyse(builder *b, char *err, size_t err_len);

#endif
