/* model.h: the gpt-oss forward pass over a validated checkpoint.
 *
 * Four kinds of state, kept apart (llama2.c keeps RunState apart from its
 * weights):
 *   blueprint  fk_gptoss_config   from the checkpoint
 *   weights    fk_model           mapped onto a backend at load, then
 *                                 immutable: any number of runs share it
 *   scratch    fk_run             one per caller that runs the model (a
 *                                 scheduler, a tool): activations, staging,
 *                                 the last error
 *   sequences  fk_kv              one per sequence: its block tables into a
 *                                 paged KV pool (fk_kv_pool, one per model
 *                                 and backend)
 *
 * The arithmetic runs on a backend (backend.h). A run, its pool and the
 * model's backend are used by one thread at a time (the backend's rule);
 * two runs on two threads need two backends.
 *
 * Errors: every call returns an fk_status; on failure fk_run_error() says
 * which op failed where ("model.c:412: attention: unsupported shape"). */
#ifndef FK_MODEL_H
#define FK_MODEL_H

#include "drivers/cuda/checkpoint/checkpoint.h"
#include "drivers/cuda/model/backend.h"

typedef struct fk_model fk_model;
typedef struct fk_run fk_run;
typedef struct fk_kv_pool fk_kv_pool;
typedef struct fk_kv fk_kv;

/* ---- weights ------------------------------------------------------------------ */

/* Map the checkpoint's weights onto `be`. ck and be are borrowed and must
 * outlive the model. NULL with err on failure. */
fk_model *fk_model_new(const fk_checkpoint *ck, fk_backend *be, char *err, size_t err_len);
void fk_model_free(fk_model *m);
const fk_gptoss_config *fk_model_config(const fk_model *m);
fk_backend *fk_model_backend(const fk_model *m);

/* Bytes of weights one decode step reads at batch 1 (attention, the chosen
 * experts, lm_head): the numerator of the bandwidth bound. */
uint64_t fk_model_bytes_per_token(const fk_model *m);

/* ---- run state ---------------------------------------------------------------- */

#define FK_RUN_ROWS 128 /* rows (tokens) per pass through the layers */

/* Scratch for running `m`: FK_RUN_ROWS rows of activations and 32 rows of
 * logits in backend memory. NULL with err on OOM. */
fk_run *fk_run_new(const fk_model *m, char *err, size_t err_len);
void fk_run_free(fk_run *r);
/* What the last failed call of this run met, "FILE:LINE: op: why"; "" if none. */
const char *fk_run_error(const fk_run *r);

/* ---- the KV cache (paged) ------------------------------------------------------- */

/* A pool of KV blocks of `block_tokens` positions each, as many as fit in
 * `bytes` of backend memory (allocated here, not touched: the OS commits
 * pages as blocks are first written). NULL with err when not even one
 * sequence of one block fits, or on OOM. */
fk_kv_pool *fk_kv_pool_new(const fk_model *m, size_t bytes, int block_tokens, char *err,
                           size_t err_len);
/* Bytes of a pool in which n_seqs sequences of n_tokens positions fit at
 * once (reserving `chunk` positions at a time): a default size. */
size_t fk_kv_pool_bytes_for(const fk_model *m, int block_tokens, int n_seqs, int n_tokens,
                            int chunk);
/* The pool must have no sequence left. */
void fk_kv_pool_free(fk_kv_pool *p);
size_t fk_kv_pool_blocks(const fk_kv_pool *p);      /* blocks in the pool */
size_t fk_kv_pool_free_blocks(const fk_kv_pool *p); /* blocks no sequence holds (free or cached) */
size_t fk_kv_pool_cached_blocks(const fk_kv_pool *p); /* of those, prefix-cached ones */
uint64_t fk_kv_pool_evictions(const fk_kv_pool *p);   /* cached blocks evicted so far */
size_t fk_kv_block_bytes(const fk_kv_pool *p);        /* bytes of one block */
int fk_kv_block_tokens(const fk_kv_pool *p);          /* positions per block */
/* Blocks one sequence holds at most while it grows to n_tokens positions,
 * reserving at most `chunk` positions at a time (full layers keep every
 * block, sliding layers their window plus one chunk). */
size_t fk_kv_blocks_needed(const fk_kv_pool *p, int n_tokens, int chunk);
/* The most positions one sequence can reach in the whole pool, reserving
 * at most `chunk` at a time. */
int fk_kv_pool_max_tokens(const fk_kv_pool *p, int chunk);

/* Prefix caching (vLLM's automatic prefix caching; off when a pool is
 * made): every full block a sequence fills is recorded under its tokens and
 * the tokens before it, and stays cached when no sequence holds it, until
 * the pool needs the room (least recently used first). Turning it off stops
 * recording and finding; cached blocks are then simply reused. */
void fk_kv_pool_set_prefix_cache(fk_kv_pool *p, int on);

/* A sequence of at most `max_tokens` positions over `pool` (borrowed). It
 * holds no block yet; blocks come with fk_kv_reserve. NULL on OOM. */
fk_kv *fk_kv_new(fk_kv_pool *pool, int max_tokens);
/* Gives its blocks back to the pool. */
void fk_kv_free(fk_kv *kv);
int fk_kv_len(const fk_kv *kv);      /* positions filled so far */
int fk_kv_capacity(const fk_kv *kv); /* max_tokens */
size_t fk_kv_held(const fk_kv *kv);  /* blocks it holds */
/* Empty the sequence and give its blocks back. */
void fk_kv_reset(fk_kv *kv);
/* Back positions len .. len+n-1 with blocks in every layer group, first
 * giving back the sliding-window blocks no later query can see. FK_OK, or
 * FK_ERR_KV_FULL (nothing taken) when len + n passes the capacity or the
 * pool has too few free blocks. */
fk_status fk_kv_reserve(fk_kv *kv, int n);
/* Free blocks fk_kv_reserve(kv, n) would take (0 when it has them). */
size_t fk_kv_reserve_cost(const fk_kv *kv, int n);
/* On an empty sequence that will hold tokens[0..n): take the longest
 * cached prefix of them that leaves at least min_left to compute (1 when
 * the caller needs the last token's logits) as the sequence's first
 * positions, sharing its blocks. Returns the positions taken (a multiple of
 * the block size; 0 with the cache off or nothing found). The model then
 * continues from there and gets the bits it would have computed. */
int fk_kv_reuse_prefix(fk_kv *kv, const int32_t *tokens, int n, int min_left);

/* ---- running -------------------------------------------------------------------- */

/* Prefill: run tokens[0..n) at positions fk_kv_len(kv).. and append them to
 * the cache (reserving blocks as it goes). logits (host): [V] for the last
 * position, or [n, V] when all_logits; NULL skips the final norm and
 * lm_head (a prefill chunk whose logits nobody reads). Runs FK_RUN_ROWS
 * positions at a time, reserving blocks for each such chunk. FK_ERR_TOKEN
 * (a token outside the vocabulary) leaves the cache as it was;
 * FK_ERR_KV_FULL keeps the chunks done before it (fk_kv_len says how far it
 * got); other errors leave the cache unusable (fk_kv_reset). */
fk_status fk_model_forward(const fk_model *m, fk_run *r, fk_kv *kv, const int32_t *tokens, int n,
                           float *logits, int all_logits);

/* Batched decode: one token for each of B sequences (kvs[b] gets tokens[b]).
 * logits (host) [B, V] and/or greedy (host) [B] (each row's argmax, ties to
 * the lowest id), either may be NULL. Errors as fk_model_forward; on
 * FK_ERR_TOKEN and FK_ERR_KV_FULL no position was added to any cache. */
fk_status fk_model_decode(const fk_model *m, fk_run *r, fk_kv *const *kvs, const int32_t *tokens,
                          int B, float *logits, int32_t *greedy);

#endif
