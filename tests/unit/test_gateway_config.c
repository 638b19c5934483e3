/* test_gateway_config.c: gateway keys: defaults, the seed's keys as written,
 * validation messages "FILE:LINE: KEY: why", the environment overriding
 * the file, the typed getters drivers use, relative paths resolved
 * against the file's folder, FK_CORES files read over the main .env, their
 * fingerprints, and FK_CORE_API_BASE lists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/gateway_config.h"
#include "gateway/log.h"
#include "tests/tap.h"

static int load(fk_config *c, const char *text, char *err, size_t len)
{
    return fk_config_load_buffer(c, text, strlen(text), "my.env", err, len);
}

static void test_defaults(void)
{
    fk_config c;
    char err[512] = "";
    is_int(load(&c, "", err, sizeof err), 0, "empty file: %s", err);
    is_str(c.core_kind, "vllm", "default core");
    is_str(c.driver_name, "native", "vllm -> native driver");
    is_str(c.listen_host, "127.0.0.1", "default host");
    is_int(c.listen_port, 8001, "default port");
    is_int(c.default_max_tokens, 2048, "default FRONTEND_MAX_TOKENS");
    is_int(c.use_harmony, 1, "Harmony on by default");
    is_int(c.max_body_bytes, 4 << 20, "default body limit");
    ok(c.stats_interval_s == 5, "stats every 5 s");
    is_int(c.reasoning_fields, FK_REASONING_BOTH, "both reasoning fields");
    is_str(c.driver_dir, FK_PKGLIBDIR, "drivers from pkglibdir");
    is_str(c.web_dir, FK_PKGDATADIR "/web", "the chat page from pkgdatadir/web");
    fk_config_free(&c);
    is_int(load(&c, "FK_WEB_DIR=none\n", err, sizeof err), 0, "FK_WEB_DIR=none: %s", err);
    ok(c.web_dir == NULL, "FK_WEB_DIR=none: no page");
    fk_config_free(&c);
}

static void test_seed(void)
{
    const char *seed = "FK_CORE_KIND=llama\n"
                       "FK_CORE_API_BASE=http://llama-core:8080\n"
                       "FRONTEND_VLLM_API_BASE=http://llama-core:8080/v1\n"
                       "FRONTEND_VLLM_MODEL=gpt-oss-20b-mxfp4.gguf\n"
                       "VLLM_MODEL_CORE=/models/gpt-oss-20b\n"
                       "VLLM_MAX_MODEL_LEN=8192\n"
                       "VLLM_GPU_MEMORY_UTILIZATION=0.9\n"
                       "FRONTEND_MAX_TOKENS=2048\n"
                       "FRONTEND_USE_HARMONY=1\n";
    fk_config c;
    char err[512] = "";
    is_int(load(&c, seed, err, sizeof err), 0, "the seed file loads: %s", err);
    is_str(c.driver_name, "llamacpp", "llama -> llamacpp driver");
    is_str(c.core_api_base, "http://llama-core:8080", "FK_CORE_API_BASE");
    is_str(c.frontend_model, "gpt-oss-20b-mxfp4.gguf", "FRONTEND_VLLM_MODEL");
    is_str(c.model_path, "/models/gpt-oss-20b", "VLLM_MODEL_CORE (absolute: as written)");
    is_int(c.max_model_len, 8192, "VLLM_MAX_MODEL_LEN");
    ok(c.gpu_memory_utilization > 0.899 && c.gpu_memory_utilization < 0.901,
       "VLLM_GPU_MEMORY_UTILIZATION");
    is_str(fk_config_get(&c, "FRONTEND_VLLM_API_BASE"), "http://llama-core:8080/v1",
           "config_get sees every key");
    fk_config_free(&c);
    is_int(load(&c,
                "FK_CORE_KIND=vllm\nFK_DRIVER=scripted\nFK_LISTEN=[::1]:0\nFRONTEND_USE_HARMONY="
                "false\n",
                err, sizeof err),
           0, "FK_DRIVER and IPv6 listen");
    is_str(c.driver_name, "scripted", "FK_DRIVER wins");
    is_str(c.listen_host, "::1", "bracketed IPv6 host");
    is_int(c.listen_port, 0, "port 0");
    is_int(c.use_harmony, 0, "false is a boolean");
    fk_config_free(&c);
}

static void expect(const char *text, const char *want)
{
    fk_config c;
    char err[512] = "";
    int rc = load(&c, text, err, sizeof err);
    ok(rc == -1 && strcmp(err, want) == 0, "rejects: %s", want);
    if (strcmp(err, want) != 0) diag("  got '%s'", err);
    fk_config_free(&c);
}

static void test_errors(void)
{
    expect("FK_CORE_KIND=gguf\n", "my.env:1: FK_CORE_KIND: 'gguf' must be llama or vllm");
    expect("\nFK_LISTEN=localhost\n", "my.env:2: FK_LISTEN: 'localhost' is not HOST:PORT");
    expect("FK_LISTEN=1.2.3.4:70000\n",
           "my.env:1: FK_LISTEN: '1.2.3.4:70000': port must be 0..65535");
    expect("VLLM_MAX_MODEL_LEN=-4\n",
           "my.env:1: VLLM_MAX_MODEL_LEN: -4 is out of range [0, 16777216]");
    expect("VLLM_MAX_MODEL_LEN=8k\n", "my.env:1: VLLM_MAX_MODEL_LEN: '8k' is not an integer");
    expect("VLLM_GPU_MEMORY_UTILIZATION=1.5\n",
           "my.env:1: VLLM_GPU_MEMORY_UTILIZATION: 1.5 is out of range [0.01, 1]");
    expect("FRONTEND_MAX_TOKENS=0\n",
           "my.env:1: FRONTEND_MAX_TOKENS: 0 is out of range [1, 16777216]");
    expect("VLLM_MAX_MODEL_LEN=1024\nFRONTEND_MAX_TOKENS=2048\n",
           "my.env:2: FRONTEND_MAX_TOKENS: 2048 exceeds VLLM_MAX_MODEL_LEN (1024)");
    expect("FRONTEND_USE_HARMONY=maybe\n", "my.env:1: FRONTEND_USE_HARMONY: 'maybe' is not a "
                                           "boolean (1/0, true/false, yes/no, on/off)");
    expect("FK_LOG_LEVEL=loud\n",
           "my.env:1: FK_LOG_LEVEL: 'loud' must be error, warn, info or debug");
    expect("FK_REASONING_FIELDS=all\n",
           "my.env:1: FK_REASONING_FIELDS: 'all' must be both, reasoning_content or reasoning");
    expect("FK_HEADER_TIMEOUT_S=0\n",
           "my.env:1: FK_HEADER_TIMEOUT_S: 0 is out of range [0.1, 3600]");
    expect("FK_MAX_CONNECTIONS=-1\n",
           "my.env:1: FK_MAX_CONNECTIONS: -1 is out of range [0, 16777216]");
    expect("FK_PUBLIC_ENDPOINTS=/health,/v1/models\n",
           "my.env:1: FK_PUBLIC_ENDPOINTS: '/v1/models' is not /health, /version or /metrics (or "
           "none)");
    expect("FK_PASSTHROUGH_SPECIAL_TEXT=strip\n",
           "my.env:1: FK_PASSTHROUGH_SPECIAL_TEXT: 'strip' must be reject or escape");
    expect("FK_CURRENT_DATE=2026-13-01\n",
           "my.env:1: FK_CURRENT_DATE: '2026-13-01' is not a YYYY-MM-DD date");
    expect("FK_CORE_API_BASE=llama-core:8080\n",
           "my.env:1: FK_CORE_API_BASE: 'llama-core:8080' is not an http(s) URL (a list of "
           "replicas: URL,URL,...)");
    expect("FK_DRIVER=../../evil\n",
           "my.env:1: FK_DRIVER: '../../evil': a driver name is [a-z0-9_-]+");
    expect("FK_MAX_BODY_BYTES=10\n",
           "my.env:1: FK_MAX_BODY_BYTES: 10 is out of range [1024, 1073741824]");
    expect("FK_SHUTDOWN_GRACE_S=soon\n", "my.env:1: FK_SHUTDOWN_GRACE_S: 'soon' is not a number");
    expect("A=1\nB\n", "my.env:2: B: expected '=' after the key (a line is KEY=VALUE)");
}

/* Every numeric key at both ends of its range and one step outside each end
 * (the error names the range): a `>=` written for `>` shows here. */
static void test_ranges(void)
{
    static const struct {
        const char *key;   /* the key */
        const char *lo;    /* lowest accepted value */
        const char *below; /* one step below it */
        const char *hi;    /* highest accepted value */
        const char *above; /* one step above it */
        const char *range; /* as the error message writes it */
    } keys[] = {
        {"VLLM_MAX_MODEL_LEN", "0", "-1", "16777216", "16777217", "[0, 16777216]"},
        {"VLLM_GPU_MEMORY_UTILIZATION", "0.01", "0.0099", "1", "1.0001", "[0.01, 1]"},
        {"FRONTEND_MAX_TOKENS", "1", "0", "16777216", "16777217", "[1, 16777216]"},
        {"FK_MAX_BODY_BYTES", "1024", "1023", "1073741824", "1073741825", "[1024, 1073741824]"},
        {"FK_MAX_MESSAGES", "1", "0", "1048576", "1048577", "[1, 1048576]"},
        {"FK_SHUTDOWN_GRACE_S", "0", "-0.001", "86400", "86400.001", "[0, 86400]"},
        {"FK_STATS_INTERVAL_S", "0", "-0.001", "86400", "86400.001", "[0, 86400]"},
        {"FK_KEEPALIVE_S", "0", "-0.001", "3600", "3600.001", "[0, 3600]"},
        {"FK_WAIT_READY_S", "0", "-0.001", "86400", "86400.001", "[0, 86400]"},
        {"FK_HTTP_TIMEOUT_S", "1", "0", "86400", "86401", "[1, 86400]"},
    };
    char text[256], err[512], want[256];
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const char *values[4] = {keys[i].lo, keys[i].hi, keys[i].below, keys[i].above};
        for (int v = 0; v < 4; v++) {
            fk_config c;
            snprintf(text, sizeof text, "%s=%s\n", keys[i].key, values[v]);
            err[0] = '\0';
            int rc = load(&c, text, err, sizeof err);
            if (v < 2) {
                ok(rc == 0, "%s=%s (%s end) accepted", keys[i].key, values[v],
                   v ? "top" : "bottom");
            } else {
                snprintf(want, sizeof want, "my.env:1: %s: %s is out of range %s", keys[i].key,
                         values[v], keys[i].range);
                ok(rc == -1 && strcmp(err, want) == 0, "%s=%s (one step %s) refused: %s",
                   keys[i].key, values[v], v == 2 ? "below" : "above", want);
                if (strcmp(err, want) != 0) diag("  got '%s'", err);
            }
            fk_config_free(&c);
        }
    }
    fk_config c;
    is_int(load(&c, "VLLM_MAX_MODEL_LEN=2048\nFRONTEND_MAX_TOKENS=2048\n", err, sizeof err), 0,
           "FRONTEND_MAX_TOKENS = VLLM_MAX_MODEL_LEN is allowed");
    fk_config_free(&c);
    expect("VLLM_MAX_MODEL_LEN=2048\nFRONTEND_MAX_TOKENS=2049\n",
           "my.env:2: FRONTEND_MAX_TOKENS: 2049 exceeds VLLM_MAX_MODEL_LEN (2048)");
    is_int(load(&c, "VLLM_MAX_MODEL_LEN=0\nFRONTEND_MAX_TOKENS=16777216\n", err, sizeof err), 0,
           "VLLM_MAX_MODEL_LEN 0 (the core's) puts no cap on FRONTEND_MAX_TOKENS");
    fk_config_free(&c);
    is_int(load(&c, "FK_LISTEN=127.0.0.1:65535\n", err, sizeof err), 0, "port 65535 accepted");
    is_int(c.listen_port, 65535, "port 65535 kept");
    fk_config_free(&c);
    expect("FK_LISTEN=127.0.0.1:65536\n",
           "my.env:1: FK_LISTEN: '127.0.0.1:65536': port must be 0..65535");
    expect("FK_LISTEN=127.0.0.1:-1\n",
           "my.env:1: FK_LISTEN: '127.0.0.1:-1': port must be 0..65535");
    is_int(load(&c, "FK_CURRENT_DATE=2026-12-31\n", err, sizeof err), 0, "date: month 12, day 31");
    fk_config_free(&c);
    is_int(load(&c, "FK_CURRENT_DATE=2026-01-01\n", err, sizeof err), 0, "date: month 1, day 1");
    fk_config_free(&c);
    expect("FK_CURRENT_DATE=2026-12-32\n",
           "my.env:1: FK_CURRENT_DATE: '2026-12-32' is not a YYYY-MM-DD date");
    expect("FK_CURRENT_DATE=2026-00-10\n",
           "my.env:1: FK_CURRENT_DATE: '2026-00-10' is not a YYYY-MM-DD date");
    expect("FK_CURRENT_DATE=2026-01-00\n",
           "my.env:1: FK_CURRENT_DATE: '2026-01-00' is not a YYYY-MM-DD date");
}

static void test_environment(void)
{
    fk_config c;
    char err[512] = "";
    setenv("FK_MAX_MESSAGES", "7", 1);
    setenv("FK_LLAMA_SLOTS", "3", 1);
    is_int(load(&c, "FK_MAX_MESSAGES=100\n", err, sizeof err), 0, "environment override loads");
    is_int(c.max_messages, 7, "the environment wins over the file");
    is_str(fk_config_get(&c, "FK_LLAMA_SLOTS"), "3", "config_get falls back to the environment");
    fk_config_free(&c);
    setenv("FK_MAX_MESSAGES", "zero", 1);
    is_int(load(&c, "FK_MAX_MESSAGES=100\n", err, sizeof err), -1, "bad environment value fails");
    is_str(err, "environment: FK_MAX_MESSAGES: 'zero' is not an integer",
           "and says it came from the environment");
    fk_config_free(&c);
    unsetenv("FK_MAX_MESSAGES");
    unsetenv("FK_LLAMA_SLOTS");
}

static void test_driver_keys(void)
{
    ok(fk_config_is_driver_key("FK_LLAMA_ANYTHING"), "FK_LLAMA_* is a driver key");
    ok(fk_config_is_driver_key("FK_SCRIPT_FILE"), "FK_SCRIPT* is a driver key");
    ok(fk_config_is_driver_key("FK_THREADS"), "FK_THREADS");
    ok(fk_config_is_driver_key("FK_MAX_BATCH"), "FK_MAX_BATCH");
    ok(fk_config_is_driver_key("FK_TOKENIZER"), "FK_TOKENIZER");
    ok(!fk_config_is_driver_key("FK_LISTEN"), "FK_LISTEN is the gateway's");
    ok(!fk_config_is_driver_key("FK_THREADSX"), "exact names are exact");
}

/* The getters drivers reach through fk_host: one rule per type. */
static void test_getters(void)
{
    fk_config c;
    char err[512] = "";
    is_int(load(&c, "A=12\nB=0x1\nC=yes\nD=Off\nE=0.25\nF=\nG=9999999999\n", err, sizeof err), 0,
           "getters file: %s", err);
    long long n;
    is_int(fk_config_int(&c, "A", 5, 0, 100, &n, err, sizeof err), 0, "int: in range");
    is_int(n, 12, "int: 12");
    is_int(fk_config_int(&c, "F", 5, 0, 100, &n, err, sizeof err), 0, "int: empty is unset");
    is_int(n, 5, "int: empty gives the default");
    is_int(fk_config_int(&c, "MISSING", -3, -10, 10, &n, err, sizeof err), 0, "int: unset");
    is_int(n, -3, "int: unset gives the default");
    ok(fk_config_int(&c, "B", 0, 0, 10, &n, err, sizeof err) < 0 &&
           strcmp(err, "my.env:2: B: '0x1' is not an integer") == 0,
       "int: '0x1' refused with FILE:LINE (%s)", err);
    ok(fk_config_int(&c, "A", 0, 0, 11, &n, err, sizeof err) < 0 &&
           strcmp(err, "my.env:1: A: 12 is out of range [0, 11]") == 0,
       "int: one above the range refused (%s)", err);
    is_int(fk_config_int(&c, "A", 0, 12, 12, &n, err, sizeof err), 0, "int: exactly at both ends");
    is_int(fk_config_int(&c, "G", 0, 0, 10000000000LL, &n, err, sizeof err), 0,
           "int: values beyond 32 bits");
    ok(n == 9999999999LL, "int: 9999999999 kept whole");
    int b;
    is_int(fk_config_bool(&c, "C", 0, &b, err, sizeof err), 0, "bool: yes");
    is_int(b, 1, "bool: yes is true");
    is_int(fk_config_bool(&c, "D", 1, &b, err, sizeof err), 0, "bool: Off");
    is_int(b, 0, "bool: Off is false (any case)");
    ok(fk_config_bool(&c, "A", 0, &b, err, sizeof err) < 0 && strstr(err, "not a boolean"),
       "bool: 12 refused (%s)", err);
    double d;
    is_int(fk_config_double(&c, "E", 0, 0, 1, &d, err, sizeof err), 0, "double: 0.25");
    ok(d == 0.25, "double: value");
    ok(fk_config_double(&c, "E", 0, 0.5, 1, &d, err, sizeof err) < 0 &&
           strstr(err, "my.env:5: E: 0.25 is out of range [0.5, 1]"),
       "double: out of range (%s)", err);
    fk_config_free(&c);
}

/* Relative paths in a file are relative to the file's folder; values from
 * the environment to the current folder. */
static void test_paths(void)
{
    char dir[] = "/tmp/fk-cfg-XXXXXX", sub[64], file[96], want[160];
    require(mkdtemp(dir) != NULL, "a temporary folder");
    snprintf(sub, sizeof sub, "%s/conf", dir);
    snprintf(file, sizeof file, "%s/my.env", sub);
    mkdir(sub, 0700);
    FILE *f = fopen(file, "w");
    if (f) {
        fputs(
            "VLLM_MODEL_CORE=../models/tiny\nFK_DRIVER_DIR=lib:/abs/drivers::plug\nFK_WEB_DIR=web\n"
            "FK_TOKENIZER=/etc/tok.json\nFK_SCRIPT_FILE=s.json\n",
            f);
        fclose(f);
    }
    fk_config c;
    char err[512] = "";
    is_int(fk_config_load(&c, file, err, sizeof err), 0, "file with relative paths: %s", err);
    char *real = realpath(sub, NULL);
    snprintf(want, sizeof want, "%s/../models/tiny", real ? real : sub);
    is_str(c.model_path, want, "VLLM_MODEL_CORE: relative to the file's folder");
    is_str(c.env_dir, real, "env_dir: the file's folder, absolute");
    char list[600];
    snprintf(list, sizeof list, "%s/lib:/abs/drivers::%s/plug", real, real);
    is_str(c.driver_dir, list, "FK_DRIVER_DIR: each relative entry resolved");
    snprintf(want, sizeof want, "%s/web", real);
    is_str(c.web_dir, want, "FK_WEB_DIR: relative to the file's folder");
    char *p = NULL;
    is_int(fk_config_path(&c, "FK_TOKENIZER", &p, err, sizeof err), 0, "path getter");
    is_str(p, "/etc/tok.json", "an absolute path stays");
    free(p);
    fk_config_path(&c, "FK_SCRIPT_FILE", &p, err, sizeof err);
    snprintf(want, sizeof want, "%s/s.json", real);
    is_str(p, want, "a driver's path key resolves the same way");
    free(p);
    fk_config_path(&c, "FK_NOT_SET", &p, err, sizeof err);
    ok(p == NULL, "unset path: NULL");
    fk_config_free(&c);
    setenv("VLLM_MODEL_CORE", "models/from-env", 1);
    is_int(fk_config_load(&c, file, err, sizeof err), 0, "again, with the key in the environment");
    is_str(c.model_path, "models/from-env", "a value from the environment stays as given");
    fk_config_free(&c);
    unsetenv("VLLM_MODEL_CORE");
    free(real);
    unlink(file);
    rmdir(sub);
    rmdir(dir);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_core_files(void)
{
    char dir[] = "/tmp/fk-cores-XXXXXX", main_env[96], core_env[96], sub[64], want[256];
    if (!ok(mkdtemp(dir) != NULL, "temp folder")) return;
    snprintf(sub, sizeof sub, "%s/cores", dir);
    mkdir(sub, 0700);
    snprintf(main_env, sizeof main_env, "%s/.env", dir);
    snprintf(core_env, sizeof core_env, "%s/b.env", sub);
    write_file(main_env, "FK_CORE_KIND=llama\nFK_CORE_API_BASE=http://a:1/\n"
                         "FRONTEND_VLLM_MODEL=model-a\nFK_TOKENIZER=tok.json\n"
                         "FK_LLAMA_IDLE_TIMEOUT_S=9\nFK_CORES= cores/b.env , c.env\n"
                         "FK_MAX_MESSAGES=5\n");
    write_file(core_env, "FRONTEND_VLLM_MODEL=model-b\nFK_CORE_API_BASE=http://b:1, https://c:2//\n"
                         "VLLM_MODEL_CORE=w\nFK_MAX_MESSAGES=6\n");
    setenv("FK_LLAMA_IDLE_TIMEOUT_S", "8", 1);
    setenv("FRONTEND_VLLM_MODEL", "from-env", 1);
    fk_config m, d, b;
    char err[512] = "";
    is_int(fk_config_load(&m, main_env, err, sizeof err), 0, "main .env: %s", err);
    is_int((int)m.n_core_files, 2, "FK_CORES: two entries");
    is_str(m.core_names[0], "cores/b.env", "an entry as written (blanks trimmed)");
    is_str(m.core_files[0], core_env, "resolved against the main .env's folder");
    is_str(m.frontend_model, "from-env", "the environment overrides the main .env");
    is_int(fk_config_derive(&d, &m, NULL, err, sizeof err), 0, "the default core: %s", err);
    is_str(d.frontend_model, "from-env", "the default core is the main .env as read");
    is_int(fk_config_derive(&b, &m, core_env, err, sizeof err), 0, "a core file: %s", err);
    is_str(b.frontend_model, "model-b", "its own line wins over the environment");
    is_str(b.core_kind, "llama", "a key it leaves out comes from the main .env");
    is_str(b.core_api_base, "http://b:1,https://c:2", "a replica list, tidied");
    is_str(fk_config_get(&b, "FK_LLAMA_IDLE_TIMEOUT_S"), "8",
           "... the main .env's value, which the environment overrode");
    is_int((int)b.n_core_files, 0, "FK_CORES is not read from a core file");
    snprintf(want, sizeof want, "%s/w", sub);
    char *p = NULL;
    is_str(b.model_path, want, "its own relative path: against its folder");
    fk_config_path(&b, "FK_TOKENIZER", &p, err, sizeof err);
    snprintf(want, sizeof want, "%s/tok.json", dir);
    is_str(p, want, "an inherited relative path: against the main .env's folder");
    free(p);
    ok(fk_config_is_gateway_wide("FK_MAX_MESSAGES") &&
           !fk_config_is_gateway_wide("FK_WAIT_READY_S"),
       "FK_MAX_MESSAGES is the gateway's, FK_WAIT_READY_S each core's");
    char *fd = fk_config_fingerprint(&d), *fb = fk_config_fingerprint(&b);
    ok(fd && fb && strcmp(fd, fb) != 0, "two cores, two fingerprints");
    ok(fb && strstr(fb, "FRONTEND_VLLM_MODEL=model-b\t") && !strstr(fb, "FK_MAX_MESSAGES"),
       "a fingerprint holds the core's keys, not gateway-wide ones");
    write_file(main_env, "FK_CORE_KIND=llama\nFK_CORE_API_BASE=http://a:1/\n"
                         "FRONTEND_VLLM_MODEL=model-a\nFK_TOKENIZER=tok.json\n"
                         "FK_LLAMA_IDLE_TIMEOUT_S=9\nFK_CORES= cores/b.env , c.env\n"
                         "FK_MAX_MESSAGES=50\nFK_API_KEY=k\n");
    fk_config m2, b2;
    fk_config_load(&m2, main_env, err, sizeof err);
    is_int(fk_config_derive(&b2, &m2, core_env, err, sizeof err), 0, "again: %s", err);
    char *fb2 = fk_config_fingerprint(&b2);
    ok(fb && fb2 && strcmp(fb, fb2) == 0, "gateway-wide changes leave a core's fingerprint alone");
    free(fd);
    free(fb);
    free(fb2);
    fk_config_free(&b2);
    fk_config_free(&m2);
    write_file(core_env, "FK_CORE_API_BASE=http://b:1,ftp://x\n");
    fk_config bad;
    is_int(fk_config_derive(&bad, &m, core_env, err, sizeof err), -1, "a bad core file fails");
    snprintf(want, sizeof want,
             "%s:1: FK_CORE_API_BASE: 'ftp://x' is not an http(s) URL (a list of replicas: "
             "URL,URL,...)",
             core_env);
    is_str(err, want, "naming the core file and line");
    fk_config_free(&bad);
    unsetenv("FK_LLAMA_IDLE_TIMEOUT_S");
    unsetenv("FRONTEND_VLLM_MODEL");
    fk_config_free(&b);
    fk_config_free(&d);
    fk_config_free(&m);
    unlink(core_env);
    unlink(main_env);
    rmdir(sub);
    rmdir(dir);
}

int main(void)
{
    fk_log_set_level(FK_LOG_ERROR); /* unknown-key warnings are not under test here */
    unsetenv("FK_DRIVER_DIR");      /* make check sets it; the default is under test */
    unsetenv("FK_WEB_DIR");         /* likewise */
    test_defaults();
    test_seed();
    test_errors();
    test_ranges();
    test_environment();
    test_driver_keys();
    test_getters();
    test_paths();
    test_core_files();
    return done_testing();
}
