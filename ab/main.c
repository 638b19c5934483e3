/* fk-ab: send the same chats to two endpoints, greedily, and show where their
 * tokens part.
 *
 *   fk-ab --a BASE_URL [--a-model ID] --b BASE_URL [--b-model ID]
 *         [--chats FILE.jsonl] [--max-tokens N] [--top-k K] [--json] [--html FILE]
 *         [--tokenizer PATH] [--date YYYY-MM-DD] [--api-key KEY] [--wait S]
 *
 * Exit status: 0 when every chat was compared (whatever they showed), 1 when
 * an endpoint failed, 2 on a usage error. See README.md, "Comparing cores". */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ab.h"

#define AB_DEFAULT_MAX_TOKENS 64
#define AB_DEFAULT_TOP_K 5

typedef struct ab_options {
    ab_side a, b;          /* the two endpoints */
    const char *chats;     /* --chats, or NULL for the built-in set */
    const char *html;      /* --html FILE, or NULL */
    const char *tokenizer; /* --tokenizer, or NULL for the bundled o200k_harmony */
    char date[16];         /* --date, default today (UTC) */
    int max_tokens;        /* --max-tokens */
    int top_k;             /* --top-k: alternatives compared per position (1..20) */
    int json;              /* --json: print the report as one JSON object */
    double wait_s;         /* --wait: how long a base may refuse connections at first */
} ab_options;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fk-ab --a BASE_URL [--a-model ID] --b BASE_URL [--b-model ID]\n"
            "             [--chats FILE.jsonl] [--max-tokens N] [--json] [--html FILE]\n"
            "Sends the same chats to two OpenAI-compatible endpoints (greedy, through\n"
            "/v1/completions with the rendered Harmony prompt as token ids) and reports\n"
            "where their tokens part.\n"
            "  --a, --b URL        the two bases (http://HOST:PORT, with or without /v1)\n"
            "  --a-model, --b-model ID  the model (default: the first id of /v1/models)\n"
            "  --chats FILE        one chat a line: {\"messages\": [...]} (\"tools\",\n"
            "                      \"reasoning_effort\" too) or {\"prompt\": \"text\" | [ids]};\n"
            "                      default: a built-in set of 4\n"
            "  --max-tokens N      tokens per answer (default %d)\n"
            "  --top-k K           alternatives compared per position, 1-20 (default %d)\n"
            "  --json              print the report as one JSON object\n"
            "  --html FILE         also write a self-contained HTML report (SVG plots)\n"
            "  --tokenizer PATH    tokenizer.json or tiktoken ranks (default: the bundled\n"
            "                      o200k_harmony, as the gateway)\n"
            "  --date YYYY-MM-DD   the date in the system message (default: today, UTC)\n"
            "  --api-key KEY       bearer token for both (default: $FK_API_KEY)\n"
            "  --wait S            how long a base may refuse connections (default 60)\n"
            "Exit status: 0 compared, 1 an endpoint or input failed, 2 usage.\n",
            AB_DEFAULT_MAX_TOKENS, AB_DEFAULT_TOP_K);
}

/* "http://h:p/v1/" -> "http://h:p" (owned copy). */
static char *base_url(const char *s)
{
    char *b = strdup(s);
    size_t n = b ? strlen(b) : 0;
    while (n > 0 && b[n - 1] == '/') b[--n] = '\0';
    if (n >= 3 && strcmp(b + n - 3, "/v1") == 0) b[n -= 3] = '\0';
    return b;
}

static int positive(const char *v, int lo, int hi, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || end == v || n < lo || n > hi) return -1;
    *out = (int)n;
    return 0;
}

/* 0, or 2 (usage) with a message on stderr. */
static int parse_options(int argc, char **argv, ab_options *o)
{
    static const struct option opts[] = {{"a", required_argument, 0, 'a'},
                                         {"b", required_argument, 0, 'b'},
                                         {"a-model", required_argument, 0, 'A'},
                                         {"b-model", required_argument, 0, 'B'},
                                         {"chats", required_argument, 0, 'c'},
                                         {"max-tokens", required_argument, 0, 'n'},
                                         {"top-k", required_argument, 0, 'k'},
                                         {"json", no_argument, 0, 'j'},
                                         {"html", required_argument, 0, 'H'},
                                         {"tokenizer", required_argument, 0, 't'},
                                         {"date", required_argument, 0, 'd'},
                                         {"api-key", required_argument, 0, 'K'},
                                         {"wait", required_argument, 0, 'w'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c, wait = 60;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            free(o->a.base), o->a.base = base_url(optarg);
            break;
        case 'b':
            free(o->b.base), o->b.base = base_url(optarg);
            break;
        case 'A':
            free(o->a.model), o->a.model = strdup(optarg);
            break;
        case 'B':
            free(o->b.model), o->b.model = strdup(optarg);
            break;
        case 'c':
            o->chats = optarg;
            break;
        case 'j':
            o->json = 1;
            break;
        case 'H':
            o->html = optarg;
            break;
        case 't':
            o->tokenizer = optarg;
            break;
        case 'K':
            o->a.api_key = o->b.api_key = optarg;
            break;
        case 'd':
            if (strlen(optarg) != 10) return fprintf(stderr, "fk-ab: --date wants YYYY-MM-DD\n"), 2;
            snprintf(o->date, sizeof o->date, "%s", optarg);
            break;
        case 'n':
            if (positive(optarg, 1, 1 << 20, &o->max_tokens) < 0)
                return fprintf(stderr, "fk-ab: --max-tokens wants a positive integer\n"), 2;
            break;
        case 'k':
            if (positive(optarg, 1, AB_MAX_TOP, &o->top_k) < 0)
                return fprintf(stderr, "fk-ab: --top-k wants 1 to %d\n", AB_MAX_TOP), 2;
            break;
        case 'w':
            if (positive(optarg, 0, 3600, &wait) < 0)
                return fprintf(stderr, "fk-ab: --wait wants seconds (0 to 3600)\n"), 2;
            break;
        case 'h':
            usage(stdout), exit(0);
        default:
            usage(stderr);
            return 2;
        }
    }
    o->wait_s = wait;
    if (optind < argc) return fprintf(stderr, "fk-ab: unexpected argument '%s'\n", argv[optind]), 2;
    if (!o->a.base || !o->b.base) return usage(stderr), 2;
    return 0;
}

static void today(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d", &tm);
}

static json_t *side_json(const ab_side *s)
{
    return json_pack("{s:s, s:s}", "base", s->base, "model", s->model);
}

/* Every chat on A then on B, one at a time. The report, or NULL with err. */
static json_t *run_all(const ab_options *o, const ab_chats *chats, const fktok *tok, char *err,
                       size_t err_len)
{
    json_t *reports = json_array();
    for (size_t i = 0; reports && i < chats->n; i++) {
        ab_run ra, rb;
        if (ab_client_complete(&o->a, &chats->v[i], o->max_tokens, o->top_k, &ra, err, err_len) < 0)
            goto fail;
        if (ab_client_complete(&o->b, &chats->v[i], o->max_tokens, o->top_k, &rb, err, err_len) <
            0) {
            ab_run_clear(&ra);
            goto fail;
        }
        int aligned = ab_align(&ra, &rb, tok);
        if (aligned == 0)
            json_array_append_new(reports, ab_compare_chat(&chats->v[i], i + 1, &ra, &rb, tok));
        ab_run_clear(&ra);
        ab_run_clear(&rb);
        if (aligned < 0) {
            snprintf(err, err_len, "out of memory");
            goto fail;
        }
        if (!o->json) fprintf(stderr, "fk-ab: chat %zu of %zu done\n", i + 1, chats->n);
    }
    return json_pack("{s:o, s:o, s:{s:i, s:i, s:i, s:s}, s:o, s:o}", "a", side_json(&o->a), "b",
                     side_json(&o->b), "settings", "max_tokens", o->max_tokens, "top_k", o->top_k,
                     "temperature", 0, "date", o->date, "summary", ab_summary(reports), "chats",
                     reports);
fail:
    json_decref(reports);
    return NULL;
}

static int run(ab_options *o)
{
    char err[1024];
    fktok *tok = o->tokenizer ? fktok_load(o->tokenizer, err, sizeof err)
                              : fktok_load_default(err, sizeof err);
    if (!tok) return fprintf(stderr, "fk-ab: tokenizer: %s\n", err), 1;
    ab_chats chats;
    int rc = 1;
    if (ab_chats_load(&chats, o->chats, tok, o->date, err, sizeof err) < 0) {
        fprintf(stderr, "fk-ab: %s\n", err);
        fktok_free(tok);
        return 1;
    }
    json_t *report = NULL;
    if ((o->a.model || ab_client_default_model(&o->a, o->wait_s, err, sizeof err) == 0) &&
        (o->b.model || ab_client_default_model(&o->b, o->wait_s, err, sizeof err) == 0))
        report = run_all(o, &chats, tok, err, sizeof err);
    if (!report) fprintf(stderr, "fk-ab: %s\n", err);
    if (report && o->json) json_dumpf(report, stdout, JSON_INDENT(1)), putchar('\n');
    if (report && !o->json) ab_report_text(stdout, report);
    rc = report ? 0 : 1;
    if (report && o->html && ab_report_html(o->html, report) < 0) {
        fprintf(stderr, "fk-ab: cannot write %s: %s\n", o->html, strerror(errno));
        rc = 1;
    }
    json_decref(report);
    ab_chats_free(&chats);
    fktok_free(tok);
    return rc;
}

int main(int argc, char **argv)
{
    ab_options o = {.a = {.name = "A"},
                    .b = {.name = "B"},
                    .max_tokens = AB_DEFAULT_MAX_TOKENS,
                    .top_k = AB_DEFAULT_TOP_K};
    today(o.date, sizeof o.date);
    const char *key = getenv("FK_API_KEY");
    o.a.api_key = o.b.api_key = key && *key ? key : NULL;
    int rc = parse_options(argc, argv, &o);
    if (rc == 0) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        rc = run(&o);
        curl_global_cleanup();
    }
    free(o.a.base);
    free(o.b.base);
    free(o.a.model);
    free(o.b.model);
    return rc;
}
