/* fk-golden: check the native engine against reference outputs.
 *
 *   fk-golden --model DIR --goldens FILE [--threads N] [--backend cpu|ref|cuda]
 *             [--kernels LEVEL] [--verbose]
 *
 * FILE is a safetensors file holding, for each prompt P (found by its
 * `P.ids` tensor):
 *   P.ids I64 [T]               the prompt
 *   P.last_logits F32 [V]       logits at the last prompt position
 *   P.topk_ids I64 [T, K]       top-K ids at every position (K any)
 *   P.topk_logits F64 [T, K]    their logits
 *   P.greedy_ids I64 [G]        greedy continuation through the KV cache
 *   P.greedy_margins F64 [G]    top-1 minus top-2 logit at each step
 * (other tensors, such as P.hidden, are ignored). For each prompt it runs
 * the prompt with all-position logits and checks:
 *   - last-position logits within TOL absolute of P.last_logits;
 *   - the top-K ids at every position equal P.topk_ids, where two entries may
 *     trade places only when their golden logits differ by less than TOL;
 *   - the golden top-K logits at every position within TOL;
 *   - greedy decoding (fk_model_decode, one token per step, fed the golden
 *     tokens, the pick made by the backend's argmax op) picks P.greedy_ids
 *     wherever the golden margin exceeds TOL, once per prompt at batch 1 and
 *     once with all prompts in one batch.
 * --backend ref runs everything on the reference backend (plain loops),
 * --backend cuda on the GPU; without --backend, FK_BACKEND picks (cpu when
 * it is unset); --kernels picks the CPU backend's matmul kernels (FK_CPU_KERNELS: auto,
 * amx, avx512, generic; cpu_features.h). If
 * the engine refuses (an error status), the line says why.
 * Prints one line per prompt and then "N passed, M failed"; exits 0 only when
 * nothing failed, 1 on a failed check, 2 on a usage or file error. */
#include "drivers/cuda/backends/cpu/cpu_features.h"
#include "drivers/cuda/backends/cuda/cuda.h"
#include "drivers/cuda/checkpoint/checkpoint.h"
#include "drivers/cuda/model/model.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-3        /* absolute logit tolerance against float64 goldens */
#define BLOCK_TOKENS 16 /* KV cache block size */

/* The engine under test: weights, one run, one KV pool. */
typedef struct engine {
    fk_model *m;      /* the model */
    fk_run *run;      /* its run state */
    fk_kv_pool *pool; /* room for every prompt at once */
} engine;

/* One prompt's reference tensors (views into the goldens file). */
typedef struct golden {
    char name[128];            /* prompt name P */
    const int64_t *ids;        /* [T] */
    int T;                     /* prompt length */
    const float *last_logits;  /* [V] */
    const int64_t *topk_ids;   /* [T, K] */
    const double *topk_logits; /* [T, K] */
    int K;                     /* top-K width */
    const int64_t *greedy;     /* [G] */
    const double *margins;     /* [G] */
    int G;                     /* greedy steps */
} golden;

/* ---- reading the goldens ---------------------------------------------------------- */

/* The tensor P.suffix with the given dtype and rank, or NULL with a message. */
static const fk_tensor *want(const fk_st_file *f, const char *prompt, const char *suffix,
                             fk_dtype dt, int ndim)
{
    char name[256];
    snprintf(name, sizeof name, "%s.%s", prompt, suffix);
    const fk_tensor *t = fk_st_find(f, name);
    if (!t) {
        fprintf(stderr, "fk-golden: goldens lack %s\n", name);
        return NULL;
    }
    if (t->dtype != dt || t->ndim != ndim) {
        fprintf(stderr, "fk-golden: %s is %s rank %d, expected %s rank %d\n", name,
                fk_dtype_name(t->dtype), t->ndim, fk_dtype_name(dt), ndim);
        return NULL;
    }
    return t;
}

/* Fill g for prompt `name`; -1 with a message when a tensor is missing or
 * its shape does not fit the others or the model's vocabulary. */
static int load_golden(const fk_st_file *f, const char *name, int V, golden *g)
{
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", name);
    const fk_tensor *ids = want(f, name, "ids", FK_DT_I64, 1);
    const fk_tensor *last = want(f, name, "last_logits", FK_DT_F32, 1);
    const fk_tensor *tki = want(f, name, "topk_ids", FK_DT_I64, 2);
    const fk_tensor *tkl = want(f, name, "topk_logits", FK_DT_F64, 2);
    const fk_tensor *gr = want(f, name, "greedy_ids", FK_DT_I64, 1);
    const fk_tensor *gm = want(f, name, "greedy_margins", FK_DT_F64, 1);
    if (!ids || !last || !tki || !tkl || !gr || !gm) return -1;
    int64_t T = ids->shape[0];
    if (T < 1 || T > 1000000 || last->shape[0] != V || tki->shape[0] != T || tkl->shape[0] != T ||
        tki->shape[1] != tkl->shape[1] || tki->shape[1] < 1 || tki->shape[1] > V ||
        gr->shape[0] != gm->shape[0]) {
        fprintf(stderr, "fk-golden: %s: tensor shapes disagree (T %lld, V %lld vs model %d)\n",
                name, (long long)T, (long long)last->shape[0], V);
        return -1;
    }
    g->ids = ids->data;
    g->T = (int)T;
    g->last_logits = last->data;
    g->topk_ids = tki->data;
    g->topk_logits = tkl->data;
    g->K = (int)tki->shape[1];
    g->greedy = gr->data;
    g->margins = gm->data;
    g->G = (int)gr->shape[0];
    for (int t = 0; t < g->T; t++)
        if (g->ids[t] < 0 || g->ids[t] >= V) {
            fprintf(stderr, "fk-golden: %s.ids[%d] = %lld is outside the vocabulary\n", name, t,
                    (long long)g->ids[t]);
            return -1;
        }
    for (int t = 0; t < g->G; t++)
        if (g->greedy[t] < 0 || g->greedy[t] >= V) {
            fprintf(stderr, "fk-golden: %s.greedy_ids[%d] is outside the vocabulary\n", name, t);
            return -1;
        }
    return 0;
}

/* ---- checks -------------------------------------------------------------------------- */

/* The K largest entries of lg [V] (ties: lower id first), descending. */
static void top_k(const float *lg, int V, int K, int32_t *out)
{
    int n = 0;
    for (int i = 0; i < V; i++) {
        if (n == K && !(lg[i] > lg[out[K - 1]])) continue;
        int j = n < K ? n++ : K - 1;
        while (j > 0 && lg[i] > lg[out[j - 1]]) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = i;
    }
}

static int argmax(const float *lg, int V)
{
    int best = 0;
    for (int i = 1; i < V; i++)
        if (lg[i] > lg[best]) best = i;
    return best;
}

/* Does the engine's top-K (`mine`, logits lg) agree with the golden row?
 * Rank i may hold another golden entry whose golden logit is within TOL of
 * rank i's, or (at the tail) an id outside the golden list whose logit ties
 * the golden K-th within TOL. */
static int topk_agrees(const int32_t *mine, const float *lg, const int64_t *gid, const double *glg,
                       int K)
{
    for (int i = 0; i < K; i++) {
        if (mine[i] == gid[i]) continue;
        int j = 0;
        while (j < K && gid[j] != mine[i]) j++;
        if (j < K) {
            if (fabs(glg[j] - glg[i]) >= TOL) return 0;
        } else if (fabs(glg[i] - glg[K - 1]) >= TOL || fabs(lg[mine[i]] - glg[K - 1]) >= 2 * TOL) {
            return 0;
        }
    }
    return 1;
}

/* Results of one prompt. */
typedef struct verdict {
    double last_err;    /* max |logit - golden| at the last position */
    double topk_err;    /* max over positions of |logit - golden| at golden top-K ids */
    int topk_bad;       /* positions whose top-K disagrees */
    int greedy_bad;     /* greedy steps (margin > TOL) whose pick differs */
    int greedy_checked; /* greedy steps with margin > TOL */
    char error[256];    /* why the engine refused, "" when it did not */
} verdict;

/* Record the engine's refusal once. */
static void refused(verdict *v, const engine *e, fk_status st)
{
    if (!v->error[0])
        snprintf(v->error, sizeof v->error, "%s",
                 st == FK_ERR_OOM && !fk_run_error(e->run)[0] ? "out of memory"
                                                              : fk_run_error(e->run));
}

/* Prefill P with all-position logits and compare (fills v). */
static void check_prompt(const engine *eng, const golden *g, int V, int verbose, verdict *v)
{
    float *lg = malloc((size_t)g->T * V * sizeof *lg);
    int32_t *ids = malloc((size_t)g->T * sizeof *ids);
    int32_t *mine = malloc((size_t)g->K * sizeof *mine);
    fk_kv *kv = fk_kv_new(eng->pool, g->T + g->G + 1);
    if (!lg || !ids || !mine || !kv) {
        refused(v, eng, FK_ERR_OOM);
        goto out;
    }
    for (int t = 0; t < g->T; t++) ids[t] = (int32_t)g->ids[t];
    fk_status st = fk_model_forward(eng->m, eng->run, kv, ids, g->T, lg, 1);
    if (st != FK_OK) {
        refused(v, eng, st);
        goto out;
    }
    const float *last = lg + (size_t)(g->T - 1) * V;
    for (int i = 0; i < V; i++) {
        double e = fabs((double)last[i] - g->last_logits[i]);
        if (e > v->last_err || isnan(e)) v->last_err = isnan(e) ? INFINITY : e;
    }
    for (int t = 0; t < g->T; t++) {
        const float *row = lg + (size_t)t * V;
        const int64_t *gid = g->topk_ids + (size_t)t * g->K;
        const double *glg = g->topk_logits + (size_t)t * g->K;
        for (int i = 0; i < g->K; i++) {
            if (gid[i] < 0 || gid[i] >= V) {
                v->topk_bad++;
                break;
            }
            double e = fabs(row[gid[i]] - glg[i]);
            if (e > v->topk_err || isnan(e)) v->topk_err = isnan(e) ? INFINITY : e;
        }
        top_k(row, V, g->K, mine);
        if (!topk_agrees(mine, row, gid, glg, g->K)) {
            if (verbose && v->topk_bad < 3)
                printf("#   %s position %d: top-%d differs (mine %d, golden %lld first)\n", g->name,
                       t, g->K, mine[0], (long long)gid[0]);
            v->topk_bad++;
        }
    }
out:
    fk_kv_free(kv);
    free(mine);
    free(ids);
    free(lg);
}

/* Greedy continuation of every prompt in `gs`, `B` of them per decode call
 * (B = 1: one at a time; B = n: all together). Each step feeds the golden
 * token so sequences stay aligned; the pick is checked where the golden
 * margin exceeds TOL. Adds to v[i]. */
static void check_greedy(const engine *e, const golden *gs, int n, int B, int V, int verbose,
                         verdict *v)
{
    for (int first = 0; first < n; first += B) {
        int nb = n - first < B ? n - first : B;
        fk_kv **kvs = calloc((size_t)nb, sizeof *kvs);
        int32_t *tok = calloc((size_t)nb, sizeof *tok), *pick = calloc((size_t)nb, sizeof *pick);
        int max_g = 0, ok = kvs && tok && pick;
        fk_status st = ok ? FK_OK : FK_ERR_OOM;
        for (int b = 0; ok && b < nb; b++) {
            const golden *g = &gs[first + b];
            kvs[b] = fk_kv_new(e->pool, g->T + g->G + 1);
            int32_t *ids = malloc((size_t)g->T * sizeof *ids);
            float *last = malloc((size_t)V * sizeof *last);
            ok = kvs[b] && ids && last;
            for (int t = 0; ok && t < g->T; t++) ids[t] = (int32_t)g->ids[t];
            if (ok) ok = (st = fk_model_forward(e->m, e->run, kvs[b], ids, g->T, last, 0)) == FK_OK;
            if (ok && g->G > 0) {
                v[first + b].greedy_checked += g->margins[0] > TOL;
                if (g->margins[0] > TOL && argmax(last, V) != g->greedy[0])
                    v[first + b].greedy_bad++;
            }
            if (g->G > max_g) max_g = g->G;
            free(ids);
            free(last);
        }
        /* Step s decodes greedy[s-1] for every sequence that still has steps. */
        for (int s = 1; ok && s < max_g; s++) {
            int live = 0;
            fk_kv *step_kv[nb];
            int owner[nb];
            for (int b = 0; b < nb; b++) {
                const golden *g = &gs[first + b];
                if (s >= g->G) continue;
                step_kv[live] = kvs[b];
                tok[live] = (int32_t)g->greedy[s - 1];
                owner[live++] = b;
            }
            st = fk_model_decode(e->m, e->run, step_kv, tok, live, NULL, pick);
            if (st != FK_OK) {
                ok = 0;
                break;
            }
            for (int i = 0; i < live; i++) {
                const golden *g = &gs[first + owner[i]];
                verdict *vv = &v[first + owner[i]];
                if (g->margins[s] <= TOL) continue;
                vv->greedy_checked++;
                if (pick[i] != g->greedy[s]) {
                    if (verbose)
                        printf("#   %s greedy step %d (batch %d): picked %d, golden %lld\n",
                               g->name, s, B, pick[i], (long long)g->greedy[s]);
                    vv->greedy_bad++;
                }
            }
        }
        if (!ok)
            for (int b = 0; b < nb; b++) refused(&v[first + b], e, st);
        for (int b = 0; kvs && b < nb; b++) fk_kv_free(kvs[b]);
        free(kvs);
        free(tok);
        free(pick);
    }
}

/* ---- main -------------------------------------------------------------------------------- */

/* A run and a pool with room for every prompt's full sequence at once.
 * 0, or 2 with the reason on stderr. */
static int engine_start(engine *e, const golden *gs, int n)
{
    char err[512];
    int longest = 1;
    for (int i = 0; i < n; i++)
        if (gs[i].T + gs[i].G + 1 > longest) longest = gs[i].T + gs[i].G + 1;
    e->run = fk_run_new(e->m, err, sizeof err);
    if (e->run) {
        size_t bytes = fk_kv_pool_bytes_for(e->m, BLOCK_TOKENS, n, longest, FK_RUN_ROWS);
        e->pool = fk_kv_pool_new(e->m, bytes, BLOCK_TOKENS, err, sizeof err);
    }
    if (e->pool) return 0;
    fprintf(stderr, "fk-golden: %s\n", err);
    return 2;
}

static void usage(FILE *f)
{
    fputs("usage: fk-golden --model DIR --goldens FILE [--threads N] [--backend cpu|ref|cuda] "
          "[--kernels LEVEL] [--verbose]\n"
          "Checks the native engine against reference outputs: for each prompt in FILE\n"
          "(a safetensors file of P.ids, P.last_logits, P.topk_ids, P.topk_logits,\n"
          "P.greedy_ids, P.greedy_margins), the last-position logits, the top-K ids and\n"
          "logits at every position, and greedy decoding at batch 1 and batched, within\n"
          "an absolute logit tolerance of 1e-3. One line per prompt, then a summary;\n"
          "exit 0 when everything matches.\n"
          "\n"
          "  --model DIR      the checkpoint (safetensors folder)\n"
          "  --goldens FILE   the reference outputs (e.g. tests/fixtures/models/\n"
          "                   tiny-gptoss-goldens.safetensors)\n"
          "  --threads N      CPU threads                        [all]\n"
          "  --backend B      cpu, or ref (plain reference loops) [cpu]\n"
          "  --kernels LEVEL  the CPU matmul kernels: auto, amx, avx512, generic [auto]\n"
          "  --verbose        details of the first mismatches\n"
          "  --help           this text\n",
          f);
}

int main(int argc, char **argv)
{
    const char *model_dir = NULL, *gold_path = NULL, *backend = getenv("FK_BACKEND"),
               *kernels = NULL;
    int verbose = 0, threads = 0;
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},   {"goldens", required_argument, NULL, 'g'},
        {"threads", required_argument, NULL, 't'}, {"backend", required_argument, NULL, 'b'},
        {"kernels", required_argument, NULL, 'k'}, {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "m:g:t:b:k:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            model_dir = optarg;
            break;
        case 'g':
            gold_path = optarg;
            break;
        case 't':
            threads = atoi(optarg);
            break;
        case 'b':
            backend = optarg;
            break;
        case 'k':
            kernels = optarg;
            break;
        case 'v':
            verbose = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    char err[4096];
    fk_backend_kind kind = FK_BACKEND_CPU;
    if (backend && *backend && fk_backend_kind_parse(backend, &kind, err, sizeof err) != 0) {
        fprintf(stderr, "fk-golden: %s\n", err);
        return 2;
    }
    if (!model_dir || !gold_path || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (fk_cpu_kernels_choose(kernels, err, sizeof err) != 0) {
        fprintf(stderr, "fk-golden: %s\n", err);
        return 2;
    }
    fk_checkpoint *ck = fk_checkpoint_open(model_dir, err, sizeof err);
    if (!ck) {
        fprintf(stderr, "fk-golden: %s\n", err);
        return 2;
    }
    fk_st_file *gf = fk_st_open(gold_path, err, sizeof err);
    if (!gf) {
        fprintf(stderr, "fk-golden: %s\n", err);
        fk_checkpoint_close(ck);
        return 2;
    }
    fk_cuda_options copt = fk_cuda_options_default();
    copt.weights_bytes = fk_cuda_weights_bytes(ck);
    char desc[512];
    fk_backend *be =
        fk_backend_open(kind, threads, &copt, NULL, desc, sizeof desc, err, sizeof err);
    engine e = {0};
    if (be) {
        printf("# backend %s\n", desc);
        e.m = fk_model_new(ck, be, err, sizeof err);
    }
    if (!e.m) {
        fprintf(stderr, "fk-golden: %s\n", err);
        if (be) be->ops->free(be);
        fk_st_close(gf);
        fk_checkpoint_close(ck);
        return 2;
    }
    int V = fk_model_config(e.m)->vocab_size;
    size_t n_t = fk_st_count(gf);
    golden *gs = calloc(n_t ? n_t : 1, sizeof *gs);
    verdict *vs = calloc(n_t ? n_t : 1, sizeof *vs);
    int n = 0, rc = 0;
    for (size_t i = 0; gs && vs && i < n_t; i++) {
        const char *name = fk_st_tensor(gf, i)->name;
        size_t len = strlen(name);
        if (len <= 4 || strcmp(name + len - 4, ".ids") != 0 || len - 4 >= sizeof gs[n].name)
            continue;
        char prompt[128];
        memcpy(prompt, name, len - 4);
        prompt[len - 4] = '\0';
        if (load_golden(gf, prompt, V, &gs[n]) != 0) {
            rc = 2;
            break;
        }
        n++;
    }
    if (!gs || !vs) rc = 2;
    if (rc == 0 && n == 0) {
        fprintf(stderr, "fk-golden: %s holds no prompts (no *.ids tensor)\n", gold_path);
        rc = 2;
    }
    if (rc == 0) rc = engine_start(&e, gs, n);
    if (rc == 0) {
        for (int i = 0; i < n; i++) check_prompt(&e, &gs[i], V, verbose, &vs[i]);
        check_greedy(&e, gs, n, 1, V, verbose, vs);
        check_greedy(&e, gs, n, n, V, verbose, vs);
        int passed = 0, failed = 0;
        for (int i = 0; i < n; i++) {
            const verdict *v = &vs[i];
            int ok = !v->error[0] && v->last_err <= TOL && v->topk_err <= TOL && v->topk_bad == 0 &&
                     v->greedy_bad == 0;
            printf("%s %s: T=%d max|logit-golden| last %.2e top-%d %.2e; top-%d mismatches %d; "
                   "greedy %d/%d%s%s\n",
                   ok ? "PASS" : "FAIL", gs[i].name, gs[i].T, v->last_err, gs[i].K, v->topk_err,
                   gs[i].K, v->topk_bad, v->greedy_checked - v->greedy_bad, v->greedy_checked,
                   v->error[0] ? "; engine error: " : "", v->error);
            ok ? passed++ : failed++;
        }
        printf("%d passed, %d failed\n", passed, failed);
        rc = failed ? 1 : 0;
    }
    free(gs);
    free(vs);
    fk_kv_pool_free(e.pool);
    fk_run_free(e.run);
    fk_model_free(e.m);
    be->ops->free(be);
    fk_st_close(gf);
    fk_checkpoint_close(ck);
    return rc;
}
