/* attn_kernels.h — what cuda/teach/cuda_attn.cu (the runner) and the kernel files v01..v03 share: the launch
 * arguments and the launchers. C++ only; C code uses cuda_attn.h.
 *
 * Each kernel file is compiled twice: plainly, and with -DFL_COUNT into a counting twin whose names end in _count
 * (FL_NAME, cuda/common/fl_count.cuh), so one program can hold both and compare their outputs.
 */
#ifndef FLASHLAB_ATTN_KERNELS_H
#define FLASHLAB_ATTN_KERNELS_H

#include <cuda_runtime.h>
#include <stdio.h>

#include "cuda_attn.h"
#include "exitcode.h"

/* Everything a teaching kernel needs, passed by value. Sizes fit in int (cuda_attn_plan_make checks); element
 * offsets into the tensors are computed in 64 bits inside the kernels. */
struct attn_kargs {
    const float *q, *k, *v;      /* (B, N, H, d) */
    float *o;                    /* (B, N, H, d) */
    float *S, *P;                /* standard: (B, H, N, N) */
    float *L, *m, *l;            /* flash2: L; flash1: m, l; (B, H, N) */
    const float *dout;           /* backward: dO (B, N, H, d) */
    float *dq, *dk, *dv;         /* backward: (B, N, H, d) */
    float *dP, *dS, *D;          /* backward's intermediates: standard dP, dS (B, H, N, N); flash2 D (B, H, N) */
    int B, N, H, d, Br, Bc, Tr, Tc;
    float scale;
    int causal;
    unsigned off[16];            /* byte offsets of this kernel's shared-memory buffers, in the kernel's own order */
    unsigned long long *counters; /* counting twins: [CT_NTENSORS][2] (reads, writes); NULL otherwise */
};

/* vNN_prepare: check that each kernel's shared memory fits the device and allow it (once per plan, before any
 * launch). vNN_launch: launch the algorithm's kernels (pl->nkernels of them) on stream s. Both return 0 or an exit
 * code with one line in err (cuda_check.h). */
typedef int (*attn_prepare_fn)(const cuda_attn_plan *pl, char *err, size_t errlen);
typedef int (*attn_launch_fn)(const attn_kargs &a, const cuda_attn_plan *pl, cudaStream_t s, char *err, size_t errlen);
#define ATTN_DECLARE(v)                                                                                          \
    int v##_prepare(const cuda_attn_plan *pl, char *err, size_t errlen);                                         \
    int v##_prepare_count(const cuda_attn_plan *pl, char *err, size_t errlen);                                   \
    int v##_launch(const attn_kargs &a, const cuda_attn_plan *pl, cudaStream_t s, char *err, size_t errlen);     \
    int v##_launch_count(const attn_kargs &a, const cuda_attn_plan *pl, cudaStream_t s, char *err, size_t errlen);
ATTN_DECLARE(v01)
ATTN_DECLARE(v02)
ATTN_DECLARE(v03)
ATTN_DECLARE(v01_bwd)
ATTN_DECLARE(v03_bwd)
#undef ATTN_DECLARE

/* The plain kernels and their counting twins, in cuda_attn_algos' order (a missing row is a compile error, not a
 * fallback). Both runners (cuda_attn.cu, emu/emu_session.cc) launch through these. */
static const attn_prepare_fn attn_prepare_fns[CUDA_ATTN_NALGOS][2] = {
    {v01_prepare, v01_prepare_count}, {v02_prepare, v02_prepare_count}, {v03_prepare, v03_prepare_count}};
static const attn_launch_fn attn_launch_fns[CUDA_ATTN_NALGOS][2] = {
    {v01_launch, v01_launch_count}, {v02_launch, v02_launch_count}, {v03_launch, v03_launch_count}};

/* The backward kernels, the same way; flash1 has none (cuda_attn_plan_make_backward refuses it). */
static const attn_prepare_fn attn_bwd_prepare_fns[CUDA_ATTN_NALGOS][2] = {
    {v01_bwd_prepare, v01_bwd_prepare_count}, {NULL, NULL}, {v03_bwd_prepare, v03_bwd_prepare_count}};
static const attn_launch_fn attn_bwd_launch_fns[CUDA_ATTN_NALGOS][2] = {
    {v01_bwd_launch, v01_bwd_launch_count}, {NULL, NULL}, {v03_bwd_launch, v03_bwd_launch_count}};

/* Before a session (or its backward): the plan's algorithm has kernels for the pass, and their shared memory fits
 * (plain and counting). */
static inline int attn_prepare_pass(const cuda_attn_plan *pl, bool backward, char *err, size_t errlen)
{
    const int kern = cuda_attn_kernel_of(pl->p.algo);
    if (kern < 0 || (backward && (!pl->nbwd || !attn_bwd_prepare_fns[kern][0]))) {
        snprintf(err, errlen, "%s has no teaching %s kernel", attn_algo_name(pl->p.algo),
                 backward ? "backward" : "forward");
        return FL_EXIT_USAGE;
    }
    for (int counting = 0; counting < 2; counting++)
        if (int rc = (backward ? attn_bwd_prepare_fns : attn_prepare_fns)[kern][counting](pl, err, errlen))
            return rc;
    return 0;
}
static inline int attn_prepare_plan(const cuda_attn_plan *pl, char *err, size_t errlen)
{
    return attn_prepare_pass(pl, false, err, errlen);
}

/* A backward pass reads dO and what a forward pass left: FL_EXIT_INTERNAL when a runner is asked for it too early. */
static inline int backward_ready(bool have_dout, bool forward_done, char *err, size_t errlen)
{
    if (have_dout && forward_done)
        return 0;
    snprintf(err, errlen, "internal: a backward pass needs cuda_attn_set_dout and a forward pass before it");
    return FL_EXIT_INTERNAL;
}

/* Launch one pass's kernels (plain or counting twins) with a's tensors and counters. */
static inline int attn_launch_pass(const attn_kargs &a, const cuda_attn_plan *pl, bool backward, bool counting,
                                   cudaStream_t s, char *err, size_t errlen)
{
    const int kern = cuda_attn_kernel_of(pl->p.algo);
    return (backward ? attn_bwd_launch_fns : attn_launch_fns)[kern][counting](a, pl, s, err, errlen);
}

/* FL_EXIT_USAGE unless the kernel's shared memory fits this device; then allow it (> 48 KB needs the opt-in). */
int attn_prepare_launch(const void *kernel, const cuda_kernel_plan *kp, char *err, size_t errlen);

#endif
