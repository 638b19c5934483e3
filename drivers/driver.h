/* driver.h: the plugin ABI between fk-gateway (the host) and a core driver.
 *
 * This is the only header a driver shares with the gateway. A driver is a
 * shared object named fk-driver-NAME.so that exports one symbol:
 *
 *     const fk_driver *fk_driver_init(void);
 *
 * The loader opens it with RTLD_NOW | RTLD_LOCAL and checks the table.
 *
 * ---- Version rules ------------------------------------------------------------
 *
 * 1. FK_DRIVER_ABI_VERSION changes only when an existing member changes type,
 *    meaning or position (or is removed). The loader refuses a driver of
 *    another version, naming both.
 * 2. Within one version, structs only grow, at their end (append-only, like
 *    SQLite's sqlite3_api_routines). Every struct that crosses the boundary
 *    begins with `uint32_t struct_size`, the size its writer compiled, except
 *    array elements (fk_segment, fk_piece, fk_model_info, fk_replica_info), whose size travels
 *    beside the array: a reader steps through such an array with FK_AT, never
 *    with its own sizeof.
 * 3. No struct is embedded in another (a pointer is used), so growing one
 *    never moves the members of another.
 * 4. A reader uses a member only when the writer had it:
 *    FK_HAS(size, type, member). The simplest way is fk_abi_copy into a
 *    zeroed struct of the reader's own size: members the writer lacked read as
 *    zero/NULL, which is what "absent" means unless the member says otherwise
 *    (check FK_HAS for those).
 * 5. A side that writes into a struct the other side sized (fk_error in
 *    generate(), fk_model_info in list_models(), fk_core_metrics in
 *    metrics()) assigns members one by one, only those FK_HAS allows, and
 *    never assigns the whole struct (that would write past a smaller one).
 * 6. Optional table members (fk_driver.probe, .metrics, .replicas; fk_gen_callbacks.
 *    on_waiting) may be NULL or lie beyond the writer's struct_size: the
 *    caller checks both and never calls a missing one.
 * 7. A driver that needs a host service checks FK_HAS_MEMBER(host, fk_host,
 *    member) in create() and declines with a message naming the member when
 *    the host is too old. The host likewise accepts any driver table that has
 *    the required members (up to `resume`).
 * 8. Every member added after version 2's first release says, in its
 *    comment, what its absence means.
 *
 * ---- Threads ------------------------------------------------------------------
 *
 * Every function in fk_driver is called on the gateway's loop thread, and
 * every callback a driver makes into the host (fk_gen_callbacks) must also
 * run on the loop thread. A driver with worker threads hands work to the loop
 * with fk_host.post (thread-safe) and never touches the HTTP layer. Timers
 * (fk_host.timer_*) are loop-thread only. Only a driver that puts its own
 * file descriptors on the loop (the llama.cpp proxy: libcurl's sockets)
 * needs fk_host.event_base, which ties it to the host's libevent 2.1.
 *
 * ---- Lifetime of one generation -----------------------------------------------
 *
 *     gen = driver->generate(core, req, cb, ud, &err)   (NULL + err on refusal)
 *     cb->on_pieces(...)   zero or more times
 *     cb->on_done(...)     exactly once; after it returns `gen` is gone
 * driver->cancel(gen) may be called any time before on_done; the driver then
 * stops work and calls on_done (finish FK_FINISH_CANCELLED) later, from the
 * loop, never from inside cancel() itself. The host never frees a gen.
 *
 * Readiness is the host's to wait for: it calls generate() only while
 * health() says FK_HEALTH_READY, holds requests while it says LOADING, and
 * answers UNAVAILABLE and ERROR with 503 at once (the detail is shown to the
 * client). A driver that finds itself not ready after all (a race, or an
 * upstream answering "loading") refuses, or ends before any piece, with
 * err->not_ready set; the host then waits again and resubmits. */
#ifndef FK_DRIVER_H
#define FK_DRIVER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FK_DRIVER_ABI_VERSION 2u
#define FK_DRIVER_INIT_SYMBOL "fk_driver_init"

/* 1 when a struct written with `size` bytes holds `member` of `type`. */
#define FK_HAS(size, type, member)                                                                 \
    ((size_t)(size) >= offsetof(type, member) + sizeof(((type *)0)->member))
/* The same for a struct that begins with struct_size. */
#define FK_HAS_MEMBER(p, type, member) FK_HAS((p)->struct_size, type, member)
/* Element i of an array whose elements are `size` bytes each. */
#define FK_AT(base, i, size) ((const void *)((const char *)(base) + (size_t)(i) * (size_t)(size)))

/* Copy a struct written with src_size bytes into the reader's dst_size
 * bytes: the common prefix; members the writer lacked become zero. A
 * struct_size copied along says what the writer had (keep it for FK_HAS). */
static inline void fk_abi_copy(void *dst, size_t dst_size, const void *src, size_t src_size)
{
    size_t n = src ? (src_size < dst_size ? src_size : dst_size) : 0;
    if (n) memcpy(dst, src, n);
    memset((char *)dst + n, 0, dst_size - n);
}

struct event_base;

/* ---- host services --------------------------------------------------------- */

enum fk_log_level { FK_LOG_ERROR = 0, FK_LOG_WARN = 1, FK_LOG_INFO = 2, FK_LOG_DEBUG = 3 };

typedef struct fk_timer fk_timer; /* a host timer (opaque) */

/* The configuration keys every core shares, parsed once by the host with its
 * one set of rules (fk_host.core_config). Strings belong to the host and stay
 * valid until destroy(). Written by the host. */
typedef struct fk_core_config {
    uint32_t struct_size;          /* sizeof(fk_core_config) as the host compiled it */
    const char *core_kind;         /* FK_CORE_KIND: "llama" | "vllm" */
    const char *api_base;          /* FK_CORE_API_BASE without trailing '/', or NULL; since
                                      replicas, a comma-separated list of such URLs (no
                                      blanks; each http:// or https://) */
    const char *model_id;          /* FRONTEND_VLLM_MODEL, or NULL */
    const char *model_path;        /* VLLM_MODEL_CORE, a relative path resolved against the
                                      .env file's folder; or NULL */
    int max_model_len;             /* VLLM_MAX_MODEL_LEN; 0: the core's own limit */
    double gpu_memory_utilization; /* VLLM_GPU_MEMORY_UTILIZATION in (0, 1], default 0.9 */
    int default_max_tokens;        /* FRONTEND_MAX_TOKENS (the host applies it to requests) */
    int use_harmony;               /* FRONTEND_USE_HARMONY: 1 Harmony, 0 pass-through */
    const char *env_dir;           /* absolute folder of the .env file (relative paths), or
                                      NULL when no file was read (then: the current folder) */
} fk_core_config;

/* Services the gateway lends to a driver. Owned by the host; valid from
 * probe()/create() until destroy() returns. Loop thread only, except `log`
 * and `post`, which any thread may call. */
typedef struct fk_host {
    uint32_t abi_version; /* FK_DRIVER_ABI_VERSION of the host */
    uint32_t struct_size; /* sizeof(fk_host) as the host compiled it */
    void *host_data;      /* opaque, for the host's own use */

    /* printf-style log line, prefixed by the host with time, level and driver name. */
    void (*log)(const struct fk_host *host, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

    /* Raw value of a configuration key (.env merged with the environment), or
     * NULL when unset. For a driver's own string keys; shared keys come typed
     * from core_config, numbers through config_int/double/bool. The string
     * belongs to the host and stays valid until destroy(). */
    const char *(*config_get)(const struct fk_host *host, const char *key);

    /* Typed getters with the host's one set of rules (the code the gateway
     * uses for its own keys). An unset or empty key gives `def`. 0 on
     * success; -1 when the value is invalid, with err = "FILE:LINE: KEY: why"
     * (NUL-terminated, at most err_len). */
    int (*config_int)(const struct fk_host *host, const char *key, long long def, long long min,
                      long long max, long long *out, char *err, size_t err_len);
    int (*config_double)(const struct fk_host *host, const char *key, double def, double min,
                         double max, double *out, char *err, size_t err_len);
    /* 1/0, true/false, yes/no, on/off (any case). */
    int (*config_bool)(const struct fk_host *host, const char *key, int def, int *out, char *err,
                       size_t err_len);
    /* A path key: a relative value from the .env file is resolved against the
     * file's folder (values from the environment against the current folder).
     * *out is malloc'd (the driver frees it), or NULL when the key is unset. */
    int (*config_path)(const struct fk_host *host, const char *key, char **out, char *err,
                       size_t err_len);
    /* The shared keys, parsed once (see fk_core_config). Never NULL. */
    const fk_core_config *(*core_config)(const struct fk_host *host);

    /* Run fn(arg) on the loop thread soon. Thread-safe. 0 on success. Work
     * still queued when destroy() returns is dropped, never run. */
    int (*post)(const struct fk_host *host, void (*fn)(void *arg), void *arg);

    /* One-shot timers on the loop (loop thread only). timer_new: NULL on
     * failure. timer_arm (re)starts it: fn(arg) runs once, `ms` from now
     * (0: soon, after the current callback). timer_stop cancels a pending
     * run; timer_free stops and frees. A driver frees its timers in destroy(). */
    fk_timer *(*timer_new)(const struct fk_host *host, void (*fn)(void *arg), void *arg);
    void (*timer_arm)(fk_timer *t, double ms);
    void (*timer_stop)(fk_timer *t);
    void (*timer_free)(fk_timer *t);

    /* The loop itself, for drivers that put their own sockets on it (libcurl).
     * Using it ties the driver to the host's libevent 2.1; drivers that only
     * need wake-ups and timers use post and timer_*. */
    struct event_base *(*event_base)(const struct fk_host *host);
} fk_host;

/* ---- prompts ----------------------------------------------------------------- */

/* A prompt is a sequence of segments, rendered by the gateway (Harmony) or
 * taken from a raw completion request. */
typedef enum fk_segment_kind {
    FK_SEG_TEXT = 0,    /* ordinary text: never becomes special tokens, whatever it spells */
    FK_SEG_SPECIAL = 1, /* exactly one special token, by its text, e.g. "<|start|>" */
    FK_SEG_RAW = 2,     /* operator text (raw /v1/completions): spelled-out specials are parsed */
    FK_SEG_TOKEN = 3,   /* one token id given by the client (prompt as an id array) */
} fk_segment_kind;

/* Array element: its size is fk_gen_request.segment_size. */
typedef struct fk_segment {
    fk_segment_kind kind;
    int untrusted;    /* 1: came from a user or tool (informational; TEXT is never parsed) */
    const char *text; /* bytes, not NUL-terminated; NULL for FK_SEG_TOKEN */
    size_t len;       /* bytes in text */
    int32_t token_id; /* FK_SEG_TOKEN only; -1 otherwise */
} fk_segment;

/* ---- output ------------------------------------------------------------------ */

/* One alternative token of a piece (logprobs). Frozen: never grows, so it
 * is not sized. */
typedef struct fk_top_logprob {
    int32_t token_id; /* the token */
    float logprob;    /* its log-probability (as fk_piece.logprob) */
    const char *text; /* its bytes, specials spelled out; borrowed like the piece */
    size_t len;       /* bytes in text */
} fk_top_logprob;

/* One unit of model output. Array element: its size is passed to on_pieces.
 * `text` may end inside a UTF-8 character; the host's Harmony parser holds
 * partial characters back. Special tokens arrive spelled out ("<|channel|>")
 * with is_special set. Borrowed: valid only during the callback. */
typedef struct fk_piece {
    const char *text; /* bytes, not NUL-terminated */
    size_t len;       /* bytes in text */
    int32_t token_id; /* -1 when the core did not say */
    int is_special;   /* 1: a special token, spelled out */
    /* Logprobs, filled only when the request asked for them (fk_sampling.
     * logprobs); absent (beyond the element size) or NAN: unknown. */
    float logprob;             /* log-softmax of the raw logits (before temperature and
                                  penalties) at the sampled token_id; NAN: unknown */
    uint32_t n_top;            /* entries in top (at most fk_sampling.top_logprobs) */
    const fk_top_logprob *top; /* the best alternatives, best first; borrowed; NULL when n_top 0 */
} fk_piece;

typedef enum fk_finish {
    FK_FINISH_NONE = 0,
    FK_FINISH_STOP = 1,      /* an eos/stop token (<|return|>, <|call|>, <|endoftext|>) */
    FK_FINISH_STOP_WORD = 2, /* a stop string matched (its text is not emitted) */
    FK_FINISH_LENGTH = 3,    /* max_tokens or the context ran out */
    FK_FINISH_CANCELLED = 4, /* cancel() was called */
    FK_FINISH_ERROR = 5,     /* see the error passed to on_done */
} fk_finish;

/* An error in OpenAI's shape. Strings are borrowed for the duration of the
 * call that carries them (copy to keep). In on_done the driver writes it
 * (struct_size its own); in generate() the host passes one it sized and the
 * driver assigns members (rule 5). */
typedef struct fk_error {
    uint32_t struct_size; /* see above */
    int http_status;      /* 400, 404, 413, 429, 500, 502, 503, 504 */
    const char *type;     /* "invalid_request_error", "server_error", "unavailable_error" */
    const char *code;     /* OpenAI string code, e.g. "context_length_exceeded"; or NULL */
    const char *param;    /* the request field at fault, or NULL */
    const char *message;  /* human-readable, states the numbers involved */
    int retry_after_s;    /* > 0: the host sends Retry-After; absent: 0 */
    /* 1: the core turned out not to be ready (it answers "loading") and
     * produced nothing: the host may hold the request until health() says
     * READY and submit it again. Absent: 0. */
    int not_ready;
} fk_error;

/* Written by the driver (on_done). */
typedef struct fk_gen_stats {
    uint32_t struct_size;  /* sizeof(fk_gen_stats) as the driver compiled it */
    fk_finish finish;      /* how the generation ended */
    int prompt_tokens;     /* prompt tokens (0: unknown) */
    int completion_tokens; /* generated tokens (0: unknown; the host counts pieces) */
    int cached_tokens;     /* prompt tokens served from a prefix cache; absent: 0 */
    double queue_ms;       /* from generate() to the start of prefill; absent: 0 */
    double prefill_ms;     /* prompt processing; absent: 0 */
    double decode_ms;      /* first to last generated token; absent: 0 */
} fk_gen_stats;

/* Callbacks into the host, always on the loop thread. Written by the host;
 * a driver keeps a copy (fk_abi_copy) rather than the pointer. */
typedef struct fk_gen_callbacks {
    uint32_t struct_size; /* sizeof(fk_gen_callbacks) as the host compiled it */
    /* New output: n pieces, each piece_size bytes apart (FK_AT). Return 0 to
     * go on, 1 to pause: the driver then delivers nothing more until
     * resume(gen) (backpressure from a slow client). */
    int (*on_pieces)(void *ud, const fk_piece *pieces, size_t n, size_t piece_size);
    /* Exactly once, last. `err` is NULL unless stats->finish is FK_FINISH_ERROR.
     * Pieces already delivered stay valid output. */
    void (*on_done)(void *ud, const fk_gen_stats *stats, const fk_error *err);
    /* Optional (may be NULL): the core is still busy before the first piece
     * (queued, long prefill); the host may send an SSE keep-alive. */
    void (*on_waiting)(void *ud, const char *what);
} fk_gen_callbacks;

/* ---- requests ------------------------------------------------------------------ */

typedef enum fk_gen_mode {
    FK_GEN_HARMONY = 0,     /* segments hold a rendered Harmony prompt */
    FK_GEN_COMPLETION = 1,  /* segments hold a raw prompt; output text is returned as is */
    FK_GEN_PASSTHROUGH = 2, /* a non-Harmony core: forward the client's request (below) */
} fk_gen_mode;

/* Written by the host; pointed to by fk_gen_request.sampling. */
typedef struct fk_sampling {
    uint32_t struct_size; /* sizeof(fk_sampling) as the host compiled it */
    int max_tokens;       /* > 0: completion budget (the host applies its default) */
    double temperature;   /* 0: greedy */
    double top_p;         /* 1: off */
    int top_k;            /* 0: off */
    int has_seed;         /* 1: `seed` is set */
    uint64_t seed;
    double presence_penalty;  /* 0: off */
    double frequency_penalty; /* 0: off */
    const char *const *stop;  /* stop strings, borrowed for the generate() call */
    size_t n_stop;            /* entries in stop */
    int logprobs;             /* 1: the client asked for logprobs (fill fk_piece.logprob) */
    int top_logprobs;         /* how many alternatives per piece (0..20) */
} fk_sampling;

/* Written by the host; borrowed, with everything it points to, for the
 * generate() call only: copy what you keep. */
typedef struct fk_gen_request {
    uint32_t struct_size; /* sizeof(fk_gen_request) as the host compiled it */
    fk_gen_mode mode;
    const char *request_id;      /* for logs and upstream headers */
    const char *model;           /* the model name the client asked for (already routed) */
    const fk_segment *segments;  /* FK_GEN_HARMONY / FK_GEN_COMPLETION: the prompt */
    size_t n_segments;           /* entries in segments */
    size_t segment_size;         /* bytes from one segment to the next (FK_AT) */
    const fk_sampling *sampling; /* never NULL */
    /* Prompt + completion must fit in this many tokens (VLLM_MAX_MODEL_LEN;
     * 0: the core's own limit). A prompt that does not fit alone is refused
     * with 400 "context_length_exceeded" naming both numbers; a completion
     * that would not fit is cut short with FK_FINISH_LENGTH. */
    int max_model_len;
    /* The client's request as received: the endpoint path
     * ("/v1/chat/completions") and its JSON body (not NUL-terminated). Set for
     * every mode; FK_GEN_PASSTHROUGH drivers forward it, rewriting what they
     * must themselves ("model" to `model`, "max_tokens" to sampling->
     * max_tokens, streaming), and give the answer back as pieces in Harmony
     * form (reasoning as an analysis message, content as final, tool calls as
     * commentary calls), so the host reads every core the same way. */
    const char *client_path;
    const char *client_body;
    size_t client_body_len; /* bytes in client_body */
    /* The request's function tools as a JSON array text (OpenAI's "tools"
     * shape, NUL-terminated), or NULL: for cores that constrain tool
     * arguments. */
    const char *tools_json;
} fk_gen_request;

/* ---- the driver table -------------------------------------------------------- */

typedef struct fk_core fk_core; /* a driver instance (opaque to the host) */
typedef struct fk_gen fk_gen;   /* one generation in flight (opaque to the host) */

typedef enum fk_health {
    FK_HEALTH_READY = 0,
    FK_HEALTH_LOADING = 1,     /* weights loading, upstream starting: the host holds requests */
    FK_HEALTH_UNAVAILABLE = 2, /* upstream unreachable: the host answers 503 at once */
    FK_HEALTH_ERROR = 3,       /* failed for good: detail says why */
} fk_health;

/* Array element, written by the driver: list_models gets the host's element size. */
typedef struct fk_model_info {
    const char *id;       /* borrowed from the core; valid until destroy() */
    const char *owned_by; /* e.g. "forgekeeper" */
    int max_model_len;    /* 0: unknown */
} fk_model_info;

/* Engine gauges, written by the driver's metrics() into a struct the host
 * sized and filled with "unknown" values first (rule 5). */
typedef struct fk_core_metrics {
    uint32_t struct_size;    /* sizeof(fk_core_metrics) as the host compiled it */
    double kv_usage;         /* KV cache in use, 0..1; < 0: unknown */
    int running;             /* sequences the engine runs; < 0: unknown */
    int waiting;             /* sequences queued in the engine; < 0: unknown */
    uint64_t preemptions;    /* sequences preempted so far */
    uint64_t prefix_queries; /* prompt tokens looked up in a prefix cache so far */
    uint64_t prefix_hits;    /* of those, tokens found */
    const char *backend;     /* "cpu", "cuda: NVIDIA H100 80GB HBM3 (79.1 GiB)"; NULL: unknown;
                                borrowed from the core */
} fk_core_metrics;

/* Array element, written by the driver's replicas(): one upstream of a core
 * that spreads its requests over several (the llama proxy with a list in
 * FK_CORE_API_BASE). The host passes the element size (rule 5). */
typedef struct fk_replica_info {
    const char *url;    /* its base URL; borrowed until the next call into the driver */
    fk_health health;   /* its last health verdict */
    const char *detail; /* why it is not ready ("" when it is); borrowed like url */
    int in_flight;      /* this core's requests on it now */
    int slots_total;    /* its generation slots (llama-server /slots); -1: unknown */
    int slots_idle;     /* of those, idle at the last look (any client's); -1: unknown */
    uint64_t requests;  /* requests sent to it so far (a retry counts on each) */
    uint64_t failures;  /* of those, ended by a transport failure or an upstream error */
    uint64_t retries;   /* requests moved from it to another replica before any output */
    uint64_t sticky;    /* requests sent to it because it held their prompt's prefix */
} fk_replica_info;

typedef struct fk_driver {
    uint32_t abi_version; /* FK_DRIVER_ABI_VERSION the driver was built against */
    uint32_t struct_size; /* sizeof(fk_driver) as the driver compiled it */
    const char *name;     /* "llamacpp", "native", ... */
    const char *version;  /* the driver's own version string */

    /* Optional (NULL: always accept). Return 0 to accept; nonzero to decline
     * cleanly, writing why into `why` (NUL-terminated, at most why_len). */
    int (*probe)(const fk_host *host, char *why, size_t why_len);

    /* Make an instance. Loading may continue in the background (health()
     * reports FK_HEALTH_LOADING meanwhile). NULL on failure with `err` set. */
    fk_core *(*create)(const fk_host *host, char *err, size_t err_len);

    /* Tear down. Every generation has had its on_done before the host calls this. */
    void (*destroy)(fk_core *core);

    /* Current state; `detail` gets a short reason for anything but READY
     * ("Loading model: 40%", "connection refused: start llama-server ..."). */
    fk_health (*health)(fk_core *core, char *detail, size_t detail_len);

    /* Fill up to `max` entries of `out`, each info_size bytes apart (write
     * only members FK_HAS(info_size, fk_model_info, m) allows); return how
     * many models the core serves. */
    size_t (*list_models)(fk_core *core, fk_model_info *out, size_t max, size_t info_size);

    /* Start a generation. NULL with *err filled on refusal (bad request for
     * this core, context too long, not ready: err->not_ready). */
    fk_gen *(*generate)(fk_core *core, const fk_gen_request *req, const fk_gen_callbacks *cb,
                        void *ud, fk_error *err);

    /* Stop a generation (client gone, shutdown). on_done follows later. */
    void (*cancel)(fk_gen *gen);

    /* Deliver again after on_pieces returned 1. */
    void (*resume)(fk_gen *gen);

    /* Optional (NULL or absent: no engine gauges): fill what the core knows
     * for /metrics and the periodic log line. Loop thread; must be cheap. */
    void (*metrics)(fk_core *core, fk_core_metrics *out);

    /* Optional (NULL or absent: the core has no replicas to show): fill up to
     * `max` entries of `out`, each info_size bytes apart (rule 5), and return
     * how many upstreams the core has. Loop thread; must be cheap. */
    size_t (*replicas)(fk_core *core, fk_replica_info *out, size_t max, size_t info_size);
} fk_driver;

typedef const fk_driver *(*fk_driver_init_fn)(void);

#ifdef __cplusplus
}
#endif

#endif
