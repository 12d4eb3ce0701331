/* cuda_attn.h — the CUDA teaching kernels from C: v01 standard attention, v02 FlashAttention, v03 FlashAttention-2,
 * and the backward passes of v01 (the paper's Algorithm 3) and v03 (FA2's Algorithm 2).
 *
 * The kernels (cuda/teach/attn_v01_naive.cu, attn_v02_flash1.cu, attn_v03_flash2.cu) run the simulator's algorithms
 * (include/model/attention.h) in fp32 on a GPU: the same blocks Br x Bc, chosen from M = the device's shared memory per
 * block exactly as attn_choose_blocks chooses them, the same loops, and shared memory laid out from the same
 * attn_sram_plan. Built with -DFL_COUNT, a twin of every kernel counts the elements it loads from and stores to
 * global memory, per tensor; those counts must equal the simulator's ledger for the same shape, number for number.
 *
 *   cuda_device dev;  rc = cuda_attn_device(&dev, err, sizeof err);   // FL_EXIT_USAGE: no GPU
 *   attn_params p = {.algo = ATTN_FLASH2, .B = 1, .N = 4096, .H = 16, .d = 64};
 *   attn_choose_blocks(&p, false, dev.smem_optin, DTYPE_FP32, 0, 0, &choice, err, sizeof err);
 *   cuda_attn_plan pl;  cuda_attn_plan_make(&p, dev.smem_optin, &pl, err, sizeof err);   // no GPU needed
 *   cuda_attn_session *s;  rc = cuda_attn_open(&pl, q, k, v, &s, err, sizeof err);     // copies of q, k, v
 *   cuda_counts io;  rc = cuda_attn_exec(s, true, &io, err, sizeof err);               // the counting twin
 *   bool hasL;  rc = cuda_attn_download(s, out, lse, &hasL, err, sizeof err);
 *   double ms;  rc = cuda_attn_time_ms(s, 2, 10, &ms, err, sizeof err);                 // plain kernels, median
 *   cuda_attn_close(s);
 *
 * The backward pass (standard and flash2): plan with cuda_attn_plan_make_backward (the forward kernels get the
 * backward's blocks, as the simulator's lesson07 runs them), then after cuda_attn_open and one forward pass
 *   rc = cuda_attn_set_dout(s, dout, err, sizeof err);                                 // dO, dQ, dK, dV, ...
 *   rc = cuda_attn_run(s, true, true, &io, err, sizeof err);       // backward, counting twin; forward's O, L, P kept
 *   rc = cuda_attn_download_grads(s, dq, dk, dv, err, sizeof err);
 *
 * Usable from C (lessons, tests) and C++ (.cu files). Nothing here exits: every function that can fail returns 0
 * or an exit code (exitcode.h: FL_EXIT_USAGE for what the input or the device cannot do, FL_EXIT_INTERNAL for a
 * failing CUDA call or a broken invariant) with one line in err (cuda_check.h); the program decides.
 */
#ifndef FLASHLAB_CUDA_ATTN_H
#define FLASHLAB_CUDA_ATTN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "attention.h"
#include "gpu.h"   // defines: cuda_device, cuda_device_get, gpu_time_ms

#define CUDA_ATTN_THREADS 256   /* threads per block of every teaching kernel: 8 warps */

/* The algorithms with a teaching kernel (v01, v02, v03), in that order; any other is refused by the plan. */
#define CUDA_ATTN_NALGOS 3
static const attn_algo cuda_attn_algos[CUDA_ATTN_NALGOS] = {ATTN_STANDARD, ATTN_FLASH1, ATTN_FLASH2};
/* Index into cuda_attn_algos, or -1. */
static inline int cuda_attn_kernel_of(attn_algo a)
{
    for (int x = 0; x < CUDA_ATTN_NALGOS; x++)
        if (cuda_attn_algos[x] == a)
            return x;
    return -1;
}

/* The global tensors the kernels touch, named as in the simulator's ledger (attn_alloc, standard's S; the
 * backward's dO, dQ, dK, dV, standard's dP and dS, flash2's D = rowsum(dO o O)). */
enum { CT_Q, CT_K, CT_V, CT_O, CT_S, CT_P, CT_L, CT_m, CT_l, CT_dO, CT_dQ, CT_dK, CT_dV, CT_dP, CT_dS, CT_D,
       CT_NTENSORS };
const char *cuda_tensor_name(int t);   /* "Q", "K", "V", "O", "S", "P", "L", "m", "l", "dO", "dQ", ..., "D" */

/* Elements read from and written to global memory, per tensor (bytes = elements x 4: the kernels are fp32). */
typedef struct {
    uint64_t rd[CT_NTENSORS], wr[CT_NTENSORS];
} cuda_counts;

/* The counts of a simulator's ledger, per tensor; FL_EXIT_INTERNAL if it counts a tensor the kernels have no
 * counter for. */
int cuda_counts_from_ledger(const mem_t *m, cuda_counts *out, char *err, size_t errlen);
/* The simulator's ledger for p (blocks set) in count-only mode with SRAM capacity M and fp32 tensors. */
int cuda_sim_counts(const attn_params *p, size_t M_bytes, cuda_counts *out, char *err, size_t errlen);
/* The same for the backward pass alone: forward, ledger zeroed, backward (as lesson07 counts it). */
int cuda_sim_counts_backward(const attn_params *p, size_t M_bytes, cuda_counts *out, char *err, size_t errlen);
bool cuda_counts_equal(const cuda_counts *a, const cuda_counts *b);

/* ---- the device ---------------------------------------------------------------------------------------------- */
/* Device 0 (cuda_device_get; the emulator's own device under cuda/teach/emu); FL_EXIT_USAGE: no GPU. */
int cuda_attn_device(cuda_device *dev, char *err, size_t errlen);

/* ---- plans: what is launched, with which shared memory (no GPU needed) ---------------------------------------- */
typedef struct {
    const char *name;        /* "v03_flash2", "v01_scores", ... */
    sram_plan plan;          /* the simulator's buffers for this kernel, in order */
    size_t off[16];          /* byte offset of plan.buf[k] in the kernel's dynamic shared memory */
    size_t dyn_bytes;        /* dynamic shared memory = plan.bytes */
    size_t static_bytes;     /* shared memory outside the plan (v01_softmax's 8-float reduction scratch) */
    uint64_t blocks;         /* one-dimensional grid */
    unsigned threads;
} cuda_kernel_plan;

typedef struct {
    attn_params p;           /* Br, Bc as chosen */
    int nkernels;            /* standard: 3 (S, softmax, PV); flash1, flash2: 1 */
    cuda_kernel_plan k[3];
    int nbwd;                /* backward kernels (0: forward only): standard 5, one per line of Alg.3; flash2 2, */
    cuda_kernel_plan kb[5];  /* FA2 Alg.2 lines 3-4 (dQ = 0, D = rowsum(dO o O)) then lines 5-18 */
} cuda_attn_plan;

/* Plan the kernels of p->algo with p->Br, p->Bc already chosen. 0, or -1 with one line in err when a kernel's
 * shared memory exceeds smem_limit, the grid is too large, or a size does not fit the kernels' int indices. */
int cuda_attn_plan_make(const attn_params *p, size_t smem_limit, cuda_attn_plan *out, char *err, size_t errlen);
/* The forward kernels and the backward's (standard, flash2), p's blocks chosen for the backward; the same refusals.
 * The backward's buffers are the simulator's backward plans (attention.h), one kernel per pass. */
int cuda_attn_plan_make_backward(const attn_params *p, size_t smem_limit, cuda_attn_plan *out, char *err,
                                 size_t errlen);
/* Byte offset of the buffer called name in kernel kp's shared memory, or -1 if the plan has none. */
long cuda_plan_offset(const cuda_kernel_plan *kp, const char *name);
/* off[k] = offset of names[k] (a kernel's buffers, in its own order). The plan must list exactly these n buffers,
 * so a kernel's shared memory is the simulator's plan, no more and no less; otherwise FL_EXIT_INTERNAL. */
int cuda_bind_smem(const cuda_kernel_plan *kp, const char *const *names, int n, unsigned *off, char *err,
                   size_t errlen);

/* ---- running on the GPU -------------------------------------------------------------------------------------- */
typedef struct cuda_attn_session cuda_attn_session;

/* Device copies of q, k, v ((B, N, H, d) fp32) and every tensor the algorithm writes (standard: S and P too), in
 * *out. FL_EXIT_USAGE when there is no GPU, or too little free device memory or shared memory for the plan. */
int cuda_attn_open(const cuda_attn_plan *pl, const float *q, const float *k, const float *v, cuda_attn_session **out,
                   char *err, size_t errlen);
uint64_t cuda_attn_device_bytes(const cuda_attn_session *s);   /* device memory the session took (cudaMemGetInfo) */
/* One forward pass: outputs are first poisoned with NaN (an unwritten element can never pass a check). With
 * counting, the -DFL_COUNT twins run and io (may be NULL) receives their counters; otherwise the plain kernels. */
int cuda_attn_exec(cuda_attn_session *s, bool counting, cuda_counts *io, char *err, size_t errlen);
/* Median milliseconds of repeats forward passes of the plain kernels after warmup passes (gpu_time_ms). */
int cuda_attn_time_ms(cuda_attn_session *s, int warmup, int repeats, double *ms, char *err, size_t errlen);
/* Copy back O ((B, N, H, d)) and L ((B, H, N)): flash2 writes L; flash1 writes m and l, and L = m + log l here;
 * standard writes no L (lse untouched, *has_lse = false). Either pointer may be NULL. */
int cuda_attn_download(const cuda_attn_session *s, float *out, float *lse, bool *has_lse, char *err, size_t errlen);
/* The backward pass, on a session whose plan has one (cuda_attn_plan_make_backward): device copies of dout
 * ((B, N, H, d)), dQ, dK, dV and the backward's intermediates (standard: dP, dS (B, H, N, N); flash2: D (B, H, N)).
 * FL_EXIT_USAGE when device memory is short. */
int cuda_attn_set_dout(cuda_attn_session *s, const float *dout, char *err, size_t errlen);
/* One pass: the forward (as cuda_attn_exec), or the backward, which reads what the last forward pass left (O and L,
 * or P) and poisons dQ, dK, dV and its intermediates with NaN first. With counting, io gets the twins' counters. */
int cuda_attn_run(cuda_attn_session *s, bool backward, bool counting, cuda_counts *io, char *err, size_t errlen);
/* Median milliseconds of one pass (forward or backward) of the plain kernels, as cuda_attn_time_ms. */
int cuda_attn_time_pass_ms(cuda_attn_session *s, bool backward, int warmup, int repeats, double *ms, char *err,
                           size_t errlen);
/* Copy back dQ, dK, dV ((B, N, H, d) each; any may be NULL). */
int cuda_attn_download_grads(const cuda_attn_session *s, float *dq, float *dk, float *dv, char *err, size_t errlen);
/* Frees everything (NULL is fine). A CUDA error while freeing is returned; the session is gone either way. */
int cuda_attn_close(cuda_attn_session *s, char *err, size_t errlen);

/* ---- checking against the double-precision reference (no GPU needed) ----------------------------------------- */
/* Inputs as every flashlab program draws them: one RNG seeded with seed, Q then K then V, each N(0, 1); then dO
 * when dout is not NULL (cuda_attn_inputs_dout). */
void cuda_attn_inputs(const attn_params *p, uint64_t seed, float *q, float *k, float *v);
void cuda_attn_inputs_dout(const attn_params *p, uint64_t seed, float *q, float *k, float *v, float *dout);

typedef struct {
    double max_abs_O, max_abs_L;   /* largest |got - ref| (inf on NaN) */
    size_t rows;                   /* query rows compared */
    size_t bad;                    /* elements outside tolerance (NaN included) */
    bool ok;
} cuda_check_stats;
/* Compare out (and lse, when not NULL) with the double reference on up to max_rows query rows per head for up to
 * max_heads heads, spread evenly and always including the first and last (0: every row / head). */
void cuda_attn_check(const attn_params *p, const float *q, const float *k, const float *v, const float *out,
                     const float *lse, size_t max_heads, size_t max_rows, cuda_check_stats *st);

/* dQ, dK, dV against ref_attention_backward (fp64) on up to max_heads heads (0: all), every row; NaN fails. */
typedef struct {
    double max_abs[3];   /* dQ, dK, dV: largest |got - ref| (inf on NaN) */
    size_t heads, bad;   /* heads compared; elements outside tolerance */
    bool ok;
} cuda_grad_stats;
void cuda_attn_check_grads(const attn_params *p, const float *q, const float *k, const float *v, const float *dout,
                           float *const grads[3], size_t max_heads, cuda_grad_stats *st);
/* Central finite differences of the loss sum(O o dO) through the fp64 forward (ref_attention), every entry of Q, K
 * and V of head (0, 0) with step CUDA_FD_STEP: the largest |fd - got| over the three gradients (NaN stays NaN). An
 * independent check of the gradients, for tiny shapes (2 N d forward passes each). */
double cuda_attn_fd_err(const attn_params *p, const float *q, const float *k, const float *v, const float *dout,
                        float *const grads[3]);

/* Tolerances for fp32 kernels against the double reference: fp32 sums over d products and N probabilities
 * (FlashAttention's rescaling adds a few roundings per key block) stay near 1e-6 for unit-normal inputs. */
#define CUDA_ATOL 2e-5
#define CUDA_RTOL 1e-4
/* Gradients: each entry sums N terms P (dP - D) where dP and D nearly cancel, every one rounded in fp32 at each of
 * the Tc (or Tr) tiles it passes: an order of magnitude more room than O. */
#define CUDA_GRAD_ATOL 2e-4
#define CUDA_GRAD_RTOL 1e-3
/* Finite differences in fp64 with step h err by O(h^2) (third derivatives of size ~1 on unit-normal inputs), the
 * fp32 gradients by ~1e-6: h = 1e-3 and a bound of 1e-4 leave both well inside. */
#define CUDA_FD_STEP 1e-3
#define CUDA_FD_TOL 1e-4

#ifdef __cplusplus
}
#endif

#endif
