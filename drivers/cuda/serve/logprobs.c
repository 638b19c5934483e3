/* logprobs.c: log-softmax values of one logits row (see logprobs.h). */
#include "logprobs.h"

#include <math.h>

double fk_logprobs_lse(const float *row, int V)
{
    float max = row[0];
    for (int v = 1; v < V; v++)
        if (row[v] > max) max = row[v];
    double sum = 0;
    for (int v = 0; v < V; v++) sum += exp((double)row[v] - max);
    return max + log(sum);
}

/* 1 when (a, ia) ranks before (b, ib): larger logit, then lower id. */
static int before(float a, int32_t ia, float b, int32_t ib)
{
    return a > b || (a == b && ia < ib);
}

void fk_logprobs_top(const float *row, int V, int k, double lse, fk_token_logprobs *out)
{
    if (k > FK_TOP_LOGPROBS_MAX) k = FK_TOP_LOGPROBS_MAX;
    if (k > V) k = V;
    if (k < 0) k = 0;
    out->logprob = NAN;
    out->n_top = 0;
    float best[FK_TOP_LOGPROBS_MAX];
    /* one pass keeping the k best in order (insertion: k is at most 20) */
    for (int v = 0; v < V && k > 0; v++) {
        float x = row[v];
        if (out->n_top == k && !before(x, v, best[k - 1], out->top_id[k - 1])) continue;
        int at = out->n_top < k ? out->n_top++ : k - 1;
        while (at > 0 && before(x, v, best[at - 1], out->top_id[at - 1])) {
            best[at] = best[at - 1];
            out->top_id[at] = out->top_id[at - 1];
            at--;
        }
        best[at] = x;
        out->top_id[at] = v;
    }
    for (int i = 0; i < out->n_top; i++) out->top_logprob[i] = (float)(best[i] - lse);
}
