/* gateway_config.c: known keys, defaults and validation of the gateway's configuration. */
#include "gateway_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "harmony/strbuf.h"
#include "log.h"

#ifndef FK_PKGLIBDIR
#define FK_PKGLIBDIR "/usr/local/lib/forgekeeper"
#endif
#ifndef FK_PKGDATADIR
#define FK_PKGDATADIR "/usr/local/share/forgekeeper"
#endif

/* Keys the gateway itself understands (an FK_ key outside this table and the
 * driver list draws a warning), each with where it is read from:
 * GATEWAY_WIDE keys configure the gateway as a whole and are read from the
 * main .env only; PER_CORE keys (like seed keys and drivers' keys) belong to
 * each core and may differ between FK_CORES files. */
enum key_scope { PER_CORE, GATEWAY_WIDE };
static const struct gateway_key {
    const char *name;     /* the key */
    enum key_scope scope; /* where it is read from */
} gateway_keys[] = {
    {"FK_CORE_KIND", PER_CORE},
    {"FK_CORE_API_BASE", PER_CORE},
    {"FK_LISTEN", GATEWAY_WIDE},
    {"FK_DRIVER_DIR", PER_CORE},
    {"FK_WEB_DIR", GATEWAY_WIDE},
    {"FK_DRIVER", PER_CORE},
    {"FK_API_KEY", GATEWAY_WIDE},
    {"FK_CORS_ORIGINS", GATEWAY_WIDE},
    {"FK_MAX_BODY_BYTES", GATEWAY_WIDE},
    {"FK_MAX_MESSAGES", GATEWAY_WIDE},
    {"FK_LOG_LEVEL", GATEWAY_WIDE},
    {"FK_CURRENT_DATE", GATEWAY_WIDE},
    {"FK_REASONING_FIELDS", GATEWAY_WIDE},
    {"FK_SHUTDOWN_GRACE_S", GATEWAY_WIDE},
    {"FK_STATS_INTERVAL_S", GATEWAY_WIDE},
    {"FK_KEEPALIVE_S", GATEWAY_WIDE},
    {"FK_HTTP_TIMEOUT_S", GATEWAY_WIDE},
    {"FK_HEADER_TIMEOUT_S", GATEWAY_WIDE},
    {"FK_MAX_CONNECTIONS", GATEWAY_WIDE},
    {"FK_ACCEPT_ANY_MODEL", GATEWAY_WIDE},
    {"FK_TEST_FIXED_IDS", GATEWAY_WIDE},
    {"FK_PASSTHROUGH_SPECIAL_TEXT", PER_CORE},
    {"FK_WAIT_READY_S", PER_CORE},
    {"FK_RESPONSES_STORE_MAX", GATEWAY_WIDE},
    {"FK_RESPONSES_STORE_TTL_S", GATEWAY_WIDE},
    {"FK_RESPONSES_STORE_MB", GATEWAY_WIDE},
    {"FK_CORES", GATEWAY_WIDE},
    {"FK_RELOAD_WATCH_MS", GATEWAY_WIDE},
    {"FK_PUBLIC_ENDPOINTS", GATEWAY_WIDE},
    {"FRONTEND_VLLM_API_BASE", GATEWAY_WIDE},
};

/* The table's entry for key; NULL when the gateway does not know it. */
static const struct gateway_key *gateway_key(const char *key)
{
    for (size_t i = 0; i < sizeof gateway_keys / sizeof *gateway_keys; i++)
        if (strcmp(key, gateway_keys[i].name) == 0) return &gateway_keys[i];
    return NULL;
}

int fk_config_is_gateway_wide(const char *key)
{
    const struct gateway_key *k = gateway_key(key);
    return k && k->scope == GATEWAY_WIDE;
}

/* Keys (or prefixes, ending in '*') that belong to drivers. */
static const char *const driver_keys[] = {
    "FK_LLAMA_*",   "FK_SCRIPT*",   "FK_NATIVE_*",       "FK_ENGINE_*", "FK_CUDA_*", "FK_THREADS",
    "FK_MAX_BATCH", "FK_TOKENIZER", "FK_TOKENIZER_DATA", "FK_KV_*",     "FK_DEVICE", "FK_SEED",
};

int fk_config_is_driver_key(const char *key)
{
    for (size_t i = 0; i < sizeof driver_keys / sizeof *driver_keys; i++) {
        const char *k = driver_keys[i];
        size_t n = strlen(k);
        if (k[n - 1] == '*' ? strncmp(key, k, n - 1) == 0 : strcmp(key, k) == 0) return 1;
    }
    return 0;
}

/* The entry for `key`: the file's own, else (an FK_CORES file) the main
 * .env's, with *dir set to the folder its relative paths resolve against
 * (NULL for a value the environment gave). NULL when neither has it. */
static const fk_dotenv_entry *entry(const fk_config *cfg, const char *key, const char **path,
                                    const char **dir)
{
    const fk_dotenv_entry *e = fk_dotenv_find(&cfg->file, key);
    *path = cfg->env_path;
    *dir = cfg->env_dir;
    if (!e) {
        e = fk_dotenv_find(&cfg->base, key);
        *path = cfg->base_path;
        *dir = cfg->base_dir;
    }
    if (!e || e->line <= 0) *path = *dir = NULL;
    return e;
}

const char *fk_config_get(const fk_config *cfg, const char *key)
{
    const char *path, *dir;
    const fk_dotenv_entry *e = entry(cfg, key, &path, &dir);
    if (e) return e->value;
    return getenv(key);
}

/* ---- the typed getters: one set of rules for every key ------------------------ */

/* Where a key's value came from, for messages: "FILE:LINE" or "environment". */
static void where(const fk_config *cfg, const char *key, char *buf, size_t len)
{
    const char *path, *dir;
    const fk_dotenv_entry *e = entry(cfg, key, &path, &dir);
    if (e && e->line > 0)
        snprintf(buf, len, "%s:%d", path ? path : ".env", e->line);
    else
        snprintf(buf, len, "environment");
}

/* "FILE:LINE: KEY: why" into err; returns -1. */
__attribute__((format(printf, 5, 6))) static int
bad(const fk_config *cfg, const char *key, char *err, size_t err_len, const char *fmt, ...)
{
    char loc[512];
    where(cfg, key, loc, sizeof loc);
    int n = snprintf(err, err_len, "%s: %s: ", loc, key);
    if (n >= 0 && (size_t)n < err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, err_len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* An empty value counts as unset. */
static const char *value(const fk_config *cfg, const char *key)
{
    const char *v = fk_config_get(cfg, key);
    return v && *v ? v : NULL;
}

int fk_config_int(const fk_config *cfg, const char *key, long long def, long long lo, long long hi,
                  long long *out, char *err, size_t err_len)
{
    const char *v = value(cfg, key);
    *out = def;
    if (!v) return 0;
    errno = 0;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (errno == ERANGE || end == v || *end)
        return bad(cfg, key, err, err_len, "'%s' is not an integer", v);
    if (x < lo || x > hi)
        return bad(cfg, key, err, err_len, "%lld is out of range [%lld, %lld]", x, lo, hi);
    *out = x;
    return 0;
}

int fk_config_double(const fk_config *cfg, const char *key, double def, double lo, double hi,
                     double *out, char *err, size_t err_len)
{
    const char *v = value(cfg, key);
    *out = def;
    if (!v) return 0;
    errno = 0;
    char *end;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x))
        return bad(cfg, key, err, err_len, "'%s' is not a number", v);
    if (x < lo || x > hi)
        return bad(cfg, key, err, err_len, "%s is out of range [%g, %g]", v, lo, hi);
    *out = x;
    return 0;
}

int fk_config_bool(const fk_config *cfg, const char *key, int def, int *out, char *err,
                   size_t err_len)
{
    const char *v = value(cfg, key);
    *out = def;
    if (!v) return 0;
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) return *out = 1, 0;
        if (strcasecmp(v, no[i]) == 0) return *out = 0, 0;
    }
    return bad(cfg, key, err, err_len, "'%s' is not a boolean (1/0, true/false, yes/no, on/off)",
               v);
}

/* `p` (n bytes) made absolute against the .env folder when it is relative and
 * came from the file. Owned result, NULL on OOM. */
static char *resolve(const fk_config *cfg, const char *key, const char *p, size_t n)
{
    const char *path, *dir;
    entry(cfg, key, &path, &dir);
    if (p[0] == '/' || !dir) return strndup(p, n);
    char *out = malloc(strlen(dir) + 1 + n + 1);
    if (out) sprintf(out, "%s/%.*s", dir, (int)n, p);
    return out;
}

int fk_config_path(const fk_config *cfg, const char *key, char **out, char *err, size_t err_len)
{
    const char *v = value(cfg, key);
    *out = NULL;
    if (!v) return 0;
    if (!(*out = resolve(cfg, key, v, strlen(v))))
        return bad(cfg, key, err, err_len, "out of memory");
    return 0;
}

/* A colon-separated list of paths, each resolved as fk_config_path does. */
static int path_list(const fk_config *cfg, const char *key, char **out, char *err, size_t err_len)
{
    const char *v = value(cfg, key);
    *out = NULL;
    if (!v) return 0;
    size_t parts = 1;
    for (const char *p = v; *p; p++) parts += *p == ':';
    const char *path, *dir;
    entry(cfg, key, &path, &dir);
    size_t cap = strlen(v) + 1 + parts * (dir ? strlen(dir) + 1 : 0);
    char *list = calloc(1, cap);
    if (!list) return bad(cfg, key, err, err_len, "out of memory");
    for (const char *p = v;;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        char *one = n ? resolve(cfg, key, p, n) : strdup("");
        if (!one) return free(list), bad(cfg, key, err, err_len, "out of memory");
        strcat(list, one);
        free(one);
        if (!colon) break;
        strcat(list, ":");
        p = colon + 1;
    }
    *out = list;
    return 0;
}

/* ---- validation ---------------------------------------------------------------- */

typedef struct checker {
    fk_config *cfg;
    char *err; /* message buffer */
    size_t err_len;
} checker;

static int get_int(checker *ck, const char *key, int lo, int hi, int def, int *out)
{
    long long x;
    if (fk_config_int(ck->cfg, key, def, lo, hi, &x, ck->err, ck->err_len) < 0) return -1;
    *out = (int)x;
    return 0;
}

static int get_double(checker *ck, const char *key, double lo, double hi, double def, double *out)
{
    return fk_config_double(ck->cfg, key, def, lo, hi, out, ck->err, ck->err_len);
}

static int get_bool(checker *ck, const char *key, int def, int *out)
{
    return fk_config_bool(ck->cfg, key, def, out, ck->err, ck->err_len);
}

static int check_listen(checker *ck)
{
    fk_config *cfg = ck->cfg;
    const char *v = value(ck->cfg, "FK_LISTEN");
    snprintf(cfg->listen_host, sizeof cfg->listen_host, "127.0.0.1");
    cfg->listen_port = 8001;
    if (!v) return 0;
    const char *colon = strrchr(v, ':');
    if (!colon) return bad(ck->cfg, "FK_LISTEN", ck->err, ck->err_len, "'%s' is not HOST:PORT", v);
    const char *h = v;
    size_t hl = (size_t)(colon - v);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') h++, hl -= 2; /* [::1]:8001 */
    if (hl == 0 || hl >= sizeof cfg->listen_host)
        return bad(ck->cfg, "FK_LISTEN", ck->err, ck->err_len, "'%s': missing or overlong host", v);
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port < 0 || port > 65535)
        return bad(ck->cfg, "FK_LISTEN", ck->err, ck->err_len, "'%s': port must be 0..65535", v);
    memcpy(cfg->listen_host, h, hl);
    cfg->listen_host[hl] = '\0';
    cfg->listen_port = (int)port;
    return 0;
}

static int check_date(checker *ck)
{
    const char *v = value(ck->cfg, "FK_CURRENT_DATE");
    ck->cfg->current_date = v;
    if (!v) return 0;
    int y, m, d;
    char tail;
    if (strlen(v) != 10 || sscanf(v, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 ||
        d < 1 || d > 31 || v[4] != '-' || v[7] != '-')
        return bad(ck->cfg, "FK_CURRENT_DATE", ck->err, ck->err_len,
                   "'%s' is not a YYYY-MM-DD date", v);
    return 0;
}

/* FK_CORE_API_BASE: an http(s) URL, or a comma-separated list of them
 * (replicas); kept without blanks around the commas or trailing slashes. */
static int check_api_base(checker *ck)
{
    fk_config *cfg = ck->cfg;
    const char *v = value(cfg, "FK_CORE_API_BASE");
    if (!v) return 0;
    strbuf out;
    strbuf_init(&out);
    for (const char *p = v;;) {
        const char *comma = strchr(p, ',');
        const char *e = comma ? comma : p + strlen(p);
        while (p < e && (*p == ' ' || *p == '\t')) p++;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '/')) e--;
        size_t n = (size_t)(e - p);
        int http =
            (n > 7 && strncmp(p, "http://", 7) == 0) || (n > 8 && strncmp(p, "https://", 8) == 0);
        if (!http || memchr(p, ' ', n)) {
            strbuf_clear(&out);
            return bad(cfg, "FK_CORE_API_BASE", ck->err, ck->err_len,
                       "'%.*s' is not an http(s) URL (a list of replicas: URL,URL,...)", (int)n, p);
        }
        if (out.len) strbuf_append_char(&out, ',');
        strbuf_append(&out, p, n);
        if (!comma) break;
        p = comma + 1;
    }
    if (out.oom || !(cfg->core_api_base = strbuf_take(&out, NULL))) {
        strbuf_clear(&out);
        return bad(cfg, "FK_CORE_API_BASE", ck->err, ck->err_len, "out of memory");
    }
    return 0;
}

static int check_core(checker *ck)
{
    fk_config *cfg = ck->cfg;
    const char *kind = value(ck->cfg, "FK_CORE_KIND");
    cfg->core_kind = kind ? kind : "vllm";
    if (strcmp(cfg->core_kind, "llama") != 0 && strcmp(cfg->core_kind, "vllm") != 0)
        return bad(ck->cfg, "FK_CORE_KIND", ck->err, ck->err_len, "'%s' must be llama or vllm",
                   cfg->core_kind);
    cfg->driver_name = value(ck->cfg, "FK_DRIVER");
    if (!cfg->driver_name)
        cfg->driver_name = strcmp(cfg->core_kind, "llama") == 0 ? "llamacpp" : "native";
    for (const char *p = cfg->driver_name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            return bad(ck->cfg, "FK_DRIVER", ck->err, ck->err_len,
                       "'%s': a driver name is [a-z0-9_-]+", cfg->driver_name);
    if (check_api_base(ck) < 0) return -1;
    cfg->frontend_model = value(cfg, "FRONTEND_VLLM_MODEL");
    return fk_config_path(cfg, "VLLM_MODEL_CORE", &cfg->model_path, ck->err, ck->err_len);
}

static int check_enums(checker *ck)
{
    fk_config *cfg = ck->cfg;
    const char *lv = value(ck->cfg, "FK_LOG_LEVEL");
    cfg->log_level = FK_LOG_INFO;
    if (lv && (cfg->log_level = fk_log_parse_level(lv)) < 0)
        return bad(ck->cfg, "FK_LOG_LEVEL", ck->err, ck->err_len,
                   "'%s' must be error, warn, info or debug", lv);
    const char *rf = value(ck->cfg, "FK_REASONING_FIELDS");
    cfg->reasoning_fields = FK_REASONING_BOTH;
    if (rf) {
        if (strcmp(rf, "both") == 0)
            cfg->reasoning_fields = FK_REASONING_BOTH;
        else if (strcmp(rf, "reasoning_content") == 0)
            cfg->reasoning_fields = FK_REASONING_CONTENT;
        else if (strcmp(rf, "reasoning") == 0)
            cfg->reasoning_fields = FK_REASONING_ONLY;
        else
            return bad(ck->cfg, "FK_REASONING_FIELDS", ck->err, ck->err_len,
                       "'%s' must be both, reasoning_content or reasoning", rf);
    }
    const char *st = value(ck->cfg, "FK_PASSTHROUGH_SPECIAL_TEXT");
    cfg->special_text = FK_SPECIAL_TEXT_REJECT;
    if (st && strcmp(st, "escape") == 0)
        cfg->special_text = FK_SPECIAL_TEXT_ESCAPE;
    else if (st && strcmp(st, "reject") != 0)
        return bad(ck->cfg, "FK_PASSTHROUGH_SPECIAL_TEXT", ck->err, ck->err_len,
                   "'%s' must be reject or escape", st);
    return 0;
}

static int check_numbers(checker *ck)
{
    fk_config *cfg = ck->cfg;
    if (get_int(ck, "VLLM_MAX_MODEL_LEN", 0, 1 << 24, 0, &cfg->max_model_len) < 0) return -1;
    if (get_double(ck, "VLLM_GPU_MEMORY_UTILIZATION", 0.01, 1.0, 0.9,
                   &cfg->gpu_memory_utilization) < 0)
        return -1;
    if (get_int(ck, "FRONTEND_MAX_TOKENS", 1, 1 << 24, 2048, &cfg->default_max_tokens) < 0)
        return -1;
    if (get_bool(ck, "FRONTEND_USE_HARMONY", 1, &cfg->use_harmony) < 0) return -1;
    long long body;
    if (fk_config_int(cfg, "FK_MAX_BODY_BYTES", 4L << 20, 1024, 1L << 30, &body, ck->err,
                      ck->err_len) < 0)
        return -1;
    cfg->max_body_bytes = (long)body;
    if (get_int(ck, "FK_MAX_MESSAGES", 1, 1 << 20, 1024, &cfg->max_messages) < 0) return -1;
    if (get_double(ck, "FK_SHUTDOWN_GRACE_S", 0, 86400, 30, &cfg->shutdown_grace_s) < 0) return -1;
    if (get_double(ck, "FK_STATS_INTERVAL_S", 0, 86400, 5, &cfg->stats_interval_s) < 0) return -1;
    if (get_double(ck, "FK_KEEPALIVE_S", 0, 3600, 10, &cfg->keepalive_s) < 0) return -1;
    if (get_double(ck, "FK_WAIT_READY_S", 0, 86400, 60, &cfg->wait_ready_s) < 0) return -1;
    if (get_int(ck, "FK_HTTP_TIMEOUT_S", 1, 86400, 120, &cfg->http_timeout_s) < 0) return -1;
    if (get_double(ck, "FK_HEADER_TIMEOUT_S", 0.1, 3600, 10, &cfg->header_timeout_s) < 0) return -1;
    if (get_int(ck, "FK_MAX_CONNECTIONS", 0, 1 << 24, 0, &cfg->max_connections) < 0) return -1;
    if (get_bool(ck, "FK_ACCEPT_ANY_MODEL", 0, &cfg->accept_any_model) < 0) return -1;
    if (get_bool(ck, "FK_TEST_FIXED_IDS", 0, &cfg->test_fixed_ids) < 0) return -1;
    if (get_int(ck, "FK_RESPONSES_STORE_MAX", 0, 1 << 20, 1000, &cfg->responses_store_max) < 0 ||
        get_double(ck, "FK_RESPONSES_STORE_TTL_S", 1, 365 * 86400.0, 86400,
                   &cfg->responses_store_ttl_s) < 0 ||
        get_int(ck, "FK_RESPONSES_STORE_MB", 1, 1 << 20, 256, &cfg->responses_store_mb) < 0)
        return -1;
    if (get_int(ck, "FK_RELOAD_WATCH_MS", 0, 3600000, 1000, &cfg->reload_watch_ms) < 0) return -1;
    if (cfg->max_model_len > 0 && cfg->default_max_tokens > cfg->max_model_len)
        return bad(ck->cfg, "FRONTEND_MAX_TOKENS", ck->err, ck->err_len,
                   "%d exceeds VLLM_MAX_MODEL_LEN (%d)", cfg->default_max_tokens,
                   cfg->max_model_len);
    return 0;
}

/* The seed's keys (read as written, some only by the frontend). */
static const char *const seed_keys[] = {
    "FRONTEND_VLLM_API_BASE", "FRONTEND_VLLM_MODEL",         "VLLM_MODEL_CORE",
    "VLLM_MAX_MODEL_LEN",     "VLLM_GPU_MEMORY_UTILIZATION", "FRONTEND_MAX_TOKENS",
    "FRONTEND_USE_HARMONY",
};

static int is_known_key(const char *key)
{
    for (size_t i = 0; i < sizeof seed_keys / sizeof *seed_keys; i++)
        if (strcmp(key, seed_keys[i]) == 0) return 1;
    return gateway_key(key) || fk_config_is_driver_key(key);
}

/* FK_CORES: a comma-separated list of files, each resolved as a path. */
static int check_cores(checker *ck)
{
    fk_config *cfg = ck->cfg;
    const char *v = value(cfg, "FK_CORES");
    if (!v || cfg->core_file) return 0;
    size_t parts = 1;
    for (const char *p = v; *p; p++) parts += *p == ',';
    cfg->core_files = calloc(parts, sizeof *cfg->core_files);
    cfg->core_names = calloc(parts, sizeof *cfg->core_names);
    if (!cfg->core_files || !cfg->core_names)
        return bad(cfg, "FK_CORES", ck->err, ck->err_len, "out of memory");
    for (const char *p = v;;) {
        const char *comma = strchr(p, ',');
        const char *e = comma ? comma : p + strlen(p);
        while (p < e && (*p == ' ' || *p == '\t')) p++;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t')) e--;
        if (e == p)
            return bad(cfg, "FK_CORES", ck->err, ck->err_len,
                       "'%s': an empty entry (FK_CORES=FILE[,FILE...])", v);
        size_t i = cfg->n_core_files;
        for (size_t k = 0; k < i; k++)
            if (strlen(cfg->core_names[k]) == (size_t)(e - p) &&
                memcmp(cfg->core_names[k], p, (size_t)(e - p)) == 0)
                return bad(cfg, "FK_CORES", ck->err, ck->err_len, "'%.*s' is listed twice",
                           (int)(e - p), p);
        cfg->core_names[i] = strndup(p, (size_t)(e - p));
        cfg->core_files[i] = resolve(cfg, "FK_CORES", p, (size_t)(e - p));
        cfg->n_core_files++;
        if (!cfg->core_names[i] || !cfg->core_files[i])
            return bad(cfg, "FK_CORES", ck->err, ck->err_len, "out of memory");
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

/* Warn about FK_ keys nobody reads, and keys that differ from a known one
 * only in case (keys are case-sensitive: "fk_listen" is not FK_LISTEN); in
 * an FK_CORES file, about gateway-wide keys (read from the main .env only). */
static void warn_unknown(const fk_config *cfg)
{
    for (size_t i = 0; i < cfg->file.n; i++) {
        const char *k = cfg->file.v[i].key;
        const char *file = cfg->env_path ? cfg->env_path : ".env";
        char upper[128];
        size_t n = 0;
        for (; k[n] && n + 1 < sizeof upper; n++) upper[n] = (char)toupper((unsigned char)k[n]);
        upper[n] = '\0';
        if (strcmp(upper, k) != 0 && is_known_key(upper))
            fk_warn("%s:%d: %s: keys are case-sensitive; did you mean %s? (ignored)", file,
                    cfg->file.v[i].line, k, upper);
        else if (strncmp(upper, "FK_", 3) == 0 && !is_known_key(k))
            fk_warn("%s:%d: %s: unknown key (ignored)", file, cfg->file.v[i].line, k);
        else if (cfg->core_file && fk_config_is_gateway_wide(k))
            fk_warn("%s:%d: %s: read from the main .env only; ignored in a core file (FK_CORES)",
                    file, cfg->file.v[i].line, k);
    }
}

/* Values set in the environment replace the file's; such entries get line 0. */
static int apply_environment(fk_config *cfg)
{
    for (size_t i = 0; i < cfg->file.n; i++) {
        const char *v = getenv(cfg->file.v[i].key);
        if (!v) continue;
        char *copy = strdup(v);
        if (!copy) return -1;
        free(cfg->file.v[i].value);
        cfg->file.v[i].value = copy;
        cfg->file.v[i].line = 0;
    }
    return 0;
}

/* FK_PUBLIC_ENDPOINTS: "none", or a comma list of /health, /version, /metrics. */
static int check_public(checker *ck)
{
    static const struct {
        const char *path; /* as written */
        int bit;          /* FK_PUBLIC_* */
    } known[] = {{"/health", FK_PUBLIC_HEALTH},
                 {"/version", FK_PUBLIC_VERSION},
                 {"/metrics", FK_PUBLIC_METRICS}};
    fk_config *cfg = ck->cfg;
    const char *v = value(cfg, "FK_PUBLIC_ENDPOINTS");
    cfg->public_endpoints = FK_PUBLIC_HEALTH | FK_PUBLIC_VERSION | FK_PUBLIC_METRICS;
    if (!v) return 0;
    cfg->public_endpoints = 0;
    if (strcmp(v, "none") == 0) return 0;
    for (const char *p = v; *p;) {
        while (*p == ' ' || *p == ',') p++;
        const char *e = p;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > p && t[-1] == ' ') t--;
        if (t == p) break;
        size_t n = (size_t)(t - p), i = 0;
        while (i < sizeof known / sizeof *known &&
               !(strlen(known[i].path) == n && memcmp(known[i].path, p, n) == 0))
            i++;
        if (i == sizeof known / sizeof *known)
            return bad(cfg, "FK_PUBLIC_ENDPOINTS", ck->err, ck->err_len,
                       "'%.*s' is not /health, /version or /metrics (or none)", (int)n, p);
        cfg->public_endpoints |= known[i].bit;
        p = e;
    }
    return 0;
}

/* FK_WEB_DIR: a folder (resolved like every path), "none", or the installed one. */
static int check_web_dir(checker *ck)
{
    fk_config *cfg = ck->cfg;
    const char *v = value(cfg, "FK_WEB_DIR");
    if (v && strcmp(v, "none") == 0) return 0;
    if (fk_config_path(cfg, "FK_WEB_DIR", &cfg->web_dir, ck->err, ck->err_len) < 0) return -1;
    if (!cfg->web_dir && !(cfg->web_dir = strdup(FK_PKGDATADIR "/web")))
        return bad(cfg, "FK_WEB_DIR", ck->err, ck->err_len, "out of memory");
    return 0;
}

/* `warn`: log warnings about the file's own lines (once per file read). */
static int validate(fk_config *cfg, int warn, char *err, size_t err_len)
{
    checker ck = {cfg, err, err_len};
    if (!cfg->core_file && apply_environment(cfg) < 0)
        return snprintf(err, err_len, "out of memory"), -1;
    if (check_core(&ck) < 0 || check_listen(&ck) < 0 || check_date(&ck) < 0 ||
        check_enums(&ck) < 0 || check_numbers(&ck) < 0 || check_cores(&ck) < 0)
        return -1;
    if (path_list(cfg, "FK_DRIVER_DIR", &cfg->driver_dir, err, err_len) < 0) return -1;
    if (!cfg->driver_dir && !(cfg->driver_dir = strdup(FK_PKGLIBDIR)))
        return snprintf(err, err_len, "out of memory"), -1;
    if (check_web_dir(&ck) < 0) return -1;
    cfg->api_key = value(cfg, "FK_API_KEY");
    cfg->cors_origins = value(cfg, "FK_CORS_ORIGINS");
    if (check_public(&ck) < 0) return -1;
    if (warn) warn_unknown(cfg);
    return 0;
}

/* The absolute folder of `path` (owned), or NULL on OOM. */
static char *folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    char *abs = dir ? realpath(dir, NULL) : NULL;
    if (!abs) return dir; /* a folder that cannot be resolved stays as written */
    free(dir);
    return abs;
}

/* Remember the file's name and folder (relative paths in it resolve there). */
static int set_env_path(fk_config *cfg, const char *path, char *err, size_t err_len)
{
    cfg->env_path = strdup(path);
    cfg->env_dir = folder_of(path);
    if (!cfg->env_path || !cfg->env_dir) return snprintf(err, err_len, "out of memory"), -1;
    return 0;
}

int fk_config_load_buffer(fk_config *cfg, const char *buf, size_t len, const char *fname, char *err,
                          size_t err_len)
{
    memset(cfg, 0, sizeof *cfg);
    fk_dotenv_init(&cfg->file);
    if (set_env_path(cfg, fname, err, err_len) < 0) return -1;
    if (fk_dotenv_parse(buf, len, fname, &cfg->file, err, err_len) < 0) return -1;
    return validate(cfg, 1, err, err_len);
}

int fk_config_load(fk_config *cfg, const char *path, char *err, size_t err_len)
{
    memset(cfg, 0, sizeof *cfg);
    fk_dotenv_init(&cfg->file);
    const char *p = path ? path : ".env";
    /* ./.env may be missing; anything there (a FIFO too) is read and judged. */
    if (path || access(p, F_OK) == 0) {
        if (set_env_path(cfg, p, err, err_len) < 0) return -1;
        if (fk_dotenv_load(p, &cfg->file, err, err_len) < 0) return -1;
    }
    return validate(cfg, 1, err, err_len);
}

/* A copy of s (NULL stays NULL); -1 on OOM. */
static int dup_or_null(char **out, const char *s)
{
    *out = s ? strdup(s) : NULL;
    return s && !*out ? -1 : 0;
}

int fk_config_derive(fk_config *cfg, const fk_config *main, const char *core_path, char *err,
                     size_t err_len)
{
    memset(cfg, 0, sizeof *cfg);
    fk_dotenv_init(&cfg->file);
    fk_dotenv_init(&cfg->base);
    if (!core_path) { /* the default core: the main .env as it was read */
        if (fk_dotenv_copy(&cfg->file, &main->file) < 0 ||
            dup_or_null(&cfg->env_path, main->env_path) < 0 ||
            dup_or_null(&cfg->env_dir, main->env_dir) < 0)
            return snprintf(err, err_len, "out of memory"), -1;
        return validate(cfg, 0, err, err_len);
    }
    cfg->core_file = 1;
    if (set_env_path(cfg, core_path, err, err_len) < 0) return -1;
    if (fk_dotenv_load(core_path, &cfg->file, err, err_len) < 0) return -1;
    if (fk_dotenv_copy(&cfg->base, &main->file) < 0 ||
        dup_or_null(&cfg->base_path, main->env_path) < 0 ||
        dup_or_null(&cfg->base_dir, main->env_dir) < 0)
        return snprintf(err, err_len, "out of memory"), -1;
    return validate(cfg, 1, err, err_len);
}

/* ---- fingerprints ------------------------------------------------------------------ */

static int by_key(const void *a, const void *b)
{
    return strcmp((*(const fk_dotenv_entry *const *)a)->key,
                  (*(const fk_dotenv_entry *const *)b)->key);
}

char *fk_config_fingerprint(const fk_config *cfg)
{
    size_t n = cfg->file.n + cfg->base.n;
    const fk_dotenv_entry **v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < cfg->file.n; i++) v[k++] = &cfg->file.v[i];
    for (size_t i = 0; i < cfg->base.n; i++)
        if (!fk_dotenv_find(&cfg->file, cfg->base.v[i].key)) v[k++] = &cfg->base.v[i];
    qsort(v, k, sizeof *v, by_key);
    strbuf out;
    strbuf_init(&out);
    int ok = 1;
    for (size_t i = 0; i < k && ok; i++) {
        if (fk_config_is_gateway_wide(v[i]->key)) continue;
        const char *path, *dir;
        entry(cfg, v[i]->key, &path, &dir);
        ok = strbuf_printf(&out, "%s=%s\t%s\n", v[i]->key, v[i]->value, dir ? dir : "") == 0;
    }
    free(v);
    if (!ok) {
        strbuf_clear(&out);
        return NULL;
    }
    return strbuf_take(&out, NULL);
}

void fk_config_free(fk_config *cfg)
{
    fk_dotenv_free(&cfg->file);
    fk_dotenv_free(&cfg->base);
    free(cfg->env_path);
    free(cfg->env_dir);
    free(cfg->base_path);
    free(cfg->base_dir);
    for (size_t i = 0; i < cfg->n_core_files; i++) {
        free(cfg->core_files[i]);
        free(cfg->core_names[i]);
    }
    free(cfg->core_files);
    free(cfg->core_names);
    free(cfg->core_api_base);
    free(cfg->model_path);
    free(cfg->driver_dir);
    free(cfg->web_dir);
    memset(cfg, 0, sizeof *cfg);
}
