/* attn_v10_overlap2.cu — v08's overlap (next step's Qi Kj^T under this step's softmax) on v09's 32-row warps.
 *
 * v08 overlapped the tensor cores with the exp unit inside each warp, but its warps had 16 rows, so every warp read
 * all of Kj and Vj from shared memory for only 16 rows: 256 bytes of ldmatrix per MMA, more than the SM's 128 bytes
 * per clock can feed at the tensor cores' rate (0.6 MMA per clock per SM, tc_peak). v09's warps own 32 rows (MT = 2,
 * each fragment used twice) but run their step as a chain. Here both: a warp of 32 rows holds two score tiles, so
 * the key block shrinks to fit the registers (Oi is 2 x d/8 x 4 floats per thread): Bc = 64 for d = 64, Bc = 32
 * for d = 128. Loads, barrier and masking as in v08; addresses as in v09.
 * Predicted: d = 64 (exp-heavy: 16 ex2/clock/SM against 0.6 MMA/clock) gains most, toward ~1.1x v09; d = 128
 * pays for Bc = 32 (twice the steps, Q re-read per step) and may not gain.
 */
#include "tc_fa2.cuh"

namespace {

template <int D, typename T, bool CAUSAL, int NW, int MT, int BC>
struct v10 {
    static constexpr int NT = NW * 32, BR = NW * MT * 16;
    static constexpr uint32_t RB = D * 2;
    const T *K, *V;
    uint32_t sK, sV, qbase, kbase, vbase;
    int N, jend, w0, row, t;                 /* w0: the warp's first query; row: this thread's first (m-tile 0) */
    size_t ld;
    unsigned long long nk, nv;
    float o[MT][D / 8][4], mi[MT][2], li[MT][2];

    __device__ __forceinline__ bool needs_mask(int j) const
    {
        return j * BC + BC > N || (CAUSAL && j * BC + BC - 1 > w0);
    }

    /* Line 8: S = Qi Kj^T for the warp's MT m-tiles. */
    __device__ __forceinline__ void qk(float (&s)[MT][BC / 8][4], uint32_t kj) const
    {
        warp_qk_xor<D, BC, T, MT>(s, qbase, kj);
    }

    __device__ __forceinline__ void mask(float (&s)[MT][BC / 8][4], int k0) const
    {
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
            warp_mask<BC, CAUSAL>(s[mt], row + mt * 16, k0, N, t);
    }

    /* Line 9 and the rescale of line 10: s becomes P~ij. */
    __device__ __forceinline__ void softmax(float (&s)[MT][BC / 8][4], float sl2)
    {
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            float alpha[2];
            warp_softmax<BC>(s[mt], mi[mt], li[mt], alpha, sl2);
            warp_rescale<D>(o[mt], alpha);
        }
    }

    /* Line 10: Oi += P~ij Vj, P from the score registers. */
    __device__ __forceinline__ void pv(const float (&s)[MT][BC / 8][4], uint32_t vj)
    {
        warp_pv_xor<D, BC, T, MT>(o, s, vj);
    }

    /* Step j: Scur holds Sij (masked); Snext receives S(j+1). One barrier; K(j+2) and V(j+1) start here. */
    __device__ __forceinline__ void step(float (&Scur)[MT][BC / 8][4], float (&Snext)[MT][BC / 8][4], int j, float sl2)
    {
        cp_async_wait<0>();
        __syncthreads();
        if (j + 2 < jend)
            FL_ADD(nk, (tc_load_tile_fast<BC, D, NT>(sK + (j & 1) * BC * RB, K, (j + 2) * BC, N, ld)));
        if (j + 1 < jend)
            FL_ADD(nv, (tc_load_tile_fast<BC, D, NT>(sV + ((j + 1) & 1) * BC * RB, V, (j + 1) * BC, N, ld)));
        cp_async_commit();
        qk(Snext, kbase + ((j + 1) & 1) * BC * RB);   /* of step j+1: stale data on the last step, dropped */
        softmax(Scur, sl2);
        pv(Scur, vbase + (j & 1) * BC * RB);
        if (j + 1 < jend && needs_mask(j + 1))
            mask(Snext, (j + 1) * BC);
    }
};

template <int D, typename T, bool CAUSAL, int NW, int MT, int BC>
__global__ void __launch_bounds__(NW * 32) attn_v10_kernel(tc_kparams kp)
{
    using W = v10<D, T, CAUSAL, NW, MT, BC>;
    constexpr int NT = W::NT, BR = W::BR;
    constexpr uint32_t RB = W::RB;
    extern __shared__ __align__(1024) unsigned char smem[];
    W w;
    const uint32_t sQ = smem_u32(smem);
    w.sK = sQ + BR * RB, w.sV = w.sK + 2 * BC * RB;                      /* K, V: two buffers each */
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    w.t = lane % 4;
    const int N = kp.N, Tc = (N + BC - 1) / BC;
    const tc_head<D, T> h(kp);
    w.ld = h.ld, w.K = h.K, w.V = h.V;
    const int q0 = h.i * BR;
    w.N = N, w.w0 = q0 + warp * MT * 16, w.row = w.w0 + lane / 4;
    w.jend = tc_key_blocks<CAUSAL, BR, BC>(q0, N, Tc);
    w.qbase = frag_base_a<D>(sQ, warp * MT * 16, lane);
    w.kbase = frag_base_b<D>(w.sK, lane);
    w.vbase = frag_base_bt<D>(w.sV, lane);
    w.nk = w.nv = 0;
    unsigned long long nq = 0, no = 0, nl = 0;

    /* FA2 Alg.1 line 4: Qi and K0, then V0 and K1; Sij of the first step before the loop. */
    FL_ADD(nq, (tc_load_tile_fast<BR, D, NT>(sQ, h.Q, q0, N, w.ld)));
    FL_ADD(w.nk, (tc_load_tile_fast<BC, D, NT>(w.sK, w.K, 0, N, w.ld)));
    cp_async_commit();
    FL_ADD(w.nv, (tc_load_tile_fast<BC, D, NT>(w.sV, w.V, 0, N, w.ld)));
    if (1 < w.jend)
        FL_ADD(w.nk, (tc_load_tile_fast<BC, D, NT>(w.sK + BC * RB, w.K, BC, N, w.ld)));
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
#pragma unroll
    for (int mt = 0; mt < MT; mt++)                                       /* line 5 */
        warp_init<D>(w.o[mt], w.mi[mt], w.li[mt]);
    float sa[MT][BC / 8][4], sb[MT][BC / 8][4];
    w.qk(sa, w.kbase);
    if (w.needs_mask(0))
        w.mask(sa, 0);
    for (int j = 0; j < w.jend; j += 2) {                                  /* line 6, two steps per turn */
        w.step(sa, sb, j, kp.scale_log2);
        if (j + 1 < w.jend)
            w.step(sb, sa, j + 1, kp.scale_log2);
    }

    /* Lines 12-15. */
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int row = w.row + mt * 16 + r * 8;
            const float l = quad_sum(w.li[mt][r]);
            if (row >= N)
                continue;
            warp_store_row<D>(h.O, kp.lse, w.ld, h.bh, N, row, w.t, r, w.o[mt], w.mi[mt][r], l, kp.scale, no, nl);
        }
    tc_flush_counts(kp.count, nq, w.nk, w.nv, no, nl);
}

template <int NW, int MT, int BC64, int BC128> struct v10_shape : tc_shape_base<NW, MT, BC64, BC128, 2> {
    template <int D, typename T, bool CAUSAL> static tc_kernel_fn kernel()
    {
        return attn_v10_kernel<D, T, CAUSAL, NW, MT, tc_pick<D>(BC64, BC128)>;
    }
};

}  // namespace

TC_EXPORT(attn_v10, "v10_overlap2", (v10_shape<4, 2, 64, 32>))   /* 4 warps x 32 rows (Br = 128), Bc = 64 / 32 */
TC_EXPORT(attn_v10_w8, "v10_w8", (v10_shape<8, 2, 64, 32>))      /* 8 warps x 32 rows (Br = 256): one block per SM */
