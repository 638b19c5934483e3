/* segments.h: a driver's prompt segments (drivers/driver.h) -> token ids.
 *
 * Both drivers tokenize prompts with this one function, so identical chats
 * give identical ids on both cores and untrusted text is handled one way:
 *   FK_SEG_TEXT     ordinary text; never yields a special id
 *   FK_SEG_RAW      operator text; spelled-out special tokens are parsed
 *   FK_SEG_SPECIAL  exactly one special token of the tokenizer
 *   FK_SEG_TOKEN    an id inside the vocabulary */
#ifndef FK_TOKENIZER_SEGMENTS_H
#define FK_TOKENIZER_SEGMENTS_H

#include "driver.h"
#include "fktok.h"

enum {
    FKTOK_SEGMENTS_INVALID = -1, /* a segment the tokenizer cannot take: `why` says which */
    FKTOK_SEGMENTS_NOMEM = -2,   /* out of memory */
};

/* Append the ids of segs[0..n) to out. 0, or a negative FKTOK_SEGMENTS_*
 * with a one-line reason in why (NUL-terminated, at most why_len). */
int fktok_encode_segments(const fktok *t, const fk_segment *segs, size_t n, fktok_ids *out,
                          char *why, size_t why_len);

#endif
