/* bench_tokenizer: encode throughput of libfktok on one core.
 *
 *   bench_tokenizer [--tokenizer PATH] [--mb N] [--corpus FILE] [--ids FILE]
 *
 * Generates a deterministic mixed corpus (English prose, C-like code, numbers,
 * CJK, emoji, whitespace runs; N MB, default 8), writes it to --corpus so
 * another tokenizer can read the very same text, encodes it (specials not
 * recognised) several times and prints the best MB/s. --ids writes the ids as
 * little-endian int32 for comparison. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/fktok.h"
#include "tests/bench/bench_util.h"

/* Growable text buffer. */
typedef struct text {
    char *s;    /* bytes */
    size_t n;   /* used */
    size_t cap; /* allocated */
} text;

static void put(text *t, const char *s, size_t n)
{
    if (t->n + n > t->cap) {
        while (t->n + n > t->cap) t->cap = t->cap ? t->cap * 2 : 1 << 20;
        t->s = realloc(t->s, t->cap);
        if (!t->s) {
            fprintf(stderr, "bench_tokenizer: out of memory\n");
            exit(1);
        }
    }
    memcpy(t->s + t->n, s, n);
    t->n += n;
}

static void put_cp(text *t, unsigned cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80)
        b[0] = (char)cp, n = 1;
    else if (cp < 0x800)
        b[0] = (char)(0xc0 | cp >> 6), b[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
    else if (cp < 0x10000) {
        b[0] = (char)(0xe0 | cp >> 12), b[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
    } else {
        b[0] = (char)(0xf0 | cp >> 18), b[1] = (char)(0x80 | (cp >> 12 & 0x3f));
        b[2] = (char)(0x80 | (cp >> 6 & 0x3f)), b[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
    }
    put(t, b, n);
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

/* xorshift64*: the same stream on every run. */
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 33) % n;
}

static const char *words[] = {
    "the",     "of",        "and",       "to",      "in",       "a",         "is",
    "that",    "for",       "it",        "as",      "was",      "with",      "be",
    "by",      "on",        "not",       "he",      "this",     "are",       "or",
    "his",     "from",      "at",        "which",   "but",      "have",      "an",
    "they",    "you",       "were",      "their",   "one",      "all",       "we",
    "can",     "her",       "has",       "there",   "been",     "if",        "more",
    "when",    "will",      "would",     "who",     "so",       "no",        "tokenizer",
    "Gateway", "model",     "inference", "request", "response", "streaming", "throughput",
    "London",  "Harmony",   "kernel",    "don't",   "it's",     "they're",   "we've",
    "I'll",    "quantized", "attention", "HELLO",   "naïve",    "café",      "über"};

static const char *code_lines[] = {
    "    for (size_t i = 0; i < n; i++) sum += x[i] * w[i];\n",
    "static int parse_header(const char *buf, size_t len, struct hdr *out)\n{\n",
    "    if (rc != 0) { fprintf(stderr, \"error: %s\\n\", strerror(errno)); return -1; }\n",
    "def forward(self, x):\n        return self.proj(F.gelu(self.fc(x)))\n",
    "const result = await fetch(`${baseUrl}/v1/chat/completions`, { method: 'POST' });\n",
    "#include <stdio.h>\n#define MAX_TOKENS 4096\n",
    "    }\n}\n\n",
    "x = {'key': [1, 2, 3], \"other\": None}  # comment\n"};

static void gen_prose(text *t)
{
    int n = 20 + (int)rnd(60);
    for (int i = 0; i < n; i++) {
        const char *w = words[rnd(sizeof words / sizeof words[0])];
        if (i) put(t, " ", 1);
        put(t, w, strlen(w));
        if (rnd(12) == 0) put(t, ",", 1);
    }
    put(t, ". ", 2);
    if (rnd(4) == 0) put(t, "\n\n", 2);
}

static void gen_numbers(text *t)
{
    char b[64];
    int n = 5 + (int)rnd(20);
    for (int i = 0; i < n; i++) {
        int k = snprintf(b, sizeof b, rnd(3) ? "%u " : "%u.%02u, ", rnd(1000000), rnd(100));
        put(t, b, (size_t)k);
    }
    put(t, "\n", 1);
}

static void gen_cjk(text *t)
{
    int n = 10 + (int)rnd(80);
    for (int i = 0; i < n; i++) {
        unsigned r = rnd(10);
        if (r < 6)
            put_cp(t, 0x4e00 + rnd(0x5000)); /* CJK ideographs */
        else if (r < 8)
            put_cp(t, 0x3041 + rnd(0x56)); /* hiragana */
        else if (r < 9)
            put_cp(t, 0xac00 + rnd(0x2ba4)); /* hangul */
        else
            put_cp(t, 0x3002); /* 。 */
    }
    put(t, "\n", 1);
}

static void gen_emoji(text *t)
{
    int n = 1 + (int)rnd(8);
    for (int i = 0; i < n; i++) {
        put_cp(t, 0x1f600 + rnd(0x50));
        if (rnd(3) == 0) put(t, " ", 1);
    }
    put(t, " ", 1);
}

static void gen_space(text *t)
{
    const char *ws[] = {" ", "\t", "\n", "  ", "\r\n"};
    int n = 1 + (int)rnd(40);
    for (int i = 0; i < n; i++) {
        const char *w = ws[rnd(5)];
        put(t, w, strlen(w));
    }
    put(t, "x", 1);
}

/* The corpus: about mb megabytes of the mixed generators. */
static void gen_corpus(text *t, double mb)
{
    size_t want = (size_t)(mb * 1e6);
    while (t->n < want) {
        unsigned r = rnd(100);
        if (r < 45)
            gen_prose(t);
        else if (r < 65) {
            for (int k = 0; k < 4; k++) {
                const char *c = code_lines[rnd(sizeof code_lines / sizeof code_lines[0])];
                put(t, c, strlen(c));
            }
        } else if (r < 75)
            gen_numbers(t);
        else if (r < 87)
            gen_cjk(t);
        else if (r < 94)
            gen_emoji(t);
        else
            gen_space(t);
    }
}

int main(int argc, char **argv)
{
    const char *tok_path = NULL, *corpus_path = NULL, *ids_path = NULL;
    double mb = 8;
    int reps = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--tokenizer") == 0 && i + 1 < argc)
            tok_path = argv[++i];
        else if (strcmp(argv[i], "--corpus") == 0 && i + 1 < argc)
            corpus_path = argv[++i];
        else if (strcmp(argv[i], "--ids") == 0 && i + 1 < argc)
            ids_path = argv[++i];
        else if (strcmp(argv[i], "--mb") == 0 && i + 1 < argc)
            mb = atof(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_tokenizer [--tokenizer PATH] [--mb N] [--reps N] "
                            "[--corpus FILE] [--ids FILE]\n");
            return 2;
        }
    }
    char err[512];
    double t0 = bench_now_s();
    fktok *tok =
        tok_path ? fktok_load(tok_path, err, sizeof err) : fktok_load_default(err, sizeof err);
    if (!tok) {
        fprintf(stderr, "bench_tokenizer: %s\n", err);
        return 1;
    }
    double load_s = bench_now_s() - t0;
    text corpus = {0};
    gen_corpus(&corpus, mb);
    if (corpus_path) {
        FILE *f = fopen(corpus_path, "wb");
        if (!f || fwrite(corpus.s, 1, corpus.n, f) != corpus.n || fclose(f)) {
            fprintf(stderr, "bench_tokenizer: cannot write %s\n", corpus_path);
            return 1;
        }
    }
    fktok_ids ids = {0};
    double best = 1e30;
    for (int r = 0; r < (reps > 0 ? reps : 1); r++) {
        ids.n = 0;
        double s = bench_now_s();
        if (fktok_encode(tok, corpus.s, corpus.n, 0, &ids)) {
            fprintf(stderr, "bench_tokenizer: encoding failed\n");
            return 1;
        }
        double e = bench_now_s() - s;
        if (e < best) best = e;
    }
    printf("load %.3f s; corpus %.2f MB, %zu tokens; encode best of %d: %.3f s = %.2f MB/s\n",
           load_s, corpus.n / 1e6, ids.n, reps, best, corpus.n / 1e6 / best);
    if (ids_path) {
        FILE *f = fopen(ids_path, "wb");
        if (!f || fwrite(ids.ids, sizeof *ids.ids, ids.n, f) != ids.n || fclose(f)) {
            fprintf(stderr, "bench_tokenizer: cannot write %s\n", ids_path);
            return 1;
        }
    }
    free(ids.ids);
    free(corpus.s);
    fktok_free(tok);
    return 0;
}
