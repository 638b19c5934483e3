/* fuzz_schema.c: arbitrary bytes -> JSON -> the schema converter, and the
 * same JSON as an OpenAI chat request -> conversation -> prompt. Nothing may
 * crash, leak or read out of bounds. */
#include "harmony/harmony.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY, &jerr);
    if (!v) return 0;
    free(hm_schema_to_typescript(v));
    hm_openai_options opts = {.current_date = "2026-11-26", .default_effort = NULL};
    hm_conversation c;
    hm_openai_error err;
    if (hm_openai_chat_to_conversation(v, &opts, &c, &err) == 0) {
        hm_prompt p;
        char *rerr = NULL;
        if (hm_render(&c, HM_RENDER_COMPLETION, 1, &p, &rerr) == 0) {
            free(hm_prompt_flatten(&p, NULL));
            hm_prompt_clear(&p);
        }
        free(rerr);
        hm_conversation_clear(&c);
    }
    json_decref(v);
    return 0;
}
