/* cuda_emu.h — just enough CUDA to compile the teaching kernels (cuda/teach/attn_v0*.cu) as plain C++ and run them on CPU
 * threads, so that machines without a GPU (CI) still run the kernels' own code: their loops, their indexing, their
 * counters and their barriers.
 *
 * A launch runs the blocks one after another; a block's CUDA_ATTN_THREADS threads are coroutines on one OS thread
 * sharing one buffer (NaN-filled) as shared memory: each runs until a barrier (__syncthreads, __syncwarp, a
 * shuffle), and all go on when all have arrived. Built with AddressSanitizer, an out-of-bounds access to global or
 * shared memory is caught as on the host. What it cannot show: timing, the GPU's memory model (threads never
 * interleave between barriers, so a missing barrier can go unnoticed here: compute-sanitizer's racecheck on a GPU
 * is the judge of that), fast-math differences. A barrier that not every thread reaches stops the run with a
 * message instead of hanging.
 *
 * Included by attn_tiles.cuh when FLASHLAB_EMU is defined; emu_session.cc beside it is the matching runner.
 */
#ifndef FLASHLAB_CUDA_EMU_H
#define FLASHLAB_CUDA_EMU_H

#include <math.h>
#include <stdint.h>

#include <vector_functions.h>
#include <vector_types.h>

/* CUDA's qualifiers mean nothing on the host. */
#undef __global__
#undef __device__
#undef __forceinline__
#undef __launch_bounds__
#undef __shared__
#undef __align__
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static   /* static arrays in a kernel: one per process, and blocks run one at a time */
#define __align__(n) alignas(n)

extern uint3 threadIdx, blockIdx;

void __syncthreads(void);
void __syncwarp(unsigned mask = 0xffffffffu);
unsigned long long emu_shfl_xor(unsigned long long bits, int lanemask);
unsigned char *emu_smem(void);

template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lanemask)
{
    static_assert(sizeof(T) <= sizeof(unsigned long long), "8 bytes at most");
    (void)mask;
    unsigned long long bits = 0;
    __builtin_memcpy(&bits, &v, sizeof v);
    bits = emu_shfl_xor(bits, lanemask);
    __builtin_memcpy(&v, &bits, sizeof v);
    return v;
}

inline unsigned long long atomicAdd(unsigned long long *p, unsigned long long v)
{
    return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}

inline int min(int a, int b) { return a < b ? a : b; }

/* Run kernel over blocks blocks of CUDA_ATTN_THREADS threads with dyn_bytes of (NaN-poisoned) shared memory:
 * 0, or FL_EXIT_INTERNAL with err (a barrier not every thread reaches) or FL_EXIT_USAGE (out of host memory). */
int emu_launch(void (*kernel)(const attn_kargs), uint64_t blocks, size_t dyn_bytes, const attn_kargs &a, char *err,
               size_t errlen);

#define ATTN_SMEM(name) unsigned char *name = emu_smem()
#define ATTN_LAUNCH(kernel, kp, s, a)                                                                        \
    do {                                                                                                      \
        (void)(s);                                                                                            \
        if (int rc_ = emu_launch(kernel, (kp)->blocks, (kp)->dyn_bytes, a, err, errlen))                      \
            return rc_;                                                                                       \
    } while (0)

#endif
