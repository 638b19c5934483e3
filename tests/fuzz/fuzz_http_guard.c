/* fuzz_http_guard.c: arbitrary bytes from a client through the request
 * framing guard (gateway/http_guard.c), whole and in pieces. Checked:
 *   - nothing crashes or leaks;
 *   - pieces (split where the first input byte says) give the same
 *     requests, the same refusal and the same output as the whole input;
 *   - what the guard passes on is itself accepted unchanged (so evhttp, which
 *     reads it, sees exactly the framing the guard checked). */
#include <event2/buffer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/http_guard.h"

typedef struct outcome {
    int requests;         /* whole requests passed on */
    int status;           /* refusal status, 0 when none */
    struct evbuffer *out; /* what evhttp would read */
} outcome;

static void run(const uint8_t *data, size_t size, unsigned step, outcome *o)
{
    fk_http_guard g = {0};
    struct evbuffer *in = evbuffer_new();
    o->out = evbuffer_new();
    o->requests = o->status = 0;
    for (size_t at = 0; at < size && !o->status;) {
        size_t n = step ? (at * 31 + step) % 13 + 1 : size;
        if (n > size - at) n = size - at;
        evbuffer_add(in, data + at, n);
        at += n;
        for (;;) {
            fk_api_error why;
            fk_guard_result r = fk_http_guard_feed(&g, in, o->out, 4096, &why);
            if (r == FK_GUARD_REQUEST) {
                o->requests++;
                continue;
            }
            if (r == FK_GUARD_REFUSE) o->status = why.status;
            break;
        }
    }
    evbuffer_free(in);
}

static int same_bytes(struct evbuffer *a, struct evbuffer *b)
{
    size_t n = evbuffer_get_length(a);
    if (n != evbuffer_get_length(b)) return 0;
    return n == 0 || memcmp(evbuffer_pullup(a, -1), evbuffer_pullup(b, -1), n) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    outcome whole, pieces;
    run(data + 1, size - 1, 0, &whole);
    run(data + 1, size - 1, data[0] | 1u, &pieces);
    if (whole.requests != pieces.requests || whole.status != pieces.status ||
        !same_bytes(whole.out, pieces.out))
        abort();
    if (!whole.status && whole.requests > 0) {
        outcome again;
        size_t n = evbuffer_get_length(whole.out);
        run(evbuffer_pullup(whole.out, -1), n, 0, &again);
        if (again.status || again.requests < whole.requests || !same_bytes(again.out, whole.out))
            abort();
        evbuffer_free(again.out);
    }
    evbuffer_free(whole.out);
    evbuffer_free(pieces.out);
    return 0;
}
