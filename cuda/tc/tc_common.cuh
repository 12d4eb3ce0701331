/* tc_common.cuh — the hardware pieces every tensor-core kernel (cuda/tc/attn_v04_*.cu and later) is built from
 * (FlashAttention-2's own pieces, on top of these, are in tc_fa2.cuh), and the launch every version shares.
 *
 *   mma_16816(c, a, b)            c[16x8] += a[16x16] * b[16x8] on the tensor cores (fp16 or bf16 in, fp32 acc)
 *   ldsm_x4(r, addr)              four 8x8 tiles of 16-bit values from shared memory into MMA fragments
 *   ldsm_x4_t(r, addr)            the same, transposed (V: the key dimension becomes the fragment's k)
 *   cp_async_16(dst, src, ok)     16 bytes global -> shared without registers; ok = false writes 16 zero bytes
 *   swz<D>(row, chunk)            where 16-byte chunk `chunk` of tile row `row` lives (XOR swizzle)
 *   fast_exp2(x)                  2^x on the special-function unit (ex2.approx, -inf -> +0)
 *
 * Fragment layouts of mma.sync.m16n8k16 (PTX ISA, "Matrix fragments for mma.m16n8k16"), g = lane / 4, t = lane % 4:
 *   A 16x16 row-major, 4 regs of 2 values: a0 (row g, cols 2t..2t+1), a1 (row g+8, same cols),
 *                                          a2 (row g, cols 2t+8..2t+9), a3 (row g+8, cols 2t+8..)
 *   B 16x8,  2 regs:  b0 (k rows 2t..2t+1, col g), b1 (k rows 2t+8..2t+9, col g)
 *   C 16x8 fp32, 4 regs: c0 c1 (row g, cols 2t, 2t+1), c2 c3 (row g+8, cols 2t, 2t+1)
 * ldmatrix: lane 8*m + r gives the shared address of row r of 8x8 tile m; lane l receives row l/4, values
 * 2(l%4) and 2(l%4)+1 of each tile (with .trans: column l/4, rows 2(l%4) and 2(l%4)+1).
 * The C fragments of two neighbouring n-tiles are exactly an A fragment: that is how P goes from the S
 * accumulators to the PV product without touching shared memory (FA2's register trick).
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

/* ---- element types -------------------------------------------------------------------------------------------- */
template <typename T> struct tc_elem;
template <> struct tc_elem<__half> {
    static __device__ __forceinline__ uint32_t pack(float lo, float hi)   /* lo in the low 16 bits */
    {
        __half2 h = __floats2half2_rn(lo, hi);
        return *reinterpret_cast<uint32_t *>(&h);
    }
};
template <> struct tc_elem<__nv_bfloat16> {
    static __device__ __forceinline__ uint32_t pack(float lo, float hi)
    {
        __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
        return *reinterpret_cast<uint32_t *>(&h);
    }
};

/* c += a * b, one m16n8k16 tensor-core instruction (fp32 accumulators). */
template <typename T>
__device__ __forceinline__ void mma_16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma_16816<__half>(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma_16816<__nv_bfloat16>(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* ---- shared memory -------------------------------------------------------------------------------------------- */
__device__ __forceinline__ uint32_t smem_u32(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void ldsm_x4(uint32_t r[4], uint32_t addr)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t r[4], uint32_t addr)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

/* 16 bytes from global to shared, asynchronously (bypassing L1). ok = false: src-size 0, so the hardware writes
 * 16 zero bytes and reads nothing — how rows past N become zeros without a branch around the copy. */
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void *src, bool ok)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(ok ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
/* Wait until at most n of this thread's committed groups are still in flight. */
template <int n> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(n)); }

/* Tile rows are D 16-bit values = D/8 chunks of 16 bytes. Chunk c of row r is stored at chunk c ^ (r % 8): the 8
 * rows one ldmatrix tile reads (same logical chunk) land in 8 different 16-byte bank groups, so every ldmatrix
 * and every 16-byte cp.async store is conflict-free. Returns the element offset. */
template <int D> __device__ __forceinline__ int swz(int r, int c) { return r * D + ((c ^ (r & 7)) << 3); }
/* Unswizzled row-major offset, for the first version (rows 128 or 256 bytes apart all start in bank 0). */
template <int D> __device__ __forceinline__ int plain(int r, int c) { return r * D + (c << 3); }

/* ---- arithmetic ----------------------------------------------------------------------------------------------- */
__device__ __forceinline__ float fast_exp2(float x)
{
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

/* Max and sum across the 4 lanes (t = 0..3) that share one row of a C fragment. */
__device__ __forceinline__ float quad_max(float x)
{
    x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
    return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float quad_sum(float x)
{
    x += __shfl_xor_sync(0xffffffffu, x, 1);
    return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

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

/* Named barriers (ids 1..15; 0 is __syncthreads): bar.sync waits until n threads have arrived (counting itself),
 * bar.arrive counts itself and goes on. n is a multiple of 32. */
__device__ __forceinline__ void bar_sync(int id, int n) { asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(n) : "memory"); }
__device__ __forceinline__ void bar_arrive(int id, int n) { asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(n) : "memory"); }

/* c = a * b, no accumulator to read: the first k-step of a product needs no zeroed registers (C is a zero). */
template <typename T>
__device__ __forceinline__ void mma_16816_z(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma_16816_z<__half>(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%10,%10,%10,%10};\n"
                 : "=f"(c[0]), "=f"(c[1]), "=f"(c[2]), "=f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1), "f"(0.f));
}
template <>
__device__ __forceinline__ void mma_16816_z<__nv_bfloat16>(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%10,%10,%10,%10};\n"
                 : "=f"(c[0]), "=f"(c[1]), "=f"(c[2]), "=f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1), "f"(0.f));
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
