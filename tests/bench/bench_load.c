/* bench_load.c: time fk_checkpoint_open and fk_checkpoint_prefault on DIR and
 * print memory after each (VmHWM, RssAnon, RssFile from /proc/self/status).
 * The loader maps shards read-only and copies nothing, so after open the
 * resident set is tiny, and after prefault the growth is file-backed pages
 * (RssFile), not anonymous memory (RssAnon).
 *
 *   bench_load DIR */
#include "drivers/cuda/checkpoint/checkpoint.h"
#include "tests/bench/bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A "Key:   123 kB" line of /proc/self/status, in MiB (-1 when absent). */
static double status_mib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':') v = strtod(line + n + 1, NULL) / 1024.0;
    if (f) fclose(f);
    return v;
}

static void report(const char *when)
{
    printf("%-16s VmHWM %9.1f MiB  VmRSS %9.1f MiB  RssAnon %7.1f MiB  RssFile %9.1f MiB\n", when,
           status_mib("VmHWM"), status_mib("VmRSS"), status_mib("RssAnon"), status_mib("RssFile"));
}

static void progress(void *ud, uint64_t done, uint64_t total)
{
    int *last = ud;
    int pct = total ? (int)(done * 100 / total) : 100;
    if (pct / 25 != *last / 25) fprintf(stderr, "prefault %d%%\n", pct);
    *last = pct;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_load DIR\n");
        return 2;
    }
    static char err[65536];
    report("start");
    double t0 = bench_now_s();
    fk_checkpoint *ck = fk_checkpoint_open(argv[1], err, sizeof err);
    double t1 = bench_now_s();
    if (!ck) {
        fprintf(stderr, "bench_load: %s\n", err);
        return 1;
    }
    uint64_t bytes = fk_checkpoint_bytes(ck);
    printf("open:     %.3f s  %zu tensors  %.3f GB mapped\n", t1 - t0, fk_checkpoint_count(ck),
           (double)bytes / 1e9);
    report("after open");
    int last = -1;
    double t2 = bench_now_s();
    fk_checkpoint_prefault(ck, progress, &last);
    double t3 = bench_now_s();
    printf("prefault: %.3f s  %.2f GB/s\n", t3 - t2, (double)bytes / 1e9 / (t3 - t2));
    report("after prefault");
    fk_checkpoint_close(ck);
    return 0;
}
