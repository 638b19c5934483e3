/* segments.c: prompt segments -> ids (see segments.h). */
#include "segments.h"

#include <stdio.h>

#include "fktok_internal.h"

/* One segment; 0 or a negative FKTOK_SEGMENTS_* with why filled. */
static int encode_one(const fktok *t, const fktok_segment *s, size_t i, fktok_ids *out, char *why,
                      size_t why_len)
{
    const char *text = s->text ? s->text : "";
    size_t len = s->text ? s->len : 0;
    int32_t id;
    switch (s->kind) {
    case FKTOK_SEG_TEXT:
    case FKTOK_SEG_RAW:
        if (fktok_encode(t, text, len, s->kind == FKTOK_SEG_RAW, out) != 0) break;
        return 0;
    case FKTOK_SEG_SPECIAL:
        id = fktok_special_id(t, text, len);
        if (id < 0) {
            snprintf(why, why_len, "prompt segment %zu: \"%.*s\" is not a special token", i,
                     (int)(len > 64 ? 64 : len), text);
            return FKTOK_SEGMENTS_INVALID;
        }
        if (fk_ids_push(out, id) != 0) break;
        return 0;
    case FKTOK_SEG_TOKEN:
        if (s->token_id < 0 || (size_t)s->token_id >= fktok_vocab_size(t)) {
            snprintf(why, why_len, "prompt token %d is outside the vocabulary (0 to %zu)",
                     (int)s->token_id, fktok_vocab_size(t) - 1);
            return FKTOK_SEGMENTS_INVALID;
        }
        if (fk_ids_push(out, s->token_id) != 0) break;
        return 0;
    default:
        snprintf(why, why_len, "prompt segment %zu has unknown kind %d", i, (int)s->kind);
        return FKTOK_SEGMENTS_INVALID;
    }
    snprintf(why, why_len, "out of memory while tokenizing the prompt");
    return FKTOK_SEGMENTS_NOMEM;
}

int fktok_encode_segments(const fktok *t, const fktok_segment *segs, size_t n, fktok_ids *out,
                          char *why, size_t why_len)
{
    for (size_t i = 0; i < n; i++) {
        int rc = encode_one(t, &segs[i], i, out, why, why_len);
        if (rc != 0) return rc;
    }
    return 0;
}
