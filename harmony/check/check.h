/* check.h: fk-harmony-check's vector runners, one per vector kind.
 *
 * Each returns 1 when the vector passes, 0 when it fails (with a one-line
 * reason in `why`). `tok` decodes input_tokens; it may be NULL, and then a
 * vector that needs it fails saying so. */
#ifndef FK_HARMONY_CHECK_H
#define FK_HARMONY_CHECK_H

#include <jansson.h>
#include <stddef.h>

#include "tokenizer/fktok.h"

int fk_check_render_vector(const json_t *vector, char *why, size_t why_len);
int fk_check_parse_vector(const json_t *vector, const fktok *tok, char *why, size_t why_len);

#endif
