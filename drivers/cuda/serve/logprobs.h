/* logprobs.h: what OpenAI's logprobs report for one sampled token, from the
 * raw logits of its position: log-softmax values before penalties and
 * temperature (OpenAI's definition; llama-server's n_probs reports the
 * same), the sampled token's and the best k.
 *
 *   lse = log(sum_v exp(logits[v]))      (max-subtracted, summed in double)
 *   logprob(v) = logits[v] - lse
 *
 * Pure functions over one row; the scheduler calls them on its worker. */
#ifndef FK_LOGPROBS_H
#define FK_LOGPROBS_H

#include <stdint.h>

#define FK_TOP_LOGPROBS_MAX 20 /* OpenAI's limit for top_logprobs */

typedef struct fk_token_logprobs {
    float logprob;                          /* the sampled token's; NAN: not computed */
    int n_top;                              /* alternatives in top_* (0..FK_TOP_LOGPROBS_MAX) */
    int32_t top_id[FK_TOP_LOGPROBS_MAX];    /* best first; equal logits: lower id first */
    float top_logprob[FK_TOP_LOGPROBS_MAX]; /* their log-probabilities */
} fk_token_logprobs;

/* log-sum-exp of row[0..V) (V >= 1). */
double fk_logprobs_lse(const float *row, int V);

/* out->top_* = the k best of row[0..V) (k clipped to 0..FK_TOP_LOGPROBS_MAX
 * and V) with their log-probabilities; out->logprob is left NAN. */
void fk_logprobs_top(const float *row, int V, int k, double lse, fk_token_logprobs *out);

#endif
