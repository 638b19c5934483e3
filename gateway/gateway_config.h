/* gateway_config.h: the gateway's configuration: .env merged with the environment.
 *
 * Keys the gateway reads (defaults in brackets; see the files in conf/):
 *   FK_CORE_KIND            llama | vllm (which core; picks the driver)     [vllm]
 *   FK_CORE_API_BASE        upstream URL for the llama proxy driver
 *   FRONTEND_VLLM_API_BASE  the URL clients use (informational)
 *   FRONTEND_VLLM_MODEL     model name clients send; served as an alias
 *   VLLM_MODEL_CORE         safetensors directory for the native driver
 *   VLLM_MAX_MODEL_LEN      prompt + completion limit in tokens              [0: core's]
 *   VLLM_GPU_MEMORY_UTILIZATION  fraction of GPU memory for the native core  [0.9]
 *   FRONTEND_MAX_TOKENS     default max_tokens                               [2048]
 *   FRONTEND_USE_HARMONY    1: render/parse Harmony here; 0: pass through    [1]
 *   FK_LISTEN               HOST:PORT; port 0 picks a free one               [127.0.0.1:8001]
 *   FK_DRIVER_DIR           colon-separated driver directories               [pkglibdir]
 *   FK_DRIVER               driver name, overriding FK_CORE_KIND's choice
 *   FK_WEB_DIR              the chat page's files; "none": no page     [pkgdatadir/web]
 *   FK_API_KEY              when set, clients must send "Authorization: Bearer KEY"
 *   FK_CORS_ORIGINS         "*" or a comma list of allowed origins           [none]
 *   FK_PUBLIC_ENDPOINTS     which of /health,/version,/metrics answer without
 *                           FK_API_KEY; "none": all need it     [/health,/version,/metrics]
 *   FK_MAX_BODY_BYTES       request body limit (413 above)                   [4194304]
 *   FK_MAX_MESSAGES         messages per chat request (400 above)            [1024]
 *   FK_LOG_LEVEL            error | warn | info | debug                      [info]
 *   FK_CURRENT_DATE         YYYY-MM-DD for the Harmony system message        [today]
 *   FK_REASONING_FIELDS     both | reasoning_content | reasoning             [both]
 *   FK_SHUTDOWN_GRACE_S     seconds in-flight requests get on SIGTERM        [30]
 *   FK_STATS_INTERVAL_S     seconds between throughput log lines; 0: off     [5]
 *   FK_KEEPALIVE_S          SSE keep-alive comment interval before output    [10]
 *   FK_WAIT_READY_S         how long a request waits for a loading core      [60]
 *   FK_HTTP_TIMEOUT_S       idle keep-alive connection, stalled body or write [120]
 *   FK_HEADER_TIMEOUT_S     a request head must arrive within this           [10]
 *   FK_MAX_CONNECTIONS      client connections held at once   [(RLIMIT_NOFILE - 64) / 2]
 *   FK_ACCEPT_ANY_MODEL     1: any "model" is served by the core             [0]
 *   FK_PASSTHROUGH_SPECIAL_TEXT  reject | escape: spelled-out special tokens in
 *                           a pass-through chat (special_text.h)            [reject]
 *   FK_RESPONSES_STORE_MAX  responses kept for previous_response_id and GET;
 *                           0: none (response_store.h)                       [1000]
 *   FK_RESPONSES_STORE_TTL_S  seconds a stored response is kept              [86400]
 *   FK_RESPONSES_STORE_MB   megabytes the stored responses may take          [256]
 *   FK_TEST_FIXED_IDS       1: fixed ids and created (tests only)            [0]
 *   FK_CORES                FILE[,FILE...]: one more core per seed-style .env
 *   FK_RELOAD_WATCH_MS      poll period of the .env files for changes; 0: off [1000]
 *
 * A bad value stops start-up with "FILE:LINE: KEY: why"; an unknown FK_ key in
 * the file is a warning, except keys drivers read (FK_LLAMA_*, FK_SCRIPT*,
 * FK_THREADS, ...). Paths (VLLM_MODEL_CORE, FK_DRIVER_DIR, drivers' path keys)
 * written relative in the file are relative to the file's folder. Drivers get
 * the seed keys parsed (fk_host.core_config) and read their own keys through
 * fk_host's typed getters, which are the functions below.
 *
 * Several cores (FK_CORES): the main .env is the gateway's configuration and
 * its default core. Each FK_CORES file (relative to the main .env's folder)
 * is read over it: the file's own lines win, keys it leaves out come from the
 * main .env, then the environment (which overrides the main .env's lines, not
 * a core file's). Gateway-wide keys (fk_config_is_gateway_wide: FK_LISTEN,
 * FK_API_KEY, ...) are read from the main .env only; a core file that sets
 * one draws a warning. */
#ifndef FK_GATEWAY_GATEWAY_CONFIG_H
#define FK_GATEWAY_GATEWAY_CONFIG_H

#include <stddef.h>

#include "dotenv.h"

typedef enum fk_reasoning_fields {
    FK_REASONING_BOTH = 0,    /* reasoning_content and reasoning */
    FK_REASONING_CONTENT = 1, /* reasoning_content only */
    FK_REASONING_ONLY = 2,    /* reasoning only */
} fk_reasoning_fields;

/* FK_PUBLIC_ENDPOINTS bits. */
enum {
    FK_PUBLIC_HEALTH = 1,  /* /health */
    FK_PUBLIC_VERSION = 2, /* /version */
    FK_PUBLIC_METRICS = 4, /* /metrics */
};

typedef enum fk_special_text_policy {
    FK_SPECIAL_TEXT_REJECT = 0, /* 400 naming the field */
    FK_SPECIAL_TEXT_ESCAPE = 1, /* a zero width space after the '<' */
} fk_special_text_policy;

typedef struct fk_config {
    fk_dotenv file;  /* the .env entries (the main .env's overridden by the environment) */
    fk_dotenv base;  /* an FK_CORES file's fallback: the main .env's entries; else empty */
    char *env_path;  /* the file read, or NULL when none was */
    char *env_dir;   /* its absolute folder (relative paths in it resolve there), or NULL */
    char *base_path; /* the main .env `base` came from, or NULL */
    char *base_dir;  /* its folder (relative paths in `base` resolve there), or NULL */
    int core_file;   /* 1: an FK_CORES file (the environment does not override its lines) */
    /* seed keys */
    const char *core_kind;         /* "llama" | "vllm" */
    char *core_api_base;           /* FK_CORE_API_BASE without trailing '/', or NULL (owned) */
    const char *frontend_model;    /* FRONTEND_VLLM_MODEL or NULL */
    char *model_path;              /* VLLM_MODEL_CORE, resolved (fk_config_path), or NULL (owned) */
    int max_model_len;             /* VLLM_MAX_MODEL_LEN; 0: the core's */
    double gpu_memory_utilization; /* VLLM_GPU_MEMORY_UTILIZATION */
    int default_max_tokens;        /* FRONTEND_MAX_TOKENS */
    int use_harmony;               /* FRONTEND_USE_HARMONY */
    /* gateway keys */
    char listen_host[256];                /* FK_LISTEN host part */
    int listen_port;                      /* FK_LISTEN port; 0: any free port */
    char *driver_dir;                     /* FK_DRIVER_DIR, each entry resolved (owned) */
    char *web_dir;                        /* FK_WEB_DIR, resolved (owned); NULL: "none" */
    const char *driver_name;              /* FK_DRIVER, else from core_kind */
    const char *api_key;                  /* FK_API_KEY or NULL */
    const char *cors_origins;             /* FK_CORS_ORIGINS or NULL */
    int public_endpoints;                 /* FK_PUBLIC_ENDPOINTS as FK_PUBLIC_* bits */
    long max_body_bytes;                  /* FK_MAX_BODY_BYTES */
    int max_messages;                     /* FK_MAX_MESSAGES */
    int log_level;                        /* FK_LOG_LEVEL as fk_log_level */
    const char *current_date;             /* FK_CURRENT_DATE or NULL (today) */
    fk_reasoning_fields reasoning_fields; /* FK_REASONING_FIELDS */
    double shutdown_grace_s;              /* FK_SHUTDOWN_GRACE_S */
    double stats_interval_s;              /* FK_STATS_INTERVAL_S; 0: off */
    double keepalive_s;                   /* FK_KEEPALIVE_S; 0: off */
    double wait_ready_s;                  /* FK_WAIT_READY_S: a request waits this long for a
                                             loading core, then 503 */
    int http_timeout_s;                   /* FK_HTTP_TIMEOUT_S */
    double header_timeout_s;              /* FK_HEADER_TIMEOUT_S */
    int max_connections;                  /* FK_MAX_CONNECTIONS; 0: from RLIMIT_NOFILE */
    int accept_any_model;                 /* FK_ACCEPT_ANY_MODEL */
    fk_special_text_policy special_text;  /* FK_PASSTHROUGH_SPECIAL_TEXT */
    int responses_store_max;              /* FK_RESPONSES_STORE_MAX */
    double responses_store_ttl_s;         /* FK_RESPONSES_STORE_TTL_S */
    int responses_store_mb;               /* FK_RESPONSES_STORE_MB */
    int test_fixed_ids;                   /* FK_TEST_FIXED_IDS */
    char **core_files;                    /* FK_CORES entries, resolved (owned); main .env only */
    char **core_names;                    /* the same entries as written (owned) */
    size_t n_core_files;                  /* entries in core_files and core_names */
    int reload_watch_ms;                  /* FK_RELOAD_WATCH_MS; 0: off */
} fk_config;

/* Read `path` (NULL: "./.env", which may be missing) and the environment,
 * validate every known key. 0, or -1 with "FILE:LINE: KEY: why" in err.
 * Warnings (unknown keys) are logged. On failure call fk_config_free. */
int fk_config_load(fk_config *cfg, const char *path, char *err, size_t err_len);
/* The same from a buffer (tests, fuzzing); `fname` names it in messages. */
int fk_config_load_buffer(fk_config *cfg, const char *buf, size_t len, const char *fname, char *err,
                          size_t err_len);
/* A core's own configuration, derived from the loaded main one: core_path
 * NULL gives the default core's (a copy of `main`); otherwise core_path is
 * read over `main` (see the top of this file). 0, or -1 with err; on failure
 * call fk_config_free. */
int fk_config_derive(fk_config *cfg, const fk_config *main, const char *core_path, char *err,
                     size_t err_len);
void fk_config_free(fk_config *cfg);
/* 1 when `key` configures the gateway as a whole (read from the main .env
 * only, never a reason to reload a core). */
int fk_config_is_gateway_wide(const char *key);
/* What makes a core what it is: every key it sees except the gateway-wide
 * ones, with the folder its relative paths resolve against, as one text
 * (malloc'd; NULL on OOM). Two configurations with equal texts make the same core. */
char *fk_config_fingerprint(const fk_config *cfg);
/* A key's value: the environment first, then the file; NULL when unset.
 * Valid until fk_config_free. */
const char *fk_config_get(const fk_config *cfg, const char *key);

/* The typed getters, one set of rules for every key (the gateway's own and
 * the drivers', through fk_host). An unset or empty key gives `def`. 0, or
 * -1 with "FILE:LINE: KEY: why" in err. */
int fk_config_int(const fk_config *cfg, const char *key, long long def, long long lo, long long hi,
                  long long *out, char *err, size_t err_len);
int fk_config_double(const fk_config *cfg, const char *key, double def, double lo, double hi,
                     double *out, char *err, size_t err_len);
/* 1/0, true/false, yes/no, on/off, any case. */
int fk_config_bool(const fk_config *cfg, const char *key, int def, int *out, char *err,
                   size_t err_len);
/* A path: relative values from the file are resolved against its folder
 * (env_dir); values from the environment stay as given (the current folder).
 * *out is malloc'd, or NULL when unset. */
int fk_config_path(const fk_config *cfg, const char *key, char **out, char *err, size_t err_len);
/* 1 when a driver reads this key (no unknown-key warning for it). */
int fk_config_is_driver_key(const char *key);

#endif
