/* tc_pipeline.cuh — the kernel body of v07, v09 and v11: v06's pipelined key loop (K(j+1) lands during Sij and
 * the softmax, V(j+1) during P Vj) with NW warps of MT m-tiles of 16 rows each. Each of those versions is this body
 * with one more switch on, so its file holds the switch, the shapes it runs and why:
 *
 *   v07_tiles        MT m-tiles per warp, Bc per d, QREG (Qi in registers or re-read): shared tiles indexed by swz
 *   v09_addressing   XOR = true: ldmatrix addresses as a lane's base XOR the k-step, one-address tile copies
 *   v11_rescale      LAZY = true: Oi rescaled only when a row's maximum grows by more than 2^TAU (warp vote)
 *
 * Called from each version's __global__ kernel, which declares the dynamic shared memory (16-byte aligned for v07,
 * 1024 for v09 on) and passes it in.
 *
 * GEO says where a block works and which keys it sees: by default (tc_geo_self) one query block of one head of the
 * whole sequence, keys 0 .. N-1, masked key j > query i. Another geometry (cuda/tc/tc_chunk.cu: a query chunk against
 * one K, V chunk at global positions, ring attention's step) gives its own pointers, bounds, mask and store; the
 * versions' kernels take the default. Their PTX is what it was up to register numbering (v07, v11: the same
 * instructions; v09: four kernels lose one redundant shift, k0 = j Bc recomputed), and ptxas gives every one of
 * them, plain and counting, the registers and spills it had.
 */
#ifndef FLASHLAB_TC_PIPELINE_CUH
#define FLASHLAB_TC_PIPELINE_CUH

#include "tc_fa2.cuh"

/* The whole sequence of one head: tc_head's block, N query rows and N keys, line 6's causal range, warp_mask,
 * warp_store. What a geometry provides: Q, K, V (the head's row 0), ld, nq, nk, q0 (the block's first query row),
 * key_blocks() (line 6's range), crosses(k0, row) (may a key of block k0 be masked for query rows row.. of a warp),
 * mask(s, row, k0, t) and store(...) (lines 12-15 for one m-tile). */
template <int D, typename T, bool CAUSAL, int BR, int BC> struct tc_geo_self {
    int nq, nk, Tc;               /* first, in the order the code computed them before there were geometries */
    tc_head<D, T> h;
    const T *Q, *K, *V;
    size_t ld;
    int q0;
    float *lse;
    __device__ __forceinline__ explicit tc_geo_self(const tc_kparams &kp)
        : nq(kp.N), nk(kp.N), Tc((kp.N + BC - 1) / BC), h(kp)
    {
        Q = h.Q, K = h.K, V = h.V, ld = h.ld, q0 = h.i * BR, lse = kp.lse;
    }
    __device__ __forceinline__ int key_blocks() const { return tc_key_blocks<CAUSAL, BR, BC>(q0, nk, Tc); }
    __device__ __forceinline__ bool crosses(int k0, int row) const
    {
        return k0 + BC > nk || (CAUSAL && k0 + BC - 1 > row);
    }
    __device__ __forceinline__ void mask(float (&s)[BC / 8][4], int row, int k0, int t) const
    {
        warp_mask<BC, CAUSAL>(s, row, k0, nk, t);
    }
    __device__ __forceinline__ void store(int row0, int t, const float (&o)[D / 8][4], const float (&mi)[2],
                                          const float (&li)[2], float scale, unsigned long long &no,
                                          unsigned long long &nl) const
    {
        warp_store<D>(h.O, lse, ld, h.bh, nq, row0, t, o, mi, li, scale, no, nl);
    }
};

template <int D, typename T, bool CAUSAL, int NW, int MT, int BC, bool QREG, bool XOR, bool LAZY,
          class GEO = tc_geo_self<D, T, CAUSAL, NW * MT * 16, BC>>
__device__ __forceinline__ void fa2_pipelined_mt(const tc_kparams &kp, unsigned char *smem)
{
    constexpr int NT = NW * 32, BR = NW * MT * 16;
    constexpr uint32_t RB = D * 2;                                        /* bytes per tile row */
    constexpr float TAU = 8.0f;   /* LAZY: log2 of the largest P~ allowed before the maxima move: 256 */
    /* shared memory: Qi, then K and V with two buffers each; as pointers (indexed) or byte addresses (XOR) */
    T *Qs = nullptr, *Ks = nullptr, *Vs = nullptr;
    uint32_t sQ = 0, sK = 0, sV = 0;
    if constexpr (XOR)
        sQ = smem_u32(smem), sK = sQ + BR * RB, sV = sK + 2 * BC * RB;
    else
        Qs = reinterpret_cast<T *>(smem), Ks = Qs + BR * D, Vs = Ks + 2 * BC * D;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const GEO h(kp);
    const int q0 = h.q0, w0 = warp * MT * 16;                            /* w0: the warp's first row in Qi */
    uint32_t qbase = 0, kbase = 0, vbase = 0;
    if constexpr (XOR)
        qbase = frag_base_a<D>(sQ, w0, lane), kbase = frag_base_b<D>(sK, lane), vbase = frag_base_bt<D>(sV, lane);
    const int jend = h.key_blocks();
    unsigned long long nq = 0, nk = 0, nv = 0, no = 0, nl = 0;
    /* Qi's A-fragment of m-tile mt, k-step kk, from shared memory */
    auto ldsm_q = [&](uint32_t (&a)[4], int mt, int kk) {
        if constexpr (XOR)
            ldsm_x4(a, (qbase ^ (kk << 5)) + mt * 16 * RB);
        else
            ldsm_x4(a, smem_u32(Qs + swz<D>(w0 + mt * 16 + (lane & 15), kk * 2 + (lane >> 4))));
    };

    /* FA2 Alg.1 line 4: load Qi (with K0: one group), then V0. */
    if constexpr (XOR) {
        FL_ADD(nq, (tc_load_tile_fast<BR, D, NT>(sQ, h.Q, q0, h.nq, h.ld)));
        FL_ADD(nk, (tc_load_tile_fast<BC, D, NT>(sK, h.K, 0, h.nk, h.ld)));
    } else {
        FL_ADD(nq, (tc_load_tile<BR, D, NT, true>(Qs, h.Q, q0, h.nq, h.ld)));
        FL_ADD(nk, (tc_load_tile<BC, D, NT, true>(Ks, h.K, 0, h.nk, h.ld)));
    }
    cp_async_commit();
    if constexpr (XOR)
        FL_ADD(nv, (tc_load_tile_fast<BC, D, NT>(sV, h.V, 0, h.nk, h.ld)));
    else
        FL_ADD(nv, (tc_load_tile<BC, D, NT, true>(Vs, h.V, 0, h.nk, h.ld)));
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    uint32_t qf[QREG ? MT : 1][QREG ? D / 16 : 1][4];
    if (QREG)
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int kk = 0; kk < D / 16; kk++)
                ldsm_q(qf[QREG ? mt : 0][QREG ? kk : 0], mt, kk);

    /* Line 5: Oi = 0, li = 0, mi = -inf; per m-tile, rows g and g+8. */
    float o[MT][D / 8][4], mi[MT][2], li[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
        warp_init<D>(o[mt], mi[mt], li[mt]);

    for (int j = 0; j < jend; j++) {                                      /* line 6 */
        const int k0 = j * BC;
        const T *Kj = nullptr, *Vj = nullptr;
        uint32_t kj = 0, vj = 0;
        if constexpr (XOR)
            kj = kbase + (j & 1) * BC * RB, vj = vbase + (j & 1) * BC * RB;
        else
            Kj = Ks + (j & 1) * BC * D, Vj = Vs + (j & 1) * BC * D;
        cp_async_wait<1>();                                               /* line 7: Kj has landed */
        __syncthreads();
        if (j + 1 < jend) {
            if constexpr (XOR)
                FL_ADD(nk, (tc_load_tile_fast<BC, D, NT>(sK + ((j + 1) & 1) * BC * RB, h.K, k0 + BC, h.nk, h.ld)));
            else
                FL_ADD(nk, (tc_load_tile<BC, D, NT, true>(Ks + ((j + 1) & 1) * BC * D, h.K, k0 + BC, h.nk, h.ld)));
        }
        cp_async_commit();

        /* Line 8: Sij = Qi Kj^T. */
        float s[MT][BC / 8][4];
        if constexpr (XOR && !QREG)
            warp_qk_xor<D, BC, T, MT>(s, qbase, kj);
        else
            warp_qk_mt<D, BC, T, MT>(
                s,
                [&](uint32_t (&a)[4], int mt, int kk) {
                    if (QREG)
#pragma unroll
                        for (int x = 0; x < 4; x++)
                            a[x] = qf[QREG ? mt : 0][QREG ? kk : 0][x];
                    else
                        ldsm_q(a, mt, kk);
                },
                [&](uint32_t (&b)[4], int n, int kk) {
                    if constexpr (XOR)
                        ldsm_x4(b, (kj ^ (kk << 5)) + n * 16 * RB);
                    else
                        ldsm_x4(b, smem_u32(Kj + swz<D>(n * 16 + (lane & 7) + ((lane >> 4) << 3), kk * 2 + ((lane >> 3) & 1))));
                });
        if (h.crosses(k0, q0 + w0))                                      /* this warp's rows cross the diagonal */
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
                h.mask(s[mt], q0 + w0 + mt * 16 + g, k0, t);

        if constexpr (LAZY) {
            /* Line 9 with a lazy maximum: mi moves (and Oi, li are rescaled, line 10) only when some row of the
             * warp would otherwise see P~ above 2^TAU. */
            warp_rescale_lazy<D, BC, MT>(s, mi, li, o, kp.scale_log2, TAU);
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                float msub[2];
                warp_exp_shift(mi[mt], kp.scale_log2, msub);
#pragma unroll
                for (int n = 0; n < BC / 8; n++) {
                    s[mt][n][0] = fast_exp2(fmaf(s[mt][n][0], kp.scale_log2, -msub[0]));
                    s[mt][n][1] = fast_exp2(fmaf(s[mt][n][1], kp.scale_log2, -msub[0]));
                    s[mt][n][2] = fast_exp2(fmaf(s[mt][n][2], kp.scale_log2, -msub[1]));
                    s[mt][n][3] = fast_exp2(fmaf(s[mt][n][3], kp.scale_log2, -msub[1]));
                    li[mt][0] += s[mt][n][0] + s[mt][n][1];
                    li[mt][1] += s[mt][n][2] + s[mt][n][3];
                }
            }
        } else {
            /* Line 9: online softmax, as in v04; Oi rescaled per m-tile (line 10). */
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                float alpha[2];
                warp_softmax<BC>(s[mt], mi[mt], li[mt], alpha, kp.scale_log2);
                warp_rescale<D>(o[mt], alpha);
            }
        }

        cp_async_wait<1>();                                               /* Vj has landed */
        __syncthreads();
        if (j + 1 < jend) {
            if constexpr (XOR)
                FL_ADD(nv, (tc_load_tile_fast<BC, D, NT>(sV + ((j + 1) & 1) * BC * RB, h.V, k0 + BC, h.nk, h.ld)));
            else
                FL_ADD(nv, (tc_load_tile<BC, D, NT, true>(Vs + ((j + 1) & 1) * BC * D, h.V, k0 + BC, h.nk, h.ld)));
        }
        cp_async_commit();

        /* Line 10: Oi += P~ij Vj. */
        if constexpr (XOR)
            warp_pv_xor<D, BC, T, MT>(o, s, vj);
        else
            warp_pv_mt<D, BC, T, MT>(o, s, [&](uint32_t (&b)[4], int kk, int dn) {
                ldsm_x4_t(b, smem_u32(Vj + swz<D>(kk * 16 + (lane & 7) + (((lane >> 3) & 1) << 3), dn * 2 + (lane >> 4))));
            });
    }

#pragma unroll
    for (int mt = 0; mt < MT; mt++)                                       /* lines 12-15 */
        h.store(q0 + w0 + mt * 16 + g, t, o[mt], mi[mt], li[mt], kp.scale, no, nl);
    tc_flush_counts(kp.count, nq, nk, nv, no, nl);
}

/* A version's __global__ kernel over this body: TC_PIPELINE_KERNEL(attn_v09_kernel, 1024, true, false) defines
 * attn_v09_kernel<D, T, CAUSAL, NW, MT, BC, QREG> with its shared memory aligned to ALIGN bytes. */
#define TC_PIPELINE_KERNEL(name, ALIGN, XOR, LAZY)                                                            \
    template <int D, typename T, bool CAUSAL, int NW, int MT, int BC, bool QREG>                              \
    __global__ void __launch_bounds__(NW * 32) name(tc_kparams kp)                                            \
    {                                                                                                         \
        extern __shared__ __align__(ALIGN) unsigned char smem[];                                              \
        fa2_pipelined_mt<D, T, CAUSAL, NW, MT, BC, QREG, XOR, LAZY>(kp, smem);                                \
    }

#endif
