// gemv.cu: the matmul of the CUDA backend and the fused experts built on it.
//
// y[r][n] = sum_k W[n][k] x[r][k] + b[n] for every row r, the weights read
// once per call whatever the number of rows (decode is bound by reading
// weights: 3.7 GB a token for gpt-oss-20b). Weights stay as the checkpoint
// stores them and are decoded in registers:
//   bf16 [N, K]    16-byte loads, 8 values, widened by a shift;
//   MXFP4          16 bytes of codes (32 values) and one e8m0 scale per
//                  load: each code byte becomes two fp16 bit patterns
//                  (kern.h fk_k_mxfp4_pair: value * 2^-14), widened to
//                  float; the block's sum is scaled once by 2^14 * scale;
//   bf16 [K, N]    (the bf16 expert form) one thread per output pair,
//                  reading rows of W in order.
// A warp group (1, 2, 4 or 8 warps: fk_k_gemv_split, a function of the
// shape only) computes FK_K_GEMV_NR consecutive outputs; its lanes take
// interleaved 8- or 32-value units of K; each lane sums its units in order,
// the warp adds lanes with a butterfly and lane 0 adds the group's warps in
// order. Rows are processed RB at a time with the same instructions per row,
// so every output's sum order is independent of how many rows the call has
// (batch invariance) and of RB.
//
// Grouped mode (the fused experts): grid row a serves the a-th expert that
// has rows, its rows listed on the device (no host round trip), and the
// gate_up product can end in SwiGLU of each (gate, up) output pair.
#include "kern.h"
#include "kernels.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace
{

constexpr int kWarps = FK_K_GEMV_WARPS;
constexpr int kNR = FK_K_GEMV_NR;

// ---- loads ----------------------------------------------------------------------------------

// x[k .. k+8) of one row (zeros past K).
template <bool VEC>
__device__ __forceinline__ void load_x8(float v[8], const float *xr, int k, int K)
{
    if constexpr (VEC) {
        float4 a = *reinterpret_cast<const float4 *>(xr + k);
        float4 b = *reinterpret_cast<const float4 *>(xr + k + 4);
        v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w;
        v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    } else {
#pragma unroll
        for (int t = 0; t < 8; t++) v[t] = k + t < K ? xr[k + t] : 0.0f;
    }
}

// Eight bf16 weights W[n][k .. k+8) as floats (zeros past K).
template <bool VEC>
__device__ __forceinline__ void load_w8_bf16(float v[8], const uint16_t *wr, int k, int K)
{
    if constexpr (VEC) {
        uint4 q = __ldg(reinterpret_cast<const uint4 *>(wr + k));
        uint32_t w[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
        for (int t = 0; t < 4; t++) { // little endian: the low half is the even element
            v[2 * t] = __uint_as_float(w[t] << 16);
            v[2 * t + 1] = __uint_as_float(w[t] & 0xffff0000u);
        }
    } else {
#pragma unroll
        for (int t = 0; t < 8; t++) v[t] = k + t < K ? fk_k_bf16(wr[k + t]) : 0.0f;
    }
}

// The 16 code bytes of one MXFP4 block as four words.
template <bool VEC> __device__ __forceinline__ uint4 load_codes(const uint8_t *p)
{
    if constexpr (VEC) {
        return __ldg(reinterpret_cast<const uint4 *>(p));
    } else {
        uint32_t w[4];
#pragma unroll
        for (int t = 0; t < 4; t++)
            w[t] = (uint32_t)p[4 * t] | (uint32_t)p[4 * t + 1] << 8 | (uint32_t)p[4 * t + 2] << 16 |
                   (uint32_t)p[4 * t + 3] << 24;
        return make_uint4(w[0], w[1], w[2], w[3]);
    }
}

// Eight values of one code word (4 bytes, elements 8q .. 8q+8) times 2^-14.
__device__ __forceinline__ void decode_word(float v[8], uint32_t word)
{
#pragma unroll
    for (int b = 0; b < 4; b++) {
        uint32_t h = fk_k_mxfp4_pair((word >> (8 * b)) & 0xffu);
        __half2_raw raw;
        raw.x = (unsigned short)(h & 0xffffu);
        raw.y = (unsigned short)(h >> 16);
        float2 f = __half22float2(__half2(raw));
        v[2 * b] = f.x;
        v[2 * b + 1] = f.y;
    }
}

__device__ __forceinline__ float warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float swiglu(float g, float u, float limit, float alpha)
{
    g = g > limit ? limit : g;
    u = u > limit ? limit : u < -limit ? -limit : u;
    return (u + 1.0f) * g / (1.0f + expf(-alpha * g));
}

// ---- which rows a block serves ----------------------------------------------------------------

// The rows of this block: [begin, end) of a list (grouped) or of 0..rows;
// with the expert's weights, scales and bias. false: this grid row has no
// expert (fewer experts were chosen than the grid has rows).
struct Work {
    const uint8_t *w;    // weights
    const uint8_t *s;    // scales or NULL
    const uint16_t *b;   // bias or NULL
    const int32_t *list; // entries, or NULL (rows are the entries)
    int begin, end;      // range
};

__device__ __forceinline__ bool work_of(const fk_cu_gemv &g, Work *wk)
{
    wk->w = static_cast<const uint8_t *>(g.w);
    wk->s = g.scales;
    wk->b = g.bias;
    wk->list = nullptr;
    wk->begin = 0;
    wk->end = g.rows;
    if (!g.groups) return true;
    const int G = g.max_groups, a = blockIdx.y;
    if (a >= g.groups[0]) return false;
    const int e = g.groups[1 + a];
    wk->begin = g.groups[1 + G + a];
    wk->end = g.groups[2 + G + a];
    wk->list = g.groups + 2 + 2 * G;
    wk->w += (size_t)e * g.w_stride;
    if (wk->s) wk->s += (size_t)e * g.s_stride;
    if (wk->b) wk->b += (size_t)e * g.b_stride;
    return true;
}

// The entry (output row) and input row of list position li.
__device__ __forceinline__ void row_of(const fk_cu_gemv &g, const Work &wk, int li, int *ent,
                                       const float **xr)
{
    int e = wk.list ? wk.list[li] : li;
    int xrow = g.in_row ? g.in_row[e] : e;
    *ent = e;
    *xr = g.x + (size_t)xrow * g.ldx;
}

// Write the outputs n0 .. n0+kNR of one row: plain, or SwiGLU of each pair.
__device__ __forceinline__ void store(const fk_cu_gemv &g, const Work &wk, int ent, int n0,
                                      const float *acc /* [kNR] */)
{
    float *y = g.y + (size_t)ent * g.ldy;
    float v[kNR];
#pragma unroll
    for (int i = 0; i < kNR; i++)
        v[i] = acc[i] + (wk.b && n0 + i < g.n ? fk_k_bf16(wk.b[n0 + i]) : 0.0f);
    if (g.swiglu) {
#pragma unroll
        for (int i = 0; i < kNR; i += 2)
            if (n0 + i + 1 < g.n) y[(n0 + i) / 2] = swiglu(v[i], v[i + 1], g.limit, g.alpha);
    } else {
#pragma unroll
        for (int i = 0; i < kNR; i++)
            if (n0 + i < g.n) y[n0 + i] = v[i];
    }
}

// ---- W [N, K]: bf16 or MXFP4 ---------------------------------------------------------------

template <int FMT, int RB, bool VEC>
__global__ void __launch_bounds__(kWarps * 32) gemv_kernel(const fk_cu_gemv g)
{
    __shared__ float red[kWarps][kNR][RB];
    Work wk;
    if (!work_of(g, &wk)) return; // uniform over the block
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int split = g.split, grp = warp / split, sub = warp % split;
    const int n0 = (blockIdx.x * (kWarps / split) + grp) * kNR;
    const int K = g.k, N = g.n;
    const size_t row_bytes = FMT == FK_W_MXFP4 ? (size_t)K / 2 : (size_t)K * 2;
    const uint8_t *wrow[kNR];
#pragma unroll
    for (int i = 0; i < kNR; i++) wrow[i] = wk.w + (size_t)(n0 + i < N ? n0 + i : 0) * row_bytes;

    for (int r0 = wk.begin; r0 < wk.end; r0 += RB) {
        const float *xr[RB];
        int ent[RB];
#pragma unroll
        for (int j = 0; j < RB; j++)
            row_of(g, wk, r0 + j < wk.end ? r0 + j : wk.begin, &ent[j], &xr[j]);
        float acc[kNR][RB];
#pragma unroll
        for (int i = 0; i < kNR; i++)
#pragma unroll
            for (int j = 0; j < RB; j++) acc[i][j] = 0.0f;

        if constexpr (FMT == FK_W_MXFP4) {
            const int units = K / 32;
            for (int u = sub * 32 + lane; u < units; u += split * 32) {
                uint4 q[kNR];
                uint8_t sc[kNR];
#pragma unroll
                for (int i = 0; i < kNR; i++) {
                    bool ok = n0 + i < N;
                    q[i] = ok ? load_codes<VEC>(wrow[i] + (size_t)u * 16) : make_uint4(0, 0, 0, 0);
                    sc[i] = ok ? wk.s[(size_t)(n0 + i) * (K / 32) + u] : (uint8_t)127;
                }
                float bs[kNR][RB];
#pragma unroll
                for (int i = 0; i < kNR; i++)
#pragma unroll
                    for (int j = 0; j < RB; j++) bs[i][j] = 0.0f;
#pragma unroll
                for (int wq = 0; wq < 4; wq++) {
                    float wv[kNR][8];
#pragma unroll
                    for (int i = 0; i < kNR; i++)
                        decode_word(wv[i], wq == 0   ? q[i].x
                                           : wq == 1 ? q[i].y
                                           : wq == 2 ? q[i].z
                                                     : q[i].w);
#pragma unroll
                    for (int j = 0; j < RB; j++) {
                        float xv[8];
                        load_x8<VEC>(xv, xr[j], u * 32 + wq * 8, K);
#pragma unroll
                        for (int i = 0; i < kNR; i++)
#pragma unroll
                            for (int t = 0; t < 8; t++) bs[i][j] = fmaf(wv[i][t], xv[t], bs[i][j]);
                    }
                }
#pragma unroll
                for (int i = 0; i < kNR; i++) { // 2^14, then the block's scale (kern.h)
                    float scale = fk_k_e8m0(sc[i]);
#pragma unroll
                    for (int j = 0; j < RB; j++)
                        acc[i][j] = fmaf(bs[i][j] * 16384.0f, scale, acc[i][j]);
                }
            }
        } else {
            const int units = (K + 7) / 8;
            for (int u = sub * 32 + lane; u < units; u += split * 32) {
                float wv[kNR][8];
#pragma unroll
                for (int i = 0; i < kNR; i++) {
                    if (n0 + i < N)
                        load_w8_bf16<VEC>(wv[i], reinterpret_cast<const uint16_t *>(wrow[i]), u * 8,
                                          K);
                    else
#pragma unroll
                        for (int t = 0; t < 8; t++) wv[i][t] = 0.0f;
                }
#pragma unroll
                for (int j = 0; j < RB; j++) {
                    float xv[8];
                    load_x8<VEC>(xv, xr[j], u * 8, K);
#pragma unroll
                    for (int i = 0; i < kNR; i++)
#pragma unroll
                        for (int t = 0; t < 8; t++) acc[i][j] = fmaf(wv[i][t], xv[t], acc[i][j]);
                }
            }
        }

#pragma unroll
        for (int i = 0; i < kNR; i++)
#pragma unroll
            for (int j = 0; j < RB; j++) acc[i][j] = warp_sum(acc[i][j]); // lane 0's is used
        if (split > 1) {
            if (lane == 0)
#pragma unroll
                for (int i = 0; i < kNR; i++)
#pragma unroll
                    for (int j = 0; j < RB; j++) red[warp][i][j] = acc[i][j];
            __syncthreads();
            if (sub == 0 && lane == 0)
#pragma unroll
                for (int i = 0; i < kNR; i++)
#pragma unroll
                    for (int j = 0; j < RB; j++) {
                        float s = 0.0f;
                        for (int w = 0; w < split; w++) s += red[grp * split + w][i][j];
                        acc[i][j] = s;
                    }
            __syncthreads();
        }
        if (sub == 0 && lane == 0 && n0 < N)
#pragma unroll
            for (int j = 0; j < RB; j++) {
                if (r0 + j >= wk.end) break;
                float out[kNR];
#pragma unroll
                for (int i = 0; i < kNR; i++) out[i] = acc[i][j];
                store(g, wk, ent[j], n0, out);
            }
    }
}

// ---- W [K, N]: the bf16 expert form -------------------------------------------------------

// One thread per output pair (2t, 2t+1), k in order.
template <int RB> __global__ void __launch_bounds__(256) gemv_t_kernel(const fk_cu_gemv g)
{
    Work wk;
    if (!work_of(g, &wk)) return;
    const int n0 = 2 * (blockIdx.x * blockDim.x + threadIdx.x);
    if (n0 >= g.n) return; // no barrier below
    const uint16_t *W = reinterpret_cast<const uint16_t *>(wk.w);
    const int N = g.n, K = g.k;
    const bool two = n0 + 1 < N;
    for (int r0 = wk.begin; r0 < wk.end; r0 += RB) {
        const float *xr[RB];
        int ent[RB];
#pragma unroll
        for (int j = 0; j < RB; j++)
            row_of(g, wk, r0 + j < wk.end ? r0 + j : wk.begin, &ent[j], &xr[j]);
        float a0[RB], a1[RB];
#pragma unroll
        for (int j = 0; j < RB; j++) a0[j] = a1[j] = 0.0f;
        for (int k = 0; k < K; k++) {
            float w0 = fk_k_bf16(W[(size_t)k * N + n0]);
            float w1 = two ? fk_k_bf16(W[(size_t)k * N + n0 + 1]) : 0.0f;
#pragma unroll
            for (int j = 0; j < RB; j++) {
                float x = xr[j][k];
                a0[j] = fmaf(w0, x, a0[j]);
                a1[j] = fmaf(w1, x, a1[j]);
            }
        }
#pragma unroll
        for (int j = 0; j < RB; j++) {
            if (r0 + j >= wk.end) break;
            float out[kNR] = {a0[j], a1[j], 0.0f, 0.0f};
            float *y = g.y + (size_t)ent[j] * g.ldy;
            float v0 = out[0] + (wk.b ? fk_k_bf16(wk.b[n0]) : 0.0f);
            float v1 = out[1] + (wk.b && two ? fk_k_bf16(wk.b[n0 + 1]) : 0.0f);
            if (g.swiglu) {
                if (two) y[n0 / 2] = swiglu(v0, v1, g.limit, g.alpha);
            } else {
                y[n0] = v0;
                if (two) y[n0 + 1] = v1;
            }
        }
    }
}

// ---- launching ------------------------------------------------------------------------------

template <int FMT, int RB> cudaError_t launch_nk(const fk_cu_gemv *g, dim3 grid, cudaStream_t s)
{
    if (g->vec)
        gemv_kernel<FMT, RB, true><<<grid, kWarps * 32, 0, s>>>(*g);
    else
        gemv_kernel<FMT, RB, false><<<grid, kWarps * 32, 0, s>>>(*g);
    return cudaGetLastError();
}

template <int RB> cudaError_t launch_rb(const fk_cu_gemv *g, int grid_rows, cudaStream_t s)
{
    if (g->fmt == FK_W_BF16_T) {
        unsigned pairs = (unsigned)((g->n + 1) / 2);
        gemv_t_kernel<RB><<<dim3((pairs + 255) / 256, grid_rows), 256, 0, s>>>(*g);
        return cudaGetLastError();
    }
    unsigned groups = (unsigned)((g->n + kNR - 1) / kNR), per_block = kWarps / g->split;
    dim3 grid((groups + per_block - 1) / per_block, grid_rows);
    if (g->fmt == FK_W_MXFP4) return launch_nk<FK_W_MXFP4, RB>(g, grid, s);
    return launch_nk<FK_W_BF16, RB>(g, grid, s);
}

// ---- the fused experts ----------------------------------------------------------------------

// One block: route every row (kern.h's top-k, the picks then ordered by
// expert id: pick[r*k + j], pick_w likewise), then the expert lists of the
// P = R*k picks: groups = [count, expert of each group (G), start of each
// group (G + 1), the picks of group 0, of group 1, ...]; experts in
// increasing id, picks in increasing order within a group; in_row[p] = p / k.
__global__ void moe_route_kernel(const float *logits, int R, int E, int k, int G, int32_t *pick,
                                 float *pick_w, int32_t *groups, int32_t *in_row)
{
    extern __shared__ int32_t smem[];
    int32_t *count = smem, *start = smem + E;
    const int P = R * k;
    for (int r = threadIdx.x; r < R; r += blockDim.x) {
        fk_k_topk_row(logits + (size_t)r * E, E, k, pick + (size_t)r * k, pick_w + (size_t)r * k);
        fk_k_sort_picks(pick + (size_t)r * k, pick_w + (size_t)r * k, k);
    }
    __syncthreads(); // the block's global writes are visible to it after this
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        int c = 0;
        for (int p = 0; p < P; p++) c += pick[p] == e;
        count[e] = c;
    }
    for (int p = threadIdx.x; p < P; p += blockDim.x) in_row[p] = p / k;
    __syncthreads();
    if (threadIdx.x == 0) {
        int a = 0, off = 0;
        for (int e = 0; e < E; e++) {
            start[e] = off;
            if (count[e] == 0) continue;
            groups[1 + a] = e;
            groups[1 + G + a] = off;
            off += count[e];
            a++;
        }
        groups[0] = a;
        groups[1 + G + a] = off;
    }
    __syncthreads();
    int32_t *list = groups + 2 + 2 * G;
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        if (count[e] == 0) continue;
        int at = start[e];
        for (int p = 0; p < P; p++)
            if (pick[p] == e) list[at++] = p;
    }
}

// x[r] += sum over j (increasing expert id) of w[r*k+j] * out[r*k+j].
__global__ void moe_combine_kernel(float *x, const float *out, const float *w, int R, int k, int H)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)R * H) return;
    size_t r = i / H, c = i % H;
    float acc = x[i];
    for (int j = 0; j < k; j++) {
        size_t p = r * k + j;
        acc = fmaf(w[p], out[p * H + c], acc);
    }
    x[i] = acc;
}

// RB for rows spread over groups: the rows a group gets on average.
int rb_for(int rows)
{
    return rows >= 8 ? 8 : rows >= 4 ? 4 : rows >= 2 ? 2 : 1;
}

} // namespace

extern "C" cudaError_t fk_cu_gemv_launch(const fk_cu_gemv *g, int grid_rows, cudaStream_t s)
{
    switch (rb_for(g->rows)) {
    case 8:
        return launch_rb<8>(g, grid_rows, s);
    case 4:
        return launch_rb<4>(g, grid_rows, s);
    case 2:
        return launch_rb<2>(g, grid_rows, s);
    default:
        return launch_rb<1>(g, grid_rows, s);
    }
}

extern "C" cudaError_t fk_cu_moe(const fk_cu_rec *rec, cudaStream_t s)
{
    const auto &m = rec->a.moe;
    const fk_experts &w = m.w;
    const int R = m.rows, k = m.k, E = w.n_experts, H = w.hidden, I = w.inter;
    const int P = R * k, G = P < E ? P : E;
    const bool mx = w.fmt == FK_W_MXFP4;
    moe_route_kernel<<<1, 256, 2 * E * sizeof(int32_t), s>>>(m.logits, R, E, k, G, m.pick, m.pick_w,
                                                             m.groups, m.in_row);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;

    fk_cu_gemv g = {};
    g.fmt = w.fmt;
    g.groups = m.groups;
    g.max_groups = G;
    g.rows = (P + G - 1) / G; // rows a group has on average: picks RB only
    g.limit = w.limit;
    g.alpha = w.alpha;
    // gate_up: h rows -> SwiGLU of each (gate, up) pair, [P, I]
    g.y = m.act;
    g.x = m.h;
    g.in_row = m.in_row;
    g.w = w.gate_up;
    g.scales = w.gate_up_scales;
    g.bias = w.gate_up_bias;
    g.n = 2 * I;
    g.k = H;
    g.ldx = H;
    g.ldy = I;
    g.split = m.split_gu;
    g.swiglu = 1;
    g.w_stride = mx ? (size_t)2 * I * H / 2 : (size_t)2 * I * H * 2;
    g.s_stride = mx ? (size_t)2 * I * (H / 32) : 0;
    g.b_stride = (size_t)2 * I;
    g.vec = mx && ((uintptr_t)w.gate_up % 16 == 0) && ((uintptr_t)m.h % 16 == 0) && H % 8 == 0;
    if ((e = fk_cu_gemv_launch(&g, G, s)) != cudaSuccess) return e;
    // down: [P, I] -> [P, H]
    g.y = m.out;
    g.x = m.act;
    g.in_row = nullptr;
    g.w = w.down;
    g.scales = w.down_scales;
    g.bias = w.down_bias;
    g.n = H;
    g.k = I;
    g.ldx = I;
    g.ldy = H;
    g.split = m.split_dn;
    g.swiglu = 0;
    g.w_stride = mx ? (size_t)H * I / 2 : (size_t)H * I * 2;
    g.s_stride = mx ? (size_t)H * (I / 32) : 0;
    g.b_stride = (size_t)H;
    g.vec = mx && ((uintptr_t)w.down % 16 == 0) && ((uintptr_t)m.act % 16 == 0) && I % 8 == 0;
    if ((e = fk_cu_gemv_launch(&g, G, s)) != cudaSuccess) return e;

    size_t n = (size_t)R * H;
    moe_combine_kernel<<<(unsigned)((n + 255) / 256), 256, 0, s>>>(m.x, m.out, m.pick_w, R, k, H);
    return cudaGetLastError();
}
