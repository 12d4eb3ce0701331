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

/* ---- the kernel's index arithmetic: plain C, compiled for the GPU and tested on the CPU (tests/check_ring.c) ---- */
#ifdef __CUDACC__
#define TC_CHUNK_HD __host__ __device__
#else
#define TC_CHUNK_HD
#endif

/* A window's positions as the kernel holds them: rows 0 .. n-1, row i at i + (i < n0 ? sh0 : sh1). */
typedef struct {
    int n, n0, sh0, sh1;
} tc_chunk_map;

/* p, n: a window checked by tc_chunk_forward (positions below 2^30). */
static inline tc_chunk_map tc_chunk_map_of(const tc_chunk_pos *p, size_t n)
{
    tc_chunk_map m;
    m.n = (int)n, m.n0 = p->n0 < n ? (int)p->n0 : (int)n, m.sh0 = (int)p->pos[0];
    m.sh1 = m.n0 < m.n ? (int)p->pos[1] - m.n0 : m.sh0;
    return m;
}
static inline TC_CHUNK_HD int tc_chunk_at(tc_chunk_map m, int i) { return i + (i < m.n0 ? m.sh0 : m.sh1); }
/* How many rows sit at or before position x: a prefix of the window, since positions grow with the row. */
static inline TC_CHUNK_HD int tc_chunk_upto(tc_chunk_map m, int x)
{
    int a = x - m.sh0 + 1, b = x - m.sh1 + 1 - m.n0;
    a = a < 0 ? 0 : a > m.n0 ? m.n0 : a;
    b = b < 0 ? 0 : b > m.n - m.n0 ? m.n - m.n0 : b;
    return a + b;
}
/* Is key col hidden from query row: past the window, or (causal) after the query's position. */
static inline TC_CHUNK_HD int tc_chunk_hidden(tc_chunk_map q, tc_chunk_map k, int row, int col, int causal)
{
    return col >= k.n || (causal && tc_chunk_at(k, col) > tc_chunk_at(q, row));
}
/* FA2 Alg.1 line 6's range for query rows q0 .. q0+br-1: every key block, or (causal) those up to the last key at or
 * before the block's last query; at least one, so that every block runs the kernel's loads to their end (a block
 * that sees no key stores O = 0, L = -inf). */
static inline TC_CHUNK_HD int tc_chunk_key_blocks(tc_chunk_map q, tc_chunk_map k, int q0, int br, int bc, int causal)
{
    if (!causal)
        return (k.n + bc - 1) / bc;
    int last = (q0 + br < q.n ? q0 + br : q.n) - 1, seen = tc_chunk_upto(k, tc_chunk_at(q, last));
    return seen > 0 ? (seen + bc - 1) / bc : 1;
}
/* May a key of block k0 .. k0+bc-1 be hidden from query rows row, row+1, ...: the block passes the window's end,
 * or (causal) its last key comes after row's position. When not, the block needs no mask for those rows. */
static inline TC_CHUNK_HD int tc_chunk_crosses(tc_chunk_map q, tc_chunk_map k, int k0, int bc, int row, int causal)
{
    return k0 + bc > k.n || (causal && tc_chunk_at(k, k0 + bc - 1) > tc_chunk_at(q, row));
}

/* 0 when launched; FL_EXIT_USAGE with one line in err for a shape, window, position or dtype it cannot take (d must
 * be 64 or 128, positions below 2^30), FL_EXIT_INTERNAL for a failing CUDA call. Never exits. stream: cudaStream_t. */
int tc_chunk_forward(const tc_chunk_args *a, void *stream, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
