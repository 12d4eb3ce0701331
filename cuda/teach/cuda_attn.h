/* cuda_attn.h — the CUDA teaching kernels from C: v01 standard attention, v02 FlashAttention, v03 FlashAttention-2.
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

/* The global tensors the kernels touch, named as in the simulator's ledger (attn_alloc, standard's S). */
enum { CT_Q, CT_K, CT_V, CT_O, CT_S, CT_P, CT_L, CT_m, CT_l, CT_NTENSORS };
const char *cuda_tensor_name(int t);                 /* "Q", "K", "V", "O", "S", "P", "L", "m", "l" */

/* Elements read from and written to global memory, per tensor (bytes = elements x 4: the kernels are fp32). */
typedef struct {
    uint64_t rd[CT_NTENSORS], wr[CT_NTENSORS];
} cuda_counts;

/* The counts of a simulator's ledger, per tensor; FL_EXIT_INTERNAL if it counts a tensor the kernels have no
 * counter for. */
int cuda_counts_from_ledger(const mem_t *m, cuda_counts *out, char *err, size_t errlen);
/* The simulator's ledger for p (blocks set) in count-only mode with SRAM capacity M and fp32 tensors. */
int cuda_sim_counts(const attn_params *p, size_t M_bytes, cuda_counts *out, char *err, size_t errlen);
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
} cuda_attn_plan;

/* Plan the kernels of p->algo with p->Br, p->Bc already chosen. 0, or -1 with one line in err when a kernel's
 * shared memory exceeds smem_limit, the grid is too large, or a size does not fit the kernels' int indices. */
int cuda_attn_plan_make(const attn_params *p, size_t smem_limit, cuda_attn_plan *out, char *err, size_t errlen);
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
/* Frees everything (NULL is fine). A CUDA error while freeing is returned; the session is gone either way. */
int cuda_attn_close(cuda_attn_session *s, char *err, size_t errlen);

/* ---- checking against the double-precision reference (no GPU needed) ----------------------------------------- */
/* Inputs as every flashlab program draws them: one RNG seeded with seed, Q then K then V, each N(0, 1). */
void cuda_attn_inputs(const attn_params *p, uint64_t seed, float *q, float *k, float *v);

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

/* Tolerances for fp32 kernels against the double reference: fp32 sums over d products and N probabilities
 * (FlashAttention's rescaling adds a few roundings per key block) stay near 1e-6 for unit-normal inputs. */
#define CUDA_ATOL 2e-5
#define CUDA_RTOL 1e-4

#ifdef __cplusplus
}
#endif

#endif
