/* tools.c: OpenAI function tools -> compiled schemas; the header rule. */
#include "constrain/tools.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALL_PREFIX "to=functions."

void fk_toolset_clear(fk_toolset *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->names[i]);
        fk_schema_free(t->schemas[i]);
    }
    free(t->names);
    free(t->schemas);
    memset(t, 0, sizeof *t);
}

/* Compile one function's parameters (NULL or absent: `{}` only). */
static fk_schema *compile_parameters(const json_t *params, char *err, size_t err_len)
{
    if (params && !json_is_null(params)) return fk_schema_compile(params, err, err_len);
    json_t *empty =
        json_pack("{s:s, s:{}, s:b}", "type", "object", "properties", "additionalProperties", 0);
    fk_schema *s = empty ? fk_schema_compile(empty, err, err_len) : NULL;
    json_decref(empty);
    return s;
}

int fk_toolset_parse(const char *tools_json, fk_toolset *out, char *err, size_t err_len,
                     char *param, size_t param_len)
{
    memset(out, 0, sizeof *out);
    snprintf(param, param_len, "tools");
    json_error_t je;
    json_t *arr = json_loads(tools_json, 0, &je);
    if (!json_is_array(arr)) {
        snprintf(err, err_len, "tools are not a JSON array");
        json_decref(arr);
        return -1;
    }
    size_t n = json_array_size(arr);
    out->names = calloc(n + 1, sizeof *out->names);
    out->schemas = calloc(n + 1, sizeof *out->schemas);
    if (!out->names || !out->schemas) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *fn = json_object_get(json_array_get(arr, i), "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (!name) continue; /* not a function tool */
        char why[200];
        fk_schema *s = compile_parameters(json_object_get(fn, "parameters"), why, sizeof why);
        if (!s) {
            snprintf(param, param_len, "tools[%zu].function.parameters", i);
            snprintf(err, err_len, "the parameters of function '%.64s' cannot be followed: %s",
                     name, why);
            goto fail;
        }
        out->names[out->n] = strdup(name);
        out->schemas[out->n] = s;
        out->n++;
        if (!out->names[out->n - 1]) {
            snprintf(err, err_len, "out of memory");
            goto fail;
        }
    }
    json_decref(arr);
    param[0] = 0;
    return 0;
fail:
    json_decref(arr);
    fk_toolset_clear(out);
    return -1;
}

long fk_toolset_find(const fk_toolset *t, const char *name, size_t len)
{
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->names[i]) == len && !memcmp(t->names[i], name, len)) return (long)i;
    return -1;
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int fk_header_call(const char *hdr, size_t n, size_t *off, size_t *len)
{
    size_t k = sizeof CALL_PREFIX - 1;
    int found = 0;
    for (size_t i = 0; i + k <= n; i++) {
        if (memcmp(hdr + i, CALL_PREFIX, k) != 0) continue;
        if (i > 0 && !is_space((unsigned char)hdr[i - 1]) && hdr[i - 1] != '>') continue;
        size_t e = i + k;
        while (e < n && !is_space((unsigned char)hdr[e]) && hdr[e] != '<') e++;
        *off = i + k;
        *len = e - (i + k);
        found = 1;
    }
    return found;
}
