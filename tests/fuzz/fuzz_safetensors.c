/* fuzz_safetensors.c: any byte string through the safetensors validator.
 * It must return 0 or -1 with a message, never crash or read out of bounds. */
#include "drivers/cuda/checkpoint/checkpoint.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    err[0] = '\0';
    if (fk_st_validate_buffer(data, size, err, sizeof err) != 0 && strlen(err) == 0)
        __builtin_trap(); /* every rejection must say why */
    return 0;
}
