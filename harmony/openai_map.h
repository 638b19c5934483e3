/* openai_map.h: what the two OpenAI request mappers share (inside
 * libfkharmony only): chat completions (openai_request.c) and the Responses
 * API (responses_in.c) both build a conversation
 *
 *   system      upstream defaults, the configured date, the reasoning effort
 *   developer   "# Instructions" (every instruction text, "\n\n"-joined), then
 *               the kept function tools; left out when it would be empty
 *   ...         the messages, tool calls and tool results in order
 *
 * and report errors the same way: hm_openai_error with the request field at
 * fault ("messages[2].content", "input[0].call_id") and "param: message".
 *
 * Usage:
 *   hm_mapper m;
 *   hm_mapper_init(&m, out, err);
 *   hm_map_start(&m, opts, effort);          system + the developer slot
 *   hm_map_instructions / hm_map_push / hm_map_call / hm_map_tool_result ...
 *   hm_map_finish(&m, kept_tools, n);        fills or drops the developer slot
 *   hm_mapper_clear(&m);
 */
#ifndef FK_HARMONY_OPENAI_MAP_H
#define FK_HARMONY_OPENAI_MAP_H

#include "harmony/harmony.h"
#include "harmony/strbuf.h"

/* ==== errors (each fills e and returns -1) ================================== */

__attribute__((format(printf, 4, 5))) int hm_map_fail(hm_openai_error *e, const char *code,
                                                      const char *param, const char *fmt, ...);
int hm_map_oom(hm_openai_error *e);
int hm_map_missing(hm_openai_error *e, const char *param);
int hm_map_wrong_type(hm_openai_error *e, const char *param, const char *want, const json_t *got);

/* ==== field readers =========================================================== */

/* obj[key] as a string (borrowed). Absent or null gives *out = NULL and 0
 * unless `required`. A string with a NUL character is refused. */
int hm_map_str(const json_t *obj, const char *key, const char *param, int required,
               const char **out, hm_openai_error *e);
/* Content as text (malloc'd): a string, or an array of parts whose "type" is
 * one of `types` (NULL-terminated), their "text" concatenated without a
 * separator (upstream renders a message's texts back to back). Other part
 * types are refused, naming the ones accepted. `content` must not be NULL. */
int hm_map_text(const json_t *content, const char *param, const char *const *types, char **out,
                hm_openai_error *e);

/* ==== function tools ============================================================ */

/* One function tool (strings borrowed from the request). */
typedef struct hm_map_tool {
    const char *name;        /* ^[a-zA-Z0-9_-]{1,64}$ */
    const char *description; /* or NULL */
    json_t *parameters;      /* a JSON Schema object (borrowed) or NULL */
} hm_map_tool;

/* Reads name, description and parameters from `fn` (chat: a tool's
 * "function" object; Responses: the tool itself); `where` names fn in errors
 * ("tools[0].function", "tools[0]"). */
int hm_map_function(const json_t *fn, const char *where, hm_map_tool *out, hm_openai_error *e);
/* Index of the tool named `name` among tools[0..n), or -1. */
long hm_map_tool_index(const hm_map_tool *tools, size_t n, const char *name);

/* ==== the conversation being built ================================================ */

/* Tool call ids seen so far, to name tool results (strings borrowed). */
typedef struct hm_map_calls {
    const char **ids;   /* call ids */
    const char **names; /* their function names */
    size_t n;           /* used */
    size_t cap;         /* allocated */
} hm_map_calls;

/* Everything one request's mapping carries along. */
typedef struct hm_mapper {
    hm_conversation *out; /* the conversation being built (borrowed) */
    strbuf instructions;  /* instruction texts, "\n\n"-joined */
    int has_instructions; /* 1 once a non-empty instruction text was seen */
    hm_map_calls calls;   /* tool calls seen so far */
    hm_openai_error *e;   /* where errors go (borrowed; may be NULL) */
} hm_mapper;

/* Clears `out` and `e` and starts a mapping into `out`. */
void hm_mapper_init(hm_mapper *m, hm_conversation *out, hm_openai_error *e);
/* Frees the mapper's own buffers (not the conversation). */
void hm_mapper_clear(hm_mapper *m);

/* `effort` ("low" | "medium" | "high", or NULL: the options' default, else
 * medium) checked; *out is it. `param` names the request field. */
int hm_map_effort(const char *effort, const hm_openai_options *opts, const char *param,
                  const char **out, hm_openai_error *e);
/* The system message (defaults, the options' date or today, `effort`) and
 * the developer message's slot. */
int hm_map_start(hm_mapper *m, const hm_openai_options *opts, const char *effort);
/* Appends an instruction text (an empty one is skipped). */
int hm_map_instructions(hm_mapper *m, const char *text);
/* Appends a message with copies of the given strings (each may be NULL);
 * takes ownership of `content`. */
int hm_map_push(hm_mapper *m, hm_role role, const char *name, const char *channel,
                const char *recipient, const char *content_type, char *content);
/* An assistant call: `<|start|>assistant to=functions.NAME<|channel|>commentary
 * <|constrain|>json<|message|>ARGS<|call|>`; remembers id -> name (`id` and
 * `name` must outlive the mapper). */
int hm_map_call(hm_mapper *m, const char *id, const char *name, const char *arguments);
/* The function name of the latest earlier call with this id, or NULL. */
const char *hm_map_call_name(const hm_mapper *m, const char *id);
/* A tool result from functions.NAME to=assistant on commentary; takes
 * ownership of `content`. */
int hm_map_tool_result(hm_mapper *m, const char *name, char *content);
/* Fills the developer slot with the instructions and tools[0..n), or removes
 * it when both are empty. */
int hm_map_finish(hm_mapper *m, const hm_map_tool *tools, size_t n);
/* tool_choice forces a call ("required", a named function): the completion
 * must call one of tools[0..n) (the ones kept): the conversation's
 * forced_call is "functions.NAME" for one, "functions." for several (the
 * model names one); nothing for none. */
int hm_map_force_call(hm_mapper *m, const hm_map_tool *tools, size_t n);

#endif
