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

    /* top_p = 0.9 reference: softmax in double over the sorted order */
    double mx = logits[ref[0]], z = 0;
    for (int i = 0; i < V; i++) z += exp(logits[i] - mx);
    double cum = 0;
    int want = 0;
    while (want < V) {
        cum += exp(logits[ref[want]] - mx) / z;
        want++;
        if (cum >= 0.9) break;
    }
    p = params(1, 0.9, 0, 3);
    s = fk_sampler_new(&p, V);
    memcpy(row, logits, V * sizeof *row);
    n = fk_sampler_candidates(s, row, ids, probs);
    ok(abs(n - want) <= 1 && memcmp(ids, ref, (size_t)(n < want ? n : want) * sizeof *ids) == 0,
       "V=201088 top_p=0.9: the nucleus of a full sort (%d vs %d tokens)", n, want);
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
    test_penalties();
    test_seed();
    return done_testing();
}
