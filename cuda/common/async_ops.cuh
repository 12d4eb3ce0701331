/* async_ops.cuh — Hopper's asynchronous copies (sm_90: the TMA unit) and the mbarriers they complete on, once, for
 * the Hopper forward kernels (cuda/hopper), the wgmma backward (cuda/tc) and the decode kernel (cuda/decode).
 *
 *   fence_async_smem()            this thread's ordinary (generic-proxy) shared-memory accesses, cp.async's included,
 *                                 ordered before its later async-proxy ones (TMA writes, wgmma reads)
 *   mbar_init(bar, count)         an mbarrier expecting `count` arrivals a phase; mbar_init_fence() publishes it
 *   mbar_arrive(bar)              one arrival
 *   mbar_expect_tx(bar, bytes)    one arrival that also announces `bytes` more to come from copies (complete_tx)
 *   mbar_wait(bar, parity)        until the phase of that parity has completed
 *   mbar_inval(bar)               the barrier's word becomes ordinary shared memory again (every phase waited on)
 *   tma_load(dst, map, col, row, h, b, bar)   one box of a 4-D tensor map (d, rows, heads, batch) into dst
 *   bulk_copy(dst, src, bytes, bar)           `bytes` contiguous bytes global -> shared, no tensor map (1-D)
 *   tma_encode_entry(err, errlen)  (host) the driver's cuTensorMapEncodeTiled, through the runtime: no -lcuda
 *
 * A box lands swizzled as its tensor map says (CU_TENSOR_MAP_SWIZZLE_128B: 16-byte chunk c of a 128-byte row r at
 * chunk c ^ (r % 8), the pattern a function of the address, so boxes start on 1024-byte boundaries). Coordinates
 * past the tensor's end arrive as zeros and read nothing; the barrier is credited the whole box's bytes either way.
 */
#ifndef FLASHLAB_ASYNC_OPS_CUH
#define FLASHLAB_ASYNC_OPS_CUH

#include <cuda.h>   /* CUtensorMap and the encode call's types (the call itself comes through the runtime) */
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>

__device__ __forceinline__ void fence_async_smem() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

/* ---- mbarriers ---------------------------------------------------------------------------------------------------- */
__device__ __forceinline__ void mbar_init(uint32_t bar, int count)
{
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_init_fence() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }
__device__ __forceinline__ void mbar_arrive(uint32_t bar)
{
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
/* The tx-count may go below zero first: copies may land before their bytes are announced. */
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes)
{
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
/* Wait until the phase with parity `parity` has completed. A fresh barrier counts its phase "before 0" (parity 1)
 * as completed: that is how a producer's first wait on an empty slot passes. */
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity)
{
    uint32_t done;
    do {
        asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(done)
                     : "r"(bar), "r"(parity)
                     : "memory");
    } while (!done);
}
__device__ __forceinline__ void mbar_inval(uint32_t bar)
{
    asm volatile("mbarrier.inval.shared::cta.b64 [%0];\n" ::"r"(bar) : "memory");
}

/* ---- copies ------------------------------------------------------------------------------------------------------- */
/* Box (its columns from col, its rows from row) of head (b, h) into smem, completing on mbarrier bar. */
__device__ __forceinline__ void tma_load(uint32_t dst, const CUtensorMap *map, int col, int row, int h, int b,
                                         uint32_t bar)
{
    asm volatile("cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, "
                 "%4, %5}], [%6];\n" ::"r"(dst),
                 "l"(reinterpret_cast<uint64_t>(map)), "r"(col), "r"(row), "r"(h), "r"(b), "r"(bar)
                 : "memory");
}
__device__ __forceinline__ void bulk_copy(uint32_t dst, const void *src, uint32_t bytes, uint32_t bar)
{
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n"
                 ::"r"(dst), "l"(src), "r"(bytes), "r"(bar) : "memory");
}

/* ---- host: tensor maps -------------------------------------------------------------------------------------------- */
typedef CUresult (*tma_encode_fn)(CUtensorMap *, CUtensorMapDataType, cuuint32_t, void *, const cuuint64_t *,
                                  const cuuint64_t *, const cuuint32_t *, const cuuint32_t *, CUtensorMapInterleave,
                                  CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
/* The driver's cuTensorMapEncodeTiled (looked up once), or NULL with one line in err. */
static inline tma_encode_fn tma_encode_entry(char *err, size_t errlen)
{
    static tma_encode_fn encode;
    if (!encode) {
        cudaDriverEntryPointQueryResult q;
        void *fn = NULL;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &q) != cudaSuccess ||
            q != cudaDriverEntryPointSuccess || !fn) {
            (void)cudaGetLastError();
            snprintf(err, errlen, "cuTensorMapEncodeTiled not found in the driver");
            return NULL;
        }
        encode = (tma_encode_fn)fn;
    }
    return encode;
}

#endif
