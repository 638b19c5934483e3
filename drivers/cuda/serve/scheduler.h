/* scheduler.h: continuous batching over one fk_model and its paged KV pool
 * on a worker thread (vLLM's scheduler, on CPU).
 *
 * Requests (already tokenized) queue in submission order. Each step the
 * worker:
 *   1. finishes cancelled sequences (their KV blocks go back at once),
 *   2. backs each admitted sequence's next tokens with KV blocks, oldest
 *      first: a prefill chunk (at most prefill_chunk prompt tokens per step,
 *      shared) or one decode token. When the pool runs out it preempts the
 *      most recently admitted sequence (its blocks go back; it waits and
 *      later recomputes what it had, keeping its sampled tokens and output:
 *      vLLM's recompute preemption), the sequence itself last;
 *   3. unless it preempted, admits waiting sequences in order of arrival
 *      while fewer than max_batch run and the pool has room for a first
 *      chunk with a block to spare per running sequence; with the prefix
 *      cache on, each first takes the longest cached prefix of its prompt
 *      (model.h, fk_kv_reuse_prefix) and prefills only the rest,
 *   4. prefills (fk_model_forward; a fresh prompt's last chunk samples its
 *      first token) and decodes every running sequence together in one
 *      fk_model_decode call (greedy ones take the backend's argmax),
 *   5. publishes the step's output and calls notify() once.
 * A request joins or leaves the batch between steps. Each sequence has its
 * own sampler (sampler.h) and stop-string matcher (stopstr.h), and the
 * backend is batch invariant, so neither batching, preemption nor the
 * prefix cache changes a request's tokens.
 *
 * The pool caps max_model_len at what one sequence can hold in it, so any
 * admitted request can finish (preempting the others if it must).
 *
 * Output crosses to the loop thread through a mutex-protected per-sequence
 * queue: notify() (called on the worker) asks the owner to run
 * fk_sched_deliver() on the loop thread, which calls the request's
 * callbacks there. Backpressure: when on_pieces returns 1 the sequence's
 * delivery pauses; its output accumulates up to max_buffered pieces, then the
 * sequence is no longer scheduled until fk_sched_resume().
 *
 * Output: one fk_piece per token (its bytes, specials spelled out and marked
 * is_special) except where stop strings hold text back: then released text
 * is attributed to the tokens it came from, and a token released in parts
 * carries its id on the first part only (token_id -1 on the rest).
 *   - an eos id of the model (generation_config) or a request stop id: the
 *     held text is released, the stop token itself is emitted as a special
 *     piece (the Harmony parser needs <|call|> / <|return|>), FK_FINISH_STOP;
 *   - a stop string: the text before it is emitted, the rest dropped,
 *     FK_FINISH_STOP_WORD;
 *   - max_tokens or max_model_len reached: FK_FINISH_LENGTH.
 * A paused sequence gets its on_done only after resume() (or cancel()), so
 * "nothing more until resume" holds for on_done too.
 *
 * Threads: fk_sched_new/free/submit/cancel/resume/deliver/stats are called on
 * the loop thread (one thread); callbacks run inside fk_sched_deliver.
 * on_done runs exactly once per submitted request, never inside cancel(). */
#ifndef FK_SCHEDULER_H
#define FK_SCHEDULER_H

#include "constrain/tools.h"
#include "driver.h"
#include "drivers/cuda/model/model.h"
#include "sampler.h"

#include <stddef.h>
#include <stdint.h>

/* How the scheduler spells tokens. Called on the worker thread; the data
 * behind `ud` must be immutable while the scheduler lives (a loaded fktok). */
typedef struct fk_sched_vocab {
    /* Bytes of a token, specials spelled out; NULL for an unknown id. */
    const char *(*token_bytes)(const void *ud, int32_t id, size_t *len);
    /* 1 when the id is a special token. */
    int (*is_special)(const void *ud, int32_t id);
    const void *ud; /* the tokenizer */
} fk_sched_vocab;

typedef struct fk_sched_config {
    int max_batch;     /* sequences running at once (FK_MAX_BATCH); <= 0: 8 */
    int prefix_cache;  /* 1: reuse cached prompt prefixes (FK_PREFIX_CACHE) */
    int max_model_len; /* prompt + completion limit in tokens; <= 0: the model's
                        * (capped by what the KV pool holds for one sequence) */
    int prefill_chunk; /* prompt tokens prefilled per step; <= 0: 512 */
    int max_buffered;  /* pieces a paused sequence may hold; <= 0: 64 */
    /* Called on the worker (with no lock held) after a step that produced
     * output or finished a sequence: arrange for fk_sched_deliver() to run on
     * the loop thread (event_active on an event of the loop). Required. */
    void (*notify)(void *ud);
    void *notify_ud; /* passed to notify */
} fk_sched_config;

/* One request, already tokenized. Everything is copied by fk_sched_submit,
 * except `tools`, which a successful submit takes over. */
typedef struct fk_sched_request {
    const int32_t *prompt;      /* // (n_prompt,) token ids */
    int n_prompt;               /* >= 1 */
    int max_tokens;             /* completion budget; <= 0: up to max_model_len */
    fk_sampler_params sampling; /* temperature, top_p, top_k, penalties, seed */
    const char *const *stop;    /* stop strings (may be NULL when n_stop is 0) */
    size_t n_stop;
    const int32_t *stop_ids; /* extra stop token ids, treated like the model's eos ids */
    size_t n_stop_ids;
    int logprobs;     /* 1: each piece that announces a token carries its log-probability
                         (log-softmax of the raw logits, logprobs.h) */
    int top_logprobs; /* and this many alternatives (0..20) */
    /* Function tools whose calls are constrained (constraint.h): taken over
     * (emptied) by a successful submit; NULL or empty: none. */
    fk_toolset *tools;
} fk_sched_request;

/* Counters for tests and metrics (a snapshot). */
typedef struct fk_sched_stats {
    int waiting;               /* requests queued, not yet admitted */
    int running;               /* admitted: prefilling or decoding */
    size_t kv_blocks_used;     /* KV blocks held by sequences */
    size_t kv_blocks_total;    /* KV blocks in the pool */
    size_t kv_blocks_cached;   /* KV blocks kept by the prefix cache, held by none */
    uint64_t preemptions;      /* sequences preempted so far */
    uint64_t prefix_queries;   /* prompt tokens looked up in the prefix cache */
    uint64_t prefix_hits;      /* of those, found (not prefilled again) */
    uint64_t steps;            /* worker steps done */
    uint64_t decode_calls;     /* fk_model_decode calls */
    uint64_t decode_rows;      /* sequences summed over those calls */
    int max_batch_seen;        /* the largest decode batch so far */
    uint64_t prompt_tokens;    /* prompts of requests whose prefill ended */
    uint64_t generated_tokens; /* sampled, all requests */
} fk_sched_stats;

typedef struct fk_sched fk_sched;
typedef struct fk_seq fk_seq; /* one submitted request */

/* Start the worker over `m` and `pool` (borrowed: both must outlive the
 * scheduler; from now on only the worker uses the pool and the model's
 * backend). NULL with err on failure. */
fk_sched *fk_sched_new(const fk_model *m, fk_kv_pool *pool, const fk_sched_vocab *vocab,
                       const fk_sched_config *cfg, char *err, size_t err_len);

/* Stop the worker and free every sequence without calling callbacks (the
 * owner has had every on_done first, or does not want them). */
void fk_sched_free(fk_sched *s);

/* The prompt + completion limit in effect. */
int fk_sched_max_model_len(const fk_sched *s);

/* Queue a request. `cb` is copied; `ud` is passed back to it. The completion
 * budget is min(max_tokens, max_model_len - n_prompt); the caller refuses
 * prompts that do not fit (n_prompt >= max_model_len) before submitting.
 * NULL on OOM or an invalid request (no callback gets called then). */
fk_seq *fk_sched_submit(fk_sched *s, const fk_sched_request *req, const fk_gen_callbacks *cb,
                        void *ud);

/* Ask the worker to stop the sequence; its slot is freed at the next step
 * and on_done (FK_FINISH_CANCELLED) follows from a later fk_sched_deliver. */
void fk_sched_cancel(fk_seq *q);

/* Undo a pause (on_pieces returned 1): deliver again and schedule again. */
void fk_sched_resume(fk_seq *q);

/* Loop thread: hand every sequence's published output to its callbacks;
 * call on_done for finished ones and free them. */
void fk_sched_deliver(fk_sched *s);

void fk_sched_get_stats(fk_sched *s, fk_sched_stats *out);

#endif
