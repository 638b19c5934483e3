/* fk-tokenize: print the token ids of a text, or check a file of cases.
 *
 *   fk-tokenize [--tokenizer PATH] [--special] [TEXT...]
 *   fk-tokenize [--tokenizer PATH] --check CASES.jsonl
 *
 * TEXT arguments are joined with single spaces; without any, stdin is read
 * as-is. --check reads one {"name", "text", "ids"} object a line, encodes
 * each text with special tokens recognised and decodes each id list, prints
 * a line per failure and ends with "N passed, M failed". */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/fktok.h"

static void usage(FILE *f)
{
    fputs("usage: fk-tokenize [--tokenizer PATH] [--special] [TEXT...]\n"
          "       fk-tokenize [--tokenizer PATH] --check CASES.jsonl\n"
          "\n"
          "Prints the o200k_harmony token ids of TEXT (the arguments joined with\n"
          "spaces, or stdin when there are none), space-separated.\n"
          "\n"
          "  --tokenizer PATH  tokenizer.json or tiktoken ranks (default: the bundled\n"
          "                    o200k_base.tiktoken with the Harmony special tokens)\n"
          "  --special         recognise special tokens such as <|start|> in TEXT\n"
          "  --check FILE      run every case of a JSON-lines file ({\"name\", \"text\",\n"
          "                    \"ids\"}) both ways, special tokens recognised; prints\n"
          "                    each failure and \"N passed, M failed\"; exit 1 on failure\n"
          "  --help            this text\n",
          f);
}

/* Read all of f into a malloc'd buffer. NULL on OOM or read error. */
static char *read_all(FILE *f, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *bigger = realloc(buf, cap * 2);
        if (!bigger) free(buf);
        buf = bigger;
        cap *= 2;
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    *len = n;
    return buf;
}

static void print_ids(FILE *f, const int32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) fprintf(f, "%s%d", i ? " " : "", (int)ids[i]);
}

/* Encode text and print its ids on stdout. 0, or 1 on failure. */
static int tokenize(const fktok *t, const char *text, size_t len, int special)
{
    fktok_ids ids = {0};
    if (fktok_encode(t, text, len, special, &ids)) {
        fprintf(stderr, "fk-tokenize: encoding failed (out of memory)\n");
        free(ids.ids);
        return 1;
    }
    print_ids(stdout, ids.ids, ids.n);
    putchar('\n');
    free(ids.ids);
    return 0;
}

/* Read a case's fields. 0, or -1 with the reason in why. */
static int parse_case(json_t *c, const char **name, const char **text, size_t *text_len,
                      int32_t **want, size_t *n_want, const char **why)
{
    json_t *ids = json_object_get(c, "ids"), *v;
    *name = json_string_value(json_object_get(c, "name"));
    *text = json_string_value(json_object_get(c, "text"));
    *text_len = json_string_length(json_object_get(c, "text"));
    if (!json_is_object(c))
        *why = "expected a JSON object";
    else if (!*text)
        *why = "missing \"text\" (a string)";
    else if (!json_is_array(ids))
        *why = "missing \"ids\" (an array)";
    else {
        *n_want = json_array_size(ids);
        *want = malloc((*n_want ? *n_want : 1) * sizeof **want);
        if (!*want) {
            *why = "out of memory";
            return -1;
        }
        size_t i;
        json_array_foreach(ids, i, v)
        {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > INT32_MAX) {
                *why = "\"ids\" must hold non-negative integers";
                free(*want);
                *want = NULL;
                return -1;
            }
            (*want)[i] = (int32_t)json_integer_value(v);
        }
        return 0;
    }
    return -1;
}

/* Run one case both ways. 1 when it passed, printing why when not. */
static int check_case(const fktok *t, const char *label, const char *text, size_t text_len,
                      const int32_t *want, size_t n_want)
{
    int pass = 1;
    fktok_ids got = {0};
    if (fktok_encode(t, text, text_len, 1, &got)) {
        printf("FAIL %s: encode: out of memory\n", label);
        pass = 0;
    } else if (got.n != n_want || (n_want && memcmp(got.ids, want, n_want * sizeof *want) != 0)) {
        size_t k = 0;
        while (k < got.n && k < n_want && got.ids[k] == want[k]) k++;
        printf("FAIL %s: encode differs at token %zu: got [", label, k);
        print_ids(stdout, got.ids, got.n);
        printf("], want [");
        print_ids(stdout, want, n_want);
        printf("]\n");
        pass = 0;
    }
    free(got.ids);
    char *back = NULL;
    size_t back_len = 0;
    if (fktok_decode(t, want, n_want, &back, &back_len)) {
        printf("FAIL %s: decode: out of memory\n", label);
        pass = 0;
    } else if (back_len != text_len || memcmp(back, text, text_len) != 0) {
        size_t k = 0;
        while (k < back_len && k < text_len && back[k] == text[k]) k++;
        printf("FAIL %s: decode differs at byte %zu (got %zu bytes, want %zu)\n", label, k,
               back_len, text_len);
        pass = 0;
    }
    free(back);
    return pass;
}

/* --check: 0 when every case passed, 1 otherwise. */
static int check_file(const fktok *t, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    size_t passed = 0, failed = 0, lineno = 0, cap = 0;
    char *line = NULL;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t len = (size_t)n;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        if (len == 0) continue;
        json_error_t je;
        json_t *c = json_loadb(line, len, JSON_ALLOW_NUL, &je);
        const char *name = NULL, *text = NULL, *why = NULL;
        size_t text_len = 0, n_want = 0;
        int32_t *want = NULL;
        char label[512];
        if (!c) {
            printf("FAIL %s:%zu: bad JSON: %s\n", path, lineno, je.text);
            failed++;
            continue;
        }
        if (parse_case(c, &name, &text, &text_len, &want, &n_want, &why)) {
            printf("FAIL %s:%zu: %s\n", path, lineno, why);
            failed++;
        } else {
            snprintf(label, sizeof label, "%s:%zu %s", path, lineno, name ? name : "(unnamed)");
            if (check_case(t, label, text, text_len, want, n_want))
                passed++;
            else
                failed++;
        }
        free(want);
        json_decref(c);
    }
    free(line);
    if (ferror(f)) {
        printf("FAIL %s: read error\n", path);
        failed++;
    }
    fclose(f);
    printf("%zu passed, %zu failed\n", passed, failed);
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *tok_path = NULL, *check = NULL;
    int special = 0, first_text = argc;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--tokenizer") == 0 && i + 1 < argc) {
            tok_path = argv[++i];
        } else if (strcmp(argv[i], "--check") == 0 && i + 1 < argc) {
            check = argv[++i];
        } else if (strcmp(argv[i], "--special") == 0) {
            special = 1;
        } else if (strcmp(argv[i], "--") == 0) {
            first_text = i + 1;
            break;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "fk-tokenize: unknown or incomplete option %s\n", argv[i]);
            usage(stderr);
            return 2;
        } else {
            first_text = i;
            break;
        }
    }
    if (check && first_text < argc) {
        fprintf(stderr, "fk-tokenize: --check takes no TEXT\n");
        return 2;
    }
    char err[512];
    fktok *t =
        tok_path ? fktok_load(tok_path, err, sizeof err) : fktok_load_default(err, sizeof err);
    if (!t) {
        fprintf(stderr, "fk-tokenize: %s\n", err);
        return 2;
    }
    int rc;
    if (check) {
        rc = check_file(t, check);
    } else if (first_text < argc) {
        size_t len = 0;
        for (int i = first_text; i < argc; i++) len += strlen(argv[i]) + 1;
        char *text = malloc(len);
        size_t at = 0;
        for (int i = first_text; text && i < argc; i++) {
            size_t n = strlen(argv[i]);
            memcpy(text + at, argv[i], n);
            at += n;
            if (i + 1 < argc) text[at++] = ' ';
        }
        rc = text ? tokenize(t, text, at, special) : 1;
        free(text);
    } else {
        size_t len = 0;
        char *text = read_all(stdin, &len);
        if (!text) fprintf(stderr, "fk-tokenize: cannot read stdin\n");
        rc = text ? tokenize(t, text, len, special) : 1;
        free(text);
    }
    fktok_free(t);
    return rc;
}
