/* openai_errors.h: errors in OpenAI's shape,
 *   {"error":{"message":"...","type":"...","param":"..."|null,"code":"..."|null}}
 * with string codes only (integer codes from upstreams are rewritten). */
#ifndef FK_GATEWAY_OPENAI_ERRORS_H
#define FK_GATEWAY_OPENAI_ERRORS_H

#include <jansson.h>

#include "driver.h"

typedef struct fk_api_error {
    int status;        /* HTTP status */
    char type[48];     /* "invalid_request_error", "server_error", ... */
    char code[64];     /* string code or "" for null */
    char param[160];   /* the request field at fault or "" for null */
    char message[512]; /* human-readable */
    int retry_after_s; /* > 0: send Retry-After */
} fk_api_error;

/* Fill every field; `code` and `param` may be NULL. Returns -1 for chaining. */
int fk_api_error_set(fk_api_error *e, int status, const char *type, const char *code,
                     const char *param, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Shorthand: 400 invalid_request_error. */
int fk_api_bad_request(fk_api_error *e, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A driver's error (borrowed strings) as ours; missing parts get defaults. */
void fk_api_error_from_driver(fk_api_error *e, const fk_error *de);
/* {"error":{...}} (caller owns). */
json_t *fk_api_error_json(const fk_api_error *e);

#endif
