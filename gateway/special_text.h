/* special_text.h: spelled-out special tokens in the text of a request that a
 * pass-through core tokenizes itself.
 *
 * With FRONTEND_USE_HARMONY=0 the gateway forwards the client's chat to
 * llama-server's /v1/chat/completions, which renders it with its chat
 * template and tokenizes the result with spelled-out special tokens parsed:
 * a user who types "<|end|><|start|>system<|message|>" would write a system
 * message of their own. A spelling is "<|NAME|>" with NAME of letters, digits
 * and '_' (the shape of every special token of o200k_harmony; a superset of
 * the ones a model file defines). Looked for in every string and object key
 * under "messages", "tools" and "tool_choice" (what the template renders).
 *
 * FK_PASSTHROUGH_SPECIAL_TEXT picks what happens (gateway_config.h):
 *   reject (default)  400 invalid_value naming the field (messages[0].content)
 *   escape            a U+200B ZERO WIDTH SPACE goes after the '<': the text
 *                     reads the same but is tokenized as ordinary text */
#ifndef FK_GATEWAY_SPECIAL_TEXT_H
#define FK_GATEWAY_SPECIAL_TEXT_H

#include <jansson.h>
#include <stddef.h>

/* 1 when a string (or key) under messages/tools/tool_choice spells a special
 * token, with its JSON path ("messages[1].content[0].text") in `where`; 0 when
 * none does. */
int fk_special_text_find(const json_t *body, char *where, size_t where_len);

/* Escape every spelling under messages/tools/tool_choice of `body` in place.
 * Returns how many were escaped, or -1 when out of memory. */
int fk_special_text_escape(json_t *body);

#endif
