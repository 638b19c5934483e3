/* driver.h: the plugin ABI between fk-gateway (the host) and a core driver.
 *
 * This is the only header a driver shares with the gateway. A driver is a
 * shared object named fk-driver-NAME.so that exports one symbol:
 *
 *     const fk_driver *fk_driver_init(void);
 *
 * returning a table whose first field is FK_DRIVER_ABI_VERSION. The loader
 * opens it with RTLD_NOW | RTLD_LOCAL and rejects a version mismatch, naming
 * both versions. Tables only grow at the end; `struct_size` tells how much of
 * a table the other side filled in.
 *
 * Threads: every function in fk_driver is called on the gateway's loop
 * thread, and every callback a driver makes into the host (fk_gen_callbacks)
 * must also run on the loop thread. A driver with worker threads hands its
 * results to the loop itself (an event made active from the worker, or
 * fk_host.post) and never touches the HTTP layer.
 *
 * Lifetime of one generation:
 *     gen = driver->generate(core, req, cb, ud, &err)   (NULL + err on refusal)
 *     cb->on_pieces(...)   zero or more times
 *     cb->on_done(...)     exactly once; after it returns `gen` is gone
 * driver->cancel(gen) may be called any time before on_done; the driver then
 * stops work and calls on_done (finish FK_FINISH_CANCELLED) later, from the
 * loop, never from inside cancel() itself. The host never frees a gen.
 */
#ifndef FK_DRIVER_H
#define FK_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FK_DRIVER_ABI_VERSION 1u
#define FK_DRIVER_INIT_SYMBOL "fk_driver_init"

struct event_base;

/* ---- host services --------------------------------------------------------- */

enum fk_log_level { FK_LOG_ERROR = 0, FK_LOG_WARN = 1, FK_LOG_INFO = 2, FK_LOG_DEBUG = 3 };

/* Services the gateway lends to a driver. Owned by the host; valid from
 * create() until destroy() returns. All members are callable from the loop
 * thread; `post` and `log` are also safe from any thread. */
typedef struct fk_host {
    uint32_t abi_version; /* FK_DRIVER_ABI_VERSION of the host */
    uint32_t struct_size; /* sizeof(fk_host) as the host compiled it */
    void *host_data;      /* opaque, for the host's own use */

    /* printf-style log line, prefixed by the host with time, level and driver name. */
    void (*log)(const struct fk_host *host, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

    /* Value of a configuration key (.env merged with the environment), or NULL.
     * The string belongs to the host and stays valid until destroy(). */
    const char *(*config_get)(const struct fk_host *host, const char *key);

    /* The loop. Drivers may add their own events to it (libcurl sockets, a
     * notification event for a worker thread). */
    struct event_base *(*event_base)(const struct fk_host *host);

    /* Run fn(arg) on the loop thread soon. Thread-safe. 0 on success. */
    int (*post)(const struct fk_host *host, void (*fn)(void *arg), void *arg);
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

typedef struct fk_segment {
    fk_segment_kind kind;
    int untrusted;    /* 1: came from a user or tool (informational; TEXT is never parsed) */
    const char *text; /* bytes, not NUL-terminated; NULL for FK_SEG_TOKEN */
    size_t len;
    int32_t token_id; /* FK_SEG_TOKEN only; -1 otherwise */
} fk_segment;

/* ---- output ------------------------------------------------------------------ */

/* One unit of model output. `text` may end inside a UTF-8 character; the
 * host's Harmony parser holds partial characters back. Special tokens arrive
 * spelled out ("<|channel|>") with is_special set. Borrowed: valid only during
 * the callback. */
typedef struct fk_piece {
    const char *text;
    size_t len;
    int32_t token_id; /* -1 when the core did not say */
    int is_special;
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
 * call that carries them (copy to keep). */
typedef struct fk_error {
    int http_status;     /* 400, 404, 413, 429, 500, 502, 503, 504 */
    const char *type;    /* "invalid_request_error", "server_error", "unavailable_error" */
    const char *code;    /* OpenAI string code, e.g. "context_length_exceeded"; or NULL */
    const char *param;   /* the request field at fault, or NULL */
    const char *message; /* human-readable, states the numbers involved */
    int retry_after_s;   /* > 0: the host sends Retry-After */
} fk_error;

typedef struct fk_gen_stats {
    int prompt_tokens;
    int cached_tokens; /* prompt tokens served from a prefix cache */
    int completion_tokens;
    double queue_ms;   /* from generate() to the start of prefill */
    double prefill_ms; /* prompt processing */
    double decode_ms;  /* first to last generated token */
    fk_finish finish;
} fk_gen_stats;

/* Callbacks into the host, always on the loop thread. */
typedef struct fk_gen_callbacks {
    /* New output. Return 0 to go on, 1 to pause: the driver then delivers
     * nothing more until resume(gen) (backpressure from a slow client). */
    int (*on_pieces)(void *ud, const fk_piece *pieces, size_t n);
    /* Exactly once, last. `err` is NULL unless stats->finish is FK_FINISH_ERROR.
     * Pieces already delivered stay valid output. */
    void (*on_done)(void *ud, const fk_gen_stats *stats, const fk_error *err);
    /* Optional (may be NULL): the core is still busy before the first piece
     * (loading, queued, long prefill); the host may send an SSE keep-alive. */
    void (*on_waiting)(void *ud, const char *what);
} fk_gen_callbacks;

/* ---- requests ------------------------------------------------------------------ */

typedef enum fk_gen_mode {
    FK_GEN_HARMONY = 0,     /* segments hold a rendered Harmony prompt */
    FK_GEN_COMPLETION = 1,  /* segments hold a raw prompt; output text is returned as is */
    FK_GEN_PASSTHROUGH = 2, /* a non-Harmony core: forward the OpenAI body (see below) */
} fk_gen_mode;

typedef struct fk_sampling {
    int max_tokens;     /* > 0: completion budget (the host applies its default) */
    double temperature; /* 0: greedy */
    double top_p;       /* 1: off */
    int top_k;          /* 0: off */
    int has_seed;       /* 1: `seed` is set */
    uint64_t seed;
    double presence_penalty;  /* 0: off */
    double frequency_penalty; /* 0: off */
    const char *const *stop;  /* stop strings, borrowed for the generate() call */
    size_t n_stop;
    int logprobs;     /* 1: the client asked for logprobs */
    int top_logprobs; /* how many alternatives (0..20) */
} fk_sampling;

typedef struct fk_gen_request {
    uint32_t struct_size; /* sizeof(fk_gen_request) as the host compiled it */
    fk_gen_mode mode;
    const char *request_id;     /* for logs and upstream headers */
    const char *model;          /* the model name the client asked for (already routed) */
    const fk_segment *segments; /* FK_GEN_HARMONY / FK_GEN_COMPLETION */
    size_t n_segments;
    fk_sampling sampling;
    /* Prompt + completion must fit in this many tokens (VLLM_MAX_MODEL_LEN;
     * 0: the core's own limit). A prompt that does not fit alone is refused
     * with 400 "context_length_exceeded" naming both numbers; a completion
     * that would not fit is cut short with FK_FINISH_LENGTH. */
    int max_model_len;
    /* FK_GEN_PASSTHROUGH: the endpoint path ("/v1/chat/completions") and the
     * client's JSON body with model and max_tokens already rewritten. The
     * driver turns the upstream's answer into pieces in Harmony form (reasoning
     * as an analysis message, content as final, tool calls as commentary
     * calls), so the host reads every core the same way. */
    const char *passthrough_path;
    const char *passthrough_body;
} fk_gen_request;

/* ---- the driver table -------------------------------------------------------- */

typedef struct fk_core fk_core; /* a driver instance (opaque to the host) */
typedef struct fk_gen fk_gen;   /* one generation in flight (opaque to the host) */

typedef enum fk_health {
    FK_HEALTH_READY = 0,
    FK_HEALTH_LOADING = 1,     /* weights loading, upstream starting: try later */
    FK_HEALTH_UNAVAILABLE = 2, /* upstream unreachable */
    FK_HEALTH_ERROR = 3,       /* failed for good: detail says why */
} fk_health;

typedef struct fk_model_info {
    const char *id;       /* borrowed from the core; valid until destroy() */
    const char *owned_by; /* e.g. "forgekeeper" */
    int max_model_len;    /* 0: unknown */
} fk_model_info;

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
     * ("Loading model: 40%", "connection refused"). */
    fk_health (*health)(fk_core *core, char *detail, size_t detail_len);

    /* Fill up to `max` entries, return how many models the core serves. */
    size_t (*list_models)(fk_core *core, fk_model_info *out, size_t max);

    /* Start a generation. The request and its strings are borrowed for this
     * call only: copy what you keep. NULL with *err filled on refusal (bad
     * request for this core, context too long, not ready). */
    fk_gen *(*generate)(fk_core *core, const fk_gen_request *req, const fk_gen_callbacks *cb,
                        void *ud, fk_error *err);

    /* Stop a generation (client gone, shutdown). on_done follows later. */
    void (*cancel)(fk_gen *gen);

    /* Deliver again after on_pieces returned 1. */
    void (*resume)(fk_gen *gen);
} fk_driver;

typedef const fk_driver *(*fk_driver_init_fn)(void);

#ifdef __cplusplus
}
#endif

#endif
