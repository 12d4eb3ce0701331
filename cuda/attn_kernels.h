/* attn_kernels.h — what cuda/cuda_attn.cu (the runner) and the kernel files v01..v03 share: the launch arguments
 * and the launchers. C++ only; C code uses cuda_attn.h.
 *
 * Each kernel file is compiled twice: plainly, and with -DFL_COUNT into a counting twin whose names end in _count
 * (FL_NAME in attn_tiles.cuh), so one program can hold both and compare their outputs.
 */
#ifndef FLASHLAB_ATTN_KERNELS_H
#define FLASHLAB_ATTN_KERNELS_H

#include <cuda_runtime.h>

#include "cuda_attn.h"

/* Everything a teaching kernel needs, passed by value. Sizes fit in int (cuda_attn_plan_make checks); element
 * offsets into the tensors are computed in 64 bits inside the kernels. */
struct attn_kargs {
    const float *q, *k, *v;      /* (B, N, H, d) */
    float *o;                    /* (B, N, H, d) */
    float *S, *P;                /* standard: (B, H, N, N) */
    float *L, *m, *l;            /* flash2: L; flash1: m, l; (B, H, N) */
    int B, N, H, d, Br, Bc, Tr, Tc;
    float scale;
    int causal;
    unsigned off[16];            /* byte offsets of this kernel's shared-memory buffers, in the kernel's own order */
    unsigned long long *counters; /* counting twins: [CT_NTENSORS][2] (reads, writes); NULL otherwise */
};

/* vNN_prepare: check that each kernel's shared memory fits the device and allow it (once per plan, before any
 * launch). vNN_launch: launch the algorithm's kernels (pl->nkernels of them) on stream s. */
typedef void (*attn_prepare_fn)(const cuda_attn_plan *pl);
typedef void (*attn_launch_fn)(const attn_kargs &a, const cuda_attn_plan *pl, cudaStream_t s);
#define ATTN_DECLARE(v)                                                                                          \
    void v##_prepare(const cuda_attn_plan *pl);                                                                  \
    void v##_prepare_count(const cuda_attn_plan *pl);                                                            \
    void v##_launch(const attn_kargs &a, const cuda_attn_plan *pl, cudaStream_t s);                              \
    void v##_launch_count(const attn_kargs &a, const cuda_attn_plan *pl, cudaStream_t s);
ATTN_DECLARE(v01)
ATTN_DECLARE(v02)
ATTN_DECLARE(v03)
#undef ATTN_DECLARE

/* Stop with exit 2 unless the kernel's shared memory fits this device; then allow it (> 48 KB needs the opt-in). */
void attn_prepare_launch(const void *kernel, const cuda_kernel_plan *kp);

#endif
