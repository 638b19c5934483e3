/* test_request.c: the request validator's documented ranges (request.c,
 * README), each exactly at its limit, one step inside and one step outside:
 * max_tokens and max_completion_tokens against VLLM_MAX_MODEL_LEN, messages
 * against FK_MAX_MESSAGES, the number of stop strings, top_logprobs,
 * temperature, top_p, top_k, the penalties, n, and integers written as reals.
 * A refused value is a 400 invalid_value naming the field. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/request.h"
#include "tests/tap.h"

static const fk_limits LIMITS = {
    .default_max_tokens = 512, .max_model_len = 4096, .max_messages = 8};

typedef enum endpoint { CHAT, COMPLETION } endpoint;

/* A body: the endpoint's required field plus `extra` (a JSON object's members). */
static json_t *body(endpoint ep, const char *extra)
{
    char text[4096];
    snprintf(text, sizeof text, "{%s%s%s}",
             ep == CHAT ? "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"
                        : "\"prompt\":\"x\"",
             extra[0] ? "," : "", extra);
    json_error_t je;
    json_t *b = json_loads(text, 0, &je);
    require(b != NULL, "the test's body parses: %s (%s)", text, je.text);
    return b;
}

static int parse(endpoint ep, const json_t *b, const fk_limits *lim, fk_request_params *rp,
                 fk_api_error *err)
{
    memset(err, 0, sizeof *err);
    return ep == CHAT ? fk_parse_chat_request(b, lim, rp, err)
                      : fk_parse_completion_request(b, lim, rp, err);
}

/* `extra` is accepted; returns the parsed parameters. */
static fk_request_params accepted(endpoint ep, const char *extra, const fk_limits *lim)
{
    json_t *b = body(ep, extra);
    fk_request_params rp;
    fk_api_error err;
    int rc = parse(ep, b, lim, &rp, &err);
    ok(rc == 0, "%s {%s}: accepted", ep == CHAT ? "chat" : "completions", extra);
    if (rc != 0) diag("  %d %s: %s", err.status, err.param, err.message);
    json_decref(b); /* rp's strings are not used after this */
    return rp;
}

/* `extra` is refused with 400 invalid_value (or `code`) naming `param`. */
static void refused(endpoint ep, const char *extra, const fk_limits *lim, const char *param,
                    const char *code)
{
    json_t *b = body(ep, extra);
    fk_request_params rp;
    fk_api_error err;
    int rc = parse(ep, b, lim, &rp, &err);
    ok(rc == -1 && err.status == 400 && strcmp(err.param, param) == 0 &&
           strcmp(err.code, code ? code : "invalid_value") == 0,
       "%s {%s}: 400 %s naming %s", ep == CHAT ? "chat" : "completions", extra,
       code ? code : "invalid_value", param);
    if (rc != -1 || strcmp(err.param, param) != 0)
        diag("  got %d %d %s %s", rc, err.status, err.param, err.code);
    json_decref(b);
}

static void test_max_tokens(void)
{
    for (endpoint ep = CHAT; ep <= COMPLETION; ep++) {
        fk_request_params rp = accepted(ep, "\"max_tokens\":4096", &LIMITS);
        is_int(rp.sampling.max_tokens, 4096, "max_tokens = VLLM_MAX_MODEL_LEN is the budget");
        is_int(accepted(ep, "\"max_tokens\":4095", &LIMITS).sampling.max_tokens, 4095,
               "one below the limit");
        refused(ep, "\"max_tokens\":4097", &LIMITS, "max_tokens", NULL);
        is_int(accepted(ep, "\"max_tokens\":1", &LIMITS).sampling.max_tokens, 1,
               "max_tokens 1 is the smallest budget");
        refused(ep, "\"max_tokens\":0", &LIMITS, "max_tokens", NULL);
        refused(ep, "\"max_completion_tokens\":4097", &LIMITS, "max_completion_tokens", NULL);
        refused(ep, "\"max_completion_tokens\":0", &LIMITS, "max_completion_tokens", NULL);
        is_int(accepted(ep, "\"max_completion_tokens\":4096,\"max_tokens\":7", &LIMITS)
                   .sampling.max_tokens,
               4096, "max_completion_tokens at the limit wins over max_tokens");
        is_int(accepted(ep, "", &LIMITS).sampling.max_tokens, 512, "absent: FRONTEND_MAX_TOKENS");
        is_int(accepted(ep, "\"max_tokens\":null", &LIMITS).sampling.max_tokens, 512,
               "null counts as absent");
    }
    fk_limits open = LIMITS;
    open.max_model_len = 0; /* no VLLM_MAX_MODEL_LEN: the validator's own ceiling, 2^24 */
    is_int(accepted(CHAT, "\"max_tokens\":16777216", &open).sampling.max_tokens, 16777216,
           "without VLLM_MAX_MODEL_LEN: 2^24 is allowed");
    refused(CHAT, "\"max_tokens\":16777217", &open, "max_tokens", NULL);
    is_int(accepted(CHAT, "\"max_tokens\":4096.0", &LIMITS).sampling.max_tokens, 4096,
           "an integer written as a real counts (4096.0)");
    refused(CHAT, "\"max_tokens\":4097.0", &LIMITS, "max_tokens", NULL);
    refused(CHAT, "\"max_tokens\":4095.5", &LIMITS, "max_tokens", "invalid_type");
}

static void test_messages(void)
{
    json_t *b = json_object();
    json_t *msgs = json_array();
    json_object_set_new(b, "messages", msgs);
    fk_request_params rp;
    fk_api_error err;
    for (int n = 1; n <= 9; n++) {
        json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", "x"));
        if (n < 7) continue;
        int rc = fk_parse_chat_request(b, &LIMITS, &rp, &err);
        if (n <= 8)
            is_int(rc, 0, "%d messages with FK_MAX_MESSAGES=8: accepted", n);
        else
            ok(rc == -1 && err.status == 400 && strcmp(err.param, "messages") == 0 &&
                   strstr(err.message, "the limit is 8"),
               "9 messages with FK_MAX_MESSAGES=8: 400 naming messages and the limit (%s)",
               err.message);
    }
    json_decref(b);
    json_t *empty = json_loads("{\"messages\":[]}", 0, NULL);
    require(empty != NULL, "the empty-messages body parses");
    ok(fk_parse_chat_request(empty, &LIMITS, &rp, &err) == -1 && strcmp(err.param, "messages") == 0,
       "0 messages: 400 naming messages");
    json_decref(empty);
}

static void test_stop(void)
{
    fk_request_params rp = accepted(CHAT, "\"stop\":[\"a\",\"b\",\"c\",\"d\"]", &LIMITS);
    is_int((long long)rp.sampling.n_stop, 4, "4 stop strings (the limit) all kept");
    rp = accepted(CHAT, "\"stop\":[\"a\",\"b\",\"c\"]", &LIMITS);
    is_int((long long)rp.sampling.n_stop, 3, "3 stop strings");
    refused(CHAT, "\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]", &LIMITS, "stop", NULL);
    refused(COMPLETION, "\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]", &LIMITS, "stop", NULL);
    rp = accepted(CHAT, "\"stop\":[\"a\",\"\",\"c\",\"\"]", &LIMITS);
    is_int((long long)rp.sampling.n_stop, 2, "empty stop strings are dropped");
    is_int((long long)accepted(CHAT, "\"stop\":\"\"", &LIMITS).sampling.n_stop, 0,
           "an empty stop string is no stop");
    is_int((long long)accepted(CHAT, "\"stop\":\"x\"", &LIMITS).sampling.n_stop, 1,
           "one stop string as a string");
}

static void test_logprobs(void)
{
    is_int(accepted(CHAT, "\"top_logprobs\":20", &LIMITS).sampling.top_logprobs, 20,
           "top_logprobs 20 (the limit)");
    is_int(accepted(CHAT, "\"top_logprobs\":0", &LIMITS).sampling.top_logprobs, 0,
           "top_logprobs 0");
    refused(CHAT, "\"top_logprobs\":21", &LIMITS, "top_logprobs", NULL);
    refused(CHAT, "\"top_logprobs\":-1", &LIMITS, "top_logprobs", NULL);
    fk_request_params rp = accepted(COMPLETION, "\"logprobs\":20", &LIMITS);
    ok(rp.sampling.logprobs == 1 && rp.sampling.top_logprobs == 20,
       "completions logprobs 20 (the limit): on, 20 alternatives");
    rp = accepted(COMPLETION, "\"logprobs\":0", &LIMITS);
    ok(rp.sampling.logprobs == 0 && rp.sampling.top_logprobs == 0, "completions logprobs 0: off");
    refused(COMPLETION, "\"logprobs\":21", &LIMITS, "logprobs", NULL);
    refused(COMPLETION, "\"logprobs\":-1", &LIMITS, "logprobs", NULL);
}

/* A real-valued field: lo and hi accepted, a step outside either refused. */
static void real_range(const char *name, double lo, double hi)
{
    char extra[128];
    double step = 1e-9;
    for (endpoint ep = CHAT; ep <= COMPLETION; ep++) {
        snprintf(extra, sizeof extra, "\"%s\":%.17g", name, lo);
        accepted(ep, extra, &LIMITS);
        snprintf(extra, sizeof extra, "\"%s\":%.17g", name, hi);
        accepted(ep, extra, &LIMITS);
        snprintf(extra, sizeof extra, "\"%s\":%.17g", name, lo - step);
        refused(ep, extra, &LIMITS, name, NULL);
        snprintf(extra, sizeof extra, "\"%s\":%.17g", name, hi + step);
        refused(ep, extra, &LIMITS, name, NULL);
    }
}

static void test_sampling_ranges(void)
{
    real_range("temperature", 0, 2);
    real_range("top_p", 0, 1);
    real_range("presence_penalty", -2, 2);
    real_range("frequency_penalty", -2, 2);
    json_t *b = body(CHAT, "\"temperature\":2.000000001");
    fk_request_params rp;
    fk_api_error err;
    parse(CHAT, b, &LIMITS, &rp, &err);
    is_str(err.message, "'temperature' must be between 0 and 2, got 2.000000001",
           "the message shows the refused value, not one rounded into the range");
    json_decref(b);
    rp = accepted(CHAT, "\"temperature\":2,\"top_p\":0", &LIMITS);
    ok(rp.sampling.temperature == 2 && rp.sampling.top_p == 0, "the limits are passed on as given");
    rp = accepted(CHAT, "", &LIMITS);
    ok(rp.sampling.temperature == 1 && rp.sampling.top_p == 1 && rp.sampling.top_k == 0,
       "defaults: temperature 1, top_p 1, top_k off");
    is_int(accepted(CHAT, "\"top_k\":1048576", &LIMITS).sampling.top_k, 1048576,
           "top_k 2^20 (the limit)");
    refused(CHAT, "\"top_k\":1048577", &LIMITS, "top_k", NULL);
    is_int(accepted(CHAT, "\"top_k\":-1", &LIMITS).sampling.top_k, 0, "top_k -1 is off");
    refused(CHAT, "\"top_k\":-2", &LIMITS, "top_k", NULL);
    accepted(CHAT, "\"n\":1", &LIMITS);
    refused(CHAT, "\"n\":2", &LIMITS, "n", NULL);
    refused(CHAT, "\"n\":0", &LIMITS, "n", NULL);
    rp = accepted(CHAT, "\"seed\":-9223372036854775808", &LIMITS);
    ok(rp.sampling.has_seed && rp.sampling.seed == (uint64_t)INT64_MIN, "seed INT64_MIN");
    rp = accepted(CHAT, "\"seed\":9223372036854775807", &LIMITS);
    ok(rp.sampling.has_seed && rp.sampling.seed == (uint64_t)INT64_MAX, "seed INT64_MAX");
    rp = accepted(CHAT, "\"seed\":8999999999999999.0", &LIMITS);
    ok(rp.sampling.has_seed && rp.sampling.seed == 8999999999999999ull,
       "a seed written as a real just under 9e15 is an integer");
    refused(CHAT, "\"seed\":9000000000000000.0", &LIMITS, "seed", "invalid_type");
}

int main(void)
{
    test_max_tokens();
    test_messages();
    test_stop();
    test_logprobs();
    test_sampling_ranges();
    return done_testing();
}
