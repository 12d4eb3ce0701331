/* attn_v03_flash2_bwd.cu — FlashAttention-2's backward (Dao 2023, Algorithm 2) in fp32, the simulator's flash2
 * backward (attn_flash2.c) on a GPU:
 *
 *   v03_bwd_d  lines 3-4, one block per (batch, head, query block i): dQi = 0 in HBM, Di = rowsum(dOi o Oi) -> D
 *   v03_bwd    lines 5-18, one block per (batch, head): for each key block j, Kj and Vj once, dKj and dVj
 *              accumulated in shared memory over the query blocks i; Pij recomputed from Qi, Kj and the saved Li;
 *              dQi read from HBM, updated and written back once per visited tile
 *
 * dQ's accumulation is the part where races hide: tile (i, j) adds dSij Kj into rows of dQ that every key block j
 * updates. Here one thread block walks all key blocks of its head in order and does each read-modify-write itself
 * (its threads' stores and its later loads are ordered by __syncthreads), so no two blocks ever touch the same dQ
 * row and every entry is summed in the same order in every run: no atomics, deterministic, and the traffic is the
 * simulator's line 15 exactly (dQi read and written once per visited tile). The price is parallelism: B*H blocks.
 * (FlashAttention-2's CUDA code instead runs a block per key block and adds into an fp32 dQ with atomicAdd, which
 * reads no dQ at all and is not deterministic.) Causal: tiles whose first key comes after their last query are
 * skipped, nothing loaded or stored.
 *
 * Shared memory is the simulator's backward plan (Kj, Vj, dKj, dVj, Qi, dOi, dQi, Li, Di, Sij, dPij), nothing else;
 * Kj and Vj are held transposed (keys along a row: Sij and dPij read neighbouring words), the rest row-major; Sij
 * holds Pij, dPij holds dSij.
 *
 * The same file compiled with -DFL_COUNT holds the counting twins (names ending in _count, fl_count.cuh).
 */
#include "attn_tiles.cuh"

enum { D_Oi, D_dOi, D_Di, D_NBUF };
static const char *const d_buffers[D_NBUF] = {"Oi", "dOi", "Di"};
enum { B_Kj, B_Vj, B_dKj, B_dVj, B_Qi, B_dOi, B_dQi, B_Li, B_Di, B_Sij, B_dPij, B_NBUF };
static const char *const bwd_buffers[B_NBUF] = {"Kj", "Vj", "dKj", "dVj", "Qi", "dOi", "dQi", "Li", "Di", "Sij",
                                                "dPij"};

/* FA2 Alg.2 lines 3-4. */
__global__ void __launch_bounds__(CUDA_ATTN_THREADS) FL_NAME(v03_bwd_d)(const attn_kargs a)
{
    ATTN_SMEM(smem);
    float *Oi = (float *)(smem + a.off[D_Oi]), *dOi = (float *)(smem + a.off[D_dOi]), *Di = (float *)(smem + a.off[D_Di]);
    fl_counts cnt = {};

    const int d = a.d;
    const head_block hb = block_of(a, a.Tr);
    const int r0 = hb.o * a.Br, nr = min(a.Br, a.N - r0);
    const int64_t rows = hb.head + r0 * hb.ld;   /* row r0 of the head in (B, N, H, d) */

    /* line 3: dQ = 0 in HBM (this block's rows of it) */
    fill_rows<CT_dQ>(a.dq + rows, hb.ld, nr, d, 0.0f, cnt);
    /* line 4: D = rowsum(dO o O), written to HBM */
    load_rows<CT_O>(Oi, a.o + rows, hb.ld, nr, d, cnt);
    load_rows<CT_dO>(dOi, a.dout + rows, hb.ld, nr, d, cnt);
    __syncthreads();
    rows_dot(Di, false, dOi, Oi, d, nr, d);
    __syncthreads();
    store_vec<CT_D>(a.D + hb.bh * a.N + r0, Di, nr, cnt);
    fl_flush(cnt, a.counters);
}

/* Lines 10-11: Pij = exp(scale Qi Kj^T - Li), masked scores exp(-inf) = 0. */
struct epi_p {
    float *P;
    int ld;
    float scale;
    const float *Li;
    bool causal;
    int r0, c0;
    __device__ void operator()(int r, int c, float v) const
    {
        P[r * ld + c] = causal && c0 + c > r0 + r ? 0.0f : expf(scale * v - Li[r]);
    }
};
/* Lines 13-14: dSij = Pij o (dPij - Di), dPij = dOi Vj^T never stored apart. */
struct epi_ds {
    float *dS;
    int ld;
    const float *P, *Di;
    __device__ void operator()(int r, int c, float v) const { dS[r * ld + c] = P[r * ld + c] * (v - Di[r]); }
};

/* FA2 Alg.2 lines 5-18, one head. */
__global__ void __launch_bounds__(CUDA_ATTN_THREADS) FL_NAME(v03_bwd)(const attn_kargs a)
{
    ATTN_SMEM(smem);
    float *KjT = (float *)(smem + a.off[B_Kj]), *VjT = (float *)(smem + a.off[B_Vj]),
          *dKj = (float *)(smem + a.off[B_dKj]), *dVj = (float *)(smem + a.off[B_dVj]),
          *Qi = (float *)(smem + a.off[B_Qi]), *dOi = (float *)(smem + a.off[B_dOi]),
          *dQi = (float *)(smem + a.off[B_dQi]), *Li = (float *)(smem + a.off[B_Li]),
          *Di = (float *)(smem + a.off[B_Di]), *Pij = (float *)(smem + a.off[B_Sij]),
          *dSij = (float *)(smem + a.off[B_dPij]);
    fl_counts cnt = {};

    const int N = a.N, d = a.d, Br = a.Br, Bc = a.Bc;
    const int64_t bh = blockIdx.x, head = bnhd_head(a, bh), ld = (int64_t)a.H * d;
    const float *L = a.L + bh * N, *D = a.D + bh * N;
    float *dQ = a.dq + head;

    for (int j = 0; j < a.Tc; j++) {                                          /* line 5 */
        const int c0 = j * Bc, nc = min(Bc, N - c0);
        /* line 6: load Kj, Vj.  Line 7: dKj = 0, dVj = 0 on chip. */
        load_rows_T<CT_K>(KjT, Bc, a.k + head + c0 * ld, ld, nc, d, cnt);
        load_rows_T<CT_V>(VjT, Bc, a.v + head + c0 * ld, ld, nc, d, cnt);
        for (int x = threadIdx.x; x < nc * d; x += NTHR)
            dKj[x] = dVj[x] = 0.0f;
        for (int i = 0; i < a.Tr; i++) {                                      /* line 8 */
            const int r0 = i * Br, nr = min(Br, N - r0);
            if (a.causal && c0 > r0 + nr - 1)                                 /* causal: the whole tile is masked */
                continue;
            /* line 9: load Qi, dOi, Li, Di (O is not needed: line 4 folded it into D) */
            load_rows<CT_Q>(Qi, a.q + head + r0 * ld, ld, nr, d, cnt);
            load_rows<CT_dO>(dOi, a.dout + head + r0 * ld, ld, nr, d, cnt);
            load_vec<CT_L>(Li, L + r0, nr, cnt);
            load_vec<CT_D>(Di, D + r0, nr, cnt);
            __syncthreads();
            /* lines 10-11: Sij = scale Qi Kj^T, Pij = exp(Sij - Li) */
            mm(nr, nc, d, Qi, d, 1, KjT, Bc, 1, epi_p{Pij, nc, a.scale, Li, a.causal != 0, r0, c0});
            __syncthreads();
            /* line 12: dVj += Pij^T dOi.  Lines 13-14: dPij = dOi Vj^T, dSij = Pij o (dPij - Di). */
            mm(nc, d, nr, Pij, 1, nc, dOi, d, 1, epi_acc{dVj, d, 1.0f});
            mm(nr, nc, d, dOi, d, 1, VjT, Bc, 1, epi_ds{dSij, nc, Pij, Di});
            /* line 15: load dQi from HBM (this block alone writes these rows) ... */
            load_rows<CT_dQ>(dQi, dQ + r0 * ld, ld, nr, d, cnt);
            __syncthreads();
            /* ... dQi += scale dSij Kj.  Line 16: dKj += scale dSij^T Qi. */
            mm(nr, d, nc, dSij, nc, 1, KjT, 1, Bc, epi_acc{dQi, d, a.scale});
            mm(nc, d, nr, dSij, 1, nc, Qi, d, 1, epi_acc{dKj, d, a.scale});
            __syncthreads();
            /* line 15: ... and write dQi back to HBM */
            store_rows<CT_dQ>(dQ + r0 * ld, ld, dQi, nr, d, cnt);
        }
        __syncthreads();
        /* line 18: write dKj, dVj to HBM */
        store_rows<CT_dK>(a.dk + head + c0 * ld, ld, dKj, nc, d, cnt);
        store_rows<CT_dV>(a.dv + head + c0 * ld, ld, dVj, nc, d, cnt);
        __syncthreads();
    }
    fl_flush(cnt, a.counters);
}

int FL_NAME(v03_bwd_prepare)(const cuda_attn_plan *pl, char *err, size_t errlen)
{
    int rc = attn_prepare_launch((const void *)FL_NAME(v03_bwd_d), &pl->kb[0], err, errlen);
    return rc ? rc : attn_prepare_launch((const void *)FL_NAME(v03_bwd), &pl->kb[1], err, errlen);
}

/* Lines 3-4, then lines 5-18, in order on stream s (the main loop reads the D and the zeroed dQ they write). */
int FL_NAME(v03_bwd_launch)(const attn_kargs &a0, const cuda_attn_plan *pl, cudaStream_t s, char *err, size_t errlen)
{
    ATTN_BIND_LAUNCH(FL_NAME(v03_bwd_d), &pl->kb[0], d_buffers, D_NBUF, s, a0);
    ATTN_BIND_LAUNCH(FL_NAME(v03_bwd), &pl->kb[1], bwd_buffers, B_NBUF, s, a0);
    return 0;
}
