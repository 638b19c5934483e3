/* tools.h: a request's function tools, compiled for constraining their
 * calls, and the one rule both cores use to tell, from a Harmony message
 * header, which function a message calls.
 *
 * The header rule: a header (the bytes between <|start|> and <|message|>,
 * special tokens spelled out) calls function NAME when it holds "to=" at
 * its start or after whitespace or a special token's '>', followed by
 * "functions." and NAME, NAME ending at whitespace, '<' or the end. The
 * last such recipient counts. This is a superset of what the gateway's
 * parser reads as a call (harmony/parser.c), so no call it reports goes
 * unconstrained. */
#ifndef FK_CONSTRAIN_TOOLS_H
#define FK_CONSTRAIN_TOOLS_H

#include <stddef.h>

#include "constrain/schema.h"

typedef struct fk_toolset {
    size_t n;            /* functions */
    char **names;        /* // (n,) their names (owned) */
    fk_schema **schemas; /* // (n,) their parameters compiled (owned); a function without
                            parameters takes `{}` only */
} fk_toolset;

/* Compile the function tools of an OpenAI "tools" array (JSON text; other
 * tool types are skipped). 0, or -1 with err (NUL-terminated) and param
 * (the field at fault, "tools[1].function.parameters") on a schema that no
 * document satisfies, bad JSON or OOM. *out is empty on failure. */
int fk_toolset_parse(const char *tools_json, fk_toolset *out, char *err, size_t err_len,
                     char *param, size_t param_len);
void fk_toolset_clear(fk_toolset *t);

/* The index of function name[0..len), or -1. */
long fk_toolset_find(const fk_toolset *t, const char *name, size_t len);

/* The header rule above: 1 with off and len the name's bytes in hdr when the
 * header calls a function (the name may be empty or still growing when the
 * header is), else 0. */
int fk_header_call(const char *hdr, size_t n, size_t *off, size_t *len);

#endif
