/* test_constrain: the schema compiler and the byte automaton (constrain/).
 *
 *   - schemas no document satisfies, or too deep, are refused;
 *   - per schema, documents that must be accepted (and every prefix of
 *     them) and documents that must be rejected, with the reason;
 *   - strings and numbers: for random byte strings the automaton accepts
 *     exactly what jansson (the reference JSON parser) accepts;
 *   - random walks: bytes drawn among those the automaton accepts, then a
 *     completion that always exists (no dead ends); the document parses
 *     and the reference validator (ref_validator.h) accepts it; jansson's
 *     compact re-encoding of it is accepted too. */
#include "constrain/pda.h"
#include "constrain/schema.h"
#include "constrain/tools.h"
#include "tests/tap.h"
#include "tests/unit/pda_complete.h"
#include "tests/unit/ref_validator.h"

#include <stdlib.h>
#include <string.h>

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static fk_schema *compile_text(const char *text, char *err, size_t err_len)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    if (!j) {
        snprintf(err, err_len, "bad test schema: %s", je.text);
        return NULL;
    }
    fk_schema *s = fk_schema_compile(j, err, err_len);
    json_decref(j);
    return s;
}

/* 1 when the automaton accepts doc as a whole document. */
static int accepts(const fk_schema *s, const char *doc, size_t n)
{
    fk_pda p;
    fk_pda_init(&p, s);
    return fk_pda_feed(&p, doc, n) && fk_pda_can_end(&p);
}

/* 1 when every prefix of doc is accepted step by step. */
static int prefixes_accepted(const fk_schema *s, const char *doc)
{
    fk_pda p;
    fk_pda_init(&p, s);
    for (size_t i = 0; doc[i]; i++)
        if (!fk_pda_step(&p, (unsigned char)doc[i])) return 0;
    return 1;
}

/* Random walk of up to `steps` bytes among the accepted ones, then a completion. */
static int walk(const fk_schema *s, char *out, size_t cap, size_t *n, int steps)
{
    fk_pda p;
    fk_pda_init(&p, s);
    *n = 0;
    for (int i = 0; i < steps; i++) {
        unsigned char ok[256];
        int m = 0;
        for (int b = 0; b < 256; b++) {
            fk_pda q;
            fk_pda_copy(&q, &p);
            if (fk_pda_step(&q, (unsigned char)b)) ok[m++] = (unsigned char)b;
        }
        if (m == 0) break; /* a finished document */
        unsigned char b = ok[rnd((uint32_t)m)];
        fk_pda_step(&p, b);
        out[(*n)++] = (char)b;
        if (fk_pda_can_end(&p) && rnd(4) == 0) break;
    }
    return pda_complete(&p, out, n, cap - 1);
}

/* ---- the schemas -------------------------------------------------------------------- */

typedef struct doc_case {
    const char *doc;
    int ok;          /* 1: must be accepted */
    const char *why; /* what the case shows */
} doc_case;

typedef struct schema_case {
    const char *name;
    const char *schema;
    doc_case docs[24];
} schema_case;

static const schema_case cases[] = {
    {"weather",
     "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":12},"
     "\"unit\":{\"enum\":[\"c\",\"f\"]},\"days\":{\"type\":\"integer\"},\"exact\":{\"type\":"
     "\"boolean\"}},\"required\":[\"city\",\"unit\"],\"additionalProperties\":false}",
     {{"{\"city\":\"Paris\",\"unit\":\"c\"}", 1, "required only"},
      {"{\"city\":\"Paris\",\"unit\":\"f\",\"days\":3,\"exact\":true}", 1, "all"},
      {"{\"city\":\"Paris\",\"unit\":\"f\",\"exact\":false}", 1, "an optional one skipped"},
      {"{\"city\":\"a\\\"b\\\\c\\u00e9\\ud83d\\ude00\\/\\n\",\"unit\":\"c\"}", 1, "escapes"},
      {"{\"city\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",\"unit\":\"c\"}", 1, "UTF-8"},
      {"{\"city\":\"123456789012\",\"unit\":\"c\"}", 1, "maxLength exactly"},
      {"{\"city\":\"1234567890123\",\"unit\":\"c\"}", 0, "maxLength + 1"},
      {"{\"unit\":\"c\",\"city\":\"Paris\"}", 0, "not in declared order"},
      {"{\"city\":\"Paris\"}", 0, "a required property missing"},
      {"{\"city\":\"Paris\",\"unit\":\"k\"}", 0, "not in the enum"},
      {"{\"city\":\"Paris\",\"unit\":\"c\",\"x\":1}", 0, "an extra property"},
      {"{ \"city\":\"Paris\",\"unit\":\"c\"}", 0, "whitespace"},
      {"{\"city\":\"Paris\",\"unit\":\"c\",\"days\":1.5}", 0, "a number for an integer"},
      {"{\"city\":\"Paris\",\"unit\":\"c\",\"days\":01}", 0, "a leading zero"},
      {"{\"city\":\"\\ud83d\",\"unit\":\"c\"}", 0, "a lone high surrogate"},
      {"{\"city\":\"\\udc00\",\"unit\":\"c\"}", 0, "a lone low surrogate"},
      {"{\"city\":\"\\u0000\",\"unit\":\"c\"}", 0, "\\u0000"},
      {"{\"city\":\"a\tb\",\"unit\":\"c\"}", 0, "a raw control character"},
      {"{\"city\":\"\xc3(\",\"unit\":\"c\"}", 0, "invalid UTF-8"},
      {"{\"city\":\"\xc0\x80\",\"unit\":\"c\"}", 0, "an overlong encoding"},
      {"{\"city\":\"\xed\xa0\x80\",\"unit\":\"c\"}", 0, "a UTF-8 surrogate"},
      {"{\"city\":\"Paris\",\"city\":\"Rome\",\"unit\":\"c\"}", 0, "a repeated property"},
      {"{\"city\":\"Paris\",\"unit\":\"c\",\"exact\":tru}", 0, "a cut literal"},
      {NULL, 0, NULL}}},
    {"nested",
     "{\"type\":\"object\",\"properties\":{\"user\":{\"type\":\"object\",\"properties\":{"
     "\"name\":{\"type\":\"string\"},\"tags\":{\"type\":\"array\",\"items\":{\"type\":"
     "\"string\",\"maxLength\":5},\"maxItems\":3}},\"required\":[\"name\"]},\"score\":{"
     "\"type\":\"number\"}},\"required\":[\"user\"]}",
     {{"{\"user\":{\"name\":\"x\"}}", 1, "minimal"},
      {"{\"user\":{\"name\":\"x\",\"tags\":[]},\"score\":-0.5e+3}", 1, "empty array, number"},
      {"{\"user\":{\"name\":\"x\",\"tags\":[\"a\",\"b\",\"c\"]},\"score\":1}", 1, "maxItems"},
      {"{\"user\":{\"name\":\"x\",\"tags\":[\"a\",\"b\",\"c\",\"d\"]}}", 0, "maxItems + 1"},
      {"{\"user\":{\"tags\":[]}}", 0, "nested required missing"},
      {"{\"user\":{\"name\":\"x\",\"tags\":[\"abcdef\"]}}", 0, "item too long"},
      {"{\"user\":{\"name\":\"x\"},\"score\":1.}", 0, "a cut fraction"},
      {"{\"user\":{\"name\":\"x\"},\"score\":.5}", 0, "no integer part"},
      {NULL, 0, NULL}}},
    {"unions",
     "{\"type\":\"object\",\"properties\":{\"v\":{\"type\":[\"string\",\"null\",\"integer\"]},"
     "\"w\":{\"anyOf\":[{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"minItems\":1},"
     "{\"const\":\"none\"}]},\"z\":{\"type\":\"string\",\"nullable\":true}},\"required\":[\"v\","
     "\"w\"]}",
     {{"{\"v\":\"s\",\"w\":[true]}", 1, "string, array"},
      {"{\"v\":null,\"w\":\"none\"}", 1, "null, const"},
      {"{\"v\":-7,\"w\":[false,true],\"z\":null}", 1, "integer, nullable"},
      {"{\"v\":true,\"w\":\"none\"}", 0, "boolean not in the type"},
      {"{\"v\":1,\"w\":[]}", 0, "minItems 1"},
      {"{\"v\":1,\"w\":\"nope\"}", 0, "not the const"},
      {"{\"v\":1.5,\"w\":\"none\"}", 0, "a number for integer|string|null"},
      {NULL, 0, NULL}}},
    {"recursive",
     "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"value\":{\"type\":"
     "\"integer\"},\"children\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"},"
     "\"maxItems\":2}},\"required\":[\"value\"]}},\"$ref\":\"#/$defs/node\"}",
     {{"{\"value\":1}", 1, "a leaf"},
      {"{\"value\":1,\"children\":[{\"value\":2,\"children\":[{\"value\":3}]},{\"value\":4}]}", 1,
       "a tree"},
      {"{\"value\":1,\"children\":[{}]}", 0, "a child without value"},
      {NULL, 0, NULL}}},
    {"free object",
     "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"number\"}}",
     {{"{}", 1, "empty"},
      {"{\"a\":1,\"b\\\"\":2.5}", 1, "any keys"},
      {"{\"a\":\"x\"}", 0, "a value of the wrong type"},
      {NULL, 0, NULL}}},
    {"any",
     "{}",
     {{"{\"a\":[1,\"x\",null,{\"b\":false}],\"c\":{}}", 1, "an object"},
      {"[]", 1, "an array"},
      {"\"s\"", 1, "a string"},
      {"-12.5E-3", 1, "a number"},
      {"null", 1, "null"},
      {"nul", 0, "a cut keyword"},
      {"[1,]", 0, "a trailing comma"},
      {"{\"a\":1,}", 0, "a trailing comma in an object"},
      {"{\"a\" :1}", 0, "whitespace"},
      {NULL, 0, NULL}}},
    {"lengths",
     "{\"type\":\"string\",\"minLength\":2,\"maxLength\":4}",
     {{"\"ab\"", 1, "2"},
      {"\"\\u00e9\xf0\x9f\x98\x80\\ud83d\\ude00c\"", 1, "4 code points, escaped and not"},
      {"\"a\"", 0, "1"},
      {"\"abcde\"", 0, "5"},
      {NULL, 0, NULL}}},
    {"enum",
     "{\"enum\":[\"a\",\"ab\",1,10,true,null,{\"k\":1},[1,2]]}",
     {{"\"a\"", 1, "a string"},
      {"\"ab\"", 1, "a longer string"},
      {"1", 1, "1"},
      {"10", 1, "10 (1 is a prefix)"},
      {"{\"k\":1}", 1, "an object literal"},
      {"[1,2]", 1, "an array literal"},
      {"true", 1, "true"},
      {"false", 0, "not listed"},
      {"100", 0, "a longer number"},
      {"\"abc\"", 0, "a longer string"},
      {NULL, 0, NULL}}},
    {"required undeclared",
     "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\","
     "\"b\"]}",
     {{"{\"a\":1,\"b\":[true]}", 1, "b takes any value"},
      {"{\"a\":1}", 0, "b missing"},
      {NULL, 0, NULL}}},
    {"no parameters",
     "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}",
     {{"{}", 1, "empty"}, {"{\"a\":1}", 0, "a key"}, {NULL, 0, NULL}}},
};

static const char *const refused[] = {
    "{\"type\":\"object\",\"properties\":{\"a\":false},\"required\":[\"a\"]}",
    "{\"type\":\"string\",\"minLength\":5,\"maxLength\":2}",
    "{\"enum\":[]}",
    ("{\"$defs\":{\"x\":{\"type\":\"object\",\"properties\":{\"x\":{\"$ref\":\"#/$defs/x\"}},"
     "\"required\":[\"x\"]}},\"$ref\":\"#/$defs/x\"}"), /* one schema, two lines */
    "{\"type\":\"array\",\"items\":false,\"minItems\":1}",
};

/* A schema nested `levels` objects deep, each requiring the next. */
static char *deep_schema(int levels)
{
    size_t cap = (size_t)levels * 80 + 64, n = 0;
    char *s = malloc(cap);
    for (int i = 0; i < levels; i++)
        n += (size_t)snprintf(s + n, cap - n,
                              "{\"type\":\"object\",\"required\":[\"a\"],\"properties\":{\"a\":");
    n += (size_t)snprintf(s + n, cap - n, "{\"type\":\"integer\"}");
    for (int i = 0; i < levels; i++) n += (size_t)snprintf(s + n, cap - n, "}}");
    return s;
}

static void test_refusals(void)
{
    char err[256];
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        fk_schema *s = compile_text(refused[i], err, sizeof err);
        ok(!s && strstr(err, "no JSON document"), "refused (%s): %.60s", err, refused[i]);
        fk_schema_free(s);
    }
    char *deep = deep_schema(63);
    err[0] = 0;
    fk_schema *s = compile_text(deep, err, sizeof err);
    ok(!s && strstr(err, "deeper"), "a schema needing more than %d frames is refused (%s)",
       FK_SCHEMA_MAX_DEPTH, err);
    fk_schema_free(s);
    free(deep);
    deep = deep_schema(62);
    s = compile_text(deep, err, sizeof err);
    ok(s != NULL, "one needing %d frames compiles", FK_SCHEMA_MAX_DEPTH);
    fk_schema_free(s);
    free(deep);
}

static void test_cases(void)
{
    char err[256];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const schema_case *c = &cases[i];
        fk_schema *s = compile_text(c->schema, err, sizeof err);
        if (!ok(s != NULL, "%s: compiles (%s)", c->name, s ? "ok" : err)) continue;
        json_t *schema = json_loads(c->schema, 0, NULL);
        for (const doc_case *d = c->docs; d->doc; d++) {
            int got = accepts(s, d->doc, strlen(d->doc));
            ok(got == d->ok, "%s: %s %s: %s", c->name, d->ok ? "accepts" : "rejects", d->why,
               d->doc);
            json_t *v = json_loads(d->doc, JSON_DECODE_ANY, NULL);
            if (d->ok) {
                ok(prefixes_accepted(s, d->doc), "%s: every prefix of it is accepted", c->name);
                ok(v && ref_valid(schema, v), "%s: the reference agrees it is valid", c->name);
            }
            json_decref(v);
        }
        json_decref(schema);
        fk_schema_free(s);
    }
}

/* ---- strings and numbers against jansson ------------------------------------------- */

/* 1 when every number in JSON text t keeps schema.h's digit limits
 * (jansson itself accepts longer ones). */
static int digits_within_limits(const char *t, size_t n)
{
    int in_string = 0, esc = 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (in_string) {
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_string = 0;
            continue;
        }
        if (c == '"') in_string = 1;
        if (!(c == '-' || (c >= '0' && c <= '9'))) continue;
        size_t j = i + (c == '-'), d = 0;
        while (j < n && t[j] >= '0' && t[j] <= '9') j++, d++;
        if (d > FK_NUMBER_DIGITS) return 0;
        if (j < n && t[j] == '.') {
            for (d = 0, j++; j < n && t[j] >= '0' && t[j] <= '9'; j++) d++;
            if (d > FK_FRACTION_DIGITS) return 0;
        }
        if (j < n && (t[j] == 'e' || t[j] == 'E')) {
            j++;
            if (j < n && (t[j] == '+' || t[j] == '-')) j++;
            for (d = 0; j < n && t[j] >= '0' && t[j] <= '9'; j++) d++;
            if (d > FK_EXP_DIGITS) return 0;
        }
        i = j - 1;
    }
    return 1;
}

static void test_against_jansson(const char *schema_text, const char *alphabet, int quoted,
                                 int rounds, const char *what)
{
    char err[256];
    fk_schema *s = compile_text(schema_text, err, sizeof err);
    size_t na = strlen(alphabet);
    int mismatches = 0, accepted = 0;
    char doc[32];
    for (int r = 0; r < rounds && s; r++) {
        size_t len = 0, body = 1 + rnd(8);
        if (quoted) doc[len++] = '"';
        for (size_t k = 0; k < body; k++) doc[len++] = alphabet[rnd((uint32_t)na)];
        if (quoted) doc[len++] = '"';
        json_t *v = json_loadb(doc, len, JSON_DECODE_ANY, NULL);
        int ref =
            v && (quoted ? json_is_string(v) : json_is_number(v)) && digits_within_limits(doc, len);
        int got = accepts(s, doc, len);
        accepted += got;
        if (got != ref && mismatches++ < 5)
            diag("%s: '%.*s' automaton %d jansson %d", what, (int)len, doc, got, ref);
        json_decref(v);
    }
    ok(s && mismatches == 0, "%s: the automaton accepts what jansson accepts (%d of %d random)",
       what, accepted, rounds);
    fk_schema_free(s);
}

/* ---- random walks ------------------------------------------------------------------ */

static void test_walks(int per_schema)
{
    char err[256];
    static char doc[1 << 16];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fk_schema *s = compile_text(cases[i].schema, err, sizeof err);
        json_t *schema = json_loads(cases[i].schema, 0, NULL);
        int completed = 0, valid = 0, reencoded = 0;
        for (int w = 0; s && w < per_schema; w++) {
            size_t n;
            if (!walk(s, doc, sizeof doc, &n, 1 + (int)rnd(200))) {
                diag("%s: no completion after '%.*s'", cases[i].name, (int)n, doc);
                continue;
            }
            completed++;
            json_t *v = json_loadb(doc, n, JSON_DECODE_ANY, NULL);
            if (v && ref_valid(schema, v) && 1 + ref_depth(v) <= FK_SCHEMA_MAX_DEPTH)
                valid++;
            else if (valid + 3 > w)
                diag("%s: invalid: '%.*s'", cases[i].name, (int)n, doc);
            char *again = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
            if (again &&
                (accepts(s, again, strlen(again)) || !digits_within_limits(again, strlen(again))))
                reencoded++;
            else if (again)
                diag("%s: re-encoded not accepted: %s", cases[i].name, again);
            free(again);
            json_decref(v);
        }
        ok(completed == per_schema, "%s: every walk completes (%d of %d)", cases[i].name, completed,
           per_schema);
        ok(valid == per_schema, "%s: every walk's document is valid (%d)", cases[i].name, valid);
        ok(reencoded == per_schema,
           "%s: jansson's encoding of each is accepted (%d; when within the digit limits)",
           cases[i].name, reencoded);
        json_decref(schema);
        fk_schema_free(s);
    }
}

/* ---- tools and the header rule ----------------------------------------------------- */

static void test_tools(void)
{
    fk_toolset t;
    char err[256], param[128];
    const char *tools =
        "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{"
        "\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":["
        "\"city\"]}}},{\"type\":\"function\",\"function\":{\"name\":\"now\"}}]";
    ok(fk_toolset_parse(tools, &t, err, sizeof err, param, sizeof param) == 0 && t.n == 2,
       "two function tools compiled");
    ok(t.n == 2 && accepts(t.schemas[1], "{}", 2) && !accepts(t.schemas[1], "{\"a\":1}", 7),
       "a function without parameters takes {} only");
    ok(fk_toolset_find(&t, "now", 3) == 1 && fk_toolset_find(&t, "no", 2) == -1, "find by name");
    fk_toolset_clear(&t);
    const char *bad = "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{"
                      "\"type\":\"string\",\"minLength\":3,\"maxLength\":1}}}]";
    ok(fk_toolset_parse(bad, &t, err, sizeof err, param, sizeof param) < 0 &&
           !strcmp(param, "tools[0].function.parameters") && strstr(err, "'f'"),
       "an unsatisfiable schema names the field: %s: %s", param, err);

    static const struct {
        const char *hdr;
        const char *name; /* NULL: no call */
    } hdrs[] = {
        {"assistant<|channel|>commentary to=functions.get_weather <|constrain|>json",
         "get_weather"},
        {"assistant to=functions.f<|channel|>commentary json", "f"},
        {"assistant<|channel|>commentary to=functions.", ""},
        {"assistant<|channel|>analysis", NULL},
        {"assistant<|channel|>commentary xto=functions.f", NULL},
        {"assistant<|channel|>commentary to=browser.search", NULL},
    };
    for (size_t i = 0; i < sizeof hdrs / sizeof *hdrs; i++) {
        size_t off = 0, len = 0;
        int got = fk_header_call(hdrs[i].hdr, strlen(hdrs[i].hdr), &off, &len);
        int want = hdrs[i].name != NULL;
        ok(got == want && (!want || (len == strlen(hdrs[i].name) &&
                                     !memcmp(hdrs[i].hdr + off, hdrs[i].name, len))),
           "header rule: '%s' -> %s", hdrs[i].hdr, want ? hdrs[i].name : "(no call)");
    }
}

int main(void)
{
    test_refusals();
    test_cases();
    test_against_jansson("{\"type\":\"string\"}",
                         "\"\\/ubnrtdD8c0aF\x01\x7f\x80\xbf\xc3\xe0\xed"
                         "\xf0\xf4\xff",
                         1, 20000, "strings");
    test_against_jansson("{\"type\":\"number\"}", "-+.eE0123", 0, 20000, "numbers");
    test_walks(300);
    test_tools();
    return done_testing();
}
