/* fuzz_constrain: the schema compiler and the byte automaton (constrain/)
 * against jansson (the reference JSON parser) and ref_validator.h (an
 * independent schema validator).
 *
 * Input: byte 0 picks the mode.
 *   even: one of the fixed schemas below (byte 0 / 2 modulo their count);
 *         the rest is a document. Whatever prefix the automaton accepts must
 *         complete (no dead end); a whole accepted document must parse with
 *         jansson, validate, and its compact re-encoding must be accepted
 *         again (within the digit limits);
 *   odd:  the rest is "SCHEMA\0DOCUMENT": any schema text. The compiler must
 *         not crash; when it compiles, every accepted prefix must complete
 *         and every completed document must parse with jansson (schemas the
 *         compiler relaxes are not held to the validator). */
#include "constrain/pda.h"
#include "constrain/schema.h"
#include "tests/unit/pda_complete.h"
#include "tests/unit/ref_validator.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const schemas[] = {
    "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":12},"
    "\"unit\":{\"enum\":[\"c\",\"f\"]},\"days\":{\"type\":\"integer\"},\"exact\":{\"type\":"
    "\"boolean\"}},\"required\":[\"city\",\"unit\"],\"additionalProperties\":false}",
    "{\"type\":\"object\",\"properties\":{\"user\":{\"type\":\"object\",\"properties\":{"
    "\"name\":{\"type\":\"string\"},\"tags\":{\"type\":\"array\",\"items\":{\"type\":"
    "\"string\",\"maxLength\":5},\"maxItems\":3}},\"required\":[\"name\"]},\"score\":{"
    "\"type\":\"number\"}},\"required\":[\"user\"]}",
    "{\"type\":\"object\",\"properties\":{\"v\":{\"type\":[\"string\",\"null\",\"integer\"]},"
    "\"w\":{\"anyOf\":[{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"minItems\":1},"
    "{\"const\":\"none\"}]}},\"required\":[\"v\",\"w\"]}",
    "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"value\":{\"type\":"
    "\"integer\"},\"children\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"},"
    "\"maxItems\":2}},\"required\":[\"value\"]}},\"$ref\":\"#/$defs/node\"}",
    "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"number\"}}",
    "{}",
    "{\"type\":\"string\",\"minLength\":2,\"maxLength\":4}",
    "{\"enum\":[\"a\",\"ab\",1,10,true,null,{\"k\":1},[1,2]]}",
};
#define N_SCHEMAS (sizeof schemas / sizeof *schemas)

static fk_schema *compiled[N_SCHEMAS];
static json_t *parsed[N_SCHEMAS];

/* Feed doc until the automaton rejects a byte; then complete from there. */
static void run(const fk_schema *s, const json_t *schema, const uint8_t *doc, size_t n)
{
    fk_pda p;
    fk_pda_init(&p, s);
    size_t k = 0;
    while (k < n) {
        fk_pda q;
        fk_pda_copy(&q, &p);
        if (!fk_pda_step(&q, doc[k])) break;
        fk_pda_copy(&p, &q);
        k++;
    }
    int whole = k == n && fk_pda_can_end(&p);
    static char out[1 << 16];
    size_t m = k < sizeof out / 2 ? k : 0;
    if (m == k) memcpy(out, doc, k);
    if (!pda_complete(&p, out, &m, sizeof out - 1)) abort(); /* a dead end */
    if (m == 0 && k > 0) return; /* too long to keep: completion checked, nothing else */
    json_t *v = json_loadb(out, m, JSON_DECODE_ANY, NULL);
    if (!v) abort(); /* a completed document that does not parse */
    if (schema && !ref_valid(schema, v)) abort();
    json_decref(v);
    if (!whole || !schema) return;
    v = json_loadb((const char *)doc, n, JSON_DECODE_ANY, NULL);
    if (!v || !ref_valid(schema, v)) abort(); /* an accepted document that is invalid */
    json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    char err[256];
    if (!(data[0] & 1)) {
        size_t i = (size_t)(data[0] / 2) % N_SCHEMAS;
        if (!compiled[i]) {
            parsed[i] = json_loads(schemas[i], 0, NULL);
            compiled[i] = fk_schema_compile(parsed[i], err, sizeof err);
            if (!compiled[i]) abort();
        }
        run(compiled[i], parsed[i], data + 1, size - 1);
        return 0;
    }
    const uint8_t *nul = memchr(data + 1, 0, size - 1);
    size_t schema_len = nul ? (size_t)(nul - data - 1) : size - 1;
    json_t *j = json_loadb((const char *)data + 1, schema_len, JSON_DECODE_ANY, NULL);
    fk_schema *s = j ? fk_schema_compile(j, err, sizeof err) : NULL;
    if (s && nul) run(s, NULL, nul + 1, size - (size_t)(nul + 1 - data));
    fk_schema_free(s);
    json_decref(j);
    return 0;
}
