/* attn_v08_overlap.cu — v07 (16-row warps) with the next step's Qi Kj^T issued while this step's softmax runs.
 *
 * Inside one warp, FA2's step is a chain: Sij = Qi Kj^T (tensor cores), then the softmax (FP32 and the exp unit,
 * 16 ex2 per clock per SM), then P Vj (tensor cores). Each part waits for the one before, and only the other warps
 * on the same scheduler can fill the gaps. But S(j+1) = Qi K(j+1)^T depends on nothing of step j, so a warp can
 * issue its MMAs and then do softmax(Sij) while they run: the tensor cores and the exp unit work at the same time
 * within one warp (FlashAttention-3's intra-warpgroup overlap, here with mma.sync). This costs a second set of
 * score registers (two S tiles live), so each warp keeps 16 rows and Qi stays in registers.
 *
 * The loads move one step earlier to match: step j starts K(j+2) and V(j+1), with one barrier per step:
 *     wait -> barrier -> start K(j+2), V(j+1) -> S(j+1) = Qi K(j+1)^T | softmax(Sij) -> Oi += P Vj -> mask S(j+1)
 * The loop is unrolled by two so the two score tiles swap roles without register copies. The last step's S(j+1)
 * is computed from a stale buffer and dropped (one spare QK^T per query block) to keep the step branch-free.
 * Predicted: if the gaps between the MMA chains were the loss, up to the tensor-core bound; ~1.1-1.3x over v07.
 */
#include "tc_fa2.cuh"

namespace {

template <int D, typename T, bool CAUSAL, int NW, int BC>
struct v08 {
    static constexpr int NT = NW * 32, BR = NW * 16;
    const T *K, *V;
    T *Ks, *Vs;
    int N, jend, q0, w0, row, t, lane;   /* w0: the warp's first query; row: this thread's first */
    size_t ld;
    unsigned long long nk, nv;
    uint32_t qf[D / 16][4];
    float o[D / 8][4], mi[2], li[2];

    __device__ __forceinline__ bool needs_mask(int j) const
    {
        return j * BC + BC > N || (CAUSAL && j * BC + BC - 1 > w0);
    }

    /* One step j: Scur holds Sij (masked), Snext receives S(j+1). */
    __device__ __forceinline__ void step(float (&Scur)[BC / 8][4], float (&Snext)[BC / 8][4], int j, float sl2)
    {
        cp_async_wait<0>();                      /* K(j+1) and Vj have landed */
        __syncthreads();                         /* ... for every thread; and every warp is done with Kj, V(j-1) */
        if (j + 2 < jend)
            FL_ADD(nk, (tc_load_tile<BC, D, NT, true>(Ks + (j & 1) * BC * D, K, (j + 2) * BC, N, ld)));
        if (j + 1 < jend)
            FL_ADD(nv, (tc_load_tile<BC, D, NT, true>(Vs + ((j + 1) & 1) * BC * D, V, (j + 1) * BC, N, ld)));
        cp_async_commit();
        warp_qk<D, BC, T>(Snext, qf, Ks + ((j + 1) & 1) * BC * D, lane);   /* line 8 of step j+1 */
        float alpha[2];
        warp_softmax<BC>(Scur, mi, li, alpha, sl2);                          /* line 9 of step j */
        warp_rescale<D>(o, alpha);
        warp_pv<D, BC, T>(o, Scur, Vs + (j & 1) * BC * D, lane);            /* line 10 of step j */
        if (j + 1 < jend && needs_mask(j + 1))
            warp_mask<BC, CAUSAL>(Snext, row, (j + 1) * BC, N, t);
    }
};

template <int D, typename T, bool CAUSAL, int NW, int BC>
__global__ void __launch_bounds__(NW * 32) attn_v08_kernel(tc_kparams kp)
{
    using W = v08<D, T, CAUSAL, NW, BC>;
    constexpr int NT = W::NT, BR = W::BR;
    extern __shared__ __align__(16) unsigned char smem[];
    W w;
    T *Qs = reinterpret_cast<T *>(smem);
    w.Ks = Qs + BR * D, w.Vs = w.Ks + 2 * BC * D;                        /* K, V: two buffers each */
    const int warp = threadIdx.x / 32;
    w.lane = threadIdx.x % 32, w.t = w.lane % 4;
    const int N = kp.N, Tc = (N + BC - 1) / BC;
    const tc_head<D, T> h(kp);
    w.ld = h.ld, w.K = h.K, w.V = h.V;
    w.N = N, w.q0 = h.i * BR, w.w0 = w.q0 + warp * 16, w.row = w.w0 + w.lane / 4;
    w.jend = tc_key_blocks<CAUSAL, BR, BC>(w.q0, N, Tc);
    w.nk = w.nv = 0;
    unsigned long long nq = 0, no = 0, nl = 0;

    /* FA2 Alg.1 line 4: Qi and K0, then V0 and K1; Sij of the first step before the loop. */
    FL_ADD(nq, (tc_load_tile<BR, D, NT, true>(Qs, h.Q, w.q0, N, w.ld)));
    FL_ADD(w.nk, (tc_load_tile<BC, D, NT, true>(w.Ks, w.K, 0, N, w.ld)));
    cp_async_commit();
    FL_ADD(w.nv, (tc_load_tile<BC, D, NT, true>(w.Vs, w.V, 0, N, w.ld)));
    if (1 < w.jend)
        FL_ADD(w.nk, (tc_load_tile<BC, D, NT, true>(w.Ks + BC * D, w.K, BC, N, w.ld)));
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    warp_load_q<D, true>(w.qf, Qs, warp * 16, w.lane);
    warp_init<D>(w.o, w.mi, w.li);                                        /* line 5 */

    float sa[BC / 8][4], sb[BC / 8][4];
    warp_qk<D, BC, T>(sa, w.qf, w.Ks, w.lane);
    if (w.needs_mask(0))
        warp_mask<BC, CAUSAL>(sa, w.row, 0, N, w.t);
    for (int j = 0; j < w.jend; j += 2) {                                  /* line 6, two steps per turn */
        w.step(sa, sb, j, kp.scale_log2);
        if (j + 1 < w.jend)
            w.step(sb, sa, j + 1, kp.scale_log2);
    }

    /* Lines 12-15. */
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int row = w.row + r * 8;
        const float l = quad_sum(w.li[r]);
        if (row >= N)
            continue;
        warp_store_row<D>(h.O, kp.lse, w.ld, h.bh, N, row, w.t, r, w.o, w.mi[r], l, kp.scale, no, nl);
    }
    tc_flush_counts(kp.count, nq, w.nk, w.nv, no, nl);
}

template <int NW, int BC64, int BC128> struct v08_shape : tc_shape_base<NW, 1, BC64, BC128, 2> {
    template <int D, typename T, bool CAUSAL> static tc_kernel_fn kernel()
    {
        return attn_v08_kernel<D, T, CAUSAL, NW, tc_pick<D>(BC64, BC128)>;
    }
};

}  // namespace

TC_EXPORT(attn_v08_w4, "v08_w4", (v08_shape<4, 128, 64>))   /* Br = 64: two or three blocks per SM */
TC_EXPORT(attn_v08_w8, "v08_w8", (v08_shape<8, 128, 64>))   /* Br = 128: one block of 8 warps per SM */
