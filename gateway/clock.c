/* clock.c: the monotonic clock used for latencies and intervals. */
#include <time.h>

#include "gateway.h"

double fk_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
