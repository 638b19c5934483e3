/* grammar.c: constrained tool calls through llama-server's own grammar
 * sampling (GBNF, "grammar" on /completion).
 *
 * When tool_choice forces a call, the gateway renders the prompt to end in
 * the call's header (harmony/render.c), so the whole completion is the call:
 *
 *   "...to=functions.NAME <|constrain|>json<|message|>"
 *        -> grammar: NAME's arguments (constrain/gbnf.h)
 *   "...to=functions."
 *        -> grammar: one of "NAME " <|constrain|> "json" <|message|> ARGS
 *           (the special tokens by id, <[id]>)
 *
 * and a logit_bias that bans <|end|>, <|return|> and <|endoftext|>: the
 * grammar lets llama-server end the generation with any end-of-generation
 * token once the arguments are whole, so <|call|> is then the only one.
 * The grammar follows the same compiled schema as the native engine's
 * masks, so both cores accept the same arguments.
 *
 * A call the model makes on its own is not constrained on this core: the
 * grammar would have to start mid-generation, at the call's header, and
 * llama-server can do that only from a text trigger that also fires on
 * ordinary tokens spelling the header, with no way to insist on <|call|>
 * at its end (README, Tool calls). */
#include "constrain/gbnf.h"
#include "constrain/tools.h"
#include "proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NOT_FORCED = 0, FORCED_NAMED = 1, FORCED_ANY = 2 };

/* The text of prompt segment i: its bytes and length. */
static const fk_segment *seg_at(const fk_gen_request *req, size_t i)
{
    return FK_AT(req->segments, i, req->segment_size);
}

static int seg_is(const fk_segment *s, fk_segment_kind kind, const char *text)
{
    size_t n = strlen(text);
    return s->kind == kind && s->text && s->len == n && !memcmp(s->text, text, n);
}

/* Does the prompt end inside a call header (the gateway forced a call)?
 * The header is the segments after the last <|start|>; hdr gets its bytes
 * (specials spelled out), *off and *len the function's name in it. */
static int forced_call(const fk_gen_request *req, char *hdr, size_t cap, size_t *off, size_t *len)
{
    size_t n = req->n_segments, i = n;
    while (i > 0 && !seg_is(seg_at(req, i - 1), FK_SEG_SPECIAL, "<|start|>")) i--;
    if (i == 0 || n == 0) return NOT_FORCED;
    int message = seg_is(seg_at(req, n - 1), FK_SEG_SPECIAL, "<|message|>");
    size_t used = 0;
    for (size_t k = i; k < n - (size_t)message; k++) {
        const fk_segment *s = seg_at(req, k);
        if (s->kind == FK_SEG_TOKEN || !s->text || used + s->len > cap) return NOT_FORCED;
        memcpy(hdr + used, s->text, s->len);
        used += s->len;
    }
    if (!fk_header_call(hdr, used, off, len)) return NOT_FORCED;
    if (message) return *len ? FORCED_NAMED : NOT_FORCED;
    return *len == 0 && *off == used ? FORCED_ANY : NOT_FORCED;
}

/* The grammar as GBNF text (malloc'd), or NULL on OOM. */
static char *write_grammar(const fk_toolset *t, long named, int32_t constrain_id,
                           int32_t message_id)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    int rc = 0;
    if (named >= 0) {
        fputs("root ::= t0-root\n", f);
    } else {
        fputs("root ::= ", f);
        for (size_t k = 0; k < t->n; k++) {
            char name[80];
            int n = snprintf(name, sizeof name, "%s ", t->names[k]);
            if (k) fputs(" | ", f);
            fk_gbnf_literal(f, name, (size_t)n);
            fprintf(f, " <[%d]> \"json\" <[%d]> t%zu-root", constrain_id, message_id, k);
        }
        fputc('\n', f);
    }
    fk_gbnf_common(f);
    for (size_t k = 0; k < t->n && rc == 0; k++) {
        if (named >= 0 && (long)k != named) continue;
        char prefix[32];
        snprintf(prefix, sizeof prefix, "t%zu", named >= 0 ? (size_t)0 : k);
        rc = fk_gbnf_schema(f, t->schemas[k], prefix);
    }
    if (fclose(f) != 0 || rc != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* Appends the grammar fields to b. 0, or -1 on OOM. */
static int append_fields(strbuf *b, const char *grammar, const int32_t *banned, size_t n_banned)
{
    json_t *js = json_string(grammar);
    char *quoted = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
    json_decref(js);
    if (!quoted) return -1;
    strbuf_append_str(b, ",\"grammar\":");
    strbuf_append_str(b, quoted);
    free(quoted);
    strbuf_append_str(b, ",\"logit_bias\":[");
    for (size_t i = 0; i < n_banned; i++) strbuf_printf(b, "%s[%d,false]", i ? "," : "", banned[i]);
    strbuf_append_char(b, ']');
    return b->oom ? -1 : 0;
}

int grammar_fields(fk_gen *g, const fk_gen_request *req, strbuf *fields, fk_error *err, char *msg,
                   size_t msg_len)
{
    static char param[128]; /* the field a refusal names (loop thread; outlives generate) */
    if (req->mode != FK_GEN_HARMONY || !req->tools_json) return 0;
    fk_toolset t;
    if (fk_toolset_parse(req->tools_json, &t, msg, msg_len, param, sizeof param) != 0)
        return errors_refuse(err, msg, 400, "invalid_value", param);
    char hdr[1024];
    size_t off = 0, len = 0;
    int forced = t.n ? forced_call(req, hdr, sizeof hdr, &off, &len) : NOT_FORCED;
    long named = forced == FORCED_NAMED ? fk_toolset_find(&t, hdr + off, len) : -1;
    int rc = 0;
    const fktok *tok = g->core->tok;
    int32_t banned[3] = {fktok_special_id(tok, "<|end|>", 7),
                         fktok_special_id(tok, "<|return|>", 10),
                         fktok_special_id(tok, "<|endoftext|>", 13)};
    int32_t constrain_id = fktok_special_id(tok, "<|constrain|>", 13);
    int32_t message_id = fktok_special_id(tok, "<|message|>", 11);
    int harmony = banned[0] >= 0 && banned[1] >= 0 && banned[2] >= 0 && constrain_id >= 0 &&
                  message_id >= 0; /* a tokenizer without them: nothing to constrain with */
    if (harmony && (forced == FORCED_ANY || named >= 0)) {
        char *grammar = write_grammar(&t, named, constrain_id, message_id);
        rc = grammar && append_fields(fields, grammar, banned, 3) == 0 ? 0 : -1;
        free(grammar);
        if (rc != 0) {
            snprintf(msg, msg_len, "out of memory while writing the tool-call grammar");
            rc = errors_refuse(err, msg, 500, "internal_error", NULL);
        }
    }
    fk_toolset_clear(&t);
    return rc;
}
