/* test_tokmask: token masks over the real o200k_harmony vocabulary
 * (drivers/cuda/serve/tokmask.h, constraint.h), without a model.
 *
 *   - exact: at states met along random documents of several schemas, the
 *     mask equals feeding every ordinary token's bytes to the automaton;
 *   - calls: random logits (what a random-weight model gives) sampled under
 *     the constraint, from a prompt that ends in a forced call header, end
 *     in <|call|> after arguments that parse and validate (ref_validator.h);
 *     from "to=functions." they name a tool first; a header the model writes
 *     itself is constrained the same way; text without a call is free. */
#include "drivers/cuda/serve/constraint.h"
#include "drivers/cuda/serve/tokmask.h"
#include "tests/tap.h"
#include "tests/unit/ref_validator.h"
#include "tokenizer/fktok.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static fktok *tok;

static const char *bytes_of(const void *ud, int32_t id, size_t *len)
{
    return fktok_token_bytes(ud, id, len);
}

static int special_of(const void *ud, int32_t id)
{
    return fktok_is_special(ud, id);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *const schemas[] = {
    "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":6},"
    "\"unit\":{\"enum\":[\"celsius\",\"fahrenheit\"]},\"days\":{\"type\":\"integer\"}},"
    "\"required\":[\"city\",\"unit\"],\"additionalProperties\":false}",
    "{\"type\":\"object\",\"properties\":{\"tags\":{\"type\":\"array\",\"items\":{\"type\":"
    "\"string\",\"maxLength\":4},\"maxItems\":3},\"ok\":{\"type\":\"boolean\"},\"x\":{\"type\":"
    "\"number\"}},\"required\":[\"ok\"]}",
    "{}",
    "{\"type\":\"string\",\"minLength\":2,\"maxLength\":5}",
};

static fk_schema *compile_text(const char *text)
{
    char err[128];
    json_t *j = json_loads(text, 0, NULL);
    fk_schema *s = j ? fk_schema_compile(j, err, sizeof err) : NULL;
    json_decref(j);
    return s;
}

/* ---- exactness --------------------------------------------------------------------- */

/* Brute force: every ordinary token fed to a copy of p. */
static size_t brute(const fk_pda *p, uint64_t *mask, size_t words)
{
    memset(mask, 0, words * sizeof *mask);
    size_t count = 0;
    int V = (int)fktok_vocab_size(tok);
    for (int32_t id = 0; id < V; id++) {
        size_t len = 0;
        const char *b = fktok_token_bytes(tok, id, &len);
        if (!b || !len || fktok_is_special(tok, id)) continue;
        fk_pda q;
        fk_pda_copy(&q, p);
        if (fk_pda_feed(&q, b, len)) {
            mask[id / 64] |= 1ull << (id % 64);
            count++;
        }
    }
    return count;
}

static void test_exact(fk_tokmask *tm)
{
    size_t words = fk_tokmask_words(tm);
    uint64_t *a = malloc(words * 8), *b = malloc(words * 8);
    for (size_t si = 0; si < sizeof schemas / sizeof *schemas; si++) {
        fk_schema *s = compile_text(schemas[si]);
        fk_pda p;
        fk_pda_init(&p, s);
        int states = 0, equal = 0;
        size_t total = 0;
        /* a random document, token by token, checking the mask before each */
        for (int step = 0; step < 40; step++) {
            size_t na = fk_tokmask_compute(tm, &p, a);
            size_t nb = brute(&p, b, words);
            states++;
            equal += na == nb && !memcmp(a, b, words * 8);
            total += na;
            if (na == 0) break;
            uint32_t pick = rnd((uint32_t)na);
            int32_t id = -1;
            for (size_t w = 0; w < words && id < 0; w++) {
                uint32_t c = (uint32_t)__builtin_popcountll(a[w]);
                if (pick >= c) {
                    pick -= c;
                    continue;
                }
                uint64_t bits = a[w];
                while (pick--) bits &= bits - 1;
                id = (int32_t)(w * 64 + (size_t)__builtin_ctzll(bits));
            }
            size_t len;
            const char *bytes = fktok_token_bytes(tok, id, &len);
            fk_pda_feed(&p, bytes, len);
        }
        ok(s && equal == states,
           "schema %zu: the mask equals brute force at %d states (%zu tokens "
           "allowed in all)",
           si, states, total);
        fk_schema_free(s);
    }
    free(a);
    free(b);
}

/* ---- calls under the constraint ----------------------------------------------------- */

static const char *tools_json =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":"
    "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":8},"
    "\"unit\":{\"enum\":[\"c\",\"f\"]},\"days\":{\"type\":\"integer\"}},\"required\":[\"city\","
    "\"unit\"],\"additionalProperties\":false}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"parameters\":{\"type\":"
    "\"object\",\"properties\":{\"zones\":{\"type\":\"array\",\"items\":{\"enum\":[\"utc\","
    "\"cet\"]},\"maxItems\":2},\"fmt\":{\"type\":\"boolean\"}},\"required\":[\"zones\"]}}}]";

static fk_constraint *new_constraint(const fk_harmony_ids *ids)
{
    fk_toolset t;
    char err[128], param[64];
    if (fk_toolset_parse(tools_json, &t, err, sizeof err, param, sizeof param) < 0) return NULL;
    return fk_constraint_new(&t, ids, bytes_of, special_of, tok);
}

static void feed_text(fk_constraint *c, const char *text, int allow_special)
{
    fktok_ids ids = {0};
    fktok_encode(tok, text, strlen(text), allow_special, &ids);
    for (size_t i = 0; i < ids.n; i++) fk_constraint_feed(c, ids.ids[i]);
    free(ids.ids);
}

/* Sample from random logits under the constraint until a terminator (or
 * `limit` tokens); the text of the ordinary tokens into out. Returns the
 * terminator id, or -1. */
static int32_t run(fk_constraint *c, fk_tokmask *tm, const fk_harmony_ids *ids, float *logits,
                   char *out, size_t cap, int limit, double *mask_ms, int *masked)
{
    int V = (int)fktok_vocab_size(tok);
    size_t n = 0;
    out[0] = 0;
    for (int step = 0; step < limit; step++) {
        for (int i = 0; i < V; i++) logits[i] = (float)rnd(1000) / 100.0f;
        int active = fk_constraint_active(c);
        if (active) {
            double t0 = now_ms();
            if (fk_constraint_mask(c, tm, logits, V) == 0) return -1;
            *mask_ms += now_ms() - t0;
            (*masked)++;
        }
        int32_t best = 0;
        for (int i = 1; i < V; i++)
            if (logits[i] > logits[best]) best = i;
        if (fk_constraint_feed(c, best) != 0) return -1;
        if (best == ids->call || best == ids->end || best == ids->ret) return best;
        size_t len;
        const char *b = fktok_token_bytes(tok, best, &len);
        if (b && !fktok_is_special(tok, best) && n + len + 1 < cap) {
            memcpy(out + n, b, len);
            n += len;
            out[n] = 0;
        }
    }
    return -1;
}

static void test_calls(fk_tokmask *tm, const fk_harmony_ids *ids, int rounds)
{
    int V = (int)fktok_vocab_size(tok);
    float *logits = malloc((size_t)V * sizeof *logits);
    json_t *tools = json_loads(tools_json, 0, NULL);
    const json_t *weather =
        json_object_get(json_object_get(json_array_get(tools, 0), "function"), "parameters");
    const json_t *time_params =
        json_object_get(json_object_get(json_array_get(tools, 1), "function"), "parameters");
    char out[8192];
    double mask_ms = 0;
    int masked = 0, valid = 0, named = 0;
    for (int r = 0; r < rounds; r++) {
        fk_constraint *c = new_constraint(ids);
        feed_text(c,
                  "<|start|>assistant<|channel|>commentary to=functions.get_weather "
                  "<|constrain|>json<|message|>",
                  1);
        int started = fk_constraint_active(c);
        int32_t end = run(c, tm, ids, logits, out, sizeof out, 400, &mask_ms, &masked);
        json_t *v = json_loads(out, 0, NULL);
        int good = started && end == ids->call && v && ref_valid(weather, v);
        if (!good && valid + 3 > r) diag("forced call %d: end %d: %s", r, end, out);
        valid += good;
        json_decref(v);
        fk_constraint_free(c);
    }
    ok(valid == rounds, "a forced call's arguments parse and validate, then <|call|> (%d of %d)",
       valid, rounds);
    for (int r = 0; r < rounds; r++) {
        fk_constraint *c = new_constraint(ids);
        feed_text(c, "<|start|>assistant<|channel|>commentary to=functions.", 1);
        int32_t end = run(c, tm, ids, logits, out, sizeof out, 400, &mask_ms, &masked);
        /* out holds "NAME json{...}" (the specials between are not in out) */
        const char *brace = strchr(out, '{');
        int is_weather = !strncmp(out, "get_weather json{", 17);
        int is_time = !strncmp(out, "get_time json{", 14);
        json_t *v = brace ? json_loads(brace, 0, NULL) : NULL;
        int good =
            end == ids->call && v &&
            ((is_weather && ref_valid(weather, v)) || (is_time && ref_valid(time_params, v)));
        if (!good && named + 3 > r) diag("required call %d: end %d: %s", r, end, out);
        named += good;
        json_decref(v);
        fk_constraint_free(c);
    }
    ok(named == rounds, "from \"to=functions.\" a tool is named, then valid arguments (%d of %d)",
       named, rounds);
    diag("mask: %.3f ms per constrained token over %d tokens (debug build if unoptimised)",
         masked ? mask_ms / masked : 0.0, masked);

    /* the model writes the header itself */
    fk_constraint *c = new_constraint(ids);
    feed_text(c, "<|start|>assistant", 1);
    ok(!fk_constraint_active(c), "an assistant header alone is free");
    feed_text(c, "<|channel|>analysis<|message|>I will call to=functions.get_weather now", 1);
    ok(!fk_constraint_active(c), "\"to=functions.\" inside a body is free text");
    feed_text(c, "<|end|><|start|>assistant<|channel|>commentary to=functions.get_w", 1);
    ok(fk_constraint_active(c), "a header the model writes is constrained once it names a tool");
    int32_t end = run(c, tm, ids, logits, out, sizeof out, 400, &mask_ms, &masked);
    json_t *v = strchr(out, '{') ? json_loads(strchr(out, '{'), 0, NULL) : NULL;
    ok(end == ids->call && !strncmp(out, "eather json{", 12) && v && ref_valid(weather, v),
       "it goes on into a valid call: %s", out);
    json_decref(v);
    fk_constraint_free(c);

    c = new_constraint(ids);
    feed_text(c, "<|start|>assistant<|channel|>commentary to=functions.nope", 1);
    ok(!fk_constraint_active(c), "a name no tool has is left alone");
    feed_text(c, " <|constrain|>json<|message|>", 1);
    ok(fk_constraint_active(c), "but its body must still be JSON");
    fk_constraint_free(c);

    c = new_constraint(ids);
    feed_text(c, "<|start|>assistant<|channel|>final<|message|>{\"a\":", 1);
    ok(!fk_constraint_active(c), "a final answer is free");
    fk_constraint_free(c);
    json_decref(tools);
    free(logits);
}

int main(void)
{
    char err[256];
    tok = fktok_load_default(err, sizeof err);
    if (!ok(tok != NULL, "the bundled tokenizer loads (%s)", tok ? "ok" : err))
        return done_testing();
    double t0 = now_ms();
    fk_tokmask *tm =
        fk_tokmask_new(bytes_of, special_of, tok, (int)fktok_vocab_size(tok), err, sizeof err);
    ok(tm != NULL, "the vocabulary is indexed (%.0f ms)", now_ms() - t0);
    fk_harmony_ids ids;
    ok(fk_harmony_ids_find(&ids, bytes_of, special_of, tok, (int)fktok_vocab_size(tok)) == 0,
       "the Harmony special tokens are found");
    if (tm) {
        test_exact(tm);
        test_calls(tm, &ids, 50);
    }
    fk_tokmask_free(tm);
    fktok_free(tok);
    return done_testing();
}
