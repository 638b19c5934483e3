/* json_type.h: the one spelling of a JSON value's type in error messages
 * ("expected an array, got a string"), for every module that reads JSON.
 * Header-only for the reason common/utf8.h gives. */
#ifndef FK_COMMON_JSON_TYPE_H
#define FK_COMMON_JSON_TYPE_H

#include <jansson.h>

/* "an object", "an array", "a string", "an integer", "a number" (a real),
 * "a boolean", "null"; "missing" for NULL. */
static inline const char *fk_json_type_name(const json_t *v)
{
    if (!v) return "missing";
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "an unknown value";
}

#endif
