/* openai_request.c: an OpenAI chat completions request -> a Harmony
 * conversation ready for hm_render(HM_RENDER_COMPLETION).
 *
 *   system      upstream defaults, the configured date, reasoning_effort
 *   developer   "# Instructions": the text of every system/developer message,
 *               in order, joined by a blank line ("\n\n"); then the tools
 *               (after tool_choice). Left out when it would be empty.
 *   user        user message
 *   assistant   reasoning_content|reasoning -> analysis; with tool_calls, the
 *               content is a commentary preamble followed by one call per
 *               tool call; without, the content is the final answer
 *   tool        functions.NAME to=assistant on commentary; NAME comes from
 *               the earlier assistant tool call with the same id
 *
 * System and developer messages are gathered into the one developer message
 * at the top wherever they appear, as the gpt-oss chat template does with
 * its leading system message: the model has a single instruction block.
 * Text parts of a content array are concatenated without separator (upstream
 * renders a message's text contents back to back). Content is stored as text
 * and rendered as text segments, so no special token is ever parsed out of it.
 */
#include "harmony/harmony.h"
#include "harmony/openai_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The part types a chat message's content array may hold. */
static const char *const text_parts[] = {"text", NULL};

/* A message's content as text (malloc'd). null or absent gives *out = NULL
 * when `null_ok`, else an error. */
static int read_content(const json_t *msg, const char *param, int null_ok, char **out,
                        hm_openai_error *e)
{
    const json_t *content = json_object_get(msg, "content");
    *out = NULL;
    if (!content || json_is_null(content)) {
        if (null_ok) return 0;
        return content
                   ? hm_map_wrong_type(e, param, "a string or an array of content parts", content)
                   : hm_map_missing(e, param);
    }
    return hm_map_text(content, param, text_parts, out, e);
}

/* ==== tools =================================================================== */

static int read_tool(const json_t *t, size_t i, hm_map_tool *out, hm_openai_error *e)
{
    char p[128];
    const char *type;
    snprintf(p, sizeof p, "tools[%zu]", i);
    if (!json_is_object(t)) return hm_map_wrong_type(e, p, "an object", t);
    snprintf(p, sizeof p, "tools[%zu].type", i);
    if (hm_map_str(t, "type", p, 1, &type, e) < 0) return -1;
    if (strcmp(type, "function") != 0)
        return hm_map_fail(e, "invalid_value", p,
                           "tool type '%.64s' is not supported; use 'function'", type);
    json_t *fn = json_object_get(t, "function");
    snprintf(p, sizeof p, "tools[%zu].function", i);
    if (!fn) return hm_map_missing(e, p);
    if (!json_is_object(fn)) return hm_map_wrong_type(e, p, "an object", fn);
    return hm_map_function(fn, p, out, e);
}

/* tools[] -> *tools (malloc'd array of borrowed views), *n. */
static int read_tools(const json_t *req, hm_map_tool **tools, size_t *n, hm_openai_error *e)
{
    const json_t *arr = json_object_get(req, "tools");
    *tools = NULL;
    *n = 0;
    if (!arr || json_is_null(arr)) return 0;
    if (!json_is_array(arr)) return hm_map_wrong_type(e, "tools", "an array", arr);
    size_t count = json_array_size(arr);
    if (count == 0) return 0;
    *tools = calloc(count, sizeof **tools);
    if (!*tools) return hm_map_oom(e);
    for (size_t i = 0; i < count; i++) {
        if (read_tool(json_array_get(arr, i), i, &(*tools)[i], e) < 0) return -1;
        if (hm_map_tool_index(*tools, i, (*tools)[i].name) >= 0) {
            char p[128];
            snprintf(p, sizeof p, "tools[%zu].function.name", i);
            return hm_map_fail(e, "invalid_value", p, "duplicate function name '%s'",
                               (*tools)[i].name);
        }
        *n = i + 1;
    }
    return 0;
}

/* tool_choice: "none" keeps no tool, "auto"/"required" (or absent) keep all,
 * {type:"function", function:{name}} keeps that one. Sets *keep_from and
 * *keep_n to the kept slice of tools, and *force to 1 when a call must be
 * made ("required", a function). */
static int apply_tool_choice(const json_t *req, const hm_map_tool *tools, size_t n,
                             size_t *keep_from, size_t *keep_n, int *force, hm_openai_error *e)
{
    const json_t *tc = json_object_get(req, "tool_choice");
    *keep_from = 0;
    *keep_n = n;
    *force = 0;
    if (!tc || json_is_null(tc)) return 0;
    if (json_is_string(tc)) {
        const char *s = json_string_value(tc);
        if (!strcmp(s, "none"))
            *keep_n = 0;
        else if (strcmp(s, "auto") != 0 && strcmp(s, "required") != 0)
            return hm_map_fail(
                e, "invalid_value", "tool_choice",
                "'%.64s' is not one of 'none', 'auto', 'required' or a function choice", s);
        *force = !strcmp(s, "required");
        return 0;
    }
    if (!json_is_object(tc))
        return hm_map_wrong_type(e, "tool_choice", "a string or an object", tc);
    const char *type, *name;
    if (hm_map_str(tc, "type", "tool_choice.type", 1, &type, e) < 0) return -1;
    if (strcmp(type, "function") != 0)
        return hm_map_fail(e, "invalid_value", "tool_choice.type", "'%.64s' is not 'function'",
                           type);
    const json_t *fn = json_object_get(tc, "function");
    if (!fn) return hm_map_missing(e, "tool_choice.function");
    if (!json_is_object(fn)) return hm_map_wrong_type(e, "tool_choice.function", "an object", fn);
    if (hm_map_str(fn, "name", "tool_choice.function.name", 1, &name, e) < 0) return -1;
    long i = hm_map_tool_index(tools, n, name);
    if (i < 0)
        return hm_map_fail(e, "invalid_value", "tool_choice.function.name",
                           "no function named '%.80s' in tools", name);
    *keep_from = (size_t)i;
    *keep_n = 1;
    *force = 1;
    return 0;
}

/* ==== messages ================================================================ */

static int map_instructions(hm_mapper *m, const json_t *msg, const char *param)
{
    char *text;
    if (read_content(msg, param, 0, &text, m->e) < 0) return -1;
    int rc = hm_map_instructions(m, text);
    free(text);
    return rc;
}

/* One tool_calls[j] entry -> an assistant call message. */
static int map_tool_call(hm_mapper *m, const json_t *call, size_t i, size_t j)
{
    char p[128];
    const char *id, *type, *name, *args;
    snprintf(p, sizeof p, "messages[%zu].tool_calls[%zu]", i, j);
    if (!json_is_object(call)) return hm_map_wrong_type(m->e, p, "an object", call);
    snprintf(p, sizeof p, "messages[%zu].tool_calls[%zu].id", i, j);
    if (hm_map_str(call, "id", p, 1, &id, m->e) < 0) return -1;
    snprintf(p, sizeof p, "messages[%zu].tool_calls[%zu].type", i, j);
    if (hm_map_str(call, "type", p, 0, &type, m->e) < 0) return -1;
    if (type && strcmp(type, "function") != 0)
        return hm_map_fail(m->e, "invalid_value", p, "'%.64s' is not 'function'", type);
    const json_t *fn = json_object_get(call, "function");
    snprintf(p, sizeof p, "messages[%zu].tool_calls[%zu].function", i, j);
    if (!fn) return hm_map_missing(m->e, p);
    if (!json_is_object(fn)) return hm_map_wrong_type(m->e, p, "an object", fn);
    snprintf(p, sizeof p, "messages[%zu].tool_calls[%zu].function.name", i, j);
    if (hm_map_str(fn, "name", p, 1, &name, m->e) < 0) return -1;
    if (!*name) return hm_map_fail(m->e, "invalid_value", p, "must not be empty");
    snprintf(p, sizeof p, "messages[%zu].tool_calls[%zu].function.arguments", i, j);
    if (hm_map_str(fn, "arguments", p, 1, &args, m->e) < 0) return -1;
    return hm_map_call(m, id, name, args);
}

static int map_assistant(hm_mapper *m, const json_t *msg, size_t i)
{
    char p[128];
    const char *reasoning;
    snprintf(p, sizeof p, "messages[%zu].reasoning_content", i);
    if (hm_map_str(msg, "reasoning_content", p, 0, &reasoning, m->e) < 0) return -1;
    if (!reasoning || !*reasoning) {
        snprintf(p, sizeof p, "messages[%zu].reasoning", i);
        if (hm_map_str(msg, "reasoning", p, 0, &reasoning, m->e) < 0) return -1;
    }
    const json_t *calls = json_object_get(msg, "tool_calls");
    snprintf(p, sizeof p, "messages[%zu].tool_calls", i);
    if (calls && !json_is_null(calls) && !json_is_array(calls))
        return hm_map_wrong_type(m->e, p, "an array", calls);
    char *content;
    snprintf(p, sizeof p, "messages[%zu].content", i);
    if (read_content(msg, p, 1, &content, m->e) < 0) return -1;
    size_t before = m->out->n_messages;
    if (reasoning && *reasoning) {
        char *r = strdup(reasoning);
        if (!r || hm_map_push(m, HM_ROLE_ASSISTANT, NULL, "analysis", NULL, NULL, r) < 0) {
            free(content);
            return hm_map_oom(m->e);
        }
    }
    size_t n_calls = json_array_size(calls);
    if (content && (*content || (n_calls == 0 && m->out->n_messages == before))) {
        const char *channel = n_calls ? "commentary" : "final";
        if (hm_map_push(m, HM_ROLE_ASSISTANT, NULL, channel, NULL, NULL, content) < 0) return -1;
    } else {
        free(content);
    }
    for (size_t j = 0; j < n_calls; j++)
        if (map_tool_call(m, json_array_get(calls, j), i, j) < 0) return -1;
    if (m->out->n_messages == before) {
        char *empty = strdup("");
        if (!empty) return hm_map_oom(m->e);
        return hm_map_push(m, HM_ROLE_ASSISTANT, NULL, "final", NULL, NULL, empty);
    }
    return 0;
}

static int map_tool_result(hm_mapper *m, const json_t *msg, size_t i)
{
    char p[128];
    const char *id;
    snprintf(p, sizeof p, "messages[%zu].tool_call_id", i);
    if (hm_map_str(msg, "tool_call_id", p, 1, &id, m->e) < 0) return -1;
    const char *name = hm_map_call_name(m, id);
    if (!name)
        return hm_map_fail(m->e, "invalid_value", p,
                           "no earlier assistant tool call has id '%.80s'", id);
    char *content;
    snprintf(p, sizeof p, "messages[%zu].content", i);
    if (read_content(msg, p, 0, &content, m->e) < 0) return -1;
    return hm_map_tool_result(m, name, content);
}

static int map_message(hm_mapper *m, const json_t *msg, size_t i)
{
    char p[128];
    const char *role;
    snprintf(p, sizeof p, "messages[%zu]", i);
    if (!json_is_object(msg)) return hm_map_wrong_type(m->e, p, "a message object", msg);
    snprintf(p, sizeof p, "messages[%zu].role", i);
    if (hm_map_str(msg, "role", p, 1, &role, m->e) < 0) return -1;
    char cp[128];
    snprintf(cp, sizeof cp, "messages[%zu].content", i);
    if (!strcmp(role, "system") || !strcmp(role, "developer")) return map_instructions(m, msg, cp);
    if (!strcmp(role, "user")) {
        char *content;
        if (read_content(msg, cp, 0, &content, m->e) < 0) return -1;
        return hm_map_push(m, HM_ROLE_USER, NULL, NULL, NULL, NULL, content);
    }
    if (!strcmp(role, "assistant")) return map_assistant(m, msg, i);
    if (!strcmp(role, "tool")) return map_tool_result(m, msg, i);
    return hm_map_fail(m->e, "invalid_value", p,
                       "role '%.64s' is not one of system, developer, user, assistant, tool", role);
}

/* ==== request ================================================================= */

static int map_request(hm_mapper *m, const json_t *req, const hm_openai_options *opts)
{
    hm_openai_error *e = m->e;
    if (!json_is_object(req))
        return hm_map_wrong_type(e, "", "a JSON object as the request body", req);
    const json_t *msgs = json_object_get(req, "messages");
    if (!msgs) return hm_map_missing(e, "messages");
    if (!json_is_array(msgs)) return hm_map_wrong_type(e, "messages", "an array", msgs);
    if (json_array_size(msgs) == 0)
        return hm_map_fail(e, "invalid_value", "messages", "must contain at least one message");
    const char *effort = NULL;
    if (hm_map_str(req, "reasoning_effort", "reasoning_effort", 0, &effort, e) < 0 ||
        hm_map_effort(effort, opts, "reasoning_effort", &effort, e) < 0)
        return -1;
    hm_map_tool *tools;
    size_t n_tools, keep_from, keep_n;
    int force;
    int rc = read_tools(req, &tools, &n_tools, e);
    if (rc == 0) rc = apply_tool_choice(req, tools, n_tools, &keep_from, &keep_n, &force, e);
    if (rc == 0) rc = hm_map_start(m, opts, effort);
    for (size_t i = 0; rc == 0 && i < json_array_size(msgs); i++)
        rc = map_message(m, json_array_get(msgs, i), i);
    if (rc == 0) rc = hm_map_finish(m, keep_n ? tools + keep_from : NULL, keep_n);
    /* tool_choice 'required' with no tools forces nothing (and tools is NULL) */
    if (rc == 0 && force && keep_n) rc = hm_map_force_call(m, tools + keep_from, keep_n);
    free(tools);
    return rc;
}

int hm_openai_chat_to_conversation(const json_t *request, const hm_openai_options *opts,
                                   hm_conversation *out, hm_openai_error *err)
{
    hm_mapper m;
    hm_mapper_init(&m, out, err);
    int rc = map_request(&m, request, opts);
    hm_mapper_clear(&m);
    if (rc < 0) hm_conversation_clear(out);
    return rc;
}
