/* prompt.h: a request's prompt segments (driver.h's fk_segment array, read
 * with its element size) -> token ids, through the tokenizer's one rule
 * (tokenizer/segments.h). Shared by every driver that tokenizes prompts. */
#ifndef FK_DRIVERS_PROMPT_H
#define FK_DRIVERS_PROMPT_H

#include "driver.h"
#include "tokenizer/fktok.h"
#include "tokenizer/segments.h"

/* Append the ids of segs[0..n) (each seg_size bytes apart) to out. 0, or a
 * negative FKTOK_SEGMENTS_* with a one-line reason in why. */
int fk_prompt_encode(const fktok *t, const fk_segment *segs, size_t n, size_t seg_size,
                     fktok_ids *out, char *why, size_t why_len);

#endif
