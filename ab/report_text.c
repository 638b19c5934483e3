/* report_text.c: fk-ab's terminal table, read from the JSON report (compare.c
 * owns every number; this file only lays them out). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ab.h"

static double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* A number with `prec` decimals, or "-" when absent. */
static const char *fmt(char *buf, size_t len, double v, int prec)
{
    if (isnan(v)) return "-";
    snprintf(buf, len, "%.*f", prec, v);
    return buf;
}

/* "analysis 0-31, final 31-64, commentary->functions.get_weather 12-20" */
static void print_spans(FILE *f, const json_t *side)
{
    size_t i;
    const json_t *m;
    int any = 0;
    json_array_foreach(json_object_get(side, "messages"), i, m)
    {
        const char *rcp = json_string_value(json_object_get(m, "recipient"));
        const char *ch = json_string_value(json_object_get(m, "channel"));
        fprintf(f, "%s%s%s%s %lld-%lld", any ? ", " : "", ch && *ch ? ch : "(none)",
                rcp ? "->" : "", rcp ? rcp : "",
                (long long)json_integer_value(json_object_get(m, "from")),
                (long long)json_integer_value(json_object_get(m, "to")));
        any = 1;
    }
    if (!any) fprintf(f, "no complete Harmony message");
}

/* One side's token at the divergence: "A \" derm\" (-1.234)" or "A stopped". */
static void print_token(FILE *f, const char *name, const json_t *t)
{
    char b[32];
    char *text = json_is_null(t) ? NULL : json_dumps(json_object_get(t, "text"), JSON_ENCODE_ANY);
    if (!text)
        fprintf(f, "%s stopped", name);
    else
        fprintf(f, "%s %s (%s)", name, text, fmt(b, sizeof b, num(t, "logprob"), 3));
    free(text);
}

static void print_divergence(FILE *f, const json_t *d)
{
    char b1[32], b2[32];
    fprintf(f, "    part at token %lld: ",
            (long long)json_integer_value(json_object_get(d, "position")));
    print_token(f, "A", json_object_get(d, "a"));
    fprintf(f, ", ");
    print_token(f, "B", json_object_get(d, "b"));
    fprintf(f, "; A gives B's token %s, B gives A's %s\n",
            fmt(b1, sizeof b1, num(d, "a_logprob_of_b_token"), 3),
            fmt(b2, sizeof b2, num(d, "b_logprob_of_a_token"), 3));
}

static void print_chat(FILE *f, const json_t *c)
{
    char b[8][32];
    const json_t *a = json_object_get(c, "a"), *bb = json_object_get(c, "b");
    const json_t *div = json_object_get(c, "first_divergence");
    fprintf(f, "%2lld %-36.36s %6lld %5lld/%-5lld %6.3f %9s %9s %6s %8s/%-8s %7s/%-7s\n",
            (long long)json_integer_value(json_object_get(c, "index")),
            json_string_value(json_object_get(c, "label")),
            (long long)json_integer_value(json_object_get(c, "prompt_tokens")),
            (long long)json_integer_value(json_object_get(a, "tokens")),
            (long long)json_integer_value(json_object_get(bb, "tokens")), num(c, "token_agreement"),
            json_is_null(div) ? "-" : fmt(b[0], sizeof b[0], (double)json_integer_value(div), 0),
            fmt(b[1], sizeof b[1], num(c, "mean_abs_logprob_diff"), 4),
            fmt(b[2], sizeof b[2], num(c, "top_k_overlap"), 2), fmt(b[3], 32, num(a, "ttft_ms"), 1),
            fmt(b[4], 32, num(bb, "ttft_ms"), 1), fmt(b[5], 32, num(a, "decode_tokens_per_s"), 1),
            fmt(b[6], 32, num(bb, "decode_tokens_per_s"), 1));
    fprintf(f, "    A: ");
    print_spans(f, a);
    fprintf(f, "\n    B: ");
    print_spans(f, bb);
    fprintf(f, "\n");
    if (!json_is_null(json_object_get(c, "divergence")))
        print_divergence(f, json_object_get(c, "divergence"));
}

static void print_speed(FILE *f, const char *name, const json_t *s)
{
    char b[3][32];
    fprintf(f, "%s: time to first token %s ms, inter-token %s ms, decode %s tokens/s\n", name,
            fmt(b[0], 32, num(s, "ttft_ms"), 1), fmt(b[1], 32, num(s, "itl_ms"), 2),
            fmt(b[2], 32, num(s, "decode_tokens_per_s"), 1));
}

void ab_report_text(FILE *f, const json_t *r)
{
    const json_t *a = json_object_get(r, "a"), *b = json_object_get(r, "b");
    const json_t *set = json_object_get(r, "settings"), *s = json_object_get(r, "summary");
    fprintf(f, "A: %s (%s)\nB: %s (%s)\n", json_string_value(json_object_get(a, "base")),
            json_string_value(json_object_get(a, "model")),
            json_string_value(json_object_get(b, "base")),
            json_string_value(json_object_get(b, "model")));
    fprintf(f, "greedy, at most %lld tokens, top-%lld alternatives compared\n\n",
            (long long)json_integer_value(json_object_get(set, "max_tokens")),
            (long long)json_integer_value(json_object_get(set, "top_k")));
    fprintf(f, "%2s %-36s %6s %11s %6s %9s %9s %6s %17s %15s\n", "#", "chat", "prompt",
            "tokens A/B", "agree", "first div", "|dlp|", "top-k", "TTFT ms A/B", "tok/s A/B");
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(r, "chats"), i, c) print_chat(f, c);
    char b1[32], b2[32], b3[32];
    fprintf(f,
            "\ntoken agreement %.3f (%lld of %lld tokens before the first divergence); "
            "%lld of %lld chats identical\n",
            num(s, "token_agreement"),
            (long long)json_integer_value(json_object_get(s, "agreed_tokens")),
            (long long)json_integer_value(json_object_get(s, "compared_tokens")),
            (long long)json_integer_value(json_object_get(s, "identical_chats")),
            (long long)json_integer_value(json_object_get(s, "chats")));
    fprintf(f, "log-probability difference before divergence: mean %s, max %s; top-k overlap %s\n",
            fmt(b1, 32, num(s, "mean_abs_logprob_diff"), 4),
            fmt(b2, 32, num(s, "max_abs_logprob_diff"), 4),
            fmt(b3, 32, num(s, "top_k_overlap"), 2));
    print_speed(f, "A", json_object_get(s, "a"));
    print_speed(f, "B", json_object_get(s, "b"));
}
