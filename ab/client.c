/* client.c: fk-ab's two requests, with libcurl (easy interface, one at a
 * time, so neither side's timing is shared with the other's load).
 *
 *   GET  BASE/v1/models        the default model: data[0].id
 *   POST BASE/v1/completions   {"model", "prompt": [ids], "max_tokens",
 *                               "temperature": 0, "seed": 0, "logprobs": K,
 *                               "return_tokens_as_token_ids": true,
 *                               "stream": true, "stream_options": {"include_usage": true}}
 *
 * The stream is read as SSE: each chunk's choices[0].logprobs names its
 * tokens "token_id:N" (vLLM's return_tokens_as_token_ids, which the gateway
 * serves), with their log-probabilities and top-k alternatives; every token
 * of a chunk is stamped with the chunk's arrival time. An entry without an
 * id (a token whose bytes llama-server held back and sent with a later
 * token) is kept with its text for ab_align. */
#include <curl/curl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ab.h"

#define AB_MAX_BODY (64u << 20) /* a reply larger than this is an error */

/* ---- one transfer ------------------------------------------------------------------ */

typedef struct transfer {
    char *body;      /* a non-streamed reply, or the current SSE line; owned */
    size_t len, cap; /* bytes used / allocated */
    int streaming;   /* 1: read SSE lines into run (once the status is known to be 200) */
    CURL *curl;      /* the handle, to read the status at the first byte */
    ab_run *run;     /* where streamed tokens go */
    double t0;       /* when the request was sent (monotonic ms) */
    char err[512];   /* the first error met inside the stream */
} transfer;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int append(transfer *t, const char *p, size_t n)
{
    if (t->len + n + 1 > AB_MAX_BODY) return -1;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + n + 1) cap *= 2;
        char *b = realloc(t->body, cap);
        if (!b) return -1;
        t->body = b;
        t->cap = cap;
    }
    memcpy(t->body + t->len, p, n);
    t->len += n;
    t->body[t->len] = '\0';
    return 0;
}

/* ---- streamed chunks --------------------------------------------------------------- */

static int add_token(ab_run *r, const ab_token *t)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64;
        ab_token *v = realloc(r->tok, cap * sizeof *v);
        if (!v) return -1;
        r->tok = v;
        r->cap = cap;
    }
    r->tok[r->n++] = *t;
    return 0;
}

/* "token_id:N" -> N, or -1. */
static int32_t token_id(const char *name)
{
    if (!name || strncmp(name, "token_id:", 9) != 0) return -1;
    char *end;
    long v = strtol(name + 9, &end, 10);
    return *end || end == name + 9 || v < 0 || v > INT32_MAX ? -1 : (int32_t)v;
}

static double number_or_nan(const json_t *v)
{
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* {"token_id:N": logprob, ...} -> t's alternatives, best first. */
static void read_top(const json_t *top, ab_token *t)
{
    const char *k;
    json_t *v;
    t->n_top = 0;
    json_object_foreach((json_t *)top, k, v)
    {
        int32_t id = token_id(k);
        if (id < 0 || t->n_top == AB_MAX_TOP) continue;
        int i = t->n_top++;
        double lp = number_or_nan(v);
        for (; i > 0 && t->top_lp[i - 1] < lp; i--) { /* insertion: best first */
            t->top_lp[i] = t->top_lp[i - 1];
            t->top_id[i] = t->top_id[i - 1];
        }
        t->top_lp[i] = lp;
        t->top_id[i] = id;
    }
}

/* choices[0].logprobs of one chunk -> tokens. */
static int read_logprobs(transfer *t, const json_t *lp, double at)
{
    const json_t *tokens = json_object_get(lp, "tokens");
    const json_t *lps = json_object_get(lp, "token_logprobs");
    const json_t *tops = json_object_get(lp, "top_logprobs");
    for (size_t i = 0; i < json_array_size(tokens); i++) {
        const char *name = json_string_value(json_array_get(tokens, i));
        ab_token tk = {.id = token_id(name), .t_ms = at - t->t0};
        if (tk.id < 0 && (!name || strncmp(name, "token_id:", 9) == 0)) return -1;
        if (tk.id < 0 && !(tk.text = strdup(name))) return -1; /* unnamed: ab_align */
        tk.logprob = number_or_nan(json_array_get(lps, i));
        read_top(json_array_get(tops, i), &tk);
        if (add_token(t->run, &tk) < 0) return free(tk.text), -1;
    }
    return 0;
}

/* One "data:" payload. 0, or -1 with t->err. */
static int read_chunk(transfer *t, const char *data, size_t len)
{
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) return 0;
    json_error_t je;
    json_t *c = json_loadb(data, len, 0, &je);
    if (!c) return snprintf(t->err, sizeof t->err, "a stream event is not JSON: %s", je.text), -1;
    int rc = 0;
    const json_t *e = json_object_get(c, "error");
    if (e) {
        const char *msg = json_string_value(json_object_get(e, "message"));
        snprintf(t->err, sizeof t->err, "error in the stream: %s", msg ? msg : "(no message)");
        rc = -1;
    }
    const json_t *choice = json_array_get(json_object_get(c, "choices"), 0);
    const json_t *lp = json_object_get(choice, "logprobs");
    if (!rc && json_is_object(lp) && read_logprobs(t, lp, now_ms()) < 0)
        rc = -1, snprintf(t->err, sizeof t->err, "unreadable logprobs (or out of memory)");
    const char *fr = json_string_value(json_object_get(choice, "finish_reason"));
    if (fr) snprintf(t->run->finish, sizeof t->run->finish, "%s", fr);
    const json_t *usage = json_object_get(c, "usage");
    if (json_is_object(usage)) {
        t->run->prompt_tokens = (int)json_integer_value(json_object_get(usage, "prompt_tokens"));
        t->run->completion_tokens =
            (int)json_integer_value(json_object_get(usage, "completion_tokens"));
    }
    json_decref(c);
    return rc;
}

/* Complete lines of the SSE stream; the rest waits in t->body. */
static int read_lines(transfer *t)
{
    char *start = t->body, *nl;
    while ((nl = memchr(start, '\n', t->len - (size_t)(start - t->body)))) {
        size_t n = (size_t)(nl - start);
        if (n > 0 && start[n - 1] == '\r') n--;
        if (n >= 5 && memcmp(start, "data:", 5) == 0) {
            size_t skip = 5 + (n > 5 && start[5] == ' ');
            if (!t->err[0] && read_chunk(t, start + skip, n - skip) < 0) return -1;
        }
        start = nl + 1;
    }
    t->len -= (size_t)(start - t->body);
    memmove(t->body, start, t->len + 1);
    return 0;
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    transfer *t = ud;
    long status = 0;
    if (t->streaming && t->len == 0 && !t->run->n &&
        curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status != 200)
        t->streaming = 0; /* an error body: kept whole for error_text */
    if (append(t, p, size * n) < 0) {
        snprintf(t->err, sizeof t->err, "the reply is too large (or out of memory)");
        return 0;
    }
    if (t->streaming && read_lines(t) < 0) return 0;
    return size * n;
}

/* ---- requests ---------------------------------------------------------------------- */

/* The message of an OpenAI error body, or the body itself. */
static void error_text(const transfer *t, long status, const ab_side *s, const char *path,
                       char *err, size_t err_len)
{
    json_t *j = t->body ? json_loadb(t->body, t->len, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    snprintf(err, err_len, "%s (%s%s): HTTP %ld: %.300s", s->name, s->base, path, status,
             msg       ? msg
             : t->body ? t->body
                       : "");
    json_decref(j);
}

/* Perform one request: body NULL for GET. CURLE_OK and *status, else the
 * curl code with err filled. */
static CURLcode perform(const ab_side *s, const char *path, const char *body, transfer *t,
                        long *status, char *err, size_t err_len)
{
    CURL *c = curl_easy_init();
    if (!c) return snprintf(err, err_len, "%s: curl_easy_init failed", s->name), CURLE_FAILED_INIT;
    char url[2048], auth[1024];
    snprintf(url, sizeof url, "%s%s", s->base, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (s->api_key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", s->api_key);
        h = curl_slist_append(h, auth);
    }
    t->curl = c;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    t->t0 = now_ms();
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    if (rc != CURLE_OK && !t->err[0])
        snprintf(err, err_len, "%s (%s): %s", s->name, url, curl_easy_strerror(rc));
    if (rc != CURLE_OK && t->err[0]) snprintf(err, err_len, "%s (%s): %s", s->name, url, t->err);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc;
}

int ab_client_default_model(ab_side *side, double wait_s, char *err, size_t err_len)
{
    double until = now_ms() + wait_s * 1e3;
    for (;;) {
        transfer t = {0};
        long status = 0;
        CURLcode rc = perform(side, "/v1/models", NULL, &t, &status, err, err_len);
        int retry = rc == CURLE_COULDNT_CONNECT && now_ms() < until;
        if (rc == CURLE_OK && status != 200)
            error_text(&t, status, side, "/v1/models", err, err_len);
        json_t *j = rc == CURLE_OK && status == 200 ? json_loadb(t.body, t.len, 0, NULL) : NULL;
        const char *id =
            json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "id"));
        if (id) side->model = strdup(id);
        if (j && !id)
            snprintf(err, err_len, "%s (%s/v1/models): no model listed", side->name, side->base);
        json_decref(j);
        free(t.body);
        if (side->model) return 0;
        if (!retry) return -1;
        usleep(200 * 1000);
    }
}

static char *completion_body(const ab_side *s, const ab_chat *chat, int max_tokens, int top_k)
{
    json_t *ids = json_array();
    for (size_t i = 0; ids && i < chat->n_prompt; i++)
        json_array_append_new(ids, json_integer(chat->prompt[i]));
    json_t *b = json_pack("{s:s, s:o, s:i, s:i, s:i, s:i, s:b, s:b, s:{s:b}}", "model", s->model,
                          "prompt", ids, "max_tokens", max_tokens, "temperature", 0, "seed", 0,
                          "logprobs", top_k, "return_tokens_as_token_ids", 1, "stream", 1,
                          "stream_options", "include_usage", 1);
    char *text = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    return text;
}

int ab_client_complete(const ab_side *side, const ab_chat *chat, int max_tokens, int top_k,
                       ab_run *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    out->prompt_tokens = out->completion_tokens = -1;
    char *body = completion_body(side, chat, max_tokens, top_k);
    if (!body) return snprintf(err, err_len, "out of memory"), -1;
    transfer t = {.streaming = 1, .run = out};
    long status = 0;
    CURLcode rc = perform(side, "/v1/completions", body, &t, &status, err, err_len);
    out->total_ms = now_ms() - t.t0;
    free(body);
    if (rc == CURLE_OK && status != 200)
        error_text(&t, status, side, "/v1/completions", err, err_len);
    if (rc == CURLE_OK && status == 200 && out->n == 0 && out->completion_tokens != 0)
        snprintf(err, err_len,
                 "%s (%s): the answer names no token ids: fk-ab needs logprobs with "
                 "return_tokens_as_token_ids (a Forgekeeper gateway, or vLLM)",
                 side->name, side->base);
    free(t.body);
    int ok = rc == CURLE_OK && status == 200 && (out->n > 0 || out->completion_tokens == 0);
    if (!ok) ab_run_clear(out);
    return ok ? 0 : -1;
}
