/* render_vectors.c: runs one render vector (tests/fixtures/harmony/README.md):
 * load its system and messages, render in its mode, flatten, compare with
 * expected_text byte for byte. Works on any vector file of that schema. */
#include "harmony/check/check.h"
#include "harmony/harmony.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes up to `max` bytes of s[0..len) from `at` into out, escaping
 * newlines, tabs and quotes so the reason stays on one line. */
static void excerpt(char *out, size_t out_len, const char *s, size_t len, size_t at, size_t max)
{
    size_t o = 0;
    for (size_t i = at; i < len && i < at + max && o + 3 < out_len; i++) {
        char c = s[i];
        if (c == '\n' || c == '\t' || c == '"' || c == '\\') {
            out[o++] = '\\';
            c = c == '\n' ? 'n' : c == '\t' ? 't' : c;
        }
        out[o++] = c;
    }
    out[o] = '\0';
}

static int parse_mode(const char *s, hm_render_mode *mode)
{
    if (!s) return -1;
    if (!strcmp(s, "completion"))
        *mode = HM_RENDER_COMPLETION;
    else if (!strcmp(s, "conversation"))
        *mode = HM_RENDER_CONVERSATION;
    else if (!strcmp(s, "training"))
        *mode = HM_RENDER_TRAINING;
    else
        return -1;
    return 0;
}

/* The special tokens a renderer may emit as special segments. */
static int known_special(const char *s)
{
    static const char *const tokens[] = {"<|start|>",  "<|message|>", "<|end|>",      "<|call|>",
                                         "<|return|>", "<|channel|>", "<|constrain|>"};
    for (size_t i = 0; i < sizeof tokens / sizeof *tokens; i++)
        if (!strcmp(s, tokens[i])) return 1;
    return 0;
}

/* Compares the flattened prompt with the expected text; also checks that
 * every special segment is a known token. */
static int compare(const hm_prompt *p, const char *want, size_t want_len, char *why, size_t why_len)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->segs[i].is_special && !known_special(p->segs[i].text)) {
            snprintf(why, why_len, "segment %zu is special but not a token: %s", i,
                     p->segs[i].text);
            return 0;
        }
    size_t got_len;
    char *got = hm_prompt_flatten(p, &got_len);
    if (!got) {
        snprintf(why, why_len, "out of memory");
        return 0;
    }
    size_t at = 0;
    while (at < got_len && at < want_len && got[at] == want[at]) at++;
    int pass = at == got_len && at == want_len;
    if (!pass) {
        char g[64], w[64];
        size_t from = at > 20 ? at - 20 : 0;
        excerpt(g, sizeof g, got, got_len, from, 48);
        excerpt(w, sizeof w, want, want_len, from, 48);
        snprintf(why, why_len,
                 "differs at byte %zu (got %zu bytes, want %zu): got \"%s\" want \"%s\"", at,
                 got_len, want_len, g, w);
    }
    free(got);
    return pass;
}

int fk_check_render_vector(const json_t *vector, char *why, size_t why_len)
{
    hm_render_mode mode;
    const json_t *expected = json_object_get(vector, "expected_text");
    const json_t *drop = json_object_get(vector, "auto_drop_analysis");
    if (!json_is_object(vector)) {
        snprintf(why, why_len, "vector is not a JSON object");
        return 0;
    }
    if (parse_mode(json_string_value(json_object_get(vector, "mode")), &mode) < 0) {
        snprintf(why, why_len, "mode: expected \"completion\", \"conversation\" or \"training\"");
        return 0;
    }
    if (!json_is_string(expected) || !json_is_boolean(drop)) {
        snprintf(why, why_len, "expected_text (string) and auto_drop_analysis (bool) are required");
        return 0;
    }
    hm_conversation c;
    hm_conversation_init(&c);
    char *err = NULL;
    int pass = 0;
    if (hm_conversation_from_vector(&c, json_object_get(vector, "system"),
                                    json_object_get(vector, "messages"), &err) < 0) {
        snprintf(why, why_len, "cannot load vector: %s", err ? err : "out of memory");
    } else {
        hm_prompt p;
        if (hm_render(&c, mode, json_is_true(drop), &p, &err) < 0) {
            snprintf(why, why_len, "render failed: %s", err ? err : "out of memory");
        } else {
            pass = compare(&p, json_string_value(expected), json_string_length(expected), why,
                           why_len);
            hm_prompt_clear(&p);
        }
    }
    free(err);
    hm_conversation_clear(&c);
    return pass;
}
