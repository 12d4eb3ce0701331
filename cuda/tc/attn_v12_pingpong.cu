/* attn_v12_pingpong.cu — two warpgroups take turns on the tensor cores (FlashAttention-3's ping-pong, on mma.sync).
 *
 * Nsight Compute on v11 (d = 128, N = 4096): tensor pipe 56% busy, 2 warps per scheduler, and in 61% of cycles no
 * warp ready to issue, mostly waiting on a fixed-latency dependency. Each warp runs its step as a chain (S = QK^T,
 * softmax with 16 ex2 per clock per SM, P V), and the barriers of a block keep its 4 warps in step, so the two
 * warps on a scheduler often do their softmax at the same time while the tensor cores idle.
 *
 * Here a block holds two warpgroups (WG 0, 1) of 4 warps x 32 rows, each exactly a v11 block of Br = 128 rows with
 * its own Qi, its own Kj/Vj buffers and loads. Two named barriers make them alternate: a warpgroup waits for its
 * turn, issues its matrix products (P V of the previous step, then S = Qi Kj^T of this step), hands the turn over,
 * and does its softmax while the other warpgroup's products run. Each scheduler holds one warp of each, so its
 * tensor pipe is fed by one while the other's exp and FP32 work runs.
 *   phase p of WG g:  wait Kp, V(p-1) -> bar.sync(turn g) -> start K(p+1), Vp -> O += P(p-1) V(p-1); S = Qi Kp^T
 *                     -> bar.arrive(turn 1-g) -> mask S, softmax -> P(p) (fp16/bf16 registers), rescale O (v11)
 * bar.sync(turn g) also serves as WG g's own barrier (its 128 threads all arrive). Both warpgroups run the same
 * number of phases (the larger count; the other one's extra phases only pass the turn), so the arrivals match.
 * The ledger is the simulator's flash2 with Br = 128 (each warpgroup is one query block).
 * Predicted: toward the tensor-core bound: up to ~1.3x v11 if the products of one warpgroup cover the softmax of
 * the other (at d = 128 a step's 256 MMAs take ~1700 clocks, its 64 ex2 per thread ~500).
 */
#include "tc_fa2.cuh"

namespace {

constexpr float TAU = 8.0f;   /* v11's lazy rescale: log2 of the largest P~ before the maxima move */
constexpr int MT = 2, WGW = 4, NTW = WGW * 32, BRW = WGW * MT * 16;   /* per warpgroup: 4 warps x 32 rows = 128 */

template <int D, typename T, bool CAUSAL, int BC>
__global__ void __launch_bounds__(2 * NTW, 1) attn_v12_kernel(tc_kparams kp)
{
    constexpr uint32_t RB = D * 2;
    constexpr uint32_t QB = BRW * RB, KB = BC * RB;                      /* bytes: Qi of a warpgroup, one K or V */
    extern __shared__ __align__(1024) unsigned char smem[];
    const int wg = threadIdx.x / NTW, warp = (threadIdx.x % NTW) / 32, lane = threadIdx.x % 32, t = lane % 4;
    const int tid = threadIdx.x % NTW;                                   /* thread index within the warpgroup */
    /* per warpgroup: Qi, K x 2, V x 2 */
    const uint32_t sQ = smem_u32(smem) + wg * (QB + 4 * KB), sK = sQ + QB, sV = sK + 2 * KB;
    const int N = kp.N, Tc = (N + BC - 1) / BC;
    const tc_head<D, T> h(kp);
    const int i = h.i;
    const size_t ld = h.ld;
    const int q0 = i * 2 * BRW + wg * BRW;                               /* this warpgroup's query block */
    const int w0 = q0 + warp * MT * 16, row = w0 + lane / 4;            /* the warp's first query, the thread's */
    /* key blocks this warpgroup visits (none if its rows all lie past N), and the phases both run */
    const int last = min(q0 + BRW, N) - 1;
    const int jend = q0 >= N ? 0 : CAUSAL ? min(Tc, last / BC + 1) : Tc;
    const int last1 = min(i * 2 * BRW + 2 * BRW, N) - 1;                 /* the block's last row: WG 1 or WG 0 */
    const int nphase = (CAUSAL ? min(Tc, last1 / BC + 1) : Tc) + 1;
    const uint32_t qbase = frag_base_a<D>(sQ, warp * MT * 16, lane), kbase = frag_base_b<D>(sK, lane),
                   vbase = frag_base_bt<D>(sV, lane);
    unsigned long long nq = 0, nk = 0, nv = 0, no = 0, nl = 0;

    /* FA2 Alg.1 line 4: Qi and K0. Line 5: Oi = 0, li = 0, mi = -inf. */
    FL_ADD(nq, (tc_load_tile_fast<BRW, D, NTW>(sQ, h.Q, q0, N, ld, tid)));   /* each warpgroup copies its own tiles */
    if (jend > 0)
        FL_ADD(nk, (tc_load_tile_fast<BC, D, NTW>(sK, h.K, 0, N, ld, tid)));
    cp_async_commit();
    float o[MT][D / 8][4], mi[MT][2], li[MT][2];
    uint32_t P[MT][BC / 16][4];                                          /* P~ of the previous step, packed */
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
        warp_init<D>(o[mt], mi[mt], li[mt]);
    const int turn = 1 + wg, other = 2 - wg;                              /* named barriers 1 and 2 */
    if (wg == 1)
        bar_arrive(1, 2 * NTW);                                           /* WG 0 goes first */

    for (int p = 0; p < nphase; p++) {
        cp_async_wait<0>();                                               /* Kp, V(p-1) have landed (own copies) */
        bar_sync(turn, 2 * NTW);                                          /* my turn; my warpgroup is past p-1 */
        if (p + 1 < jend)
            FL_ADD(nk, (tc_load_tile_fast<BC, D, NTW>(sK + ((p + 1) & 1) * KB, h.K, (p + 1) * BC, N, ld, tid)));
        if (p < jend)
            FL_ADD(nv, (tc_load_tile_fast<BC, D, NTW>(sV + (p & 1) * KB, h.V, p * BC, N, ld, tid)));
        cp_async_commit();

        /* Line 10 of step p-1: Oi += P~ V(p-1). */
        if (p >= 1 && p - 1 < jend) {
            const uint32_t vj = vbase + ((p - 1) & 1) * KB;
#pragma unroll
            for (int kk = 0; kk < BC / 16; kk++)
#pragma unroll
                for (int dn = 0; dn < D / 16; dn++) {
                    uint32_t vb[4];
                    ldsm_x4_t(vb, (vj ^ (dn << 5)) + kk * 16 * RB);
#pragma unroll
                    for (int mt = 0; mt < MT; mt++) {
                        mma_16816<T>(o[mt][2 * dn], P[mt][kk], vb[0], vb[1]);
                        mma_16816<T>(o[mt][2 * dn + 1], P[mt][kk], vb[2], vb[3]);
                    }
                }
        }
        /* Line 8 of step p: Sij = Qi Kp^T. */
        float s[MT][BC / 8][4];
        const bool work = p < jend;
        if (work)
            warp_qk_xor<D, BC, T, MT, /*ZERO_FIRST=*/true>(s, qbase, kbase + (p & 1) * KB);
        if (wg == 0 || p + 1 < nphase)
            bar_arrive(other, 2 * NTW);                                   /* the other warpgroup's turn */
        if (!work)
            continue;

        const int k0 = p * BC;
        if (k0 + BC > N || (CAUSAL && k0 + BC - 1 > w0))
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
                warp_mask<BC, CAUSAL>(s[mt], row + mt * 16, k0, N, t);
        /* Line 9, v11's lazy maximum; the rescale of line 10 before the next P V. */
        warp_rescale_lazy<D, BC, MT>(s, mi, li, o, kp.scale_log2, TAU);
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            float msub[2];
            warp_exp_shift(mi[mt], kp.scale_log2, msub);
#pragma unroll
            for (int n = 0; n < BC / 8; n++) {
                float p0 = fast_exp2(fmaf(s[mt][n][0], kp.scale_log2, -msub[0]));
                float p1 = fast_exp2(fmaf(s[mt][n][1], kp.scale_log2, -msub[0]));
                float p2 = fast_exp2(fmaf(s[mt][n][2], kp.scale_log2, -msub[1]));
                float p3 = fast_exp2(fmaf(s[mt][n][3], kp.scale_log2, -msub[1]));
                li[mt][0] += p0 + p1;
                li[mt][1] += p2 + p3;
                /* n-tiles 2kk, 2kk+1 of S are the A-fragment kk of P (tc_common.cuh) */
                P[mt][n / 2][(n & 1) * 2 + 0] = pack2<T>(p0, p1);
                P[mt][n / 2][(n & 1) * 2 + 1] = pack2<T>(p2, p3);
            }
        }
    }

#pragma unroll
    for (int mt = 0; mt < MT; mt++)                                       /* lines 12-15 */
        warp_store<D>(h.O, kp.lse, ld, h.bh, N, row + mt * 16, t, o[mt], mi[mt], li[mt], kp.scale, no, nl);
    tc_flush_counts(kp.count, nq, nk, nv, no, nl);
}

/* The grid walks blocks of 2 x 128 rows (two warpgroups); the ledger's blocks are each warpgroup's 128 rows. */
template <int BC64, int BC128> struct v12_shape : tc_shape_base<2 * WGW, MT, BC64, BC128, 2> {
    static constexpr int br = BRW;
    template <int D, typename T> static size_t smem()   /* each warpgroup: Qi, K x 2, V x 2 */
    {
        return 2 * (size_t)(br + 4 * tc_pick<D>(BC64, BC128)) * D * sizeof(T);
    }
    template <int D, typename T, bool CAUSAL> static tc_kernel_fn kernel()
    {
        return attn_v12_kernel<D, T, CAUSAL, tc_pick<D>(BC64, BC128)>;
    }
};

}  // namespace

TC_EXPORT(attn_v12, "v12_pingpong", (v12_shape<64, 64>))
