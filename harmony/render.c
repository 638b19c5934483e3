/* render.c: conversation -> prompt segments, as openai/harmony renders it.
 *
 *   <|start|>{role or tool name}[ to={recipient}][<|channel|>{channel}][ {content type}]
 *   <|message|>{content}<|end|>            (<|call|> for an assistant tool call)
 *
 * Segments keep special tokens apart from text, and each header piece
 * (role, " to=...", channel, content type) is its own text segment, because
 * upstream encodes those pieces separately. Message content of user,
 * assistant and tool messages is marked untrusted; the system and developer
 * text this file composes (from the gateway's options and the request's
 * instructions and tool schemas) is not. No text segment is ever read as
 * special tokens, whatever it spells.
 */
#include "harmony/harmony.h"
#include "harmony/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== prompt ================================================================== */

void hm_prompt_init(hm_prompt *p)
{
    memset(p, 0, sizeof *p);
}

void hm_prompt_clear(hm_prompt *p)
{
    for (size_t i = 0; i < p->n; i++) free(p->segs[i].text);
    free(p->segs);
    hm_prompt_init(p);
}

/* Appends a copy of text[0..len) as one segment; empty text is skipped (it
 * encodes to nothing). 0, or -1 on OOM. */
static int seg_push(hm_prompt *p, const char *text, size_t len, int is_special, int untrusted)
{
    if (len == 0) return 0;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 32;
        hm_segment *s = realloc(p->segs, cap * sizeof *s);
        if (!s) return -1;
        p->segs = s;
        p->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) return -1;
    memcpy(copy, text, len);
    copy[len] = '\0';
    p->segs[p->n++] = (hm_segment){copy, len, is_special, untrusted};
    return 0;
}

static int special(hm_prompt *p, const char *token)
{
    return seg_push(p, token, strlen(token), 1, 0);
}

static int text(hm_prompt *p, const char *s)
{
    return seg_push(p, s, strlen(s), 0, 0);
}

/* One trusted text segment holding a + b. */
static int text_joined(hm_prompt *p, const char *a, const char *b)
{
    strbuf s;
    strbuf_init(&s);
    strbuf_append_str(&s, a);
    strbuf_append_str(&s, b);
    int rc = s.oom ? -1 : seg_push(p, s.data, s.len, 0, 0);
    strbuf_clear(&s);
    return rc;
}

char *hm_prompt_flatten(const hm_prompt *p, size_t *len)
{
    strbuf b;
    strbuf_init(&b);
    for (size_t i = 0; i < p->n; i++) strbuf_append(&b, p->segs[i].text, p->segs[i].len);
    if (b.oom) {
        strbuf_clear(&b);
        return NULL;
    }
    return strbuf_take(&b, len);
}

/* ==== errors ================================================================== */

__attribute__((format(printf, 2, 3))) static int fail(char **err, const char *fmt, ...)
{
    if (!err) return -1;
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    *err = strdup(buf);
    return -1;
}

static int oom(char **err)
{
    return fail(err, "out of memory");
}

/* ==== tool namespaces ========================================================= */

/* One tool as the namespace renderer sees it, whichever side it came from
 * (a developer message's hm_tool or a built-in definition in JSON). */
typedef struct tool_view {
    const char *name;         /* the TypeScript type name */
    const char *description;  /* NULL or text (lines become comments) */
    const json_t *parameters; /* NULL: `() => any` */
} tool_view;

/* Appends `prefix + line` per line of text, Rust str::lines() style: split on
 * "\n", a "\r" before the "\n" dropped, no empty last line. Each line is a
 * part of a "\n"-joined list (*first tracks the join). */
static void append_lines(strbuf *b, const char *text, const char *prefix, int *first)
{
    const char *s = text;
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        size_t keep = (nl && n > 0 && s[n - 1] == '\r') ? n - 1 : n;
        if (!*first) strbuf_append_char(b, '\n');
        *first = 0;
        strbuf_append_str(b, prefix);
        strbuf_append(b, s, keep);
        s += n + (nl ? 1 : 0);
    }
}

/* Starts a new part of a "\n"-joined list. */
static void part(strbuf *b, int *first)
{
    if (!*first) strbuf_append_char(b, '\n');
    *first = 0;
}

/* One namespace:
 *   ## NAME\n  (description lines: "// "-prefixed when there are tools)
 *   namespace NAME {\n   (per tool: description comments, type line + "\n")
 *   } // namespace NAME
 * all parts joined by "\n". */
static int append_namespace(strbuf *b, const char *name, const char *description,
                            const tool_view *tools, size_t n_tools)
{
    int first = 1;
    part(b, &first);
    strbuf_printf(b, "## %s\n", name);
    if (description) append_lines(b, description, n_tools ? "// " : "", &first);
    if (n_tools == 0) return 0;
    part(b, &first);
    strbuf_printf(b, "namespace %s {\n", name);
    for (size_t i = 0; i < n_tools; i++) {
        if (tools[i].description) append_lines(b, tools[i].description, "// ", &first);
        part(b, &first);
        if (!tools[i].parameters) {
            strbuf_printf(b, "type %s = () => any;\n", tools[i].name);
            continue;
        }
        char *ts = hm_schema_to_typescript(tools[i].parameters);
        if (!ts) return -1;
        strbuf_printf(b, "type %s = (_: %s) => any;\n", tools[i].name, ts);
        free(ts);
    }
    part(b, &first);
    strbuf_printf(b, "} // namespace %s", name);
    return 0;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One built-in namespace definition {name, description, tools: [{name,
 * description, parameters}]} from the system's builtin_tools. */
static int append_builtin_namespace(strbuf *b, const char *key, const json_t *ns, char **err)
{
    if (!json_is_object(ns)) return fail(err, "builtin_tools.%s: expected an object", key);
    const json_t *jname = json_object_get(ns, "name");
    const json_t *jdesc = json_object_get(ns, "description");
    const json_t *jtools = json_object_get(ns, "tools");
    if (jname && !json_is_string(jname))
        return fail(err, "builtin_tools.%s.name: expected a string", key);
    if (jdesc && !json_is_null(jdesc) && !json_is_string(jdesc))
        return fail(err, "builtin_tools.%s.description: expected a string", key);
    if (jtools && !json_is_null(jtools) && !json_is_array(jtools))
        return fail(err, "builtin_tools.%s.tools: expected an array", key);
    size_t n = json_array_size(jtools);
    tool_view *views = calloc(n ? n : 1, sizeof *views);
    if (!views) return oom(err);
    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_array_get(jtools, i);
        const json_t *tp = json_object_get(t, "parameters");
        views[i].name = json_string_value(json_object_get(t, "name"));
        views[i].description = json_string_value(json_object_get(t, "description"));
        views[i].parameters = json_is_null(tp) ? NULL : tp;
        if (!views[i].name) {
            free(views);
            return fail(err, "builtin_tools.%s.tools[%zu].name: expected a string", key, i);
        }
    }
    int rc = append_namespace(b, jname ? json_string_value(jname) : key, json_string_value(jdesc),
                              views, n);
    free(views);
    return rc < 0 ? oom(err) : 0;
}

/* "# Tools\n\n" + the built-in namespaces in ascending name order, "\n\n"-joined. */
static int append_builtin_tools(strbuf *b, const json_t *builtin, char **err)
{
    size_t n = json_object_size(builtin), i = 0;
    const char **keys = calloc(n ? n : 1, sizeof *keys);
    if (!keys) return oom(err);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)builtin, key, val) keys[i++] = key;
    qsort(keys, n, sizeof *keys, key_cmp);
    strbuf_append_str(b, "# Tools\n\n");
    int rc = 0;
    for (i = 0; i < n && rc == 0; i++) {
        if (i) strbuf_append_str(b, "\n\n");
        rc = append_builtin_namespace(b, keys[i], json_object_get(builtin, keys[i]), err);
    }
    free(keys);
    return rc;
}

/* ==== system and developer content =========================================== */

/* Starts a new section of a "\n\n"-joined list. */
static void section(strbuf *b)
{
    if (b->len) strbuf_append_str(b, "\n\n");
}

/* Identity / cutoff / date lines; "Reasoning: X"; "# Tools" (built-ins);
 * "# Valid channels: ..." (+ the commentary line when function tools exist). */
static int system_text(strbuf *b, const hm_system *s, int has_function_tools, char **err)
{
    const char *top[3] = {s->model_identity, s->knowledge_cutoff, s->conversation_start_date};
    const char *label[3] = {"", "Knowledge cutoff: ", "Current date: "};
    int first = 1;
    for (int i = 0; i < 3; i++) {
        if (!top[i]) continue;
        if (!first) strbuf_append_char(b, '\n');
        first = 0;
        strbuf_append_str(b, label[i]);
        strbuf_append_str(b, top[i]);
    }
    if (s->reasoning_effort) {
        section(b);
        strbuf_printf(b, "Reasoning: %s", s->reasoning_effort);
    }
    if (s->builtin_tools && json_object_size(s->builtin_tools) > 0) {
        if (!json_is_object(s->builtin_tools))
            return fail(err, "builtin_tools: expected an object");
        section(b);
        if (append_builtin_tools(b, s->builtin_tools, err) < 0) return -1;
    }
    if (s->valid_channels && s->n_valid_channels > 0) {
        section(b);
        strbuf_append_str(b, "# Valid channels: ");
        for (size_t i = 0; i < s->n_valid_channels; i++)
            strbuf_printf(b, "%s%s", i ? ", " : "", s->valid_channels[i]);
        strbuf_append_char(b, '.');
        if (s->channel_required)
            strbuf_append_str(b, " Channel must be included for every message.");
        if (has_function_tools)
            strbuf_append_str(
                b, "\nCalls to these tools must go to the commentary channel: 'functions'.");
    }
    return 0;
}

/* "# Instructions" / the instructions / "# Tools\n\n" + the functions
 * namespace, "\n\n"-joined. */
static int developer_text(strbuf *b, const hm_message *m, char **err)
{
    if (m->instructions) {
        strbuf_append_str(b, "# Instructions\n\n");
        strbuf_append_str(b, m->instructions);
    }
    if (!m->has_function_tools) return 0;
    tool_view *views = calloc(m->n_tools ? m->n_tools : 1, sizeof *views);
    if (!views) return oom(err);
    for (size_t i = 0; i < m->n_tools; i++) {
        views[i] = (tool_view){m->tools[i].name, m->tools[i].description, m->tools[i].parameters};
        if (!views[i].name) {
            free(views);
            return fail(err, "developer tool %zu has no name", i);
        }
    }
    section(b);
    strbuf_append_str(b, "# Tools\n\n");
    int rc = append_namespace(b, "functions", NULL, views, m->n_tools);
    free(views);
    return rc < 0 ? oom(err) : 0;
}

/* ==== messages ================================================================ */

static const char *role_name(hm_role r)
{
    switch (r) {
    case HM_ROLE_SYSTEM:
        return "system";
    case HM_ROLE_DEVELOPER:
        return "developer";
    case HM_ROLE_USER:
        return "user";
    case HM_ROLE_ASSISTANT:
        return "assistant";
    case HM_ROLE_TOOL:
        return NULL;
    }
    return NULL;
}

/* "<|start|>" + header pieces + "<|message|>". */
static int header_segments(hm_prompt *p, const hm_message *m)
{
    const char *author = m->role == HM_ROLE_TOOL ? m->name : role_name(m->role);
    static const char constrain[] = "<|constrain|>";
    if (special(p, "<|start|>") < 0 || text(p, author) < 0) return -1;
    /* Upstream writes no " to=all" (the broadcast recipient); the message
     * still counts as addressed (an assistant one ends with <|call|>). */
    if (m->recipient && strcmp(m->recipient, "all") != 0 &&
        text_joined(p, " to=", m->recipient) < 0)
        return -1;
    if (m->channel && (special(p, "<|channel|>") < 0 || text(p, m->channel) < 0)) return -1;
    if (m->content_type) {
        if (!strncmp(m->content_type, constrain, sizeof constrain - 1)) {
            if (text(p, " ") < 0 || special(p, constrain) < 0 ||
                text(p, m->content_type + sizeof constrain - 1) < 0)
                return -1;
        } else if (text_joined(p, " ", m->content_type) < 0) {
            return -1;
        }
    }
    return special(p, "<|message|>");
}

/* The start of a call the completion must make, as the model writes one
 * (the recipient after the channel): "<|channel|>commentary to=functions.NAME
 * <|constrain|>json<|message|>", or up to "to=functions." when the model
 * names the function. */
static int forced_call_header(hm_prompt *p, const char *recipient)
{
    static const char constrain[] = "<|constrain|>";
    if (special(p, "<|channel|>") < 0 || text(p, "commentary") < 0 ||
        text_joined(p, " to=", recipient) < 0)
        return -1;
    size_t n = strlen(recipient);
    if (n && recipient[n - 1] == '.') return 0;
    if (text(p, " ") < 0 || special(p, constrain) < 0 || text(p, "json") < 0) return -1;
    return special(p, "<|message|>");
}

/* A composed (trusted) content text, then <|end|>. */
static int render_composed(hm_prompt *p, strbuf *b)
{
    int rc = b->oom ? -1 : seg_push(p, b->data ? b->data : "", b->len, 0, 0);
    strbuf_clear(b);
    if (rc < 0 || special(p, "<|end|>") < 0) return -1;
    return 0;
}

/* Checks what the header and content need before anything is written. */
static int check_message(const hm_message *m, char **err)
{
    if (m->role > HM_ROLE_TOOL) return fail(err, "unknown message role %d", (int)m->role);
    if (m->role == HM_ROLE_TOOL && !m->name)
        return fail(err, "a tool message needs a name (its author)");
    if (m->role == HM_ROLE_DEVELOPER && m->content)
        return fail(err, "a developer message carries instructions and tools, not content");
    if (m->role != HM_ROLE_DEVELOPER && !m->content)
        return fail(err, "a %s message needs content",
                    m->role == HM_ROLE_TOOL ? "tool" : role_name(m->role));
    return 0;
}

static int render_message(hm_prompt *p, const hm_message *m, char **err)
{
    if (check_message(m, err) < 0) return -1;
    if (header_segments(p, m) < 0) return oom(err);
    if (m->role == HM_ROLE_DEVELOPER) {
        strbuf b;
        strbuf_init(&b);
        if (developer_text(&b, m, err) < 0) {
            strbuf_clear(&b);
            return -1;
        }
        return render_composed(p, &b) < 0 ? oom(err) : 0;
    }
    int untrusted = m->role != HM_ROLE_SYSTEM;
    if (seg_push(p, m->content, strlen(m->content), 0, untrusted) < 0) return oom(err);
    int call = m->role == HM_ROLE_ASSISTANT && m->recipient;
    return special(p, call ? "<|call|>" : "<|end|>") < 0 ? oom(err) : 0;
}

static int render_system(hm_prompt *p, const hm_system *s, int has_function_tools, char **err)
{
    strbuf b;
    strbuf_init(&b);
    if (system_text(&b, s, has_function_tools, err) < 0) {
        strbuf_clear(&b);
        return -1;
    }
    if (special(p, "<|start|>") < 0 || text(p, "system") < 0 || special(p, "<|message|>") < 0 ||
        render_composed(p, &b) < 0) {
        strbuf_clear(&b);
        return oom(err);
    }
    return 0;
}

/* ==== conversation ============================================================ */

static int channel_is(const hm_message *m, const char *channel)
{
    return m->channel && !strcmp(m->channel, channel);
}

/* Upstream's analysis dropping: when the last assistant message is on
 * `final`, analysis messages before the conversation's first `final`
 * message are left out. Returns that first final's index, or 0 (drop nothing). */
static size_t drop_before(const hm_conversation *c, int auto_drop_analysis)
{
    if (!auto_drop_analysis) return 0;
    const hm_message *last_assistant = NULL;
    for (size_t i = c->n_messages; i-- > 0;)
        if (c->messages[i].role == HM_ROLE_ASSISTANT) {
            last_assistant = &c->messages[i];
            break;
        }
    if (!last_assistant || !channel_is(last_assistant, "final")) return 0;
    for (size_t i = 0; i < c->n_messages; i++)
        if (channel_is(&c->messages[i], "final")) return i;
    return 0;
}

int hm_render(const hm_conversation *c, hm_render_mode mode, int auto_drop_analysis, hm_prompt *out,
              char **err)
{
    if (err) *err = NULL;
    hm_prompt_init(out);
    if (mode != HM_RENDER_COMPLETION && mode != HM_RENDER_CONVERSATION &&
        mode != HM_RENDER_TRAINING)
        return fail(err, "unknown render mode %d", (int)mode);
    int has_function_tools = 0;
    for (size_t i = 0; i < c->n_messages; i++)
        if (c->messages[i].role == HM_ROLE_DEVELOPER && c->messages[i].has_function_tools &&
            c->messages[i].n_tools > 0)
            has_function_tools = 1;
    if (c->has_system && render_system(out, &c->system, has_function_tools, err) < 0) goto fail;
    size_t first_final = drop_before(c, auto_drop_analysis);
    for (size_t i = 0; i < c->n_messages; i++) {
        const hm_message *m = &c->messages[i];
        if (i < first_final && channel_is(m, "analysis")) continue;
        if (render_message(out, m, err) < 0) goto fail;
    }
    if (mode == HM_RENDER_COMPLETION) {
        if (special(out, "<|start|>") < 0 || text(out, "assistant") < 0 ||
            (c->forced_call && forced_call_header(out, c->forced_call) < 0)) {
            oom(err);
            goto fail;
        }
    } else if (mode == HM_RENDER_TRAINING && c->n_messages > 0) {
        const hm_message *last = &c->messages[c->n_messages - 1];
        if (last->role == HM_ROLE_ASSISTANT && channel_is(last, "final")) {
            hm_segment *close = &out->segs[out->n - 1];
            char *ret = strdup("<|return|>");
            if (!ret) {
                oom(err);
                goto fail;
            }
            free(close->text);
            close->text = ret;
            close->len = strlen(ret);
        }
    }
    return 0;
fail:
    hm_prompt_clear(out);
    return -1;
}
