/* test_logprobs: the native engine's logprobs of one logits row (logprobs.h)
 * against a float64 log-softmax: the log-sum-exp, the top k in order (equal
 * logits: lower id first), k clipped to 20 and to the vocabulary, large
 * logits that would overflow a naive exp, and probabilities that sum to 1. */
#include "drivers/cuda/serve/logprobs.h"
#include "tests/tap.h"

#include <math.h>
#include <stdlib.h>

static double ref_lse(const float *row, int V)
{
    double m = row[0], s = 0;
    for (int v = 1; v < V; v++) m = row[v] > m ? row[v] : m;
    for (int v = 0; v < V; v++) s += exp((double)row[v] - m);
    return m + log(s);
}

int main(void)
{
    enum { V = 5000 };
    static float row[V];
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int v = 0; v < V; v++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        row[v] = (float)((double)(x >> 11) / 9007199254740992.0 * 20.0 - 10.0);
    }
    double lse = fk_logprobs_lse(row, V);
    ok(fabs(lse - ref_lse(row, V)) < 1e-9, "log-sum-exp matches float64 (%.12f)", lse);
    double sum = 0;
    for (int v = 0; v < V; v++) sum += exp(row[v] - lse);
    ok(fabs(sum - 1) < 1e-9, "exp(logit - lse) sums to 1 (%.12f)", sum);

    fk_token_logprobs t;
    fk_logprobs_top(row, V, 5, lse, &t);
    is_int(t.n_top, 5, "top 5");
    ok(isnan(t.logprob), "the sampled token's logprob is left to the caller");
    int sorted = 1, best = 1;
    for (int i = 0; i < t.n_top; i++) {
        if (i && t.top_logprob[i] > t.top_logprob[i - 1]) sorted = 0;
        ok(fabsf(t.top_logprob[i] - (float)(row[t.top_id[i]] - lse)) < 1e-6, "top %d = logit - lse",
           i);
    }
    for (int v = 0; v < V; v++) /* nothing outside the five beats the fifth */
        if (row[v] > row[t.top_id[4]]) {
            int in = 0;
            for (int i = 0; i < 5; i++) in |= t.top_id[i] == v;
            best &= in;
        }
    ok(sorted, "best first");
    ok(best, "they are the five largest");

    float ties[6] = {1, 3, 3, 2, 3, 0};
    fk_logprobs_top(ties, 6, 4, fk_logprobs_lse(ties, 6), &t);
    ok(t.n_top == 4 && t.top_id[0] == 1 && t.top_id[1] == 2 && t.top_id[2] == 4 && t.top_id[3] == 3,
       "equal logits: lower id first (1 2 4 3, got %d %d %d %d)", t.top_id[0], t.top_id[1],
       t.top_id[2], t.top_id[3]);
    fk_logprobs_top(ties, 6, 50, 0, &t);
    is_int(t.n_top, 6, "k larger than the vocabulary: every token");
    fk_logprobs_top(row, V, 50, lse, &t);
    is_int(t.n_top, FK_TOP_LOGPROBS_MAX, "k clipped to 20");
    fk_logprobs_top(row, V, 0, lse, &t);
    is_int(t.n_top, 0, "k 0: no alternatives");

    float big[3] = {1000, 999, -1000};
    double lb = fk_logprobs_lse(big, 3);
    ok(isfinite(lb) && fabs(lb - (1000 + log(1 + exp(-1.0)))) < 1e-9,
       "large logits do not overflow (%.9f)", lb);
    return done_testing();
}
