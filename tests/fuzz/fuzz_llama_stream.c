/* fuzz_llama_stream.c: the proxy driver's handling of upstream stream events.
 *
 * Input: the first byte picks the mode (even: native /completion events,
 * odd: pass-through chat chunks); the rest is split into lines, each one SSE
 * event value (a line starting with '!' is an "error:" event). Every line
 * goes through the same event handler the driver uses, then the end of the
 * stream. Malformed JSON, odd shapes and huge values must end in a recorded
 * error or pieces, never a crash, a leak or a piece with bad bounds.
 * Every line is also read by the fast event reader and, where it accepts
 * the line, by jansson: both must see the same content and tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/llamacpp-proxy/proxy.h"

static void quiet_log(const fk_host *h, int level, const char *fmt, ...) {}

static fk_host host = {
    .abi_version = FK_DRIVER_ABI_VERSION, .struct_size = sizeof(fk_host), .log = quiet_log};
static fk_core core;
static char base_url[] = "http://fuzz"; /* named in error messages */
static replica upstream;                /* the one replica the events come from */
static size_t total_bytes;              /* touched so the sanitizers read every piece */

static int on_pieces(void *ud, const fk_piece *pieces, size_t n, size_t piece_size)
{
    for (size_t i = 0; i < n; i++) {
        const fk_piece *p = FK_AT(pieces, i, piece_size);
        for (size_t j = 0; j < p->len; j++) total_bytes += (unsigned char)p->text[j];
    }
    return 0;
}

static void on_done(void *ud, const fk_gen_stats *s, const fk_error *e) {}

/* The fast reader must agree with jansson wherever it answers. */
static void check_fast_reader(fast_event *fe, const char *line, size_t n)
{
    if (!fast_event_parse(line, n, fe)) return;
    json_t *root = json_loadb(line, n, 0, NULL);
    if (!json_is_object(root) || json_object_get(root, "error") ||
        json_is_true(json_object_get(root, "stop")))
        abort();
    json_t *c = json_object_get(root, "content");
    if (fe->has_content != json_is_string(c)) abort();
    if (fe->has_content && (json_string_length(c) != fe->content_len ||
                            memcmp(json_string_value(c), fe->content, fe->content_len) != 0))
        abort();
    json_t *tp = json_object_get(root, "tokens_predicted");
    if (fe->has_tokens_predicted != json_is_integer(tp)) abort();
    if (fe->has_tokens_predicted && json_integer_value(tp) != fe->tokens_predicted) abort();
    json_t *t = json_object_get(root, "tokens");
    if (fe->has_tokens != json_is_array(t)) abort();
    if (fe->has_tokens && json_array_size(t) != fe->n_tokens) abort();
    for (size_t i = 0; fe->has_tokens && i < fe->n_tokens; i++) {
        json_t *v = json_array_get(t, i);
        if (!json_is_integer(v) || json_integer_value(v) != fe->tokens[i]) abort();
    }
    json_decref(root);
}

/* An integer member of the last event as jansson reads it: (present, value). */
static void want_int(const json_t *root, const char *key, int has, int64_t v)
{
    json_t *j = json_object_get(root, key);
    if (has != json_is_integer(j) || (has && json_integer_value(j) != v)) abort();
}

/* The reader of the last event must agree with jansson wherever it answers. */
static void check_fast_final(const char *line, size_t n)
{
    fast_final f;
    if (!fast_final_parse(line, n, &f)) return;
    json_t *root = json_loadb(line, n, 0, NULL);
    if (!json_is_object(root) || !json_is_true(json_object_get(root, "stop"))) abort();
    const char *st = json_string_value(json_object_get(root, "stop_type"));
    if (strcmp(st ? st : "", f.stop_type) != 0) abort();
    json_t *tp = json_object_get(root, "tokens_predicted");
    if ((json_is_integer(tp) ? json_integer_value(tp) : 0) != f.tokens_predicted) abort();
    want_int(root, "timings/predicted_n", f.has_predicted_n, f.predicted_n);
    want_int(root, "timings/prompt_n", f.has_prompt_n, f.prompt_n);
    want_int(root, "timings/cache_n", f.has_cache_n, f.cache_n);
    if (json_number_value(json_object_get(root, "timings/prompt_ms")) != f.prompt_ms ||
        json_number_value(json_object_get(root, "timings/predicted_ms")) != f.predicted_ms)
        abort();
    if (json_is_true(json_object_get(root, "truncated")) != f.truncated) abort();
    json_t *c = json_object_get(root, "content"), *t = json_object_get(root, "tokens");
    if ((c && json_string_length(c) != 0) || (t && json_array_size(t) != 0)) abort();
    json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!core.host) {
        char err[256];
        core.host = &host;
        core.tok = fktok_load_default(err, sizeof err); /* NULL is fine: no id mapping */
        core.cfg.api_base = base_url;
        upstream = (replica){.core = &core, .base = base_url, .slots_total = -1};
    }
    if (size < 1) return 0;
    fk_gen g = {0};
    g.core = &core;
    g.replica = &upstream;
    g.cb = (fk_gen_callbacks){sizeof g.cb, on_pieces, on_done, NULL};
    g.stats.struct_size = sizeof g.stats;
    g.mode = (data[0] & 1) ? FK_GEN_PASSTHROUGH : FK_GEN_HARMONY;
    g.n_predict = data[0] >> 1;
    g.n_prompt = 10;
    g.scanner = hm_scanner_new();
    if (!g.scanner) return 0;
    char *line = malloc(size + 1);
    fast_event fe = {0};
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    while (line && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *field = "data";
        const char *v = p;
        if (n && *v == '!') field = "error", v++, n--;
        memcpy(line, v, n);
        line[n] = '\0';
        check_fast_reader(&fe, line, n);
        check_fast_final(line, n);
        int r = g.mode == FK_GEN_PASSTHROUGH ? passthrough_event(&g, field, line, n)
                                             : harmony_event(&g, field, line, n);
        if (r < 0) break;
        p += (nl ? (size_t)(nl - p) + 1 : n);
    }
    fk_xfer_end fin = {.curl_code = CURLE_OK, .curl_error = "", .status = 200};
    if (g.mode == FK_GEN_PASSTHROUGH)
        passthrough_finish(&g, &fin);
    else
        harmony_finish(&g, &fin);
    free(line);
    free(fe.content);
    free(g.fast.content);
    hm_scanner_free(g.scanner);
    free(g.out.pieces);
    strbuf_clear(&g.out.arena);
    return 0;
}
