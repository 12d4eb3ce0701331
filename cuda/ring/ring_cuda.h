/* ring_cuda.h — ring attention's two kernels on one GPU (cuda/ring/ring_kernels.cu), callable from C:
 *
 *   ring_cuda_attn   FlashAttention-2's forward (Dao 2023, Alg.1) on windows of a device's tensors: query rows
 *                    q0 .. q0+nq-1 against key rows k0 .. k0+nk-1 of the chunk the device holds; writes O (normalized,
 *                    fp32) and L = m + log l (fp32) for those rows. Causal masks key k > query q of the windows (the
 *                    diagonal step, nq = nk). The simple kernel, kept to compare with: the ring's own local kernel is
 *                    the tensor-core one (cuda/tc/tc_chunk.h).
 *   ring_cuda_merge  lesson02's rule on rows q0 .. q0+nq-1, fp32: (O, L) <- merge((O, L), (Os, Ls)),
 *                    L = log(e^La + e^Lb), O = e^(La - L) Oa + e^(Lb - L) Ob; a row with Lb = -inf (no key seen
 *                    in the step) keeps (Oa, La).
 *
 * Layouts as flash_attn's (and the simulator's): q, o, os (B, rows, H, d) and l, ls (B, H, rows) for the device's
 * rows; the chunk held, k and v, (B, kv_rows, H, d) each. q, k, v in fp16 or bf16; the outputs fp32, so that the
 * ring rounds O to the storage dtype once (ring_cuda_from_float), whatever P is. The simple kernel: one warp per
 * query row, key tiles of RING_CUDA_BC rows in shared memory, written to be read next to the paper, not to be fast.
 * Both return a cudaError_t (as int): 0 when the launch went in. The stream is a cudaStream_t.
 */
#ifndef FLASHLAB_RING_CUDA_H
#define FLASHLAB_RING_CUDA_H

#include <stddef.h>

#define RING_CUDA_MAX_D 128   /* head dimensions up to 128: each lane keeps d/32 accumulators */
#define RING_CUDA_WARPS 8     /* query rows per thread block, one warp each */
#define RING_CUDA_BC 32       /* key rows per tile: one per lane */

typedef enum { RING_CUDA_FP16, RING_CUDA_BF16 } ring_cuda_dtype;

typedef struct {
    const void *q;        /* (B, rows, H, d) */
    const void *k, *v;    /* (B, kv_rows, H, d) each */
    float *o;             /* (B, rows, H, d) */
    float *l;             /* (B, H, rows) */
    size_t rows, kv_rows, q0, nq, k0, nk, B, H, d;
    float scale;
    int causal;
    ring_cuda_dtype dt;
} ring_cuda_attn_args;
int ring_cuda_attn(const ring_cuda_attn_args *a, void *stream);

typedef struct {
    float *o;             /* (B, rows, H, d): the running output, updated in place */
    float *l;             /* (B, H, rows) */
    const float *os;      /* the step's partial output and statistics, same shapes */
    const float *ls;
    size_t rows, q0, nq, B, H, d;
} ring_cuda_merge_args;
int ring_cuda_merge(const ring_cuda_merge_args *a, void *stream);

/* n floats to the storage dtype (round to nearest even) and back: inputs up, outputs down. */
int ring_cuda_from_float(void *dst, const float *src, size_t n, ring_cuda_dtype dt, void *stream);
int ring_cuda_to_float(float *dst, const void *src, size_t n, ring_cuda_dtype dt, void *stream);

#endif
