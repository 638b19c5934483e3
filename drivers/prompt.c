/* prompt.c: fk_segment (ABI) -> fktok_segment -> ids (see prompt.h). */
#include "prompt.h"

#include <stdio.h>
#include <stdlib.h>

int fk_prompt_encode(const fktok *t, const fk_segment *segs, size_t n, size_t seg_size,
                     fktok_ids *out, char *why, size_t why_len)
{
    fktok_segment *ts = calloc(n ? n : 1, sizeof *ts);
    if (!ts) {
        snprintf(why, why_len, "out of memory while tokenizing the prompt");
        return FKTOK_SEGMENTS_NOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        fk_segment s;
        fk_abi_copy(&s, sizeof s, FK_AT(segs, i, seg_size), seg_size);
        switch (s.kind) {
        case FK_SEG_TEXT:
            ts[i] = (fktok_segment){FKTOK_SEG_TEXT, s.text, s.len, -1};
            break;
        case FK_SEG_SPECIAL:
            ts[i] = (fktok_segment){FKTOK_SEG_SPECIAL, s.text, s.len, -1};
            break;
        case FK_SEG_RAW:
            ts[i] = (fktok_segment){FKTOK_SEG_RAW, s.text, s.len, -1};
            break;
        case FK_SEG_TOKEN:
            ts[i] = (fktok_segment){FKTOK_SEG_TOKEN, NULL, 0, s.token_id};
            break;
        default:
            snprintf(why, why_len, "prompt segment %zu has unknown kind %d", i, (int)s.kind);
            rc = FKTOK_SEGMENTS_INVALID;
        }
    }
    if (rc == 0) rc = fktok_encode_segments(t, ts, n, out, why, why_len);
    free(ts);
    return rc;
}
