/* attn_v01_naive_bwd.cu — standard attention's backward (FlashAttention paper, Algorithm 3) in fp32: one kernel per
 * line, each handing its N x N result to the next through global memory (HBM), exactly the simulator's five passes
 * (attn_standard.c):
 *
 *   line 1  v01_bwd_dv  one block per (batch, head, key block j):   dVj = sum_i Pij^T dOi            -> dV
 *   line 2  v01_bwd_dp  one block per (batch, head, query block i): dOi once, dPij = dOi Vj^T        -> dP (N x N)
 *   line 3  v01_bwd_ds  one block per (batch, head, query block i): Di = sum_j rowsum(Pij o dPij),
 *                       then dSij = Pij o (dPij - Di)                                             -> dS (N x N)
 *                       (two passes over the row block's tiles; one when a row fits, Tc = 1)
 *   line 4  v01_bwd_dq  one block per (batch, head, query block i): dQi = scale sum_j dSij Kj     -> dQ
 *   line 5  v01_bwd_dk  one block per (batch, head, key block j):   dKj = scale sum_i dSij^T Qi   -> dK
 *
 * Every block owns the rows it writes and sums them in a fixed order: no atomics, deterministic. Lines 1, 4, 5 are
 * one kernel (v01_bwd_acc<LINE>): an accumulator in shared memory over a block row or column of P or dS. No causal
 * skipping: P and dS are 0 where masked, but every tile is still moved, as in the simulator.
 *
 * The same file compiled with -DFL_COUNT holds the counting twins (names ending in _count, fl_count.cuh).
 */
#include "attn_tiles.cuh"

/* Each line's buffers, in the simulator's order (cuda_attn_plan_make_backward lists the same). */
enum { A_ACC, A_TILE, A_ROWS, A_NBUF };                 /* lines 1, 4, 5 */
static const char *const acc_buffers[6][A_NBUF] = {
    {}, {"dVj", "Pij", "dOi"}, {}, {}, {"dQi", "dSij", "Kj"}, {"dKj", "dSij", "Qi"}};
enum { P2_dOi, P2_Vj, P2_dPij, P2_NBUF };
static const char *const dp_buffers[P2_NBUF] = {"dOi", "Vj", "dPij"};
enum { P3_Di, P3_Pij, P3_dPij, P3_dSij, P3_NBUF };
static const char *const ds_buffers[P3_NBUF] = {"Di", "Pij", "dPij", "dSij"};

/* ---- lines 1, 4, 5: X = alpha sum A B, block by block ---------------------------------------------------------- *
 * by key (lines 1, 5): Xj (Bc x d) += alpha Aij^T Bi over query blocks i;  by query (line 4): Xi (Br x d) += alpha
 * Aij Bj over key blocks j. A is N x N per head (P or dS), B is (B, N, H, d) (dO, K or Q). */
template <int LINE>
__global__ void __launch_bounds__(CUDA_ATTN_THREADS) FL_NAME(v01_bwd_acc)(const attn_kargs a)
{
    constexpr bool by_key = LINE != 4;
    constexpr int TA = LINE == 1 ? CT_P : CT_dS, TB = LINE == 1 ? CT_dO : LINE == 4 ? CT_K : CT_Q,
                  TX = LINE == 1 ? CT_dV : LINE == 4 ? CT_dQ : CT_dK;
    ATTN_SMEM(smem);
    float *X = (float *)(smem + a.off[A_ACC]), *Aij = (float *)(smem + a.off[A_TILE]),
          *Bk = (float *)(smem + a.off[A_ROWS]);
    fl_counts cnt = {};

    const int N = a.N, d = a.d, Br = a.Br, Bc = a.Bc, Ti = by_key ? a.Tr : a.Tc;
    const head_block hb = block_of(a, by_key ? a.Tc : a.Tr);
    const int o = hb.o;
    const int64_t ld = hb.ld;
    const float *A = (LINE == 1 ? a.P : a.dS) + hb.bh * N * (int64_t)N;
    const float *Bt = (LINE == 1 ? a.dout : LINE == 4 ? a.k : a.q) + hb.head;
    float *Xt = (LINE == 1 ? a.dv : LINE == 4 ? a.dq : a.dk) + hb.head;
    const float alpha = LINE == 1 ? 1.0f : a.scale;
    const int x0 = o * (by_key ? Bc : Br), xr = min(by_key ? Bc : Br, N - x0);

    for (int x = threadIdx.x; x < xr * d; x += NTHR)
        X[x] = 0.0f;
    for (int in = 0; in < Ti; in++) {
        const int r0 = (by_key ? in : o) * Br, nr = min(Br, N - r0), c0 = (by_key ? o : in) * Bc, nc = min(Bc, N - c0);
        load_rows<TA>(Aij, A + r0 * (int64_t)N + c0, N, nr, nc, cnt);
        if (by_key)
            load_rows<TB>(Bk, Bt + r0 * ld, ld, nr, d, cnt);
        else
            load_rows<TB>(Bk, Bt + c0 * ld, ld, nc, d, cnt);
        __syncthreads();
        if (by_key)   /* Xj(c, x) += alpha sum_r Aij(r, c) Bi(r, x) */
            mm(nc, d, nr, Aij, 1, nc, Bk, d, 1, epi_acc{X, d, alpha});
        else          /* Xi(r, x) += alpha sum_c Aij(r, c) Bj(c, x) */
            mm(nr, d, nc, Aij, nc, 1, Bk, d, 1, epi_acc{X, d, alpha});
        __syncthreads();
    }
    store_rows<TX>(Xt + x0 * ld, ld, X, xr, d, cnt);
    fl_flush(cnt, a.counters);
}

/* ---- line 2: dP = dO V^T, tile by tile ------------------------------------------------------------------------- */
__global__ void __launch_bounds__(CUDA_ATTN_THREADS) FL_NAME(v01_bwd_dp)(const attn_kargs a)
{
    ATTN_SMEM(smem);
    float *dOi = (float *)(smem + a.off[P2_dOi]), *VjT = (float *)(smem + a.off[P2_Vj]),
          *dPij = (float *)(smem + a.off[P2_dPij]);
    fl_counts cnt = {};

    const int N = a.N, d = a.d, Bc = a.Bc;
    const head_block hb = block_of(a, a.Tr);
    const int64_t ld = hb.ld;
    const int r0 = hb.o * a.Br, nr = min(a.Br, N - r0);
    float *dP = a.dP + hb.bh * N * (int64_t)N;

    load_rows<CT_dO>(dOi, a.dout + hb.head + r0 * ld, ld, nr, d, cnt);
    for (int j = 0; j < a.Tc; j++) {
        const int c0 = j * Bc, nc = min(Bc, N - c0);
        load_rows_T<CT_V>(VjT, Bc, a.v + hb.head + c0 * ld, ld, nc, d, cnt);   /* keys along a row: no conflicts */
        __syncthreads();
        mm(nr, nc, d, dOi, d, 1, VjT, Bc, 1, epi_set{dPij, nc});
        __syncthreads();
        store_rows<CT_dP>(dP + r0 * (int64_t)N + c0, N, dPij, nr, nc, cnt);
    }
    fl_flush(cnt, a.counters);
}

/* ---- line 3: dS = P o (dP - D), D = rowsum(P o dP) ------------------------------------------------------------- */
__global__ void __launch_bounds__(CUDA_ATTN_THREADS) FL_NAME(v01_bwd_ds)(const attn_kargs a)
{
    ATTN_SMEM(smem);
    float *Di = (float *)(smem + a.off[P3_Di]), *Pij = (float *)(smem + a.off[P3_Pij]),
          *dPij = (float *)(smem + a.off[P3_dPij]), *dSij = (float *)(smem + a.off[P3_dSij]);
    fl_counts cnt = {};

    const int N = a.N, Bc = a.Bc;
    const head_block hb = block_of(a, a.Tr);
    const int64_t nn = hb.bh * N * (int64_t)N;
    const int r0 = hb.o * a.Br, nr = min(a.Br, N - r0);

    for (int j = 0; j < a.Tc; j++) {                      /* pass 1: Di = sum_j rowsum(Pij o dPij) */
        const int c0 = j * Bc, nc = min(Bc, N - c0);
        load_rows<CT_P>(Pij, a.P + nn + r0 * (int64_t)N + c0, N, nr, nc, cnt);
        load_rows<CT_dP>(dPij, a.dP + nn + r0 * (int64_t)N + c0, N, nr, nc, cnt);
        __syncthreads();
        rows_dot(Di, j > 0, Pij, dPij, nc, nr, nc);
        __syncthreads();
    }
    for (int j = 0; j < a.Tc; j++) {                      /* pass 2: dSij = Pij o (dPij - Di) */
        const int c0 = j * Bc, nc = min(Bc, N - c0);
        if (a.Tc > 1) {                                    /* a row that fits is still here from pass 1 */
            load_rows<CT_P>(Pij, a.P + nn + r0 * (int64_t)N + c0, N, nr, nc, cnt);
            load_rows<CT_dP>(dPij, a.dP + nn + r0 * (int64_t)N + c0, N, nr, nc, cnt);
            __syncthreads();
        }
        for (int x = threadIdx.x; x < nr * nc; x += NTHR)
            dSij[x] = Pij[x] * (dPij[x] - Di[x / nc]);
        __syncthreads();
        store_rows<CT_dS>(a.dS + nn + r0 * (int64_t)N + c0, N, dSij, nr, nc, cnt);
        __syncthreads();                                   /* dSij, Pij, dPij free for the next tile */
    }
    fl_flush(cnt, a.counters);
}

/* ---- launching ------------------------------------------------------------------------------------------------- */
int FL_NAME(v01_bwd_prepare)(const cuda_attn_plan *pl, char *err, size_t errlen)
{
    const void *k[5] = {(const void *)FL_NAME(v01_bwd_acc)<1>, (const void *)FL_NAME(v01_bwd_dp),
                        (const void *)FL_NAME(v01_bwd_ds), (const void *)FL_NAME(v01_bwd_acc)<4>,
                        (const void *)FL_NAME(v01_bwd_acc)<5>};
    for (int x = 0; x < 5; x++)
        if (int rc = attn_prepare_launch(k[x], &pl->kb[x], err, errlen))
            return rc;
    return 0;
}

/* Alg.3's five lines, one launch each, in order on stream s (each reads what the one before wrote). */
int FL_NAME(v01_bwd_launch)(const attn_kargs &a0, const cuda_attn_plan *pl, cudaStream_t s, char *err, size_t errlen)
{
    ATTN_BIND_LAUNCH(FL_NAME(v01_bwd_acc)<1>, &pl->kb[0], acc_buffers[1], A_NBUF, s, a0);
    ATTN_BIND_LAUNCH(FL_NAME(v01_bwd_dp), &pl->kb[1], dp_buffers, P2_NBUF, s, a0);
    ATTN_BIND_LAUNCH(FL_NAME(v01_bwd_ds), &pl->kb[2], ds_buffers, P3_NBUF, s, a0);
    ATTN_BIND_LAUNCH(FL_NAME(v01_bwd_acc)<4>, &pl->kb[3], acc_buffers[4], A_NBUF, s, a0);
    ATTN_BIND_LAUNCH(FL_NAME(v01_bwd_acc)<5>, &pl->kb[4], acc_buffers[5], A_NBUF, s, a0);
    return 0;
}
