/* bench_util.h: what the C benchmarks share: their clock, and the rule for
 * --help and unknown options (usage on stdout and exit 0; usage on stderr
 * and exit 2). Header-only: each benchmark is one .c file, and a header
 * needs no library to link. */
#ifndef FK_BENCH_UTIL_H
#define FK_BENCH_UTIL_H

#include <stdio.h>
#include <time.h>

/* Seconds on clock id: CLOCK_MONOTONIC for the wall clock, or
 * CLOCK_THREAD_CPUTIME_ID for the calling thread's CPU time. */
static inline double bench_clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Wall-clock seconds (monotonic). */
static inline double bench_now_s(void)
{
    return bench_clock_s(CLOCK_MONOTONIC);
}

/* The end of a getopt switch, for c that no case took: 'h' (--help) prints
 * usage on stdout and gives exit status 0; anything else (an unknown option
 * or a missing argument) prints it on stderr and gives 2. */
static inline int bench_usage_exit(int c, void (*usage)(FILE *))
{
    usage(c == 'h' ? stdout : stderr);
    return c == 'h' ? 0 : 2;
}

#endif
