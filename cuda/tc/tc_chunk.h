/* tc_chunk.h — the tensor-core forward ("final": v09, 4 warps x 32 rows, cuda/tc/attn_v09_addressing.cu) on one
 * chunk pair: a window of query rows against a window of K, V rows that sit at given positions of a longer sequence.
 * Ring attention's local step (cuda/ring/): device r's queries against the chunk it holds.
 *
 *   tc_chunk_args a = {.q = dq, .k = dk, .v = dv, .o = do32, .lse = dl, .B = 1, .H = 8, .d = 128,
 *                      .q_rows = n, .q0 = 0, .nq = n, .kv_rows = m, .k0 = 0, .nk = m,
 *                      .qpos = {{0, 3 * n / 2}, n / 2}, .kpos = {{m, m}, m}, .causal = 1, .dtype = DTYPE_FP16};
 *   rc = tc_chunk_forward(&a, stream, err, sizeof err);   // 0, or an exit code with one line in err
 *
 * q (B, q_rows, H, d) and k, v (B, kv_rows, H, d) in fp16 or bf16; the windows are rows q0 .. q0+nq-1 and
 * k0 .. k0+nk-1. Written for the window's rows only: o (B, q_rows, H, d) fp32, normalized (O = Oi / li), and lse
 * (B, H, q_rows) fp32, L = m + log l of the scaled scores. Causal masks by global position: key j is hidden from
 * query i when kpos(j) > qpos(i). Key blocks after a query block's last visible key are skipped, as FA2 skips them
 * on the whole sequence. A row that sees no key gets O = 0 and L = -inf: the log-sum-exp merge's identity.
 *
 * Why fp32 O: the ring merges P partial outputs; kept in fp32 they are rounded to the storage dtype once, at the end,
 * so the ring's error is the single-GPU kernel's whatever P is (rounded per step it grows with P). The cost is 4
 * bytes instead of 2 per output element per step, against 4·nq·nk·d FLOPs: nothing at any useful chunk size.
 */
#ifndef FLASHLAB_TC_CHUNK_H
#define FLASHLAB_TC_CHUNK_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Global positions of a window's rows, in at most two increasing pieces (zigzag holds two chunks):
 * row i sits at pos[0] + i when i < n0, else at pos[1] + (i - n0); pos[1] >= pos[0] + n0. One piece: n0 >= rows. */
typedef struct {
    size_t pos[2];
    size_t n0;
} tc_chunk_pos;

typedef struct {
    const void *q, *k, *v;        /* device, dtype: (B, q_rows, H, d) and (B, kv_rows, H, d) */
    float *o;                     /* device: (B, q_rows, H, d) fp32 */
    float *lse;                   /* device: (B, H, q_rows) fp32 */
    size_t B, H, d;
    size_t q_rows, q0, nq;        /* the query window: rows q0 .. q0+nq-1 of q_rows */
    size_t kv_rows, k0, nk;       /* the key window: rows k0 .. k0+nk-1 of kv_rows */
    tc_chunk_pos qpos, kpos;      /* positions of the windows' rows (window row 0 is position pos[0]) */
    float scale;                  /* > 0; 0 means 1/sqrt(d) */
    int causal;
    int dtype;                    /* DTYPE_FP16 or DTYPE_BF16 (dtype.h) */
} tc_chunk_args;

/* Position of window row i. */
static inline size_t tc_chunk_pos_of(const tc_chunk_pos *p, size_t i)
{
    return i < p->n0 ? p->pos[0] + i : p->pos[1] + (i - p->n0);
}

/* 0 when launched; FL_EXIT_USAGE with one line in err for a shape, window, position or dtype it cannot take (d must
 * be 64 or 128, positions below 2^30), FL_EXIT_INTERNAL for a failing CUDA call. Never exits. stream: cudaStream_t. */
int tc_chunk_forward(const tc_chunk_args *a, void *stream, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
