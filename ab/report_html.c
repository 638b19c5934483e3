/* report_html.c: fk-ab --html FILE, one self-contained page read from the JSON
 * report: inline CSS, inline SVG plots (where each chat's answers part, the
 * log-probability difference by position, speed), every token of both sides
 * with the diverging ones marked. Nothing is loaded from anywhere: no
 * scripts, no fonts, no images. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ab.h"

#define W 760      /* plot width, px */
#define LEFT 48    /* plot margin for labels */
#define ROW 22     /* one chat's row in the divergence plot */
#define PLOT_H 220 /* height of the line and bar plots */

static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                     "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};
#define COLOR(i) colors[(i) % (sizeof colors / sizeof *colors)]

static double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static long long integer(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

/* Text as HTML (also safe inside attribute values). */
static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static void esc_key(FILE *f, const json_t *o, const char *key)
{
    esc(f, json_string_value(json_object_get(o, key)));
}

static void print_num(FILE *f, double v, int prec)
{
    if (isnan(v))
        fputs("-", f);
    else
        fprintf(f, "%.*f", prec, v);
}

static const char css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:60em;padding:0 1em;"
    "color:#222}"
    "h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em}table{border-collapse:collapse}"
    "td,th{padding:2px 8px;text-align:right;border-bottom:1px solid #ddd}"
    "td:first-child,th:first-child{text-align:left}"
    ".toks{font:12px/1.7 ui-monospace,monospace;white-space:pre-wrap;word-break:break-all;"
    "border:1px solid #ccc;padding:4px;margin:4px 0}"
    ".t{border-right:1px dotted #bbb}.sp{color:#888}.an{background:#f3f0ff}"
    ".cm{background:#e8f4ff}.dv{background:#ffd6d6}.dv0{outline:2px solid #d62728}"
    "svg text{font:11px sans-serif}";

/* ---- plots ---------------------------------------------------------------------- */

/* Each chat a bar as long as its compared tokens: agreed green, the rest grey,
 * a red tick where the answers part. */
static void plot_divergence(FILE *f, const json_t *chats)
{
    long long max = 1;
    size_t i, n = json_array_size(chats);
    const json_t *c;
    json_array_foreach(chats, i, c) if (integer(c, "compared_tokens") > max) max =
        integer(c, "compared_tokens");
    double scale = (double)(W - LEFT - 10) / (double)max;
    fprintf(f, "<svg width=\"%d\" height=\"%zu\" role=\"img\" aria-label=\"divergence\">", W,
            n * ROW + 24);
    json_array_foreach(chats, i, c)
    {
        double y = (double)i * ROW + 4;
        long long agreed = integer(c, "agreed_tokens"), all = integer(c, "compared_tokens");
        fprintf(f, "<text x=\"0\" y=\"%.0f\">#%lld</text>", y + 13, integer(c, "index"));
        fprintf(f, "<rect x=\"%d\" y=\"%.0f\" width=\"%.1f\" height=\"14\" fill=\"#ccc\"/>", LEFT,
                y, (double)all * scale);
        fprintf(f, "<rect x=\"%d\" y=\"%.0f\" width=\"%.1f\" height=\"14\" fill=\"#2ca02c\"/>",
                LEFT, y, (double)agreed * scale);
        if (!json_is_null(json_object_get(c, "first_divergence")))
            fprintf(f,
                    "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"#d62728\" "
                    "stroke-width=\"3\"/><text x=\"%.1f\" y=\"%.0f\">%lld</text>",
                    LEFT + (double)agreed * scale, LEFT + (double)agreed * scale, y - 2, y + 16,
                    LEFT + (double)agreed * scale + 4, y + 12, agreed);
    }
    fprintf(f,
            "<text x=\"%d\" y=\"%zu\">0</text><text x=\"%d\" y=\"%zu\" "
            "text-anchor=\"end\">%lld tokens</text></svg>\n",
            LEFT, n * ROW + 18, W - 10, n * ROW + 18, max);
}

/* A - B log-probability of the shared token at each position before the
 * divergence, one line per chat. */
static void plot_logprob(FILE *f, const json_t *chats)
{
    double ymax = 1e-3;
    long long xmax = 1;
    size_t i, k;
    const json_t *c, *p;
    json_array_foreach(chats, i, c) json_array_foreach(json_object_get(c, "positions"), k, p)
    {
        double d = num(p, "logprob_diff");
        if (!isnan(d) && fabs(d) > ymax) ymax = fabs(d);
        if (integer(p, "i") > xmax) xmax = integer(p, "i");
    }
    double mid = PLOT_H / 2.0, sy = (PLOT_H / 2.0 - 10) / ymax;
    double sx = (double)(W - LEFT - 10) / (double)xmax;
    fprintf(f, "<svg width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"logprob difference\">", W,
            PLOT_H + 20);
    fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"#999\"/>", LEFT, W - 10,
            mid, mid);
    fprintf(f,
            "<text x=\"0\" y=\"14\">+%.3g</text><text x=\"0\" y=\"%.0f\">0</text>"
            "<text x=\"0\" y=\"%d\">-%.3g</text>",
            ymax, mid + 4, PLOT_H - 4, ymax);
    json_array_foreach(chats, i, c)
    {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" points=\"", COLOR(i));
        json_array_foreach(json_object_get(c, "positions"), k, p)
        {
            double d = num(p, "logprob_diff");
            if (!isnan(d))
                fprintf(f, "%.1f,%.1f ", LEFT + (double)integer(p, "i") * sx, mid - d * sy);
        }
        fprintf(f, "\"/><text x=\"%zu\" y=\"%d\" fill=\"%s\">#%lld</text>", LEFT + 40 * i,
                PLOT_H + 16, COLOR(i), integer(c, "index"));
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">position %lld</text></svg>\n", W - 10,
            PLOT_H + 16, xmax);
}

/* Two bars per chat (A, B) for one of each side's numbers. */
static void plot_bars(FILE *f, const json_t *chats, const char *key, const char *unit)
{
    double max = 1e-9;
    size_t i, n = json_array_size(chats);
    const json_t *c;
    json_array_foreach(chats, i, c)
    {
        double va = num(json_object_get(c, "a"), key), vb = num(json_object_get(c, "b"), key);
        if (va > max) max = va;
        if (vb > max) max = vb;
    }
    double slot = (double)(W - LEFT - 10) / (double)(n ? n : 1), bw = slot * 0.35;
    double sy = (PLOT_H - 30) / max;
    fprintf(f, "<svg width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"%s\">", W, PLOT_H + 20,
            key);
    fprintf(f, "<text x=\"0\" y=\"14\">%.4g %s</text>", max, unit);
    json_array_foreach(chats, i, c)
    {
        for (int s = 0; s < 2; s++) {
            double v = num(json_object_get(c, s ? "b" : "a"), key);
            if (isnan(v)) continue;
            double x = LEFT + (double)i * slot + (s ? bw : 0), h = v * sy;
            fprintf(f,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                    "<title>%s: %.4g %s</title></rect>",
                    x, PLOT_H - h, bw - 2, h, s ? "#ff7f0e" : "#1f77b4", s ? "B" : "A", v, unit);
        }
        fprintf(f, "<text x=\"%.1f\" y=\"%d\">#%lld</text>", LEFT + (double)i * slot, PLOT_H + 14,
                integer(c, "index"));
    }
    fprintf(f,
            "<text x=\"%d\" y=\"14\" fill=\"#1f77b4\" text-anchor=\"end\">A</text>"
            "<text x=\"%d\" y=\"14\" fill=\"#ff7f0e\" text-anchor=\"end\">B</text></svg>\n",
            W - 30, W - 10);
}

/* ---- tables and tokens ---------------------------------------------------------- */

static void summary_table(FILE *f, const json_t *r)
{
    const json_t *s = json_object_get(r, "summary");
    fprintf(f, "<table><tr><th></th><th>A</th><th>B</th></tr>");
    const char *keys[] = {"base", "model"};
    for (int k = 0; k < 2; k++) {
        fprintf(f, "<tr><td>%s</td><td>", keys[k]);
        esc_key(f, json_object_get(r, "a"), keys[k]);
        fprintf(f, "</td><td>");
        esc_key(f, json_object_get(r, "b"), keys[k]);
        fprintf(f, "</td></tr>");
    }
    const char *speed[] = {"ttft_ms", "itl_ms", "decode_tokens_per_s"};
    const char *names[] = {"time to first token (ms, mean)", "inter-token latency (ms, mean)",
                           "decode tokens/s"};
    for (int k = 0; k < 3; k++) {
        fprintf(f, "<tr><td>%s</td><td>", names[k]);
        print_num(f, num(json_object_get(s, "a"), speed[k]), 2);
        fprintf(f, "</td><td>");
        print_num(f, num(json_object_get(s, "b"), speed[k]), 2);
        fprintf(f, "</td></tr>");
    }
    fprintf(f,
            "</table><p>Token agreement <b id=\"token-agreement\">%.3f</b> (%lld of %lld "
            "tokens before the first divergence); %lld of %lld chats identical; "
            "log-probability difference before divergence: mean ",
            num(s, "token_agreement"), integer(s, "agreed_tokens"), integer(s, "compared_tokens"),
            integer(s, "identical_chats"), integer(s, "chats"));
    print_num(f, num(s, "mean_abs_logprob_diff"), 4);
    fprintf(f, ", max ");
    print_num(f, num(s, "max_abs_logprob_diff"), 4);
    fprintf(f, "; top-k overlap ");
    print_num(f, num(s, "top_k_overlap"), 2);
    fprintf(f, ".</p>\n");
}

/* The message whose token span holds token i, or NULL. */
static const json_t *message_at(const json_t *messages, long long i)
{
    size_t k;
    const json_t *m;
    json_array_foreach(messages, k,
                       m) if (i >= integer(m, "from") && i < integer(m, "to")) return m;
    return NULL;
}

/* Every token of one side: reasoning and tool calls tinted, the tokens from
 * the divergence on marked. */
static void token_strip(FILE *f, const json_t *side, long long div)
{
    const json_t *pieces = json_object_get(side, "pieces"), *ids = json_object_get(side, "ids");
    const json_t *messages = json_object_get(side, "messages");
    fprintf(f, "<div class=\"toks\">");
    for (size_t i = 0; i < json_array_size(pieces); i++) {
        const json_t *m = message_at(messages, (long long)i);
        const char *ch = m ? json_string_value(json_object_get(m, "channel")) : "";
        const char *cls = div >= 0 && (long long)i == div  ? " dv dv0"
                          : div >= 0 && (long long)i > div ? " dv"
                                                           : "";
        fprintf(f, "<span class=\"t%s%s\" title=\"%lld: id %lld\">", cls,
                strcmp(ch ? ch : "", "analysis") == 0     ? " an"
                : strcmp(ch ? ch : "", "commentary") == 0 ? " cm"
                                                          : "",
                (long long)i, (long long)json_integer_value(json_array_get(ids, i)));
        esc(f, json_string_value(json_array_get(pieces, i)));
        fprintf(f, "</span>");
    }
    fprintf(f, "</div>\n");
}

static void chat_section(FILE *f, const json_t *c)
{
    const json_t *d = json_object_get(c, "first_divergence");
    long long div = json_is_null(d) ? -1 : (long long)json_integer_value(d);
    fprintf(f, "<h3>#%lld ", integer(c, "index"));
    esc_key(f, c, "label");
    fprintf(f, "</h3><p>%lld prompt tokens; A %lld, B %lld tokens; ", integer(c, "prompt_tokens"),
            integer(json_object_get(c, "a"), "tokens"), integer(json_object_get(c, "b"), "tokens"));
    if (div < 0)
        fprintf(f, "<b>identical</b>");
    else
        fprintf(f, "<b>part at token %lld</b>", div);
    fprintf(f, "; agreement %.3f; log-probability difference mean ", num(c, "token_agreement"));
    print_num(f, num(c, "mean_abs_logprob_diff"), 4);
    fprintf(f, ", top-k overlap ");
    print_num(f, num(c, "top_k_overlap"), 2);
    fprintf(f, "</p>");
    for (int s = 0; s < 2; s++) {
        const json_t *side = json_object_get(c, s ? "b" : "a");
        size_t k;
        const json_t *m;
        fprintf(f, "<p>%s: ", s ? "B" : "A");
        json_array_foreach(json_object_get(side, "messages"), k, m)
        {
            fprintf(f, "%s", k ? ", " : "");
            esc_key(f, m, "channel");
            if (json_object_get(m, "recipient")) fprintf(f, " to "), esc_key(f, m, "recipient");
            fprintf(f, " %lld-%lld", integer(m, "from"), integer(m, "to"));
        }
        fprintf(f, "</p>");
        token_strip(f, side, div);
    }
}

int ab_report_html(const char *path, const json_t *r)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    const json_t *chats = json_object_get(r, "chats"), *set = json_object_get(r, "settings");
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
               "<title>fk-ab: ");
    esc_key(f, json_object_get(r, "a"), "model");
    fprintf(f, " vs ");
    esc_key(f, json_object_get(r, "b"), "model");
    fprintf(f, "</title><style>%s</style></head><body>\n<h1>fk-ab: ", css);
    esc_key(f, json_object_get(r, "a"), "model");
    fprintf(f, " (A) vs ");
    esc_key(f, json_object_get(r, "b"), "model");
    fprintf(f,
            " (B)</h1><p>Greedy, at most %lld tokens, top-%lld alternatives compared; the "
            "same prompt ids on both sides (system date ",
            integer(set, "max_tokens"), integer(set, "top_k"));
    esc_key(f, set, "date");
    fprintf(f, ").</p>\n");
    summary_table(f, r);
    fprintf(f, "<h2>Where the answers part</h2><p>Green: tokens both sides generated alike; "
               "red: the first diverging token.</p>\n");
    plot_divergence(f, chats);
    fprintf(f, "<h2>Log-probability difference by position (A - B)</h2>\n");
    plot_logprob(f, chats);
    fprintf(f, "<h2>Speed: decode tokens/s</h2>\n");
    plot_bars(f, chats, "decode_tokens_per_s", "tokens/s");
    fprintf(f, "<h2>Speed: time to first token</h2>\n");
    plot_bars(f, chats, "ttft_ms", "ms");
    fprintf(f, "<h2>Chats</h2><p>Tinted: <span class=\"an\">reasoning</span>, "
               "<span class=\"cm\">commentary</span>; <span class=\"dv\">red</span>: from the "
               "divergence on. Hover a token for its position and id.</p>\n");
    size_t i;
    const json_t *c;
    json_array_foreach(chats, i, c) chat_section(f, c);
    fprintf(f, "</body></html>\n");
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) return errno ? -1 : (errno = EIO, -1);
    return 0;
}
