/* harmony.h: libfkharmony, the Harmony prompt format of gpt-oss.
 *
 * Four parts, no dependency on the gateway (jansson only):
 *   conversation  the model of a chat (system, developer, messages)
 *   renderer      conversation -> prompt segments (special tokens apart from text)
 *   parser        streamed completion pieces -> message events
 *   scanner       upstream text with spelled-out special tokens -> pieces
 *   openai        OpenAI chat request -> conversation; events -> OpenAI deltas/message
 *   responses     OpenAI Responses request -> conversation; events -> output items
 *
 * Ownership: every char* inside a struct defined here is owned by that struct
 * and freed by its *_free / *_clear function; json_t* members hold one
 * reference. Functions that take `const char *` copy what they keep.
 */
#ifndef FK_HARMONY_H
#define FK_HARMONY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* ==== conversation ========================================================== */

typedef enum hm_role {
    HM_ROLE_SYSTEM = 0,
    HM_ROLE_DEVELOPER = 1,
    HM_ROLE_USER = 2,
    HM_ROLE_ASSISTANT = 3,
    HM_ROLE_TOOL = 4, /* a tool result; the author is hm_message.name */
} hm_role;

typedef struct hm_tool {
    char *name;
    char *description;  /* may be empty or hold newlines */
    json_t *parameters; /* JSON Schema; NULL renders `() => any` */
} hm_tool;

/* The system message. NULL string fields leave their line out. */
typedef struct hm_system {
    char *model_identity;          /* "You are ChatGPT, ..." */
    char *knowledge_cutoff;        /* "2024-06" */
    char *conversation_start_date; /* "2026-11-26" */
    char *reasoning_effort;        /* "low" | "medium" | "high" */
    char **valid_channels;         /* NULL or n == 0: no channel line */
    size_t n_valid_channels;
    int channel_required;
    json_t *builtin_tools; /* object: namespace name -> {name, description, tools}; NULL: none */
} hm_system;

typedef struct hm_message {
    hm_role role;
    char *name;         /* HM_ROLE_TOOL: the author, e.g. "functions.get_weather" */
    char *channel;      /* "analysis" | "commentary" | "final" | NULL */
    char *recipient;    /* "functions.NAME" (a call) or "assistant" (a result) | NULL */
    char *content_type; /* "<|constrain|>json", "json", ... | NULL */
    char *content;      /* user, assistant and tool messages */
    /* HM_ROLE_DEVELOPER only: */
    char *instructions;     /* NULL: no "# Instructions" section */
    int has_function_tools; /* 1: write the functions namespace (even when n_tools == 0) */
    hm_tool *tools;
    size_t n_tools;
} hm_message;

typedef struct hm_conversation {
    int has_system;
    hm_system system;
    hm_message *messages;
    size_t n_messages;
    size_t cap_messages;
    /* HM_RENDER_COMPLETION only: the completion must be a function call
     * (tool_choice). "functions.NAME": the prompt ends in that call's whole
     * header, "<|channel|>commentary to=functions.NAME <|constrain|>json
     * <|message|>", so the completion is its arguments; "functions.": it
     * ends after "to=functions." and the model names the function. NULL:
     * the model chooses. */
    char *forced_call;
} hm_conversation;

void hm_conversation_init(hm_conversation *c);
void hm_conversation_clear(hm_conversation *c); /* frees everything; c is reusable */
/* Append a zeroed message with `role`; returns it (owned by c), NULL on OOM. */
hm_message *hm_conversation_push(hm_conversation *c, hm_role role);
/* Fill c->system with upstream's defaults (identity, cutoff 2024-06, effort
 * medium, the three channels required) and the given date (may be NULL). */
int hm_system_set_defaults(hm_system *s, const char *current_date);
/* Load a render vector's "system"/"messages" objects (fixture schema). */
int hm_conversation_from_vector(hm_conversation *c, const json_t *system, const json_t *messages,
                                char **err);

/* ==== renderer ================================================================ */

typedef enum hm_render_mode {
    HM_RENDER_COMPLETION = 0,   /* conversation + "<|start|>assistant" */
    HM_RENDER_CONVERSATION = 1, /* the messages as they are */
    HM_RENDER_TRAINING = 2,     /* a last final message ends with <|return|> */
} hm_render_mode;

/* A prompt: text and special tokens kept apart. Text from users and tools is
 * marked untrusted; no text segment is ever to be read as special tokens. */
typedef struct hm_segment {
    char *text; /* owned; NUL-terminated for convenience */
    size_t len;
    int is_special;
    int untrusted;
} hm_segment;

typedef struct hm_prompt {
    hm_segment *segs;
    size_t n;
    size_t cap;
} hm_prompt;

void hm_prompt_init(hm_prompt *p);
void hm_prompt_clear(hm_prompt *p);
/* 0 on success; -1 with *err (malloc'd message) on an invalid conversation. */
int hm_render(const hm_conversation *c, hm_render_mode mode, int auto_drop_analysis, hm_prompt *out,
              char **err);
/* The prompt as one string with special tokens spelled out (malloc'd). */
char *hm_prompt_flatten(const hm_prompt *p, size_t *len);

/* JSON Schema -> TypeScript-like type text, exactly as upstream (malloc'd). */
char *hm_schema_to_typescript(const json_t *schema);

/* ==== streaming parser ======================================================== */

typedef enum hm_terminator {
    HM_TERM_NONE = 0,
    HM_TERM_END = 1,    /* <|end|> */
    HM_TERM_RETURN = 2, /* <|return|> */
    HM_TERM_CALL = 3,   /* <|call|> */
    HM_TERM_EOS = 4,    /* the stream ended inside the message */
} hm_terminator;

typedef enum hm_event_kind {
    HM_EV_MESSAGE_START = 0,
    HM_EV_CONTENT = 1,
    HM_EV_MESSAGE_END = 2,
    HM_EV_ERROR = 3, /* strict mode only; the parser accepts nothing more */
} hm_event_kind;

/* Strings are borrowed: valid during the callback only. */
typedef struct hm_event {
    hm_event_kind kind;
    /* MESSAGE_START (and repeated on MESSAGE_END for convenience) */
    hm_role role;
    const char *name; /* tool author when role is HM_ROLE_TOOL, else NULL */
    const char *channel;
    const char *recipient;
    const char *content_type;
    /* CONTENT: complete UTF-8 (partial characters held back, invalid -> U+FFFD) */
    const char *text;
    size_t len;
    /* MESSAGE_END */
    hm_terminator terminator;
    /* ERROR */
    const char *error;
} hm_event;

typedef void (*hm_event_fn)(void *ud, const hm_event *ev);

typedef struct hm_parser_options {
    int strict;              /* upstream's strict mode; the gateway uses 0 */
    int role_hint_assistant; /* 1: start inside an assistant header (prompt ended with
                                <|start|>assistant) */
} hm_parser_options;

typedef struct hm_parser hm_parser;

hm_parser *hm_parser_new(const hm_parser_options *opts, hm_event_fn fn, void *ud);
/* One piece: text (any bytes), whether it is a special token, its id or -1.
 * Any chunking of the same pieces gives the same events. 0, or -1 after an
 * error (reported once through HM_EV_ERROR). */
int hm_parser_feed(hm_parser *p, const char *text, size_t len, int is_special, int32_t token_id);
/* End of stream: closes a message in progress (HM_TERM_EOS), flushes held bytes. */
int hm_parser_finish(hm_parser *p);
/* Channel of the message being read now, or NULL (header or between messages). */
const char *hm_parser_channel(const hm_parser *p);
void hm_parser_free(hm_parser *p);

/* ==== text scanner ============================================================= */

/* Turns upstream text in which special tokens are spelled out into pieces,
 * correct however the text is chunked ("<|chan" + "nel|>"). Unknown "<|...|>"
 * text stays text. */
typedef void (*hm_piece_fn)(void *ud, const char *text, size_t len, int is_special);

typedef struct hm_scanner hm_scanner;

hm_scanner *hm_scanner_new(void);
void hm_scanner_feed(hm_scanner *s, const char *text, size_t len, hm_piece_fn fn, void *ud);
void hm_scanner_finish(hm_scanner *s, hm_piece_fn fn, void *ud); /* flush held text */
void hm_scanner_free(hm_scanner *s);
/* 1 if text[0..len) is exactly a known special token's spelling. */
int hm_is_special_token(const char *text, size_t len);

/* ==== OpenAI mapping =========================================================== */

/* A request error in OpenAI's shape (HTTP 400). */
typedef struct hm_openai_error {
    char param[128]; /* "messages[2].content", "tools[0].function.name", ... */
    char code[64];   /* "invalid_type", "missing_field", "invalid_value", ... */
    char message[512];
} hm_openai_error;

typedef struct hm_openai_options {
    const char *current_date;   /* "YYYY-MM-DD" for the system message (NULL: today) */
    const char *default_effort; /* when the request has no reasoning_effort (NULL: medium) */
} hm_openai_options;

/* Chat request (messages, tools, tool_choice, reasoning_effort) -> conversation
 * ready for hm_render(HM_RENDER_COMPLETION). 0, or -1 with *err filled. */
int hm_openai_chat_to_conversation(const json_t *request, const hm_openai_options *opts,
                                   hm_conversation *out, hm_openai_error *err);

/* Parser events -> OpenAI output, for one choice.
 *
 *   analysis                       -> reasoning_content + reasoning
 *   final, commentary w/o recipient -> content
 *   recipient functions.NAME       -> tool_calls[i] {id, type, function{name, arguments}}
 */
typedef struct hm_openai_out_options {
    int emit_reasoning_content;      /* write "reasoning_content" */
    int emit_reasoning;              /* write "reasoning" */
    const char *tool_call_id_prefix; /* "call_" when NULL */
} hm_openai_out_options;

typedef struct hm_openai_out hm_openai_out;

hm_openai_out *hm_openai_out_new(const hm_openai_out_options *opts);
void hm_openai_out_free(hm_openai_out *o);
/* Feed every parser event. */
void hm_openai_out_event(hm_openai_out *o, const hm_event *ev);
/* Count one generated token; `channel` is hm_parser_channel() at that token
 * (analysis tokens are reported as reasoning_tokens). */
void hm_openai_out_count_token(hm_openai_out *o, const char *channel);
/* Streaming: the delta objects produced since the last call, as a new JSON
 * array (caller owns), each the value of a chunk's "delta" member. Empty
 * array when nothing new. The first delta ever carries "role":"assistant". */
json_t *hm_openai_out_take_deltas(hm_openai_out *o);
/* Non-streaming: the whole "message" object (caller owns). */
json_t *hm_openai_out_message(const hm_openai_out *o);
/* "stop" | "tool_calls" | "length": `length_hit` is 1 when the core stopped on
 * max_tokens or the context; tool calls win over stop. */
const char *hm_openai_out_finish_reason(const hm_openai_out *o, int length_hit);
int hm_openai_out_reasoning_tokens(const hm_openai_out *o);
int hm_openai_out_tool_call_count(const hm_openai_out *o);
/* Bytes of content written so far (final messages, commentary without a
 * recipient, and header text a non-strict recovery turned into content):
 * what grew after feeding a token tells whether it produced content. */
size_t hm_openai_out_content_bytes(const hm_openai_out *o);

/* ==== OpenAI Responses API ===================================================== */

/* A Responses request -> conversation ready for hm_render(HM_RENDER_COMPLETION),
 * by the chat mapping's rules (openai_request.c):
 *
 *   instructions, system/developer messages -> the developer "# Instructions"
 *   tools (function only; others refused, naming them), tool_choice
 *                                            -> the developer's functions
 *   reasoning.effort                         -> the system message
 *   message user                             -> user
 *   message assistant                        -> final; commentary (a preamble)
 *                                               when its phase is "commentary",
 *                                               or without a phase when a
 *                                               function_call item follows it
 *   reasoning (content reasoning_text)       -> analysis
 *   function_call                            -> commentary call to functions.NAME
 *   function_call_output                     -> functions.NAME to=assistant (NAME
 *                                               from the call with that call_id)
 *
 * `history` (NULL, or an array of items: earlier turns' input and output, as
 * hm_responses_input_items and hm_responses_out_items give them) comes before
 * `input`; its errors name "previous_response_id". 0, or -1 with *err filled
 * (param names the field: "input[2].call_id", "tools[1].type"). */
int hm_responses_to_conversation(const json_t *request, const json_t *history,
                                 const hm_openai_options *opts, hm_conversation *out,
                                 hm_openai_error *err);
/* The request's `input` as an array of items (new reference): a string is one
 * user message item; an array is itself. NULL when neither. */
json_t *hm_responses_input_items(const json_t *input);

/* Parser events -> Responses output items, whole and as stream events.
 *
 *   analysis (or a call to a non-function tool) -> reasoning item, one
 *                                                  reasoning_text content part
 *   final                                       -> message item (phase final_answer)
 *   commentary without recipient (a preamble)   -> message item (phase commentary)
 *   any other channel                           -> message item
 *   recipient functions.NAME                    -> function_call item
 *                                                  {id, call_id, name, arguments}
 *
 * One item per Harmony message; an item cut by the end of the stream has
 * status "incomplete". Stream events (the Responses API's, without
 * sequence_number, which the caller numbers):
 *   response.output_item.added, response.content_part.added,
 *   response.reasoning_text.delta|done, response.output_text.delta|done,
 *   response.function_call_arguments.delta|done, response.content_part.done,
 *   response.output_item.done
 * Consecutive deltas of one item are merged while not taken. */
typedef struct hm_responses_out hm_responses_out;

/* `stream`: 1 to make stream events (else only the items are kept). */
hm_responses_out *hm_responses_out_new(int stream);
void hm_responses_out_free(hm_responses_out *o);
/* Feed every parser event. */
void hm_responses_out_event(hm_responses_out *o, const hm_event *ev);
/* Count one generated token; `channel` is hm_parser_channel() at that token. */
void hm_responses_out_count_token(hm_responses_out *o, const char *channel);
/* Streaming: the events produced since the last call, as a new array
 * (caller owns); empty when nothing new, NULL on OOM. */
json_t *hm_responses_out_take_events(hm_responses_out *o);
/* The output items so far, as a new array (caller owns). */
json_t *hm_responses_out_items(const hm_responses_out *o);
/* Tokens counted on the analysis channel. */
int hm_responses_out_reasoning_tokens(const hm_responses_out *o);
/* 1 when the last item is a function call whose message ended with a
 * terminator (the model stopped to call, not for lack of tokens). */
int hm_responses_out_ends_in_call(const hm_responses_out *o);

#endif
