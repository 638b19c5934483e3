/* replicas.c: a core with several llama-servers (FK_CORE_API_BASE=URL,URL...):
 * which one serves a request.
 *
 * Least busy: among the ready replicas not yet tried for this request, the
 * one with the fewest requests in flight: this core's own count, plus what
 * llama-server's /slots last showed other clients running there, relative to
 * its slot count when /slots tells it. Ties go round-robin.
 *
 * Sticky: a conversation's next prompt starts with its previous prompt, which
 * the replica that served it holds in its prompt cache. Every prompt is
 * remembered by a hash of its units (token ids; one hash per chat message in
 * pass-through mode) in a fixed table (STICKY_SLOTS, oldest replaced); a new
 * prompt looks up the hash of each of its prefixes, longest first, and goes
 * to the replica that served the longest one it finds, while that replica is
 * ready and has a free slot or runs at most STICKY_SLACK requests more than
 * the least busy one. Only whole earlier prompts are remembered, so a system
 * prompt that many conversations share does not pull them all onto one
 * replica.
 *
 * A replica's failures and retries are counted on it; driver.c decides when a
 * request is retried. */
#include "proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- configuration ------------------------------------------------------------------ */

int replicas_init(fk_core *core, char *err, size_t err_len)
{
    const char *list = core->cfg.api_base;
    int n = 1;
    for (const char *p = list; *p; p++) n += *p == ',';
    if (n > REPLICAS_MAX) {
        snprintf(err, err_len, "FK_CORE_API_BASE lists %d upstreams; at most %d", n, REPLICAS_MAX);
        return -1;
    }
    core->replicas = calloc((size_t)n, sizeof *core->replicas);
    core->sticky = calloc(STICKY_SLOTS, sizeof *core->sticky);
    if (!core->replicas || !core->sticky) return snprintf(err, err_len, "out of memory"), -1;
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        replica *r = &core->replicas[core->n_replicas];
        *r = (replica){.core = core,
                       .index = core->n_replicas,
                       .health = FK_HEALTH_LOADING,
                       .slots_total = -1};
        snprintf(r->health_detail, sizeof r->health_detail, "waiting for the first /health");
        if (!(r->base = strndup(p, len))) return snprintf(err, err_len, "out of memory"), -1;
        core->n_replicas++;
        for (int i = 0; i < r->index; i++)
            if (strcmp(core->replicas[i].base, r->base) == 0)
                return snprintf(err, err_len, "FK_CORE_API_BASE lists %s twice", r->base), -1;
        if (!comma) break;
        p = comma + 1;
    }
    core->health = FK_HEALTH_LOADING;
    snprintf(core->health_detail, sizeof core->health_detail, "waiting for the first /health");
    return 0;
}

void replicas_free(fk_core *core)
{
    for (int i = 0; core->replicas && i < core->n_replicas; i++) {
        health_stop(&core->replicas[i]);
        free(core->replicas[i].base);
        free(core->replicas[i].model);
    }
    free(core->replicas);
    free(core->sticky);
    core->replicas = NULL;
    core->sticky = NULL;
    core->n_replicas = 0;
}

/* ---- health --------------------------------------------------------------------------- */

/* How hopeful a verdict is: READY, then LOADING (the host waits), then the rest. */
static int rank(fk_health h)
{
    return h == FK_HEALTH_READY         ? 0
           : h == FK_HEALTH_LOADING     ? 1
           : h == FK_HEALTH_UNAVAILABLE ? 2
                                        : 3;
}

void replicas_update_health(fk_core *core)
{
    fk_health best = FK_HEALTH_ERROR;
    for (int i = 0; i < core->n_replicas; i++)
        if (rank(core->replicas[i].health) < rank(best)) best = core->replicas[i].health;
    core->health = best;
    if (best == FK_HEALTH_READY) {
        core->health_detail[0] = '\0';
        return;
    }
    if (core->n_replicas == 1) {
        snprintf(core->health_detail, sizeof core->health_detail, "%s",
                 core->replicas[0].health_detail);
        return;
    }
    size_t o =
        (size_t)snprintf(core->health_detail, sizeof core->health_detail, "no replica is ready");
    for (int i = 0; i < core->n_replicas && o < sizeof core->health_detail; i++)
        o += (size_t)snprintf(core->health_detail + o, sizeof core->health_detail - o, "; %s: %s",
                              core->replicas[i].base, core->replicas[i].health_detail);
}

int replicas_n_ctx(const fk_core *core)
{
    int n = 0;
    for (int i = 0; i < core->n_replicas; i++) {
        int c = core->replicas[i].n_ctx;
        if (c > 0 && (n == 0 || c < n)) n = c;
    }
    return n;
}

const char *replicas_model(const fk_core *core)
{
    for (int i = 0; i < core->n_replicas; i++)
        if (core->replicas[i].model) return core->replicas[i].model;
    return NULL;
}

/* ---- the prefix table ------------------------------------------------------------------- */

/* splitmix64's finaliser: every bit of x reaches every bit of the result. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The hash of a prefix that ends with `unit`, from the hash of the one before. */
static uint64_t extend(uint64_t h, uint64_t unit)
{
    uint64_t x = mix(h + unit * 0x9e3779b97f4a7c15ull + 1);
    return x ? x : 1; /* 0 marks an empty slot */
}

static sticky_entry *slot_of(const fk_core *core, uint64_t h, int k)
{
    return &core->sticky[(h + (uint64_t)k) % STICKY_SLOTS];
}

static int lookup(const fk_core *core, uint64_t h)
{
    for (int k = 0; k < STICKY_PROBES; k++) {
        const sticky_entry *e = slot_of(core, h, k);
        if (e->hash == h) return e->replica;
    }
    return -1;
}

static void remember(fk_core *core, uint64_t h, int replica_index)
{
    sticky_entry *victim = NULL;
    for (int k = 0; k < STICKY_PROBES; k++) {
        sticky_entry *e = slot_of(core, h, k);
        if (e->hash == h || e->hash == 0) {
            victim = e;
            break;
        }
        if (!victim || e->used < victim->used) victim = e;
    }
    *victim = (sticky_entry){h, replica_index, ++core->sticky_clock};
}

void replicas_prefix(fk_gen *g, const uint64_t *units, size_t n)
{
    g->sticky = -1;
    g->prompt_hash = 0;
    if (n == 0) return;
    uint64_t *h = malloc(n * sizeof *h);
    if (!h) return; /* no stickiness for this one request */
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) h[i] = x = extend(x, units[i]);
    g->prompt_hash = x;
    for (size_t i = n; i-- > 0 && g->sticky < 0;) g->sticky = lookup(g->core, h[i]);
    free(h);
}

/* ---- the choice ------------------------------------------------------------------------------ */

/* Requests running on r: ours, plus what /slots last showed others running. */
static int busy(const replica *r)
{
    int others = r->slots_total >= 0 ? r->slots_busy - r->in_flight_at_slots : 0;
    return r->in_flight + (others > 0 ? others : 0);
}

/* 1 when a is less busy than b: relative to their slot counts when both are known. */
static int less_busy(const replica *a, const replica *b)
{
    if (a->slots_total > 0 && b->slots_total > 0)
        return (long)busy(a) * b->slots_total < (long)busy(b) * a->slots_total;
    return busy(a) < busy(b);
}

static int usable(const fk_gen *g, const replica *r)
{
    return r->health == FK_HEALTH_READY && !(g->tried & (1ull << r->index));
}

replica *replicas_choose(fk_gen *g)
{
    fk_core *core = g->core;
    replica *least = NULL;
    for (int k = 0; k < core->n_replicas; k++) {
        replica *r = &core->replicas[(core->rr + k) % core->n_replicas];
        if (usable(g, r) && (!least || less_busy(r, least))) least = r;
    }
    if (!least) return NULL;
    core->rr = (least->index + 1) % core->n_replicas;
    replica *pick = least;
    if (g->sticky >= 0 && g->sticky < core->n_replicas) {
        replica *s = &core->replicas[g->sticky];
        int free_slot = s->slots_total > 0 && busy(s) < s->slots_total;
        if (usable(g, s) && (free_slot || busy(s) <= busy(least) + STICKY_SLACK)) {
            pick = s;
            s->sticky++;
        }
    }
    g->tried |= 1ull << pick->index;
    pick->in_flight++;
    pick->requests++;
    if (g->prompt_hash) remember(core, g->prompt_hash, pick->index);
    return pick;
}
