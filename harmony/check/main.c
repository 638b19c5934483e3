/* fk-harmony-check: runs Harmony conformance vectors.
 *
 *   fk-harmony-check [--tokenizer PATH] DIR|FILE...
 *
 * Walks each directory recursively in sorted order and runs every *.json
 * file as a render vector (it has "expected_text") or a parse vector (it has
 * "expected_messages"), whatever folder it is in. Prints "FAIL path: reason"
 * per failure and, last, "N passed, M failed"; exits 0 only when nothing
 * failed and something passed. The tokenizer (tokenizer.json or .tiktoken)
 * decodes input_tokens; without --tokenizer the bundled one is used. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harmony/check/check.h"

/* Totals over all vectors. */
typedef struct tally {
    int passed; /* vectors that passed */
    int failed; /* vectors that failed (or could not be read) */
} tally;

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void run_file(const char *path, const fktok *tok, tally *t)
{
    char why[1024] = "";
    json_error_t err;
    json_t *v = json_load_file(path, 0, &err);
    int pass = 0;
    if (!v)
        snprintf(why, sizeof why, "invalid JSON at line %d: %s", err.line, err.text);
    else if (json_object_get(v, "expected_text"))
        pass = fk_check_render_vector(v, why, sizeof why);
    else if (json_object_get(v, "expected_messages"))
        pass = fk_check_parse_vector(v, tok, why, sizeof why);
    else
        snprintf(why, sizeof why,
                 "neither a render vector (expected_text) nor a parse vector "
                 "(expected_messages)");
    json_decref(v);
    if (pass) {
        t->passed++;
    } else {
        t->failed++;
        printf("FAIL %s: %s\n", path, why[0] ? why : "failed");
    }
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static void walk(const char *path, const fktok *tok, tally *t)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        t->failed++;
        printf("FAIL %s: %s\n", path, strerror(errno));
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        run_file(path, tok, t);
        return;
    }
    struct dirent **names;
    int n = scandir(path, &names, NULL, by_name);
    if (n < 0) {
        t->failed++;
        printf("FAIL %s: %s\n", path, strerror(errno));
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (name[0] != '.') {
            size_t len = strlen(path) + strlen(name) + 2;
            char *child = malloc(len);
            snprintf(child, len, "%s/%s", path, name);
            struct stat cs;
            if (stat(child, &cs) == 0 && S_ISDIR(cs.st_mode))
                walk(child, tok, t);
            else if (ends_with(name, ".json"))
                run_file(child, tok, t);
            free(child);
        }
        free(names[i]);
    }
    free(names);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: fk-harmony-check [--tokenizer PATH] DIR|FILE...\n"
               "Runs the Harmony render and parse vectors found under each DIR (recursively)\n"
               "and prints \"FAIL path: reason\" per failure, then \"N passed, M failed\".\n"
               "  --tokenizer PATH  tokenizer.json or .tiktoken for input_tokens\n"
               "                    (default: the bundled o200k_harmony)\n"
               "  --help            this text\n"
               "Exit status: 0 when every vector passed (and there was one), 1 otherwise,\n"
               "2 on a usage error.\n");
}

static fktok *load_tokenizer(const char *path)
{
    char err[512] = "";
    fktok *tok;
    if (!path)
        tok = fktok_load_default(err, sizeof err);
    else if (ends_with(path, ".json"))
        tok = fktok_load_json(path, err, sizeof err);
    else
        tok = fktok_load_tiktoken(path, err, sizeof err);
    if (!tok)
        fprintf(stderr, "fk-harmony-check: no tokenizer (%s); vectors with input_tokens fail\n",
                err);
    return tok;
}

int main(int argc, char **argv)
{
    const char *tok_path = NULL;
    int first = 1;
    for (; first < argc && strncmp(argv[first], "--", 2) == 0; first++) {
        if (strcmp(argv[first], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[first], "--tokenizer") == 0 && first + 1 < argc) {
            tok_path = argv[++first];
        } else if (strcmp(argv[first], "--") == 0) {
            first++;
            break;
        } else {
            fprintf(stderr, "fk-harmony-check: unknown option %s\n", argv[first]);
            usage(stderr);
            return 2;
        }
    }
    if (first >= argc) {
        usage(stderr);
        return 2;
    }
    fktok *tok = load_tokenizer(tok_path);
    if (tok_path && !tok) return 2;
    tally t = {0, 0};
    for (int i = first; i < argc; i++) walk(argv[i], tok, &t);
    fktok_free(tok);
    printf("%d passed, %d failed\n", t.passed, t.failed);
    return t.failed == 0 && t.passed > 0 ? 0 : 1;
}
