/* sampler.c: penalties, temperature, top_k, top_p and a seeded draw.
 * See sampler.h for the order of operations. */
#include "sampler.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* One slot of the generated-token count table (open addressing). */
typedef struct count_slot {
    int32_t id; /* token id, -1 when the slot is empty */
    int count;  /* times generated */
} count_slot;

struct fk_sampler {
    fk_sampler_params p; /* the request's parameters */
    int vocab;           /* V */
    uint64_t rng[4];     /* xoshiro256** state */
    count_slot *counts;  /* generated tokens -> count; n_slots entries */
    size_t n_slots;      /* power of two (0 before the first accept) */
    size_t n_used;       /* distinct tokens recorded */
    int32_t *ids;        /* workspace: candidate ids (V), allocated on first draw */
    float *probs;        /* workspace: candidate probabilities (V) */
};

/* ---- RNG: splitmix64 seeding, xoshiro256** ------------------------------------ */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t s[4])
{
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* A seed from the OS; the clock and an address when getrandom is unavailable. */
static uint64_t os_seed(const void *salt)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed) return seed;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)salt;
}

double fk_sampler_uniform(fk_sampler *s)
{
    return (double)(rng_next(s->rng) >> 11) * 0x1.0p-53;
}

/* ---- life cycle ------------------------------------------------------------------ */

fk_sampler *fk_sampler_new(const fk_sampler_params *p, int vocab)
{
    if (vocab < 1) return NULL;
    fk_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = *p;
    s->vocab = vocab;
    uint64_t x = p->has_seed ? p->seed : os_seed(s);
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
    return s;
}

void fk_sampler_free(fk_sampler *s)
{
    if (!s) return;
    free(s->counts);
    free(s->ids);
    free(s->probs);
    free(s);
}

/* ---- generated-token counts -------------------------------------------------------- */

static size_t slot_of(const count_slot *slots, size_t n_slots, int32_t id)
{
    size_t i = ((uint32_t)id * 2654435761u) & (n_slots - 1);
    while (slots[i].id != -1 && slots[i].id != id) i = (i + 1) & (n_slots - 1);
    return i;
}

static int grow_counts(fk_sampler *s)
{
    size_t n = s->n_slots ? s->n_slots * 2 : 64;
    count_slot *slots = malloc(n * sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < n; i++) slots[i] = (count_slot){-1, 0};
    for (size_t i = 0; i < s->n_slots; i++)
        if (s->counts[i].id != -1) slots[slot_of(slots, n, s->counts[i].id)] = s->counts[i];
    free(s->counts);
    s->counts = slots;
    s->n_slots = n;
    return 0;
}

int fk_sampler_accept(fk_sampler *s, int32_t token)
{
    if (token < 0) return 0;
    if ((s->n_used + 1) * 2 > s->n_slots && grow_counts(s) != 0) return -1;
    count_slot *c = &s->counts[slot_of(s->counts, s->n_slots, token)];
    if (c->id == -1) {
        c->id = token;
        s->n_used++;
    }
    c->count++;
    return 0;
}

int fk_sampler_count(const fk_sampler *s, int32_t token)
{
    if (!s->n_slots || token < 0) return 0;
    return s->counts[slot_of(s->counts, s->n_slots, token)].count;
}

void fk_sampler_apply_penalties(const fk_sampler *s, float *logits)
{
    if (s->p.presence_penalty == 0 && s->p.frequency_penalty == 0) return;
    for (size_t i = 0; i < s->n_slots; i++) {
        const count_slot *c = &s->counts[i];
        if (c->id == -1 || c->id >= s->vocab) continue;
        logits[c->id] -= (float)(c->count * s->p.frequency_penalty + s->p.presence_penalty);
    }
}

/* ---- candidate selection ------------------------------------------------------------- */

/* 1 when (la, a) ranks before (lb, b): higher value first, then the lower id. */
static int ranks_before(float la, int32_t a, float lb, int32_t b)
{
    return la > lb || (la == lb && a < b);
}

/* The lowest id of the largest logit. Two passes: the maximum over eight
 * independent lanes (vectorizes), then its first position. NaNs are never
 * the maximum; a row of NaNs gives id 0. */
static int32_t argmax(const float *logits, int vocab)
{
    float lane[8];
    for (int j = 0; j < 8; j++) lane[j] = -INFINITY;
    int i = 0;
    for (; i + 8 <= vocab; i += 8)
        for (int j = 0; j < 8; j++) lane[j] = logits[i + j] > lane[j] ? logits[i + j] : lane[j];
    float mx = -INFINITY;
    for (; i < vocab; i++) mx = logits[i] > mx ? logits[i] : mx;
    for (int j = 0; j < 8; j++) mx = lane[j] > mx ? lane[j] : mx;
    for (i = 0; i < vocab; i++)
        if (logits[i] == mx) return i;
    return 0;
}

/* Min-heap on rank (the worst candidate at the root) over ids, keyed by logits. */
static void heap_sift_down(int32_t *heap, int n, int i, const float *logits)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, worst = i;
        if (l < n && ranks_before(logits[heap[worst]], heap[worst], logits[heap[l]], heap[l]))
            worst = l;
        if (r < n && ranks_before(logits[heap[worst]], heap[worst], logits[heap[r]], heap[r]))
            worst = r;
        if (worst == i) return;
        int32_t t = heap[i];
        heap[i] = heap[worst];
        heap[worst] = t;
        i = worst;
    }
}

/* The k best ids by logit, best first, into ids. O(V log k). */
static void select_top_k(const float *logits, int vocab, int k, int32_t *ids)
{
    for (int i = 0; i < k; i++) ids[i] = i;
    for (int i = k / 2 - 1; i >= 0; i--) heap_sift_down(ids, k, i, logits);
    for (int32_t t = k; t < vocab; t++) {
        if (!ranks_before(logits[t], t, logits[ids[0]], ids[0])) continue;
        ids[0] = t;
        heap_sift_down(ids, k, 0, logits);
    }
    /* heap sort in place: repeatedly move the worst to the end */
    for (int n = k - 1; n > 0; n--) {
        int32_t t = ids[0];
        ids[0] = ids[n];
        ids[n] = t;
        heap_sift_down(ids, n, 0, logits);
    }
}

/* qsort context for sorting candidate ids by key (no qsort_r in C11); per
 * thread, so two schedulers' workers never share it. */
static _Thread_local const float *sort_key;

static int by_rank(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (ranks_before(sort_key[x], x, sort_key[y], y)) return -1;
    if (ranks_before(sort_key[y], y, sort_key[x], x)) return 1;
    return 0;
}

/* Sort ids[0..n) best first by key[id]. */
static void sort_ids(int32_t *ids, int n, const float *key)
{
    sort_key = key;
    qsort(ids, (size_t)n, sizeof *ids, by_rank);
}

/* Softmax of logits over ids[0..n) into probs (aligned with ids).
 * Max-subtracted, accumulated in double. */
static void softmax_over(const float *logits, const int32_t *ids, int n, float *probs)
{
    float mx = -FLT_MAX;
    for (int i = 0; i < n; i++)
        if (logits[ids[i]] > mx) mx = logits[ids[i]];
    double z = 0;
    for (int i = 0; i < n; i++) {
        float e = expf(logits[ids[i]] - mx);
        probs[i] = e;
        z += e;
    }
    for (int i = 0; i < n; i++) probs[i] = (float)(probs[i] / z);
}

/* Softmax of a whole row (// (n,)) into probs, max-subtracted; the
 * contiguous form of softmax_over, which the compiler can vectorize. */
static void softmax_row(const float *logits, int n, float *probs)
{
    float lane[8];
    for (int j = 0; j < 8; j++) lane[j] = -FLT_MAX;
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) lane[j] = logits[i + j] > lane[j] ? logits[i + j] : lane[j];
    float mx = -FLT_MAX;
    for (; i < n; i++) mx = logits[i] > mx ? logits[i] : mx;
    for (int j = 0; j < 8; j++) mx = lane[j] > mx ? lane[j] : mx;
    double z = 0;
    for (i = 0; i < n; i++) {
        probs[i] = expf(logits[i] - mx);
        z += probs[i];
    }
    float inv = (float)(1.0 / z);
    for (i = 0; i < n; i++) probs[i] *= inv;
}

/* Keep the smallest best-first prefix whose mass reaches top_p; renormalise. */
static int cut_top_p(float *probs, int n, double top_p)
{
    double cum = 0;
    int keep = n;
    for (int i = 0; i < n; i++) {
        cum += probs[i];
        if (cum >= top_p) {
            keep = i + 1;
            break;
        }
    }
    double z = 0;
    for (int i = 0; i < keep; i++) z += probs[i];
    for (int i = 0; i < keep; i++) probs[i] = (float)(probs[i] / z);
    return keep;
}

/* 1 when id a ranks before id b by p (higher first, then the lower id). */
static int before_by(const float *p, int32_t a, int32_t b)
{
    return ranks_before(p[a], a, p[b], b);
}

/* Reorder ids[0..n) so that ids[0..c) are the best-ranked ids by p whose
 * mass first reaches `need` (in no particular order); returns c. A weighted
 * quickselect: expected O(n), no sort. Ranks are unique (ties go to the
 * lower id), so the partition is well defined. */
static int nucleus_select(int32_t *ids, int n, const float *p, double need)
{
    if (need <= 0) { /* the best one alone */
        int best = 0;
        for (int i = 1; i < n; i++)
            if (before_by(p, ids[i], ids[best])) best = i;
        int32_t t = ids[0];
        ids[0] = ids[best];
        ids[best] = t;
        return 1;
    }
    int lo = 0, hi = n;
    while (hi - lo > 32) {
        /* median of three as the pivot, moved to ids[hi - 1] */
        int mid = lo + (hi - lo) / 2;
        int32_t a = ids[lo], b = ids[mid], c = ids[hi - 1];
        int pm = before_by(p, a, b)
                     ? (before_by(p, b, c) ? mid : (before_by(p, a, c) ? hi - 1 : lo))
                     : (before_by(p, a, c) ? lo : (before_by(p, b, c) ? hi - 1 : mid));
        int32_t pivot = ids[pm];
        ids[pm] = ids[hi - 1];
        ids[hi - 1] = pivot;
        int store = lo;
        double mass = 0;
        for (int i = lo; i < hi - 1; i++) {
            if (!before_by(p, ids[i], pivot)) continue;
            mass += p[ids[i]];
            int32_t t = ids[i];
            ids[i] = ids[store];
            ids[store++] = t;
        }
        ids[hi - 1] = ids[store];
        ids[store] = pivot; /* better ones in [lo, store), the pivot at store */
        if (mass >= need) {
            hi = store;
            continue;
        }
        need -= mass + p[pivot];
        if (need <= 0) return store + 1;
        lo = store + 1;
    }
    sort_ids(ids + lo, hi - lo, p);
    for (int i = lo; i < hi; i++) {
        need -= p[ids[i]];
        if (need <= 0) return i + 1;
    }
    return hi;
}

static int ensure_workspace(fk_sampler *s)
{
    if (s->ids) return 0;
    s->ids = malloc((size_t)s->vocab * sizeof *s->ids);
    s->probs = malloc((size_t)s->vocab * sizeof *s->probs);
    return s->ids && s->probs ? 0 : -1;
}

/* Fill s->ids/s->probs with the candidates; `sorted`: best first even when no
 * filter needs it. Returns the count, or -1 on OOM. logits: (V,), scaled in place. */
static int build_candidates(fk_sampler *s, float *logits, int sorted)
{
    if (ensure_workspace(s) != 0) return -1;
    int V = s->vocab;
    float inv_t = (float)(1.0 / (s->p.temperature > 0 ? s->p.temperature : 1.0));
    for (int i = 0; i < V; i++) logits[i] *= inv_t;
    int use_p = s->p.top_p < 1;
    if (s->p.top_k > 0 && s->p.top_k < V) {
        int n = s->p.top_k;
        select_top_k(logits, V, n, s->ids);
        softmax_over(logits, s->ids, n, s->probs);
        if (use_p) n = cut_top_p(s->probs, n, s->p.top_p);
        return n;
    }
    /* No top_k: the softmax over all of V, then the nucleus without sorting V. */
    for (int i = 0; i < V; i++) s->ids[i] = i;
    softmax_row(logits, V, s->probs);
    if (!use_p && !sorted) return V;
    float *p_by_id = logits; /* the row becomes scratch: probability by id */
    memcpy(p_by_id, s->probs, (size_t)V * sizeof *p_by_id);
    int n = use_p ? nucleus_select(s->ids, V, p_by_id, s->p.top_p) : V;
    if (sorted) sort_ids(s->ids, n, p_by_id);
    double z = 0;
    for (int i = 0; i < n; i++) z += p_by_id[s->ids[i]];
    for (int i = 0; i < n; i++) s->probs[i] = (float)(p_by_id[s->ids[i]] / z);
    return n;
}

int fk_sampler_candidates(fk_sampler *s, float *logits, int32_t *ids, float *probs)
{
    int n = build_candidates(s, logits, 1);
    if (n < 0) return -1;
    memcpy(ids, s->ids, (size_t)n * sizeof *ids);
    memcpy(probs, s->probs, (size_t)n * sizeof *probs);
    return n;
}

int fk_sampler_is_greedy(const fk_sampler *s)
{
    return (s->p.temperature <= 0 || s->p.top_p <= 0) && s->p.presence_penalty == 0 &&
           s->p.frequency_penalty == 0;
}

int32_t fk_sampler_sample(fk_sampler *s, float *logits)
{
    fk_sampler_apply_penalties(s, logits);
    if (s->p.temperature <= 0 || s->p.top_p <= 0) return argmax(logits, s->vocab);
    int n = build_candidates(s, logits, 0);
    if (n <= 0) return argmax(logits, s->vocab);
    double u = fk_sampler_uniform(s), cum = 0;
    for (int i = 0; i < n; i++) {
        cum += s->probs[i];
        if (u < cum) return s->ids[i];
    }
    return s->ids[n - 1]; /* rounding left u above the last sum */
}
