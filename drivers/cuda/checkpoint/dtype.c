/* dtype.c: element sizes and the names safetensors headers use for them. */
#include "checkpoint.h"

#include <stdio.h>
#include <string.h>

/* One row per fk_dtype, in enum order. */
static const struct {
    const char *name; /* as written in a safetensors header */
    size_t size;      /* bytes per element */
} dtype_table[FK_DT_COUNT] = {
    [FK_DT_BOOL] = {"BOOL", 1}, [FK_DT_U8] = {"U8", 1},   [FK_DT_I8] = {"I8", 1},
    [FK_DT_I16] = {"I16", 2},   [FK_DT_U16] = {"U16", 2}, [FK_DT_F16] = {"F16", 2},
    [FK_DT_BF16] = {"BF16", 2}, [FK_DT_I32] = {"I32", 4}, [FK_DT_U32] = {"U32", 4},
    [FK_DT_F32] = {"F32", 4},   [FK_DT_I64] = {"I64", 8}, [FK_DT_U64] = {"U64", 8},
    [FK_DT_F64] = {"F64", 8},
};

size_t fk_dtype_size(fk_dtype dt)
{
    return (unsigned)dt < FK_DT_COUNT ? dtype_table[dt].size : 0;
}

const char *fk_dtype_name(fk_dtype dt)
{
    return (unsigned)dt < FK_DT_COUNT ? dtype_table[dt].name : "?";
}

int fk_dtype_parse(const char *name, fk_dtype *out)
{
    for (int i = 0; i < FK_DT_COUNT; i++) {
        if (strcmp(name, dtype_table[i].name) == 0) {
            *out = (fk_dtype)i;
            return 0;
        }
    }
    return -1;
}

void fk_shape_format(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t used = 0;
    if (len == 0) return;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && used < len; i++)
        used +=
            (size_t)snprintf(buf + used, len - used, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (used < len) snprintf(buf + used, len - used, "]");
}
