/* fl_count.cuh — the one counting scheme of every kernel in cuda/: a kernel counts, in registers, the elements it
 * moves between global memory and the chip, and adds them to global counters once per warp at its end.
 *
 * Every kernel file is compiled twice: plainly, and with -DFL_COUNT into a counting twin whose names end in _count
 * (FL_NAME), so one program holds both and compares them. In the plain build every count vanishes (no atomics in
 * its SASS: make test-cuda checks that), but the counted expression still runs, so a tile load can be written
 * inside its own count:
 *
 *   unsigned long long nk = 0;
 *   FL_ADD(nk, load_tile(Kj, K, k0));     // counting twin: nk += elements loaded; plain: just the load
 *   ...
 *   fl_count_flush(counters + K_RD, nk);  // every thread of the warp: one atomicAdd per warp
 *
 * The loop that moves the data does the counting, so the counts are what the kernel did, not a formula.
 */
#ifndef FLASHLAB_FL_COUNT_CUH
#define FLASHLAB_FL_COUNT_CUH

#ifdef FL_COUNT
#define FL_NAME(x) x##_count
#define FL_ADD(var, n) ((var) += (unsigned long long)(n))
#else
#define FL_NAME(x) x
#define FL_ADD(var, n) ((void)(n))
#endif

/* Sum a per-thread count over the warp and add it to *counter once (all 32 lanes must call it). */
__device__ __forceinline__ void fl_count_flush(unsigned long long *counter, unsigned long long v)
{
#ifdef FL_COUNT
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    if ((threadIdx.x & 31) == 0 && v)
        atomicAdd(counter, v);
#else
    (void)counter, (void)v;
#endif
}

#endif
