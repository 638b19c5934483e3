/* chats.c: the chats fk-ab sends, as prompt ids.
 *
 * A chat is rendered to Harmony segments by libfkharmony and tokenized by
 * libfktok's one segment rule, as the gateway's chat path does: user text
 * never becomes special tokens. Both sides then get the same ids through
 * /v1/completions, so what differs is the cores, not templates. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ab.h"
#include "harmony/harmony.h"
#include "tokenizer/segments.h"

#define AB_LABEL_BYTES 48 /* a chat's label is cut to about this many bytes */

/* The built-in set: reasoning, a system message, a tool call, plain text. */
static const char *const builtin[] = {
    "{\"messages\": [{\"role\": \"user\", \"content\": \"What is 2+2? Think step by step.\"}]}",
    "{\"messages\": [{\"role\": \"system\", \"content\": \"Answer in one sentence.\"},"
    " {\"role\": \"user\", \"content\": \"Why is the sky blue?\"}]}",
    "{\"messages\": [{\"role\": \"user\", \"content\": \"What is the weather in Paris?\"}],"
    " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\","
    " \"description\": \"Current weather for a city\", \"parameters\": {\"type\": \"object\","
    " \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}]}",
    "{\"messages\": [{\"role\": \"user\", \"content\": \"Write a haiku about autumn.\"}]}",
};

/* A copy of text[0..len) cut to about AB_LABEL_BYTES at a character start,
 * with newlines as spaces. */
static char *make_label(const char *text, size_t len)
{
    size_t n = len;
    if (n > AB_LABEL_BYTES) {
        n = AB_LABEL_BYTES;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) n--;
    }
    char *s = malloc(n + 4);
    if (!s) return NULL;
    for (size_t i = 0; i < n; i++) s[i] = text[i] == '\n' || text[i] == '\r' ? ' ' : text[i];
    strcpy(s + n, n < len ? "..." : "");
    return s;
}

/* The label of a chat: its last user message's text. */
static char *chat_label(const json_t *messages)
{
    for (size_t i = json_array_size(messages); i-- > 0;) {
        const json_t *m = json_array_get(messages, i);
        const json_t *content = json_object_get(m, "content");
        const char *role = json_string_value(json_object_get(m, "role"));
        if (json_is_string(content) && role && strcmp(role, "user") == 0)
            return make_label(json_string_value(content), json_string_length(content));
    }
    return make_label("(no user message)", 17);
}

/* A chat request -> ids: the gateway's chat path (render, then the segment rule). */
static int render_chat(const json_t *line, const fktok *tok, const char *date, fktok_ids *ids,
                       char *err, size_t err_len)
{
    hm_openai_options ho = {.current_date = date, .default_effort = NULL};
    hm_conversation conv;
    hm_openai_error he;
    if (hm_openai_chat_to_conversation(line, &ho, &conv, &he) < 0) {
        snprintf(err, err_len, "%.100s%s%.380s", he.param, he.param[0] ? ": " : "", he.message);
        return -1;
    }
    hm_prompt p;
    hm_prompt_init(&p);
    char *rerr = NULL;
    int rc = hm_render(&conv, HM_RENDER_COMPLETION, 1, &p, &rerr);
    hm_conversation_clear(&conv);
    if (rc < 0) {
        snprintf(err, err_len, "%s", rerr ? rerr : "cannot render the chat");
        free(rerr);
        return -1;
    }
    fktok_segment *segs = calloc(p.n ? p.n : 1, sizeof *segs);
    rc = segs ? 0 : -1;
    for (size_t i = 0; segs && i < p.n; i++)
        segs[i] = (fktok_segment){p.segs[i].is_special ? FKTOK_SEG_SPECIAL : FKTOK_SEG_TEXT,
                                  p.segs[i].text, p.segs[i].len, -1};
    if (segs) rc = fktok_encode_segments(tok, segs, p.n, ids, err, err_len);
    if (!segs) snprintf(err, err_len, "out of memory");
    free(segs);
    hm_prompt_clear(&p);
    return rc < 0 ? -1 : 0;
}

/* A raw prompt: operator text (spelled-out specials count, as the gateway's
 * /v1/completions reads a string) or ids. */
static int raw_prompt(const json_t *prompt, const fktok *tok, fktok_ids *ids, char *err,
                      size_t err_len)
{
    if (json_is_string(prompt)) {
        fktok_segment s = {FKTOK_SEG_RAW, json_string_value(prompt), json_string_length(prompt),
                           -1};
        return fktok_encode_segments(tok, &s, 1, ids, err, err_len) < 0 ? -1 : 0;
    }
    size_t i, n = json_array_size(prompt);
    const json_t *v;
    if (!json_is_array(prompt) || n == 0) {
        snprintf(err, err_len, "\"prompt\" must be a string or a non-empty array of token ids");
        return -1;
    }
    json_array_foreach(prompt, i, v)
    {
        json_int_t id = json_integer_value(v);
        if (!json_is_integer(v) || id < 0 || (size_t)id >= fktok_vocab_size(tok)) {
            snprintf(err, err_len, "prompt[%zu] is not a token id of the tokenizer", i);
            return -1;
        }
        fktok_segment s = {FKTOK_SEG_TOKEN, NULL, 0, (int32_t)id};
        if (fktok_encode_segments(tok, &s, 1, ids, err, err_len) < 0) return -1;
    }
    return 0;
}

/* One JSONL line (parsed) -> chat. 0, or -1 with err. */
static int chat_from_json(const json_t *line, const fktok *tok, const char *date, ab_chat *c,
                          char *err, size_t err_len)
{
    fktok_ids ids = {0};
    const json_t *prompt = json_object_get(line, "prompt");
    const json_t *messages = json_object_get(line, "messages");
    int rc;
    if (!json_is_object(line) || (!prompt == !messages)) {
        snprintf(err, err_len, "a line must be an object with \"messages\" or \"prompt\"");
        return -1;
    }
    if (prompt) {
        c->raw = 1;
        rc = raw_prompt(prompt, tok, &ids, err, err_len);
        c->label = json_is_string(prompt)
                       ? make_label(json_string_value(prompt), json_string_length(prompt))
                       : make_label("(token ids)", 11);
    } else {
        rc = render_chat(line, tok, date, &ids, err, err_len);
        c->label = chat_label(messages);
    }
    c->prompt = ids.ids;
    c->n_prompt = ids.n;
    if (rc == 0 && !c->label) snprintf(err, err_len, "out of memory");
    return rc == 0 && c->label ? 0 : -1;
}

static int push_chat(ab_chats *out, const json_t *line, const fktok *tok, const char *date,
                     char *err, size_t err_len)
{
    ab_chat *v = realloc(out->v, (out->n + 1) * sizeof *v);
    if (!v) return snprintf(err, err_len, "out of memory"), -1;
    out->v = v;
    memset(&v[out->n], 0, sizeof *v);
    int rc = chat_from_json(line, tok, date, &v[out->n], err, err_len);
    out->n++; /* even on failure, so ab_chats_free frees what it holds */
    return rc;
}

static int load_builtin(ab_chats *out, const fktok *tok, const char *date, char *err,
                        size_t err_len)
{
    for (size_t i = 0; i < sizeof builtin / sizeof *builtin; i++) {
        json_t *line = json_loads(builtin[i], 0, NULL);
        char why[512];
        int rc = line ? push_chat(out, line, tok, date, why, sizeof why) : -1;
        json_decref(line);
        if (rc < 0) return snprintf(err, err_len, "built-in chat %zu: %s", i + 1, why), -1;
    }
    return 0;
}

static int load_file(ab_chats *out, const char *path, const fktok *tok, const char *date, char *err,
                     size_t err_len)
{
    FILE *f = fopen(path, "r");
    if (!f) return snprintf(err, err_len, "%s: %s", path, strerror(errno)), -1;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    while (rc == 0 && (len = getline(&buf, &cap, f)) >= 0) {
        lineno++;
        if (strspn(buf, " \t\r\n") == (size_t)len) continue;
        json_error_t je;
        json_t *line = json_loadb(buf, (size_t)len, 0, &je);
        char why[512];
        if (!line) snprintf(why, sizeof why, "not JSON: %s", je.text);
        rc = line ? push_chat(out, line, tok, date, why, sizeof why) : -1;
        json_decref(line);
        if (rc < 0) snprintf(err, err_len, "%s:%d: %s", path, lineno, why);
    }
    free(buf);
    fclose(f);
    if (rc == 0 && out->n == 0) rc = -1, snprintf(err, err_len, "%s: no chats", path);
    return rc;
}

int ab_chats_load(ab_chats *out, const char *path, const fktok *tok, const char *date, char *err,
                  size_t err_len)
{
    memset(out, 0, sizeof *out);
    int rc = path ? load_file(out, path, tok, date, err, err_len)
                  : load_builtin(out, tok, date, err, err_len);
    if (rc < 0) ab_chats_free(out);
    return rc;
}

void ab_chats_free(ab_chats *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].label);
        free(c->v[i].prompt);
    }
    free(c->v);
    memset(c, 0, sizeof *c);
}
