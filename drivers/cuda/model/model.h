/* model.h: the gpt-oss forward pass over a validated checkpoint.
 *
 * Three kinds of state, kept apart (llama2.c style):
 *   blueprint  fk_gptoss_config          (from the checkpoint)
 *   weights    fk_model                  (read-only, shared by all requests)
 *   state      fk_kv                     (one per sequence: the KV cache)
 *
 * The arithmetic runs on a backend (backend.h); the CPU backend is the
 * reference. fk_model functions are not re-entrant on one fk_model: the
 * scheduler calls them from one worker thread at a time, and the backend
 * spreads each call over its own threads. */
#ifndef FK_MODEL_H
#define FK_MODEL_H

#include "drivers/cuda/checkpoint/checkpoint.h"

typedef struct fk_model fk_model;
typedef struct fk_kv fk_kv;

/* Build the model over `ck` (borrowed; must outlive the model). n_threads
 * <= 0: one per online CPU. NULL with err on failure. */
fk_model *fk_model_new(const fk_checkpoint *ck, int n_threads, char *err, size_t err_len);
void fk_model_free(fk_model *m);
const fk_gptoss_config *fk_model_config(const fk_model *m);

/* A KV cache for one sequence of at most `max_tokens` positions. Sliding
 * layers keep only their window. */
fk_kv *fk_kv_new(const fk_model *m, int max_tokens);
void fk_kv_free(fk_kv *kv);
int fk_kv_len(const fk_kv *kv);      /* positions filled so far */
int fk_kv_capacity(const fk_kv *kv); /* max_tokens */
void fk_kv_reset(fk_kv *kv);
size_t fk_kv_bytes(const fk_kv *kv);

/* Prefill: run tokens[0..n) at positions fk_kv_len(kv).. and append them to
 * the cache. logits: [V] for the last position, or [n, V] when all_logits;
 * NULL skips the final norm and lm_head (a prefill chunk whose logits nobody
 * reads: saves one pass over lm_head). 0, or -1 when the cache is full or a
 * token is outside the vocabulary (the cache is then unchanged). */
int fk_model_forward(fk_model *m, fk_kv *kv, const int32_t *tokens, int n, float *logits,
                     int all_logits);

/* Batched decode: one token for each of B sequences (kvs[b] gets tokens[b]).
 * logits: [B, V]. 0, or -1 when a cache is full. */
int fk_model_decode(fk_model *m, fk_kv *const *kvs, const int32_t *tokens, int B, float *logits);

/* Bytes of weights one decode step reads at batch 1 (attention, the chosen
 * experts, lm_head): the numerator of the bandwidth bound. */
uint64_t fk_model_bytes_per_token(const fk_model *m);

#endif
