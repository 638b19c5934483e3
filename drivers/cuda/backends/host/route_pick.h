/* route_pick.h: the router's choice of experts (backend.h's route op), for
 * the backends on the host (cpu, ref): the selection rule written once, each
 * backend keeping its own softmax over the chosen logits. */
#ifndef FK_ROUTE_PICK_H
#define FK_ROUTE_PICK_H

#include <stdint.h>

/* ix[c] for c < k: the c-th largest of lg [E], ties to the lower index.
 * Needs 0 < k <= E. ix [k]. */
void fk_host_route_pick(int32_t *ix, const float *lg, int E, int k);

#endif
