/* bench_sampler: time one draw over a gpt-oss sized vocabulary (V = 201088)
 * for the sampler's paths, on a flat row (a random model) and a peaked row
 * (a trained model's long tail). Prints microseconds per draw. */
#include "drivers/cuda/serve/sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* A row of logits: flat (uniform noise) or peaked (Zipf-like, a long tail). */
static void fill(float *row, int V, int peaked, uint64_t seed)
{
    for (int i = 0; i < V; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(seed >> 11) * 0x1.0p-53;
        row[i] = peaked ? (float)(-1.1 * log(1 + (double)((i * 7919) % V)) + u) : (float)u;
    }
}

int main(void)
{
    const int V = 201088, reps = 50;
    float *base = malloc(V * sizeof *base), *row = malloc(V * sizeof *row);
    struct {
        const char *name;
        fk_sampler_params p;
    } cases[] = {
        {"greedy", {.temperature = 0, .top_p = 1}},
        {"temperature 1", {.temperature = 1, .top_p = 1, .has_seed = 1}},
        {"top_k 40", {.temperature = 1, .top_p = 1, .top_k = 40, .has_seed = 1}},
        {"top_p 0.9", {.temperature = 1, .top_p = 0.9, .has_seed = 1}},
        {"top_k 40 + top_p 0.9", {.temperature = 1, .top_p = 0.9, .top_k = 40, .has_seed = 1}},
        {"penalties + top_p 0.9",
         {.temperature = 1,
          .top_p = 0.9,
          .presence_penalty = 0.5,
          .frequency_penalty = 0.5,
          .has_seed = 1}},
    };
    printf("V=%d, %d draws each, microseconds per draw\n", V, reps);
    printf("%-24s %10s %10s\n", "path", "flat", "peaked");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double us[2];
        for (int peaked = 0; peaked < 2; peaked++) {
            fill(base, V, peaked, 7);
            fk_sampler *s = fk_sampler_new(&cases[c].p, V);
            for (int i = 0; i < 500; i++) fk_sampler_accept(s, (i * 131) % V);
            double t0 = now_us();
            for (int r = 0; r < reps; r++) {
                memcpy(row, base, V * sizeof *row);
                fk_sampler_sample(s, row);
            }
            us[peaked] = (now_us() - t0) / reps;
            fk_sampler_free(s);
        }
        printf("%-24s %10.0f %10.0f\n", cases[c].name, us[0], us[1]);
    }
    free(base);
    free(row);
    return 0;
}
