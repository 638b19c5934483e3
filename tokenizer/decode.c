/* decode.c: ids -> text. The streaming decoder holds back the bytes of an
 * unfinished UTF-8 character until the next token completes it, and replaces
 * each invalid sequence (maximal subpart, as in the Unicode standard's
 * recommended practice) and each unknown id with U+FFFD. */
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "tokenizer/fktok_internal.h"

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

/* Append n bytes to the caller's growable buffer, keeping it NUL-terminated.
 * 0, or -1 on OOM. */
static int append(char **out, size_t *out_len, size_t *out_cap, const void *s, size_t n)
{
    if (*out_len + n + 1 > *out_cap || !*out) {
        size_t cap = *out_cap > 64 ? *out_cap : 64;
        while (cap < *out_len + n + 1) cap *= 2;
        char *buf = realloc(*out, cap);
        if (!buf) return -1;
        *out = buf;
        *out_cap = cap;
    }
    memcpy(*out + *out_len, s, n);
    *out_len += n;
    (*out)[*out_len] = '\0';
    return 0;
}

long fktok_decoder_push(fktok_decoder *d, const fktok *t, int32_t id, char **out, size_t *out_len,
                        size_t *out_cap)
{
    size_t before = *out_len, n = 0;
    const char *tok = fktok_token_bytes(t, id, &n);
    if (!tok) {
        long flushed = fktok_decoder_flush(d, out, out_len, out_cap);
        if (flushed < 0 || append(out, out_len, out_cap, replacement, 3)) return -1;
        return (long)(*out_len - before);
    }
    const unsigned char *s = (const unsigned char *)tok;
    size_t i = 0;
    /* Finish the character held back from earlier tokens. */
    while (d->n_pending > 0 && i < n) {
        d->pending[d->n_pending] = s[i];
        int r = fk_utf8_classify(d->pending, d->n_pending + 1);
        if (r > 0) {
            if (append(out, out_len, out_cap, d->pending, (size_t)r)) return -1;
            d->n_pending = 0;
            i++;
        } else if (r == 0) {
            d->n_pending++;
            i++;
        } else { /* s[i] broke the sequence: replace it, read s[i] afresh */
            if (append(out, out_len, out_cap, replacement, 3)) return -1;
            d->n_pending = 0;
        }
    }
    size_t run = i; /* start of a run of valid characters not yet appended */
    while (i < n) {
        int r = fk_utf8_classify(s + i, n - i);
        if (r > 0) {
            i += (size_t)r;
            continue;
        }
        if (append(out, out_len, out_cap, s + run, i - run)) return -1;
        if (r == 0) {
            memcpy(d->pending, s + i, n - i);
            d->n_pending = n - i;
            i = n;
        } else {
            if (append(out, out_len, out_cap, replacement, 3)) return -1;
            i += (size_t)-r;
        }
        run = i;
    }
    if (append(out, out_len, out_cap, s + run, i - run)) return -1;
    return (long)(*out_len - before);
}

long fktok_decoder_flush(fktok_decoder *d, char **out, size_t *out_len, size_t *out_cap)
{
    size_t before = *out_len;
    if (d->n_pending > 0 && append(out, out_len, out_cap, replacement, 3)) return -1;
    d->n_pending = 0;
    if (!*out && append(out, out_len, out_cap, "", 0)) return -1;
    return (long)(*out_len - before);
}

int fktok_decode(const fktok *t, const int32_t *ids, size_t n, char **out, size_t *out_len)
{
    fktok_decoder d = {{0}, 0};
    size_t cap = 0;
    *out = NULL;
    *out_len = 0;
    for (size_t i = 0; i < n; i++)
        if (fktok_decoder_push(&d, t, ids[i], out, out_len, &cap) < 0) goto oom;
    if (fktok_decoder_flush(&d, out, out_len, &cap) < 0) goto oom;
    return 0;
oom:
    free(*out);
    *out = NULL;
    *out_len = 0;
    return -1;
}
