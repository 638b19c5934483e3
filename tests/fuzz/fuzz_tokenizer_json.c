/* fuzz_tokenizer_json: arbitrary bytes as a tokenizer.json. Loading must
 * either fail with a message or succeed; a loaded tokenizer must encode a
 * fixed text (with and without specials) into ids that decode back to it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/fktok.h"

static const char sample[] = "Hello, world! <|end|> 123 naïve 你好 \xf0\x9f\x98\x80  \n\tx";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512] = "";
    fktok *t = fktok_load_json_buffer((const char *)data, size, "fuzz.json", err, sizeof err);
    if (!t) {
        if (strncmp(err, "fuzz.json", 9) != 0) abort(); /* every error names the file */
        return 0;
    }
    for (int special = 0; special < 2; special++) {
        fktok_ids ids = {0};
        if (fktok_encode(t, sample, sizeof sample - 1, special, &ids) == 0) {
            for (size_t i = 0; i < ids.n; i++)
                if (!special && fktok_is_special(t, ids.ids[i])) abort();
            char *back = NULL;
            size_t len = 0;
            if (fktok_decode(t, ids.ids, ids.n, &back, &len) == 0 &&
                (len != sizeof sample - 1 || memcmp(back, sample, len) != 0))
                abort(); /* byte-level BPE must round-trip valid UTF-8 */
            free(back);
        }
        free(ids.ids);
    }
    fktok_free(t);
    return 0;
}
