/* fast_event.h: a fast path for the common llama-server /completion stream
 * event, {"index":0,"content":"...","tokens":[...],"stop":false,...}.
 *
 * Parsing every token's event with jansson was the largest single cost of a
 * proxied request (a tree and a hash table per event). This reader accepts
 * only a strict subset: one flat object whose keys need no unescaping and
 * whose values are strings, integers, true/false/null, or arrays of
 * integers. Anything else (nested objects, floats, an "error" member, the
 * final stop:true event, invalid UTF-8, more than FAST_EVENT_MAX_TOKENS ids)
 * returns 0 and the caller parses with jansson, so the result is always the
 * same as jansson's (checked by tests/fuzz/fuzz_llama_stream). */
#ifndef FK_LLAMA_FAST_EVENT_H
#define FK_LLAMA_FAST_EVENT_H

#include <stddef.h>
#include <stdint.h>

#define FAST_EVENT_MAX_TOKENS 32

typedef struct fast_event {
    char *content;      /* decoded "content" (malloc'd, grown as needed; NUL-terminated) */
    size_t content_len; /* bytes in content */
    size_t content_cap; /* allocated bytes */
    int has_content;    /* "content" was a string */
    int64_t tokens[FAST_EVENT_MAX_TOKENS]; /* "tokens" */
    size_t n_tokens;                       /* ids in tokens */
    int has_tokens;                        /* "tokens" was an array */
    int64_t tokens_predicted;              /* "tokens_predicted": tokens generated so far */
    int has_tokens_predicted;              /* "tokens_predicted" was an integer */
} fast_event;

/* 1: `s` is an ordinary non-final, non-error event and `ev` holds it;
 * 0: use jansson. ev->content is reused across calls; free it when done. */
int fast_event_parse(const char *s, size_t n, fast_event *ev);

/* What the last /completion event says, as this driver asks for it
 * (response_fields: flat keys, "timings/prompt_n"). Zero / NULL: absent. */
typedef struct fast_final {
    char stop_type[16];       /* "eos", "limit", "word", "none"; "" when absent */
    int64_t tokens_predicted; /* "tokens_predicted" */
    int has_predicted_n;      /* "timings/predicted_n" was an integer */
    int64_t predicted_n;      /* its value */
    int has_prompt_n;         /* "timings/prompt_n" was an integer */
    int64_t prompt_n;         /* its value */
    int has_cache_n;          /* "timings/cache_n" was an integer */
    int64_t cache_n;          /* its value */
    double prompt_ms;         /* "timings/prompt_ms" */
    double predicted_ms;      /* "timings/predicted_ms" */
    int truncated;            /* "truncated": true */
} fast_final;

/* 1: `s` is that last event in its trimmed form ({"stop":true, the keys
 * above, an empty "content" and "tokens"}) and `f` holds it; 0: use
 * jansson (a server that sends everything, probabilities, text). The same
 * answer as jansson's wherever it answers (tests/fuzz/fuzz_llama_stream). */
int fast_final_parse(const char *s, size_t n, fast_final *f);

#endif
