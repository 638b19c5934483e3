/* test_gateway_config.c: gateway keys: defaults, the seed's keys as written,
 * validation messages "FILE:LINE: KEY: why", and the environment overriding
 * the file. */
#include <stdlib.h>
#include <string.h>

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
    is_str(c.model_core, "/models/gpt-oss-20b", "VLLM_MODEL_CORE");
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
    expect("FRONTEND_USE_HARMONY=maybe\n",
           "my.env:1: FRONTEND_USE_HARMONY: 'maybe' is not a boolean (1/0, true/false)");
    expect("FK_LOG_LEVEL=loud\n",
           "my.env:1: FK_LOG_LEVEL: 'loud' must be error, warn, info or debug");
    expect("FK_REASONING_FIELDS=all\n",
           "my.env:1: FK_REASONING_FIELDS: 'all' must be both, reasoning_content or reasoning");
    expect("FK_CURRENT_DATE=2026-13-01\n",
           "my.env:1: FK_CURRENT_DATE: '2026-13-01' is not a YYYY-MM-DD date");
    expect("FK_CORE_API_BASE=llama-core:8080\n",
           "my.env:1: FK_CORE_API_BASE: 'llama-core:8080' is not an http(s) URL");
    expect("FK_DRIVER=../../evil\n",
           "my.env:1: FK_DRIVER: '../../evil': a driver name is [a-z0-9_-]+");
    expect("FK_MAX_BODY_BYTES=10\n",
           "my.env:1: FK_MAX_BODY_BYTES: 10 is out of range [1024, 1073741824]");
    expect("FK_SHUTDOWN_GRACE_S=soon\n", "my.env:1: FK_SHUTDOWN_GRACE_S: 'soon' is not a number");
    expect("A=1\nB\n", "my.env:2: B: expected '=' after the key");
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

int main(void)
{
    fk_log_set_level(FK_LOG_ERROR); /* unknown-key warnings are not under test here */
    unsetenv("FK_DRIVER_DIR");      /* make check sets it; the default is under test */
    test_defaults();
    test_seed();
    test_errors();
    test_environment();
    test_driver_keys();
    return done_testing();
}
