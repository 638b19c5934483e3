/* scheduler.c: the worker loop (admit, preempt, prefill, decode, finish) and
 * the hand-over of output to the loop thread. See scheduler.h.
 *
 * Locking: the mutex guards what the loop thread and the worker share (the
 * sequence list, each sequence's state, flags and published output). The
 * worker holds it only to take a snapshot at the start of a step and to
 * publish at its end; everything that allocates, frees or computes (KV
 * tables and blocks, prefix lookups, the model, output staging) runs with
 * it released, so a delivery on the loop thread never waits for them. */
#include "constraint.h"
#include "logprobs.h"
#include "scheduler.h"
#include "stopstr.h"
#include "tokmask.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- output buffers --------------------------------------------------------------- */

/* One piece inside an out_buf: a slice of its bytes. */
typedef struct out_piece {
    size_t off;           /* into out_buf.bytes */
    size_t len;           /* bytes */
    int32_t token_id;     /* -1: continuation of a token already announced */
    int is_special;       /* 1: a special token spelled out */
    fk_token_logprobs lp; /* the token's logprobs (logprob NAN: none) */
} out_piece;

/* Pieces with their bytes, appended by the worker, consumed by the loop. */
typedef struct out_buf {
    char *bytes;      /* concatenated piece text */
    size_t n_bytes;   /* used */
    size_t cap_bytes; /* allocated */
    out_piece *p;     /* pieces */
    size_t n_p;       /* used */
    size_t cap_p;     /* allocated */
} out_buf;

/* Room for n_p pieces and n_bytes bytes in all. 0, or -1 on OOM. */
static int out_reserve(out_buf *b, size_t n_p, size_t n_bytes)
{
    if (n_bytes > b->cap_bytes) {
        size_t cap = b->cap_bytes ? b->cap_bytes : 256;
        while (cap < n_bytes) cap *= 2;
        char *nb = realloc(b->bytes, cap);
        if (!nb) return -1;
        b->bytes = nb;
        b->cap_bytes = cap;
    }
    if (n_p > b->cap_p) {
        size_t cap = b->cap_p ? b->cap_p : 16;
        while (cap < n_p) cap *= 2;
        out_piece *np = realloc(b->p, cap * sizeof *np);
        if (!np) return -1;
        b->p = np;
        b->cap_p = cap;
    }
    return 0;
}

/* lp: the token's logprobs, or NULL for none. */
static int out_push(out_buf *b, const char *text, size_t len, int32_t id, int special,
                    const fk_token_logprobs *lp)
{
    if (out_reserve(b, b->n_p + 1, b->n_bytes + len) != 0) return -1;
    if (len) memcpy(b->bytes + b->n_bytes, text, len);
    b->p[b->n_p] = (out_piece){b->n_bytes, len, id, special, {.logprob = NAN}};
    if (lp) b->p[b->n_p].lp = *lp;
    b->n_p++;
    b->n_bytes += len;
    return 0;
}

/* 1 when dst can take all of src without growing. */
static int out_fits(const out_buf *dst, const out_buf *src)
{
    return dst->n_p + src->n_p <= dst->cap_p && dst->n_bytes + src->n_bytes <= dst->cap_bytes;
}

/* Append all of src to dst, which has the room (out_fits), and empty src.
 * Allocates nothing. */
static void out_append(out_buf *dst, out_buf *src)
{
    if (src->n_bytes) memcpy(dst->bytes + dst->n_bytes, src->bytes, src->n_bytes);
    for (size_t i = 0; i < src->n_p; i++) {
        dst->p[dst->n_p + i] = src->p[i];
        dst->p[dst->n_p + i].off += dst->n_bytes;
    }
    dst->n_p += src->n_p;
    dst->n_bytes += src->n_bytes;
    src->n_p = src->n_bytes = 0;
}

static void out_swap(out_buf *a, out_buf *b)
{
    out_buf t = *a;
    *a = *b;
    *b = t;
}

static void out_free(out_buf *b)
{
    free(b->bytes);
    free(b->p);
}

/* ---- sequences ----------------------------------------------------------------------- */

/* A sampled token and its logprobs, waiting for the piece that announces it. */
typedef struct lp_entry {
    int32_t id;           /* the sampled token */
    fk_token_logprobs lp; /* its logprobs */
} lp_entry;

enum seq_state {
    SEQ_WAITING = 0, /* queued, or preempted: holds no KV blocks */
    SEQ_RUNNING,     /* admitted: prefilling or decoding */
    SEQ_FINISHED,    /* the worker is done with it; awaiting on_done */
};

/* A token whose bytes the stop matcher still holds (some or all of them). */
typedef struct held_token {
    int32_t id;       /* the token */
    size_t remaining; /* bytes of it not yet released */
    int announced;    /* 1: a piece carrying its id was emitted */
} held_token;

struct fk_seq {
    fk_sched *s;              /* owner */
    fk_seq *next;             /* next in s->seqs (submission order; under mu) */
    fk_seq *wnext;            /* worker: next in this step's snapshot */
    fk_seq *deliver_next;     /* loop only: link in one fk_sched_deliver pass */
    int deliver_flags;        /* loop only: DELIVER_* for that pass */
    const char *deliver_note; /* loop only: the note taken in that pass */

    /* immutable after submit */
    int n_prompt;        /* prompt tokens */
    int max_new;         /* completion budget */
    int32_t *stop_ids;   /* extra stop tokens (n_stop_ids of them) */
    size_t n_stop_ids;   /* count of stop_ids */
    fk_gen_callbacks cb; /* the owner's callbacks */
    void *ud;            /* their user data */

    /* worker only */
    int32_t *tokens;              /* // (n_prompt + max_new,) the prompt, then each sampled token */
    fk_sampler *sampler;          /* per-request RNG and penalties */
    int top_logprobs;             /* logprobs asked for: alternatives per token; -1: not asked */
    lp_entry *lp_fifo;            /* logprobs of sampled tokens not yet announced, in order */
    size_t lp_head, lp_n, lp_cap; /* first live entry, entries after it, allocated */
    fk_stopstr *stop;             /* stop strings, NULL when none */
    fk_constraint *con;           /* tool-call constraint, NULL without tools */
    held_token *held;             /* tokens with bytes held by `stop` */
    size_t n_held, cap_held;
    fk_kv *kv;       /* its KV cache once first admitted (emptied when preempted) */
    int admitted;    /* 1: in s->admitted (holds KV blocks) */
    int n_target;    /* positions the cache must hold before the next decode */
    int n_generated; /* completion tokens sampled (tokens[n_prompt ..]) */
    int cached;      /* prompt tokens the prefix cache gave at first admission; -1 before */
    int w_cancel;    /* this step's snapshot of cancel */
    int w_blocked;   /* this step's snapshot of blocked() */
    out_buf stage;   /* this step's output, published at step end */
    double t_submit, t_prefill_start, t_prefill_end, t_first, t_last; /* ms, monotonic */
    double t_note;     /* when the last waiting note was set */
    fk_finish finish;  /* set when the worker finishes it */
    int err_status;    /* http status when finish is ERROR */
    char err_msg[160]; /* message when finish is ERROR */

    /* shared, under s->mu */
    enum seq_state state; /* written by the worker, see seq_state */
    int cancel;           /* cancel() was called */
    int paused;           /* on_pieces returned 1 and no resume() since */
    out_buf out;          /* published output not yet delivered */
    const char *note;     /* a waiting note for on_waiting, or NULL */

    /* loop only */
    out_buf deliv;        /* output being handed to on_pieces */
    fk_piece *pieces;     /* fk_piece view of deliv */
    size_t cap_pieces;    /* allocated entries of pieces */
    fk_top_logprob *tops; /* (cap_pieces, FK_TOP_LOGPROBS_MAX) alternatives of pieces */
};

struct fk_sched {
    const fk_model *m;          /* borrowed */
    fk_kv_pool *pool;           /* borrowed; the worker is its only user */
    fk_run *run;                /* owned; the worker is its only user */
    fk_sched_vocab vocab;       /* token spelling */
    fk_sched_config cfg;        /* limits (defaults filled in) */
    int vocab_size;             /* V */
    const fk_gptoss_config *mc; /* the model's config (eos ids) */
    fk_harmony_ids hids;        /* Harmony specials (constraints) */
    int has_hids;               /* 0: the vocabulary lacks them: tools are not constrained */

    /* worker only */ float *logits; /* // (max_batch, V) logits of a step's rows */
    float *lp_row;                   /* // (V,) raw logits kept for logprobs */
    fk_kv **kvs;                     /* // (max_batch,) decode arguments */
    int32_t *tokens;                 /* // (max_batch,) */
    int32_t *greedy;                 /* // (max_batch,) the argmax of each decoded row */
    fk_seq **batch;                  /* // (max_batch,) sequences in this decode */
    fk_seq **pre;                    /* // (max_batch,) sequences prefilling this step */
    int *pre_todo;                   /* // (max_batch,) and how many tokens each */
    fk_seq **admitted;               /* // (max_batch,) admitted sequences, oldest first */
    int n_admitted;                  /* entries in admitted */
    size_t stuck_free;               /* free blocks when an admission last failed; SIZE_MAX: none */
    fk_tokmask *tm;                  /* the vocabulary index for masks; built on first use */
    fk_sched_stats wstats;           /* the counters as they run */

    pthread_t thread;     /* the worker */
    pthread_mutex_t mu;   /* guards the shared fields below and in fk_seq */
    pthread_cond_t wake;  /* signalled on submit, cancel, resume, stop */
    int stop;             /* 1: the worker should exit */
    fk_seq *seqs;         /* every live sequence, submission order */
    fk_sched_stats stats; /* counters published at each step end */
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void seq_free(fk_seq *q)
{
    if (!q) return;
    fk_kv_free(q->kv);
    fk_sampler_free(q->sampler);
    fk_stopstr_free(q->stop);
    fk_constraint_free(q->con);
    free(q->held);
    free(q->tokens);
    free(q->stop_ids);
    out_free(&q->stage);
    out_free(&q->out);
    out_free(&q->deliv);
    free(q->pieces);
    free(q->tops);
    free(q->lp_fifo);
    free(q);
}

/* ---- token output (worker) ---------------------------------------------------------- */

static int is_eos(const fk_sched *s, const fk_seq *q, int32_t id)
{
    for (int i = 0; i < s->mc->n_eos; i++)
        if (s->mc->eos_ids[i] == id) return 1;
    for (size_t i = 0; i < q->n_stop_ids; i++)
        if (q->stop_ids[i] == id) return 1;
    return 0;
}

/* The logprobs of sampled token `id`, taken from the FIFO (entries before
 * it, which no piece announced, are dropped); NULL when not asked for. */
static const fk_token_logprobs *take_logprobs(fk_seq *q, int32_t id)
{
    while (q->lp_n > 0) {
        const lp_entry *e = &q->lp_fifo[q->lp_head];
        q->lp_head++;
        q->lp_n--;
        if (e->id == id) return &e->lp;
    }
    return NULL;
}

/* Queue a sampled token's logprobs. On OOM it is left out (its piece then
 * reports none). */
static void queue_logprobs(fk_seq *q, const lp_entry *e)
{
    if (q->lp_head > 0 && q->lp_head + q->lp_n == q->lp_cap) {
        memmove(q->lp_fifo, q->lp_fifo + q->lp_head, q->lp_n * sizeof *q->lp_fifo);
        q->lp_head = 0;
    }
    if (q->lp_head + q->lp_n == q->lp_cap) {
        size_t cap = q->lp_cap ? 2 * q->lp_cap : 8;
        lp_entry *f = realloc(q->lp_fifo, cap * sizeof *f);
        if (!f) return;
        q->lp_fifo = f;
        q->lp_cap = cap;
    }
    q->lp_fifo[q->lp_head + q->lp_n++] = *e;
}

static void seq_fail(fk_seq *q, int status, const char *msg)
{
    q->finish = FK_FINISH_ERROR;
    q->err_status = status;
    snprintf(q->err_msg, sizeof q->err_msg, "%s", msg);
}

/* Restrict row (// (V,)) to what q's constraint allows (building the
 * vocabulary index the first time). 0, or -1 with q failed. */
static int constrain_row(fk_sched *s, fk_seq *q, float *row)
{
    char err[160];
    if (!s->tm && !(s->tm = fk_tokmask_new(s->vocab.token_bytes, s->vocab.is_special, s->vocab.ud,
                                           s->vocab_size, err, sizeof err))) {
        seq_fail(q, 500, err);
        return -1;
    }
    if (fk_constraint_mask(q->con, s->tm, row, s->vocab_size) > 0) return 0;
    seq_fail(q, 500, "constrained sampling: no token may follow (a bug)");
    return -1;
}

/* Sample q's next token from row (// (V,)), or -1 when q failed. With
 * logprobs asked for, the row's log-softmax is taken first (the constraint
 * and the sampler change the row) and the token's entry is queued for its
 * piece. */
static int32_t sample(fk_sched *s, fk_seq *q, float *row)
{
    int V = s->vocab_size, lp = q->top_logprobs >= 0;
    lp_entry e;
    double lse = 0;
    if (lp) {
        lse = fk_logprobs_lse(row, V);
        fk_logprobs_top(row, V, q->top_logprobs, lse, &e.lp);
        memcpy(s->lp_row, row, (size_t)V * sizeof *row);
    }
    if (q->con && fk_constraint_active(q->con) && constrain_row(s, q, row) != 0) return -1;
    e.id = fk_sampler_sample(q->sampler, row);
    if (lp) {
        e.lp.logprob = (float)(s->lp_row[e.id] - lse);
        queue_logprobs(q, &e);
    }
    return e.id;
}

/* A piece for this step's output; a piece that announces a token carries
 * its logprobs. */
static int stage_push(fk_seq *q, const char *text, size_t len, int32_t id, int special)
{
    const fk_token_logprobs *lp = id >= 0 && q->top_logprobs >= 0 ? take_logprobs(q, id) : NULL;
    return out_push(&q->stage, text, len, id, special, lp);
}

/* Emit `len` released bytes as pieces, attributing them to held tokens in order. */
static int emit_released(fk_seq *q, const char *text, size_t len)
{
    while (len > 0 && q->n_held > 0) {
        held_token *h = &q->held[0];
        size_t take = h->remaining < len ? h->remaining : len;
        if (stage_push(q, text, take, h->announced ? -1 : h->id, 0) != 0) return -1;
        h->announced = 1;
        h->remaining -= take;
        text += take;
        len -= take;
        if (h->remaining == 0) {
            memmove(q->held, q->held + 1, (q->n_held - 1) * sizeof *q->held);
            q->n_held--;
        }
    }
    return 0;
}

/* Release whatever the stop matcher holds (no stop string can match any more). */
static int flush_held(fk_seq *q)
{
    if (!q->stop) return 0;
    const char *out;
    size_t len;
    fk_stopstr_flush(q->stop, &out, &len);
    int rc = emit_released(q, out, len);
    q->n_held = 0;
    return rc;
}

/* Text token: through the stop matcher when there is one. Sets q->finish on a match. */
static int emit_text(fk_seq *q, int32_t tok, const char *bytes, size_t len)
{
    if (!q->stop || len == 0) return stage_push(q, bytes, len, tok, 0);
    if (q->n_held == q->cap_held) {
        size_t cap = q->cap_held ? q->cap_held * 2 : 8;
        held_token *h = realloc(q->held, cap * sizeof *h);
        if (!h) return -1;
        q->held = h;
        q->cap_held = cap;
    }
    q->held[q->n_held++] = (held_token){tok, len, 0};
    const char *out;
    size_t n;
    int rc = fk_stopstr_feed(q->stop, bytes, len, &out, &n);
    if (rc < 0) return -1;
    if (emit_released(q, out, n) != 0) return -1;
    if (rc == 1) {
        q->n_held = 0;
        q->finish = FK_FINISH_STOP_WORD;
    }
    return 0;
}

/* A token was sampled for q (-1: sampling failed q): record it, emit it,
 * decide whether q ends. */
static void take_token(fk_sched *s, fk_seq *q, int32_t tok)
{
    if (tok < 0) return;
    if (q->con && fk_constraint_feed(q->con, tok) != 0) {
        seq_fail(q, 500, "constrained sampling: a sampled token broke the constraint (a bug)");
        return;
    }
    double t = now_ms();
    if (q->n_generated == 0) q->t_first = t;
    q->t_last = t;
    q->tokens[q->n_prompt + q->n_generated++] = tok;
    s->wstats.generated_tokens++;
    int rc = fk_sampler_accept(q->sampler, tok);
    size_t len = 0;
    const char *bytes = s->vocab.token_bytes(s->vocab.ud, tok, &len);
    if (!bytes) len = 0;
    int eos = is_eos(s, q, tok);
    if (rc == 0 && (eos || s->vocab.is_special(s->vocab.ud, tok))) {
        rc = flush_held(q);
        if (rc == 0) rc = stage_push(q, bytes, len, tok, 1);
        if (eos) q->finish = FK_FINISH_STOP;
    } else if (rc == 0) {
        rc = emit_text(q, tok, bytes, len);
    }
    if (rc != 0) {
        seq_fail(q, 500, "out of memory while emitting output");
        return;
    }
    if (q->finish == FK_FINISH_NONE && q->n_generated >= q->max_new) {
        if (flush_held(q) != 0)
            seq_fail(q, 500, "out of memory while emitting output");
        else
            q->finish = FK_FINISH_LENGTH;
    }
}

/* ---- the step (worker, the mutex released) ------------------------------------------ */

/* 1 when a running sequence must wait for its paused output to drain (under mu). */
static int blocked(const fk_sched *s, const fk_seq *q)
{
    return q->paused && q->out.n_p >= (size_t)s->cfg.max_buffered;
}

static void admitted_remove(fk_sched *s, fk_seq *q)
{
    int i = 0;
    while (s->admitted[i] != q) i++;
    memmove(s->admitted + i, s->admitted + i + 1, (size_t)(s->n_admitted - i - 1) * sizeof q);
    s->n_admitted--;
    q->admitted = 0;
}

/* Give up q's KV blocks (full ones stay in the prefix cache): it waits to be
 * admitted again and then recomputes what it had (vLLM's recompute
 * preemption). Its sampled tokens and output are kept. */
static void preempt(fk_sched *s, fk_seq *q)
{
    fk_kv_reset(q->kv);
    admitted_remove(s, q);
    s->wstats.preemptions++;
}

/* Back the next `todo` positions of admitted q with blocks, preempting the
 * most recently admitted sequences while the pool is short (q itself last).
 * 1 when q got them, 0 when q was preempted or finished. */
static int make_room(fk_sched *s, fk_seq *q, int todo)
{
    if (fk_kv_len(q->kv) + todo > fk_kv_capacity(q->kv)) {
        /* Never by construction (capacity is prompt + budget): stop, do not preempt. */
        if (flush_held(q) != 0)
            seq_fail(q, 500, "out of memory while emitting output");
        else
            q->finish = FK_FINISH_LENGTH;
        return 0;
    }
    while (fk_kv_reserve(q->kv, todo) != FK_OK) {
        fk_seq *victim = s->admitted[s->n_admitted - 1];
        preempt(s, victim);
        if (victim == q) return 0;
    }
    return 1;
}

/* Take waiting q into the batch if the pool has room for its first chunk
 * (at most `budget` positions) with a block to spare for each running
 * sequence, so that new arrivals do not make the running ones preempt each
 * other. The prefix cache supplies what it can first. Returns the positions
 * to prefill now (0: q is fully cached and decodes next), or -1 when it
 * does not fit (q stays waiting) or failed. */
static int admit(fk_sched *s, fk_seq *q, int budget)
{
    if (!q->kv && !(q->kv = fk_kv_new(s->pool, q->n_prompt + q->max_new))) {
        seq_fail(q, 503, "out of memory for the KV cache's tables");
        return -1;
    }
    int fresh = q->n_generated == 0;
    /* A fresh sequence needs logits at its last prompt token; a preempted one
     * only its cache back (its next token is already sampled). */
    q->n_target = q->n_prompt + (fresh ? 0 : q->n_generated - 1);
    int reused = fk_kv_reuse_prefix(q->kv, q->tokens, q->n_target, fresh);
    int todo = q->n_target - reused < budget ? q->n_target - reused : budget;
    int need = todo > 0 ? todo : 1;
    size_t spare = (size_t)s->n_admitted, free_blocks = fk_kv_pool_free_blocks(s->pool);
    if (fk_kv_reserve_cost(q->kv, need) + spare > free_blocks ||
        fk_kv_reserve(q->kv, need) != FK_OK) {
        fk_kv_reset(q->kv);
        s->stuck_free = fk_kv_pool_free_blocks(s->pool);
        return -1;
    }
    if (q->cached < 0) { /* the first admission: the prompt's cache hit */
        q->cached = reused;
        q->t_prefill_start = now_ms();
        s->wstats.prefix_queries += (uint64_t)q->n_prompt;
        s->wstats.prefix_hits += (uint64_t)reused;
    }
    s->admitted[s->n_admitted++] = q;
    q->admitted = 1;
    s->stuck_free = SIZE_MAX;
    return todo;
}

/* The model failed on this sequence: a prompt token outside the vocabulary
 * is the client's error (400), anything else the engine's (500), and the
 * message is the model's own ("model.c:412: attention: unsupported shape"). */
static void seq_fail_model(fk_sched *s, fk_seq *q, fk_status st)
{
    seq_fail(q, st == FK_ERR_TOKEN ? 400 : 500, fk_run_error(s->run));
}

/* Prefill pre[i] by pre_todo[i] positions each; a fresh sequence that
 * reaches its last prompt token samples its first token. */
static void prefill_step(fk_sched *s, int n)
{
    for (int i = 0; i < n; i++) {
        fk_seq *q = s->pre[i];
        int todo = s->pre_todo[i], len = fk_kv_len(q->kv);
        int ends = len + todo == q->n_target, fresh = q->n_generated == 0;
        /* Only the chunk that ends a fresh prompt needs logits: the others
         * skip the final norm and the lm_head pass (over 1 GB for 20b). */
        float *logits = ends && fresh ? s->logits : NULL;
        fk_status st = fk_model_forward(s->m, s->run, q->kv, q->tokens + len, todo, logits, 0);
        if (st != FK_OK) {
            seq_fail_model(s, q, st);
            continue;
        }
        if (!ends || !fresh) continue;
        q->t_prefill_end = now_ms();
        s->wstats.prompt_tokens += (uint64_t)q->n_prompt;
        take_token(s, q, sample(s, q, s->logits));
    }
}

/* 1 when q's next token needs the logits on the host: it samples, reports
 * logprobs or is constrained; else the backend's argmax is its pick. */
static int needs_logits(const fk_seq *q)
{
    return !fk_sampler_is_greedy(q->sampler) || q->top_logprobs >= 0 ||
           (q->con && fk_constraint_active(q->con));
}

/* One fk_model_decode over batch[0..B): each feeds the token at its cache's
 * length (the last one sampled). Greedy sequences take the backend's argmax;
 * the logits come to the host only when some sequence needs them. */
static void decode_step(fk_sched *s, int B)
{
    if (B == 0) return;
    size_t V = (size_t)s->vocab_size;
    int sampled = 0;
    for (int b = 0; b < B; b++) {
        fk_seq *q = s->batch[b];
        s->kvs[b] = q->kv;
        s->tokens[b] = q->tokens[fk_kv_len(q->kv)];
        sampled |= needs_logits(q);
    }
    s->wstats.decode_calls++;
    s->wstats.decode_rows += (uint64_t)B;
    if (B > s->wstats.max_batch_seen) s->wstats.max_batch_seen = B;
    fk_status st =
        fk_model_decode(s->m, s->run, s->kvs, s->tokens, B, sampled ? s->logits : NULL, s->greedy);
    if (st != FK_OK) {
        for (int b = 0; b < B; b++) seq_fail_model(s, s->batch[b], st);
        return;
    }
    for (int b = 0; b < B; b++) {
        fk_seq *q = s->batch[b];
        int32_t tok = needs_logits(q) ? sample(s, q, s->logits + b * V) : s->greedy[b];
        take_token(s, q, tok);
    }
}

/* Release the KV of every finished sequence. */
static void release_finished(fk_sched *s, fk_seq *live)
{
    for (fk_seq *q = live; q; q = q->wnext) {
        if (q->finish == FK_FINISH_NONE || !q->kv) continue;
        if (q->admitted) admitted_remove(s, q);
        fk_kv_free(q->kv);
        q->kv = NULL;
    }
}

/* One step over the snapshot `live` (submission order): cancellations, the
 * admitted sequences' next tokens (oldest first, preempting the newest when
 * blocks run out), admissions in order of arrival, then the prefill chunks
 * and one batched decode. */
static void step(fk_sched *s, fk_seq *live)
{
    for (fk_seq *q = live; q; q = q->wnext)
        if (q->w_cancel && q->finish == FK_FINISH_NONE) q->finish = FK_FINISH_CANCELLED;
    release_finished(s, live);
    int budget = s->cfg.prefill_chunk, n_pre = 0, B = 0;
    uint64_t preempted = s->wstats.preemptions;
    for (int i = 0; i < s->n_admitted; i++) {
        fk_seq *q = s->admitted[i];
        if (q->w_blocked) continue;
        int len = fk_kv_len(q->kv), prefilling = len < q->n_target;
        int todo = !prefilling ? 1 : q->n_target - len < budget ? q->n_target - len : budget;
        if (todo == 0) continue; /* the step's prefill budget is spent */
        if (!make_room(s, q, todo)) {
            i--; /* q left the list (or finished): look at index i again */
            if (q->finish != FK_FINISH_NONE) i++;
            continue;
        }
        if (prefilling) {
            s->pre[n_pre] = q;
            s->pre_todo[n_pre++] = todo;
            budget -= todo;
        } else {
            s->batch[B++] = q;
        }
    }
    /* New and preempted sequences, in order of arrival, while there is room;
     * none in a step that had to preempt. */
    for (fk_seq *q = live; q && s->wstats.preemptions == preempted; q = q->wnext) {
        if (q->admitted || q->finish != FK_FINISH_NONE || q->w_blocked) continue;
        if (s->n_admitted >= s->cfg.max_batch || budget <= 0) break;
        int todo = admit(s, q, budget);
        if (todo < 0 && q->finish == FK_FINISH_NONE) break; /* first come, first served */
        if (todo > 0) {
            s->pre[n_pre] = q;
            s->pre_todo[n_pre++] = todo;
            budget -= todo;
        } else if (todo == 0) {
            s->batch[B++] = q;
        }
    }
    prefill_step(s, n_pre);
    decode_step(s, B);
    release_finished(s, live);
    s->wstats.steps++;
}

/* ---- publication (worker, under mu) ---------------------------------------------------- */

/* Move q's staged output to its shared queue. The loop only ever empties
 * q->out, so room found with the mutex released is still there after: the
 * (rare) growth happens unlocked, and nothing is allocated under mu. */
static int publish_output(fk_sched *s, fk_seq *q)
{
    if (q->stage.n_p == 0) return 0;
    if (q->out.n_p == 0) {
        out_swap(&q->out, &q->stage);
        return 0;
    }
    if (!out_fits(&q->out, &q->stage)) {
        out_buf big = {0};
        size_t n_p = q->out.n_p + q->stage.n_p, n_bytes = q->out.n_bytes + q->stage.n_bytes;
        pthread_mutex_unlock(&s->mu);
        int rc = out_reserve(&big, 2 * n_p, 2 * n_bytes);
        pthread_mutex_lock(&s->mu);
        if (rc != 0) {
            out_free(&big);
            return -1;
        }
        out_append(&big, &q->out);
        out_swap(&big, &q->out);
        out_append(&q->out, &q->stage);
        out_swap(&big, &q->stage); /* the old queue's arrays serve as the next stage */
        out_free(&big);            /* and the old stage's go */
        return 0;
    }
    out_append(&q->out, &q->stage);
    return 0;
}

/* Publish the step: output, states, waiting notes and counters. Returns 1
 * when the loop should be notified. */
static int publish_locked(fk_sched *s, fk_seq *live)
{
    int any = 0;
    double t = now_ms();
    for (fk_seq *q = live; q; q = q->wnext) {
        if (publish_output(s, q) != 0 && q->finish == FK_FINISH_NONE) {
            seq_fail(q, 500, "out of memory while queueing output");
            pthread_mutex_unlock(&s->mu);
            release_finished(s, live);
            pthread_mutex_lock(&s->mu);
        }
        any |= q->out.n_p > 0;
        if (q->finish != FK_FINISH_NONE) {
            if (q->cancel) q->out.n_p = q->out.n_bytes = 0;
            q->state = SEQ_FINISHED;
            any = 1;
            continue;
        }
        q->state = q->admitted ? SEQ_RUNNING : SEQ_WAITING;
        int waits = !q->admitted || fk_kv_len(q->kv) < q->n_target;
        if (!waits || t - q->t_note < 1000) continue;
        q->note = q->admitted ? "Processing prompt" : "Waiting for a free slot";
        q->t_note = t;
        any = 1;
    }
    s->wstats.kv_blocks_total = fk_kv_pool_blocks(s->pool);
    s->wstats.kv_blocks_used = s->wstats.kv_blocks_total - fk_kv_pool_free_blocks(s->pool);
    s->wstats.kv_blocks_cached = fk_kv_pool_cached_blocks(s->pool);
    s->stats = s->wstats;
    return any;
}

/* ---- the worker ---------------------------------------------------------------------- */

/* Under mu: 1 when the worker has something to do. */
static int has_work(const fk_sched *s)
{
    int waiting = 0;
    for (const fk_seq *q = s->seqs; q; q = q->next) {
        if (q->state == SEQ_FINISHED) continue;
        if (q->cancel) return 1;
        if (q->admitted && !blocked(s, q)) return 1;
        waiting |= !q->admitted;
    }
    /* A waiting sequence may fit once blocks were freed since the last try. */
    return waiting && s->n_admitted < s->cfg.max_batch &&
           fk_kv_pool_free_blocks(s->pool) != s->stuck_free;
}

/* Under mu: link the sequences the worker may touch this step (every one
 * not finished: the loop frees only finished ones) and note their flags. */
static fk_seq *snapshot_locked(fk_sched *s)
{
    fk_seq *live = NULL, **tail = &live;
    for (fk_seq *q = s->seqs; q; q = q->next) {
        if (q->state == SEQ_FINISHED) continue;
        q->w_cancel = q->cancel;
        q->w_blocked = blocked(s, q);
        q->wnext = NULL;
        *tail = q;
        tail = &q->wnext;
    }
    return live;
}

static void *worker_main(void *arg)
{
    fk_sched *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stop && !has_work(s)) pthread_cond_wait(&s->wake, &s->mu);
        if (s->stop) break;
        fk_seq *live = snapshot_locked(s);
        pthread_mutex_unlock(&s->mu);
        step(s, live);
        pthread_mutex_lock(&s->mu);
        if (publish_locked(s, live)) {
            pthread_mutex_unlock(&s->mu);
            s->cfg.notify(s->cfg.notify_ud);
            pthread_mutex_lock(&s->mu);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- the loop-thread side ------------------------------------------------------------ */

/* Frees what s owns besides its thread, its lock and its sequences (which
 * fk_sched_free stops and frees first), and s itself. */
static void free_owned(fk_sched *s)
{
    fk_run_free(s->run);
    fk_tokmask_free(s->tm);
    free(s->logits);
    free(s->lp_row);
    free(s->kvs);
    free(s->tokens);
    free(s->greedy);
    free(s->batch);
    free(s->pre);
    free(s->pre_todo);
    free(s->admitted);
    free(s);
}

fk_sched *fk_sched_new(const fk_model *m, fk_kv_pool *pool, const fk_sched_vocab *vocab,
                       const fk_sched_config *cfg, char *err, size_t err_len)
{
    if (!m || !pool || !vocab || !vocab->token_bytes || !vocab->is_special || !cfg ||
        !cfg->notify) {
        snprintf(err, err_len,
                 "scheduler: a model, a KV pool, a vocabulary and a notify callback are required");
        return NULL;
    }
    fk_sched *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->m = m;
    s->pool = pool;
    s->vocab = *vocab;
    s->cfg = *cfg;
    s->mc = fk_model_config(m);
    s->vocab_size = s->mc->vocab_size;
    s->stuck_free = SIZE_MAX;
    s->has_hids = fk_harmony_ids_find(&s->hids, vocab->token_bytes, vocab->is_special, vocab->ud,
                                      s->vocab_size) == 0;
    if (s->cfg.max_batch <= 0) s->cfg.max_batch = 8;
    if (s->cfg.prefill_chunk <= 0) s->cfg.prefill_chunk = 512;
    if (s->cfg.max_buffered <= 0) s->cfg.max_buffered = 64;
    int model_len = s->mc->max_position_embeddings;
    if (s->cfg.max_model_len <= 0 || s->cfg.max_model_len > model_len)
        s->cfg.max_model_len = model_len;
    /* A sequence the pool cannot hold alone could never finish. */
    int pool_len = fk_kv_pool_max_tokens(pool, s->cfg.prefill_chunk);
    if (s->cfg.max_model_len > pool_len) s->cfg.max_model_len = pool_len;
    if (s->cfg.max_model_len < 2) {
        snprintf(err, err_len, "scheduler: the KV cache holds %zu blocks, not even 2 positions",
                 fk_kv_pool_blocks(pool));
        free(s);
        return NULL;
    }
    fk_kv_pool_set_prefix_cache(pool, s->cfg.prefix_cache);
    s->wstats.kv_blocks_total = fk_kv_pool_blocks(pool); /* known before the first step */
    s->wstats.kv_blocks_used = fk_kv_pool_blocks(pool) - fk_kv_pool_free_blocks(pool);
    s->stats = s->wstats;
    s->run = fk_run_new(m, err, err_len);
    if (!s->run) {
        free(s);
        return NULL;
    }
    size_t B = (size_t)s->cfg.max_batch;
    s->logits = malloc(B * (size_t)s->vocab_size * sizeof *s->logits);
    s->lp_row = malloc((size_t)s->vocab_size * sizeof *s->lp_row);
    s->kvs = calloc(B, sizeof *s->kvs);
    s->tokens = calloc(B, sizeof *s->tokens);
    s->greedy = calloc(B, sizeof *s->greedy);
    s->batch = calloc(B, sizeof *s->batch);
    s->pre = calloc(B, sizeof *s->pre);
    s->pre_todo = calloc(B, sizeof *s->pre_todo);
    s->admitted = calloc(B, sizeof *s->admitted);
    if (!s->logits || !s->lp_row || !s->kvs || !s->tokens || !s->greedy || !s->batch || !s->pre ||
        !s->pre_todo || !s->admitted)
        goto oom;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    int rc = pthread_create(&s->thread, NULL, worker_main, s);
    if (rc != 0) {
        snprintf(err, err_len, "scheduler: cannot start the worker thread: %s", strerror(rc));
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->wake);
        goto fail;
    }
    return s;
oom:
    snprintf(err, err_len, "scheduler: out of memory");
fail:
    if (s) free_owned(s);
    return NULL;
}

void fk_sched_free(fk_sched *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    while (s->seqs) {
        fk_seq *q = s->seqs;
        s->seqs = q->next;
        seq_free(q);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->wake);
    free_owned(s);
}

int fk_sched_max_model_len(const fk_sched *s)
{
    return s->cfg.max_model_len;
}

/* A constraint over req's tools (taken over) that has followed the
 * prompt's last message (from its last <|start|>). NULL on OOM. */
static fk_constraint *new_constraint(const fk_sched *s, const fk_sched_request *req)
{
    fk_constraint *c = fk_constraint_new(req->tools, &s->hids, s->vocab.token_bytes,
                                         s->vocab.is_special, s->vocab.ud);
    if (!c) return NULL;
    int from = req->n_prompt - 1;
    while (from > 0 && req->prompt[from] != s->hids.start) from--;
    for (int i = from; i < req->n_prompt; i++) fk_constraint_feed(c, req->prompt[i]);
    return c;
}

fk_seq *fk_sched_submit(fk_sched *s, const fk_sched_request *req, const fk_gen_callbacks *cb,
                        void *ud)
{
    if (!req || req->n_prompt < 1 || req->n_prompt >= s->cfg.max_model_len || !cb ||
        !cb->on_pieces || !cb->on_done)
        return NULL;
    fk_seq *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    q->s = s;
    fk_abi_copy(&q->cb, sizeof q->cb, cb, cb->struct_size);
    q->ud = ud;
    q->n_prompt = req->n_prompt;
    q->cached = -1;
    int room = s->cfg.max_model_len - req->n_prompt;
    q->max_new = req->max_tokens > 0 && req->max_tokens < room ? req->max_tokens : room;
    q->tokens = malloc((size_t)(q->n_prompt + q->max_new) * sizeof *q->tokens);
    q->sampler = fk_sampler_new(&req->sampling, s->vocab_size);
    q->top_logprobs = !req->logprobs                            ? -1
                      : req->top_logprobs > FK_TOP_LOGPROBS_MAX ? FK_TOP_LOGPROBS_MAX
                      : req->top_logprobs < 0                   ? 0
                                                                : req->top_logprobs;
    if (req->n_stop) q->stop = fk_stopstr_new(req->stop, req->n_stop);
    if (req->n_stop_ids) {
        q->stop_ids = malloc(req->n_stop_ids * sizeof *q->stop_ids);
        if (q->stop_ids) memcpy(q->stop_ids, req->stop_ids, req->n_stop_ids * sizeof *q->stop_ids);
        q->n_stop_ids = req->n_stop_ids;
    }
    if (!q->tokens || !q->sampler || (req->n_stop && !q->stop) ||
        (req->n_stop_ids && !q->stop_ids)) {
        seq_free(q);
        return NULL;
    }
    if (q->stop && !fk_stopstr_active(q->stop)) {
        fk_stopstr_free(q->stop);
        q->stop = NULL;
    }
    if (req->tools && req->tools->n && s->has_hids && !(q->con = new_constraint(s, req))) {
        seq_free(q);
        return NULL;
    }
    memcpy(q->tokens, req->prompt, (size_t)req->n_prompt * sizeof *q->tokens);
    q->t_submit = q->t_note = now_ms();
    pthread_mutex_lock(&s->mu);
    fk_seq **tail = &s->seqs;
    while (*tail) tail = &(*tail)->next;
    *tail = q;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    return q;
}

void fk_sched_cancel(fk_seq *q)
{
    fk_sched *s = q->s;
    pthread_mutex_lock(&s->mu);
    q->cancel = 1;
    int finished = q->state == SEQ_FINISHED;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    if (finished) s->cfg.notify(s->cfg.notify_ud); /* on_done comes from deliver */
}

void fk_sched_resume(fk_seq *q)
{
    fk_sched *s = q->s;
    pthread_mutex_lock(&s->mu);
    q->paused = 0;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    s->cfg.notify(s->cfg.notify_ud);
}

void fk_sched_get_stats(fk_sched *s, fk_sched_stats *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    out->waiting = out->running = 0;
    for (const fk_seq *q = s->seqs; q; q = q->next) {
        out->waiting += q->state == SEQ_WAITING;
        out->running += q->state == SEQ_RUNNING;
    }
    pthread_mutex_unlock(&s->mu);
}

/* Per-delivery decisions, taken under mu and acted on after it is released. */
enum { DELIVER_PIECES = 1, DELIVER_DONE = 2 };

static void call_on_pieces(fk_seq *q)
{
    if (q->cap_pieces < q->deliv.n_p) {
        fk_piece *p = realloc(q->pieces, q->deliv.n_p * sizeof *p);
        if (p) q->pieces = p;
        fk_top_logprob *t = p && q->top_logprobs > 0
                                ? realloc(q->tops, q->deliv.n_p * FK_TOP_LOGPROBS_MAX * sizeof *t)
                                : q->tops;
        if (t) q->tops = t;
        if (!p || (q->top_logprobs > 0 && !t)) return; /* pieces lost only on OOM */
        q->cap_pieces = q->deliv.n_p;
    }
    for (size_t i = 0; i < q->deliv.n_p; i++) {
        const out_piece *o = &q->deliv.p[i];
        fk_top_logprob *top = q->tops ? q->tops + i * FK_TOP_LOGPROBS_MAX : NULL;
        for (int k = 0; top && k < o->lp.n_top; k++) {
            size_t len = 0;
            const char *text = q->s->vocab.token_bytes(q->s->vocab.ud, o->lp.top_id[k], &len);
            top[k] = (fk_top_logprob){o->lp.top_id[k], o->lp.top_logprob[k], text ? text : "",
                                      text ? len : 0};
        }
        q->pieces[i] = (fk_piece){.text = q->deliv.bytes + o->off,
                                  .len = o->len,
                                  .token_id = o->token_id,
                                  .is_special = o->is_special,
                                  .logprob = o->lp.logprob,
                                  .n_top = top ? (uint32_t)o->lp.n_top : 0,
                                  .top = top && o->lp.n_top ? top : NULL};
    }
    int pause = q->cb.on_pieces(q->ud, q->pieces, q->deliv.n_p, sizeof *q->pieces);
    q->deliv.n_p = q->deliv.n_bytes = 0;
    if (pause != 1) return;
    pthread_mutex_lock(&q->s->mu);
    q->paused = 1;
    pthread_mutex_unlock(&q->s->mu);
}

static void call_on_done(fk_seq *q)
{
    fk_gen_stats st = {.struct_size = sizeof st};
    st.prompt_tokens = q->n_prompt;
    st.cached_tokens = q->cached > 0 ? q->cached : 0;
    st.completion_tokens = q->n_generated;
    st.finish = q->cancel ? FK_FINISH_CANCELLED : q->finish;
    double end = now_ms();
    double pre0 = q->t_prefill_start ? q->t_prefill_start : end;
    st.queue_ms = pre0 - q->t_submit;
    if (q->t_prefill_end) st.prefill_ms = q->t_prefill_end - q->t_prefill_start;
    if (q->n_generated) st.decode_ms = q->t_last - q->t_first;
    fk_error e = {.struct_size = sizeof e};
    if (st.finish == FK_FINISH_ERROR) {
        e.http_status = q->err_status;
        e.type = q->err_status == 503   ? "unavailable_error"
                 : q->err_status == 400 ? "invalid_request_error"
                                        : "server_error";
        e.message = q->err_msg;
    }
    q->cb.on_done(q->ud, &st, st.finish == FK_FINISH_ERROR ? &e : NULL);
}

void fk_sched_deliver(fk_sched *s)
{
    fk_seq *list = NULL, **tail = &list;
    pthread_mutex_lock(&s->mu);
    for (fk_seq *q = s->seqs; q; q = q->next) {
        int done = q->state == SEQ_FINISHED && (!q->paused || q->cancel);
        int pieces = q->out.n_p > 0 && !q->paused && !q->cancel;
        if (!done && !pieces && !q->note) continue;
        if (pieces) {
            out_buf t = q->deliv; /* empty: swap buffers instead of copying */
            q->deliv = q->out;
            q->out = t;
        }
        q->deliver_flags = (pieces ? DELIVER_PIECES : 0) | (done ? DELIVER_DONE : 0);
        q->deliver_note = q->note;
        q->note = NULL;
        q->deliver_next = NULL;
        *tail = q;
        tail = &q->deliver_next;
    }
    pthread_mutex_unlock(&s->mu);

    for (fk_seq *q = list, *next; q; q = next) {
        next = q->deliver_next;
        if (q->deliver_note && q->cb.on_waiting && !(q->deliver_flags & DELIVER_DONE))
            q->cb.on_waiting(q->ud, q->deliver_note);
        if (q->deliver_flags & DELIVER_PIECES) call_on_pieces(q);
        if (!(q->deliver_flags & DELIVER_DONE)) continue;
        pthread_mutex_lock(&s->mu);
        int held_back = q->paused && !q->cancel; /* paused by the pieces just delivered */
        pthread_mutex_unlock(&s->mu);
        if (held_back) continue;
        call_on_done(q);
        pthread_mutex_lock(&s->mu);
        fk_seq **pp = &s->seqs;
        while (*pp != q) pp = &(*pp)->next;
        *pp = q->next;
        pthread_mutex_unlock(&s->mu);
        seq_free(q);
    }
}
