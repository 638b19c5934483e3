/* utf8.h: UTF-8 validation and repair for the Harmony parser.
 *
 * Validation follows the Unicode "maximal subpart" rule (the same as Rust's
 * from_utf8_lossy): each maximal invalid subsequence becomes one U+FFFD, and
 * a sequence cut off by the end of the input is "incomplete", not invalid.
 *
 * hm_utf8_stream turns a stream of byte pieces into complete UTF-8 text:
 *   - an incomplete sequence at the end of a piece is held until the next one;
 *   - a piece that turns held bytes (or its own bytes) into an invalid
 *     sequence gets one U+FFFD, and the rest of that piece is held until the
 *     next piece or the end of the message. This reproduces upstream
 *     openai/harmony's content deltas byte for byte (vector 021: " \xF0\x9F"
 *     then " interesting" gives "\uFFFD", then " story" gives
 *     " interesting story"), while the held bytes never exceed one piece;
 *   - flush (end of message) repairs what is held, each bad sequence -> U+FFFD.
 * The concatenated output equals the lossy decoding of all the bytes, whatever
 * the piece boundaries. */
#ifndef FK_HARMONY_UTF8_H
#define FK_HARMONY_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "harmony/strbuf.h"

typedef enum hm_utf8_status {
    HM_UTF8_VALID = 0,      /* all bytes are complete, valid UTF-8 */
    HM_UTF8_INCOMPLETE = 1, /* valid up to a sequence cut off by the end */
    HM_UTF8_INVALID = 2,    /* an invalid sequence starts at *valid_up_to */
} hm_utf8_status;

/* Check s[0..n). *valid_up_to: length of the valid prefix. *error_len (for
 * HM_UTF8_INVALID): length of the maximal invalid subpart, >= 1. */
hm_utf8_status hm_utf8_check(const unsigned char *s, size_t n, size_t *valid_up_to,
                             size_t *error_len);

/* Append s[0..n) to out with every invalid or incomplete sequence replaced by
 * U+FFFD. 0, or -1 on OOM. */
int hm_utf8_append_lossy(strbuf *out, const char *s, size_t n);

/* Decode one code point at s[0..n), which must be valid UTF-8 (n >= 1).
 * Returns its length in bytes. */
size_t hm_utf8_decode(const char *s, size_t n, uint32_t *cp);

/* 1 for Unicode White_Space code points (Rust's char::is_whitespace). */
int hm_unicode_is_space(uint32_t cp);

/* Streaming repair state, one per message being read. */
typedef struct hm_utf8_stream {
    strbuf held; /* bytes not yet emitted: an incomplete sequence or a piece's unexamined rest */
} hm_utf8_stream;

void hm_utf8_stream_init(hm_utf8_stream *st);
void hm_utf8_stream_clear(hm_utf8_stream *st); /* frees; reusable */
/* Feed one piece; complete text is appended to out. 0, or -1 on OOM. */
int hm_utf8_stream_push(hm_utf8_stream *st, const char *bytes, size_t n, strbuf *out);
/* End of message: held bytes are repaired into out and dropped. 0, or -1 on OOM. */
int hm_utf8_stream_flush(hm_utf8_stream *st, strbuf *out);

#endif
