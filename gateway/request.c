/* request.c: field-by-field validation of OpenAI request bodies. */
#include "request.h"

#include <math.h>
#include <string.h>

#include "common/json_type.h"

/* The member, or NULL when absent or null. */
static const json_t *field(const json_t *body, const char *name)
{
    const json_t *v = json_object_get(body, name);
    return v && !json_is_null(v) ? v : NULL;
}

static int want_type(fk_api_error *err, const char *name, const char *what, const json_t *got)
{
    return fk_api_bad_request(err, "invalid_type", name, "'%s' must be %s, got %s", name, what,
                              fk_json_type_name(got));
}

static int get_bool(const json_t *body, const char *name, int def, int *out, fk_api_error *err)
{
    const json_t *v = field(body, name);
    *out = def;
    if (!v) return 0;
    if (!json_is_boolean(v)) return want_type(err, name, "a boolean", v);
    *out = json_is_true(v);
    return 0;
}

static int get_number(const json_t *body, const char *name, double lo, double hi, double def,
                      double *out, fk_api_error *err)
{
    const json_t *v = field(body, name);
    *out = def;
    if (!v) return 0;
    if (!json_is_number(v)) return want_type(err, name, "a number", v);
    double x = json_number_value(v);
    if (!isfinite(x) || x < lo || x > hi)
        return fk_api_bad_request(err, "invalid_value", name,
                                  "'%s' must be between %g and %g, got %.15g", name, lo, hi, x);
    *out = x;
    return 0;
}

static int get_integer(const json_t *body, const char *name, long long lo, long long hi,
                       long long def, long long *out, fk_api_error *err)
{
    const json_t *v = field(body, name);
    *out = def;
    if (!v) return 0;
    if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v) &&
        fabs(json_real_value(v)) < 9e15) {
        *out = (long long)json_real_value(v);
    } else if (json_is_integer(v)) {
        *out = json_integer_value(v);
    } else {
        return want_type(err, name, "an integer", v);
    }
    if (*out < lo || *out > hi)
        return fk_api_bad_request(err, "invalid_value", name,
                                  "'%s' must be between %lld and %lld, got %lld", name, lo, hi,
                                  *out);
    return 0;
}

/* max_completion_tokens wins over the older max_tokens. */
static int get_max_tokens(const json_t *body, const fk_limits *lim, fk_request_params *out,
                          fk_api_error *err)
{
    long long hi = lim->max_model_len > 0 ? lim->max_model_len : (1 << 24);
    long long mt, mct;
    if (get_integer(body, "max_tokens", 1, hi, 0, &mt, err) < 0) return -1;
    if (get_integer(body, "max_completion_tokens", 1, hi, 0, &mct, err) < 0) return -1;
    out->sampling.max_tokens = (int)(mct ? mct : mt ? mt : lim->default_max_tokens);
    return 0;
}

static int get_stop(const json_t *body, fk_request_params *out, fk_api_error *err)
{
    const json_t *v = field(body, "stop");
    out->sampling.stop = out->stop;
    out->sampling.n_stop = 0;
    if (!v) return 0;
    if (json_is_string(v)) {
        out->stop[0] = json_string_value(v);
        out->sampling.n_stop = json_string_length(v) ? 1 : 0;
        return 0;
    }
    if (!json_is_array(v)) return want_type(err, "stop", "a string or an array of strings", v);
    if (json_array_size(v) > FK_MAX_STOP)
        return fk_api_bad_request(err, "invalid_value", "stop",
                                  "'stop' may hold at most %d strings, got %zu", FK_MAX_STOP,
                                  json_array_size(v));
    size_t i;
    const json_t *s;
    json_array_foreach(v, i, s)
    {
        if (!json_is_string(s)) return want_type(err, "stop", "an array of strings", s);
        if (json_string_length(s) == 0) continue;
        out->stop[out->sampling.n_stop++] = json_string_value(s);
    }
    return 0;
}

static int get_stream(const json_t *body, fk_request_params *out, fk_api_error *err)
{
    if (get_bool(body, "stream", 0, &out->stream, err) < 0) return -1;
    const json_t *so = field(body, "stream_options");
    out->include_usage = 0;
    if (!so) return 0;
    if (!json_is_object(so)) return want_type(err, "stream_options", "an object", so);
    const json_t *iu = field(so, "include_usage");
    if (iu && !json_is_boolean(iu))
        return want_type(err, "stream_options.include_usage", "a boolean", iu);
    out->include_usage = iu && json_is_true(iu);
    return 0;
}

/* Fields both endpoints share. */
static int parse_common(const json_t *body, const fk_limits *lim, fk_request_params *out,
                        fk_api_error *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(body))
        return fk_api_bad_request(err, "invalid_type", NULL,
                                  "the request body must be a JSON object");
    const json_t *model = field(body, "model");
    if (model && !json_is_string(model)) return want_type(err, "model", "a string", model);
    out->model = model ? json_string_value(model) : NULL;
    if (out->model && !out->model[0])
        return fk_api_bad_request(err, "invalid_value", "model", "'model' must not be empty");
    fk_sampling *s = &out->sampling;
    s->struct_size = sizeof *s;
    long long n, seed, top_k;
    double pp, fp;
    if (get_stream(body, out, err) < 0 || get_max_tokens(body, lim, out, err) < 0 ||
        get_number(body, "temperature", 0, 2, 1.0, &s->temperature, err) < 0 ||
        get_number(body, "top_p", 0, 1, 1.0, &s->top_p, err) < 0 ||
        get_integer(body, "top_k", -1, 1 << 20, 0, &top_k, err) < 0 ||
        get_integer(body, "seed", INT64_MIN, INT64_MAX, 0, &seed, err) < 0 ||
        get_integer(body, "n", 1, 1, 1, &n, err) < 0 ||
        get_number(body, "presence_penalty", -2, 2, 0, &pp, err) < 0 ||
        get_number(body, "frequency_penalty", -2, 2, 0, &fp, err) < 0 ||
        get_stop(body, out, err) < 0 ||
        get_bool(body, "return_tokens_as_token_ids", 0, &out->tokens_as_ids, err) < 0)
        return -1;
    s->top_k = top_k < 0 ? 0 : (int)top_k;
    s->has_seed = field(body, "seed") != NULL;
    s->seed = (uint64_t)seed;
    s->presence_penalty = pp;
    s->frequency_penalty = fp;
    return 0;
}

/* logit_bias and response_format: refused where the core would ignore them. */
static int check_unsupported(const json_t *body, int chat, fk_api_error *err)
{
    const json_t *lb = field(body, "logit_bias");
    if (lb && !(json_is_object(lb) && json_object_size(lb) == 0))
        return fk_api_bad_request(err, "unsupported_parameter", "logit_bias",
                                  "'logit_bias' is not supported by this core");
    const json_t *rf = field(body, "response_format");
    const char *type = json_string_value(json_object_get(rf, "type"));
    if (rf && !(chat && type && strcmp(type, "text") == 0))
        return fk_api_bad_request(err, "unsupported_parameter", "response_format",
                                  "'response_format' is not supported by this core (only "
                                  "{\"type\": \"text\"} on chat)");
    return 0;
}

static int check_tools(const json_t *body, fk_api_error *err)
{
    const json_t *tools = field(body, "tools");
    if (tools && !json_is_array(tools)) return want_type(err, "tools", "an array", tools);
    const json_t *tc = field(body, "tool_choice");
    if (!tc) return 0;
    if (json_is_string(tc)) {
        const char *v = json_string_value(tc);
        if (strcmp(v, "auto") != 0 && strcmp(v, "none") != 0 && strcmp(v, "required") != 0)
            return fk_api_bad_request(err, "invalid_value", "tool_choice",
                                      "'tool_choice' must be auto, none, required or an object");
        return 0;
    }
    if (!json_is_object(tc)) return want_type(err, "tool_choice", "a string or an object", tc);
    return 0;
}

int fk_parse_chat_request(const json_t *body, const fk_limits *lim, fk_request_params *out,
                          fk_api_error *err)
{
    if (parse_common(body, lim, out, err) < 0) return -1;
    const json_t *msgs = json_object_get(body, "messages");
    if (!msgs || json_is_null(msgs))
        return fk_api_bad_request(err, "missing_required_parameter", "messages",
                                  "'messages' is required");
    if (!json_is_array(msgs)) return want_type(err, "messages", "an array", msgs);
    if (json_array_size(msgs) == 0)
        return fk_api_bad_request(err, "invalid_value", "messages", "'messages' must not be empty");
    if (json_array_size(msgs) > (size_t)lim->max_messages)
        return fk_api_bad_request(err, "invalid_value", "messages",
                                  "'messages' holds %zu messages; the limit is %d",
                                  json_array_size(msgs), lim->max_messages);
    long long top_logprobs;
    if (get_bool(body, "logprobs", 0, &out->sampling.logprobs, err) < 0 ||
        get_integer(body, "top_logprobs", 0, 20, 0, &top_logprobs, err) < 0 ||
        check_tools(body, err) < 0 || (!lim->passthrough && check_unsupported(body, 1, err) < 0))
        return -1;
    out->sampling.top_logprobs = (int)top_logprobs;
    return 0; /* reasoning_effort: harmony/openai_request.c validates it where it is used */
}

static int check_prompt(const json_t *p, fk_api_error *err)
{
    if (json_is_string(p)) return 0;
    if (!json_is_array(p) || json_array_size(p) == 0)
        return want_type(err, "prompt", "a string or a non-empty array of token ids", p);
    /* one prompt given as ["text"] */
    if (json_array_size(p) == 1 && json_is_string(json_array_get(p, 0))) return 0;
    size_t i;
    const json_t *id;
    json_array_foreach(p, i, id)
    {
        if (!json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) > INT32_MAX)
            return fk_api_bad_request(err, "invalid_type", "prompt",
                                      "'prompt' must be a string or an array of token ids "
                                      "(element %zu is not a token id); batches are not supported",
                                      i);
    }
    return 0;
}

int fk_parse_completion_request(const json_t *body, const fk_limits *lim, fk_request_params *out,
                                fk_api_error *err)
{
    if (parse_common(body, lim, out, err) < 0) return -1;
    const json_t *p = json_object_get(body, "prompt");
    if (!p || json_is_null(p))
        return fk_api_bad_request(err, "missing_required_parameter", "prompt",
                                  "'prompt' is required");
    if (check_prompt(p, err) < 0) return -1;
    out->prompt = p;
    long long lp;
    if (get_integer(body, "logprobs", 0, 20, 0, &lp, err) < 0 ||
        check_unsupported(body, 0, err) < 0)
        return -1;
    out->sampling.logprobs = lp > 0;
    out->sampling.top_logprobs = (int)lp;
    const json_t *echo = field(body, "echo");
    if (echo && json_is_true(echo))
        return fk_api_bad_request(err, "unsupported_value", "echo", "'echo' is not supported");
    return get_bool(body, "skip_special_tokens", 0, &out->skip_special_tokens, err);
}

int fk_parse_responses_request(const json_t *body, const fk_limits *lim, fk_request_params *out,
                               fk_api_error *err)
{
    if (parse_common(body, lim, out, err) < 0) return -1;
    long long hi = lim->max_model_len > 0 ? lim->max_model_len : (1 << 24), mot, top_logprobs;
    if (get_integer(body, "max_output_tokens", 1, hi, 0, &mot, err) < 0 ||
        get_integer(body, "top_logprobs", 0, 20, 0, &top_logprobs, err) < 0)
        return -1;
    if (mot) out->sampling.max_tokens = (int)mot;
    const json_t *input = field(body, "input");
    if (!input)
        return fk_api_bad_request(err, "missing_required_parameter", "input",
                                  "'input' is required");
    if (!json_is_string(input) && !json_is_array(input))
        return want_type(err, "input", "a string or an array of items", input);
    if (json_array_size(input) > (size_t)lim->max_messages)
        return fk_api_bad_request(err, "invalid_value", "input",
                                  "'input' holds %zu items; the limit is %d",
                                  json_array_size(input), lim->max_messages);
    return 0; /* the items, tools and the rest: responses.c and harmony/responses_in.c */
}
