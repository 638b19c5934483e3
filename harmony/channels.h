/* channels.h: where a Harmony message of the model's output goes in
 * OpenAI's shapes; chat (openai_response.c) and the Responses API
 * (responses_out.c) read the model alike. Internal to libfkharmony.
 *
 *   recipient functions.NAME (any channel)   -> a function call
 *   analysis                                 -> reasoning
 *   commentary to another recipient (a built-in tool the gateway does not
 *   offer)                                   -> reasoning (kept, never shown
 *                                               as the answer)
 *   final, commentary without recipient, any other channel (or none)
 *                                            -> text */
#ifndef FK_HARMONY_CHANNELS_H
#define FK_HARMONY_CHANNELS_H

typedef enum hm_out_kind {
    HM_OUT_REASONING = 0, /* reasoning */
    HM_OUT_TEXT = 1,      /* the answer, or a preamble */
    HM_OUT_CALL = 2,      /* a function call */
} hm_out_kind;

hm_out_kind hm_out_classify(const char *channel, const char *recipient);
/* NAME of a "functions.NAME" recipient (pointing into it), or NULL. */
const char *hm_out_function_name(const char *recipient);

#endif
