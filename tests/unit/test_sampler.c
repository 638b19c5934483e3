/* test_sampler: greedy, temperature, top_k/top_p cut sets, penalties and
 * seeded reproducibility of the per-request sampler. */
#include "drivers/cuda/serve/sampler.h"
#include "tests/tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static fk_sampler_params params(double temperature, double top_p, int top_k, uint64_t seed)
{
    return (fk_sampler_params){
        .temperature = temperature, .top_p = top_p, .top_k = top_k, .has_seed = 1, .seed = seed};
}

static void test_greedy(void)
{
    fk_sampler_params p = params(0, 1, 0, 1);
    fk_sampler *s = fk_sampler_new(&p, 6);
    float logits[6] = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f, 0.0f};
    is_int(fk_sampler_sample(s, logits), 1, "greedy: argmax, tie goes to the lowest id");
    float neg[6] = {-5, -4, -3, -9, -3, -8};
    is_int(fk_sampler_sample(s, neg), 2, "greedy: all-negative logits");
    ok(fk_sampler_is_greedy(s), "temperature 0: the argmax of the raw logits may stand in");
    fk_sampler_free(s);
    p.presence_penalty = 0.5;
    s = fk_sampler_new(&p, 6);
    ok(!fk_sampler_is_greedy(s), "greedy with a penalty: the logits are needed");
    fk_sampler_free(s);
    p = params(0.7, 1, 0, 1);
    s = fk_sampler_new(&p, 6);
    ok(!fk_sampler_is_greedy(s), "temperature 0.7: sampled");
    fk_sampler_free(s);
    p.top_p = 0;
    s = fk_sampler_new(&p, 6);
    ok(fk_sampler_is_greedy(s), "top_p 0: the best token only, greedy");
    fk_sampler_free(s);
}

/* Draw `n` tokens from fixed logits; counts[id] += 1. */
static void draw_many(fk_sampler *s, const float *logits, int vocab, int n, int *counts)
{
    float *row = malloc((size_t)vocab * sizeof *row);
    for (int i = 0; i < n; i++) {
        memcpy(row, logits, (size_t)vocab * sizeof *row);
        counts[fk_sampler_sample(s, row)]++;
    }
    free(row);
}

static void test_temperature(void)
{
    /* p = softmax(log(1,2,3,4)) = 0.1, 0.2, 0.3, 0.4 at T=1 and
     * (1,4,9,16)/30 at T=0.5. */
    float logits[4] = {0, logf(2), logf(3), logf(4)};
    const int n = 20000;
    double want1[4] = {0.1, 0.2, 0.3, 0.4};
    double want05[4] = {1 / 30.0, 4 / 30.0, 9 / 30.0, 16 / 30.0};
    double temps[2] = {1.0, 0.5};
    const double *wants[2] = {want1, want05};
    for (int t = 0; t < 2; t++) {
        fk_sampler_params p = params(temps[t], 1, 0, 1234 + (uint64_t)t);
        fk_sampler *s = fk_sampler_new(&p, 4);
        int counts[4] = {0};
        draw_many(s, logits, 4, n, counts);
        for (int i = 0; i < 4; i++) {
            double f = counts[i] / (double)n;
            /* 5 standard deviations of a binomial proportion */
            double tol = 5 * sqrt(wants[t][i] * (1 - wants[t][i]) / n);
            ok(fabs(f - wants[t][i]) < tol, "T=%.1f: token %d frequency %.4f ~ %.4f", temps[t], i,
               f, wants[t][i]);
        }
        fk_sampler_free(s);
    }

    /* Huge logits must not overflow (max-subtracted softmax). */
    fk_sampler_params p = params(1, 1, 0, 9);
    fk_sampler *s = fk_sampler_new(&p, 3);
    float big[3] = {1000.0f, 1000.0f + logf(3), -1000.0f};
    int counts[3] = {0};
    draw_many(s, big, 3, 4000, counts);
    ok(counts[2] == 0 && counts[1] > 2 * counts[0] && counts[0] > 0,
       "large logits: finite softmax, ratios kept (%d/%d/%d)", counts[0], counts[1], counts[2]);
    fk_sampler_free(s);
}

static void test_cut_sets(void)
{
    float base[4] = {0, logf(2), logf(3), logf(4)};
    float logits[4];
    int32_t ids[4];
    float probs[4];

    fk_sampler_params p = params(1, 1, 2, 1);
    fk_sampler *s = fk_sampler_new(&p, 4);
    memcpy(logits, base, sizeof logits);
    int n = fk_sampler_candidates(s, logits, ids, probs);
    is_int(n, 2, "top_k=2 keeps two");
    ok(n == 2 && ids[0] == 3 && ids[1] == 2, "top_k=2 keeps the two best, best first");
    ok(n == 2 && fabsf(probs[0] - 4 / 7.0f) < 1e-6f && fabsf(probs[1] - 3 / 7.0f) < 1e-6f,
       "top_k renormalises over the kept set");
    int counts[4] = {0};
    draw_many(s, base, 4, 2000, counts);
    ok(counts[0] == 0 && counts[1] == 0 && counts[2] > 0 && counts[3] > 0,
       "top_k: draws only from the kept set");
    fk_sampler_free(s);

    p = params(1, 0.6, 0, 1);
    s = fk_sampler_new(&p, 4);
    memcpy(logits, base, sizeof logits);
    n = fk_sampler_candidates(s, logits, ids, probs);
    ok(n == 2 && ids[0] == 3 && ids[1] == 2, "top_p=0.6 keeps 0.4+0.3 (the smallest set >= p)");
    fk_sampler_free(s);

    p = params(1, 0.35, 0, 1);
    s = fk_sampler_new(&p, 4);
    memcpy(logits, base, sizeof logits);
    n = fk_sampler_candidates(s, logits, ids, probs);
    ok(n == 1 && ids[0] == 3 && probs[0] == 1.0f, "top_p=0.35 keeps only the best");
    fk_sampler_free(s);

    p = params(1, 0, 0, 1);
    s = fk_sampler_new(&p, 4);
    memcpy(logits, base, sizeof logits);
    is_int(fk_sampler_sample(s, logits), 3, "top_p=0 is greedy");
    memcpy(logits, base, sizeof logits);
    n = fk_sampler_candidates(s, logits, ids, probs);
    ok(n == 1 && ids[0] == 3, "top_p=0 keeps the best token only");
    fk_sampler_free(s);

    p = params(1, 0.5, 3, 1);
    s = fk_sampler_new(&p, 4);
    memcpy(logits, base, sizeof logits);
    n = fk_sampler_candidates(s, logits, ids, probs);
    /* top_k=3 -> (2,3,4)/9; top_p=0.5 -> 4/9 + 3/9 */
    ok(n == 2 && ids[0] == 3 && ids[1] == 2, "top_k then top_p on the renormalised top_k set");
    fk_sampler_free(s);
}

/* Reference cut set by a full sort, for a realistic vocabulary. */
static const float *ref_key;
static int ref_cmp(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (ref_key[x] != ref_key[y]) return ref_key[x] > ref_key[y] ? -1 : 1;
    return x < y ? -1 : 1;
}

static void test_large_vocab(void)
{
    const int V = 201088;
    float *logits = malloc(V * sizeof *logits), *row = malloc(V * sizeof *row);
    int32_t *ids = malloc(V * sizeof *ids), *ref = malloc(V * sizeof *ref);
    float *probs = malloc(V * sizeof *probs);
    uint64_t x = 42;
    for (int i = 0; i < V; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        logits[i] = (float)((x >> 40) % 100000) / 8000.0f; /* 0..12.5, many ties */
    }
    for (int i = 0; i < V; i++) ref[i] = i;
    ref_key = logits;
    qsort(ref, V, sizeof *ref, ref_cmp);

    fk_sampler_params p = params(1, 1, 40, 3);
    fk_sampler *s = fk_sampler_new(&p, V);
    memcpy(row, logits, V * sizeof *row);
    int n = fk_sampler_candidates(s, row, ids, probs);
    ok(n == 40 && memcmp(ids, ref, 40 * sizeof *ids) == 0,
       "V=201088 top_k=40: the 40 best in order, as a full sort gives");
    fk_sampler_free(s);

    /* top_p near 0.9, reference: softmax in double over the sorted order; the
     * threshold is put halfway through the mass of the token that crosses
     * 0.9, far from float rounding, so the count is exact */
    double mx = logits[ref[0]], z = 0;
    for (int i = 0; i < V; i++) z += exp(logits[i] - mx);
    double cum = 0, last = 0;
    int want = 0;
    while (want < V && cum < 0.9) {
        last = exp(logits[ref[want]] - mx) / z;
        cum += last;
        want++;
    }
    double top_p = cum - last / 2;
    require(last > 1e-6, "the crossing token has mass (%g) far above float rounding", last);
    p = params(1, top_p, 0, 3);
    s = fk_sampler_new(&p, V);
    memcpy(row, logits, V * sizeof *row);
    n = fk_sampler_candidates(s, row, ids, probs);
    ok(n == want && memcmp(ids, ref, (size_t)want * sizeof *ids) == 0,
       "V=201088 top_p=%.9f: the nucleus of a full sort (%d vs %d tokens)", top_p, n, want);
    double mass = 0;
    for (int i = 0; i < n; i++) mass += probs[i];
    ok(fabs(mass - 1) < 1e-4, "top_p set renormalised (sum %.6f)", mass);
    fk_sampler_free(s);
    free(logits);
    free(row);
    free(ids);
    free(ref);
    free(probs);
}

/* Logits where `k` tokens (ids 7*j + 3) tie at 0 and the rest are -inf: each
 * kept token has probability exactly 1/k (k a power of two), so every
 * cumulative sum is exact and top_p can sit exactly on one. */
static float *tied_row(int V, int k)
{
    float *row = malloc((size_t)V * sizeof *row);
    require(row != NULL && 7 * (k - 1) + 3 < V, "room for %d tied tokens in V=%d", k, V);
    for (int i = 0; i < V; i++) row[i] = -INFINITY;
    for (int j = 0; j < k; j++) row[7 * j + 3] = 0;
    return row;
}

/* How many candidates the sampler keeps; ids and probs must hold V. */
static int keep_count(fk_sampler_params p, int V, const float *logits, int32_t *ids, float *probs)
{
    fk_sampler *s = fk_sampler_new(&p, V);
    require(s != NULL, "a sampler over V=%d", V);
    float *row = malloc((size_t)V * sizeof *row);
    require(row != NULL, "a row of V=%d", V);
    memcpy(row, logits, (size_t)V * sizeof *row);
    int n = fk_sampler_candidates(s, row, ids, probs);
    free(row);
    fk_sampler_free(s);
    return n;
}

/* top_p exactly at a cumulative sum keeps that prefix (the smallest set whose
 * mass reaches top_p); a hair less keeps the same, a hair more one token
 * more. With and without top_k, V above the quickselect's cut-off (32). */
static void test_top_p_boundaries(void)
{
    const int V = 1000, k = 64;
    float *row = tied_row(V, k);
    int32_t ids[1000];
    float probs[1000];
    const double eps = 0x1p-30;
    const int ms[] = {1, 2, 31, 32, 33, 40, 63};
    for (size_t i = 0; i < sizeof ms / sizeof *ms; i++) {
        int m = ms[i];
        double at = m / (double)k;
        is_int(keep_count(params(1, at, 0, 1), V, row, ids, probs), m, "top_p = %d/64 keeps %d", m,
               m);
        is_int(keep_count(params(1, at - eps, 0, 1), V, row, ids, probs), m,
               "top_p = %d/64 - 2^-30 keeps %d", m, m);
        is_int(keep_count(params(1, at + eps, 0, 1), V, row, ids, probs), m + 1,
               "top_p = %d/64 + 2^-30 keeps %d", m, m + 1);
        int n = keep_count(params(1, at, 0, 1), V, row, ids, probs);
        int lowest = n == m;
        for (int j = 0; j < n && lowest; j++) lowest = ids[j] == 7 * j + 3 && probs[j] == 1.0f / m;
        ok(lowest, "top_p = %d/64: the %d lowest ids of the tie, best first, each 1/%d", m, m, m);
    }
    /* top_k 16 of the 64 tied tokens: each 1/16 after top_k, then top_p */
    for (int m = 1; m < 16; m += 7) {
        double at = m / 16.0;
        is_int(keep_count(params(1, at, 16, 1), V, row, ids, probs), m,
               "top_k 16, top_p = %d/16 keeps %d", m, m);
        is_int(keep_count(params(1, at + eps, 16, 1), V, row, ids, probs), m + 1,
               "top_k 16, top_p = %d/16 + 2^-30 keeps %d", m, m + 1);
    }
    is_int(keep_count(params(1, 1 - eps, 0, 1), V, row, ids, probs), k,
           "top_p just below 1 keeps all %d tokens with mass, none of the -inf ones", k);
    free(row);

    /* 41 tied tokens: their float probabilities (0.024390243 each) add up to
     * 1 - 3.7e-8, below a top_p of 1 - 2^-40: the mass never reaches top_p,
     * and all are kept */
    float tied41[41] = {0};
    is_int(keep_count(params(1, 1 - 0x1p-40, 0, 1), 41, tied41, ids, probs), 41,
           "a top_p the float mass never reaches keeps every token");
    float first_best[40] = {5, 4, 3};
    is_int(keep_count(params(1, 0, 0, 1), 40, first_best, ids, probs), 1,
           "top_p 0 keeps one token (the best one first in the row)");
    is_int(ids[0], 0, "and it is the best");
}

/* Reference nucleus for one row: ids by (probability desc, id asc) from a
 * double softmax; ref_keep(top_p) = the smallest prefix whose mass reaches it. */
typedef struct nucleus_ref {
    int V;       /* vocabulary */
    int32_t *by; /* ids, best first */
    double *cum; /* cum[j]: mass of by[0..j] */
} nucleus_ref;

static nucleus_ref nucleus_ref_new(const float *logits, int V, double temperature)
{
    nucleus_ref r = {V, malloc((size_t)V * sizeof(int32_t)), malloc((size_t)V * sizeof(double))};
    require(r.by && r.cum, "reference buffers for V=%d", V);
    for (int i = 0; i < V; i++) r.by[i] = i;
    ref_key = logits; /* scaling by 1/T keeps the order */
    qsort(r.by, (size_t)V, sizeof *r.by, ref_cmp);
    double mx = logits[r.by[0]] / temperature, z = 0, c = 0;
    for (int i = 0; i < V; i++) z += exp(logits[i] / temperature - mx);
    for (int j = 0; j < V; j++) r.cum[j] = c += exp(logits[r.by[j]] / temperature - mx) / z;
    return r;
}

/* Random rows (continuous logits, many exact ties, a few peaks), V from 33 to
 * 4096, and top_p halfway through the mass of a chosen token, where float
 * rounding cannot move the cut: the sampler keeps exactly the reference's
 * prefix, as a set, sorted best first, renormalised, with and without top_k. */
static void test_nucleus_against_reference(void)
{
    const int Vs[] = {33, 34, 63, 100, 257, 1000, 4096};
    uint64_t x = 2026;
    int cases = 0, cases_k = 0, bad = 0, bad_probs = 0, bad_k = 0;
    for (size_t vi = 0; vi < sizeof Vs / sizeof *Vs; vi++) {
        int V = Vs[vi];
        float *logits = malloc((size_t)V * sizeof *logits);
        int32_t *ids = malloc((size_t)V * sizeof *ids);
        float *probs = malloc((size_t)V * sizeof *probs);
        require(logits && ids && probs, "buffers for V=%d", V);
        for (int shape = 0; shape < 3; shape++) {
            for (int i = 0; i < V; i++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                double u = (double)(x >> 11) * 0x1.0p-53;
                logits[i] = shape == 0   ? (float)(u * 8)              /* continuous */
                            : shape == 1 ? (float)((int)(u * 6) / 2.0) /* six values, ties */
                                         : (float)(u < 0.02 ? 9 + u * 50 : u);
            }
            double temperature = shape == 2 ? 0.7 : 1.0;
            nucleus_ref r = nucleus_ref_new(logits, V, temperature);
            for (int t = 0; t < 12; t++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                int m = (int)((x >> 33) % (uint64_t)(t < 6 ? 40 : V)); /* the crossing token */
                if (m >= V) m = V - 1;
                double mass = r.cum[m] - (m ? r.cum[m - 1] : 0);
                if (mass < 1e-5 || r.cum[m] - mass / 2 >= 1) continue;
                double top_p = r.cum[m] - mass / 2;
                cases++;
                int n = keep_count(params(temperature, top_p, 0, 1), V, logits, ids, probs);
                int same = n == m + 1 && memcmp(ids, r.by, (size_t)n * sizeof *ids) == 0;
                if (!same && bad++ < 3)
                    diag("V=%d shape %d top_p %.9f: kept %d, reference %d", V, shape, top_p, n,
                         m + 1);
                double sum = 0;
                for (int j = 0; j < n; j++) {
                    sum += probs[j];
                    double want = (r.cum[j] - (j ? r.cum[j - 1] : 0)) / r.cum[m];
                    if (same && fabs(probs[j] - want) > 1e-5 * (want + 1e-3)) bad_probs++;
                }
                if (fabs(sum - 1) > 1e-5) bad_probs++;
                /* the same through top_k (V/2, or V-1, when that keeps the crossing token) */
                int k = m + 1 < V / 2 ? V / 2 : V - 1;
                double zk = r.cum[k - 1];
                double top_pk = (r.cum[m] - mass / 2) / zk;
                if (m + 1 >= k || mass / zk < 1e-5) continue;
                cases_k++;
                int nk = keep_count(params(temperature, top_pk, k, 1), V, logits, ids, probs);
                if (!(nk == m + 1 && memcmp(ids, r.by, (size_t)nk * sizeof *ids) == 0) &&
                    bad_k++ < 3)
                    diag("V=%d top_k %d top_p %.9f: kept %d, reference %d", V, k, top_pk, nk,
                         m + 1);
            }
            free(r.by);
            free(r.cum);
        }
        free(logits);
        free(ids);
        free(probs);
    }
    require(cases > 150 && cases_k > 100, "enough random cases (%d, %d with top_k)", cases,
            cases_k);
    is_int(bad, 0, "%d random rows: top_p keeps exactly the reference nucleus, best first", cases);
    is_int(bad_probs, 0, "the kept probabilities are the reference's renormalised over the set");
    is_int(bad_k, 0, "%d with top_k first: the nucleus of the renormalised top_k set", cases_k);
}

/* Every drawn token is in the candidate set the filters keep. */
static void test_draws_stay_in_nucleus(void)
{
    const int V = 500;
    float *row = tied_row(V, 64);
    for (int i = 0; i < V; i++)
        if (row[i] == 0) row[i] = (float)(i % 5); /* five tiers among the 64 */
    int32_t ids[500];
    float probs[500];
    fk_sampler_params p = params(1, 0.5, 0, 11);
    int n = keep_count(p, V, row, ids, probs);
    char kept[500] = {0};
    for (int j = 0; j < n; j++) kept[ids[j]] = 1;
    fk_sampler *s = fk_sampler_new(&p, V);
    int counts[500] = {0}, outside = 0, seen = 0;
    draw_many(s, row, V, 3000, counts);
    for (int i = 0; i < V; i++) {
        if (counts[i] && !kept[i]) outside++;
        seen += counts[i] && kept[i];
    }
    is_int(outside, 0, "top_p 0.5: 3000 draws, none outside the %d kept tokens", n);
    is_int(seen, n, "every kept token is drawn at least once");
    fk_sampler_free(s);
    free(row);
}

/* The draw: u is compared with running sums of float probabilities, which can
 * add up to a little less than 1; a u beyond the last sum takes the last
 * candidate. 41 tied tokens have float probability 0.024390243 each, 41 of
 * which sum to 1 - 3.7e-8; seed 39061301's first u is 0.999999975. */
static void test_draw_past_the_last_sum(void)
{
    fk_sampler_params p = params(1, 1, 0, 39061301);
    fk_sampler *probe = fk_sampler_new(&p, 41);
    double u = fk_sampler_uniform(probe);
    fk_sampler_free(probe);
    require(u > 1 - 3.7e-8, "seed 39061301 draws u = %.17g first", u);
    float row[41] = {0};
    fk_sampler *s = fk_sampler_new(&p, 41);
    is_int(fk_sampler_sample(s, row), 40, "u above the sum of all probabilities: the last token");
    fk_sampler_free(s);
}

static void test_edges(void)
{
    fk_sampler_params p = params(0, 1, 0, 1);
    ok(fk_sampler_new(&p, 0) == NULL, "a vocabulary of 0 ids is refused");
    fk_sampler *s = fk_sampler_new(&p, 9);
    float nan_row[9];
    for (int i = 0; i < 9; i++) nan_row[i] = NAN;
    is_int(fk_sampler_sample(s, nan_row), 0, "greedy over a row of NaNs: id 0");
    float some_nan[9] = {NAN, 1, NAN, 3, NAN, 3, 2, NAN, -1};
    is_int(fk_sampler_sample(s, some_nan), 3, "NaNs are never the maximum; ties to the lowest id");
    float lanes[9] = {0, 0, 0, 0, 0, 0, 0, 0, 5};
    is_int(fk_sampler_sample(s, lanes), 8, "the maximum in the tail past the 8-wide lanes");
    is_int(fk_sampler_count(s, 4), 0, "nothing counted before the first accept");
    is_int(fk_sampler_accept(s, -1), 0, "accepting no token (-1) is fine");
    fk_sampler_accept(s, 4);
    ok(fk_sampler_count(s, -1) == 0 && fk_sampler_count(s, 4) == 1, "and counts nothing");
    fk_sampler_free(s);
    fk_sampler_free(NULL);

    p.presence_penalty = 1;
    s = fk_sampler_new(&p, 4);
    fk_sampler_accept(s, 2);
    fk_sampler_accept(s, 99); /* beyond the vocabulary: counted, never applied */
    is_int(fk_sampler_count(s, 99), 1, "an id beyond the vocabulary is counted");
    float row[4] = {1, 1, 1, 1};
    fk_sampler_apply_penalties(s, row);
    ok(row[0] == 1 && row[1] == 1 && row[2] == 0 && row[3] == 1,
       "penalties touch only ids inside the vocabulary");
    fk_sampler_free(s);

    p = params(1, 1, 4, 5); /* top_k equal to V is off: no heap, all V candidates */
    int32_t ids[4];
    float probs[4];
    float four[4] = {0, 1, 2, 3};
    is_int(keep_count(p, 4, four, ids, probs), 4, "top_k = V keeps all");
    ok(ids[0] == 3 && ids[3] == 0, "sorted best first");
}

static void test_penalties(void)
{
    fk_sampler_params p = params(0, 1, 0, 1);
    p.presence_penalty = 0.5;
    p.frequency_penalty = 0.25;
    fk_sampler *s = fk_sampler_new(&p, 5);
    fk_sampler_accept(s, 1);
    fk_sampler_accept(s, 1);
    fk_sampler_accept(s, 2);
    is_int(fk_sampler_count(s, 1), 2, "count of token 1");
    is_int(fk_sampler_count(s, 3), 0, "count of an unseen token");
    float logits[5] = {1, 1, 1, 1, 1};
    fk_sampler_apply_penalties(s, logits);
    ok(logits[0] == 1 && logits[3] == 1 && logits[4] == 1, "unseen tokens unchanged");
    ok(fabsf(logits[1] - 0.0f) < 1e-6f, "token 1: 1 - (2*0.25 + 0.5) = 0 (got %g)", logits[1]);
    ok(fabsf(logits[2] - 0.25f) < 1e-6f, "token 2: 1 - (0.25 + 0.5) = 0.25 (got %g)", logits[2]);

    float g[5] = {0, 2.0f, 1.9f, 0, 0};
    is_int(fk_sampler_sample(s, g), 2, "greedy sees the penalties: token 2 now wins");
    fk_sampler_free(s);

    p.presence_penalty = -1;
    p.frequency_penalty = 0;
    s = fk_sampler_new(&p, 3);
    fk_sampler_accept(s, 0);
    float h[3] = {0, 0.5f, 0};
    is_int(fk_sampler_sample(s, h), 0, "a negative presence penalty favours repeats");
    fk_sampler_free(s);

    /* many distinct tokens: the count table grows and keeps every count */
    s = fk_sampler_new(&p, 201088);
    for (int i = 0; i < 5000; i++) fk_sampler_accept(s, (i * 37) % 201088);
    fk_sampler_accept(s, 37);
    is_int(fk_sampler_count(s, 37), 2, "counts survive table growth");
    is_int(fk_sampler_count(s, 4999 * 37), 1, "the last distinct token is counted");
    fk_sampler_free(s);
}

/* Generate `n` tokens by sampling from logits that depend on the history. */
static void sequence(uint64_t seed, int has_seed, int32_t *out, int n)
{
    const int V = 1000;
    fk_sampler_params p = params(0.9, 0.95, 50, seed);
    p.has_seed = has_seed;
    p.frequency_penalty = 0.1;
    fk_sampler *s = fk_sampler_new(&p, V);
    float *row = malloc(V * sizeof *row);
    int32_t prev = 7;
    for (int i = 0; i < n; i++) {
        for (int v = 0; v < V; v++) row[v] = (float)(((v * 31 + prev * 17) % 97) / 20.0);
        out[i] = fk_sampler_sample(s, row);
        fk_sampler_accept(s, out[i]);
        prev = out[i];
    }
    free(row);
    fk_sampler_free(s);
}

static void test_seed(void)
{
    int32_t a[64], b[64], c[64], d[64], e[64];
    sequence(77, 1, a, 64);
    sequence(77, 1, b, 64);
    sequence(78, 1, c, 64);
    ok(memcmp(a, b, sizeof a) == 0, "same seed: same tokens");
    ok(memcmp(a, c, sizeof a) != 0, "another seed: other tokens");
    sequence(0, 0, d, 64);
    sequence(0, 0, e, 64);
    ok(memcmp(d, e, sizeof d) != 0, "no seed: seeded from the OS, runs differ");
}

int main(void)
{
    test_greedy();
    test_temperature();
    test_cut_sets();
    test_large_vocab();
    test_top_p_boundaries();
    test_nucleus_against_reference();
    test_draws_stay_in_nucleus();
    test_draw_past_the_last_sum();
    test_edges();
    test_penalties();
    test_seed();
    return done_testing();
}
