/* route_pick.c: the router's choice of experts (see the header). */
#include "drivers/cuda/backends/host/route_pick.h"

/* The c-th pick is the best not yet taken, lower index on ties: O(k^2 E),
 * and k is a handful. */
void fk_host_route_pick(int32_t *ix, const float *lg, int E, int k)
{
    for (int c = 0; c < k; c++) {
        int best = -1;
        for (int e = 0; e < E; e++) {
            int taken = 0;
            for (int d = 0; d < c; d++) taken |= ix[d] == e;
            if (!taken && (best < 0 || lg[e] > lg[best])) best = e;
        }
        ix[c] = best;
    }
}
