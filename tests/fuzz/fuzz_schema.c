/* fuzz_schema.c: arbitrary bytes -> JSON -> the schema converter, and the
 * same JSON as an OpenAI chat request -> conversation -> prompt. Nothing may
 * crash, leak or read out of bounds; the TypeScript text is valid UTF-8 (the
 * JSON's strings are) and the same on a second run and for a deep copy of
 * the schema; a rendered prompt starts with <|start|>. */
#include "harmony/harmony.h"
#include "harmony/utf8.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_typescript(const json_t *v)
{
    char *ts = hm_schema_to_typescript(v);
    if (!ts) abort(); /* NULL means out of memory only */
    size_t n = strlen(ts), valid, bad;
    if (hm_utf8_check((const unsigned char *)ts, n, &valid, &bad) != HM_UTF8_VALID) abort();
    json_t *copy = json_deep_copy(v);
    char *again = copy ? hm_schema_to_typescript(copy) : NULL;
    if (copy && (!again || strcmp(ts, again) != 0)) abort();
    free(again);
    json_decref(copy);
    free(ts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY, &jerr);
    if (!v) return 0;
    check_typescript(v);
    hm_openai_options opts = {.current_date = "2026-11-26", .default_effort = NULL};
    hm_conversation c;
    hm_openai_error err;
    if (hm_openai_chat_to_conversation(v, &opts, &c, &err) == 0) {
        hm_prompt p;
        char *rerr = NULL;
        if (hm_render(&c, HM_RENDER_COMPLETION, 1, &p, &rerr) == 0) {
            char *flat = hm_prompt_flatten(&p, NULL);
            if (!flat || strncmp(flat, "<|start|>", 9) != 0) abort();
            free(flat);
            hm_prompt_clear(&p);
        }
        free(rerr);
        hm_conversation_clear(&c);
    }
    json_decref(v);
    return 0;
}
