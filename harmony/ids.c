/* ids.c: random ids for output objects (see ids.h). */
#include "harmony/ids.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ID_SUFFIX_LEN 24

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void hm_ids_seed(hm_ids *g, const void *self)
{
    static atomic_uint_fast64_t counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t s = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    s ^= (uint64_t)(uintptr_t)self * 0x9E3779B97F4A7C15ull;
    s ^= (uint64_t)atomic_fetch_add(&counter, 1) << 40;
    g->state = splitmix64(&s);
}

char *hm_ids_new(hm_ids *g, const char *prefix)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    size_t plen = strlen(prefix);
    char *id = malloc(plen + ID_SUFFIX_LEN + 1);
    if (!id) return NULL;
    memcpy(id, prefix, plen);
    for (size_t i = 0; i < ID_SUFFIX_LEN; i++)
        id[plen + i] = alphabet[splitmix64(&g->state) % (sizeof alphabet - 1)];
    id[plen + ID_SUFFIX_LEN] = '\0';
    return id;
}
