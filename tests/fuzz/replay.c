/* replay.c: a fuzz target without libFuzzer, for `make check`.
 *
 * Linked with one tests/fuzz/fuzz_NAME.c (built with the normal compiler and
 * flags), it feeds LLVMFuzzerTestOneInput every file of the target's seed
 * corpus, $FK_TOP_SRCDIR/tests/fuzz/corpus/NAME (NAME from FK_FUZZ_NAME),
 * and then FK_REPLAY_MUTANTS deterministic mutants of each seed (default 64:
 * bytes flipped, inserted, deleted, a span duplicated; the same every run).
 * First the empty input runs in this process, as libFuzzer runs it first,
 * so that a target's one-time set-up (a tokenizer) is done once; then each
 * input runs in a child process so that a target's abort() or a sanitizer
 * report fails that input alone; the TAP line names the seed and the mutant. A failing input is
 * written to ./replay-NAME-failed-K.bin (in the build tree) for `fuzz_NAME FILE` or a debugger.
 *
 *   tests/fuzz/replay_NAME [FILE...]    the given files instead of the corpus */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/tap.h"

#ifndef FK_FUZZ_NAME
#error "build with -DFK_FUZZ_NAME='\"name\"'"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A whole file into a malloc'd buffer (one spare byte); NULL when unreadable. */
static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    uint8_t *b = malloc(cap);
    size_t got;
    while (b && (got = fread(b + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *nb = realloc(b, cap *= 2);
            if (!nb) free(b);
            b = nb;
        }
    }
    fclose(f);
    *len = n;
    return b;
}

/* splitmix64: the mutants' deterministic randomness. */
static uint64_t next(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Mutant `k` of seed[0..n) into out (room for 2n + 16 bytes); its length. */
static size_t mutate(const uint8_t *seed, size_t n, uint64_t k, uint8_t *out)
{
    uint64_t x = k * 0x2545f4914f6cdd1dull + n;
    memcpy(out, seed, n);
    size_t len = n;
    int edits = 1 + (int)(next(&x) % 4);
    for (int e = 0; e < edits; e++) {
        size_t at = len ? (size_t)(next(&x) % len) : 0;
        switch (next(&x) % 5) {
        case 0: /* flip one bit */
            if (len) out[at] ^= (uint8_t)(1u << (next(&x) % 8));
            break;
        case 1: /* an interesting byte */
            if (len)
                out[at] =
                    (const uint8_t[]){0,    0x01, 0x02, '"',  '\\', '\n', 0x7f, 0x80,
                                      0xc3, 0xe2, 0xf0, 0xff, '<',  '|',  '=',  '#'}[next(&x) % 16];
            break;
        case 2: /* insert a byte */
            if (len < n + 8) {
                memmove(out + at + 1, out + at, len - at);
                out[at] = (uint8_t)next(&x);
                len++;
            }
            break;
        case 3: /* delete a span */
            if (len) {
                size_t span = 1 + (size_t)(next(&x) % (len - at < 8 ? len - at : 8));
                memmove(out + at, out + at + span, len - at - span);
                len -= span;
            }
            break;
        default: /* duplicate a span (at most n bytes in all) */
            if (len && len - at <= n) {
                size_t span = 1 + (size_t)(next(&x) % (len - at));
                if (len + span <= 2 * n + 8) {
                    memmove(out + at + span, out + at, len - at);
                    len += span;
                }
            }
        }
    }
    return len;
}

/* Runs the target on data in a child; 1 when it returned normally. */
static int survives(const uint8_t *data, size_t len, char *why, size_t why_len)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, why_len, "fork failed");
        return 0;
    }
    if (pid == 0) {
        /* libFuzzer hands the target a buffer of exactly `len` bytes */
        uint8_t *copy = malloc(len ? len : 1);
        if (len) memcpy(copy, data, len);
        LLVMFuzzerTestOneInput(copy, len);
        free(copy);
        exit(0); /* not _exit: under ASan the leak check runs at exit */
    }
    int st;
    if (waitpid(pid, &st, 0) != pid) {
        snprintf(why, why_len, "waitpid failed");
        return 0;
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 1;
    if (WIFSIGNALED(st))
        snprintf(why, why_len, "killed by signal %d", WTERMSIG(st));
    else
        snprintf(why, why_len, "exit status %d", WEXITSTATUS(st));
    return 0;
}

static int n_failed; /* inputs written out so far */

static void run_one(const char *label, const uint8_t *data, size_t len)
{
    char why[64] = "";
    if (ok(survives(data, len, why, sizeof why), "%s (%zu bytes)", label, len)) return;
    char path[128];
    snprintf(path, sizeof path, "replay-%s-failed-%d.bin", FK_FUZZ_NAME, ++n_failed);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, len, f);
        fclose(f);
    }
    diag("  %s; the input is in %s", why, path);
}

/* The seed and its mutants. */
static void run_seed(const char *path, const char *label, int mutants)
{
    size_t len = 0;
    uint8_t *seed = read_all(path, &len);
    require(seed != NULL, "%s is readable", path);
    run_one(label, seed, len);
    uint8_t *buf = malloc(2 * len + 16);
    require(buf != NULL, "memory for the mutants of %s", label);
    int alive = 1;
    for (int k = 0; k < mutants; k++) {
        size_t n = mutate(seed, len, (uint64_t)k, buf);
        char why[64] = "";
        if (survives(buf, n, why, sizeof why)) continue;
        char name[600];
        snprintf(name, sizeof name, "%s, mutant %d", label, k);
        run_one(name, buf, n);
        alive = 0;
    }
    if (mutants && alive) ok(1, "%s: %d mutants", label, mutants);
    free(buf);
    free(seed);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    const char *m = getenv("FK_REPLAY_MUTANTS");
    int mutants = m ? atoi(m) : 64;
    LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
    if (argc > 1) {
        for (int i = 1; i < argc; i++) run_seed(argv[i], argv[i], mutants);
        return done_testing();
    }
    const char *top = getenv("FK_TOP_SRCDIR");
    require(top != NULL, "FK_TOP_SRCDIR is set (run through make check)");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", top, FK_FUZZ_NAME);
    DIR *d = opendir(dir);
    require(d != NULL, "the seed corpus %s exists", dir);
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        names = realloc(names, (n + 1) * sizeof *names);
        require(names != NULL, "memory for the corpus list");
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    require(n > 0, "the seed corpus %s is not empty", dir);
    qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        run_seed(path, names[i], mutants);
        free(names[i]);
    }
    free(names);
    return done_testing();
}
