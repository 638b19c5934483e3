/* test_openai_response.c: Harmony parser events -> OpenAI message and deltas.
 *
 * Completions go through the real scanner and parser (non-strict, assistant
 * role hint, as the gateway uses them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harmony/harmony.h"
#include "tests/tap.h"

/* One run: parser -> out, with deltas taken after every piece. */
typedef struct run {
    hm_parser *p;       /* the parser */
    hm_openai_out *out; /* the mapper */
    json_t *deltas;     /* every delta taken, in order */
    int per_piece;      /* take deltas after every piece (else once at the end) */
} run;

static void on_event(void *ud, const hm_event *ev)
{
    hm_openai_out_event(((run *)ud)->out, ev);
}

static void take(run *r)
{
    json_t *d = hm_openai_out_take_deltas(r->out);
    json_array_extend(r->deltas, d);
    json_decref(d);
}

static void on_piece(void *ud, const char *text, size_t len, int is_special)
{
    run *r = ud;
    hm_parser_feed(r->p, text, len, is_special, -1);
    hm_openai_out_count_token(r->out, hm_parser_channel(r->p));
    if (r->per_piece) take(r);
}

static void run_text(run *r, const char *completion, const hm_openai_out_options *opts,
                     int per_piece)
{
    hm_parser_options po = {0, 1};
    r->out = hm_openai_out_new(opts);
    r->p = hm_parser_new(&po, on_event, r);
    r->deltas = json_array();
    r->per_piece = per_piece;
    hm_scanner *sc = hm_scanner_new();
    hm_scanner_feed(sc, completion, strlen(completion), on_piece, r);
    hm_scanner_finish(sc, on_piece, r);
    hm_scanner_free(sc);
    hm_parser_finish(r->p);
    take(r);
}

static void run_free(run *r)
{
    hm_parser_free(r->p);
    hm_openai_out_free(r->out);
    json_decref(r->deltas);
}

static char *dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT);
}

static void is_json(const json_t *got, const char *want, const char *name)
{
    char *g = dump(got);
    is_str(g, want, "%s", name);
    free(g);
}

/* Replaces every "id" member (recursively) by "ID" after checking its shape:
 * prefix + 24 alphanumerics. Ids are collected into `ids` to check uniqueness. */
static void mask_ids(json_t *j, const char *prefix, json_t *ids, int *bad)
{
    if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++)
            mask_ids(json_array_get(j, i), prefix, ids, bad);
        return;
    }
    if (!json_is_object(j)) return;
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        if (strcmp(key, "id") == 0 && json_is_string(v)) {
            const char *id = json_string_value(v);
            size_t k = strlen(prefix);
            int good = strncmp(id, prefix, k) == 0 && strlen(id) == k + 24;
            for (size_t i = k; good && id[i]; i++)
                good = (id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
                       (id[i] >= '0' && id[i] <= '9');
            if (!good) *bad = 1;
            json_array_append(ids, v);
        } else {
            mask_ids(v, prefix, ids, bad);
        }
    }
    if (json_object_get(j, "id")) json_object_set_new(j, "id", json_string("ID"));
}

static void check_masked(json_t *j, const char *prefix, const char *want, const char *name)
{
    json_t *ids = json_array();
    int bad = 0;
    mask_ids(j, prefix, ids, &bad);
    ok(!bad, "%s: ids are %s + 24 alphanumerics", name, prefix);
    is_json(j, want, name);
    json_decref(ids);
}

static void test_reasoning_and_content(void)
{
    run r;
    run_text(&r,
             "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final"
             "<|message|>Answer.<|return|>",
             NULL, 0);
    json_t *m = hm_openai_out_message(r.out);
    is_json(m,
            "{\"role\":\"assistant\",\"content\":\"Answer.\",\"reasoning_content\":\"Think.\","
            "\"reasoning\":\"Think.\"}",
            "message with both reasoning fields");
    json_decref(m);
    is_json(r.deltas,
            "[{\"role\":\"assistant\",\"reasoning_content\":\"Think.\",\"reasoning\":\"Think.\"},"
            "{\"content\":\"Answer.\"}]",
            "deltas taken once are coalesced; the first carries the role");
    is_str(hm_openai_out_finish_reason(r.out, 0), "stop", "finish_reason stop");
    /* Pieces read while the channel is analysis: <|message|> and "Think.". */
    is_int(hm_openai_out_reasoning_tokens(r.out), 2, "analysis pieces counted");
    run_free(&r);

    hm_openai_out_options only_rc = {1, 0, NULL};
    run_text(&r, "<|channel|>analysis<|message|>T<|end|>", &only_rc, 0);
    m = hm_openai_out_message(r.out);
    is_json(m, "{\"role\":\"assistant\",\"content\":\"\",\"reasoning_content\":\"T\"}",
            "reasoning_content only");
    json_decref(m);
    run_free(&r);
    hm_openai_out_options only_r = {0, 1, NULL};
    run_text(&r, "<|channel|>analysis<|message|>T<|end|>", &only_r, 0);
    m = hm_openai_out_message(r.out);
    is_json(m, "{\"role\":\"assistant\",\"content\":\"\",\"reasoning\":\"T\"}", "reasoning only");
    json_decref(m);
    is_json(r.deltas, "[{\"role\":\"assistant\",\"reasoning\":\"T\"}]", "reasoning only delta");
    run_free(&r);

    run_text(&r,
             "<|channel|>commentary<|message|>Let me check.<|end|><|start|>assistant"
             "<|channel|>final<|message|> Done.<|return|>",
             NULL, 0);
    m = hm_openai_out_message(r.out);
    is_json(m, "{\"role\":\"assistant\",\"content\":\"Let me check. Done.\"}",
            "preamble and final are content; no reasoning fields when none");
    json_decref(m);
    run_free(&r);
}

static void test_streaming_deltas(void)
{
    run r;
    run_text(&r,
             "<|channel|>analysis<|message|>ab<|end|><|start|>assistant<|channel|>final"
             "<|message|>cd<|return|>",
             NULL, 1);
    is_json(r.deltas,
            "[{\"role\":\"assistant\",\"reasoning_content\":\"ab\",\"reasoning\":\"ab\"},"
            "{\"content\":\"cd\"}]",
            "per-piece deltas are minimal");
    json_t *none = hm_openai_out_take_deltas(r.out);
    is_json(none, "[]", "nothing new: empty array");
    json_decref(none);
    run_free(&r);
}

static void test_tool_calls(void)
{
    const char *completion =
        "<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant to=functions."
        "get_weather<|channel|>commentary <|constrain|>json<|message|>{\"city\":\"Paris\"}<|call|>"
        "<|start|>assistant<|channel|>commentary to=functions.get_time <|constrain|>json"
        "<|message|>{}<|call|>";
    run r;
    run_text(&r, completion, NULL, 1);
    check_masked(r.deltas, "call_",
                 "[{\"role\":\"assistant\",\"reasoning_content\":\"Need weather.\",\"reasoning\":"
                 "\"Need weather.\"},{\"tool_calls\":[{\"index\":0,\"id\":\"ID\",\"type\":"
                 "\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},"
                 "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
                 "\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},{\"tool_calls\":[{\"index\":1,\"id\":"
                 "\"ID\",\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":"
                 "\"\"}}]},{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"{}\"}}]}]",
                 "streamed tool calls: start then fragments by index");
    json_t *m = hm_openai_out_message(r.out);
    json_t *calls = json_object_get(m, "tool_calls");
    const char *id0 = json_string_value(json_object_get(json_array_get(calls, 0), "id"));
    const char *id1 = json_string_value(json_object_get(json_array_get(calls, 1), "id"));
    ok(id0 && id1 && strcmp(id0, id1) != 0, "tool call ids differ");
    check_masked(m, "call_",
                 "{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"Need "
                 "weather.\",\"reasoning\":\"Need weather.\",\"tool_calls\":[{\"id\":\"ID\","
                 "\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":"
                 "\"{\\\"city\\\":\\\"Paris\\\"}\"}},{\"id\":\"ID\",\"type\":\"function\","
                 "\"function\":{\"name\":\"get_time\",\"arguments\":\"{}\"}}]}",
                 "message: content null with tool calls");
    json_decref(m);
    is_str(hm_openai_out_finish_reason(r.out, 0), "tool_calls", "finish_reason tool_calls");
    is_str(hm_openai_out_finish_reason(r.out, 1), "tool_calls",
           "complete tool calls win over length");
    is_int(hm_openai_out_tool_call_count(r.out), 2, "two tool calls");
    run_free(&r);

    /* Argument fragments arrive piece by piece. */
    hm_openai_out_options pre = {1, 1, "fc-"};
    hm_openai_out *o = hm_openai_out_new(&pre);
    hm_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = HM_EV_MESSAGE_START;
    ev.role = HM_ROLE_ASSISTANT;
    ev.channel = "analysis";
    ev.recipient = "functions.f";
    hm_openai_out_event(o, &ev);
    json_t *d = hm_openai_out_take_deltas(o);
    check_masked(d, "fc-",
                 "[{\"role\":\"assistant\",\"tool_calls\":[{\"index\":0,\"id\":\"ID\",\"type\":"
                 "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}]",
                 "tool call on analysis, custom id prefix, role on the first delta");
    json_decref(d);
    const char *frags[] = {"{\"x\"", ":", "1}"};
    for (int i = 0; i < 3; i++) {
        ev.kind = HM_EV_CONTENT;
        ev.text = frags[i];
        ev.len = strlen(frags[i]);
        hm_openai_out_event(o, &ev);
        d = hm_openai_out_take_deltas(o);
        char want[128];
        json_t *js = json_string(frags[i]);
        char *jf = json_dumps(js, JSON_ENCODE_ANY);
        snprintf(want, sizeof want,
                 "[{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":%s}}]}]", jf);
        is_json(d, want, "fragment by index");
        free(jf);
        json_decref(js);
        json_decref(d);
    }
    ev.kind = HM_EV_MESSAGE_END;
    ev.terminator = HM_TERM_EOS;
    hm_openai_out_event(o, &ev);
    is_str(hm_openai_out_finish_reason(o, 1), "length", "a tool call cut by length is length");
    hm_openai_out_free(o);
}

static void test_length(void)
{
    run r;
    run_text(&r, "<|channel|>analysis<|message|>Long thought that gets cu", NULL, 1);
    json_t *m = hm_openai_out_message(r.out);
    is_json(m,
            "{\"role\":\"assistant\",\"content\":\"\",\"reasoning_content\":\"Long thought that "
            "gets cu\",\"reasoning\":\"Long thought that gets cu\"}",
            "length during analysis keeps the reasoning");
    json_decref(m);
    is_str(hm_openai_out_finish_reason(r.out, 1), "length", "finish_reason length");
    ok(hm_openai_out_reasoning_tokens(r.out) > 0, "reasoning tokens counted");
    run_free(&r);

    run_text(&r, "", NULL, 1);
    m = hm_openai_out_message(r.out);
    is_json(m, "{\"role\":\"assistant\",\"content\":\"\"}", "empty output: content \"\"");
    json_decref(m);
    is_str(hm_openai_out_finish_reason(r.out, 0), "stop", "empty output stops");
    run_free(&r);

    run_text(&r, "<|channel|>final<|message|>Hé 💖", NULL, 1);
    json_t *d = r.deltas;
    char *s = json_dumps(d, JSON_COMPACT);
    ok(s != NULL, "deltas serialise with JSON_COMPACT");
    free(s);
    run_free(&r);
}

static void test_raw_tags_never_leak(void)
{
    run r;
    run_text(&r, "<|channel|>analysis<|message|>x<|end|><|channel|>final<|message|>y<|return|>",
             NULL, 1);
    json_t *m = hm_openai_out_message(r.out);
    is_json(m,
            "{\"role\":\"assistant\",\"content\":\"y\",\"reasoning_content\":\"x\","
            "\"reasoning\":\"x\"}",
            "a header without <|start|> does not leak into content");
    json_decref(m);
    run_free(&r);
}

int main(void)
{
    test_reasoning_and_content();
    test_streaming_deltas();
    test_tool_calls();
    test_length();
    test_raw_tags_never_leak();
    return done_testing();
}
