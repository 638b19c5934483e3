// attention.cu: kv_store and paged attention with sinks and sliding windows.
//
// Split-K (flash-decoding): a query row's keys [lo, p] are cut into at most
// FK_K_ATTN_SPLITS chunks (kern.h fk_k_attn_split, a function of p and the
// window only). Block (row, kv head, split) loads its chunk's keys and
// values 32 at a time into shared memory, once for all the query heads of
// that kv head (one warp each), and keeps a running max, sum and weighted
// value sum (online softmax). Keys outside the chunk are never read, so a
// stale block (NaN left in unwritten cache memory) cannot leak in. The
// combine kernel then merges the splits of each (row, head) in split order
// and adds the sink once, in the denominator only:
//     out = sum_s acc_s e^(m_s - M) / (e^(sink - M) + sum_s l_s e^(m_s - M))
// with M the largest of the sink and the split maxima.
#include "kern.h"
#include "kernels.h"

#include <cuda_runtime.h>

namespace
{

constexpr int kTile = FK_K_ATTN_TILE; // keys per shared-memory tile (one per lane)
constexpr int kSplits = FK_K_ATTN_SPLITS;

// One thread per (row, float of the kv width): write k and v of the row's
// position into its block.
__global__ void kv_store_kernel(fk_cu_paged c, const float *k, const float *v)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)c.rows * c.width) return;
    int r = (int)(i / c.width), j = (int)(i % c.width);
    int p = c.meta[r];
    const int32_t *tab = c.tables + c.meta[c.rows + r];
    size_t off = fk_k_kv_offset(c.block_floats, c.block_tokens, c.width, tab[p / c.block_tokens],
                                c.slot, 0, p % c.block_tokens);
    c.base[off + j] = k[i];
    c.base[off + (size_t)c.block_tokens * c.width + j] = v[i];
}

struct AttnArgs {
    fk_cu_paged c;  // the cache
    const float *q; // [R, nh*hd]
    float *partial; // [R, nh, kSplits, hd + 2]: m, l, acc
    int nh, nkv, hd, window;
    float scale; // 1 / sqrt(hd)
};

__device__ __forceinline__ float warp_max(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ float warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Block (row, kv head, split); warp w serves query head kvh * G + w.
// Dynamic shared memory: K tile [kTile][hd + 1] (padded: lane j reads key
// j's dims without bank conflicts), V tile [kTile][hd], q [G][hd].
template <int DPL> // dims per lane: ceil(hd / 32)
__global__ void attn_split_kernel(AttnArgs a)
{
    extern __shared__ float smem[];
    const int hd = a.hd, G = a.nh / a.nkv, r = blockIdx.x, kvh = blockIdx.y, s = blockIdx.z;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, h = kvh * G + w;
    float *Ks = smem, *Vs = Ks + kTile * (hd + 1), *Qs = Vs + kTile * hd;
    float *P = a.partial + (((size_t)r * a.nh + h) * kSplits + s) * (hd + 2);

    const int p = a.c.meta[r];
    const int32_t *tab = a.c.tables + a.c.meta[a.c.rows + r];
    int first, end;
    fk_k_attn_split(p, a.window, s, &first, &end);
    if (first >= end) { // an empty split: the combine skips it
        if (lane == 0) {
            P[0] = -INFINITY;
            P[1] = 0.0f;
        }
        return; // uniform over the block
    }
    for (int d = lane; d < hd; d += 32) Qs[w * hd + d] = a.q[((size_t)r * a.nh + h) * hd + d];

    const size_t v_off = (size_t)a.c.block_tokens * a.c.width;
    float m = -INFINITY, l = 0.0f, acc[DPL];
#pragma unroll
    for (int i = 0; i < DPL; i++) acc[i] = 0.0f;

    for (int t0 = first; t0 < end; t0 += kTile) {
        __syncthreads(); // the previous tile is consumed (and Qs written)
        for (int idx = threadIdx.x; idx < kTile * hd; idx += blockDim.x) {
            int j = idx / hd, d = idx % hd, u = t0 + j;
            float kv = 0.0f, vv = 0.0f;
            if (u < end) {
                size_t off =
                    fk_k_kv_offset(a.c.block_floats, a.c.block_tokens, a.c.width,
                                   tab[u / a.c.block_tokens], a.c.slot, 0, u % a.c.block_tokens) +
                    (size_t)kvh * hd + d;
                kv = a.c.base[off];
                vv = a.c.base[off + v_off];
            }
            Ks[j * (hd + 1) + d] = kv;
            Vs[j * hd + d] = vv;
        }
        __syncthreads();
        const int u = t0 + lane;
        float sc = -INFINITY;
        if (u < end) {
            float dot = 0.0f;
            for (int d = 0; d < hd; d++) dot = fmaf(Qs[w * hd + d], Ks[lane * (hd + 1) + d], dot);
            sc = dot * a.scale;
        }
        float m_new = fmaxf(m, warp_max(sc)); // finite: the tile has a key
        float alpha = expf(m - m_new);        // 0 on the first tile (m = -inf)
        float pj = u < end ? expf(sc - m_new) : 0.0f;
        l = l * alpha + warp_sum(pj);
#pragma unroll
        for (int i = 0; i < DPL; i++) acc[i] *= alpha;
        const int n = end - t0 < kTile ? end - t0 : kTile;
        for (int j = 0; j < n; j++) {
            float pk = __shfl_sync(0xffffffffu, pj, j);
#pragma unroll
            for (int i = 0; i < DPL; i++) {
                int d = lane + 32 * i;
                if (d < hd) acc[i] = fmaf(pk, Vs[j * hd + d], acc[i]);
            }
        }
        m = m_new;
    }
    if (lane == 0) {
        P[0] = m;
        P[1] = l;
    }
#pragma unroll
    for (int i = 0; i < DPL; i++) {
        int d = lane + 32 * i;
        if (d < hd) P[2 + d] = acc[i];
    }
}

// Block (row, head), one thread per dim: merge the splits, sink once.
__global__ void attn_combine_kernel(float *out, const float *partial, const uint16_t *sinks, int nh,
                                    int hd)
{
    const int r = blockIdx.x, h = blockIdx.y;
    const float *P = partial + ((size_t)r * nh + h) * kSplits * (hd + 2);
    const float sink = fk_k_bf16(sinks[h]);
    float M = sink;
    for (int s = 0; s < kSplits; s++) {
        const float *Ps = P + (size_t)s * (hd + 2);
        if (Ps[1] > 0.0f && Ps[0] > M) M = Ps[0];
    }
    float L = expf(sink - M);
    for (int s = 0; s < kSplits; s++) {
        const float *Ps = P + (size_t)s * (hd + 2);
        if (Ps[1] > 0.0f) L += Ps[1] * expf(Ps[0] - M);
    }
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float o = 0.0f;
        for (int s = 0; s < kSplits; s++) {
            const float *Ps = P + (size_t)s * (hd + 2);
            if (Ps[1] > 0.0f) o = fmaf(Ps[2 + d], expf(Ps[0] - M), o);
        }
        out[((size_t)r * nh + h) * hd + d] = o / L;
    }
}

template <int DPL> cudaError_t launch_split(const AttnArgs &a, int R, cudaStream_t s)
{
    const int G = a.nh / a.nkv;
    size_t smem =
        ((size_t)kTile * (a.hd + 1) + (size_t)kTile * a.hd + (size_t)G * a.hd) * sizeof(float);
    if (smem > 48 * 1024) {
        cudaError_t e = cudaFuncSetAttribute(
            attn_split_kernel<DPL>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        if (e != cudaSuccess) return e;
    }
    attn_split_kernel<DPL><<<dim3(R, a.nkv, kSplits), 32 * G, smem, s>>>(a);
    return cudaGetLastError();
}

} // namespace

extern "C" cudaError_t fk_cu_kv_store(const fk_cu_rec *r, cudaStream_t s)
{
    const auto &k = r->a.kv_store;
    size_t n = (size_t)k.c.rows * k.c.width;
    kv_store_kernel<<<(unsigned)((n + 255) / 256), 256, 0, s>>>(k.c, k.k, k.v);
    return cudaGetLastError();
}

extern "C" cudaError_t fk_cu_attention(const fk_cu_rec *r, cudaStream_t s)
{
    const auto &at = r->a.attention;
    AttnArgs a = {at.c,   at.q,  at.partial, at.nh,
                  at.nkv, at.hd, at.window,  1.0f / sqrtf((float)at.hd)};
    const int R = at.c.rows;
    cudaError_t e;
    if (at.hd <= 32)
        e = launch_split<1>(a, R, s);
    else if (at.hd <= 64)
        e = launch_split<2>(a, R, s);
    else
        e = launch_split<4>(a, R, s);
    if (e != cudaSuccess) return e;
    attn_combine_kernel<<<dim3(R, at.nh), 64, 0, s>>>(at.out, at.partial, at.sinks, at.nh, at.hd);
    return cudaGetLastError();
}
