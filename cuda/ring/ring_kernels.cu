// ring_kernels.cu — ring attention's kernels (cuda/ring/ring_cuda.h): the simple FlashAttention-2 forward on windows,
// one warp per query row, and the log-sum-exp merge. Plain CUDA C++, fp32 arithmetic and outputs, fp16/bf16 inputs.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>

extern "C" {
#include "ring_cuda.h"
}

namespace {

constexpr int WARPS = RING_CUDA_WARPS, BC = RING_CUDA_BC, MAXJ = RING_CUDA_MAX_D / 32;
static_assert(BC == 32, "one key per lane");
static_assert(RING_CUDA_MAX_D % 32 == 0, "d/32 accumulators per lane");

__device__ __forceinline__ float tof(__half x) { return __half2float(x); }
__device__ __forceinline__ float tof(__nv_bfloat16 x) { return __bfloat162float(x); }
template <class T> __device__ __forceinline__ T fromf(float x);
template <> __device__ __forceinline__ __half fromf<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 fromf<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

__device__ __forceinline__ float warp_max(float x)
{
    for (int o = 16; o; o >>= 1)
        x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}
__device__ __forceinline__ float warp_sum(float x)
{
    for (int o = 16; o; o >>= 1)
        x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}

// Element x of row `row` of head (b, h) in a (B, rows, H, d) tensor.
__device__ __forceinline__ size_t at(size_t b, size_t row, size_t h, size_t x, size_t rows, size_t H, size_t d)
{
    return ((b * rows + row) * H + h) * d + x;
}

// FA2 Alg.1 for the query rows of this block (one per warp) against every key tile of the window. Shared memory:
// Kj (BC x (d+1): the +1 keeps lane c's row in its own bank), Vj (BC x d), each warp's scaled query row and P~ row.
template <class T>
__global__ void __launch_bounds__(WARPS * 32) attn_kernel(ring_cuda_attn_args a)
{
    extern __shared__ float sm[];
    const int d = (int)a.d, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    float *Kj = sm, *Vj = Kj + BC * (d + 1), *qs = Vj + BC * d + warp * d, *ps = Vj + BC * d + WARPS * d + warp * 32;
    const size_t b = blockIdx.y / a.H, h = blockIdx.y % a.H, i = (size_t)blockIdx.x * WARPS + warp;
    const bool active = i < a.nq;
    const T *Q = (const T *)a.q, *K = (const T *)a.k, *V = (const T *)a.v;

    // Alg.1 line 4: load Qi (this warp's row, scaled); line 5: O = 0, l = 0, m = -inf (registers).
    if (active)
        for (int x = lane; x < d; x += 32)
            qs[x] = tof(Q[at(b, a.q0 + i, h, x, a.rows, a.H, a.d)]) * a.scale;
    float o[MAXJ] = {}, m = -INFINITY, l = 0;

    // Causal: no key after the block's last query is needed (the tiles FA2 skips).
    size_t last = min(a.nq, (size_t)(blockIdx.x + 1) * WARPS) - 1, kend = a.causal ? min(a.nk, last + 1) : a.nk;
    for (size_t k0 = 0; k0 < kend; k0 += BC) {                        // line 6
        __syncthreads();                                              // the last tile is consumed
        for (int t = threadIdx.x; t < BC * d; t += blockDim.x) {      // line 7: load Kj, Vj
            int c = t / d, x = t % d;
            size_t key = k0 + c;
            bool in = key < a.nk;
            Kj[c * (d + 1) + x] = in ? tof(K[at(b, a.k0 + key, h, x, a.kv_rows, a.H, a.d)]) : 0.0f;
            Vj[c * d + x] = in ? tof(V[at(b, a.k0 + key, h, x, a.kv_rows, a.H, a.d)]) : 0.0f;
        }
        __syncthreads();
        if (!active)
            continue;
        // line 8: S_ij, lane c scores key k0 + c (masked: -inf)
        size_t key = k0 + lane;
        float s = -INFINITY;
        if (key < a.nk && !(a.causal && key > i)) {
            s = 0;
            for (int x = 0; x < d; x++)
                s += qs[x] * Kj[lane * (d + 1) + x];
        }
        // line 9: m_new = max(m, rowmax S), P~ = exp(S - m_new), l = e^(m - m_new) l + rowsum P~
        float m_new = fmaxf(m, warp_max(s));
        if (m_new == -INFINITY)                                       // nothing unmasked yet: nothing changes
            continue;
        float p = s == -INFINITY ? 0.0f : expf(s - m_new), alpha = m == -INFINITY ? 0.0f : expf(m - m_new);
        l = alpha * l + warp_sum(p);
        // line 10: O = diag(e^(m - m_new)) O + P~ Vj (P~ shared through the warp's row of ps)
        ps[lane] = p;
        __syncwarp();
        for (int j = 0; j < MAXJ; j++) {
            int x = lane + 32 * j;
            if (x >= d)
                break;
            float acc = alpha * o[j];
            for (int c = 0; c < BC; c++)
                acc += ps[c] * Vj[c * d + x];
            o[j] = acc;
        }
        __syncwarp();
        m = m_new;
    }
    if (!active)
        return;
    // lines 12-15: O = O / l, L = m + log l, written once. A row that saw no key: O = 0, L = -inf.
    for (int j = 0; j < MAXJ; j++) {
        int x = lane + 32 * j;
        if (x < d)
            a.o[at(b, a.q0 + i, h, x, a.rows, a.H, a.d)] = l > 0 ? o[j] / l : 0.0f;
    }
    if (lane == 0)
        a.l[(b * a.H + h) * a.rows + a.q0 + i] = l > 0 ? m + logf(l) : -INFINITY;
}

// One warp per (row, head): the row's two statistics, then its d outputs, one lane per column (coalesced). Both
// -inf (no key yet): nothing to do; one -inf: its weight is e^-inf = 0.
__global__ void merge_kernel(ring_cuda_merge_args a)
{
    size_t t = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x % 32;
    if (t >= a.nq * a.B * a.H)
        return;
    size_t i = a.q0 + t % a.nq, bh = t / a.nq, b = bh / a.H, h = bh % a.H;
    float *L = a.l + bh * a.rows + i;
    float la = *L, lb = a.ls[bh * a.rows + i], mx = fmaxf(la, lb);
    if (mx == -INFINITY)
        return;
    float ea = expf(la - mx), eb = expf(lb - mx), sum = ea + eb;
    float *O = a.o + at(b, i, h, 0, a.rows, a.H, a.d);
    const float *Os = a.os + at(b, i, h, 0, a.rows, a.H, a.d);
    for (size_t x = lane; x < a.d; x += 32)
        O[x] = (ea * O[x] + eb * Os[x]) / sum;
    __syncwarp();   // every lane has read *L
    if (lane == 0)
        *L = mx + logf(sum);
}

template <class T>
__global__ void from_float_kernel(T *dst, const float *src, size_t n)
{
    for (size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x; t < n; t += (size_t)gridDim.x * blockDim.x)
        dst[t] = fromf<T>(src[t]);
}
template <class T>
__global__ void to_float_kernel(float *dst, const T *src, size_t n)
{
    for (size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x; t < n; t += (size_t)gridDim.x * blockDim.x)
        dst[t] = tof(src[t]);
}

template <class T>
int launch_attn(const ring_cuda_attn_args *a, cudaStream_t s)
{
    size_t smem = (size_t)(BC * (a->d + 1) + BC * a->d + WARPS * a->d + WARPS * 32) * sizeof(float);
    dim3 grid((unsigned)((a->nq + WARPS - 1) / WARPS), (unsigned)(a->B * a->H));
    attn_kernel<T><<<grid, WARPS * 32, smem, s>>>(*a);
    return (int)cudaGetLastError();
}


}  // namespace

extern "C" int ring_cuda_attn(const ring_cuda_attn_args *a, void *stream)
{
    if (!a->nq)
        return 0;
    if (!a->d || a->d > RING_CUDA_MAX_D || !a->nk || !a->B || !a->H || a->B * a->H > 65535 ||
        a->q0 + a->nq > a->rows || (a->causal && a->nq != a->nk))
        return (int)cudaErrorInvalidValue;
    cudaStream_t s = (cudaStream_t)stream;
    return a->dt == RING_CUDA_BF16 ? launch_attn<__nv_bfloat16>(a, s) : launch_attn<__half>(a, s);
}

extern "C" int ring_cuda_merge(const ring_cuda_merge_args *a, void *stream)
{
    if (!a->nq)
        return 0;
    if (a->q0 + a->nq > a->rows || !a->d || a->d > RING_CUDA_MAX_D)
        return (int)cudaErrorInvalidValue;
    size_t n = a->nq * a->B * a->H * 32;   // one warp per row and head
    merge_kernel<<<(unsigned)((n + 255) / 256), 256, 0, (cudaStream_t)stream>>>(*a);
    return (int)cudaGetLastError();
}

/* n elements through a conversion kernel on the stream: a grid-stride loop, at most 4096 blocks of 256 threads. */
template <class D, class S>
static int launch_convert(void (*kernel)(D *, const S *, size_t), D *dst, const S *src, size_t n, void *stream)
{
    if (!n)
        return 0;
    unsigned blocks = (unsigned)min((n + 255) / 256, (size_t)4096);
    kernel<<<blocks, 256, 0, (cudaStream_t)stream>>>(dst, src, n);
    return (int)cudaGetLastError();
}

extern "C" int ring_cuda_from_float(void *dst, const float *src, size_t n, ring_cuda_dtype dt, void *stream)
{
    return dt == RING_CUDA_BF16 ? launch_convert(from_float_kernel<__nv_bfloat16>, (__nv_bfloat16 *)dst, src, n, stream)
                                : launch_convert(from_float_kernel<__half>, (__half *)dst, src, n, stream);
}

extern "C" int ring_cuda_to_float(float *dst, const void *src, size_t n, ring_cuda_dtype dt, void *stream)
{
    return dt == RING_CUDA_BF16
               ? launch_convert(to_float_kernel<__nv_bfloat16>, dst, (const __nv_bfloat16 *)src, n, stream)
               : launch_convert(to_float_kernel<__half>, dst, (const __half *)src, n, stream);
}
