/* tc_common.cuh — what every mma.sync kernel (cuda/tc/attn_v04_*.cu and later) shares: the kernels' arguments, tile
 * loads, fragment addresses, named barriers, the launch and the exported entry points (FlashAttention-2's own pieces,
 * on top of these, are in tc_fa2.cuh).
 *
 * The hardware pieces themselves (mma_16816, ldmatrix, cp.async, the swizzle, fast_exp2, quad_max and quad_sum) are
 * in cuda/common/warp_ops.cuh, shared with the Hopper and decode kernels; their fragment layouts are described there.
 */
#ifndef FLASHLAB_TC_COMMON_CUH
#define FLASHLAB_TC_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "attn_tc.h"
#include "cuda_check.h"   // defines: CUDA_TRY
#include "dtype.h"        // defines: DTYPE_FP16, DTYPE_BF16 (values only: the shared library links nothing of sim/)
#include "fl_count.cuh"   // defines: FL_COUNT, FL_NAME, FL_ADD, fl_count_flush
#include "warp_ops.cuh"   // defines: pack2, mma_16816(_z), ldsm_x4(_t), cp_async_*, swz, bar_sync, fast_exp2, ...

/* Unswizzled row-major offset, for the first version (rows 128 or 256 bytes apart all start in bank 0). */
template <int D> __device__ __forceinline__ int plain(int r, int c) { return r * D + (c << 3); }

/* log2(e): 2^(x log2 e) = e^x, so softmax's exp becomes one FFMA and one ex2 with the scale folded in. */
#define TC_LOG2E 1.4426950408889634f

/* ---- the kernels' arguments ------------------------------------------------------------------------------------ */
struct tc_kparams {
    const void *q, *k, *v;
    void *o;
    float *lse;
    int N, H, Tr;                 /* Tr = ceil(N / Br) query blocks per head */
    float scale, scale_log2;      /* softmax scale, and scale * log2(e) for exp2 */
    unsigned long long *count;    /* TC_NCOUNT counters (counting build) */
};

/* Launchers are named attn_vNN_forward, and attn_vNN_forward_count in the counting build. */
#define TC_LAUNCHER(name) FL_NAME(name##_forward)

/* Copy rows r0 .. r0+ROWS-1 of one head (row stride ld elements) into a ROWS x D shared tile with 16-byte
 * cp.async; rows at or past N become zeros. Returns the elements this thread read from global memory. */
template <int ROWS, int D, int NT, bool SWZ, typename T>
__device__ __forceinline__ int tc_load_tile(T *tile, const T *src, int r0, int N, size_t ld)
{
    constexpr int CPR = D / 8, CHUNKS = ROWS * CPR;
    static_assert(CHUNKS % NT == 0, "every thread copies the same number of chunks");
    int loaded = 0;
#pragma unroll
    for (int it = 0; it < CHUNKS / NT; it++) {
        int x = it * NT + (int)threadIdx.x, r = x / CPR, c = x % CPR;
        bool ok = r0 + r < N;
        const T *g = src + (size_t)(ok ? r0 + r : 0) * ld + c * 8;
        cp_async_16(smem_u32(tile + (SWZ ? swz<D>(r, c) : plain<D>(r, c))), g, ok);
        loaded += ok ? 8 : 0;
    }
    return loaded;
}

/* The same copy with its addresses computed once per thread: with NT/CPR a multiple of 8, a thread's chunks are
 * rows row0 + it*(NT/CPR) of one column c, all with the same swizzle (row % 8 does not change), so each iteration
 * is the first one's shared and global addresses plus constants: no per-chunk index arithmetic, no registers held
 * per chunk. tile_b: byte address of the tile in shared memory; src: the head's row 0. */
template <int ROWS, int D, int NT, typename T>
__device__ __forceinline__ int tc_load_tile_fast(uint32_t tile_b, const T *src, int r0, int N, size_t ld,
                                                 int tid = (int)threadIdx.x)   /* tid: index among the NT copiers */
{
    constexpr int CPR = D / 8, STEP = NT / CPR;
    static_assert(NT % CPR == 0 && STEP % 8 == 0 && ROWS % STEP == 0, "every iteration keeps the same swizzle");
    const int row = tid / CPR, c = tid % CPR;
    const uint32_t dst = tile_b + (uint32_t)(row * D + ((c ^ (row & 7)) << 3)) * 2;
    const T *g = src + (size_t)(r0 + row) * ld + c * 8;
    int loaded = 0;
#pragma unroll
    for (int it = 0; it < ROWS / STEP; it++) {
        bool ok = r0 + row + it * STEP < N;
        cp_async_16(dst + it * STEP * D * 2, ok ? g + (size_t)it * STEP * ld : src, ok);
        loaded += ok ? 8 : 0;
    }
    return loaded;
}

/* ldmatrix addresses without per-load arithmetic. In a swizzled tile (rows of RB = 2D bytes, tile aligned to RB)
 * the lane's chunk for k-step kk is (2kk + b) ^ s = 2kk ^ (b ^ s), b one bit, s = row % 8 = a lane constant: in
 * bytes, (kk << 5) ^ ((b ^ s) << 4). The row part has zero bits where the chunk lives, so the address of k-step kk
 * is the lane's k-step-0 address XOR (kk << 5), and 16 rows further is + 16 RB: one LOP3 per kk, immediates for
 * the rest.
 *   frag_base_a:  A operand (Qi rows r0 + (lane & 15)), chunk bit b = lane >> 4
 *   frag_base_b:  B operand of S (Kj rows (lane & 7) + 8 (lane >> 4)), chunk bit b = (lane >> 3) & 1
 *   frag_base_bt: B operand of P V via .trans (Vj rows (lane & 7) + 8 ((lane >> 3) & 1)), chunk bit b = lane >> 4 */
template <int D> __device__ __forceinline__ uint32_t frag_base_a(uint32_t tile_b, int r0, int lane)
{
    return tile_b + (uint32_t)((r0 + (lane & 15)) * D * 2 + ((((lane >> 4) ^ lane) & 7) << 4));
}
template <int D> __device__ __forceinline__ uint32_t frag_base_b(uint32_t tile_b, int lane)
{
    return tile_b + (uint32_t)(((lane & 7) + ((lane >> 4) << 3)) * D * 2 + (((((lane >> 3) & 1) ^ lane) & 7) << 4));
}
template <int D> __device__ __forceinline__ uint32_t frag_base_bt(uint32_t tile_b, int lane)
{
    return tile_b + (uint32_t)(((lane & 7) + (((lane >> 3) & 1) << 3)) * D * 2 + ((((lane >> 4) ^ lane) & 7) << 4));
}


/* ---- host: the checks and the launch every version shares ------------------------------------------------- */

/* Checks every version needs; 0, or FL_EXIT_USAGE with one line in err. */
static inline int tc_check_args(const char *ver, const tc_args *a, char *err, size_t errlen)
{
    if (!a->q || !a->k || !a->v || !a->o || !a->lse) {
        snprintf(err, errlen, "%s: q, k, v, o and lse must all be device pointers", ver);
        return FL_EXIT_USAGE;
    }
    if (!a->B || !a->N || !a->H || a->N > INT_MAX || a->H > INT_MAX || a->B * a->H > INT_MAX) {
        snprintf(err, errlen, "%s: shape B=%zu N=%zu H=%zu is outside 1..%d", ver, a->B, a->N, a->H, INT_MAX);
        return FL_EXIT_USAGE;
    }
    if (a->dtype != DTYPE_FP16 && a->dtype != DTYPE_BF16) {
        snprintf(err, errlen, "%s: dtype %d not supported (fp16 = %d or bf16 = %d)", ver, a->dtype, DTYPE_FP16,
                 DTYPE_BF16);
        return FL_EXIT_USAGE;
    }
    if (!(a->scale >= 0) || isinf(a->scale)) {
        snprintf(err, errlen, "%s: softmax scale %g must be finite and >= 0 (0 means 1/sqrt(d))", ver, a->scale);
        return FL_EXIT_USAGE;
    }
#ifdef FL_COUNT
    if (!a->count) {
        snprintf(err, errlen, "%s: the counting launcher needs a->count (TC_NCOUNT device counters)", ver);
        return FL_EXIT_USAGE;
    }
#endif
    return 0;
}

/* One thread block per (query block, batch, head): Tr * B * H blocks, query block fastest, so blocks of one head
 * run together and share its K, V in L2. smem is enforced against what the device grants one block. */
static inline int tc_launch(const char *ver, void (*kernel)(tc_kparams), int threads, size_t smem, int Br,
                            const tc_args *a, void *stream, char *err, size_t errlen)
{
    int dev, optin;
    CUDA_TRY(cudaGetDevice(&dev));
    CUDA_TRY(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    if (smem > (size_t)optin) {
        snprintf(err, errlen, "%s: needs %zu bytes of shared memory per block, the device grants %d", ver, smem,
                 optin);
        return FL_EXIT_USAGE;
    }
    long long Tr = ((long long)a->N + Br - 1) / Br, blocks = Tr * (long long)(a->B * a->H);
    if (blocks > INT_MAX) {
        snprintf(err, errlen, "%s: %lld thread blocks exceed the grid limit", ver, blocks);
        return FL_EXIT_USAGE;
    }
    CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    tc_kparams kp;
    kp.q = a->q, kp.k = a->k, kp.v = a->v, kp.o = a->o, kp.lse = a->lse;
    kp.N = (int)a->N, kp.H = (int)a->H, kp.Tr = (int)Tr;
    kp.scale = a->scale > 0 ? a->scale : (float)(1.0 / sqrt((double)a->d));
    kp.scale_log2 = kp.scale * TC_LOG2E;
    kp.count = a->count;
    kernel<<<(unsigned)blocks, threads, smem, (cudaStream_t)stream>>>(kp);
    CUDA_TRY(cudaGetLastError());
    return 0;
}

/* ---- a version's entry points ---------------------------------------------------------------------------------
 * A version describes each of its configurations with a shape (threads, blocks, shared memory, and its kernel for
 * one d, element type and causality) and exports it with TC_EXPORT, which writes the C functions attn_tc.def names:
 *
 *   template <int NW, int BC64, int BC128> struct v08_shape : tc_shape_base<NW, 1, BC64, BC128, 2> {
 *       template <int D, typename T, bool CAUSAL> static tc_kernel_fn kernel()
 *       { return attn_v08_kernel<D, T, CAUSAL, NW, tc_pick<D>(BC64, BC128)>; }
 *   };
 *   TC_EXPORT(attn_v08_w4, "v08_w4", (v08_shape<4, 128, 64>))
 */
typedef void (*tc_kernel_fn)(tc_kparams);

/* v64 for d = 64, v128 for d = 128. */
template <int D> constexpr int tc_pick(int v64, int v128) { return D == 64 ? v64 : v128; }

/* NW warps of MT m-tiles (16 query rows each) per block; BC keys per block; NBUF buffers each of Kj and Vj.
 * Qi, then the K buffers, then the V buffers in shared memory. */
template <int NW, int MT, int BC64, int BC128, int NBUF> struct tc_shape_base {
    static constexpr int threads = NW * 32, br = NW * MT * 16, grid_rows = br, bc64 = BC64, bc128 = BC128;
    template <int D, typename T> static size_t smem()
    {
        return (size_t)(br + 2 * NBUF * tc_pick<D>(BC64, BC128)) * D * sizeof(T);
    }
};

template <class Shape, int D, typename T>
int tc_launch_shape(const char *name, const tc_args *a, void *stream, char *err, size_t errlen)
{
    tc_kernel_fn k = a->causal ? Shape::template kernel<D, T, true>() : Shape::template kernel<D, T, false>();
    return tc_launch(name, k, Shape::threads, Shape::template smem<D, T>(), Shape::grid_rows, a, stream, err, errlen);
}

template <class Shape> int tc_forward_shape(const char *name, const tc_args *a, void *stream, char *err, size_t errlen)
{
    int rc = tc_check_args(name, a, err, errlen);
    if (rc)
        return rc;
    bool bf = a->dtype == DTYPE_BF16;
    switch (a->d) {
    case 64: return bf ? tc_launch_shape<Shape, 64, __nv_bfloat16>(name, a, stream, err, errlen)
                       : tc_launch_shape<Shape, 64, __half>(name, a, stream, err, errlen);
    case 128: return bf ? tc_launch_shape<Shape, 128, __nv_bfloat16>(name, a, stream, err, errlen)
                        : tc_launch_shape<Shape, 128, __half>(name, a, stream, err, errlen);
    default:
        snprintf(err, errlen, "%s: head dimension d = %zu not supported (64 or 128)", name, a->d);
        return FL_EXIT_USAGE;
    }
}

/* The blocks the simulator's ledger uses: Br = the shape's query rows per block (per warpgroup for v12). */
template <class Shape> void tc_blocks_shape(int d, int *br, int *bc)
{
    bool ok = d == 64 || d == 128;
    *br = ok ? Shape::br : 0, *bc = ok ? (d == 64 ? Shape::bc64 : Shape::bc128) : 0;
}

/* fn: the launcher prefix of attn_tc.def; name: the version's name in messages; Shape in parentheses (commas). */
#define TC_SHAPE_(...) __VA_ARGS__
#define TC_EXPORT(fn, name, Shape)                                                                            \
    extern "C" int TC_LAUNCHER(fn)(const tc_args *a, void *s, char *e, size_t n)                              \
    {                                                                                                         \
        return tc_forward_shape<TC_SHAPE_ Shape>(name, a, s, e, n);                                           \
    }                                                                                                         \
    TC_EXPORT_BLOCKS(fn, Shape)
#ifdef FL_COUNT
#define TC_EXPORT_BLOCKS(fn, Shape)   /* once per version: in the plain build */
#else
#define TC_EXPORT_BLOCKS(fn, Shape)                                                                           \
    extern "C" void fn##_blocks(int d, int, size_t, int *br, int *bc) { tc_blocks_shape<TC_SHAPE_ Shape>(d, br, bc); }
#endif

#endif
