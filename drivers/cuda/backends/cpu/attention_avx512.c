/* attention_avx512.c: causal attention with sinks and a sliding window on
 * AVX-512 (attention_avx512.h), float32 like the generic kernel.
 *
 * Per task (one row, one kv head, its G = nh/nkv query heads), per block of
 * 16 key positions [t0, t0 + 16) with t0 a multiple of 16:
 *   scores   s[u] = (q . k[t0 + u]) / sqrt(hd): the 16 dot products of a
 *            head as 16-lane partial sums, reduced together by a shuffle
 *            tree into one vector (lane u = key t0 + u); keys outside the
 *            row's window or past its position are masked;
 *   softmax  online, per block: a new maximum rescales the running sum and
 *            the accumulated values once; e = exp(s - max) with a vector exp
 *            (range reduction to [-ln2/2, ln2/2], a degree-7 polynomial,
 *            vscalefps; within 2 ulp of expf);
 *   values   acc += e[u] v[t0 + u], hd/16 FMAs per key.
 * The running maximum starts at the head's sink and the sum at 1 (the sink's
 * own term), as in the generic kernel; only the summation order differs.
 * Compiled for AVX-512 with target attributes. */
#include "attention_avx512.h"

#include "drivers/cuda/model/mxfp4.h"

#include <immintrin.h>
#include <math.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"))),    \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")
#endif

#define ALWAYS_INLINE inline __attribute__((always_inline))
#define KEYS 16      /* key positions per block (one score vector) */
#define MAX_GROUP 16 /* query heads per kv head */
#define MAX_NV 8     /* 16-float vectors per head (hd <= 128) */

int fk_attn512_fits(int nh, int nkv, int hd)
{
    return nkv > 0 && nh % nkv == 0 && nh / nkv <= MAX_GROUP &&
           (hd == 16 || hd == 32 || hd == 64 || hd == 128);
}

/* exp(x) for 16 lanes; x below -104 gives 0. */
static ALWAYS_INLINE __m512 exp16(__m512 x)
{
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.7f)), _mm512_set1_ps(-104.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* Four vectors -> one whose 128-bit lane L holds the lane-L sums of a, b, c, d. */
static ALWAYS_INLINE __m512 sum4(__m512 a, __m512 b, __m512 c, __m512 d)
{
    __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    __m512d abd = _mm512_castps_pd(ab), cdd = _mm512_castps_pd(cd);
    return _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(abd, cdd)),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(abd, cdd)));
}

/* Sixteen vectors -> one vector of their horizontal sums (lane u: v[u]). */
static ALWAYS_INLINE __m512 sum16(const __m512 *v)
{
    __m512 u0 = sum4(v[0], v[1], v[2], v[3]), u1 = sum4(v[4], v[5], v[6], v[7]);
    __m512 u2 = sum4(v[8], v[9], v[10], v[11]), u3 = sum4(v[12], v[13], v[14], v[15]);
    __m512 x01 =
        _mm512_add_ps(_mm512_shuffle_f32x4(u0, u1, 0x44), _mm512_shuffle_f32x4(u0, u1, 0xEE));
    __m512 x23 =
        _mm512_add_ps(_mm512_shuffle_f32x4(u2, u3, 0x44), _mm512_shuffle_f32x4(u2, u3, 0xEE));
    return _mm512_add_ps(_mm512_shuffle_f32x4(x01, x23, 0x88),
                         _mm512_shuffle_f32x4(x01, x23, 0xDD));
}

/* One task: row `row`, kv head `kvh`; NV = hd / 16 (a constant per
 * instantiation, so each head's accumulator is NV registers). */
static ALWAYS_INLINE void task(const fk_attn512_job *j, int row, int kvh, const int NV)
{
    const fk_attn_seq *s = fk_attn_seq_of_row(j->seqs, j->n_seqs, row);
    int hd = NV * 16, G = j->nh / j->nkv;
    int p = s->pos0 + (row - s->row0);
    int lo = j->window > 0 && p - j->window + 1 > 0 ? p - j->window + 1 : 0;
    size_t v_off = (size_t)j->kv->block_tokens * j->kv->width;
    const __m512 scale = _mm512_set1_ps(1.0f / sqrtf((float)hd));
    __m512 acc[MAX_GROUP][MAX_NV];
    float m[MAX_GROUP], den[MAX_GROUP];
    for (int h = 0; h < G; h++) {
        m[h] = fk_bf16_f32(j->sinks[kvh * G + h]);
        den[h] = 1.0f;
        for (int i = 0; i < NV; i++) acc[h][i] = _mm512_setzero_ps();
    }
    const float *q = j->q + ((size_t)row * j->nh + (size_t)kvh * G) * hd;
    for (int t0 = lo - lo % KEYS; t0 <= p; t0 += KEYS) {
        int a = t0 > lo ? t0 : lo, b = t0 + KEYS - 1 < p ? t0 + KEYS - 1 : p;
        __mmask16 valid = (__mmask16)(((1u << (b - a + 1)) - 1) << (a - t0));
        const float *k[KEYS];
        for (int u = 0; u < KEYS; u++)
            k[u] = valid >> u & 1 ? fk_kv_key(j->kv, j->slot, s->blocks, t0 + u, kvh, hd) : NULL;
        for (int h = 0; h < G; h++) {
            const float *qh = q + (size_t)h * hd;
            __m512 part[KEYS];
            for (int u = 0; u < KEYS; u++) {
                part[u] = _mm512_setzero_ps();
                if (!k[u]) continue;
                for (int i = 0; i < NV; i++)
                    part[u] = _mm512_fmadd_ps(_mm512_loadu_ps(qh + 16 * i),
                                              _mm512_loadu_ps(k[u] + 16 * i), part[u]);
            }
            __m512 sc = _mm512_mask_blend_ps(valid, _mm512_set1_ps(-INFINITY),
                                             _mm512_mul_ps(sum16(part), scale));
            float bm = _mm512_reduce_max_ps(sc);
            if (bm > m[h]) {
                float r = expf(m[h] - bm);
                den[h] *= r;
                for (int i = 0; i < NV; i++)
                    acc[h][i] = _mm512_mul_ps(acc[h][i], _mm512_set1_ps(r));
                m[h] = bm;
            }
            __m512 e = _mm512_maskz_mov_ps(valid, exp16(_mm512_sub_ps(sc, _mm512_set1_ps(m[h]))));
            den[h] += _mm512_reduce_add_ps(e);
            float ev[KEYS];
            _mm512_storeu_ps(ev, e);
            for (int u = 0; u < KEYS; u++) {
                if (!k[u]) continue;
                const float *v = k[u] + v_off;
                __m512 eu = _mm512_set1_ps(ev[u]);
                for (int i = 0; i < NV; i++)
                    acc[h][i] = _mm512_fmadd_ps(eu, _mm512_loadu_ps(v + 16 * i), acc[h][i]);
            }
        }
    }
    float *o = j->out + ((size_t)row * j->nh + (size_t)kvh * G) * hd;
    for (int h = 0; h < G; h++) {
        __m512 d = _mm512_set1_ps(den[h]);
        for (int i = 0; i < NV; i++)
            _mm512_storeu_ps(o + (size_t)h * hd + 16 * i, _mm512_div_ps(acc[h][i], d));
    }
}

void fk_attn512_tasks(const fk_attn512_job *j, int64_t i0, int64_t i1)
{
    for (int64_t i = i0; i < i1; i++) {
        int row = (int)(i / j->nkv), kvh = (int)(i % j->nkv);
        switch (j->hd) {
        case 16:
            task(j, row, kvh, 1);
            break;
        case 32:
            task(j, row, kvh, 2);
            break;
        case 64:
            task(j, row, kvh, 4);
            break;
        default:
            task(j, row, kvh, 8);
            break;
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
