/* fuzz_safetensors.c: any byte string through the safetensors validator.
 * It must return 0 or -1 with a message, never crash or read out of bounds,
 * and agree with a reference validator written here from the format's rules
 * (safetensors.c's header comment): the same bytes are accepted by both or
 * refused by both. */
#include "drivers/cuda/checkpoint/checkpoint.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Element size of a safetensors dtype name; 0 when unknown. */
static uint64_t ref_dtype_size(const char *name)
{
    static const char *const names[] = {"BOOL", "U8",  "I8",  "I16", "U16", "F16", "BF16",
                                        "I32",  "U32", "F32", "I64", "U64", "F64"};
    static const uint64_t sizes[] = {1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(name, names[i]) == 0) return sizes[i];
    return 0;
}

/* A JSON integer >= 0 into *out; 0 when it is one. */
static int ref_nonneg(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0) return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* One tensor entry: its data range [*b, *e) inside data_len bytes. 0 when valid. */
static int ref_entry(const json_t *e, uint64_t data_len, uint64_t *b, uint64_t *end)
{
    const json_t *dt = json_object_get(e, "dtype"), *shape = json_object_get(e, "shape");
    const json_t *off = json_object_get(e, "data_offsets");
    uint64_t size = json_is_string(dt) ? ref_dtype_size(json_string_value(dt)) : 0;
    if (!json_is_object(e) || !size || !json_is_array(shape) || json_array_size(shape) > 8 ||
        !json_is_array(off) || json_array_size(off) != 2)
        return -1;
    uint64_t numel = 1, dim, bytes;
    for (size_t d = 0; d < json_array_size(shape); d++)
        if (ref_nonneg(json_array_get(shape, d), &dim) ||
            __builtin_mul_overflow(numel, dim, &numel))
            return -1;
    if (__builtin_mul_overflow(numel, size, &bytes)) return -1;
    if (ref_nonneg(json_array_get(off, 0), b) || ref_nonneg(json_array_get(off, 1), end)) return -1;
    return *b <= *end && *end <= data_len && *end - *b == bytes ? 0 : -1;
}

static int by_begin(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* 0 when the reference accepts buf. */
static int ref_validate(const uint8_t *buf, size_t len)
{
    if (len < 8) return -1;
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)buf[i] << (8 * i);
    if (hlen > len - 8 || hlen > 100000000u) return -1;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, NULL);
    int rc = json_is_object(root) ? 0 : -1;
    size_t n = 0, cap = json_object_size(root);
    uint64_t(*range)[2] = calloc(cap ? cap : 1, sizeof *range);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (rc || !range) break;
        if (strcmp(key, "__metadata__") == 0) {
            const char *mk;
            json_t *mv;
            rc = json_is_object(val) ? 0 : -1;
            json_object_foreach(val, mk, mv) rc |= json_is_string(mv) ? 0 : -1;
        } else {
            rc = key[0] && ref_entry(val, len - 8 - hlen, &range[n][0], &range[n][1]) == 0 ? 0 : -1;
            n++;
        }
    }
    if (range) qsort(range, n, sizeof *range, by_begin);
    uint64_t reached = 0; /* no byte in two tensors (empty ones hold none) */
    for (size_t i = 0; i < n && !rc; i++) {
        if (range[i][0] == range[i][1]) continue;
        if (range[i][0] < reached) rc = -1;
        if (range[i][1] > reached) reached = range[i][1];
    }
    free(range);
    json_decref(root);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    err[0] = '\0';
    int rc = fk_st_validate_buffer(data, size, err, sizeof err);
    if (rc != 0 && strlen(err) == 0) __builtin_trap(); /* every rejection must say why */
    if (rc != ref_validate(data, size)) __builtin_trap();
    return 0;
}
