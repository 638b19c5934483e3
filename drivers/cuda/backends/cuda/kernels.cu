// kernels.cu: the small kernels of the CUDA backend (embedding, RMSNorm,
// RoPE, SwiGLU, gather, scatter-add, add, router top-k, argmax) and
// fk_cu_launch, which turns one record (ops.h) into its launches. The
// matmul and the fused experts are in gemv.cu, attention in attention.cu.
//
// Every kernel follows its op's contract in backend.h and the reference
// loops of backends/ref/: float32 arithmetic, one thread's sum in a fixed
// order, so a row's result never depends on the other rows of the call.
#include "kern.h"
#include "kernels.h"

#include <cuda_runtime.h>

namespace
{

constexpr int kThreads = 256;

__host__ __device__ inline unsigned blocks_for(size_t n, int per)
{
    return (unsigned)((n + per - 1) / per);
}

// ---- embedding, norms, rotary --------------------------------------------------------

// x[r] = embed[tokens[r]] widened; a token outside [0, V) writes zeros and
// sets the error word (the op's FK_ERR_ARG, reported at the next wait).
__global__ void embed_kernel(float *x, const uint16_t *table, const int32_t *tokens, int R, int H,
                             int V, int *err)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)R * H) return;
    int r = (int)(i / H), c = (int)(i % H);
    int32_t t = tokens[r];
    if (t < 0 || t >= V) {
        x[i] = 0.0f;
        *err = FK_ERR_ARG;
        return;
    }
    x[i] = fk_k_bf16(table[(size_t)t * H + c]);
}

// Sum of v over the block (every thread gets it). scratch: 32 floats.
__device__ inline float block_sum(float v, float *scratch)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    __syncthreads(); // scratch may still be read by a previous call
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float s = 0.0f;
    for (int w = 0; w < warps; w++) s += scratch[w]; // fixed order
    return s;
}

// One block per row: y = x * rsqrt(mean(x^2) + eps) * w.
__global__ void rmsnorm_kernel(float *y, const float *x, const uint16_t *w, int H, float eps)
{
    __shared__ float scratch[32];
    const float *xr = x + (size_t)blockIdx.x * H;
    float *yr = y + (size_t)blockIdx.x * H;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < H; i += blockDim.x) ss = fmaf(xr[i], xr[i], ss);
    ss = block_sum(ss, scratch);
    float inv = 1.0f / sqrtf(ss / (float)H + eps);
    for (int i = threadIdx.x; i < H; i += blockDim.x) yr[i] = xr[i] * inv * fk_k_bf16(w[i]);
}

// NeoX half-split rotation, one thread per (row, head, pair).
__global__ void rope_kernel(float *x, const float *cs, int R, int nh, int hd)
{
    int half = hd / 2;
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)R * nh * half) return;
    int p = (int)(i % half);
    size_t rh = i / half;
    int r = (int)(rh / nh);
    float *x1 = x + rh * hd, *x2 = x1 + half;
    float c = cs[(size_t)r * hd + p], s = cs[(size_t)r * hd + half + p];
    float a = x1[p], b = x2[p];
    x1[p] = a * c - b * s;
    x2[p] = b * c + a * s;
}

// ---- element-wise ------------------------------------------------------------------------

__device__ inline float swiglu(float g, float u, float limit, float alpha)
{
    g = g > limit ? limit : g;
    u = u > limit ? limit : u < -limit ? -limit : u;
    return (u + 1.0f) * g / (1.0f + expf(-alpha * g));
}

__global__ void swiglu_kernel(float *y, const float *gu, size_t n, float limit, float alpha)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) y[i] = swiglu(gu[2 * i], gu[2 * i + 1], limit, alpha);
}

__global__ void gather_kernel(float *y, const float *x, const int32_t *rows, int n, int W)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)n * W) return;
    size_t r = i / W, c = i % W;
    y[i] = x[(size_t)rows[r] * W + c];
}

// Rows are distinct (the contract), so no two threads add to one element.
__global__ void scatter_add_kernel(float *y, const float *x, const int32_t *rows,
                                   const float *scale, int n, int W)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)n * W) return;
    size_t r = i / W, c = i % W;
    float *d = y + (size_t)rows[r] * W + c;
    *d = fmaf(scale[r], x[i], *d);
}

__global__ void add_kernel(float *y, const float *x, size_t n)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) y[i] += x[i];
}

// ---- router and argmax ------------------------------------------------------------------------

// One thread per row: kern.h's top-k (the reference rule), best first.
__global__ void route_kernel(int32_t *idx, float *w, const float *lg, int R, int E, int k)
{
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= R) return;
    fk_k_topk_row(lg + (size_t)r * E, E, k, idx + (size_t)r * k, w + (size_t)r * k);
}

// (value, index) ranking of argmax: a number beats NaN, a larger value beats
// a smaller one, and between equals the lower index wins.
__device__ inline bool beats(float v, int i, float bv, int bi)
{
    bool n = isnan(v), bn = isnan(bv);
    if (n != bn) return bn;
    if (!n && v != bv) return v > bv;
    return i < bi;
}

// One block per row.
__global__ void argmax_kernel(int32_t *idx, const float *logits, int V)
{
    __shared__ float sv[32];
    __shared__ int si[32];
    const float *x = logits + (size_t)blockIdx.x * V;
    float bv = nanf("");
    int bi = 0x7fffffff;
    for (int i = threadIdx.x; i < V; i += blockDim.x)
        if (beats(x[i], i, bv, bi)) {
            bv = x[i];
            bi = i;
        }
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (beats(ov, oi, bv, bi)) {
            bv = ov;
            bi = oi;
        }
    }
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane == 0) {
        sv[warp] = bv;
        si[warp] = bi;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < (int)(blockDim.x >> 5); w++)
            if (beats(sv[w], si[w], bv, bi)) {
                bv = sv[w];
                bi = si[w];
            }
        idx[blockIdx.x] = bi == 0x7fffffff ? 0 : bi;
    }
}

} // namespace

// ---- one record -----------------------------------------------------------------------------

extern "C" cudaError_t fk_cu_launch(const fk_cu_rec *r, cudaStream_t s, const fk_cu_ctx *ctx)
{
    const auto &a = r->a;
    switch (r->op) {
    case FK_CU_COPY:
        return cudaMemcpyAsync(a.copy.dst, a.copy.src, a.copy.bytes, cudaMemcpyDeviceToDevice, s);
    case FK_CU_TO_HOST:
        return cudaMemcpyAsync((char *)ctx->out_host + a.to_host.out_off, a.to_host.src,
                               a.to_host.bytes, cudaMemcpyDeviceToHost, s);
    case FK_CU_EMBED: {
        size_t n = (size_t)a.embed.rows * a.embed.h;
        embed_kernel<<<blocks_for(n, kThreads), kThreads, 0, s>>>(
            a.embed.x, a.embed.table, a.embed.tokens, a.embed.rows, a.embed.h, a.embed.v, ctx->err);
        break;
    }
    case FK_CU_RMSNORM:
        rmsnorm_kernel<<<a.rmsnorm.rows, kThreads * 2, 0, s>>>(
            a.rmsnorm.y, a.rmsnorm.x, a.rmsnorm.w, a.rmsnorm.h, a.rmsnorm.eps);
        break;
    case FK_CU_MATMUL:
        return fk_cu_gemv_launch(&a.matmul, 1, s);
    case FK_CU_ROPE: {
        size_t n = (size_t)a.rope.rows * a.rope.nh * (a.rope.hd / 2);
        rope_kernel<<<blocks_for(n, kThreads), kThreads, 0, s>>>(a.rope.x, a.rope.cs, a.rope.rows,
                                                                 a.rope.nh, a.rope.hd);
        break;
    }
    case FK_CU_KV_STORE:
        return fk_cu_kv_store(r, s);
    case FK_CU_ATTENTION:
        return fk_cu_attention(r, s);
    case FK_CU_ROUTE:
        route_kernel<<<blocks_for(a.route.rows, 64), 64, 0, s>>>(
            a.route.idx, a.route.w, a.route.lg, a.route.rows, a.route.e, a.route.k);
        break;
    case FK_CU_SWIGLU:
        swiglu_kernel<<<blocks_for(a.swiglu.n, kThreads), kThreads, 0, s>>>(
            a.swiglu.y, a.swiglu.gu, a.swiglu.n, a.swiglu.limit, a.swiglu.alpha);
        break;
    case FK_CU_GATHER:
        gather_kernel<<<blocks_for((size_t)a.rows.n * a.rows.w, kThreads), kThreads, 0, s>>>(
            a.rows.y, a.rows.x, a.rows.rows, a.rows.n, a.rows.w);
        break;
    case FK_CU_SCATTER_ADD:
        scatter_add_kernel<<<blocks_for((size_t)a.rows.n * a.rows.w, kThreads), kThreads, 0, s>>>(
            a.rows.y, a.rows.x, a.rows.rows, a.rows.scale, a.rows.n, a.rows.w);
        break;
    case FK_CU_ADD:
        add_kernel<<<blocks_for(a.add.n, kThreads), kThreads, 0, s>>>(a.add.y, a.add.x, a.add.n);
        break;
    case FK_CU_ARGMAX:
        argmax_kernel<<<a.argmax.rows, 1024, 0, s>>>(a.argmax.idx, a.argmax.logits, a.argmax.v);
        break;
    case FK_CU_MOE:
        return fk_cu_moe(r, s);
    default:
        return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}
