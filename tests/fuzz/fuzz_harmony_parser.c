/* fuzz_harmony_parser.c: libFuzzer target for the streaming Harmony parser.
 *
 * Input encoding: byte 0 holds options (bit 0 strict, bit 1 assistant role
 * hint); then 0x01 k is special token k (mod the table below), 0x02 ends the
 * current text piece, every other byte is text (invalid UTF-8 included).
 *
 * Checks: every event's strings are valid UTF-8, CONTENT is non-empty and
 * only inside a message, starts and ends alternate, nothing follows an
 * error; the same stream in four chunkings (text pieces cut where the input
 * says, merged, one byte each, and cut at pseudo-random lengths) gives the
 * same events (content coalesced); every event goes through the OpenAI
 * mapping and its deltas serialise with JSON_COMPACT. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harmony/harmony.h"
#include "harmony/strbuf.h"
#include "harmony/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const SPECIALS[] = {
    "<|start|>",   "<|message|>",   "<|end|>",       "<|return|>",          "<|call|>",
    "<|channel|>", "<|constrain|>", "<|endoftext|>", "<|reserved_200013|>", "<|startoftext|>",
};
#define N_SPECIALS (sizeof SPECIALS / sizeof *SPECIALS)

typedef struct state {
    strbuf log;         /* events, content coalesced */
    strbuf pending;     /* content not yet logged */
    int in_message;     /* between START and END */
    int failed;         /* an ERROR was seen */
    hm_openai_out *out; /* OpenAI mapping of the same events (NULL: not mapped) */
} state;

static void must(int cond)
{
    if (!cond) abort();
}

static void valid_utf8(const char *s, size_t n)
{
    size_t v, bad;
    if (s) must(hm_utf8_check((const unsigned char *)s, n, &v, &bad) == HM_UTF8_VALID);
}

static void valid_str(const char *s)
{
    if (s) valid_utf8(s, strlen(s));
}

static void flush(state *st)
{
    if (!st->pending.len) return;
    strbuf_append_str(&st->log, "C:");
    strbuf_append(&st->log, st->pending.data, st->pending.len);
    strbuf_append_str(&st->log, "\n");
    strbuf_reset(&st->pending);
}

static void on_event(void *ud, const hm_event *ev)
{
    state *st = ud;
    must(!st->failed);
    if (st->out) hm_openai_out_event(st->out, ev);
    switch (ev->kind) {
    case HM_EV_MESSAGE_START:
        must(!st->in_message);
        st->in_message = 1;
        valid_str(ev->name);
        valid_str(ev->channel);
        valid_str(ev->recipient);
        valid_str(ev->content_type);
        flush(st);
        strbuf_printf(&st->log, "S:%d|%s|%s|%s|%s\n", ev->role, ev->name ? ev->name : "-",
                      ev->channel ? ev->channel : "-", ev->recipient ? ev->recipient : "-",
                      ev->content_type ? ev->content_type : "-");
        break;
    case HM_EV_CONTENT:
        must(st->in_message);
        must(ev->len > 0);
        valid_utf8(ev->text, ev->len);
        strbuf_append(&st->pending, ev->text, ev->len);
        break;
    case HM_EV_MESSAGE_END:
        must(st->in_message);
        st->in_message = 0;
        flush(st);
        strbuf_printf(&st->log, "E:%d\n", ev->terminator);
        break;
    case HM_EV_ERROR:
        st->failed = 1;
        flush(st);
        strbuf_printf(&st->log, "X:%s\n", ev->error);
        break;
    }
}

/* After each piece: count it, take the deltas, check they serialise. */
static void take_deltas(state *st, const hm_parser *p)
{
    if (!st->out) return;
    hm_openai_out_count_token(st->out, hm_parser_channel(p));
    json_t *d = hm_openai_out_take_deltas(st->out);
    char *js = json_dumps(d, JSON_COMPACT);
    must(js != NULL);
    free(js);
    json_decref(d);
}

/* How text pieces are cut: as the input says (at 0x02), merged between
 * specials, one byte each, or at pseudo-random lengths (1..7). */
typedef enum chunking { CUT_AS_GIVEN, CUT_MERGED, CUT_BYTES, CUT_RANDOM } chunking;

/* 1 when the text collected so far ends a piece before byte i. */
static int cut_here(chunking how, const uint8_t *data, size_t i, size_t text_len, uint32_t *rng)
{
    switch (how) {
    case CUT_AS_GIVEN:
        return data[i] == 0x02;
    case CUT_MERGED:
        return 0;
    case CUT_BYTES:
        return text_len > 0;
    case CUT_RANDOM:
        *rng = *rng * 1103515245u + 12345u;
        return text_len > (*rng >> 16) % 7;
    }
    return 0;
}

/* The whole message, the last deltas and the finish reason serialise. */
static void check_message(hm_openai_out *out)
{
    json_t *m = hm_openai_out_message(out);
    char *js = json_dumps(m, JSON_COMPACT);
    must(js != NULL);
    free(js);
    json_decref(m);
    json_t *d = hm_openai_out_take_deltas(out);
    js = json_dumps(d, JSON_COMPACT);
    must(js != NULL);
    free(js);
    json_decref(d);
    must(hm_openai_out_finish_reason(out, 0) != NULL);
}

/* Runs the stream cut `how`. Returns the log. */
static char *run(const uint8_t *data, size_t size, chunking how)
{
    state st;
    memset(&st, 0, sizeof st);
    strbuf_init(&st.log);
    strbuf_init(&st.pending);
    strbuf_append(&st.log, "", 0);
    /* the input's own chunking is also mapped to OpenAI output; the others
     * only compare events, which keeps a run cheap enough to try many inputs */
    st.out = how == CUT_AS_GIVEN ? hm_openai_out_new(NULL) : NULL;
    hm_parser_options o = {data[0] & 1, (data[0] >> 1) & 1};
    hm_parser *p = hm_parser_new(&o, on_event, &st);
    strbuf text;
    strbuf_init(&text);
    uint32_t rng = data[0];
    for (size_t i = 1; i <= size; i++) {
        int special = i < size && data[i] == 0x01 && i + 1 < size;
        int cut = i == size || special || cut_here(how, data, i, text.len, &rng);
        if (cut && text.len) {
            hm_parser_feed(p, text.data, text.len, 0, -1);
            take_deltas(&st, p);
            strbuf_reset(&text);
        }
        if (i == size) break;
        if (special) {
            const char *s = SPECIALS[data[++i] % N_SPECIALS];
            hm_parser_feed(p, s, strlen(s), 1, -1);
            take_deltas(&st, p);
        } else if (data[i] != 0x02) {
            strbuf_append(&text, &data[i], 1);
        }
    }
    hm_parser_finish(p);
    must(!st.in_message || st.failed);
    flush(&st);
    if (st.out) check_message(st.out);
    hm_parser_free(p);
    hm_openai_out_free(st.out);
    strbuf_clear(&text);
    strbuf_clear(&st.pending);
    return strbuf_take(&st.log, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    char *given = run(data, size, CUT_AS_GIVEN);
    for (chunking how = CUT_MERGED; how <= CUT_RANDOM; how++) {
        char *other = run(data, size, how);
        must(strcmp(given, other) == 0);
        free(other);
    }
    free(given);
    return 0;
}
