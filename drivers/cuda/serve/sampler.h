/* sampler.h: turn one row of logits into the next token, per request.
 *
 * Each request owns one fk_sampler: its parameters, its RNG (xoshiro256**,
 * seeded from the request's seed, or from the OS when there is none) and the
 * counts of the tokens it has generated (for the presence and frequency
 * penalties). The same seed and the same logits give the same tokens.
 *
 * Order of operations (as vLLM and llama.cpp do it):
 *     penalties -> greedy (temperature 0) or
 *     temperature -> top_k -> softmax -> top_p -> draw
 * Penalties follow OpenAI's definition, for every token t generated so far:
 *     logit[t] -= count[t] * frequency_penalty + (count[t] > 0) * presence_penalty
 *
 * Not thread-safe: one sampler is used by one thread at a time. */
#ifndef FK_SAMPLER_H
#define FK_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

typedef struct fk_sampler_params {
    double temperature;       /* <= 0: greedy (argmax, ties to the lowest id) */
    double top_p;             /* (0, 1]; >= 1: off; <= 0: the best token only (greedy) */
    int top_k;                /* <= 0: off */
    double presence_penalty;  /* 0: off */
    double frequency_penalty; /* 0: off */
    int has_seed;             /* 1: seed the RNG from `seed`, else from the OS */
    uint64_t seed;            /* the request's seed */
} fk_sampler_params;

typedef struct fk_sampler fk_sampler;

/* A sampler over a vocabulary of `vocab` ids. NULL on OOM or vocab < 1. */
fk_sampler *fk_sampler_new(const fk_sampler_params *p, int vocab);
void fk_sampler_free(fk_sampler *s);

/* Pick the next token from logits[0..vocab) (// (V,)); the row is modified
 * (penalties, temperature). Does not record the token: call fk_sampler_accept
 * with whatever token the caller decides to keep. */
int32_t fk_sampler_sample(fk_sampler *s, float *logits);

/* 1 when fk_sampler_sample would return the argmax of the raw logits
 * (greedy, no penalties): the caller may take the backend's argmax instead
 * of handing over the logits. */
int fk_sampler_is_greedy(const fk_sampler *s);

/* Record a generated token for the penalties. 0, or -1 on OOM. */
int fk_sampler_accept(fk_sampler *s, int32_t token);

/* Subtract the penalties of the tokens accepted so far from logits (// (V,)).
 * Part of fk_sampler_sample; exposed for tests. */
void fk_sampler_apply_penalties(const fk_sampler *s, float *logits);

/* How many times `token` was accepted. */
int fk_sampler_count(const fk_sampler *s, int32_t token);

/* The candidate set the filters keep, before the draw: ids (best first) and
 * their renormalised probabilities, written to ids/probs (each room for
 * `vocab`). Returns how many. Applies temperature, top_k and top_p but not
 * penalties; logits is modified. For tests and logprobs. */
int fk_sampler_candidates(fk_sampler *s, float *logits, int32_t *ids, float *probs);

/* A uniform double in [0, 1) from the sampler's RNG. */
double fk_sampler_uniform(fk_sampler *s);

#endif
