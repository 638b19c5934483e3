/* ids.h: random ids for output objects (tool call ids "call_...", Responses
 * item ids "msg_...", ...): a prefix and 24 letters and digits. One generator
 * per output object, seeded differently for every object (time, address, a
 * process-wide counter). Not for secrets. Internal to libfkharmony. */
#ifndef FK_HARMONY_IDS_H
#define FK_HARMONY_IDS_H

#include <stdint.h>

typedef struct hm_ids {
    uint64_t state; /* splitmix64 state */
} hm_ids;

/* Seed `g`; `self` (the owning object's address) makes seeds differ. */
void hm_ids_seed(hm_ids *g, const void *self);
/* `prefix` + 24 random characters (malloc'd), or NULL on OOM. */
char *hm_ids_new(hm_ids *g, const char *prefix);

#endif
