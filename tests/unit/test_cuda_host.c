/* test_cuda_host: the CUDA backend's parts that need no GPU, in every build:
 *   - kern.h, the arithmetic the kernels share with the host: MXFP4 decoding
 *     by fp16 bit patterns (every byte), the block scale, the router's top-k
 *     against the reference backend, the paged KV address against what the
 *     reference kv_store wrote, and split-K attention (the splits' ranges
 *     and the merge with the sink, emulated here the way the kernels do it,
 *     against the reference attention);
 *   - stream.c, the op stream, with a fake executor: staging and its reuse,
 *     results copied out, the second-sighting graph rule, replay, LRU, and
 *     the fallback when a capture fails;
 *   - FK_BACKEND parsing and choice, the KV budget (vLLM's rule);
 *   - fk_backend_open on this machine (no GPU here: cuda is refused with the
 *     reason, auto falls back to the CPU). */
#include "drivers/cuda/backends/cuda/cuda.h"
#include "drivers/cuda/backends/cuda/kern.h"
#include "drivers/cuda/backends/cuda/stream.h"
#include "drivers/cuda/model/mxfp4.h"
#include "tests/tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x2545F4914F6CDD1DULL;

static uint32_t rand_u32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static float frand(void) /* [-1, 1) */
{
    return (float)(rand_u32() % 2000001) / 1000000.0f - 1.0f;
}

/* ---- kern.h: number formats ------------------------------------------------------------ */

static void test_mxfp4(void)
{
    int bad = 0;
    for (uint32_t byte = 0; byte < 256; byte++) {
        uint32_t h = fk_k_mxfp4_pair(byte);
        float lo = fk_k_half_bits_f32((uint16_t)(h & 0xffff)) * 16384.0f;
        float hi = fk_k_half_bits_f32((uint16_t)(h >> 16)) * 16384.0f;
        float want_lo = fk_fp4_f32(byte & 15u), want_hi = fk_fp4_f32(byte >> 4);
        /* equal, and the same sign (so -0 stays -0) */
        if (lo != want_lo || hi != want_hi || signbit(lo) != signbit(want_lo) ||
            signbit(hi) != signbit(want_hi))
            bad++;
    }
    is_int(bad, 0, "every MXFP4 byte decodes through fp16 bit patterns to the e2m1 table");

    int scale_bad = 0;
    for (int s = 0; s < 255; s++)
        if (fk_k_e8m0((uint8_t)s) != fk_e8m0_f32((uint8_t)s)) scale_bad++;
    is_int(scale_bad, 0, "e8m0 scales as mxfp4.h reads them (0 is 2^-127)");

    /* One block: sum(decoded * 2^-14 * x) then * 2^14 * scale, as the matmul
     * kernel does, against the double sum of the exact values. */
    double worst = 0;
    const uint8_t scales[] = {0, 1, 100, 119, 127, 130, 200};
    for (size_t si = 0; si < sizeof scales; si++)
        for (int trial = 0; trial < 50; trial++) {
            uint8_t q[16];
            float x[32];
            for (int i = 0; i < 16; i++) q[i] = (uint8_t)rand_u32();
            for (int i = 0; i < 32; i++) x[i] = frand();
            float bs = 0.0f;
            double want = 0, mag = 0;
            for (int b = 0; b < 16; b++) {
                uint32_t h = fk_k_mxfp4_pair(q[b]);
                bs = fmaf(fk_k_half_bits_f32((uint16_t)(h & 0xffff)), x[2 * b], bs);
                bs = fmaf(fk_k_half_bits_f32((uint16_t)(h >> 16)), x[2 * b + 1], bs);
            }
            float got = fk_k_mxfp4_scale(bs, scales[si]);
            float block[32];
            fk_mxfp4_decode_block(block, q, 1.0f);
            for (int i = 0; i < 32; i++) {
                want += (double)block[i] * x[i];
                mag += fabs((double)block[i] * x[i]);
            }
            want *= fk_e8m0_f32(scales[si]);
            mag *= fk_e8m0_f32(scales[si]);
            double e = fabs(got - want) / (mag + 1e-300);
            if (!(e <= worst)) worst = e;
        }
    ok(worst < 1e-6, "an MXFP4 block's dot product, scaled once per block: within %.1e", worst);
}

/* ---- kern.h: the router ------------------------------------------------------------------ */

static void test_topk(void)
{
    fk_backend *ref = fk_backend_ref_new();
    const int E = 32, k = 4, R = 200;
    float *lg = malloc((size_t)R * E * sizeof *lg);
    for (int i = 0; i < R * E; i++) lg[i] = (float)(int)(frand() * 8) * 0.5f; /* many ties */
    int32_t want_i[R * 4], got_i[R * 4];
    float want_w[R * 4], got_w[R * 4];
    ref->ops->route(ref, want_i, want_w, lg, R, E, k);
    double worst = 0;
    for (int r = 0; r < R; r++) {
        fk_k_topk_row(lg + r * E, E, k, got_i + r * k, got_w + r * k);
        for (int j = 0; j < k; j++) {
            double e = fabs(got_w[r * k + j] - want_w[r * k + j]);
            if (e > worst) worst = e;
        }
    }
    ok(memcmp(got_i, want_i, sizeof got_i) == 0, "top-%d of %d rows with ties: the reference's ids",
       k, R);
    ok(worst < 1e-6, "and its weights (float32 softmax over the %d): within %.1e", k, worst);
    float tie[8] = {1, 3, 3, 0, 3, -1, 2, 3};
    int32_t ti[3];
    float tw[3];
    fk_k_topk_row(tie, 8, 3, ti, tw);
    ok(ti[0] == 1 && ti[1] == 2 && ti[2] == 4, "ties go to the lower index: %d %d %d", ti[0], ti[1],
       ti[2]);
    fk_k_sort_picks(ti, tw, 3);
    int32_t pi[4] = {7, 2, 30, 5};
    float pw[4] = {0.4f, 0.3f, 0.2f, 0.1f};
    fk_k_sort_picks(pi, pw, 4);
    ok(pi[0] == 2 && pi[1] == 5 && pi[2] == 7 && pi[3] == 30 && pw[0] == 0.3f && pw[1] == 0.1f &&
           pw[2] == 0.4f && pw[3] == 0.2f,
       "picks ordered by expert id keep their weights");
    free(lg);
    ref->ops->free(ref);
}

/* ---- kern.h: paged KV and split-K attention ----------------------------------------------- */

enum { BT = 4, SLOTS = 2, NBLK = 48, NH = 4, NKV = 2, HD = 16, WIDTH = NKV * HD };

/* A cache filled through the reference kv_store, for one sequence whose
 * block table is scattered over the pool. */
typedef struct paged {
    fk_kv_cache c;
    int32_t tab[40];
} paged;

static void paged_fill(paged *p, fk_backend *ref, int n_pos, float *k, float *v)
{
    p->c.block_tokens = BT;
    p->c.slots = SLOTS;
    p->c.width = WIDTH;
    p->c.block_floats = (size_t)SLOTS * 2 * BT * WIDTH;
    p->c.base = malloc(NBLK * p->c.block_floats * sizeof(float));
    for (size_t i = 0; i < NBLK * p->c.block_floats; i++) p->c.base[i] = NAN; /* stale memory */
    for (int i = 0; i < 40; i++) p->tab[i] = (int32_t)((i * 7 + 3) % NBLK);
    fk_attn_seq s = {p->tab, 40, 0, n_pos, 0};
    ref->ops->kv_store(ref, &p->c, 1, k, v, &s, 1);
}

static void test_kv_offset(fk_backend *ref)
{
    const int n = 37;
    float *k = malloc((size_t)n * WIDTH * sizeof *k), *v = malloc((size_t)n * WIDTH * sizeof *v);
    for (int i = 0; i < n * WIDTH; i++) k[i] = frand(), v[i] = frand();
    paged p;
    paged_fill(&p, ref, n, k, v);
    int bad = 0;
    for (int pos = 0; pos < n; pos++) {
        for (int kv = 0; kv < 2; kv++) {
            size_t off =
                fk_k_kv_offset(p.c.block_floats, BT, WIDTH, p.tab[pos / BT], 1, kv, pos % BT);
            if (memcmp(p.c.base + off, (kv ? v : k) + (size_t)pos * WIDTH, WIDTH * sizeof(float)))
                bad++;
        }
    }
    is_int(bad, 0, "fk_k_kv_offset finds every key and value where the reference kv_store put it");
    free(p.c.base);
    free(k);
    free(v);
}

static void test_splits(void)
{
    int bad = 0, chunk_bad = 0, many = 0;
    const int windows[] = {0, 1, 8, 128, 4096};
    for (size_t wi = 0; wi < sizeof windows / sizeof windows[0]; wi++)
        for (int p = 0; p < 20000; p += p < 300 ? 1 : 97) {
            int lo, w = windows[wi];
            fk_k_attn_range(p, w, &lo);
            int next = lo, used = 0;
            for (int s = 0; s < FK_K_ATTN_SPLITS; s++) {
                int f, e;
                fk_k_attn_split(p, w, s, &f, &e);
                if (f >= e) continue;
                used++;
                if (f != next) bad++;
                next = e;
            }
            if (next != p + 1) bad++;
            int chunk = fk_k_attn_chunk(p - lo + 1);
            if (chunk % FK_K_ATTN_TILE || chunk < FK_K_ATTN_MIN_CHUNK) chunk_bad++;
            if (used > 1 && (p - lo + 1) <= FK_K_ATTN_MIN_CHUNK) many++;
        }
    is_int(bad, 0, "the splits of every row cover its keys [lo, p] once, in order");
    is_int(chunk_bad, 0, "split chunks are whole tiles of at least %d keys", FK_K_ATTN_MIN_CHUNK);
    is_int(many, 0, "a row with few keys uses one split");
}

/* The kernels' algorithm on the host: per split, tiles of 32 keys with a
 * running max, sum and weighted values; then the merge with the sink. */
static void emulate_attention(float *out, const float *q, const paged *pc, int p, int window,
                              const uint16_t *sinks)
{
    const int G = NH / NKV;
    float m_s[FK_K_ATTN_SPLITS], l_s[FK_K_ATTN_SPLITS], acc_s[FK_K_ATTN_SPLITS][HD];
    const float scale = 1.0f / sqrtf((float)HD);
    for (int h = 0; h < NH; h++) {
        int kvh = h / G;
        for (int s = 0; s < FK_K_ATTN_SPLITS; s++) {
            int first, end;
            fk_k_attn_split(p, window, s, &first, &end);
            m_s[s] = -INFINITY;
            l_s[s] = 0;
            for (int d = 0; d < HD; d++) acc_s[s][d] = 0;
            for (int t0 = first; t0 < end; t0 += FK_K_ATTN_TILE) {
                float sc[FK_K_ATTN_TILE], mt = -INFINITY;
                for (int j = 0; j < FK_K_ATTN_TILE; j++) {
                    int u = t0 + j;
                    sc[j] = -INFINITY;
                    if (u >= end) continue;
                    const float *key = pc->c.base +
                                       fk_k_kv_offset(pc->c.block_floats, BT, WIDTH,
                                                      pc->tab[u / BT], 1, 0, u % BT) +
                                       kvh * HD;
                    float dot = 0;
                    for (int d = 0; d < HD; d++) dot = fmaf(q[h * HD + d], key[d], dot);
                    sc[j] = dot * scale;
                    mt = fmaxf(mt, sc[j]);
                }
                float m_new = fmaxf(m_s[s], mt), alpha = expf(m_s[s] - m_new), sum = 0;
                for (int d = 0; d < HD; d++) acc_s[s][d] *= alpha;
                for (int j = 0; j < FK_K_ATTN_TILE && t0 + j < end; j++) {
                    int u = t0 + j;
                    float pj = expf(sc[j] - m_new);
                    sum += pj;
                    const float *val = pc->c.base +
                                       fk_k_kv_offset(pc->c.block_floats, BT, WIDTH,
                                                      pc->tab[u / BT], 1, 1, u % BT) +
                                       kvh * HD;
                    for (int d = 0; d < HD; d++) acc_s[s][d] = fmaf(pj, val[d], acc_s[s][d]);
                }
                l_s[s] = l_s[s] * alpha + sum;
                m_s[s] = m_new;
            }
        }
        float sink = fk_k_bf16(sinks[h]), M = sink, L;
        for (int s = 0; s < FK_K_ATTN_SPLITS; s++)
            if (l_s[s] > 0 && m_s[s] > M) M = m_s[s];
        L = expf(sink - M);
        for (int s = 0; s < FK_K_ATTN_SPLITS; s++)
            if (l_s[s] > 0) L += l_s[s] * expf(m_s[s] - M);
        for (int d = 0; d < HD; d++) {
            float o = 0;
            for (int s = 0; s < FK_K_ATTN_SPLITS; s++)
                if (l_s[s] > 0) o = fmaf(acc_s[s][d], expf(m_s[s] - M), o);
            out[h * HD + d] = o / L;
        }
    }
}

static uint16_t bf16_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)(u >> 16);
}

static void test_attention_math(fk_backend *ref)
{
    const int n = 150; /* > 2 splits' worth of keys at the longest position */
    float *k = malloc((size_t)n * WIDTH * sizeof *k), *v = malloc((size_t)n * WIDTH * sizeof *v);
    for (int i = 0; i < n * WIDTH; i++) k[i] = frand() * 2, v[i] = frand();
    paged p;
    paged_fill(&p, ref, n, k, v);
    uint16_t sinks[NH];
    for (int h = 0; h < NH; h++) sinks[h] = bf16_of(frand() * 3);
    double worst = 0;
    int nan = 0;
    const int windows[] = {0, 8, 100};
    for (int wi = 0; wi < 3; wi++)
        for (int pos = 0; pos < n; pos += 7) {
            float q[NH * HD], want[NH * HD], got[NH * HD];
            for (int i = 0; i < NH * HD; i++) q[i] = frand() * 2;
            fk_attn_seq s = {p.tab, 40, pos, 1, 0};
            ref->ops->attention(ref, want, q, &p.c, 1, &s, 1, sinks, NH, NKV, HD, windows[wi]);
            emulate_attention(got, q, &p, pos, windows[wi], sinks);
            for (int i = 0; i < NH * HD; i++) {
                if (isnan(got[i])) nan++;
                double e = fabs(got[i] - want[i]);
                if (e > worst) worst = e;
            }
        }
    ok(worst < 1e-5 && nan == 0,
       "split-K attention as the kernels compute it (tiles, splits, sink once) = reference within "
       "%.1e, no NaN from the stale blocks around (%d)",
       worst, nan);
    free(p.c.base);
    free(k);
    free(v);
}

static void test_gemv_split(void)
{
    int bad = 0;
    const int shapes[][3] = {{201088, 2880, 8}, {4096, 2880, 8},  {512, 2880, 8}, {2880, 4096, 8},
                             {5760, 2880, 32},  {2880, 2880, 32}, {32, 2880, 8},  {8, 32, 32}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int s = fk_k_gemv_split(shapes[i][0], shapes[i][1], shapes[i][2], 1, 132);
        if (s < 1 || s > FK_K_GEMV_WARPS || (s & (s - 1))) bad++;
    }
    is_int(bad, 0, "matmul splits are 1, 2, 4 or 8 warps");
    is_int(fk_k_gemv_split(201088, 2880, 8, 1, 132), 1, "lm_head: plenty of outputs, no split");
    ok(fk_k_gemv_split(512, 2880, 8, 1, 132) > 1, "a 512-output projection splits K across warps");
}

/* ---- stream.c with a fake executor -------------------------------------------------------- */

typedef struct fake {
    int launches, captures, replays, drops, waits;
    int fail_capture;        /* 1: capture fails */
    int fail_wait;           /* status the next wait returns */
    uint8_t seen_stage[256]; /* staging bytes the last run saw */
    size_t seen_staged;      /* how many */
    uint8_t *out;            /* the output area */
    int graphs_live;         /* captured and not dropped */
} fake;

static uint8_t stage_area[4096], out_area[256];

static int f_launch(void *ud, const fk_cu_rec *recs, size_t n, size_t staged)
{
    fake *f = ud;
    (void)recs;
    (void)n;
    f->launches++;
    f->seen_staged = staged;
    memcpy(f->seen_stage, stage_area, staged < 256 ? staged : 256);
    f->out[0] = 0xAB; /* the "device" writes a result */
    return 0;
}

static int f_capture(void *ud, const fk_cu_rec *recs, size_t n, size_t staged, void **graph)
{
    fake *f = ud;
    (void)recs;
    (void)n;
    (void)staged;
    if (f->fail_capture) return FK_ERR_DEVICE;
    f->captures++;
    f->graphs_live++;
    *graph = malloc(1);
    return 0;
}

static int f_replay(void *ud, void *graph)
{
    fake *f = ud;
    (void)graph;
    f->replays++;
    memcpy(f->seen_stage, stage_area, 256);
    f->out[0] = 0xCD;
    return 0;
}

static void f_drop(void *ud, void *graph)
{
    fake *f = ud;
    f->drops++;
    f->graphs_live--;
    free(graph);
}

static int f_wait(void *ud)
{
    fake *f = ud;
    f->waits++;
    int st = f->fail_wait;
    f->fail_wait = 0;
    return st;
}

/* A decode-step-like segment: an upload of `token` and a record that
 * depends only on the shape n. */
static void segment(fk_cu_stream *s, int32_t token, int shape, uint8_t *result)
{
    size_t off = fk_cu_stream_stage(s, &token, sizeof token);
    fk_cu_rec r;
    fk_cu_rec_init(&r, FK_CU_COPY);
    r.a.copy.src = (void *)(uintptr_t)(0x1000 + off);
    r.a.copy.bytes = 4;
    fk_cu_stream_push(s, &r);
    fk_cu_rec_init(&r, FK_CU_ADD);
    r.a.add.n = (size_t)shape;
    fk_cu_stream_push(s, &r);
    if (result) fk_cu_stream_result(s, result, 1);
}

static void test_stream(void)
{
    fake f = {0};
    f.out = out_area;
    fk_cu_exec ex = {&f, f_launch, f_capture, f_replay, f_drop, f_wait};
    fk_cu_stream s;
    fk_cu_stream_init(&s, &ex, stage_area, sizeof stage_area, out_area, sizeof out_area);

    /* staging: identical blobs once, different ones apart, 16-byte aligned */
    int32_t a[3] = {1, 2, 3}, b[3] = {1, 2, 4};
    size_t oa = fk_cu_stream_stage(&s, a, sizeof a), oa2 = fk_cu_stream_stage(&s, a, sizeof a);
    size_t ob = fk_cu_stream_stage(&s, b, sizeof b);
    ok(oa == oa2 && ob != oa && ob % 16 == 0, "an identical blob is staged once (%zu %zu %zu)", oa,
       oa2, ob);
    ok(fk_cu_stream_stage(&s, stage_area, sizeof stage_area) == SIZE_MAX,
       "a blob larger than the room left is refused (flush, then grow)");
    is_int(fk_cu_stream_flush(&s), 0, "flush");

    uint8_t res = 0;
    segment(&s, 7, 10, &res);
    fk_cu_stream_flush(&s);
    ok(f.launches == 1 && f.captures == 0 && res == 0xAB,
       "a segment seen once runs launch by launch and its result is copied out");
    ok(f.seen_staged >= 4 && memcmp(f.seen_stage, &(int32_t){7}, 4) == 0,
       "the launch saw the staged token");
    segment(&s, 8, 10, &res);
    fk_cu_stream_flush(&s);
    ok(f.captures == 1 && f.replays == 1 && res == 0xCD,
       "the same shape again (another token): captured once and replayed");
    ok(memcmp(f.seen_stage, &(int32_t){8}, 4) == 0, "the replay saw this step's token");
    segment(&s, 9, 10, NULL);
    fk_cu_stream_flush(&s);
    ok(f.captures == 1 && f.replays == 2, "a third time: replayed, not captured again");
    segment(&s, 9, 11, NULL);
    fk_cu_stream_flush(&s);
    ok(f.launches == 2 && f.captures == 1, "another shape: launched one by one");

    /* LRU: fill the cache with FK_CU_GRAPHS more shapes, each seen twice */
    for (int shape = 100; shape < 100 + FK_CU_GRAPHS + 1; shape++)
        for (int t = 0; t < 2; t++) {
            segment(&s, t, shape, NULL);
            fk_cu_stream_flush(&s);
        }
    ok(f.drops == 2 && f.graphs_live == FK_CU_GRAPHS,
       "past %d graphs the least recently used are dropped (%d dropped, %d kept)", FK_CU_GRAPHS,
       f.drops, f.graphs_live);
    segment(&s, 1, 10, NULL);
    int caps = f.captures;
    fk_cu_stream_flush(&s);
    ok(f.captures == caps + 1, "a dropped shape seen before is captured again at once");

    /* a failed capture falls back to launching; a failed wait drops results */
    f.fail_capture = 1;
    segment(&s, 1, 500, NULL);
    fk_cu_stream_flush(&s);
    int launches = f.launches;
    segment(&s, 2, 500, NULL);
    is_int(fk_cu_stream_flush(&s), 0, "a segment whose capture fails still runs");
    ok(f.launches == launches + 1, "launch by launch");
    f.fail_capture = 0;
    res = 0;
    segment(&s, 3, 600, &res);
    f.fail_wait = FK_ERR_DEVICE;
    is_int(fk_cu_stream_flush(&s), FK_ERR_DEVICE, "a device error surfaces at the flush");
    ok(res == 0, "and no result is copied out");
    fk_cu_stream_forget(&s);
    is_int(f.graphs_live, 0, "forget drops every graph");
    fk_cu_stream_free(&s);
}

/* ---- FK_BACKEND and the KV budget -------------------------------------------------------- */

static void test_select(void)
{
    char err[512];
    fk_backend_kind k;
    ok(fk_backend_kind_parse(NULL, &k, err, sizeof err) == 0 && k == FK_BACKEND_AUTO,
       "FK_BACKEND unset: auto");
    ok(fk_backend_kind_parse("cuda", &k, err, sizeof err) == 0 && k == FK_BACKEND_CUDA, "cuda");
    ok(fk_backend_kind_parse("cpu", &k, err, sizeof err) == 0 && k == FK_BACKEND_CPU, "cpu");
    ok(fk_backend_kind_parse("gpu", &k, err, sizeof err) == -1 && strstr(err, "auto, cpu or cuda"),
       "FK_BACKEND=gpu is refused: %s", err);
    is_int(fk_backend_choose(FK_BACKEND_AUTO, 1, "", err, sizeof err), FK_BACKEND_CUDA,
           "auto with a GPU: cuda");
    is_int(fk_backend_choose(FK_BACKEND_AUTO, 0, "no GPU", err, sizeof err), FK_BACKEND_CPU,
           "auto without one: cpu");
    is_int(fk_backend_choose(FK_BACKEND_CPU, 1, "", err, sizeof err), FK_BACKEND_CPU,
           "cpu even with a GPU");
    ok(fk_backend_choose(FK_BACKEND_CUDA, 0, "no CUDA GPU is visible", err, sizeof err) == -1 &&
           strstr(err, "no CUDA GPU is visible") && strstr(err, "FK_BACKEND=cpu"),
       "cuda without a GPU is an error that says why and what to do: %s", err);

    /* This machine: a GPU or not, each answer as it should be. */
    fk_cuda_info info;
    char why[512] = "";
    int gpu = fk_cuda_probe(0, &info, why, sizeof why);
    fk_backend_kind chosen = FK_BACKEND_REF;
    char desc[256] = "";
    fk_backend *be =
        fk_backend_open(FK_BACKEND_CUDA, 1, NULL, &chosen, desc, sizeof desc, err, sizeof err);
    if (gpu) {
        ok(be && chosen == FK_BACKEND_CUDA && fk_backend_is_cuda(be) &&
               strncmp(desc, "cuda: ", 6) == 0,
           "a GPU here: FK_BACKEND=cuda starts it: %s", desc);
    } else {
        ok(!be && strstr(err, "FK_BACKEND=cuda, but") && strstr(err, why),
           "no usable GPU here (%s): FK_BACKEND=cuda is refused: %s", why, err);
    }
    if (be) be->ops->free(be);
    be = fk_backend_open(FK_BACKEND_AUTO, 1, NULL, &chosen, desc, sizeof desc, err, sizeof err);
    if (gpu) {
        ok(be && chosen == FK_BACKEND_CUDA && !*err, "auto starts the GPU: %s", desc);
    } else {
        ok(be && chosen == FK_BACKEND_CPU && !fk_backend_is_cuda(be) && strcmp(desc, "cpu") == 0 &&
               strcmp(err, why) == 0,
           "auto starts the CPU backend (%s) and says why no GPU was used: %s", desc, err);
    }
    if (be) be->ops->free(be);
}

static void test_kv_budget(void)
{
    char err[1024];
    const uint64_t G = 1ull << 30;
    fk_kv_budget b = {80 * G, 79 * G, 79 * G - 14 * G, 0.9, 1 * G, 131072};
    uint64_t kv = fk_cuda_kv_bytes(&b, err, sizeof err);
    double want = 0.9 * 80 * G - 14.0 * G - FK_CUDA_KV_MARGIN;
    ok(fabs((double)kv - want) < 4096, "80 GiB at 0.9 with 14 GiB used: %.2f GiB for the KV cache",
       kv / (double)G);
    b.free_at_start = 60 * G;
    b.free_now = 46 * G;
    ok(fk_cuda_kv_bytes(&b, err, sizeof err) == 0 && strstr(err, "60.00 GiB free") &&
           strstr(err, "VLLM_GPU_MEMORY_UTILIZATION"),
       "less free memory at start than the share: %s", err);
    b.free_at_start = 79 * G;
    b.free_now = 79 * G - 14 * G;
    b.utilization = 0.2; /* 16 GiB: 14 used, 1.75 left, one sequence needs 3 */
    b.seq_bytes = 3 * G;
    ok(fk_cuda_kv_bytes(&b, err, sizeof err) == 0 && strstr(err, "VLLM_MAX_MODEL_LEN=131072") &&
           strstr(err, "3.00 GiB"),
       "one sequence does not fit: %s", err);
}

int main(void)
{
    fk_backend *ref = fk_backend_ref_new();
    if (!ref) {
        ok(0, "start the reference backend");
        return done_testing();
    }
    test_mxfp4();
    test_topk();
    test_kv_offset(ref);
    test_splits();
    test_attention_math(ref);
    test_gemv_split();
    test_stream();
    test_select();
    test_kv_budget();
    ref->ops->free(ref);
    return done_testing();
}
