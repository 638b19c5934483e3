/* test_responses.c: the Responses API mapping in libfkharmony.
 *
 * Input: a Responses request (and history) -> conversation, checked through
 * the rendered prompt: against a pinned prompt, against the chat request that
 * says the same (one rule set), split into history + input, and one error per
 * field with its param. Output: Harmony completions through the real scanner
 * and parser -> items and stream events (order, indices, deltas that add up
 * to the items, statuses). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harmony/harmony.h"
#include "tests/tap.h"

#define DATE "2026-11-26"
static const hm_openai_options opts = {.current_date = DATE, .default_effort = NULL};

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j) diag("bad test JSON: %s: %s", je.text, text);
    return j;
}

/* The flattened prompt (malloc'd), or NULL with *err filled. */
static char *render(int responses, const char *request, const char *history, hm_openai_error *err)
{
    json_t *req = parse(request), *hist = history ? parse(history) : NULL;
    hm_conversation c;
    char *flat = NULL, *rerr = NULL;
    int rc = responses ? hm_responses_to_conversation(req, hist, &opts, &c, err)
                       : hm_openai_chat_to_conversation(req, &opts, &c, err);
    if (rc == 0) {
        hm_prompt p;
        if (hm_render(&c, HM_RENDER_COMPLETION, 1, &p, &rerr) == 0) {
            flat = hm_prompt_flatten(&p, NULL);
            hm_prompt_clear(&p);
        } else {
            diag("render failed: %s", rerr);
        }
        hm_conversation_clear(&c);
    }
    free(rerr);
    json_decref(req);
    json_decref(hist);
    return flat;
}

static void same_prompt(const char *responses, const char *history, const char *chat,
                        const char *name)
{
    hm_openai_error e1, e2;
    char *a = render(1, responses, history, &e1);
    char *b = render(0, chat, NULL, &e2);
    if (!a) diag("responses mapping failed: %s", e1.message);
    if (!b) diag("chat mapping failed: %s", e2.message);
    ok(a && b, "%s: both map", name);
    is_str(a, b, "%s: same prompt as the chat request", name);
    free(a);
    free(b);
}

static void expect_error(const char *request, const char *history, const char *param,
                         const char *code, const char *needle, const char *name)
{
    hm_openai_error e;
    char *p = render(1, request, history, &e);
    ok(p == NULL, "%s: refused", name);
    is_str(e.param, param, "%s: param", name);
    is_str(e.code, code, "%s: code", name);
    ok(strstr(e.message, needle) != NULL, "%s: message says '%s' (%s)", name, needle, e.message);
    free(p);
}

/* ==== input ============================================================================ */

#define WEATHER_SCHEMA                                                                             \
    "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]" \
    "}"
#define TOOLS_RESP                                                                                 \
    "\"tools\":[{\"type\":\"function\",\"name\":\"get_weather\",\"description\":\"Weather.\","     \
    "\"parameters\":" WEATHER_SCHEMA ",\"strict\":true},"                                          \
    "{\"type\":\"function\",\"name\":\"get_time\",\"parameters\":null}]"
#define TOOLS_CHAT                                                                                 \
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":"    \
    "\"Weather.\",\"parameters\":" WEATHER_SCHEMA "}},"                                            \
    "{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}]"

/* The tool-calling turn of an agent, in both APIs. */
#define TURN_ITEMS                                                                                 \
    "{\"role\":\"user\",\"content\":\"Weather in Paris?\"},"                                       \
    "{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[],"                                      \
    "\"content\":[{\"type\":\"reasoning_text\",\"text\":\"Need the weather.\"}]},"                 \
    "{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_1\",\"name\":\"get_weather\"," \
    "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\",\"status\":\"completed\"}"
#define TURN_OUTPUT                                                                                \
    "{\"type\":\"function_call_output\",\"call_id\":\"call_1\",\"output\":\"sunny\"}"
#define TURN_CHAT                                                                                  \
    "{\"role\":\"user\",\"content\":\"Weather in Paris?\"},"                                       \
    "{\"role\":\"assistant\",\"reasoning_content\":\"Need the weather.\",\"content\":null,"        \
    "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":"             \
    "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"                          \
    "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"sunny\"}"

static void pinned(void)
{
    hm_openai_error e;
    char *p = render(1,
                     "{\"instructions\":\"Be brief.\",\"reasoning\":{\"effort\":\"high\"},"
                     "\"input\":[" TURN_ITEMS "," TURN_OUTPUT "]," TOOLS_RESP
                     ",\"tool_choice\":{\"type\":\"function\",\"name\":\"get_weather\"}}",
                     NULL, &e);
    is_str(p,
           "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
           "Knowledge cutoff: 2024-06\nCurrent date: " DATE "\n\nReasoning: high\n\n"
           "# Valid channels: analysis, commentary, final. Channel must be included for every "
           "message.\nCalls to these tools must go to the commentary channel: 'functions'.<|end|>"
           "<|start|>developer<|message|># Instructions\n\nBe brief.\n\n# Tools\n\n## functions\n\n"
           "namespace functions {\n\n// Weather.\ntype get_weather = (_: {\ncity: string,\n}) => "
           "any;\n\n} // namespace functions<|end|>"
           "<|start|>user<|message|>Weather in Paris?<|end|>"
           "<|start|>assistant<|channel|>analysis<|message|>Need the weather.<|end|>"
           "<|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json"
           "<|message|>{\"city\":\"Paris\"}<|call|>"
           "<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>sunny"
           "<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather "
           "<|constrain|>json<|message|>",
           "a tool-calling turn: instructions, effort, the chosen tool (its call forced), "
           "reasoning kept before the call, the result authored by the function");
    free(p);
}

static void like_chat(void)
{
    same_prompt("{\"input\":\"Hi\"}", NULL,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", "string input");
    same_prompt("{\"instructions\":\"Be brief.\",\"input\":[{\"type\":\"message\",\"role\":"
                "\"developer\",\"content\":[{\"type\":\"input_text\",\"text\":\"No \"},{\"type\":"
                "\"input_text\",\"text\":\"emoji.\"}]},{\"role\":\"user\",\"content\":\"Hi\"}]}",
                NULL,
                "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":"
                "\"developer\",\"content\":\"No emoji.\"},{\"role\":\"user\",\"content\":\"Hi\"}]}",
                "instructions first, then developer items; parts concatenated");
    same_prompt("{\"input\":[" TURN_ITEMS "," TURN_OUTPUT "]," TOOLS_RESP "}", NULL,
                "{\"messages\":[" TURN_CHAT "]," TOOLS_CHAT "}",
                "a tool-calling turn: reasoning kept while the last assistant message is a call");
    /* The answer after the result, then a new question: Harmony drops the
     * analysis before the final answer. */
    same_prompt("{\"input\":[" TURN_ITEMS "," TURN_OUTPUT
                ",{\"type\":\"reasoning\",\"summary\":[],\"content\":[{\"type\":"
                "\"reasoning_text\",\"text\":\"It is sunny.\"}]},"
                "{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":"
                "\"output_text\",\"text\":\"Sunny.\",\"annotations\":[]}],\"phase\":"
                "\"final_answer\"},{\"role\":\"user\",\"content\":\"Thanks\"}]," TOOLS_RESP "}",
                NULL,
                "{\"messages\":[" TURN_CHAT ",{\"role\":\"assistant\",\"reasoning_content\":"
                "\"It is sunny.\",\"content\":\"Sunny.\"},{\"role\":\"user\",\"content\":"
                "\"Thanks\"}]," TOOLS_CHAT "}",
                "a finished turn: analysis dropped by Harmony's rule, as in chat");
    same_prompt("{\"input\":[" TURN_OUTPUT "]," TOOLS_RESP "}", "[" TURN_ITEMS "]",
                "{\"messages\":[" TURN_CHAT "]," TOOLS_CHAT "}",
                "history + input: the history comes first and a result finds its call there");
    /* An assistant message before a call is a preamble (commentary), as chat's
     * content beside tool_calls is; a phase says so explicitly. */
    same_prompt("{\"input\":[{\"role\":\"user\",\"content\":\"Go\"},{\"type\":\"message\","
                "\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":"
                "\"Checking.\"}]},{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":"
                "\"get_time\",\"arguments\":\"{}\"}]," TOOLS_RESP "}",
                NULL,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"Go\"},{\"role\":\"assistant\","
                "\"content\":\"Checking.\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\","
                "\"function\":{\"name\":\"get_time\",\"arguments\":\"{}\"}}]}]," TOOLS_CHAT "}",
                "a message before a function_call is a commentary preamble");
    hm_openai_error e;
    char *p = render(1,
                     "{\"input\":[{\"role\":\"assistant\",\"content\":\"A\",\"phase\":"
                     "\"commentary\"},{\"role\":\"assistant\",\"content\":\"B\",\"phase\":"
                     "\"final_answer\"},{\"role\":\"assistant\",\"content\":\"C\"}]}",
                     NULL, &e);
    if (!ok(p && strstr(p, "<|start|>assistant<|channel|>commentary<|message|>A<|end|>"
                           "<|start|>assistant<|channel|>final<|message|>B<|end|>"
                           "<|start|>assistant<|channel|>final<|message|>C<|end|>"),
            "phase commentary / final_answer / none -> commentary, final, final"))
        diag("got %s", p ? p : e.message);
    free(p);
}

static void tool_choice(void)
{
    same_prompt("{\"input\":\"Hi\"," TOOLS_RESP ",\"tool_choice\":\"none\"}", NULL,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]," TOOLS_CHAT
                ",\"tool_choice\":\"none\"}",
                "tool_choice none: no tools offered");
    same_prompt("{\"input\":\"Hi\"," TOOLS_RESP ",\"tool_choice\":\"required\"}", NULL,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]," TOOLS_CHAT
                ",\"tool_choice\":\"required\"}",
                "tool_choice required offers every tool and forces a call");
    same_prompt("{\"input\":\"Hi\"," TOOLS_RESP ",\"tool_choice\":{\"type\":\"allowed_tools\","
                "\"mode\":\"required\",\"tools\":[{\"type\":\"function\",\"name\":\"get_time\"}]}}",
                NULL,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]," TOOLS_CHAT
                ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}}",
                "allowed_tools in mode required forces a call to one of the listed functions");
    same_prompt("{\"input\":\"Hi\"," TOOLS_RESP ",\"tool_choice\":{\"type\":\"allowed_tools\","
                "\"mode\":\"auto\",\"tools\":[{\"type\":\"function\",\"name\":\"get_time\"}]}}",
                NULL,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"tools\":[{\"type\":"
                "\"function\",\"function\":{\"name\":\"get_time\"}}]}",
                "allowed_tools in mode auto keeps the listed functions, forcing nothing");
}

static void errors(void)
{
    expect_error("{\"input\":\"Hi\",\"tools\":[{\"type\":\"function\",\"name\":\"f\"},"
                 "{\"type\":\"web_search\"},{\"type\":\"code_interpreter\"},{\"type\":"
                 "\"web_search\"}]}",
                 NULL, "tools[1].type", "invalid_value", "'web_search', 'code_interpreter' are",
                 "other tool types are refused, each named once");
    expect_error("{\"input\":\"Hi\",\"tools\":[{\"type\":\"function\",\"name\":\"bad name\"}]}",
                 NULL, "tools[0].name", "invalid_value", "not a valid function name",
                 "function names follow OpenAI's rule");
    expect_error("{\"input\":\"Hi\",\"tools\":[{\"type\":\"function\",\"name\":\"f\"},"
                 "{\"type\":\"function\",\"name\":\"f\"}]}",
                 NULL, "tools[1].name", "invalid_value", "duplicate", "duplicate tool names");
    expect_error("{\"input\":[{\"type\":\"web_search_call\",\"id\":\"ws\"}]}", NULL,
                 "input[0].type", "invalid_value", "'web_search_call' is not supported",
                 "other item types are refused");
    expect_error("{\"input\":[{\"type\":\"function_call_output\",\"call_id\":\"nope\","
                 "\"output\":\"x\"}]}",
                 NULL, "input[0].call_id", "invalid_value", "no earlier function_call",
                 "a result without its call");
    expect_error("{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_image\","
                 "\"image_url\":\"http://x\"}]}]}",
                 NULL, "input[0].content[0].type", "invalid_value",
                 "only 'input_text' or 'output_text' parts", "images are refused");
    expect_error("{\"input\":[{\"role\":\"tool\",\"content\":\"x\"}]}", NULL, "input[0].role",
                 "invalid_value", "'tool'", "chat's tool role is not a Responses role");
    expect_error("{\"input\":\"Hi\",\"reasoning\":{\"effort\":\"minimal\"}}", NULL,
                 "reasoning.effort", "invalid_value", "low, medium, high",
                 "an effort gpt-oss lacks");
    expect_error("{\"input\":\"Hi\"," TOOLS_RESP ",\"tool_choice\":{\"type\":\"function\","
                 "\"name\":\"nope\"}}",
                 NULL, "tool_choice.name", "invalid_value", "no function named 'nope'",
                 "tool_choice names a missing function");
    expect_error("{\"input\":\"Hi\",\"tool_choice\":{\"type\":\"file_search\"}}", NULL,
                 "tool_choice.type", "invalid_value", "'file_search' is not supported",
                 "hosted tool choices are refused");
    expect_error("{\"instructions\":\"x\"}", NULL, "input", "missing_field", "missing",
                 "input is required");
    expect_error("{\"input\":7}", NULL, "input", "invalid_type", "a string or an array",
                 "input of the wrong type");
    expect_error("{\"input\":[{\"role\":\"assistant\",\"content\":\"x\",\"phase\":\"draft\"}]}",
                 NULL, "input[0].phase", "invalid_value", "'draft'", "unknown phase");
    expect_error("{\"input\":[{\"type\":\"function_call\",\"call_id\":\"\",\"name\":\"f\","
                 "\"arguments\":\"{}\"}]}",
                 NULL, "input[0].call_id", "invalid_value", "must not be empty",
                 "an empty call_id");
    expect_error("{\"input\":\"Hi\"}", "[{\"role\":\"user\"}]", "previous_response_id[0].content",
                 "missing_field", "missing", "history errors name previous_response_id");
}

static void input_items(void)
{
    json_t *s = json_string("Hi");
    json_t *items = hm_responses_input_items(s);
    char *d = json_dumps(items, JSON_COMPACT | JSON_SORT_KEYS);
    is_str(d, "[{\"content\":\"Hi\",\"role\":\"user\",\"type\":\"message\"}]",
           "a string input is one user message item");
    free(d);
    json_decref(items);
    json_decref(s);
    json_t *arr = parse("[{\"role\":\"user\",\"content\":\"x\"}]");
    items = hm_responses_input_items(arr);
    ok(items == arr, "an array input is itself");
    json_decref(items);
    json_decref(arr);
    json_t *n = json_integer(1);
    ok(hm_responses_input_items(n) == NULL, "other inputs give NULL");
    json_decref(n);
}

/* ==== output =========================================================================== */

typedef struct run {
    hm_parser *p;          /* the parser */
    hm_responses_out *out; /* the mapper */
    json_t *events;        /* every event taken, in order */
    int per_piece;         /* take events after every piece (else once at the end) */
} run;

static void on_event(void *ud, const hm_event *ev)
{
    hm_responses_out_event(((run *)ud)->out, ev);
}

static void take(run *r)
{
    json_t *ev = hm_responses_out_take_events(r->out);
    json_array_extend(r->events, ev);
    json_decref(ev);
}

static void on_piece(void *ud, const char *text, size_t len, int is_special)
{
    run *r = ud;
    hm_parser_feed(r->p, text, len, is_special, -1);
    hm_responses_out_count_token(r->out, hm_parser_channel(r->p));
    if (r->per_piece) take(r);
}

static void run_text(run *r, const char *completion, int stream, int per_piece)
{
    hm_parser_options po = {0, 1};
    r->out = hm_responses_out_new(stream);
    r->p = hm_parser_new(&po, on_event, r);
    r->events = json_array();
    r->per_piece = per_piece;
    hm_scanner *sc = hm_scanner_new();
    /* per piece: 3-byte chunks, so text arrives in several pieces */
    size_t len = strlen(completion), step = per_piece ? 3 : len;
    for (size_t i = 0; i < len; i += step)
        hm_scanner_feed(sc, completion + i, len - i < step ? len - i : step, on_piece, r);
    hm_scanner_finish(sc, on_piece, r);
    hm_scanner_free(sc);
    hm_parser_finish(r->p);
    take(r);
}

static void run_free(run *r)
{
    hm_parser_free(r->p);
    hm_responses_out_free(r->out);
    json_decref(r->events);
}

/* The event types, space-separated without the "response." prefix (malloc'd). */
static char *types(const json_t *events)
{
    size_t cap = 4096, o = 0;
    char *s = calloc(1, cap);
    for (size_t i = 0; s && i < json_array_size(events); i++) {
        const char *t = json_string_value(json_object_get(json_array_get(events, i), "type"));
        if (t && !strncmp(t, "response.", 9)) t += 9;
        o += (size_t)snprintf(s + o, cap - o, "%s%s", i ? " " : "", t ? t : "?");
        if (o >= cap) break;
    }
    return s;
}

static const char *str(const json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

/* 1 if `id` is prefix + 24 alphanumerics. */
static int id_shape(const char *id, const char *prefix)
{
    size_t k = strlen(prefix);
    if (!id || strncmp(id, prefix, k) != 0 || strlen(id) != k + 24) return 0;
    for (const char *c = id + k; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
            return 0;
    return 1;
}

/* Replays the events as the openai client's ResponseStream accumulates them
 * and checks the result equals the items: every delta lands on an item and
 * content part that exist, indices and ids agree, output_item.done carries
 * the whole item. */
static void replay_matches(const json_t *events, const json_t *items, const char *name)
{
    json_t *snap = json_array();
    int good = 1;
    for (size_t i = 0; good && i < json_array_size(events); i++) {
        const json_t *ev = json_array_get(events, i);
        const char *t = str(ev, "type");
        size_t oi = (size_t)json_integer_value(json_object_get(ev, "output_index"));
        json_t *it = json_array_get(snap, oi);
        const char *delta = str(ev, "delta");
        if (!strcmp(t, "response.output_item.added")) {
            good = oi == json_array_size(snap);
            json_array_append_new(snap, json_deep_copy(json_object_get(ev, "item")));
        } else if (!strcmp(t, "response.content_part.added")) {
            good = it && !strcmp(str(ev, "item_id"), str(it, "id"));
            json_t *content = json_object_get(it, "content");
            good = good && json_integer_value(json_object_get(ev, "content_index")) ==
                               (json_int_t)json_array_size(content);
            json_array_append_new(content, json_deep_copy(json_object_get(ev, "part")));
        } else if (delta && strcmp(t, "response.function_call_arguments.delta") != 0) {
            json_t *part = json_array_get(json_object_get(it, "content"),
                                          json_integer_value(json_object_get(ev, "content_index")));
            good = part && !strcmp(str(ev, "item_id"), str(it, "id"));
            if (good) {
                size_t n = strlen(str(part, "text")) + strlen(delta) + 1;
                char *cat = malloc(n);
                snprintf(cat, n, "%s%s", str(part, "text"), delta);
                json_object_set_new(part, "text", json_string(cat));
                free(cat);
            }
        } else if (delta) {
            good = it && !strcmp(str(ev, "item_id"), str(it, "id"));
            size_t n = strlen(str(it, "arguments")) + strlen(delta) + 1;
            char *cat = malloc(n);
            snprintf(cat, n, "%s%s", str(it, "arguments"), delta);
            json_object_set_new(it, "arguments", json_string(cat));
            free(cat);
        } else if (!strcmp(t, "response.output_item.done")) {
            good = json_equal(json_object_get(ev, "item"), json_array_get(items, oi));
            /* the accumulated item equals the done one, status aside */
            json_t *acc = json_deep_copy(it);
            json_object_set(acc, "status", json_object_get(json_object_get(ev, "item"), "status"));
            good = good && json_equal(acc, json_object_get(ev, "item"));
            json_decref(acc);
        }
        if (!good) diag("event %zu (%s) does not fit", i, t);
    }
    ok(good && json_array_size(snap) == json_array_size(items),
       "%s: the events rebuild the items as the openai client does", name);
    json_decref(snap);
}

static void reasoning_and_answer(void)
{
    const char *c = "<|channel|>analysis<|message|>Think it over.<|end|><|start|>assistant"
                    "<|channel|>final<|message|>Answer.<|return|>";
    for (int per_piece = 0; per_piece < 2; per_piece++) {
        run r;
        run_text(&r, c, 1, per_piece);
        json_t *items = hm_responses_out_items(r.out);
        const json_t *rs = json_array_get(items, 0), *msg = json_array_get(items, 1);
        is_int((long long)json_array_size(items), 2, "two items (per piece %d)", per_piece);
        ok(id_shape(str(rs, "id"), "rs_") && id_shape(str(msg, "id"), "msg_"),
           "ids rs_/msg_ + 24 alphanumerics");
        json_t *rs_masked = json_deep_copy(rs), *msg_masked = json_deep_copy(msg);
        json_object_del(rs_masked, "id");
        json_object_del(msg_masked, "id");
        char *a = json_dumps(rs_masked, JSON_COMPACT);
        char *b = json_dumps(msg_masked, JSON_COMPACT);
        is_str(a,
               "{\"type\":\"reasoning\",\"summary\":[],\"content\":[{\"type\":\"reasoning_text\","
               "\"text\":\"Think it over.\"}],\"status\":\"completed\"}",
               "the analysis is a reasoning item with reasoning_text content");
        is_str(b,
               "{\"type\":\"message\",\"role\":\"assistant\",\"status\":\"completed\",\"content\":"
               "[{\"type\":\"output_text\",\"text\":\"Answer.\",\"annotations\":[],\"logprobs\":"
               "[]}],\"phase\":\"final_answer\"}",
               "the final channel is a message with output_text, phase final_answer");
        free(a);
        free(b);
        json_decref(rs_masked);
        json_decref(msg_masked);
        char *t = types(r.events);
        if (per_piece)
            ok(t && strstr(t, "reasoning_text.delta reasoning_text.delta"),
               "taken per piece: several deltas (%s)", t);
        else
            is_str(t,
                   "output_item.added content_part.added reasoning_text.delta "
                   "reasoning_text.done content_part.done output_item.done output_item.added "
                   "content_part.added output_text.delta output_text.done content_part.done "
                   "output_item.done",
                   "the documented event order; deltas merged while not taken");
        free(t);
        replay_matches(r.events, items, per_piece ? "per piece" : "taken once");
        /* <|message|> and "Think", " it", " over." are read on the analysis channel. */
        ok(hm_responses_out_reasoning_tokens(r.out) >= 2, "analysis tokens counted (%d)",
           hm_responses_out_reasoning_tokens(r.out));
        ok(!hm_responses_out_ends_in_call(r.out), "an answer is not a call");
        json_decref(items);
        run_free(&r);
    }
}

static void function_call(void)
{
    run r;
    run_text(&r,
             "<|channel|>analysis<|message|>Need it.<|end|><|start|>assistant<|channel|>"
             "commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\": "
             "\"Paris\"}<|call|>",
             1, 1);
    json_t *items = hm_responses_out_items(r.out);
    const json_t *fc = json_array_get(items, 1);
    is_str(str(fc, "type"), "function_call", "a commentary call is a function_call item");
    is_str(str(fc, "name"), "get_weather", "its name");
    is_str(str(fc, "arguments"), "{\"city\": \"Paris\"}", "its arguments");
    ok(id_shape(str(fc, "id"), "fc_") && id_shape(str(fc, "call_id"), "call_"),
       "id fc_..., call_id call_...");
    is_str(str(fc, "status"), "completed", "ended by <|call|>: completed");
    ok(hm_responses_out_ends_in_call(r.out), "the output ends in a call");
    char *t = types(r.events);
    ok(t && strstr(t, "output_item.added function_call_arguments.delta") &&
           strstr(t, "function_call_arguments.done output_item.done"),
       "call events: added, argument deltas, done (%s)", t);
    free(t);
    const json_t *last_done = NULL;
    for (size_t i = 0; i < json_array_size(r.events); i++)
        if (!strcmp(str(json_array_get(r.events, i), "type"),
                    "response.function_call_arguments.done"))
            last_done = json_array_get(r.events, i);
    ok(last_done && !strcmp(str(last_done, "name"), "get_weather") &&
           !strcmp(str(last_done, "arguments"), "{\"city\": \"Paris\"}"),
       "arguments.done carries name and arguments");
    replay_matches(r.events, items, "a call");
    json_decref(items);
    run_free(&r);
}

static void cut_and_other_channels(void)
{
    run r;
    run_text(&r,
             "<|channel|>commentary<|message|>Let me look.<|end|><|start|>assistant<|channel|>"
             "commentary to=browser.search <|constrain|>json<|message|>{}<|call|>",
             1, 0);
    json_t *items = hm_responses_out_items(r.out);
    is_str(str(json_array_get(items, 0), "phase"), "commentary",
           "a preamble is a message with phase commentary");
    is_str(str(json_array_get(items, 1), "type"), "reasoning",
           "a call to a built-in tool is kept as reasoning, never as an answer or a call");
    ok(!hm_responses_out_ends_in_call(r.out), "a built-in call is not a function call");
    json_decref(items);
    run_free(&r);

    run_text(&r, "<|channel|>commentary to=functions.f <|constrain|>json<|message|>{\"a\":", 1, 0);
    items = hm_responses_out_items(r.out);
    is_str(str(json_array_get(items, 0), "status"), "incomplete",
           "a call cut by the end of the stream is incomplete");
    ok(!hm_responses_out_ends_in_call(r.out), "... and not a finished call");
    replay_matches(r.events, items, "cut call");
    json_decref(items);
    run_free(&r);

    run_text(&r, "<|channel|>final<|message|>Hello", 0, 0);
    items = hm_responses_out_items(r.out);
    is_str(str(json_array_get(items, 0), "status"), "incomplete", "a cut answer is incomplete");
    is_int((long long)json_array_size(r.events), 0, "not streaming: no events kept");
    json_decref(items);
    run_free(&r);
}

/* Output items fed back as input render as the model wrote them. */
static void round_trip(void)
{
    run r;
    run_text(&r,
             "<|channel|>analysis<|message|>Need it.<|end|><|start|>assistant<|channel|>"
             "commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":"
             "\"Paris\"}<|call|>",
             0, 0);
    json_t *items = hm_responses_out_items(r.out);
    json_t *req = parse("{\"input\":[{\"type\":\"function_call_output\",\"call_id\":\"X\","
                        "\"output\":\"sunny\"}]," TOOLS_RESP "}");
    json_object_set(json_array_get(json_object_get(req, "input"), 0), "call_id",
                    json_object_get(json_array_get(items, 1), "call_id"));
    json_t *hist = json_pack("[{s:s, s:s}]", "role", "user", "content", "Weather in Paris?");
    json_array_extend(hist, items);
    hm_conversation c;
    hm_openai_error e;
    char *flat = NULL;
    if (hm_responses_to_conversation(req, hist, &opts, &c, &e) == 0) {
        hm_prompt p;
        char *rerr = NULL;
        if (hm_render(&c, HM_RENDER_COMPLETION, 1, &p, &rerr) == 0) {
            flat = hm_prompt_flatten(&p, NULL);
            hm_prompt_clear(&p);
        }
        free(rerr);
        hm_conversation_clear(&c);
    }
    if (!ok(flat && strstr(flat, "<|start|>user<|message|>Weather in Paris?<|end|>"
                                 "<|start|>assistant<|channel|>analysis<|message|>Need it.<|end|>"
                                 "<|start|>assistant to=functions.get_weather<|channel|>"
                                 "commentary <|constrain|>json<|message|>{\"city\":\"Paris\"}"
                                 "<|call|><|start|>functions.get_weather to=assistant<|channel|>"
                                 "commentary<|message|>sunny<|end|><|start|>assistant"),
            "output items as history: analysis and call rendered back, the result finds the "
            "call"))
        diag("got %s", flat ? flat : e.message);
    free(flat);
    json_decref(req);
    json_decref(hist);
    json_decref(items);
    run_free(&r);
}

int main(void)
{
    pinned();
    like_chat();
    tool_choice();
    errors();
    input_items();
    reasoning_and_answer();
    function_call();
    cut_and_other_channels();
    round_trip();
    return done_testing();
}
