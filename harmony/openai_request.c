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
#include "harmony/strbuf.h"
#include "common/json_type.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ==== errors ================================================================== */

/* Fills e (param, code, "param: message") and returns -1. */
__attribute__((format(printf, 4, 5))) static int req_fail(hm_openai_error *e, const char *code,
                                                          const char *param, const char *fmt, ...)
{
    if (!e) return -1;
    snprintf(e->param, sizeof e->param, "%s", param);
    snprintf(e->code, sizeof e->code, "%s", code);
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (*param)
        snprintf(e->message, sizeof e->message, "%s: %s", param, msg);
    else
        snprintf(e->message, sizeof e->message, "%s", msg);
    return -1;
}

static int oom(hm_openai_error *e)
{
    return req_fail(e, "out_of_memory", "", "out of memory while mapping the request");
}

static int missing(hm_openai_error *e, const char *param)
{
    return req_fail(e, "missing_field", param, "required field is missing");
}

static int wrong_type(hm_openai_error *e, const char *param, const char *want, const json_t *got)
{
    return req_fail(e, "invalid_type", param, "expected %s, got %s", want, fk_json_type_name(got));
}

/* ==== field readers =========================================================== */

/* obj[key] as a string. Absent (or null when `null_ok`) gives *out = NULL
 * and 0 unless `required`. A string with a NUL character is refused. */
static int read_str(const json_t *obj, const char *key, const char *param, int required,
                    const char **out, hm_openai_error *e)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) return required ? missing(e, param) : 0;
    if (!json_is_string(v)) return wrong_type(e, param, "a string", v);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return req_fail(e, "invalid_value", param, "contains a NUL character");
    *out = json_string_value(v);
    return 0;
}

/* A message's content as text (malloc'd): a string, or an array of
 * {type:"text", text} parts concatenated. null or absent gives *out = NULL
 * when `null_ok`, else an error. */
static int read_content(const json_t *msg, const char *param, int null_ok, char **out,
                        hm_openai_error *e)
{
    const json_t *content = json_object_get(msg, "content");
    *out = NULL;
    if (!content || json_is_null(content)) {
        if (null_ok) return 0;
        return content ? wrong_type(e, param, "a string or an array of content parts", content)
                       : missing(e, param);
    }
    if (json_is_string(content)) {
        const char *s;
        if (read_str(msg, "content", param, 1, &s, e) < 0) return -1;
        return (*out = strdup(s)) ? 0 : oom(e);
    }
    if (!json_is_array(content))
        return wrong_type(e, param, "a string or an array of content parts", content);
    strbuf b;
    strbuf_init(&b);
    for (size_t i = 0; i < json_array_size(content); i++) {
        const json_t *partv = json_array_get(content, i);
        char p[128];
        const char *type, *text;
        snprintf(p, sizeof p, "%s[%zu]", param, i);
        if (!json_is_object(partv)) {
            strbuf_clear(&b);
            return wrong_type(e, p, "a content part object", partv);
        }
        snprintf(p, sizeof p, "%s[%zu].type", param, i);
        if (read_str(partv, "type", p, 1, &type, e) < 0) goto fail;
        if (strcmp(type, "text") != 0) {
            req_fail(e, "invalid_value", p,
                     "content part type '%.64s' is not supported here; only 'text' parts are",
                     type);
            goto fail;
        }
        snprintf(p, sizeof p, "%s[%zu].text", param, i);
        if (read_str(partv, "text", p, 1, &text, e) < 0) goto fail;
        strbuf_append_str(&b, text);
    }
    if (b.oom) {
        strbuf_clear(&b);
        return oom(e);
    }
    *out = strbuf_take(&b, NULL);
    return *out ? 0 : oom(e);
fail:
    strbuf_clear(&b);
    return -1;
}

/* ==== tools =================================================================== */

/* One function tool as read from the request (strings borrowed from it). */
typedef struct req_tool {
    const char *name;        /* function.name */
    const char *description; /* function.description or NULL */
    json_t *parameters;      /* function.parameters or NULL (borrowed) */
} req_tool;

/* OpenAI's rule for function names: ^[a-zA-Z0-9_-]{1,64}$. */
static int valid_tool_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* serde_json's nesting limit: upstream cannot read a deeper schema. */
#define PARAMETERS_MAX_DEPTH 128

/* 1 if v holds arrays/objects nested more than `levels` deep. */
static int nested_deeper_than(const json_t *v, int levels)
{
    if (!json_is_object(v) && !json_is_array(v)) return 0;
    if (levels == 0) return 1;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (nested_deeper_than(json_array_get(v, i), levels - 1)) return 1;
        return 0;
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val) if (nested_deeper_than(val, levels - 1)) return 1;
    return 0;
}

static int read_tool(const json_t *t, size_t i, req_tool *out, hm_openai_error *e)
{
    char p[128];
    const char *type;
    snprintf(p, sizeof p, "tools[%zu]", i);
    if (!json_is_object(t)) return wrong_type(e, p, "an object", t);
    snprintf(p, sizeof p, "tools[%zu].type", i);
    if (read_str(t, "type", p, 1, &type, e) < 0) return -1;
    if (strcmp(type, "function") != 0)
        return req_fail(e, "invalid_value", p, "tool type '%.64s' is not supported; use 'function'",
                        type);
    json_t *fn = json_object_get(t, "function");
    snprintf(p, sizeof p, "tools[%zu].function", i);
    if (!fn) return missing(e, p);
    if (!json_is_object(fn)) return wrong_type(e, p, "an object", fn);
    snprintf(p, sizeof p, "tools[%zu].function.name", i);
    if (read_str(fn, "name", p, 1, &out->name, e) < 0) return -1;
    if (!valid_tool_name(out->name))
        return req_fail(e, "invalid_value", p,
                        "'%.80s' is not a valid function name (^[a-zA-Z0-9_-]{1,64}$)", out->name);
    snprintf(p, sizeof p, "tools[%zu].function.description", i);
    if (read_str(fn, "description", p, 0, &out->description, e) < 0) return -1;
    json_t *params = json_object_get(fn, "parameters");
    snprintf(p, sizeof p, "tools[%zu].function.parameters", i);
    if (params && !json_is_null(params) && !json_is_object(params))
        return wrong_type(e, p, "a JSON Schema object", params);
    if (json_is_object(params) && nested_deeper_than(params, PARAMETERS_MAX_DEPTH))
        return req_fail(e, "invalid_value", p, "the schema is nested deeper than %d levels",
                        PARAMETERS_MAX_DEPTH);
    out->parameters = json_is_object(params) ? params : NULL;
    return 0;
}

/* tools[] -> *tools (malloc'd array of borrowed views), *n. */
static int read_tools(const json_t *req, req_tool **tools, size_t *n, hm_openai_error *e)
{
    const json_t *arr = json_object_get(req, "tools");
    *tools = NULL;
    *n = 0;
    if (!arr || json_is_null(arr)) return 0;
    if (!json_is_array(arr)) return wrong_type(e, "tools", "an array", arr);
    size_t count = json_array_size(arr);
    if (count == 0) return 0;
    *tools = calloc(count, sizeof **tools);
    if (!*tools) return oom(e);
    for (size_t i = 0; i < count; i++) {
        if (read_tool(json_array_get(arr, i), i, &(*tools)[i], e) < 0) return -1;
        for (size_t j = 0; j < i; j++)
            if (!strcmp((*tools)[j].name, (*tools)[i].name)) {
                char p[128];
                snprintf(p, sizeof p, "tools[%zu].function.name", i);
                return req_fail(e, "invalid_value", p, "duplicate function name '%s'",
                                (*tools)[i].name);
            }
        *n = i + 1;
    }
    return 0;
}

/* tool_choice: "none" keeps no tool, "auto"/"required" (or absent) keep all,
 * {type:"function", function:{name}} keeps that one. Sets *keep_from and
 * *keep_n to the kept slice of tools. */
static int apply_tool_choice(const json_t *req, const req_tool *tools, size_t n, size_t *keep_from,
                             size_t *keep_n, hm_openai_error *e)
{
    const json_t *tc = json_object_get(req, "tool_choice");
    *keep_from = 0;
    *keep_n = n;
    if (!tc || json_is_null(tc)) return 0;
    if (json_is_string(tc)) {
        const char *s = json_string_value(tc);
        if (!strcmp(s, "none"))
            *keep_n = 0;
        else if (strcmp(s, "auto") != 0 && strcmp(s, "required") != 0)
            return req_fail(e, "invalid_value", "tool_choice",
                            "'%.64s' is not one of 'none', 'auto', 'required' or a function choice",
                            s);
        return 0;
    }
    if (!json_is_object(tc)) return wrong_type(e, "tool_choice", "a string or an object", tc);
    const char *type, *name;
    if (read_str(tc, "type", "tool_choice.type", 1, &type, e) < 0) return -1;
    if (strcmp(type, "function") != 0)
        return req_fail(e, "invalid_value", "tool_choice.type", "'%.64s' is not 'function'", type);
    const json_t *fn = json_object_get(tc, "function");
    if (!fn) return missing(e, "tool_choice.function");
    if (!json_is_object(fn)) return wrong_type(e, "tool_choice.function", "an object", fn);
    if (read_str(fn, "name", "tool_choice.function.name", 1, &name, e) < 0) return -1;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(tools[i].name, name)) {
            *keep_from = i;
            *keep_n = 1;
            return 0;
        }
    return req_fail(e, "invalid_value", "tool_choice.function.name",
                    "no function named '%.80s' in tools", name);
}

/* ==== messages ================================================================ */

/* Tool call ids seen so far, to name tool results (strings borrowed). */
typedef struct call_ids {
    const char **ids;   /* tool_calls[].id */
    const char **names; /* tool_calls[].function.name */
    size_t n, cap;
} call_ids;

static int call_ids_add(call_ids *c, const char *id, const char *name)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        const char **ids = realloc(c->ids, cap * sizeof *ids);
        if (!ids) return -1;
        c->ids = ids;
        const char **names = realloc(c->names, cap * sizeof *names);
        if (!names) return -1;
        c->names = names;
        c->cap = cap;
    }
    c->ids[c->n] = id;
    c->names[c->n++] = name;
    return 0;
}

/* The function name of the latest earlier call with this id, or NULL. */
static const char *call_ids_find(const call_ids *c, const char *id)
{
    for (size_t i = c->n; i-- > 0;)
        if (!strcmp(c->ids[i], id)) return c->names[i];
    return NULL;
}

/* Everything one request's mapping carries along. */
typedef struct mapper {
    hm_conversation *out; /* the conversation being built */
    strbuf instructions;  /* system/developer texts, "\n\n"-joined */
    int has_instructions; /* 1 once a non-empty system/developer text was seen */
    call_ids calls;       /* assistant tool calls seen so far */
    hm_openai_error *e;   /* where errors go */
} mapper;

/* Appends a message with copies of the given strings (each may be NULL);
 * takes ownership of `content`. */
static int push(mapper *m, hm_role role, const char *name, const char *channel,
                const char *recipient, const char *content_type, char *content)
{
    hm_message *msg = hm_conversation_push(m->out, role);
    if (!msg) {
        free(content);
        return oom(m->e);
    }
    msg->content = content;
    if ((name && !(msg->name = strdup(name))) || (channel && !(msg->channel = strdup(channel))) ||
        (recipient && !(msg->recipient = strdup(recipient))) ||
        (content_type && !(msg->content_type = strdup(content_type))))
        return oom(m->e);
    return 0;
}

static int map_instructions(mapper *m, const json_t *msg, const char *param)
{
    char *text;
    if (read_content(msg, param, 0, &text, m->e) < 0) return -1;
    if (*text) {
        if (m->has_instructions) strbuf_append_str(&m->instructions, "\n\n");
        strbuf_append_str(&m->instructions, text);
        m->has_instructions = 1;
    }
    free(text);
    return m->instructions.oom ? oom(m->e) : 0;
}

/* "functions.NAME" (malloc'd). */
static char *function_recipient(const char *name)
{
    strbuf b;
    strbuf_init(&b);
    strbuf_append_str(&b, "functions.");
    strbuf_append_str(&b, name);
    if (b.oom) {
        strbuf_clear(&b);
        return NULL;
    }
    return strbuf_take(&b, NULL);
}

/* One tool_calls[j] entry -> an assistant call message. */
static int map_tool_call(mapper *m, const json_t *call, size_t i, size_t j)
{
    char p[128];
    const char *id, *type, *name, *args;
    snprintf(p, sizeof p, "messages[%zu].tool_calls[%zu]", i, j);
    if (!json_is_object(call)) return wrong_type(m->e, p, "an object", call);
    snprintf(p, sizeof p, "messages[%zu].tool_calls[%zu].id", i, j);
    if (read_str(call, "id", p, 1, &id, m->e) < 0) return -1;
    snprintf(p, sizeof p, "messages[%zu].tool_calls[%zu].type", i, j);
    if (read_str(call, "type", p, 0, &type, m->e) < 0) return -1;
    if (type && strcmp(type, "function") != 0)
        return req_fail(m->e, "invalid_value", p, "'%.64s' is not 'function'", type);
    const json_t *fn = json_object_get(call, "function");
    snprintf(p, sizeof p, "messages[%zu].tool_calls[%zu].function", i, j);
    if (!fn) return missing(m->e, p);
    if (!json_is_object(fn)) return wrong_type(m->e, p, "an object", fn);
    snprintf(p, sizeof p, "messages[%zu].tool_calls[%zu].function.name", i, j);
    if (read_str(fn, "name", p, 1, &name, m->e) < 0) return -1;
    if (!*name) return req_fail(m->e, "invalid_value", p, "must not be empty");
    snprintf(p, sizeof p, "messages[%zu].tool_calls[%zu].function.arguments", i, j);
    if (read_str(fn, "arguments", p, 1, &args, m->e) < 0) return -1;
    char *recipient = function_recipient(name);
    char *content = strdup(args);
    if (!recipient || !content || call_ids_add(&m->calls, id, name) < 0) {
        free(recipient);
        free(content);
        return oom(m->e);
    }
    int rc =
        push(m, HM_ROLE_ASSISTANT, NULL, "commentary", recipient, "<|constrain|>json", content);
    free(recipient);
    return rc;
}

static int map_assistant(mapper *m, const json_t *msg, size_t i)
{
    char p[128];
    const char *reasoning;
    snprintf(p, sizeof p, "messages[%zu].reasoning_content", i);
    if (read_str(msg, "reasoning_content", p, 0, &reasoning, m->e) < 0) return -1;
    if (!reasoning || !*reasoning) {
        snprintf(p, sizeof p, "messages[%zu].reasoning", i);
        if (read_str(msg, "reasoning", p, 0, &reasoning, m->e) < 0) return -1;
    }
    const json_t *calls = json_object_get(msg, "tool_calls");
    snprintf(p, sizeof p, "messages[%zu].tool_calls", i);
    if (calls && !json_is_null(calls) && !json_is_array(calls))
        return wrong_type(m->e, p, "an array", calls);
    char *content;
    snprintf(p, sizeof p, "messages[%zu].content", i);
    if (read_content(msg, p, 1, &content, m->e) < 0) return -1;
    size_t before = m->out->n_messages;
    if (reasoning && *reasoning) {
        char *r = strdup(reasoning);
        if (!r || push(m, HM_ROLE_ASSISTANT, NULL, "analysis", NULL, NULL, r) < 0) {
            free(content);
            return oom(m->e);
        }
    }
    size_t n_calls = json_array_size(calls);
    if (content && (*content || (n_calls == 0 && m->out->n_messages == before))) {
        const char *channel = n_calls ? "commentary" : "final";
        if (push(m, HM_ROLE_ASSISTANT, NULL, channel, NULL, NULL, content) < 0) return -1;
    } else {
        free(content);
    }
    for (size_t j = 0; j < n_calls; j++)
        if (map_tool_call(m, json_array_get(calls, j), i, j) < 0) return -1;
    if (m->out->n_messages == before) {
        char *empty = strdup("");
        if (!empty) return oom(m->e);
        return push(m, HM_ROLE_ASSISTANT, NULL, "final", NULL, NULL, empty);
    }
    return 0;
}

static int map_tool_result(mapper *m, const json_t *msg, size_t i)
{
    char p[128];
    const char *id;
    snprintf(p, sizeof p, "messages[%zu].tool_call_id", i);
    if (read_str(msg, "tool_call_id", p, 1, &id, m->e) < 0) return -1;
    const char *name = call_ids_find(&m->calls, id);
    if (!name)
        return req_fail(m->e, "invalid_value", p, "no earlier assistant tool call has id '%.80s'",
                        id);
    char *content;
    snprintf(p, sizeof p, "messages[%zu].content", i);
    if (read_content(msg, p, 0, &content, m->e) < 0) return -1;
    char *author = function_recipient(name);
    if (!author) {
        free(content);
        return oom(m->e);
    }
    int rc = push(m, HM_ROLE_TOOL, author, "commentary", "assistant", NULL, content);
    free(author);
    return rc;
}

static int map_message(mapper *m, const json_t *msg, size_t i)
{
    char p[128];
    const char *role;
    snprintf(p, sizeof p, "messages[%zu]", i);
    if (!json_is_object(msg)) return wrong_type(m->e, p, "a message object", msg);
    snprintf(p, sizeof p, "messages[%zu].role", i);
    if (read_str(msg, "role", p, 1, &role, m->e) < 0) return -1;
    char cp[128];
    snprintf(cp, sizeof cp, "messages[%zu].content", i);
    if (!strcmp(role, "system") || !strcmp(role, "developer")) return map_instructions(m, msg, cp);
    if (!strcmp(role, "user")) {
        char *content;
        if (read_content(msg, cp, 0, &content, m->e) < 0) return -1;
        return push(m, HM_ROLE_USER, NULL, NULL, NULL, NULL, content);
    }
    if (!strcmp(role, "assistant")) return map_assistant(m, msg, i);
    if (!strcmp(role, "tool")) return map_tool_result(m, msg, i);
    return req_fail(m->e, "invalid_value", p,
                    "role '%.64s' is not one of system, developer, user, assistant, tool", role);
}

/* ==== request ================================================================= */

static int reasoning_effort(const json_t *req, const hm_openai_options *opts, const char **out,
                            hm_openai_error *e)
{
    const char *effort;
    if (read_str(req, "reasoning_effort", "reasoning_effort", 0, &effort, e) < 0) return -1;
    int from_request = effort != NULL;
    if (!effort) effort = opts && opts->default_effort ? opts->default_effort : "medium";
    if (strcmp(effort, "low") && strcmp(effort, "medium") && strcmp(effort, "high"))
        return req_fail(e, "invalid_value", "reasoning_effort",
                        from_request
                            ? "'%.64s' is not one of low, medium, high"
                            : "the server's default effort '%.64s' is not low, medium or high",
                        effort);
    *out = effort;
    return 0;
}

/* Today's date in UTC, "YYYY-MM-DD". */
static void today_utc(char out[16])
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

/* Fills the developer message at index 0 with the instructions and the kept
 * tools, or removes it when it would be empty. */
static int finish_developer(mapper *m, const req_tool *tools, size_t n_tools)
{
    hm_message *dev = &m->out->messages[0];
    if (!m->has_instructions && n_tools == 0) {
        memmove(m->out->messages, m->out->messages + 1,
                (m->out->n_messages - 1) * sizeof *m->out->messages);
        m->out->n_messages--;
        return 0;
    }
    if (m->has_instructions && !(dev->instructions = strbuf_take(&m->instructions, NULL)))
        return oom(m->e);
    if (n_tools == 0) return 0;
    dev->has_function_tools = 1;
    dev->tools = calloc(n_tools, sizeof *dev->tools);
    if (!dev->tools) return oom(m->e);
    for (size_t i = 0; i < n_tools; i++) {
        hm_tool *t = &dev->tools[dev->n_tools++];
        if (!(t->name = strdup(tools[i].name)) ||
            (tools[i].description && !(t->description = strdup(tools[i].description))))
            return oom(m->e);
        t->parameters = tools[i].parameters ? json_incref(tools[i].parameters) : NULL;
    }
    return 0;
}

/* Upstream's default system message with the configured (or today's) date
 * and the effort. */
static int system_message(hm_conversation *out, const hm_openai_options *opts, const char *effort,
                          hm_openai_error *e)
{
    char date[16];
    const char *when = opts && opts->current_date ? opts->current_date : NULL;
    if (!when) {
        today_utc(date);
        when = date;
    }
    char *effort_copy = strdup(effort);
    if (!effort_copy || hm_system_set_defaults(&out->system, when) < 0) {
        free(effort_copy);
        return oom(e);
    }
    free(out->system.reasoning_effort);
    out->system.reasoning_effort = effort_copy;
    out->has_system = 1;
    return 0;
}

static int map_request(mapper *m, const json_t *req, const hm_openai_options *opts)
{
    hm_openai_error *e = m->e;
    if (!json_is_object(req)) return wrong_type(e, "", "a JSON object as the request body", req);
    const json_t *msgs = json_object_get(req, "messages");
    if (!msgs) return missing(e, "messages");
    if (!json_is_array(msgs)) return wrong_type(e, "messages", "an array", msgs);
    if (json_array_size(msgs) == 0)
        return req_fail(e, "invalid_value", "messages", "must contain at least one message");
    const char *effort = NULL;
    if (reasoning_effort(req, opts, &effort, e) < 0) return -1;
    req_tool *tools;
    size_t n_tools, keep_from, keep_n;
    int rc = read_tools(req, &tools, &n_tools, e);
    if (rc == 0) rc = apply_tool_choice(req, tools, n_tools, &keep_from, &keep_n, e);
    if (rc == 0) rc = system_message(m->out, opts, effort, e);
    if (rc == 0 && !hm_conversation_push(m->out, HM_ROLE_DEVELOPER)) rc = oom(e);
    for (size_t i = 0; rc == 0 && i < json_array_size(msgs); i++)
        rc = map_message(m, json_array_get(msgs, i), i);
    if (rc == 0) rc = finish_developer(m, keep_n ? tools + keep_from : NULL, keep_n);
    free(tools);
    return rc;
}

int hm_openai_chat_to_conversation(const json_t *request, const hm_openai_options *opts,
                                   hm_conversation *out, hm_openai_error *err)
{
    mapper m = {.out = out, .e = err};
    hm_conversation_init(out);
    strbuf_init(&m.instructions);
    if (err) memset(err, 0, sizeof *err);
    int rc = map_request(&m, request, opts);
    strbuf_clear(&m.instructions);
    free(m.calls.ids);
    free(m.calls.names);
    if (rc < 0) hm_conversation_clear(out);
    return rc;
}
