/* test_ab: fk-ab's comparison (ab/compare.c) on runs built by hand: where
 * two answers part, the numbers at each position, and tokens a core sent
 * without their id (ab_align). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ab/ab.h"
#include "tests/tap.h"

/* A run of n named tokens with logprob lp each and ids as alternatives. */
static ab_run run_of(const int32_t *ids, size_t n, double lp)
{
    ab_run r = {.tok = calloc(n + 8, sizeof(ab_token)), .cap = n + 8, .n = n};
    for (size_t i = 0; i < n; i++) {
        r.tok[i] = (ab_token){.id = ids[i], .logprob = lp, .n_top = 2, .t_ms = 10.0 * (double)i};
        r.tok[i].top_id[0] = ids[i];
        r.tok[i].top_lp[0] = lp;
        r.tok[i].top_id[1] = ids[i] + 1;
        r.tok[i].top_lp[1] = lp - 1;
    }
    return r;
}

static long long integer(const json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

int main(void)
{
    char err[512];
    fktok *tok = fktok_load_default(err, sizeof err);
    if (!tok) return printf("Bail out! tokenizer: %s\n", err), 1;
    ab_chat chat = {.label = "t", .n_prompt = 3};
    /* " Hello world" then B says " there" where A says " world" */
    int32_t a_ids[] = {13225, 2375, 0}, b_ids[] = {13225, 1354, 0};
    ab_run a = run_of(a_ids, 3, -0.5), b = run_of(b_ids, 2, -0.75);
    b.tok[1].top_id[1] = 2375; /* B's second choice is A's token */
    b.tok[1].top_lp[1] = -2;
    json_t *c = ab_compare_chat(&chat, 1, &a, &b, tok);
    is_int(integer(c, "first_divergence"), 1, "they part at token 1");
    is_int(integer(c, "compared_tokens"), 3, "compared: the longer answer");
    is_int(integer(c, "agreed_tokens"), 1, "agreed: the tokens before");
    ok(fabs(json_number_value(json_object_get(c, "token_agreement")) - 1.0 / 3) < 1e-12, "1/3");
    ok(fabs(json_number_value(json_object_get(c, "mean_abs_logprob_diff")) - 0.25) < 1e-12,
       "|-0.5 - -0.75| before the divergence");
    is_int((long long)json_array_size(json_object_get(c, "positions")), 2,
           "positions up to and including the divergence");
    ok(json_is_null(
           json_object_get(json_array_get(json_object_get(c, "positions"), 1), "logprob_diff")),
       "no difference of one token at the divergence");
    const json_t *dv = json_object_get(c, "divergence");
    ok(json_number_value(json_object_get(dv, "b_logprob_of_a_token")) == -2,
       "B's log-probability of A's token, from its alternatives");
    ok(json_is_null(json_object_get(dv, "a_logprob_of_b_token")), "null when A did not list B's");
    const json_t *sa = json_object_get(c, "a");
    ok(fabs(json_number_value(json_object_get(sa, "itl_ms")) - 10) < 1e-9, "inter-token latency");
    ok(fabs(json_number_value(json_object_get(sa, "decode_tokens_per_s")) - 100) < 1e-9,
       "decode tokens/s: (n-1) over first to last token");
    json_decref(c);
    ab_run_clear(&a);
    ab_run_clear(&b);

    /* 9685 ends inside a UTF-8 character: llama-server sends its bytes with
     * the next token and names only that one; the gateway passes them as an
     * unnamed entry whose text has U+FFFD for the cut bytes. */
    int32_t n_ids[] = {32, 9685, 188956};
    a = run_of(n_ids, 3, -1);
    b = run_of(n_ids, 3, -1);
    b.tok[1].id = -1;
    b.tok[1].text = strdup("\xEF\xBF\xBD");
    ok(ab_align(&a, &b, tok) == 0 && b.n == 3 && b.tok[1].id == 9685 && b.tok[1].inferred &&
           isnan(b.tok[1].logprob),
       "an unnamed entry takes the id whose text it is");
    c = ab_compare_chat(&chat, 1, &a, &b, tok);
    ok(json_is_null(json_object_get(c, "first_divergence")), "and the answers agree");
    is_int(integer(json_object_get(c, "b"), "unnamed_tokens"), 1, "counted as unnamed");
    json_decref(c);
    ab_run_clear(&b);
    /* one entry for two tokens: "A" and 9685 held back together */
    int32_t two[] = {32, 188956};
    b = run_of(two, 2, -1);
    b.tok[0].id = -1;
    b.tok[0].text = strdup("A\xEF\xBF\xBD");
    ok(ab_align(&a, &b, tok) == 0 && b.n == 3 && b.tok[0].id == 32 && b.tok[1].id == 9685 &&
           b.tok[2].id == 188956,
       "an unnamed entry may stand for several tokens");
    ab_run_clear(&b);
    b = run_of(n_ids, 3, -1);
    b.tok[1].id = -1;
    b.tok[1].text = strdup("x");
    c = (ab_align(&a, &b, tok) == 0) ? ab_compare_chat(&chat, 1, &a, &b, tok) : NULL;
    is_int(integer(c, "first_divergence"), 1, "text that is not the other side's: they part");
    json_decref(c);
    ab_run_clear(&a);
    ab_run_clear(&b);
    fktok_free(tok);
    return done_testing();
}
