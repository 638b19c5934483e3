/* responses_in.c: an OpenAI Responses request -> a Harmony conversation
 * ready for hm_render(HM_RENDER_COMPLETION) (the table is in harmony.h).
 *
 * The chat mapping's rules apply (openai_map.c): one developer message with
 * every instruction text ("instructions" first, then system/developer
 * message items in order) and the kept function tools; calls rendered as
 * commentary to functions.NAME with <|constrain|>json; results authored by
 * functions.NAME with NAME found through the call's call_id, in this
 * request's input or in the history before it. Reasoning items become
 * analysis messages, which hm_render drops or keeps by Harmony's rule.
 */
#include "harmony/harmony.h"
#include "harmony/openai_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Part types accepted in message content, function_call_output output and
 * reasoning content. */
static const char *const message_parts[] = {"input_text", "output_text", NULL};
static const char *const output_parts[] = {"input_text", NULL};
static const char *const reasoning_parts[] = {"reasoning_text", NULL};

/* ==== items =================================================================== */

/* 1 if `item` is a function_call item. */
static int is_function_call(const json_t *item)
{
    const json_t *t = json_object_get(item, "type");
    return json_is_string(t) && !strcmp(json_string_value(t), "function_call");
}

/* An assistant message's channel: its phase, else commentary when a
 * function_call item follows (a preamble, as chat renders content beside
 * tool_calls), else final. */
static int assistant_channel(const json_t *item, const json_t *next, const char *base,
                             const char **channel, hm_openai_error *e)
{
    char p[160];
    const char *phase;
    snprintf(p, sizeof p, "%s.phase", base);
    if (hm_map_str(item, "phase", p, 0, &phase, e) < 0) return -1;
    if (phase && strcmp(phase, "commentary") && strcmp(phase, "final_answer"))
        return hm_map_fail(e, "invalid_value", p, "'%.64s' is not 'commentary' or 'final_answer'",
                           phase);
    if (phase)
        *channel = !strcmp(phase, "commentary") ? "commentary" : "final";
    else
        *channel = next && is_function_call(next) ? "commentary" : "final";
    return 0;
}

static int map_message(hm_mapper *m, const json_t *item, const json_t *next, const char *base)
{
    char p[160];
    const char *role;
    snprintf(p, sizeof p, "%s.role", base);
    if (hm_map_str(item, "role", p, 1, &role, m->e) < 0) return -1;
    int instructions = !strcmp(role, "system") || !strcmp(role, "developer");
    if (!instructions && strcmp(role, "user") && strcmp(role, "assistant"))
        return hm_map_fail(m->e, "invalid_value", p,
                           "role '%.64s' is not one of user, assistant, system, developer", role);
    const char *channel = NULL;
    if (!strcmp(role, "assistant") && assistant_channel(item, next, base, &channel, m->e) < 0)
        return -1;
    const json_t *content = json_object_get(item, "content");
    snprintf(p, sizeof p, "%s.content", base);
    if (!content || json_is_null(content)) return hm_map_missing(m->e, p);
    char *text;
    if (hm_map_text(content, p, message_parts, &text, m->e) < 0) return -1;
    if (instructions) {
        int rc = hm_map_instructions(m, text);
        free(text);
        return rc;
    }
    hm_role r = channel ? HM_ROLE_ASSISTANT : HM_ROLE_USER;
    return hm_map_push(m, r, NULL, channel, NULL, NULL, text);
}

/* A non-empty string field (borrowed). */
static int nonempty_str(const json_t *item, const char *key, const char *base, const char **out,
                        hm_openai_error *e)
{
    char p[160];
    snprintf(p, sizeof p, "%s.%s", base, key);
    if (hm_map_str(item, key, p, 1, out, e) < 0) return -1;
    return **out ? 0 : hm_map_fail(e, "invalid_value", p, "must not be empty");
}

static int map_call(hm_mapper *m, const json_t *item, const char *base)
{
    char p[160];
    const char *call_id, *name, *args;
    if (nonempty_str(item, "call_id", base, &call_id, m->e) < 0 ||
        nonempty_str(item, "name", base, &name, m->e) < 0)
        return -1;
    snprintf(p, sizeof p, "%s.arguments", base);
    if (hm_map_str(item, "arguments", p, 1, &args, m->e) < 0) return -1;
    return hm_map_call(m, call_id, name, args);
}

static int map_call_output(hm_mapper *m, const json_t *item, const char *base)
{
    char p[160];
    const char *call_id;
    if (nonempty_str(item, "call_id", base, &call_id, m->e) < 0) return -1;
    const char *name = hm_map_call_name(m, call_id);
    snprintf(p, sizeof p, "%s.call_id", base);
    if (!name)
        return hm_map_fail(m->e, "invalid_value", p,
                           "no earlier function_call item has call_id '%.80s'", call_id);
    const json_t *output = json_object_get(item, "output");
    snprintf(p, sizeof p, "%s.output", base);
    if (!output || json_is_null(output)) return hm_map_missing(m->e, p);
    char *text;
    if (hm_map_text(output, p, output_parts, &text, m->e) < 0) return -1;
    return hm_map_tool_result(m, name, text);
}

/* A reasoning item's raw text (content) is the analysis; an item without
 * it (a summary only, or encrypted) adds nothing. */
static int map_reasoning(hm_mapper *m, const json_t *item, const char *base)
{
    char p[160];
    const json_t *content = json_object_get(item, "content");
    snprintf(p, sizeof p, "%s.content", base);
    if (!content || json_is_null(content)) return 0;
    if (!json_is_array(content)) return hm_map_wrong_type(m->e, p, "an array", content);
    char *text;
    if (hm_map_text(content, p, reasoning_parts, &text, m->e) < 0) return -1;
    if (!*text) {
        free(text);
        return 0;
    }
    return hm_map_push(m, HM_ROLE_ASSISTANT, NULL, "analysis", NULL, NULL, text);
}

static int map_item(hm_mapper *m, const json_t *item, const json_t *next, const char *base)
{
    char p[160];
    const char *type;
    if (!json_is_object(item)) return hm_map_wrong_type(m->e, base, "an item object", item);
    snprintf(p, sizeof p, "%s.type", base);
    if (hm_map_str(item, "type", p, 0, &type, m->e) < 0) return -1;
    if (!type || !strcmp(type, "message")) return map_message(m, item, next, base);
    if (!strcmp(type, "function_call")) return map_call(m, item, base);
    if (!strcmp(type, "function_call_output")) return map_call_output(m, item, base);
    if (!strcmp(type, "reasoning")) return map_reasoning(m, item, base);
    return hm_map_fail(m->e, "invalid_value", p,
                       "item type '%.64s' is not supported; this server takes message, reasoning, "
                       "function_call and function_call_output items",
                       type);
}

/* Every item of `items`; errors name them "NAME[i]". */
static int map_items(hm_mapper *m, const json_t *items, const char *name)
{
    for (size_t i = 0; i < json_array_size(items); i++) {
        char base[64];
        snprintf(base, sizeof base, "%s[%zu]", name, i);
        if (map_item(m, json_array_get(items, i), json_array_get(items, i + 1), base) < 0)
            return -1;
    }
    return 0;
}

/* ==== tools ===================================================================== */

/* 1 when tools[i] is an object whose type is a string other than "function". */
static int unsupported_tool(const json_t *t)
{
    const json_t *type = json_object_get(t, "type");
    return json_is_string(type) && strcmp(json_string_value(type), "function") != 0;
}

/* Refuses tools that are not functions, naming every such type (each once)
 * and pointing at the first. */
static int refuse_other_tools(const json_t *arr, hm_openai_error *e)
{
    size_t first = json_array_size(arr);
    strbuf names;
    strbuf_init(&names);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *t = json_array_get(arr, i);
        if (!unsupported_tool(t)) continue;
        const char *type = json_string_value(json_object_get(t, "type"));
        int seen = 0;
        for (size_t j = first; j < i && !seen; j++)
            seen =
                unsupported_tool(json_array_get(arr, j)) &&
                !strcmp(type, json_string_value(json_object_get(json_array_get(arr, j), "type")));
        if (seen) continue;
        strbuf_printf(&names, "%s'%.64s'", first < i ? ", " : "", type);
        if (first > i) first = i;
    }
    if (first == json_array_size(arr)) return 0;
    char p[64];
    snprintf(p, sizeof p, "tools[%zu].type", first);
    hm_map_fail(e, "invalid_value", p,
                "tools of type %s are not supported: this server offers function tools only "
                "(type 'function')",
                names.oom || !names.data ? "other than 'function'" : names.data);
    strbuf_clear(&names);
    return -1;
}

/* tools[] -> *tools (malloc'd array of borrowed views), *n. */
static int read_tools(const json_t *req, hm_map_tool **tools, size_t *n, hm_openai_error *e)
{
    const json_t *arr = json_object_get(req, "tools");
    *tools = NULL;
    *n = 0;
    if (!arr || json_is_null(arr)) return 0;
    if (!json_is_array(arr)) return hm_map_wrong_type(e, "tools", "an array", arr);
    if (refuse_other_tools(arr, e) < 0) return -1;
    size_t count = json_array_size(arr);
    if (count == 0) return 0;
    *tools = calloc(count, sizeof **tools);
    if (!*tools) return hm_map_oom(e);
    for (size_t i = 0; i < count; i++) {
        const json_t *t = json_array_get(arr, i);
        char p[64];
        const char *type;
        snprintf(p, sizeof p, "tools[%zu]", i);
        if (!json_is_object(t)) return hm_map_wrong_type(e, p, "an object", t);
        snprintf(p, sizeof p, "tools[%zu].type", i);
        if (hm_map_str(t, "type", p, 1, &type, e) < 0) return -1;
        snprintf(p, sizeof p, "tools[%zu]", i);
        if (hm_map_function(t, p, &(*tools)[i], e) < 0) return -1;
        if (hm_map_tool_index(*tools, i, (*tools)[i].name) >= 0) {
            snprintf(p, sizeof p, "tools[%zu].name", i);
            return hm_map_fail(e, "invalid_value", p, "duplicate function name '%s'",
                               (*tools)[i].name);
        }
        *n = i + 1;
    }
    return 0;
}

/* Keeps tools[i] (once) in kept[0..*n_kept). */
static void keep(const hm_map_tool *tools, size_t i, hm_map_tool *kept, size_t *n_kept)
{
    if (hm_map_tool_index(kept, *n_kept, tools[i].name) < 0) kept[(*n_kept)++] = tools[i];
}

/* {type:"allowed_tools", mode, tools:[{type:"function", name}]}: those
 * (*force: mode "required"). */
static int allowed_tools(const json_t *tc, const hm_map_tool *tools, size_t n, hm_map_tool *kept,
                         size_t *n_kept, int *force, hm_openai_error *e)
{
    const char *mode;
    if (hm_map_str(tc, "mode", "tool_choice.mode", 0, &mode, e) < 0) return -1;
    if (mode && strcmp(mode, "auto") && strcmp(mode, "required"))
        return hm_map_fail(e, "invalid_value", "tool_choice.mode",
                           "'%.64s' is not 'auto' or 'required'", mode);
    *force = mode && !strcmp(mode, "required");
    const json_t *list = json_object_get(tc, "tools");
    if (!list) return hm_map_missing(e, "tool_choice.tools");
    if (!json_is_array(list)) return hm_map_wrong_type(e, "tool_choice.tools", "an array", list);
    for (size_t j = 0; j < json_array_size(list); j++) {
        const json_t *t = json_array_get(list, j);
        char p[64];
        const char *type, *name;
        snprintf(p, sizeof p, "tool_choice.tools[%zu]", j);
        if (!json_is_object(t)) return hm_map_wrong_type(e, p, "an object", t);
        snprintf(p, sizeof p, "tool_choice.tools[%zu].type", j);
        if (hm_map_str(t, "type", p, 1, &type, e) < 0) return -1;
        if (strcmp(type, "function") != 0)
            return hm_map_fail(e, "invalid_value", p, "'%.64s' is not 'function'", type);
        snprintf(p, sizeof p, "tool_choice.tools[%zu].name", j);
        if (hm_map_str(t, "name", p, 1, &name, e) < 0) return -1;
        long i = hm_map_tool_index(tools, n, name);
        if (i < 0)
            return hm_map_fail(e, "invalid_value", p, "no function named '%.80s' in tools", name);
        keep(tools, (size_t)i, kept, n_kept);
    }
    return 0;
}

/* tool_choice: "none" keeps no tool, "auto"/"required" (or absent) keep all,
 * {type:"function", name} that one, {type:"allowed_tools", ...} those.
 * `kept` has room for n. *force: a call must be made ("required", a
 * function, allowed_tools in mode "required"). */
static int apply_tool_choice(const json_t *req, const hm_map_tool *tools, size_t n,
                             hm_map_tool *kept, size_t *n_kept, int *force, hm_openai_error *e)
{
    const json_t *tc = json_object_get(req, "tool_choice");
    *n_kept = 0;
    *force = 0;
    if (!tc || json_is_null(tc) || json_is_string(tc)) {
        const char *s = json_is_string(tc) ? json_string_value(tc) : "auto";
        if (strcmp(s, "none") && strcmp(s, "auto") && strcmp(s, "required"))
            return hm_map_fail(e, "invalid_value", "tool_choice",
                               "'%.64s' is not one of 'none', 'auto', 'required' or an object", s);
        if (strcmp(s, "none") != 0)
            for (size_t i = 0; i < n; i++) keep(tools, i, kept, n_kept);
        *force = !strcmp(s, "required");
        return 0;
    }
    if (!json_is_object(tc))
        return hm_map_wrong_type(e, "tool_choice", "a string or an object", tc);
    const char *type, *name;
    if (hm_map_str(tc, "type", "tool_choice.type", 1, &type, e) < 0) return -1;
    if (!strcmp(type, "allowed_tools")) return allowed_tools(tc, tools, n, kept, n_kept, force, e);
    if (strcmp(type, "function") != 0)
        return hm_map_fail(e, "invalid_value", "tool_choice.type",
                           "'%.64s' is not supported; use 'function' or 'allowed_tools'", type);
    if (hm_map_str(tc, "name", "tool_choice.name", 1, &name, e) < 0) return -1;
    long i = hm_map_tool_index(tools, n, name);
    if (i < 0)
        return hm_map_fail(e, "invalid_value", "tool_choice.name",
                           "no function named '%.80s' in tools", name);
    keep(tools, (size_t)i, kept, n_kept);
    *force = 1;
    return 0;
}

/* ==== request =================================================================== */

/* reasoning.effort, checked (NULL: the default). */
static int read_effort(const json_t *req, const hm_openai_options *opts, const char **out,
                       hm_openai_error *e)
{
    const json_t *r = json_object_get(req, "reasoning");
    const char *effort = NULL;
    if (r && !json_is_null(r) && !json_is_object(r))
        return hm_map_wrong_type(e, "reasoning", "an object", r);
    if (json_is_object(r) && hm_map_str(r, "effort", "reasoning.effort", 0, &effort, e) < 0)
        return -1;
    return hm_map_effort(effort, opts, "reasoning.effort", out, e);
}

/* `input`: a string, or an array of items. */
static int map_input(hm_mapper *m, const json_t *input)
{
    if (!input || json_is_null(input)) return hm_map_missing(m->e, "input");
    if (json_is_array(input)) return map_items(m, input, "input");
    if (!json_is_string(input))
        return hm_map_wrong_type(m->e, "input", "a string or an array of items", input);
    char *text;
    if (hm_map_text(input, "input", message_parts, &text, m->e) < 0) return -1;
    return hm_map_push(m, HM_ROLE_USER, NULL, NULL, NULL, NULL, text);
}

static int map_request(hm_mapper *m, const json_t *req, const json_t *history,
                       const hm_openai_options *opts)
{
    hm_openai_error *e = m->e;
    if (!json_is_object(req))
        return hm_map_wrong_type(e, "", "a JSON object as the request body", req);
    const char *effort, *instructions;
    if (read_effort(req, opts, &effort, e) < 0 ||
        hm_map_str(req, "instructions", "instructions", 0, &instructions, e) < 0)
        return -1;
    if (history && !json_is_array(history))
        return hm_map_wrong_type(e, "previous_response_id", "an array of items", history);
    hm_map_tool *tools, *kept = NULL;
    size_t n_tools, n_kept = 0;
    int force = 0;
    int rc = read_tools(req, &tools, &n_tools, e);
    if (rc == 0 && n_tools && !(kept = calloc(n_tools, sizeof *kept))) rc = hm_map_oom(e);
    if (rc == 0) rc = apply_tool_choice(req, tools, n_tools, kept, &n_kept, &force, e);
    if (rc == 0) rc = hm_map_start(m, opts, effort);
    if (rc == 0 && instructions) rc = hm_map_instructions(m, instructions);
    if (rc == 0 && history) rc = map_items(m, history, "previous_response_id");
    if (rc == 0) rc = map_input(m, json_object_get(req, "input"));
    if (rc == 0) rc = hm_map_finish(m, kept, n_kept);
    if (rc == 0 && force) rc = hm_map_force_call(m, kept, n_kept);
    free(tools);
    free(kept);
    return rc;
}

int hm_responses_to_conversation(const json_t *request, const json_t *history,
                                 const hm_openai_options *opts, hm_conversation *out,
                                 hm_openai_error *err)
{
    hm_mapper m;
    hm_mapper_init(&m, out, err);
    int rc = map_request(&m, request, history, opts);
    hm_mapper_clear(&m);
    if (rc < 0) hm_conversation_clear(out);
    return rc;
}

json_t *hm_responses_input_items(const json_t *input)
{
    if (json_is_array(input)) return json_incref((json_t *)input);
    if (!json_is_string(input)) return NULL;
    return json_pack("[{s:s, s:s, s:O}]", "type", "message", "role", "user", "content", input);
}
