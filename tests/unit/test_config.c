/* test_config.c: config.json parsing: both RoPE spellings, both top-k keys,
 * defaults, generation_config.json, and an error naming the key for each
 * kind of bad input. */
#include "drivers/cuda/checkpoint/checkpoint.h"
#include "tests/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A valid small config; %s slots: extra keys spliced in before the rope entry. */
static const char *BASE =
    "{\"hidden_size\":64,\"num_hidden_layers\":3,\"num_attention_heads\":4,"
    "\"num_key_value_heads\":2,\"head_dim\":16,\"intermediate_size\":64,"
    "\"num_local_experts\":4,\"sliding_window\":8,\"vocab_size\":300,"
    "\"max_position_embeddings\":4096,\"eos_token_id\":7,\"pad_token_id\":5%s}";

static int parse_with(const char *extra, fk_gptoss_config *c, char *err, size_t err_len)
{
    char text[4096];
    snprintf(text, sizeof text, BASE, extra);
    err[0] = '\0';
    return fk_config_parse(text, strlen(text), c, err, err_len);
}

static void expect_error(const char *text, const char *substr, const char *what)
{
    fk_gptoss_config c;
    char err[512] = "";
    int rc = fk_config_parse(text, strlen(text), &c, err, sizeof err);
    if (!ok(rc == -1 && strstr(err, substr), "%s: error mentions \"%s\"", what, substr))
        diag("rc %d, got: %s", rc, err);
}

static void expect_extra_error(const char *extra, const char *substr, const char *what)
{
    char text[4096];
    snprintf(text, sizeof text, BASE, extra);
    expect_error(text, substr, what);
}

static void test_rope_spellings(void)
{
    fk_gptoss_config c;
    char err[512];
    int rc = parse_with(",\"num_experts_per_tok\":2,\"rope_theta\":150000,\"rope_scaling\":"
                        "{\"rope_type\":\"yarn\",\"factor\":32.0,\"beta_fast\":32.0,"
                        "\"beta_slow\":1.0,\"original_max_position_embeddings\":4096,"
                        "\"truncate\":false}",
                        &c, err, sizeof err);
    if (!ok(rc == 0, "rope_scaling config parses")) diag("%s", err);
    ok(c.rope_yarn && c.rope_factor == 32 && c.rope_theta == 150000 && !c.rope_truncate &&
           c.rope_original_max_pos == 4096,
       "rope_scaling: yarn fields");
    rc = parse_with(",\"experts_per_token\":3,\"rope_parameters\":{\"rope_type\":\"yarn\","
                    "\"rope_theta\":10000.0,\"factor\":8,\"original_max_position_embeddings\":"
                    "2048}",
                    &c, err, sizeof err);
    if (!ok(rc == 0, "rope_parameters with rope_theta inside parses")) diag("%s", err);
    ok(c.rope_theta == 10000 && c.rope_factor == 8 && c.rope_beta_fast == 32 &&
           c.rope_beta_slow == 1 && c.rope_truncate == 1,
       "rope_parameters: theta inside, beta defaults 32/1, truncate default true");
    is_int(c.experts_per_token, 3, "experts_per_token spelling");
    rc = parse_with(",\"num_experts_per_tok\":1,\"rope_theta\":500", &c, err, sizeof err);
    ok(rc == 0 && !c.rope_yarn && c.rope_factor == 1.0 && c.rope_theta == 500,
       "no rope_scaling: plain RoPE");
}

static void test_defaults(void)
{
    fk_gptoss_config c;
    char err[512];
    int rc = parse_with(",\"num_experts_per_tok\":2,\"rope_theta\":150000", &c, err, sizeof err);
    if (!ok(rc == 0, "minimal config parses")) diag("%s", err);
    ok(c.layer_sliding[0] == 1 && c.layer_sliding[1] == 0 && c.layer_sliding[2] == 1,
       "layer_types absent: sliding, full, sliding");
    ok(c.swiglu_alpha == 1.702 && c.swiglu_limit == 7.0 && c.rms_norm_eps == 1e-5,
       "swiglu_alpha 1.702, swiglu_limit 7, rms_norm_eps 1e-5 by default");
    ok(c.n_eos == 1 && c.eos_ids[0] == 7 && c.pad_id == 5, "eos and pad from config.json");
    is_int(c.hidden_size, 64, "hidden_size read");
    is_int(c.max_position_embeddings, 4096, "max_position_embeddings read");
    rc = parse_with(",\"num_experts_per_tok\":2,\"rope_theta\":1,\"layer_types\":"
                    "[\"full_attention\",\"full_attention\",\"sliding_attention\"],"
                    "\"swiglu_alpha\":2.5",
                    &c, err, sizeof err);
    ok(rc == 0 && !c.layer_sliding[0] && !c.layer_sliding[1] && c.layer_sliding[2] &&
           c.swiglu_alpha == 2.5,
       "explicit layer_types and swiglu_alpha");
}

static void test_errors(void)
{
    expect_error("{\"hidden_size\":", "config.json: not valid JSON", "bad JSON");
    expect_error("[]", "expected a JSON object, found an array", "array config");
    expect_error("{\"hidden_size\":\"64\"}",
                 "key \"hidden_size\": expected an integer, found a string", "string hidden_size");
    expect_error("{\"hidden_size\":64}",
                 "key \"num_hidden_layers\": expected an integer, found nothing (key missing)",
                 "missing num_hidden_layers");
    expect_extra_error(",\"rope_theta\":1", "\"num_experts_per_tok\" (or \"experts_per_token\")",
                       "missing top-k");
    expect_extra_error(",\"num_experts_per_tok\":2", "key \"rope_theta\": expected a number",
                       "missing rope_theta");
    expect_extra_error(",\"num_experts_per_tok\":2,\"experts_per_token\":3,\"rope_theta\":1",
                       "disagree", "top-k spellings disagree");
    expect_extra_error(",\"num_experts_per_tok\":5,\"rope_theta\":1",
                       "key \"num_experts_per_tok\": expected an integer in [1, 4], found 5",
                       "top-k above experts");
    expect_extra_error(",\"num_experts_per_tok\":2,\"rope_theta\":1,\"layer_types\":[\"full\"]",
                       "key \"layer_types\": expected 3 entries", "short layer_types");
    expect_extra_error(",\"num_experts_per_tok\":2,\"rope_theta\":1,\"layer_types\":"
                       "[\"full_attention\",\"x\",\"full_attention\"]",
                       "\"layer_types\"[1]: expected \"sliding_attention\" or \"full_attention\", "
                       "found \"x\"",
                       "bad layer type");
    expect_extra_error(",\"num_experts_per_tok\":2,\"rope_theta\":1,\"rope_scaling\":"
                       "{\"rope_type\":\"linear\",\"factor\":2}",
                       "expected \"yarn\" or \"default\", found \"linear\"", "unsupported rope");
    expect_extra_error(",\"num_experts_per_tok\":2,\"rope_theta\":1,\"rope_scaling\":"
                       "{\"rope_type\":\"yarn\",\"factor\":\"big\"}",
                       "rope_scaling: key \"factor\": expected a number, found a string",
                       "yarn factor string");
    expect_extra_error(",\"num_experts_per_tok\":2,\"rope_theta\":1,\"quantization_config\":"
                       "{\"quant_method\":\"mxfp4\"},\"hidden_size\":48",
                       "duplicate", "duplicate key");
    expect_error("{\"hidden_size\":48,\"num_hidden_layers\":1,\"num_attention_heads\":4,"
                 "\"num_key_value_heads\":2,\"head_dim\":16,\"intermediate_size\":64,"
                 "\"num_local_experts\":4,\"sliding_window\":8,\"vocab_size\":300,"
                 "\"max_position_embeddings\":4096,\"num_experts_per_tok\":2,\"rope_theta\":1,"
                 "\"quantization_config\":{\"quant_method\":\"mxfp4\"}}",
                 "needs hidden_size (48) and intermediate_size (64) divisible by 32",
                 "mxfp4 needs H % 32");
    expect_error("{\"hidden_size\":64,\"num_hidden_layers\":1,\"num_attention_heads\":6,"
                 "\"num_key_value_heads\":4,\"head_dim\":16,\"intermediate_size\":64,"
                 "\"num_local_experts\":4,\"sliding_window\":8,\"vocab_size\":300,"
                 "\"max_position_embeddings\":4096,\"num_experts_per_tok\":2,\"rope_theta\":1}",
                 "num_attention_heads 6 is not a multiple of num_key_value_heads 4",
                 "heads not divisible");
    expect_error("{\"hidden_size\":64,\"num_hidden_layers\":257}",
                 "key \"num_hidden_layers\": expected an integer in [1, 256], found 257",
                 "too many layers");
    expect_error("{\"hidden_size\":0}", "key \"hidden_size\": expected an integer in [1,",
                 "zero hidden");
}

static void test_eos_bounds(void)
{
    expect_error("{\"hidden_size\":64,\"num_hidden_layers\":1,\"num_attention_heads\":4,"
                 "\"num_key_value_heads\":2,\"head_dim\":16,\"intermediate_size\":64,"
                 "\"num_local_experts\":4,\"sliding_window\":8,\"vocab_size\":300,"
                 "\"max_position_embeddings\":4096,\"num_experts_per_tok\":2,\"rope_theta\":1,"
                 "\"eos_token_id\":[1,300]}",
                 "key \"eos_token_id\": entry 1: expected a token id in [0, 300)",
                 "eos beyond vocab");
    expect_error("{\"hidden_size\":64,\"num_hidden_layers\":1,\"num_attention_heads\":4,"
                 "\"num_key_value_heads\":2,\"head_dim\":16,\"intermediate_size\":64,"
                 "\"num_local_experts\":4,\"sliding_window\":8,\"vocab_size\":300,"
                 "\"max_position_embeddings\":4096,\"num_experts_per_tok\":2,\"rope_theta\":1,"
                 "\"eos_token_id\":\"x\"}",
                 "expected an integer or a list of integers, found a string", "eos string");
}

/* fk_config_load: generation_config.json eos ids (list or int) override config.json. */
static void test_load_dir(void)
{
    char dir[] = "/tmp/fk-test-cfg-XXXXXX", path[256], text[2048], err[512] = "";
    require(mkdtemp(dir) != NULL, "a temporary folder");
    snprintf(path, sizeof path, "%s/config.json", dir);
    snprintf(text, sizeof text, BASE, ",\"num_experts_per_tok\":2,\"rope_theta\":1");
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    fk_gptoss_config c;
    ok(fk_config_load(dir, &c, err, sizeof err) == 0 && c.n_eos == 1 && c.eos_ids[0] == 7,
       "no generation_config.json: eos from config.json");
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    f = fopen(path, "w");
    fputs("{\"eos_token_id\":[9,8]}", f);
    fclose(f);
    ok(fk_config_load(dir, &c, err, sizeof err) == 0 && c.n_eos == 2 && c.eos_ids[0] == 9 &&
           c.eos_ids[1] == 8,
       "generation_config.json eos list wins");
    f = fopen(path, "w");
    fputs("{\"eos_token_id\":11}", f);
    fclose(f);
    ok(fk_config_load(dir, &c, err, sizeof err) == 0 && c.n_eos == 1 && c.eos_ids[0] == 11,
       "generation_config.json eos int");
    f = fopen(path, "w");
    fputs("{\"eos_token_id\":", f);
    fclose(f);
    ok(fk_config_load(dir, &c, err, sizeof err) == -1 &&
           strstr(err, "generation_config.json: not valid JSON"),
       "bad generation_config.json named");
    remove(path);
    /* A FIFO as config.json (or generation_config.json) is refused, not waited on. */
    char fifo[256];
    snprintf(fifo, sizeof fifo, "%s/generation_config.json", dir);
    if (ok(mkfifo(fifo, 0600) == 0, "mkfifo generation_config.json")) {
        ok(fk_config_load(dir, &c, err, sizeof err) == -1 &&
               strstr(err, "a FIFO, not a regular file"),
           "a FIFO as generation_config.json is refused: %s", err);
        remove(fifo);
    }
    snprintf(fifo, sizeof fifo, "%s/config.json", dir);
    remove(fifo);
    if (ok(mkfifo(fifo, 0600) == 0, "mkfifo config.json")) {
        ok(fk_config_load(dir, &c, err, sizeof err) == -1 && strstr(err, "config.json") &&
               strstr(err, "a FIFO, not a regular file"),
           "a FIFO as config.json is refused: %s", err);
        remove(fifo);
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    remove(path);
    ok(fk_config_load(dir, &c, err, sizeof err) == -1 && strstr(err, "config.json: cannot read"),
       "missing config.json named");
    rmdir(dir);
}

int main(void)
{
    test_rope_spellings();
    test_defaults();
    test_errors();
    test_eos_bounds();
    test_load_dir();
    return done_testing();
}
