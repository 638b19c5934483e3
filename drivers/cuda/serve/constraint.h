/* constraint.h: what a sequence with function tools may sample next.
 *
 * A watcher follows the sequence's Harmony messages by token id (prompt
 * tail, then every sampled token): headers from <|start|> to <|message|>,
 * bodies to their terminator. It constrains three things:
 *
 *   the name   once a header after its <|channel|> ends in "to=functions."
 *              (the gateway renders that for tool_choice "required", or the
 *              model writes it), the name must be one of the tools',
 *              followed by " <|constrain|>json<|message|>";
 *   the body   of a message whose header calls functions.NAME
 *              (constrain/tools.h's rule) or says <|constrain|>json: JSON
 *              valid for NAME's parameters (any JSON for an unknown name or
 *              a json body without a call);
 *   the end    once the body is a whole document: only <|call|> for a
 *              function call, else <|end|> or <|return|> (a number or an
 *              enum value that could go on may also continue).
 * Everything else is free. No special token but those named is allowed
 * inside a constrained part, so a constrained body always parses (unless
 * max_tokens cuts it).
 *
 * A prompt that ends inside a call header or body (tool_choice naming a
 * function: "...to=functions.NAME <|constrain|>json<|message|>") starts
 * constrained: fk_constraint_feed the prompt from its last <|start|>.
 *
 * Owns its tools. One thread at a time (submit on the loop, then only the
 * scheduler's worker). */
#ifndef FK_CONSTRAINT_H
#define FK_CONSTRAINT_H

#include <stddef.h>
#include <stdint.h>

#include "constrain/tools.h"
#include "tokmask.h"

/* The Harmony special token ids the watcher needs. */
typedef struct fk_harmony_ids {
    int32_t start, channel, message, constrain, call, end, ret; /* <|start|> ... <|return|> */
} fk_harmony_ids;

/* Find them in a vocabulary by their spelling. 0, or -1 when one is missing. */
int fk_harmony_ids_find(fk_harmony_ids *ids, fk_tokmask_bytes_fn bytes,
                        fk_tokmask_special_fn special, const void *ud, int vocab);

typedef struct fk_constraint fk_constraint;

/* A watcher over `tools` (taken over, emptied, even on failure; the
 * vocabulary through bytes, special and ud). NULL on OOM. */
fk_constraint *fk_constraint_new(fk_toolset *tools, const fk_harmony_ids *ids,
                                 fk_tokmask_bytes_fn bytes, fk_tokmask_special_fn special,
                                 const void *ud);
void fk_constraint_free(fk_constraint *c);

/* Follow one more token (the prompt's, or a sampled one). 0, or -1 when a
 * constrained part did not allow it (never for a token sampled under
 * fk_constraint_mask; a prompt token only ends the constraint). */
int fk_constraint_feed(fk_constraint *c, int32_t token);

/* 1 when the next token is restricted. */
int fk_constraint_active(const fk_constraint *c);

/* Restrict logits (// (vocab,)) to the tokens allowed next: the others get
 * -INFINITY. `tm` indexes the same vocabulary. Returns how many are allowed
 * (0 only if the constraint has no way on: a bug, the caller fails the
 * sequence). */
size_t fk_constraint_mask(fk_constraint *c, fk_tokmask *tm, float *logits, int vocab);

#endif
