/* openai_errors.c: build OpenAI error objects. */
#include "openai_errors.h"

#include "utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void copy(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

int fk_api_error_set(fk_api_error *e, int status, const char *type, const char *code,
                     const char *param, const char *fmt, ...)
{
    e->status = status;
    e->retry_after_s = 0;
    copy(e->type, sizeof e->type, type);
    copy(e->code, sizeof e->code, code);
    copy(e->param, sizeof e->param, param);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

int fk_api_bad_request(fk_api_error *e, const char *code, const char *param, const char *fmt, ...)
{
    fk_api_error_set(e, 400, "invalid_request_error", code, param, "%s", "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

static const char *default_type(int status)
{
    if (status == 401) return "authentication_error";
    if (status == 404) return "not_found_error";
    if (status == 429) return "rate_limit_error";
    if (status == 503) return "unavailable_error";
    if (status >= 500) return "server_error";
    return "invalid_request_error";
}

void fk_api_error_from_driver(fk_api_error *e, const fk_error *driver_err)
{
    fk_error copy; /* as far as the driver wrote it; the rest reads absent */
    fk_abi_copy(&copy, sizeof copy, driver_err, driver_err ? driver_err->struct_size : 0);
    const fk_error *de = driver_err ? &copy : NULL;
    int status = de && de->http_status >= 400 && de->http_status <= 599 ? de->http_status : 500;
    fk_api_error_set(e, status, de && de->type ? de->type : default_type(status),
                     de ? de->code : NULL, de ? de->param : NULL, "%s",
                     de && de->message ? de->message : "the core failed without a message");
    e->retry_after_s = de && de->retry_after_s > 0 ? de->retry_after_s : 0;
}

static json_t *lossy_string(const char *s)
{
    return fk_json_lossy_string(s, strlen(s));
}

json_t *fk_api_error_json(const fk_api_error *e)
{
    json_t *inner = json_object();
    json_object_set_new(inner, "message", lossy_string(e->message));
    json_object_set_new(inner, "type", json_string(e->type[0] ? e->type : default_type(e->status)));
    json_object_set_new(inner, "param", e->param[0] ? lossy_string(e->param) : json_null());
    json_object_set_new(inner, "code", e->code[0] ? json_string(e->code) : json_null());
    json_t *root = json_object();
    json_object_set_new(root, "error", inner);
    return root;
}
