/* errors.c: upstream failures in OpenAI's error shape.
 *
 * llama-server (and vLLM) send {"error":{"code":<integer>,"message":...,
 * "type":...}}; clients expect `code` to be a string. Client mistakes the
 * upstream saw keep their 4xx status; upstream failures become 502 (or 503
 * with Retry-After while it loads); timeouts become 504. */
#define _GNU_SOURCE /* strcasestr */
#include "proxy.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* OpenAI string code for an upstream's integer code / HTTP status. */
static const char *code_for_status(long status)
{
    switch (status) {
    case 400:
        return "invalid_request_error";
    case 401:
        return "invalid_api_key";
    case 403:
        return "permission_denied";
    case 404:
        return "not_found";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_exceeded";
    case 501:
        return "not_supported";
    case 503:
        return "model_not_ready";
    default:
        return status >= 500 ? "upstream_error" : "invalid_request_error";
    }
}

/* The HTTP status the client gets for an upstream status. */
static int client_status(long status)
{
    if (status == 400 || status == 404 || status == 413 || status == 429) return (int)status;
    if (status == 503) return 503;
    if (status == 501) return 400;
    return 502; /* 401/403 (our credentials), 5xx and anything odd are the upstream's failure */
}

static int mentions_context(const char *type, const char *message)
{
    if (type && strcmp(type, "exceed_context_size_error") == 0) return 1;
    return message &&
           (strcasestr(message, "context size") || strcasestr(message, "context length") ||
            strcasestr(message, "context window"));
}

int errors_output_parser_failed(const json_t *error)
{
    const char *message = json_is_string(error)
                              ? json_string_value(error)
                              : json_string_value(json_object_get(error, "message"));
    return message && strstr(message, "does not match the expected") != NULL;
}

void errors_from_json(fk_gen *g, long http_status, const json_t *error)
{
    long status = http_status;
    const char *message = NULL;
    const char *type = NULL;
    if (json_is_string(error)) {
        message = json_string_value(error);
    } else if (json_is_object(error)) {
        json_t *c = json_object_get(error, "code");
        if (json_is_integer(c) && json_integer_value(c) >= 400 && json_integer_value(c) < 600)
            status = (long)json_integer_value(c);
        message = json_string_value(json_object_get(error, "message"));
        type = json_string_value(json_object_get(error, "type"));
    }
    if (status < 400) status = 500;
    int client = client_status(status);
    const char *code = code_for_status(status);
    if (status == 400 && mentions_context(type, message)) code = "context_length_exceeded";
    const char *otype = client == 503  ? "unavailable_error"
                        : client < 500 ? "invalid_request_error"
                                       : "server_error";
    gen_fail(g, client, otype, code, "llama-server answered HTTP %ld: %s", status,
             message && *message ? message : "(no message)");
    if (client == 503) g->err.retry_after_s = 5;
}

void errors_from_upstream(fk_gen *g, long http_status, const char *body, size_t len)
{
    json_t *root = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *error = json_object_get(root, "error");
    if (error) {
        errors_from_json(g, http_status, error);
    } else {
        /* Not llama-server's shape: quote the start of the body. */
        char snippet[160];
        size_t n = len < sizeof snippet - 1 ? len : sizeof snippet - 1;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)body[i];
            snippet[i] = c >= 32 && c < 127 ? (char)c : ' ';
        }
        snippet[n] = '\0';
        json_t *e = json_pack("{s:i,s:s}", "code", (json_int_t)http_status, "message",
                              n ? snippet : "(empty body)");
        errors_from_json(g, http_status, e);
        json_decref(e);
    }
    json_decref(root);
}

void errors_from_transport(fk_gen *g, const fk_xfer_end *end)
{
    const fk_core *core = g->core;
    const char *base = g->replica->base;
    if (end->timeout == FK_XFER_FIRST_BYTE) {
        gen_fail(g, 504, "server_error", "upstream_timeout",
                 "llama-server at %s sent nothing for %ld s (FK_LLAMA_FIRST_BYTE_TIMEOUT_S)", base,
                 core->cfg.first_byte_ms / 1000);
    } else if (end->timeout == FK_XFER_IDLE) {
        gen_fail(g, 504, "server_error", "upstream_timeout",
                 "llama-server at %s stalled for %ld s mid-stream after %d pieces "
                 "(FK_LLAMA_IDLE_TIMEOUT_S)",
                 base, core->cfg.idle_ms / 1000, g->pieces_sent);
    } else if (end->curl_code == CURLE_OPERATION_TIMEDOUT && end->bytes == 0) {
        gen_fail(g, 504, "server_error", "upstream_timeout",
                 "cannot connect to llama-server at %s within %ld ms (FK_LLAMA_CONNECT_TIMEOUT_MS)",
                 base, core->cfg.connect_timeout_ms);
    } else if (end->curl_code == CURLE_COULDNT_CONNECT ||
               end->curl_code == CURLE_COULDNT_RESOLVE_HOST) {
        char why[400];
        health_unreachable_detail(base, end->curl_code, end->curl_error, why, sizeof why);
        gen_fail(g, 503, "unavailable_error", "core_unavailable", "%s", why);
        g->err.retry_after_s = 5;
    } else if (end->curl_code != CURLE_OK) {
        gen_fail(g, 502, "server_error", "upstream_error",
                 "the connection to llama-server at %s failed after %zu bytes (%d pieces): %s",
                 base, end->bytes, g->pieces_sent, end->curl_error);
    } else {
        gen_fail(g, 502, "server_error", "upstream_error",
                 "llama-server at %s ended the stream before its last event (%d pieces received)",
                 base, g->pieces_sent);
    }
}

json_t *errors_from_end(fk_gen *g, const fk_xfer_end *end)
{
    if (g->err.set || g->limit_reached) return NULL;
    if (end->curl_code != CURLE_OK || end->timeout)
        errors_from_transport(g, end);
    else if (end->status >= 400 || end->status < 200)
        errors_from_upstream(g, end->status, end->body, end->body_len);
    else if (end->body)
        return gen_parse_object(g, end->body, end->body_len);
    return NULL;
}

void errors_if_cut(fk_gen *g, const fk_xfer_end *end, int complete)
{
    if (!g->err.set && !g->limit_reached && !complete) errors_from_transport(g, end);
}

int errors_refuse(fk_error *err, const char *msg, int status, const char *code, const char *param)
{
    err->http_status = status;
    err->type = status == 503   ? "unavailable_error"
                : status >= 500 ? "server_error"
                                : "invalid_request_error";
    err->code = code;
    err->param = param;
    err->message = msg;
    return -1;
}
