/* responses_out.c: parser events -> Responses API output items and stream
 * events (the table is in harmony.h; channels.h sorts the messages).
 *
 * One item per Harmony message, opened at its header:
 *
 *   reasoning      {id:"rs_...", type:"reasoning", summary:[],
 *                   content:[{type:"reasoning_text", text}], status}
 *   message        {id:"msg_...", type:"message", role:"assistant", status,
 *                   content:[{type:"output_text", text, annotations:[], logprobs:[]}],
 *                   phase:"final_answer"|"commentary" (final, preamble)}
 *   function_call  {id:"fc_...", type:"function_call", call_id:"call_...", name,
 *                   arguments, status}
 *
 * Stream events per item, in order (output_index is the item's place):
 *   output_item.added (status in_progress, no text yet)
 *   content_part.added (reasoning, message: part with text "")
 *   reasoning_text.delta | output_text.delta | function_call_arguments.delta ...
 *   reasoning_text.done | output_text.done | function_call_arguments.done
 *   content_part.done (reasoning, message)
 *   output_item.done (the whole item)
 * Delta text waits in `pending` until something else is queued or the events
 * are taken, so consecutive deltas of one item go out as one event. */
#include "harmony/harmony.h"

#include <stdlib.h>
#include <string.h>

#include "harmony/channels.h"
#include "harmony/ids.h"
#include "harmony/strbuf.h"

/* One output item. */
typedef struct out_item {
    hm_out_kind kind;  /* reasoning, text (a message) or a call */
    char *id;          /* "rs_...", "msg_...", "fc_..." (owned) */
    char *call_id;     /* calls: "call_..." (owned), else NULL */
    char *name;        /* calls: the function name (owned), else NULL */
    const char *phase; /* messages: "final_answer", "commentary" or NULL (static) */
    strbuf text;       /* reasoning text, message text or call arguments */
    int done;          /* its message ended */
    int complete;      /* ... with a terminator (not the end of the stream) */
} out_item;

struct hm_responses_out {
    out_item *items;      /* in output order */
    size_t n_items;       /* used */
    size_t cap_items;     /* allocated */
    int open;             /* 1 while items[n_items - 1] takes content */
    int reasoning_tokens; /* tokens counted on the analysis channel */
    int stream;           /* 1: make stream events */
    json_t *events;       /* stream events not yet taken */
    strbuf pending;       /* delta text of the open item not yet made an event */
    hm_ids ids;           /* id generator */
};

/* ==== lifecycle ========================================================================== */

hm_responses_out *hm_responses_out_new(int stream)
{
    hm_responses_out *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->stream = stream;
    if (!(o->events = json_array())) {
        free(o);
        return NULL;
    }
    strbuf_init(&o->pending);
    hm_ids_seed(&o->ids, o);
    return o;
}

void hm_responses_out_free(hm_responses_out *o)
{
    if (!o) return;
    for (size_t i = 0; i < o->n_items; i++) {
        free(o->items[i].id);
        free(o->items[i].call_id);
        free(o->items[i].name);
        strbuf_clear(&o->items[i].text);
    }
    free(o->items);
    json_decref(o->events);
    strbuf_clear(&o->pending);
    free(o);
}

/* ==== JSON =================================================================================== */

static json_t *text_of(const strbuf *b)
{
    return json_stringn(b->data ? b->data : "", b->len);
}

static const char *status_of(const out_item *it)
{
    return !it->done ? "in_progress" : it->complete ? "completed" : "incomplete";
}

/* The item's one content part: {type, text} (messages add annotations, logprobs). */
static json_t *part_json(const out_item *it, json_t *text)
{
    if (it->kind == HM_OUT_REASONING)
        return json_pack("{s:s, s:o}", "type", "reasoning_text", "text", text);
    return json_pack("{s:s, s:o, s:[], s:[]}", "type", "output_text", "text", text, "annotations",
                     "logprobs");
}

/* The item as the API shows it; `whole`: with its text (else as opened:
 * no content parts yet, arguments ""). */
static json_t *item_json(const out_item *it, int whole)
{
    const char *status = status_of(it);
    switch (it->kind) {
    case HM_OUT_REASONING:
        return json_pack("{s:s, s:s, s:[], s:o, s:s}", "id", it->id, "type", "reasoning", "summary",
                         "content",
                         whole ? json_pack("[o]", part_json(it, text_of(&it->text))) : json_array(),
                         "status", status);
    case HM_OUT_CALL:
        return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s}", "id", it->id, "type", "function_call",
                         "call_id", it->call_id, "name", it->name, "arguments",
                         whole ? text_of(&it->text) : json_string(""), "status", status);
    case HM_OUT_TEXT:
        break;
    }
    json_t *msg =
        json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", it->id, "type", "message", "role", "assistant",
                  "status", status, "content",
                  whole ? json_pack("[o]", part_json(it, text_of(&it->text))) : json_array());
    if (msg && it->phase) json_object_set_new(msg, "phase", json_string(it->phase));
    return msg;
}

/* ==== events ===================================================================================
 */

/* Queues {type, ...fields} (fields stolen). */
static void queue(hm_responses_out *o, const char *type, json_t *fields)
{
    if (!fields || !o->stream) {
        json_decref(fields);
        return;
    }
    json_t *ev = json_pack("{s:s}", "type", type);
    if (ev) json_object_update(ev, fields);
    json_decref(fields);
    if (ev) json_array_append_new(o->events, ev);
}

/* {item_id, output_index} of the last item, plus content_index for parts. */
static json_t *where(const hm_responses_out *o, int with_part)
{
    const out_item *it = &o->items[o->n_items - 1];
    json_t *w =
        json_pack("{s:s, s:I}", "item_id", it->id, "output_index", (json_int_t)(o->n_items - 1));
    if (w && with_part) json_object_set_new(w, "content_index", json_integer(0));
    return w;
}

/* The open item's pending delta text as one delta event. */
static void flush_delta(hm_responses_out *o)
{
    if (o->pending.len == 0) return;
    const out_item *it = &o->items[o->n_items - 1];
    json_t *w = where(o, it->kind != HM_OUT_CALL);
    if (w) json_object_set_new(w, "delta", text_of(&o->pending));
    if (it->kind == HM_OUT_REASONING) queue(o, "response.reasoning_text.delta", w);
    if (it->kind == HM_OUT_CALL) queue(o, "response.function_call_arguments.delta", w);
    if (it->kind == HM_OUT_TEXT) {
        if (w) json_object_set_new(w, "logprobs", json_array());
        queue(o, "response.output_text.delta", w);
    }
    strbuf_reset(&o->pending);
}

static const char *phase_of(const hm_event *ev, hm_out_kind kind)
{
    if (kind != HM_OUT_TEXT || !ev->channel) return NULL;
    if (!strcmp(ev->channel, "final")) return "final_answer";
    if (!strcmp(ev->channel, "commentary")) return "commentary";
    return NULL;
}

static void open_item(hm_responses_out *o, const hm_event *ev)
{
    if (o->n_items == o->cap_items) {
        size_t cap = o->cap_items ? o->cap_items * 2 : 4;
        out_item *items = realloc(o->items, cap * sizeof *items);
        if (!items) return;
        o->items = items;
        o->cap_items = cap;
    }
    out_item *it = &o->items[o->n_items];
    memset(it, 0, sizeof *it);
    it->kind = hm_out_classify(ev->channel, ev->recipient);
    it->phase = phase_of(ev, it->kind);
    it->id = hm_ids_new(&o->ids, it->kind == HM_OUT_REASONING ? "rs_"
                                 : it->kind == HM_OUT_CALL    ? "fc_"
                                                              : "msg_");
    if (it->kind == HM_OUT_CALL) {
        it->call_id = hm_ids_new(&o->ids, "call_");
        it->name = strdup(hm_out_function_name(ev->recipient));
    }
    if (!it->id || (it->kind == HM_OUT_CALL && (!it->call_id || !it->name))) {
        free(it->id);
        free(it->call_id);
        free(it->name);
        return;
    }
    strbuf_init(&it->text);
    o->n_items++;
    o->open = 1;
    queue(o, "response.output_item.added",
          json_pack("{s:I, s:o}", "output_index", (json_int_t)(o->n_items - 1), "item",
                    item_json(it, 0)));
    if (it->kind == HM_OUT_CALL) return;
    json_t *w = where(o, 1);
    if (w) json_object_set_new(w, "part", part_json(it, json_string("")));
    queue(o, "response.content_part.added", w);
}

static void close_item(hm_responses_out *o, hm_terminator how)
{
    flush_delta(o);
    o->open = 0;
    out_item *it = &o->items[o->n_items - 1];
    it->done = 1;
    it->complete = how != HM_TERM_EOS;
    json_t *w = where(o, it->kind != HM_OUT_CALL);
    if (it->kind == HM_OUT_CALL) {
        if (w) json_object_set_new(w, "name", json_string(it->name));
        if (w) json_object_set_new(w, "arguments", text_of(&it->text));
        queue(o, "response.function_call_arguments.done", w);
    } else {
        if (w) json_object_set_new(w, "text", text_of(&it->text));
        if (w && it->kind == HM_OUT_TEXT) json_object_set_new(w, "logprobs", json_array());
        queue(o,
              it->kind == HM_OUT_TEXT ? "response.output_text.done"
                                      : "response.reasoning_text.done",
              w);
        w = where(o, 1);
        if (w) json_object_set_new(w, "part", part_json(it, text_of(&it->text)));
        queue(o, "response.content_part.done", w);
    }
    queue(o, "response.output_item.done",
          json_pack("{s:I, s:o}", "output_index", (json_int_t)(o->n_items - 1), "item",
                    item_json(it, 1)));
}

void hm_responses_out_event(hm_responses_out *o, const hm_event *ev)
{
    switch (ev->kind) {
    case HM_EV_MESSAGE_START:
        open_item(o, ev);
        break;
    case HM_EV_CONTENT:
        if (!o->open || ev->len == 0) break;
        strbuf_append(&o->items[o->n_items - 1].text, ev->text, ev->len);
        if (o->stream) strbuf_append(&o->pending, ev->text, ev->len);
        break;
    case HM_EV_MESSAGE_END:
        if (o->open) close_item(o, ev->terminator);
        break;
    case HM_EV_ERROR:
        break;
    }
}

void hm_responses_out_count_token(hm_responses_out *o, const char *channel)
{
    if (channel && strcmp(channel, "analysis") == 0) o->reasoning_tokens++;
}

/* ==== results ===================================================================================
 */

json_t *hm_responses_out_take_events(hm_responses_out *o)
{
    if (o->open) flush_delta(o);
    json_t *fresh = json_array();
    if (!fresh) return NULL;
    json_t *taken = o->events;
    o->events = fresh;
    return taken;
}

json_t *hm_responses_out_items(const hm_responses_out *o)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < o->n_items; i++)
        json_array_append_new(arr, item_json(&o->items[i], 1));
    return arr;
}

int hm_responses_out_reasoning_tokens(const hm_responses_out *o)
{
    return o->reasoning_tokens;
}

int hm_responses_out_ends_in_call(const hm_responses_out *o)
{
    if (o->n_items == 0) return 0;
    const out_item *it = &o->items[o->n_items - 1];
    return it->kind == HM_OUT_CALL && it->done && it->complete;
}
