/* bench_constrain: the cost per token of constrained sampling on the
 * native engine (not a test: prints numbers).
 *
 * Over the real o200k_harmony vocabulary (V = 201,088): the time to index
 * it once, then per state kind the time of fk_tokmask_compute (which tokens
 * the JSON automaton allows) and fk_tokmask_apply (-inf on the others), next
 * to the sampler's own cost for one token at temperature 1 (the work every
 * sampled token pays anyway), with the ratio; then the average over whole
 * forced calls sampled from random logits, per constrained token.
 *
 *   bench_constrain [rounds]      (FK_TOKENIZER_DATA: the tokenizer's folder) */
#include "drivers/cuda/serve/constraint.h"
#include "drivers/cuda/serve/sampler.h"
#include "drivers/cuda/serve/tokmask.h"
#include "tokenizer/fktok.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static fktok *tok;

static const char *bytes_of(const void *ud, int32_t id, size_t *len)
{
    return fktok_token_bytes(ud, id, len);
}

static int special_of(const void *ud, int32_t id)
{
    return fktok_is_special(ud, id);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float rnd_logit(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)(rng % 10000) / 1000.0f;
}

static const char *schema_text =
    "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"unit\":{\"enum\":"
    "[\"celsius\",\"fahrenheit\"]},\"days\":{\"type\":\"integer\"},\"tags\":{\"type\":\"array\","
    "\"items\":{\"type\":\"string\"}},\"extra\":{}},\"required\":[\"city\",\"unit\"]}";

/* One state kind: the automaton after `prefix`. */
typedef struct kind {
    const char *name;
    const char *prefix;
} kind;

static const kind kinds[] = {
    {"document start", ""},
    {"a key's start", "{\"city\":\"Paris\","},
    {"inside a string", "{\"city\":\"Par"},
    {"inside an enum value", "{\"city\":\"Paris\",\"unit\":\"cel"},
    {"in a number", "{\"city\":\"Paris\",\"unit\":\"celsius\",\"days\":12"},
    {"any value's start", "{\"city\":\"P\",\"unit\":\"celsius\",\"extra\":"},
    {"after a value", "{\"city\":\"P\",\"unit\":\"celsius\",\"tags\":[\"a\""},
};

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    char err[256];
    tok = fktok_load_default(err, sizeof err);
    if (!tok) {
        fprintf(stderr, "bench_constrain: %s\n", err);
        return 1;
    }
    int V = (int)fktok_vocab_size(tok);
    double t0 = now_ms();
    fk_tokmask *tm = fk_tokmask_new(bytes_of, special_of, tok, V, err, sizeof err);
    if (!tm) {
        fprintf(stderr, "bench_constrain: %s\n", err);
        return 1;
    }
    printf("vocabulary V=%d indexed in %.1f ms (once per engine)\n", V, now_ms() - t0);

    float *logits = malloc((size_t)V * sizeof *logits), *row = malloc((size_t)V * sizeof *row);
    uint64_t *mask = malloc(fk_tokmask_words(tm) * sizeof *mask);
    for (int i = 0; i < V; i++) logits[i] = rnd_logit();
    fk_sampler_params sp = {.temperature = 1.0, .top_p = 1.0, .has_seed = 1, .seed = 1};
    fk_sampler *smp = fk_sampler_new(&sp, V);
    t0 = now_ms();
    for (int r = 0; r < rounds; r++) {
        memcpy(row, logits, (size_t)V * sizeof *row);
        fk_sampler_sample(smp, row);
    }
    double sampler_ms = (now_ms() - t0) / rounds;
    printf("sampler alone (temperature 1, V=%d, with the row copy): %.3f ms per token\n\n", V,
           sampler_ms);

    json_t *sj = json_loads(schema_text, 0, NULL);
    fk_schema *s = fk_schema_compile(sj, err, sizeof err);
    json_decref(sj);
    printf("%-22s %9s %12s %10s %14s\n", "state", "allowed", "compute ms", "apply ms",
           "vs sampler");
    for (size_t k = 0; s && k < sizeof kinds / sizeof *kinds; k++) {
        fk_pda p;
        fk_pda_init(&p, s);
        if (!fk_pda_feed(&p, kinds[k].prefix, strlen(kinds[k].prefix))) {
            printf("%-22s (prefix rejected)\n", kinds[k].name);
            continue;
        }
        size_t allowed = 0;
        t0 = now_ms();
        for (int r = 0; r < rounds; r++) allowed = fk_tokmask_compute(tm, &p, mask);
        double compute = (now_ms() - t0) / rounds;
        memcpy(row, logits, (size_t)V * sizeof *row);
        t0 = now_ms();
        for (int r = 0; r < rounds; r++) fk_tokmask_apply(mask, row, V);
        double apply = (now_ms() - t0) / rounds;
        printf("%-22s %9zu %12.3f %10.3f %13.2fx\n", kinds[k].name, allowed, compute, apply,
               (compute + apply) / sampler_ms);
    }

    /* whole forced calls from random logits */
    fk_harmony_ids ids;
    if (fk_harmony_ids_find(&ids, bytes_of, special_of, tok, V) != 0) return 1;
    char tools[4096];
    snprintf(tools, sizeof tools,
             "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":%s}}]",
             schema_text);
    double masked_ms = 0;
    long masked = 0;
    fktok_ids pr = {0};
    const char *prompt = "<|start|>assistant<|channel|>commentary to=functions.f "
                         "<|constrain|>json<|message|>";
    fktok_encode(tok, prompt, strlen(prompt), 1, &pr);
    int calls = rounds / 10 > 0 ? rounds / 10 : 1;
    for (int c = 0; c < calls; c++) {
        fk_toolset t;
        char param[64];
        fk_toolset_parse(tools, &t, err, sizeof err, param, sizeof param);
        fk_constraint *con = fk_constraint_new(&t, &ids, bytes_of, special_of, tok);
        for (size_t i = 0; i < pr.n; i++) fk_constraint_feed(con, pr.ids[i]);
        for (int step = 0; step < 2000 && fk_constraint_active(con); step++) {
            for (int i = 0; i < V; i++) row[i] = rnd_logit();
            t0 = now_ms();
            fk_constraint_mask(con, tm, row, V);
            masked_ms += now_ms() - t0;
            masked++;
            int32_t best = fk_sampler_sample(smp, row);
            fk_constraint_feed(con, best);
        }
        fk_constraint_free(con);
    }
    printf("\nforced calls from random logits: %d calls, %ld constrained tokens, %.3f ms per "
           "token (mask computed and applied), %.2fx the sampler's own cost\n",
           calls, masked, masked_ms / (double)masked, masked_ms / (double)masked / sampler_ms);
    free(pr.ids);
    fk_schema_free(s);
    fk_sampler_free(smp);
    free(logits);
    free(row);
    free(mask);
    fk_tokmask_free(tm);
    fktok_free(tok);
    return 0;
}
