/* conversation.c: the conversation model (system, developer and chat
 * messages), upstream's system defaults, and loading a render vector's
 * "system"/"messages" objects (tests/fixtures/harmony/README.md). */
#include "harmony/harmony.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== lifetime ================================================================ */

void hm_conversation_init(hm_conversation *c)
{
    memset(c, 0, sizeof *c);
}

static void tool_clear(hm_tool *t)
{
    free(t->name);
    free(t->description);
    json_decref(t->parameters);
}

static void message_clear(hm_message *m)
{
    free(m->name);
    free(m->channel);
    free(m->recipient);
    free(m->content_type);
    free(m->content);
    free(m->instructions);
    for (size_t i = 0; i < m->n_tools; i++) tool_clear(&m->tools[i]);
    free(m->tools);
}

static void system_clear(hm_system *s)
{
    free(s->model_identity);
    free(s->knowledge_cutoff);
    free(s->conversation_start_date);
    free(s->reasoning_effort);
    for (size_t i = 0; i < s->n_valid_channels; i++) free(s->valid_channels[i]);
    free(s->valid_channels);
    json_decref(s->builtin_tools);
    memset(s, 0, sizeof *s);
}

void hm_conversation_clear(hm_conversation *c)
{
    system_clear(&c->system);
    for (size_t i = 0; i < c->n_messages; i++) message_clear(&c->messages[i]);
    free(c->messages);
    free(c->forced_call);
    hm_conversation_init(c);
}

hm_message *hm_conversation_push(hm_conversation *c, hm_role role)
{
    if (c->n_messages == c->cap_messages) {
        size_t cap = c->cap_messages ? c->cap_messages * 2 : 8;
        hm_message *m = realloc(c->messages, cap * sizeof *m);
        if (!m) return NULL;
        c->messages = m;
        c->cap_messages = cap;
    }
    hm_message *m = &c->messages[c->n_messages++];
    memset(m, 0, sizeof *m);
    m->role = role;
    return m;
}

/* ==== upstream defaults ======================================================= */

/* Replaces *dst with a copy of src (NULL clears it). 0, or -1 on OOM. */
static int set_str(char **dst, const char *src)
{
    char *copy = NULL;
    if (src && !(copy = strdup(src))) return -1;
    free(*dst);
    *dst = copy;
    return 0;
}

int hm_system_set_defaults(hm_system *s, const char *current_date)
{
    static const char *const channels[] = {"analysis", "commentary", "final"};
    system_clear(s);
    s->valid_channels = calloc(3, sizeof *s->valid_channels);
    if (!s->valid_channels) return -1;
    for (size_t i = 0; i < 3; i++) {
        if (set_str(&s->valid_channels[i], channels[i]) < 0) goto oom;
        s->n_valid_channels++;
    }
    s->channel_required = 1;
    if (set_str(&s->model_identity, "You are ChatGPT, a large language model trained by OpenAI.") <
            0 ||
        set_str(&s->knowledge_cutoff, "2024-06") < 0 ||
        set_str(&s->reasoning_effort, "medium") < 0 ||
        set_str(&s->conversation_start_date, current_date) < 0)
        goto oom;
    return 0;
oom:
    system_clear(s);
    return -1;
}

/* ==== render vectors ========================================================== */

/* Error text for the vector loader (malloc'd into *err). Always returns -1. */
__attribute__((format(printf, 2, 3))) static int vec_fail(char **err, const char *fmt, ...)
{
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    char buf[256];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    *err = strdup(buf);
    return -1;
}

/* obj[key] as an optional string: absent or null -> NULL copy. 0, or -1 when
 * the value has another type or memory ran out. */
static int vec_opt_str(const json_t *obj, const char *key, char **dst, const char *where,
                       char **err)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return vec_fail(err, "%s.%s: expected a string or null", where, key);
    if (set_str(dst, json_string_value(v)) < 0) return vec_fail(err, "out of memory");
    return 0;
}

/* obj[key] as a required string. */
static int vec_req_str(const json_t *obj, const char *key, char **dst, const char *where,
                       char **err)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) return vec_fail(err, "%s.%s: expected a string", where, key);
    if (set_str(dst, json_string_value(v)) < 0) return vec_fail(err, "out of memory");
    return 0;
}

static int vec_system(hm_system *s, const json_t *sys, char **err)
{
    if (!json_is_object(sys)) return vec_fail(err, "system: expected an object or null");
    if (vec_opt_str(sys, "model_identity", &s->model_identity, "system", err) < 0 ||
        vec_opt_str(sys, "knowledge_cutoff", &s->knowledge_cutoff, "system", err) < 0 ||
        vec_opt_str(sys, "conversation_start_date", &s->conversation_start_date, "system", err) <
            0 ||
        vec_opt_str(sys, "reasoning_effort", &s->reasoning_effort, "system", err) < 0)
        return -1;
    const json_t *ch = json_object_get(sys, "valid_channels");
    if (ch && !json_is_null(ch)) {
        if (!json_is_array(ch)) return vec_fail(err, "system.valid_channels: expected an array");
        size_t n = json_array_size(ch);
        s->valid_channels = calloc(n ? n : 1, sizeof *s->valid_channels);
        if (!s->valid_channels) return vec_fail(err, "out of memory");
        for (size_t i = 0; i < n; i++) {
            const json_t *v = json_array_get(ch, i);
            if (!json_is_string(v))
                return vec_fail(err, "system.valid_channels[%zu]: expected a string", i);
            if (set_str(&s->valid_channels[i], json_string_value(v)) < 0)
                return vec_fail(err, "out of memory");
            s->n_valid_channels++;
        }
    }
    const json_t *req = json_object_get(sys, "channel_required");
    if (req && !json_is_null(req) && !json_is_boolean(req))
        return vec_fail(err, "system.channel_required: expected a boolean");
    s->channel_required = json_is_true(req);
    json_t *bt = json_object_get(sys, "builtin_tools");
    if (bt && !json_is_null(bt)) {
        if (!json_is_object(bt)) return vec_fail(err, "system.builtin_tools: expected an object");
        if (json_object_size(bt) > 0) s->builtin_tools = json_incref(bt);
    }
    return 0;
}

static int vec_tools(hm_message *m, const json_t *tools, const char *where, char **err)
{
    if (!tools || json_is_null(tools)) return 0;
    if (!json_is_array(tools)) return vec_fail(err, "%s.function_tools: expected an array", where);
    size_t n = json_array_size(tools);
    m->has_function_tools = 1;
    m->tools = calloc(n ? n : 1, sizeof *m->tools);
    if (!m->tools) return vec_fail(err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_array_get(tools, i);
        char tw[96];
        snprintf(tw, sizeof tw, "%s.function_tools[%zu]", where, i);
        if (!json_is_object(t)) return vec_fail(err, "%s: expected an object", tw);
        hm_tool *dst = &m->tools[m->n_tools++];
        if (vec_req_str(t, "name", &dst->name, tw, err) < 0 ||
            vec_opt_str(t, "description", &dst->description, tw, err) < 0)
            return -1;
        json_t *p = json_object_get(t, "parameters");
        if (p && !json_is_null(p)) dst->parameters = json_incref(p);
    }
    return 0;
}

static int vec_message(hm_conversation *c, const json_t *msg, size_t idx, char **err)
{
    char where[48];
    snprintf(where, sizeof where, "messages[%zu]", idx);
    if (!json_is_object(msg)) return vec_fail(err, "%s: expected an object", where);
    const char *role = json_string_value(json_object_get(msg, "role"));
    if (!role) return vec_fail(err, "%s.role: expected a string", where);
    hm_role r;
    if (!strcmp(role, "system"))
        r = HM_ROLE_SYSTEM;
    else if (!strcmp(role, "developer"))
        r = HM_ROLE_DEVELOPER;
    else if (!strcmp(role, "user"))
        r = HM_ROLE_USER;
    else if (!strcmp(role, "assistant"))
        r = HM_ROLE_ASSISTANT;
    else if (!strcmp(role, "tool"))
        r = HM_ROLE_TOOL;
    else
        return vec_fail(err, "%s.role: unknown role '%s'", where, role);
    hm_message *m = hm_conversation_push(c, r);
    if (!m) return vec_fail(err, "out of memory");
    switch (r) {
    case HM_ROLE_DEVELOPER:
        if (vec_opt_str(msg, "instructions", &m->instructions, where, err) < 0) return -1;
        return vec_tools(m, json_object_get(msg, "function_tools"), where, err);
    case HM_ROLE_TOOL:
        if (vec_req_str(msg, "name", &m->name, where, err) < 0) return -1;
        break;
    default:
        break;
    }
    if (vec_opt_str(msg, "channel", &m->channel, where, err) < 0 ||
        vec_opt_str(msg, "recipient", &m->recipient, where, err) < 0 ||
        vec_opt_str(msg, "content_type", &m->content_type, where, err) < 0 ||
        vec_req_str(msg, "content", &m->content, where, err) < 0)
        return -1;
    return 0;
}

int hm_conversation_from_vector(hm_conversation *c, const json_t *system, const json_t *messages,
                                char **err)
{
    if (err) *err = NULL;
    if (system && !json_is_null(system)) {
        if (vec_system(&c->system, system, err) < 0) return -1;
        c->has_system = 1;
    }
    if (!json_is_array(messages)) return vec_fail(err, "messages: expected an array");
    for (size_t i = 0; i < json_array_size(messages); i++)
        if (vec_message(c, json_array_get(messages, i), i, err) < 0) return -1;
    return 0;
}
