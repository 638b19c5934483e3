/* segments.h: a prompt as segments -> token ids.
 *
 * Both drivers tokenize prompts with this one function (through
 * drivers/prompt.h, which reads the ABI's fk_segment array), so identical
 * chats give identical ids on both cores and untrusted text is handled one way:
 *   FKTOK_SEG_TEXT     ordinary text; never yields a special id
 *   FKTOK_SEG_RAW      operator text; spelled-out special tokens are parsed
 *   FKTOK_SEG_SPECIAL  exactly one special token of the tokenizer
 *   FKTOK_SEG_TOKEN    an id inside the vocabulary */
#ifndef FK_TOKENIZER_SEGMENTS_H
#define FK_TOKENIZER_SEGMENTS_H

#include <stddef.h>
#include <stdint.h>

#include "fktok.h"

typedef enum fktok_segment_kind {
    FKTOK_SEG_TEXT = 0,    /* ordinary text */
    FKTOK_SEG_SPECIAL = 1, /* one special token by its spelling */
    FKTOK_SEG_RAW = 2,     /* text in which spelled-out specials count */
    FKTOK_SEG_TOKEN = 3,   /* one id */
} fktok_segment_kind;

typedef struct fktok_segment {
    fktok_segment_kind kind; /* see above */
    const char *text;        /* bytes (not NUL-terminated); NULL for FKTOK_SEG_TOKEN */
    size_t len;              /* bytes in text */
    int32_t token_id;        /* FKTOK_SEG_TOKEN only */
} fktok_segment;

enum {
    FKTOK_SEGMENTS_INVALID = -1, /* a segment the tokenizer cannot take: `why` says which */
    FKTOK_SEGMENTS_NOMEM = -2,   /* out of memory */
};

/* Append the ids of segs[0..n) to out. 0, or a negative FKTOK_SEGMENTS_*
 * with a one-line reason in why (NUL-terminated, at most why_len). */
int fktok_encode_segments(const fktok *t, const fktok_segment *segs, size_t n, fktok_ids *out,
                          char *why, size_t why_len);

#endif
