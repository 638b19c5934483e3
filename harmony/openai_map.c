/* openai_map.c: the shared half of the OpenAI request mappers (see openai_map.h). */
#include "harmony/openai_map.h"

#include "common/json_type.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ==== errors ================================================================== */

int hm_map_fail(hm_openai_error *e, const char *code, const char *param, const char *fmt, ...)
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

int hm_map_oom(hm_openai_error *e)
{
    return hm_map_fail(e, "out_of_memory", "", "out of memory while mapping the request");
}

int hm_map_missing(hm_openai_error *e, const char *param)
{
    return hm_map_fail(e, "missing_field", param, "required field is missing");
}

int hm_map_wrong_type(hm_openai_error *e, const char *param, const char *want, const json_t *got)
{
    return hm_map_fail(e, "invalid_type", param, "expected %s, got %s", want,
                       fk_json_type_name(got));
}

/* ==== field readers =========================================================== */

int hm_map_str(const json_t *obj, const char *key, const char *param, int required,
               const char **out, hm_openai_error *e)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) return required ? hm_map_missing(e, param) : 0;
    if (!json_is_string(v)) return hm_map_wrong_type(e, param, "a string", v);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return hm_map_fail(e, "invalid_value", param, "contains a NUL character");
    *out = json_string_value(v);
    return 0;
}

/* 1 if `type` is one of the NULL-terminated `types`. */
static int one_of(const char *type, const char *const *types)
{
    for (; *types; types++)
        if (!strcmp(type, *types)) return 1;
    return 0;
}

/* "'a'", "'a' or 'b'", "'a', 'b' or 'c'" into b. */
static void name_types(strbuf *b, const char *const *types)
{
    for (size_t i = 0; types[i]; i++) {
        if (i) strbuf_append_str(b, types[i + 1] ? ", " : " or ");
        strbuf_printf(b, "'%s'", types[i]);
    }
}

int hm_map_text(const json_t *content, const char *param, const char *const *types, char **out,
                hm_openai_error *e)
{
    *out = NULL;
    if (json_is_string(content)) {
        if (strlen(json_string_value(content)) != json_string_length(content))
            return hm_map_fail(e, "invalid_value", param, "contains a NUL character");
        return (*out = strdup(json_string_value(content))) ? 0 : hm_map_oom(e);
    }
    if (!json_is_array(content))
        return hm_map_wrong_type(e, param, "a string or an array of content parts", content);
    strbuf b;
    strbuf_init(&b);
    for (size_t i = 0; i < json_array_size(content); i++) {
        const json_t *part = json_array_get(content, i);
        char p[160];
        const char *type, *text;
        snprintf(p, sizeof p, "%s[%zu]", param, i);
        if (!json_is_object(part)) {
            strbuf_clear(&b);
            return hm_map_wrong_type(e, p, "a content part object", part);
        }
        snprintf(p, sizeof p, "%s[%zu].type", param, i);
        if (hm_map_str(part, "type", p, 1, &type, e) < 0) goto fail;
        if (!one_of(type, types)) {
            strbuf names;
            strbuf_init(&names);
            name_types(&names, types);
            hm_map_fail(e, "invalid_value", p,
                        "content part type '%.64s' is not supported here; only %s parts are", type,
                        names.data ? names.data : "text");
            strbuf_clear(&names);
            goto fail;
        }
        snprintf(p, sizeof p, "%s[%zu].text", param, i);
        if (hm_map_str(part, "text", p, 1, &text, e) < 0) goto fail;
        strbuf_append_str(&b, text);
    }
    if (b.oom) {
        strbuf_clear(&b);
        return hm_map_oom(e);
    }
    *out = strbuf_take(&b, NULL);
    return *out ? 0 : hm_map_oom(e);
fail:
    strbuf_clear(&b);
    return -1;
}

/* ==== function tools ============================================================ */

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

int hm_map_function(const json_t *fn, const char *where, hm_map_tool *out, hm_openai_error *e)
{
    char p[128];
    snprintf(p, sizeof p, "%s.name", where);
    if (hm_map_str(fn, "name", p, 1, &out->name, e) < 0) return -1;
    if (!valid_tool_name(out->name))
        return hm_map_fail(e, "invalid_value", p,
                           "'%.80s' is not a valid function name (^[a-zA-Z0-9_-]{1,64}$)",
                           out->name);
    snprintf(p, sizeof p, "%s.description", where);
    if (hm_map_str(fn, "description", p, 0, &out->description, e) < 0) return -1;
    json_t *params = json_object_get(fn, "parameters");
    snprintf(p, sizeof p, "%s.parameters", where);
    if (params && !json_is_null(params) && !json_is_object(params))
        return hm_map_wrong_type(e, p, "a JSON Schema object", params);
    if (json_is_object(params) && nested_deeper_than(params, PARAMETERS_MAX_DEPTH))
        return hm_map_fail(e, "invalid_value", p, "the schema is nested deeper than %d levels",
                           PARAMETERS_MAX_DEPTH);
    out->parameters = json_is_object(params) ? params : NULL;
    return 0;
}

long hm_map_tool_index(const hm_map_tool *tools, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(tools[i].name, name)) return (long)i;
    return -1;
}

/* ==== the conversation being built ================================================ */

void hm_mapper_init(hm_mapper *m, hm_conversation *out, hm_openai_error *e)
{
    memset(m, 0, sizeof *m);
    m->out = out;
    m->e = e;
    hm_conversation_init(out);
    strbuf_init(&m->instructions);
    if (e) memset(e, 0, sizeof *e);
}

void hm_mapper_clear(hm_mapper *m)
{
    strbuf_clear(&m->instructions);
    free(m->calls.ids);
    free(m->calls.names);
    m->calls = (hm_map_calls){0};
}

static int calls_add(hm_map_calls *c, const char *id, const char *name)
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

const char *hm_map_call_name(const hm_mapper *m, const char *id)
{
    for (size_t i = m->calls.n; i-- > 0;)
        if (!strcmp(m->calls.ids[i], id)) return m->calls.names[i];
    return NULL;
}

int hm_map_effort(const char *effort, const hm_openai_options *opts, const char *param,
                  const char **out, hm_openai_error *e)
{
    int from_request = effort != NULL;
    if (!effort) effort = opts && opts->default_effort ? opts->default_effort : "medium";
    if (strcmp(effort, "low") && strcmp(effort, "medium") && strcmp(effort, "high"))
        return hm_map_fail(e, "invalid_value", param,
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

int hm_map_start(hm_mapper *m, const hm_openai_options *opts, const char *effort)
{
    char date[16];
    const char *when = opts && opts->current_date ? opts->current_date : NULL;
    if (!when) {
        today_utc(date);
        when = date;
    }
    char *effort_copy = strdup(effort);
    if (!effort_copy || hm_system_set_defaults(&m->out->system, when) < 0) {
        free(effort_copy);
        return hm_map_oom(m->e);
    }
    free(m->out->system.reasoning_effort);
    m->out->system.reasoning_effort = effort_copy;
    m->out->has_system = 1;
    return hm_conversation_push(m->out, HM_ROLE_DEVELOPER) ? 0 : hm_map_oom(m->e);
}

int hm_map_instructions(hm_mapper *m, const char *text)
{
    if (!*text) return 0;
    if (m->has_instructions) strbuf_append_str(&m->instructions, "\n\n");
    strbuf_append_str(&m->instructions, text);
    m->has_instructions = 1;
    return m->instructions.oom ? hm_map_oom(m->e) : 0;
}

int hm_map_push(hm_mapper *m, hm_role role, const char *name, const char *channel,
                const char *recipient, const char *content_type, char *content)
{
    hm_message *msg = hm_conversation_push(m->out, role);
    if (!msg) {
        free(content);
        return hm_map_oom(m->e);
    }
    msg->content = content;
    if ((name && !(msg->name = strdup(name))) || (channel && !(msg->channel = strdup(channel))) ||
        (recipient && !(msg->recipient = strdup(recipient))) ||
        (content_type && !(msg->content_type = strdup(content_type))))
        return hm_map_oom(m->e);
    return 0;
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

int hm_map_call(hm_mapper *m, const char *id, const char *name, const char *arguments)
{
    char *recipient = function_recipient(name);
    char *content = strdup(arguments);
    if (!recipient || !content || calls_add(&m->calls, id, name) < 0) {
        free(recipient);
        free(content);
        return hm_map_oom(m->e);
    }
    int rc = hm_map_push(m, HM_ROLE_ASSISTANT, NULL, "commentary", recipient, "<|constrain|>json",
                         content);
    free(recipient);
    return rc;
}

int hm_map_tool_result(hm_mapper *m, const char *name, char *content)
{
    char *author = function_recipient(name);
    if (!author) {
        free(content);
        return hm_map_oom(m->e);
    }
    int rc = hm_map_push(m, HM_ROLE_TOOL, author, "commentary", "assistant", NULL, content);
    free(author);
    return rc;
}

int hm_map_finish(hm_mapper *m, const hm_map_tool *tools, size_t n)
{
    hm_message *dev = &m->out->messages[0];
    if (!m->has_instructions && n == 0) {
        memmove(m->out->messages, m->out->messages + 1,
                (m->out->n_messages - 1) * sizeof *m->out->messages);
        m->out->n_messages--;
        return 0;
    }
    if (m->has_instructions && !(dev->instructions = strbuf_take(&m->instructions, NULL)))
        return hm_map_oom(m->e);
    if (n == 0) return 0;
    dev->has_function_tools = 1;
    dev->tools = calloc(n, sizeof *dev->tools);
    if (!dev->tools) return hm_map_oom(m->e);
    for (size_t i = 0; i < n; i++) {
        hm_tool *t = &dev->tools[dev->n_tools++];
        if (!(t->name = strdup(tools[i].name)) ||
            (tools[i].description && !(t->description = strdup(tools[i].description))))
            return hm_map_oom(m->e);
        t->parameters = tools[i].parameters ? json_incref(tools[i].parameters) : NULL;
    }
    return 0;
}

int hm_map_force_call(hm_mapper *m, const hm_map_tool *tools, size_t n)
{
    if (n == 0) return 0;
    m->out->forced_call = n == 1 ? function_recipient(tools[0].name) : strdup("functions.");
    return m->out->forced_call ? 0 : hm_map_oom(m->e);
}
