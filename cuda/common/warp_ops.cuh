/* warp_ops.cuh — the warp-level pieces every tensor-core kernel of the GPU track is built from: the mma.sync
 * kernels (cuda/tc), the Hopper kernels' softmax (cuda/hopper) and the decode kernel (cuda/decode). One definition
 * each, so that a fix or a measurement of one holds for all three.
 *
 *   pack2<T>(lo, hi)              two fp32 values rounded to T (fp16 or bf16) in one register, lo in the low half
 *   mma_16816<T>(c, a, b0, b1)    c[16x8] += a[16x16] * b[16x8] on the tensor cores (T in, fp32 accumulators)
 *   mma_16816_z<T>(c, a, b0, b1)  c = a * b (the first k-step: no zeroed accumulators to read)
 *   smem_u32(p)                   a shared-memory pointer as the 32-bit address PTX takes
 *   ldsm_x4(r, addr)              four 8x8 tiles of 16-bit values from shared memory into MMA fragments
 *   ldsm_x4_t(r, addr)            the same, transposed (V: the key dimension becomes the fragment's k)
 *   cp_async_16(dst, src, ok)     16 bytes global -> shared without registers; ok = false writes 16 zero bytes
 *   cp_async_commit(), cp_async_wait<n>()   close a group of copies; wait until at most n groups are in flight
 *   swz<D>(row, chunk)            where 16-byte chunk `chunk` of tile row `row` lives (XOR swizzle)
 *   bar_sync(id, n), bar_arrive(id, n)   named barriers: wait for n threads / arrive and go on
 *   fast_exp2(x)                  2^x on the special-function unit (ex2.approx, -inf -> +0)
 *   quad_max(x), quad_sum(x)      max and sum over the 4 lanes that share one row of an MMA fragment
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
#ifndef FLASHLAB_WARP_OPS_CUH
#define FLASHLAB_WARP_OPS_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

/* ---- element types -------------------------------------------------------------------------------------------- */
template <typename T> __device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <> __device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi)
{
    __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&h);
}
template <> __device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi)
{
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&h);
}

/* ---- the tensor-core product ---------------------------------------------------------------------------------- */
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

/* ---- synchronisation ------------------------------------------------------------------------------------------ */
/* Named barriers (ids 1..15; 0 is __syncthreads): bar.sync waits until n threads have arrived (counting itself),
 * bar.arrive counts itself and goes on. n is a multiple of 32. */
__device__ __forceinline__ void bar_sync(int id, int n)
{
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(n) : "memory");
}
__device__ __forceinline__ void bar_arrive(int id, int n)
{
    asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(n) : "memory");
}

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

#endif
