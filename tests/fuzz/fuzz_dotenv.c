/* fuzz_dotenv.c: arbitrary bytes as a .env file: the parser, then the
 * gateway's validation of every key it knows. */
#include <stdint.h>
#include <stdlib.h>

#include "gateway/dotenv.h"
#include "gateway/gateway_config.h"
#include "gateway/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fk_log_set_level(-1); /* warnings about unknown keys would flood the output */
    char err[512];
    fk_dotenv d;
    fk_dotenv_init(&d);
    fk_dotenv_parse((const char *)data, size, "fuzz.env", &d, err, sizeof err);
    for (size_t i = 0; i < d.n; i++) (void)fk_dotenv_find(&d, d.v[i].key);
    fk_dotenv_free(&d);
    fk_config c;
    fk_config_load_buffer(&c, (const char *)data, size, "fuzz.env", err, sizeof err);
    fk_config_free(&c);
    return 0;
}
