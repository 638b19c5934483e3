/* gbnf.h: a compiled schema (schema.h) as a GBNF grammar for llama.cpp's
 * constrained sampling ("grammar" on llama-server's /completion), accepting
 * the same documents as the byte automaton (pda.h) but for two limits the
 * grammar does not keep: FK_SCHEMA_MAX_DEPTH and FK_SCHEMA_KEY_WINDOW.
 *
 * Rules are named "PREFIX-..." (PREFIX: [a-z0-9-]), so several schemas fit
 * one grammar; the shared rules (a string's character, numbers) are named
 * "fk-..." and written once by fk_gbnf_common. The caller writes `root`. */
#ifndef FK_CONSTRAIN_GBNF_H
#define FK_CONSTRAIN_GBNF_H

#include <stdio.h>

#include "constrain/schema.h"

/* The shared rules. */
void fk_gbnf_common(FILE *out);

/* The rules of every node reachable from s's root; the document's rule is
 * "PREFIX-root". 0, or -1 on OOM. */
int fk_gbnf_schema(FILE *out, const fk_schema *s, const char *prefix);

/* A GBNF string literal for bytes b[0..n) (quotes, backslashes and control
 * bytes escaped; other bytes as they are). */
void fk_gbnf_literal(FILE *out, const char *b, size_t n);

#endif
