/* proxy.h: private shapes of the llama.cpp proxy driver (one core, its
 * replicas, its generations) shared by its files. Everything runs on the
 * loop thread. */
#ifndef FK_LLAMA_PROXY_H
#define FK_LLAMA_PROXY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "curl_loop.h"
#include "fast_event.h"
#include "driver.h"
#include "drivers/prompt.h"
#include "harmony/harmony.h"
#include "harmony/strbuf.h"
#include "seg_cache.h"
#include "tokenizer/fktok.h"
#include "transfer.h"

struct event;
struct event_base;

/* ---- configuration --------------------------------------------------------------- */

typedef struct proxy_config {
    char *api_base;       /* FK_CORE_API_BASE: one base URL or a comma-separated list */
    char *model_id;       /* FRONTEND_VLLM_MODEL, or NULL (then from /props) */
    int use_harmony;      /* FRONTEND_USE_HARMONY (core_config) */
    int max_model_len;    /* VLLM_MAX_MODEL_LEN, 0: ask upstream */
    char *tokenizer_path; /* FK_TOKENIZER (resolved path), or NULL for the bundled o200k_harmony */
    long health_interval_ms; /* FK_LLAMA_HEALTH_INTERVAL_MS while not ready */
    long health_ready_ms;    /* FK_LLAMA_HEALTH_READY_INTERVAL_MS once ready */
    long waiting_notify_ms;  /* FK_LLAMA_WAITING_NOTIFY_MS: on_waiting period */
    long connect_timeout_ms; /* FK_LLAMA_CONNECT_TIMEOUT_MS */
    long first_byte_ms;      /* FK_LLAMA_FIRST_BYTE_TIMEOUT_S, in ms */
    long idle_ms;            /* FK_LLAMA_IDLE_TIMEOUT_S, in ms */
} proxy_config;

/* ---- the core and its replicas ----------------------------------------------------------- */

typedef struct fk_gen fk_gen;

#define REPLICAS_MAX 64   /* upstreams per core (fk_gen.tried is a 64-bit mask) */
#define STICKY_SLOTS 4096 /* prompts the prefix table remembers per core */
#define STICKY_PROBES 4   /* table slots one prompt hash may occupy */
#define STICKY_SLACK                                                                               \
    2 /* a prompt stays on its replica while that one runs at most this many                       \
         more requests than the least busy one (or has a free slot) */

/* What health.c is asking a replica. */
typedef enum poll_kind {
    POLL_HEALTH = 0, /* GET /health: ready, loading, unreachable */
    POLL_PROPS = 1,  /* GET /props: n_ctx and the model file, once after it is ready */
    POLL_SLOTS = 2,  /* GET /slots: its slots and how many are busy, while ready */
} poll_kind;

/* One llama-server behind the core (FK_CORE_API_BASE lists one or more). */
typedef struct replica {
    fk_core *core;            /* owner */
    int index;                /* position in core->replicas */
    char *base;               /* its base URL, without a trailing slash (owned) */
    fk_health health;         /* last verdict (polls, and requests that failed) */
    char health_detail[400];  /* why not ready (with a hint for the operator) */
    fk_xfer *poll_xfer;       /* the poll in flight */
    poll_kind poll;           /* what it asks */
    struct event *poll_timer; /* next poll */
    int props_done;           /* /props answered (n_ctx, model path known) */
    int n_ctx;                /* /props n_ctx, 0 unknown */
    char *model;              /* basename of /props model_path, or NULL */
    int slots_unsupported;    /* /slots answered with something else than a list: not asked again */
    int slots_total;          /* slots at the last /slots; -1 unknown */
    int slots_busy;           /* of those, processing then (any client's) */
    int in_flight_at_slots;   /* in_flight when /slots was read (our share of slots_busy) */
    int in_flight;            /* this core's generations on it now */
    uint64_t requests;        /* requests sent to it */
    uint64_t failures;        /* of those, ended by a transport failure or an error status */
    uint64_t retries;         /* requests moved from it to another replica before any output */
    uint64_t sticky;          /* requests sent to it because it held their prompt's prefix */
} replica;

/* One remembered prompt: the replica that served it. */
typedef struct sticky_entry {
    uint64_t hash; /* the prompt's prefix hash (0: empty slot) */
    int replica;   /* index in core->replicas */
    uint64_t used; /* core->sticky_clock when recorded (the oldest is replaced) */
} sticky_entry;

struct fk_core {
    const fk_host *host;     /* the gateway's services (borrowed) */
    struct event_base *base; /* the loop (borrowed) */
    proxy_config cfg;        /* parsed once at create */
    fk_curl_loop *curl;      /* libcurl multi on the loop */
    fktok *tok;              /* tokenizer for Harmony prompts (lazy when not in Harmony mode) */
    seg_cache seg_cache;     /* ids of recent long prompt segments (loop thread) */

    replica *replicas;        /* the upstreams, in FK_CORE_API_BASE order (owned) */
    int n_replicas;           /* entries in replicas (1..REPLICAS_MAX) */
    int rr;                   /* where a tie among equally busy replicas is broken next */
    fk_health health;         /* READY when any replica is; else the most hopeful verdict */
    char health_detail[1024]; /* why not ready (each replica's reason when several) */
    sticky_entry *sticky;     /* the prefix table: STICKY_SLOTS entries (owned) */
    uint64_t sticky_clock;    /* prompts recorded so far */

    fk_gen *gens;   /* every generation not yet done (doubly linked) */
    fk_gen *spare;  /* a finished generation's memory for the next one, or NULL (owned;
                       a fresh calloc of this large struct cost more than its whole prompt) */
    int destroying; /* destroy() in progress */
};

/* ---- a generation ------------------------------------------------------------------------ */

typedef enum gen_state {
    GEN_RUNNING = 0, /* the upstream request is in flight (or about to fail) */
    GEN_DONE = 1,    /* on_done delivered (or about to be) */
} gen_state;

/* An error kept until on_done (fk_error with owned storage). */
typedef struct gen_error {
    int set;           /* an error was recorded */
    int http_status;   /* as fk_error */
    char type[32];     /* "server_error", ... */
    char code[48];     /* OpenAI string code, "" for none */
    char message[512]; /* states the numbers involved */
    int retry_after_s; /* > 0: Retry-After */
    int not_ready;     /* the upstream said it is loading before any output (fk_error.not_ready) */
} gen_error;

#define FK_MAX_TOP_LOGPROBS 20 /* alternatives per token OpenAI allows (top_logprobs) */

/* Output pieces collected for one on_pieces call; texts live in `arena`,
 * logprob alternatives in `tops`. */
typedef struct piece_buf {
    fk_piece *pieces;     /* text and top pointers are offsets until flush */
    size_t n;             /* pieces held */
    size_t cap;           /* allocated pieces */
    strbuf arena;         /* their bytes (lengths delimit them, not NULs) */
    fk_top_logprob *tops; /* alternatives of the pieces (texts borrowed from the tokenizer) */
    size_t n_tops;        /* entries used */
    size_t cap_tops;      /* entries allocated */
} piece_buf;

/* What decides which output tokens are special (native /completion). */
typedef enum out_rule {
    OUT_UNDECIDED = 0, /* no output yet */
    OUT_IDS = 1,       /* the upstream sends token ids: ids alone decide */
    OUT_TEXT = 2,      /* no ids: the Harmony text scanner reads spelled-out tags (weaker) */
} out_rule;

/* Pass-through: which message the pieces are writing now. */
typedef enum pt_msg {
    PT_NONE = 0,     /* nothing yet: still inside the first assistant header */
    PT_ANALYSIS = 1, /* reasoning */
    PT_FINAL = 2,    /* content */
    PT_TOOL = 3,     /* a tool call's arguments */
    PT_RAW = 4,      /* the upstream's content is Harmony text itself */
} pt_msg;

struct fk_gen {
    fk_core *core;        /* owner */
    fk_gen *prev, *next;  /* in core->gens */
    fk_gen_callbacks cb;  /* the host's callbacks (copied; absent ones NULL) */
    void *ud;             /* the host's context */
    fk_gen_mode mode;     /* Harmony/completion (native /completion) or pass-through */
    char request_id[96];  /* for logs and X-Request-Id */
    char *path;           /* upstream path ("/completion", "/v1/chat/completions") */
    char *body;           /* upstream request body (JSON) */
    gen_state state;      /* see gen_state */
    fk_xfer *xfer;        /* the upstream request, while running */
    replica *replica;     /* the replica the current try runs on, or NULL before the first */
    uint64_t tried;       /* replicas tried so far (bit i: replicas[i]): a retry goes elsewhere */
    int sticky;           /* the replica holding the prompt's longest remembered prefix; -1 none */
    uint64_t prompt_hash; /* the whole prompt's prefix hash, or 0 (nothing to remember) */
    int events;           /* upstream stream events read in the current try */
    struct event *wake;   /* zero-delay work: start, finish */
    struct event *notify; /* periodic on_waiting until the first piece */
    double t_created_ms;  /* monotonic ms at generate() */
    double t_first_byte_ms; /* monotonic ms of the upstream's first byte, 0 before */
    double t_started_ms;    /* monotonic ms the current try started (GEN_RUNNING) */
    double t_last_event_ms; /* monotonic ms of the try's last upstream event, 0 before */
    int cancelled;          /* cancel() was called */
    int pieces_sent;        /* pieces delivered to the host */
    gen_error err;          /* the error for on_done */
    fk_gen_stats stats;     /* counts and timings for on_done */
    piece_buf out;          /* pieces of the event being converted */
    hm_scanner *scanner;    /* spelled-out special tokens -> pieces */
    fast_event fast;        /* reader state for ordinary stream events (reused) */

    /* native /completion */
    int n_prompt;      /* prompt tokens we sent */
    int n_predict;     /* completion budget we asked for */
    int top_logprobs;  /* logprob alternatives the client asked for per token */
    int final_seen;    /* the stop:true event arrived */
    long n_generated;  /* tokens the upstream has generated so far (its own count) */
    int limit_reached; /* the driver ended the generation with finish length and the output
                          so far: the upstream went past n_predict, or its own output parser
                          failed */
    out_rule out_rule; /* fixed by the first event with output */

    /* pass-through */
    pt_msg pt;          /* message being written */
    int pt_messages;    /* messages opened so far */
    int pt_tool_index;  /* OpenAI index of the tool call being written */
    int pt_deltas;      /* content-bearing deltas seen (fallback token count) */
    int pt_finish_seen; /* a finish_reason arrived */
    int pt_done_seen;   /* data: [DONE] arrived */
    char pt_finish[24]; /* the upstream's finish_reason */
};

/* ---- driver.c: shared helpers ---------------------------------------------------------------- */

double proxy_now_ms(void);
void proxy_log(const fk_core *core, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Record an error for on_done (first one wins). */
void gen_fail(fk_gen *g, int http_status, const char *type, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Parse one upstream JSON object; NULL (after gen_fail 502 "malformed JSON")
 * when it is not one. The caller owns the result. */
json_t *gen_parse_object(fk_gen *g, const char *value, size_t len);
/* Queue one piece (text copied) for the next gen_flush. `id` is the token id
 * the upstream sent, or -1: pieces the driver writes or reads out of text
 * itself (pass-through, the text scanner) carry none, so the host counts only
 * tokens the upstream generated. */
int gen_piece(fk_gen *g, const char *text, size_t len, int32_t id, int is_special);
/* Give piece i of the pending output its log-probability and n alternatives
 * (copied). 0, or -1 on OOM. */
int gen_piece_logprobs(fk_gen *g, size_t i, float logprob, const fk_top_logprob *top, size_t n);
/* A special token piece by its spelling (no id: the driver wrote it). */
int gen_special(fk_gen *g, const char *spelling);
/* Deliver queued pieces. Returns 0 to go on, 1 when the host paused, -1 when cancelled. */
int gen_flush(fk_gen *g);
/* hm_piece_fn that queues scanner output into the gen (no ids). */
void gen_scanned_piece(void *ud, const char *text, size_t len, int is_special);

/* ---- harmony_mode.c: native /completion ---------------------------------------------------------
 */

/* Tokenize the prompt and build the /completion body into g. 0, or -1 with
 * *err filled (a refusal: 400 context_length_exceeded, bad special token). */
int harmony_prepare(fk_gen *g, const fk_gen_request *req, int max_model_len, fk_error *err,
                    char *msg, size_t msg_len);
int harmony_event(fk_gen *g, const char *field, char *value, size_t len);
void harmony_finish(fk_gen *g, const fk_xfer_end *end);

/* ---- grammar.c: constrained tool calls ---------------------------------------------- */

/* When req's prompt forces a tool call (it ends in the call's header),
 * append the /completion fields that constrain it (",\"grammar\":...,
 * \"logit_bias\":...") to fields; nothing otherwise. 0, or -1 with *err
 * filled (400 naming the tool whose schema no document satisfies; 500 on
 * OOM). */
int grammar_fields(fk_gen *g, const fk_gen_request *req, strbuf *fields, fk_error *err, char *msg,
                   size_t msg_len);

/* ---- passthrough.c ------------------------------------------------------------------------------
 */

int passthrough_prepare(fk_gen *g, const fk_gen_request *req, fk_error *err, char *msg,
                        size_t msg_len);
int passthrough_event(fk_gen *g, const char *field, char *value, size_t len);
void passthrough_finish(fk_gen *g, const fk_xfer_end *end);

/* ---- errors.c
 * ------------------------------------------------------------------------------------ */

/* An upstream error body (llama-server's {"error":{"code":<int>,...}}, or
 * anything else) and its HTTP status -> an OpenAI-shaped error in g. */
void errors_from_upstream(fk_gen *g, long http_status, const char *body, size_t len);
/* The same for an already parsed error object (a streamed error event). */
void errors_from_json(fk_gen *g, long http_status, const json_t *error);
/* 1 when an upstream error is llama-server's own chat-output parser refusing
 * what the model generated ("The model produced output that does not match
 * the expected <format> format"): not a failure of the generation, whose
 * output the modes deliver, ending with finish length (README, failures). */
int errors_output_parser_failed(const json_t *error);
/* A refusal from generate(): fill err (msg must outlive the call); returns -1. */
int errors_refuse(fk_error *err, const char *msg, int status, const char *code, const char *param);
/* Transport failures: connect, timeouts, upstream gone mid-stream. */
void errors_from_transport(fk_gen *g, const fk_xfer_end *end);
/* How a transfer ended, classified once for both modes: a transport
 * failure or an error status is recorded in g (NULL returned); a 2xx answer
 * that was not an event stream is returned parsed (owned; NULL after
 * recording 502 when it is not a JSON object) for the mode to read as its
 * one answer; a finished stream gives NULL. Nothing when g already failed or
 * stopped at its budget. */
json_t *errors_from_end(fk_gen *g, const fk_xfer_end *end);
/* After the mode read the end: a stream whose last event never came
 * (`complete` 0) is a transport failure. */
void errors_if_cut(fk_gen *g, const fk_xfer_end *end, int complete);

/* ---- health.c: per replica
 * ------------------------------------------------------------------------------------ */

int health_start(replica *r);
void health_stop(replica *r);
/* Poll now (e.g. after a refused connection). */
void health_poke(replica *r);
/* Set the replica's verdict (a poll, or a request that found it down). */
void health_set(replica *r, fk_health h, const char *detail);
/* Why the upstream at `base` cannot be reached, with what to do about it. */
void health_unreachable_detail(const char *base, CURLcode code, const char *curl_error, char *out,
                               size_t out_len);

/* ---- replicas.c: which replica serves a request
 * ------------------------------------------------------------------------------------ */

/* Parse cfg.api_base into core->replicas. 0, or -1 with err. */
int replicas_init(fk_core *core, char *err, size_t err_len);
void replicas_free(fk_core *core);
/* The core's verdict from its replicas' (after any of them changed). */
void replicas_update_health(fk_core *core);
/* The prompt as units (token ids, or one hash per chat message): which
 * replica holds its longest remembered prefix (g->sticky) and its own hash
 * (g->prompt_hash), remembered for the replica that gets it. */
void replicas_prefix(fk_gen *g, const uint64_t *units, size_t n);
/* The replica for g's next try: the one holding its prefix while that one is
 * ready and not much busier than the rest, else the least busy ready one
 * not tried yet; NULL when none is left. Counts the request on it. */
replica *replicas_choose(fk_gen *g);
/* The smallest n_ctx any replica reported (0: none known). */
int replicas_n_ctx(const fk_core *core);
/* The model file the first replica that knows it reported, or NULL. */
const char *replicas_model(const fk_core *core);

/* ---- driver.c: generations, for health.c ---------------------------------------------- */

/* A replica's /health got no answer: fail with 504 every generation running
 * on it that has heard nothing from it for silent_ms (a stopped llama-server
 * accepts connections and says nothing; the first-byte timeout is minutes). */
void gens_fail_silent(replica *r, double silent_ms, const char *why);

#endif
