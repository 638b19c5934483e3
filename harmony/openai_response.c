/* openai_response.c: parser events -> OpenAI chat output for one choice.
 * Each Harmony message goes where channels.h says:
 *
 *   reasoning (analysis, calls to built-in tools)  -> reasoning_content + reasoning
 *   text (final, a preamble, other channels)        -> content
 *   a call to functions.NAME                        -> tool_calls[i]
 *
 * Streaming deltas are queued as they come and coalesced while not taken
 * (consecutive text of the same field and tool call becomes one delta); a
 * tool call's first delta carries index, id, type, name and arguments "",
 * then its argument fragments carry only index and arguments. */
#include "harmony/harmony.h"

#include <stdlib.h>
#include <string.h>

#include "harmony/channels.h"
#include "harmony/ids.h"
#include "harmony/strbuf.h"

/* Where the text of the message being read goes. */
typedef enum out_kind {
    OUT_NONE = 0,      /* between messages */
    OUT_REASONING = 1, /* reasoning_content / reasoning */
    OUT_CONTENT = 2,   /* content */
    OUT_TOOL = 3,      /* arguments of the last tool call */
} out_kind;

/* One tool call seen so far. */
typedef struct tool_call {
    char *id;     /* prefix + unique suffix */
    char *name;   /* function name (recipient without "functions.") */
    strbuf args;  /* arguments text so far */
    int complete; /* 1 once its message ended with a terminator (not EOS) */
} tool_call;

/* A delta not yet taken. */
typedef enum delta_kind {
    D_REASONING = 0,  /* reasoning text */
    D_CONTENT = 1,    /* content text */
    D_TOOL_START = 2, /* a tool call's first delta */
    D_TOOL_ARGS = 3,  /* a tool call's argument fragment */
} delta_kind;

typedef struct pending_delta {
    delta_kind kind; /* what it carries */
    size_t tool;     /* tool call index (D_TOOL_*) */
    strbuf text;     /* its text (not D_TOOL_START) */
} pending_delta;

struct hm_openai_out {
    int emit_reasoning_content; /* write "reasoning_content" */
    int emit_reasoning;         /* write "reasoning" */
    char *id_prefix;            /* tool call id prefix */
    strbuf content;             /* all content text */
    strbuf reasoning;           /* all reasoning text */
    tool_call *calls;           /* tool calls in order */
    size_t n_calls;             /* used */
    size_t cap_calls;           /* allocated */
    out_kind kind;              /* where the current message's text goes */
    int reasoning_tokens;       /* tokens counted on the analysis channel */
    pending_delta *pending;     /* deltas not yet taken */
    size_t n_pending;           /* used */
    size_t cap_pending;         /* allocated */
    int role_sent;              /* 1 once a delta carried "role" */
    hm_ids ids;                 /* tool call id generator */
};

/* ==== lifecycle ======================================================================== */

hm_openai_out *hm_openai_out_new(const hm_openai_out_options *opts)
{
    hm_openai_out *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->emit_reasoning_content = opts ? opts->emit_reasoning_content : 1;
    o->emit_reasoning = opts ? opts->emit_reasoning : 1;
    const char *prefix = opts && opts->tool_call_id_prefix ? opts->tool_call_id_prefix : "call_";
    o->id_prefix = strdup(prefix);
    if (!o->id_prefix) {
        free(o);
        return NULL;
    }
    strbuf_init(&o->content);
    strbuf_init(&o->reasoning);
    hm_ids_seed(&o->ids, o);
    return o;
}

static void clear_pending(hm_openai_out *o)
{
    for (size_t i = 0; i < o->n_pending; i++) strbuf_clear(&o->pending[i].text);
    o->n_pending = 0;
}

void hm_openai_out_free(hm_openai_out *o)
{
    if (!o) return;
    for (size_t i = 0; i < o->n_calls; i++) {
        free(o->calls[i].id);
        free(o->calls[i].name);
        strbuf_clear(&o->calls[i].args);
    }
    free(o->calls);
    clear_pending(o);
    free(o->pending);
    strbuf_clear(&o->content);
    strbuf_clear(&o->reasoning);
    free(o->id_prefix);
    free(o);
}

/* ==== events ============================================================================== */

/* Queues text for a delta, appending to the last one when it is the same kind. */
static void queue_delta(hm_openai_out *o, delta_kind kind, size_t tool, const char *text,
                        size_t len)
{
    if (o->n_pending) {
        pending_delta *last = &o->pending[o->n_pending - 1];
        if (kind != D_TOOL_START && last->kind == kind && last->tool == tool) {
            strbuf_append(&last->text, text, len);
            return;
        }
    }
    if (o->n_pending == o->cap_pending) {
        size_t cap = o->cap_pending ? o->cap_pending * 2 : 8;
        pending_delta *d = realloc(o->pending, cap * sizeof *d);
        if (!d) return;
        o->pending = d;
        o->cap_pending = cap;
    }
    pending_delta *d = &o->pending[o->n_pending++];
    d->kind = kind;
    d->tool = tool;
    strbuf_init(&d->text);
    if (len) strbuf_append(&d->text, text, len);
}

/* Where the text of a message with this header goes. */
static out_kind classify(const hm_event *ev)
{
    switch (hm_out_classify(ev->channel, ev->recipient)) {
    case HM_OUT_CALL:
        return OUT_TOOL;
    case HM_OUT_REASONING:
        return OUT_REASONING;
    case HM_OUT_TEXT:
        break;
    }
    return OUT_CONTENT;
}

static void start_tool_call(hm_openai_out *o, const char *recipient)
{
    if (o->n_calls == o->cap_calls) {
        size_t cap = o->cap_calls ? o->cap_calls * 2 : 4;
        tool_call *c = realloc(o->calls, cap * sizeof *c);
        if (!c) {
            o->kind = OUT_NONE;
            return;
        }
        o->calls = c;
        o->cap_calls = cap;
    }
    tool_call *c = &o->calls[o->n_calls];
    c->id = hm_ids_new(&o->ids, o->id_prefix);
    c->name = strdup(hm_out_function_name(recipient));
    if (!c->id || !c->name) {
        free(c->id);
        free(c->name);
        o->kind = OUT_NONE;
        return;
    }
    strbuf_init(&c->args);
    c->complete = 0;
    o->n_calls++;
    queue_delta(o, D_TOOL_START, o->n_calls - 1, NULL, 0);
}

void hm_openai_out_event(hm_openai_out *o, const hm_event *ev)
{
    switch (ev->kind) {
    case HM_EV_MESSAGE_START:
        o->kind = classify(ev);
        if (o->kind == OUT_TOOL) start_tool_call(o, ev->recipient);
        break;
    case HM_EV_CONTENT:
        if (ev->len == 0) break;
        if (o->kind == OUT_REASONING) {
            strbuf_append(&o->reasoning, ev->text, ev->len);
            queue_delta(o, D_REASONING, 0, ev->text, ev->len);
        } else if (o->kind == OUT_CONTENT) {
            strbuf_append(&o->content, ev->text, ev->len);
            queue_delta(o, D_CONTENT, 0, ev->text, ev->len);
        } else if (o->kind == OUT_TOOL) {
            strbuf_append(&o->calls[o->n_calls - 1].args, ev->text, ev->len);
            queue_delta(o, D_TOOL_ARGS, o->n_calls - 1, ev->text, ev->len);
        }
        break;
    case HM_EV_MESSAGE_END:
        if (o->kind == OUT_TOOL) o->calls[o->n_calls - 1].complete = ev->terminator != HM_TERM_EOS;
        o->kind = OUT_NONE;
        break;
    case HM_EV_ERROR:
        break;
    }
}

void hm_openai_out_count_token(hm_openai_out *o, const char *channel)
{
    if (channel && strcmp(channel, "analysis") == 0) o->reasoning_tokens++;
}

/* ==== output ================================================================================ */

static json_t *text_value(const strbuf *b)
{
    return json_stringn(b->data ? b->data : "", b->len);
}

static json_t *tool_call_delta(const tool_call *c, size_t index, int first, const strbuf *args)
{
    json_t *fn = first ? json_pack("{s:s, s:s}", "name", c->name, "arguments", "")
                       : json_pack("{s:o}", "arguments", text_value(args));
    json_t *call = json_object();
    json_object_set_new(call, "index", json_integer((json_int_t)index));
    if (first) {
        json_object_set_new(call, "id", json_string(c->id));
        json_object_set_new(call, "type", json_string("function"));
    }
    json_object_set_new(call, "function", fn);
    return json_pack("{s:[o]}", "tool_calls", call);
}

/* One pending delta as JSON, or NULL when it carries nothing to write. */
static json_t *delta_json(const hm_openai_out *o, const pending_delta *d)
{
    json_t *obj = json_object();
    switch (d->kind) {
    case D_REASONING:
        if (o->emit_reasoning_content)
            json_object_set_new(obj, "reasoning_content", text_value(&d->text));
        if (o->emit_reasoning) json_object_set_new(obj, "reasoning", text_value(&d->text));
        break;
    case D_CONTENT:
        json_object_set_new(obj, "content", text_value(&d->text));
        break;
    case D_TOOL_START:
    case D_TOOL_ARGS: {
        json_t *tc =
            tool_call_delta(&o->calls[d->tool], d->tool, d->kind == D_TOOL_START, &d->text);
        json_object_update(obj, tc);
        json_decref(tc);
        break;
    }
    }
    if (json_object_size(obj) == 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

json_t *hm_openai_out_take_deltas(hm_openai_out *o)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < o->n_pending; i++) {
        json_t *d = delta_json(o, &o->pending[i]);
        if (!d) continue;
        if (!o->role_sent) {
            json_t *with_role = json_pack("{s:s}", "role", "assistant");
            json_object_update(with_role, d);
            json_decref(d);
            d = with_role;
            o->role_sent = 1;
        }
        json_array_append_new(arr, d);
    }
    clear_pending(o);
    return arr;
}

json_t *hm_openai_out_message(const hm_openai_out *o)
{
    json_t *msg = json_pack("{s:s}", "role", "assistant");
    if (o->content.len == 0 && o->n_calls > 0)
        json_object_set_new(msg, "content", json_null());
    else
        json_object_set_new(msg, "content", text_value(&o->content));
    if (o->reasoning.len) {
        if (o->emit_reasoning_content)
            json_object_set_new(msg, "reasoning_content", text_value(&o->reasoning));
        if (o->emit_reasoning) json_object_set_new(msg, "reasoning", text_value(&o->reasoning));
    }
    if (o->n_calls) {
        json_t *calls = json_array();
        for (size_t i = 0; i < o->n_calls; i++) {
            const tool_call *c = &o->calls[i];
            json_array_append_new(calls, json_pack("{s:s, s:s, s:{s:s, s:o}}", "id", c->id, "type",
                                                   "function", "function", "name", c->name,
                                                   "arguments", text_value(&c->args)));
        }
        json_object_set_new(msg, "tool_calls", calls);
    }
    return msg;
}

const char *hm_openai_out_finish_reason(const hm_openai_out *o, int length_hit)
{
    int call_cut = o->n_calls > 0 && !o->calls[o->n_calls - 1].complete;
    if (o->n_calls > 0 && !(length_hit && call_cut)) return "tool_calls";
    if (length_hit) return "length";
    return "stop";
}

int hm_openai_out_reasoning_tokens(const hm_openai_out *o)
{
    return o->reasoning_tokens;
}

int hm_openai_out_tool_call_count(const hm_openai_out *o)
{
    return (int)o->n_calls;
}

size_t hm_openai_out_content_bytes(const hm_openai_out *o)
{
    return o->content.len;
}
