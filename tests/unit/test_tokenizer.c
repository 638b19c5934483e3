/* test_tokenizer: libfktok units. A tiny byte-level tokenizer.json written by
 * this test checks the byte alphabet, both merge spellings, merge priority,
 * ignore_merges and added tokens; the bundled o200k_harmony checks special
 * tokens, long pieces and raw bytes; the streaming decoder is fed split and
 * broken UTF-8; broken files must fail with a message naming the problem. */
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/tap.h"
#include "tokenizer/fktok.h"
#include "tokenizer/fktok_internal.h"

#define END_ID 300 /* the tiny tokenizer's <|end|> */

/* Options for the tiny tokenizer.json. */
typedef struct tiny_opts {
    int merges_as_strings; /* 1: "a b" strings, 0: ["a", "b"] pairs */
    int bc_first;          /* 1: merge b+c before a+b */
    int ignore_merges;     /* model.ignore_merges */
} tiny_opts;

/* The UTF-8 byte-level spelling of a byte string. */
static void bytelevel(const char *bytes, char *out)
{
    for (; *bytes; bytes++) {
        uint32_t cp = fk_bytelevel_codepoint((uint8_t)*bytes);
        if (cp < 0x80)
            *out++ = (char)cp;
        else {
            *out++ = (char)(0xc0 | cp >> 6);
            *out++ = (char)(0x80 | (cp & 0x3f));
        }
    }
    *out = '\0';
}

/* A tiny tokenizer.json: id b for each byte b, then "ab" 256, "bc" 257,
 * "abc" 258, " a" 259, "xyz" 260 (no merge makes it), <|end|> 300. */
static json_t *tiny_json(const tiny_opts *o)
{
    json_t *vocab = json_object(), *merges = json_array();
    char key[16];
    for (int b = 0; b < 256; b++) {
        char s[2] = {(char)b, 0};
        if (b == 0) {
            json_object_set_new(vocab, "\xc4\x80", json_integer(0)); /* U+0100 stands for 0x00 */
            continue;
        }
        bytelevel(s, key);
        json_object_set_new(vocab, key, json_integer(b));
    }
    const char *extra[] = {"ab", "bc", "abc", " a", "xyz"};
    for (int i = 0; i < 5; i++) {
        bytelevel(extra[i], key);
        json_object_set_new(vocab, key, json_integer(256 + i));
    }
    const char *pairs[4][2] = {{"a", "b"}, {"b", "c"}, {"ab", "c"}, {"\xc4\xa0", "a"}};
    if (o->bc_first) {
        pairs[0][1] = "c", pairs[0][0] = "b";
        pairs[1][0] = "a", pairs[1][1] = "b";
    }
    for (int i = 0; i < 4; i++) {
        if (o->merges_as_strings) {
            char s[16];
            snprintf(s, sizeof s, "%s %s", pairs[i][0], pairs[i][1]);
            json_array_append_new(merges, json_string(s));
        } else {
            json_array_append_new(merges, json_pack("[ss]", pairs[i][0], pairs[i][1]));
        }
    }
    return json_pack("{s:[{s:i,s:s,s:b}],s:n,s:{s:s,s:[{s:s,s:{s:s},s:s,s:b},{s:s,s:b,s:b}]},"
                     "s:{s:s,s:b,s:o,s:o}}",
                     "added_tokens", "id", END_ID, "content", "<|end|>", "special", 1, "normalizer",
                     "pre_tokenizer", "type", "Sequence", "pretokenizers", "type", "Split",
                     "pattern", "Regex", fk_o200k_pattern, "behavior", "Isolated", "invert", 0,
                     "type", "ByteLevel", "add_prefix_space", 0, "use_regex", 0, "model", "type",
                     "BPE", "ignore_merges", o->ignore_merges, "vocab", vocab, "merges", merges);
}

/* Write text to a fresh temporary file; returns its malloc'd path. */
static char *write_temp(const char *text, size_t len)
{
    const char *dir = getenv("TMPDIR");
    char *path = malloc(4096);
    snprintf(path, 4096, "%s/fktok-test-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
        diag("cannot write a temporary file in %s", path);
        exit(1);
    }
    close(fd);
    return path;
}

/* Load a JSON document through a temporary file (the real loader path). */
static fktok *load_doc(json_t *doc, char *err, size_t err_len)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    char *path = write_temp(text, strlen(text));
    fktok *t = fktok_load_json(path, err, err_len);
    unlink(path);
    free(path);
    free(text);
    json_decref(doc);
    return t;
}

/* Encode and compare with want[0..n). */
static int encodes_to(const fktok *t, const char *text, int special, const int32_t *want, size_t n,
                      const char *what)
{
    fktok_ids ids = {0};
    int rc = fktok_encode(t, text, strlen(text), special, &ids);
    int pass = rc == 0 && ids.n == n && memcmp(ids.ids, want, n * sizeof *want) == 0;
    ok(pass, "%s", what);
    if (!pass) {
        diag("  rc %d, %zu ids:", rc, ids.n);
        for (size_t i = 0; i < ids.n; i++) diag("    %d", (int)ids.ids[i]);
    }
    free(ids.ids);
    return pass;
}

static void test_byte_alphabet(void)
{
    is_int(fk_bytelevel_codepoint(' '), 0x120, "space is U+0120 (Ġ)");
    is_int(fk_bytelevel_codepoint('\n'), 0x10a, "newline is U+010A (Ċ)");
    is_int(fk_bytelevel_codepoint('a'), 'a', "printable ASCII stands for itself");
    is_int(fk_bytelevel_codepoint(0x7f), 0x121, "DEL is U+0121");
    is_int(fk_bytelevel_codepoint(0xad), 0x143, "soft hyphen is the last, U+0143");
    is_int(fk_bytelevel_codepoint(0xe9), 0xe9, "printable Latin-1 stands for itself");
    int all = 1;
    for (int b = 0; b < 256; b++) {
        char s[2] = {(char)b, 0}, enc[8];
        unsigned char back[8];
        size_t n = 0;
        uint32_t bad = 0;
        bytelevel(b ? s : "", enc);
        if (b == 0) strcpy(enc, "\xc4\x80");
        if (fk_bytelevel_decode(enc, strlen(enc), back, &n, &bad) || n != 1 || back[0] != b)
            all = 0;
    }
    ok(all, "every byte survives the alphabet both ways");
    unsigned char out[8];
    size_t n = 0;
    uint32_t bad = 0;
    ok(fk_bytelevel_decode("\xc5\x90", 2, out, &n, &bad) == -1 && bad == 0x150,
       "U+0150 is outside the alphabet");
    ok(fk_bytelevel_decode("\xc4", 1, out, &n, &bad) == -1, "truncated UTF-8 is refused");
}

static void test_tiny_merges(void)
{
    char err[512];
    for (int form = 0; form < 2; form++) {
        const char *name = form ? "\"a b\" strings" : "[a, b] pairs";
        tiny_opts o = {.merges_as_strings = form, .ignore_merges = 1};
        fktok *t = load_doc(tiny_json(&o), err, sizeof err);
        if (!ok(t != NULL, "tiny tokenizer.json loads (%s)", name)) {
            diag("%s", err);
            continue;
        }
        is_int((long long)fktok_vocab_size(t), END_ID + 1, "vocab size is the largest id + 1");
        size_t len = 0;
        const char *s = fktok_token_bytes(t, 259, &len);
        ok(s && len == 2 && memcmp(s, " a", 2) == 0, "\"Ġa\" decodes to \" a\"");
        s = fktok_token_bytes(t, 0, &len);
        ok(s && len == 1 && s[0] == 0, "\"Ā\" decodes to byte 0");
        ok(fktok_token_bytes(t, 280, &len) == NULL, "an id with no token has no bytes");
        encodes_to(t, "ab", 0, (int32_t[]){256}, 1, "ab -> [ab]");
        encodes_to(t, "abcab", 0, (int32_t[]){258, 256}, 2, "abcab merges a+b first, then ab+c");
        encodes_to(t, "cab a", 0, (int32_t[]){99, 256, 259}, 3, "cab a -> c ab ' a'");
        encodes_to(t, "xyz", 0, (int32_t[]){260}, 1,
                   "ignore_merges: a pre-token in the vocab is one token");
        fktok_free(t);
    }
    tiny_opts o = {.bc_first = 1, .ignore_merges = 1};
    fktok *t = load_doc(tiny_json(&o), err, sizeof err);
    ok(t != NULL, "tiny tokenizer with b+c listed first loads");
    if (t) encodes_to(t, "abca", 0, (int32_t[]){97, 257, 97}, 3, "the earlier merge wins: a bc a");
    fktok_free(t);
    o = (tiny_opts){.ignore_merges = 0};
    t = load_doc(tiny_json(&o), err, sizeof err);
    ok(t != NULL, "tiny tokenizer without ignore_merges loads");
    if (t)
        encodes_to(t, "xyz", 0, (int32_t[]){120, 121, 122}, 3,
                   "without ignore_merges xyz stays bytes");
    fktok_free(t);
}

/* Every non-ASCII key escaped as \uXXXX and one top-level key spelled with
 * an escape (read before a value full of escapes): same tokenizer. */
static void test_tiny_escapes(void)
{
    tiny_opts o = {.ignore_merges = 1};
    json_t *doc = tiny_json(&o);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(doc);
    char *key = strstr(text, "\"pre_tokenizer\"");
    size_t len = strlen(text), at = (size_t)(key - text);
    char *escaped = malloc(len + 16);
    memcpy(escaped, text, at);
    strcpy(escaped + at, "\"pre_t\\u006fkenizer\"");
    strcat(escaped, key + strlen("\"pre_tokenizer\""));
    char err[512];
    fktok *t = fktok_load_json_buffer(escaped, strlen(escaped), "escaped.json", err, sizeof err);
    if (!ok(t != NULL, "a tokenizer.json written with \\u escapes loads")) diag("%s", err);
    if (t) encodes_to(t, "cab a", 0, (int32_t[]){99, 256, 259}, 3, "and encodes the same");
    fktok_free(t);
    free(escaped);
    free(text);
}

/* Defined with the load-error helpers below. */
static fktok *load_tiny_with(const char *key, json_t *value, const char *sub, char *err,
                             size_t err_len);

/* Forty added tokens of forty different lengths: each must be recognised. */
static void test_many_added_lengths(void)
{
    json_t *added = json_array();
    char text[64];
    for (int k = 1; k <= 40; k++) {
        snprintf(text, sizeof text, "<%.*s>", k, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        json_array_append_new(
            added, json_pack("{s:i,s:s,s:b}", "id", 300 + k, "content", text, "special", 1));
    }
    char err[512];
    fktok *t = load_tiny_with("added_tokens", added, NULL, err, sizeof err);
    if (!ok(t != NULL, "a tokenizer with 40 added-token lengths loads")) return;
    int all = 1;
    for (int k = 1; k <= 40; k++) {
        snprintf(text, sizeof text, "<%.*s>", k, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        fktok_ids ids = {0};
        all &= fktok_encode(t, text, strlen(text), 1, &ids) == 0 && ids.n == 1 &&
               ids.ids[0] == 300 + k;
        free(ids.ids);
    }
    ok(all, "every one of them is recognised");
    fktok_free(t);
}

static void test_tiny_special(void)
{
    char err[512];
    tiny_opts o = {.ignore_merges = 1};
    fktok *t = load_doc(tiny_json(&o), err, sizeof err);
    if (!ok(t != NULL, "tiny tokenizer loads for added tokens")) return;
    is_int(fktok_special_id(t, "<|end|>", 7), END_ID, "special_id finds <|end|>");
    ok(fktok_is_special(t, END_ID) && !fktok_is_special(t, 97), "is_special");
    encodes_to(t, "a<|end|>", 1, (int32_t[]){97, END_ID}, 2, "tiny: a<|end|> with specials");
    encodes_to(t, "<|end|>", 0, (int32_t[]){60, 124, 101, 110, 100, 124, 62}, 7,
               "tiny: <|end|> without specials is bytes");
    fktok_free(t);
}

/* The ids of text must decode back to exactly its bytes (token bytes joined). */
static int joins_back(const fktok *t, const char *text, size_t len, const fktok_ids *ids)
{
    size_t at = 0;
    for (size_t i = 0; i < ids->n; i++) {
        size_t n = 0;
        const char *s = fktok_token_bytes(t, ids->ids[i], &n);
        if (!s || at + n > len || memcmp(text + at, s, n) != 0) return 0;
        at += n;
    }
    return at == len;
}

static void test_harmony(const fktok *t)
{
    is_int((long long)fktok_vocab_size(t), 201088, "o200k_harmony has 201088 ids");
    struct {
        const char *text;
        int32_t id;
    } named[] = {{"<|startoftext|>", 199998},
                 {"<|endoftext|>", 199999},
                 {"<|return|>", 200002},
                 {"<|constrain|>", 200003},
                 {"<|channel|>", 200005},
                 {"<|start|>", 200006},
                 {"<|end|>", 200007},
                 {"<|message|>", 200008},
                 {"<|call|>", 200012},
                 {"<|endofprompt|>", 200018},
                 {"<|reserved_200000|>", 200000},
                 {"<|reserved_201087|>", 201087}};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        is_int(fktok_special_id(t, named[i].text, strlen(named[i].text)), named[i].id, "%s",
               named[i].text);
        size_t n = 0;
        const char *s = fktok_token_bytes(t, named[i].id, &n);
        ok(s && n == strlen(named[i].text) && memcmp(s, named[i].text, n) == 0,
           "token_bytes(%d) spells it", (int)named[i].id);
    }
    is_int(fktok_special_id(t, "<|notaspecial|>", 15), -1, "unknown <|...|> is not special");
    is_int(fktok_special_id(t, "<|reserved_200018|>", 19), -1, "200018 is named <|endofprompt|>");
    ok(fktok_is_special(t, 200007) && !fktok_is_special(t, 64) && !fktok_is_special(t, 201088),
       "is_special on a special, an ordinary and an out-of-range id");
    size_t n = 0;
    ok(!fktok_token_bytes(t, 201088, &n) && !fktok_token_bytes(t, -1, &n),
       "no bytes outside the vocabulary");
    encodes_to(t, "a<|end|>", 1, (int32_t[]){64, 200007}, 2,
               "a<|end|> -> [64, 200007] with specials");
    const char *texts[] = {"a<|end|>", "<|start|>user<|message|>hi<|end|>", "<|reserved_200000|>"};
    for (size_t i = 0; i < 3; i++) {
        fktok_ids ids = {0};
        int rc = fktok_encode(t, texts[i], strlen(texts[i]), 0, &ids);
        int special = 0;
        for (size_t k = 0; k < ids.n; k++) special |= fktok_is_special(t, ids.ids[k]);
        ok(rc == 0 && !special && joins_back(t, texts[i], strlen(texts[i]), &ids),
           "without specials %s is ordinary text that decodes back", texts[i]);
        free(ids.ids);
    }
    encodes_to(t, "<|reserved_200000|>", 1, (int32_t[]){200000}, 1,
               "reserved tokens are special too");
}

/* Long pieces go through the heap merge; raw bytes through byte tokens. */
static void test_long_and_raw(const fktok *t)
{
    size_t n = 300000;
    char *text = malloc(n + 1);
    for (size_t i = 0; i < n; i += 3) memcpy(text + i, i % 2 ? "\xe4\xb8\xad" : "\xe6\x96\x87", 3);
    text[n] = '\0';
    fktok_ids ids = {0};
    int rc = fktok_encode(t, text, n, 0, &ids);
    ok(rc == 0 && ids.n > 0 && joins_back(t, text, n, &ids),
       "a 300 KB CJK run (one pre-token) encodes and joins back (%zu ids)", ids.n);
    ids.n = 0;
    memset(text, ' ', n);
    rc = fktok_encode(t, text, n, 0, &ids);
    ok(rc == 0 && joins_back(t, text, n, &ids), "300 KB of spaces encodes and joins back (%zu ids)",
       ids.n);
    ids.n = 0;
    const char raw[] = "ok \xff\xfe caf\xc3 \xe2\x82 \xed\xa0\x80 \xf0\x9f\x98\x80 end";
    ok(fktok_encode(t, raw, sizeof raw - 1, 0, &ids) == 0 &&
           joins_back(t, raw, sizeof raw - 1, &ids),
       "invalid UTF-8 becomes byte tokens that join back to the input");
    free(ids.ids);
    free(text);
}

/* Push ids one by one, then flush; compare the whole output with want. */
static void decodes_to(const fktok *t, const int32_t *ids, size_t n, const char *want,
                       const char *what)
{
    fktok_decoder d = {{0}, 0};
    char *out = NULL;
    size_t len = 0, cap = 0;
    int fine = 1;
    for (size_t i = 0; i < n; i++) fine &= fktok_decoder_push(&d, t, ids[i], &out, &len, &cap) >= 0;
    fine &= fktok_decoder_flush(&d, &out, &len, &cap) >= 0;
    ok(fine && out && len == strlen(want) && memcmp(out, want, len) == 0, "%s", what);
    free(out);
}

static void test_decoder(void)
{
    char err[512];
    tiny_opts o = {.ignore_merges = 1};
    fktok *t = load_doc(tiny_json(&o), err, sizeof err); /* id b is byte b */
    if (!ok(t != NULL, "tiny tokenizer loads for the decoder")) return;
    fktok_decoder d = {{0}, 0};
    char *out = NULL;
    size_t len = 0, cap = 0;
    is_int(fktok_decoder_push(&d, t, 0xe2, &out, &len, &cap), 0,
           "first byte of the euro sign: nothing yet");
    is_int(fktok_decoder_push(&d, t, 0x82, &out, &len, &cap), 0, "second byte: still nothing");
    is_int(fktok_decoder_push(&d, t, 0xac, &out, &len, &cap), 3, "third byte completes it");
    ok(len == 3 && memcmp(out, "\xe2\x82\xac", 3) == 0, "the euro sign came out whole");
    is_int(fktok_decoder_flush(&d, &out, &len, &cap), 0, "nothing pending at the end");
    free(out);
    decodes_to(t, (int32_t[]){0xf0, 0x9f, 0x98, 0x80, 'a'}, 5,
               "\xf0\x9f\x98\x80"
               "a",
               "a 4-byte character split over four tokens");
    decodes_to(t, (int32_t[]){0xff, 'a'}, 2,
               "\xef\xbf\xbd"
               "a",
               "0xff becomes U+FFFD");
    decodes_to(t, (int32_t[]){0xe2, 0x82, 'a'}, 3,
               "\xef\xbf\xbd"
               "a",
               "a character broken off by 'a': one U+FFFD, then a");
    decodes_to(t, (int32_t[]){0xe2, 0x82}, 2, "\xef\xbf\xbd",
               "an unfinished character at the end: U+FFFD");
    decodes_to(t, (int32_t[]){0xed, 0xa0, 0x80}, 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
               "a surrogate: three U+FFFD");
    decodes_to(t, (int32_t[]){0xc0, 0x80}, 2, "\xef\xbf\xbd\xef\xbf\xbd",
               "an overlong NUL: two U+FFFD");
    decodes_to(t, (int32_t[]){'a', 99999, 'b'}, 3,
               "a\xef\xbf\xbd"
               "b",
               "an id outside the vocabulary: U+FFFD");
    decodes_to(t, (int32_t[]){0xe2, -5}, 2, "\xef\xbf\xbd\xef\xbf\xbd",
               "an unfinished character, then a bad id: two U+FFFD");
    decodes_to(t, (int32_t[]){END_ID}, 1, "<|end|>", "a special token decodes to its text");
    fktok_free(t);
}

/* Load must fail, with a message that contains each of want1, want2. */
static void fails_with(fktok *t, const char *err, const char *want1, const char *want2,
                       const char *what)
{
    int pass = t == NULL && strstr(err, want1) && (!want2 || strstr(err, want2));
    ok(pass, "%s", what);
    if (!pass) diag("  message: %s", t ? "(loaded)" : err);
    fktok_free(t);
}

/* A tiny document with one part replaced. */
static fktok *load_tiny_with(const char *key, json_t *value, const char *sub, char *err,
                             size_t err_len)
{
    tiny_opts o = {.ignore_merges = 1};
    json_t *doc = tiny_json(&o);
    json_t *obj = sub ? json_object_get(doc, sub) : doc;
    if (value)
        json_object_set_new(obj, key, value);
    else
        json_object_del(obj, key);
    return load_doc(doc, err, err_len);
}

static void test_load_errors(void)
{
    char err[512] = "";
    fails_with(fktok_load_json("/nonexistent/tokenizer.json", err, sizeof err), err,
               "/nonexistent/tokenizer.json", "cannot open", "missing file: named, cannot open");
    fails_with(fktok_load_tiktoken("/nonexistent/o200k.tiktoken", err, sizeof err), err,
               "/nonexistent/o200k.tiktoken", "cannot open", "missing tiktoken file");
    char *path = write_temp("{\"model\": {\"vocab\": ", 20);
    fails_with(fktok_load_json(path, err, sizeof err), err, path, "bad JSON", "truncated JSON");
    unlink(path);
    free(path);
    fails_with(load_tiny_with("vocab", NULL, "model", err, sizeof err), err, "model.vocab", NULL,
               "missing model.vocab");
    fails_with(load_tiny_with("merges", json_pack("[s]", "abc"), "model", err, sizeof err), err,
               "model.merges[0]", "LEFT RIGHT", "a merge without a space");
    fails_with(load_tiny_with("merges", json_pack("[[ii]]", 1, 2), "model", err, sizeof err), err,
               "model.merges[0]", NULL, "a merge of numbers");
    fails_with(load_tiny_with("merges", json_pack("[s]", "q zz"), "model", err, sizeof err), err,
               "model.merges[0]", "\"zz\" is not in model.vocab", "a merge of an unknown token");
    fails_with(load_tiny_with("merges", json_pack("[s]", "x y"), "model", err, sizeof err), err,
               "model.merges[0]", "merged token", "a merge whose result is not a token");
    fails_with(load_tiny_with("merges", NULL, "model", err, sizeof err), err, "model.merges", NULL,
               "missing model.merges");
    json_t *bad_re =
        json_pack("{s:s,s:[{s:s,s:{s:s},s:s},{s:s,s:b,s:b}]}", "type", "Sequence", "pretokenizers",
                  "type", "Split", "pattern", "Regex", "([a-z", "behavior", "Isolated", "type",
                  "ByteLevel", "add_prefix_space", 0, "use_regex", 0);
    fails_with(load_tiny_with("pre_tokenizer", bad_re, NULL, err, sizeof err), err, "regex error",
               "pre_tokenizer", "a broken regex");
    fails_with(
        load_tiny_with("normalizer", json_pack("{s:s}", "type", "NFC"), NULL, err, sizeof err), err,
        "normalizer", "not supported", "an unsupported normalizer is refused");
    fails_with(load_tiny_with("model", json_string("BPE"), NULL, err, sizeof err), err, "model",
               NULL, "model that is not an object");
    json_t *added = json_pack("[{s:i,s:s,s:b,s:b}]", "id", 300, "content", "<|end|>", "special", 1,
                              "rstrip", 1);
    fails_with(load_tiny_with("added_tokens", added, NULL, err, sizeof err), err,
               "added_tokens[0].rstrip", NULL, "an added token that strips spaces is refused");
    json_t *vocab = json_pack("{s:i}", "a", 0);
    fails_with(load_tiny_with("vocab", vocab, "model", err, sizeof err), err, "no token for byte",
               NULL, "a vocabulary missing byte tokens");
    fails_with(fktok_load_json_buffer("[1,2]", 5, "buf.json", err, sizeof err), err, "buf.json",
               "top", "a JSON array at the top");
    const char *tk[][2] = {{"IQ== 0\nnot-base64! 1\n", ":2: token is not base64"},
                           {"IQ== 0\nIg==\n", ":2: expected"},
                           {"IQ== 0\nIg== 0\n", "appears twice"},
                           {"IQ== 199998\n", "collides"},
                           {"IQ== 0\n", "no token for byte"},
                           {"", "no tokens"}};
    for (size_t i = 0; i < sizeof tk / sizeof tk[0]; i++) {
        path = write_temp(tk[i][0], strlen(tk[i][0]));
        fails_with(fktok_load_tiktoken(path, err, sizeof err), err, path, tk[i][1], tk[i][1]);
        unlink(path);
        free(path);
    }
}

/* Work for one thread sharing the tokenizer. */
typedef struct share_job {
    const fktok *t;   /* shared, read-only */
    const char *text; /* what to encode, again and again */
    fktok_ids want;   /* the ids encoded before any thread started */
    int mismatches;   /* encodings that differed from want */
} share_job;

static void *share_worker(void *arg)
{
    share_job *job = arg;
    for (int r = 0; r < 50; r++) {
        fktok_ids ids = {0};
        if (fktok_encode(job->t, job->text, strlen(job->text), 1, &ids) || ids.n != job->want.n ||
            memcmp(ids.ids, job->want.ids, ids.n * sizeof *ids.ids) != 0)
            job->mismatches++;
        free(ids.ids);
    }
    return NULL;
}

/* Four threads encode different texts with one tokenizer at the same time and
 * must get what a lone thread got. */
static void test_shared_threads(const fktok *t)
{
    static const char *texts[] = {"<|start|>user<|message|>What is 2+2?<|end|>",
                                  "naïve café résumé Straße über",
                                  "こんにちは世界。今日はいい天気ですね。你好，世界！",
                                  "for (int i = 0; i < n; i++) x[i] *= 2;\n"};
    share_job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (share_job){.t = t, .text = texts[i]};
        fktok_encode(t, texts[i], strlen(texts[i]), 1, &jobs[i].want);
    }
    int started = 0;
    for (int i = 0; i < 4; i++)
        started += pthread_create(&th[i], NULL, share_worker, &jobs[i]) == 0;
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        bad += jobs[i].mismatches;
        free(jobs[i].want.ids);
    }
    ok(started == 4 && bad == 0,
       "4 threads sharing one tokenizer agree with a lone thread (%d "
       "mismatches)",
       bad);
}

int main(void)
{
    test_byte_alphabet();
    test_tiny_merges();
    test_tiny_escapes();
    test_tiny_special();
    test_many_added_lengths();
    test_decoder();
    test_load_errors();
    char err[512];
    fktok *t = fktok_load_default(err, sizeof err);
    if (ok(t != NULL, "the bundled o200k_harmony loads")) {
        test_harmony(t);
        test_long_and_raw(t);
        test_shared_threads(t);
    } else {
        diag("%s", err);
    }
    fktok_free(t);
    return done_testing();
}
