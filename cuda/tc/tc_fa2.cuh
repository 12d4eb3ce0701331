/* tc_fa2.cuh — FlashAttention-2's forward (Dao 2023, Algorithm 1) in pieces of one warp's m-tile (16 query rows),
 * shared by every tensor-core version from v04 on. A version file (attn_vNN_*.cu) keeps its own schedule (which
 * copies, barriers and products happen in which order: the step it teaches) and calls these for the rest:
 *
 *   tc_head<D, T> h(kp)                              where a block works: query block h.i (heaviest first), head bh
 *   tc_key_blocks<CAUSAL, BR, BC>(q0, N, Tc)         line 6's range: causal stops after the diagonal block
 *   warp_init<D>(o, mi, li)                          line 5: Oi = 0, li = 0, mi = -inf
 *   warp_load_q<D, SWZ>(qf, Qs, r0, lane)            line 4: Qi's rows r0.. as A-fragments in registers
 *   warp_qk<D, BC, T, SWZ>(s, qf, Kj, lane)          line 8: s = Qi Kj^T (16 rows)
 *   warp_mask<BC, CAUSAL>(s, row, k0, N, t)          -inf where a key is past N or after the query (causal)
 *   warp_softmax<BC>(s, mi, li, alpha, scale_log2)   line 9: s becomes P~ij; alpha for line 10's rescale
 *   warp_rescale<D>(o, alpha)                        line 10's rescale of Oi
 *   warp_rescale_lazy<D, BC, MT>(s, mi, li, o, ...)  v11's line 9: mi moves only when a row's max grows > 2^tau
 *   warp_pv<D, BC, T, SWZ>(o, s, Vj, lane)           line 10: o += P~ij Vj, P straight from the S registers
 *   warp_qk_mt, warp_pv_mt<D, BC, T, MT>             the same for MT m-tiles, fragments from a loader;
 *   warp_qk_xor, warp_pv_xor                         with v09's XOR addressing
 *   warp_exp_shift(mi, scale_log2, msub)             what the exponentials subtract after the lazy rescale
 *   warp_store<D>(O, lse, ...), warp_store_row       lines 12-15 for an m-tile, a row: O = o / l, L = m + log l
 *   tc_flush_counts(kp.count, nq, nk, nv, no, nl)    the counting twin's counters (cuda/common/fl_count.cuh)
 *
 * A thread holds rows g = lane / 4 and g + 8 of an m-tile and the columns 2t, 2t+1 (+8k) of t = lane % 4 (the
 * m16n8k16 C-fragment, tc_common.cuh). Each piece takes its indices as arguments and reads no thread index from
 * a struct, so that inlined it is the code it replaced: moving these here left the PTX of most kernels identical
 * and their registers and spills as measured (cuda/README.md says where they differ).
 */
#ifndef FLASHLAB_TC_FA2_CUH
#define FLASHLAB_TC_FA2_CUH

#include "tc_common.cuh"

/* One block per (query block i, batch b, head h), i fastest and counted down: the causal blocks with the most key
 * blocks start first. (B, N, H, d): head (b, h) starts at (b N H + h) d and its rows are ld = H d apart. */
template <int D, typename T> struct tc_head {
    int i, bh;
    size_t ld;
    const T *Q, *K, *V;
    T *O;
    __device__ __forceinline__ explicit tc_head(const tc_kparams &kp)
    {
        i = kp.Tr - 1 - (int)(blockIdx.x % kp.Tr), bh = (int)(blockIdx.x / kp.Tr);
        ld = (size_t)kp.H * D;
        const size_t head = ((size_t)(bh / kp.H) * kp.N * kp.H + bh % kp.H) * D;
        Q = (const T *)kp.q + head, K = (const T *)kp.k + head, V = (const T *)kp.v + head;
        O = (T *)kp.o + head;
    }
};

/* Line 6's range for query rows q0 .. q0+BR-1: all Tc = ceil(N / BC) key blocks, or (causal) up to the block of
 * the last row. */
template <bool CAUSAL, int BR, int BC> __device__ __forceinline__ int tc_key_blocks(int q0, int N, int Tc)
{
    return CAUSAL ? min(Tc, (min(q0 + BR, N) - 1) / BC + 1) : Tc;
}

/* Line 5 for one m-tile: Oi = 0, li = 0, mi = -inf (rows g and g+8). */
template <int D> __device__ __forceinline__ void warp_init(float (&o)[D / 8][4], float (&mi)[2], float (&li)[2])
{
    mi[0] = mi[1] = -INFINITY;
    li[0] = li[1] = 0;
#pragma unroll
    for (int n = 0; n < D / 8; n++)
        o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0;
}

/* ---- tiles indexed row by row: plain (v04) or swizzled (v05 on) ---------------------------------------------------- */
template <int D, bool SWZ> __device__ __forceinline__ int tile_at(int r, int c) { return SWZ ? swz<D>(r, c) : plain<D>(r, c); }

/* Line 4: Qi's rows r0 .. r0+15 as A-fragments (D/16 of them), kept in registers. */
template <int D, bool SWZ, typename T>
__device__ __forceinline__ void warp_load_q(uint32_t (&qf)[D / 16][4], const T *Qs, int r0, int lane)
{
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++)
        ldsm_x4(qf[kk], smem_u32(Qs + tile_at<D, SWZ>(r0 + (lane & 15), kk * 2 + (lane >> 4))));
}

/* Line 8: s = Qi Kj^T for 16 rows (the softmax scale is folded into the exponent). One ldmatrix.x4 gives the
 * B-fragments of 16 keys x 16 dims: two n-tiles of 8 keys. */
template <int D, int BC, typename T, bool SWZ = true>
__device__ __forceinline__ void warp_qk(float (&s)[BC / 8][4], const uint32_t (&qf)[D / 16][4], const T *Kj, int lane)
{
#pragma unroll
    for (int n = 0; n < BC / 8; n++)
        s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0;
#pragma unroll
    for (int n = 0; n < BC / 16; n++)
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            uint32_t kb[4];
            ldsm_x4(kb, smem_u32(Kj + tile_at<D, SWZ>(n * 16 + (lane & 7) + ((lane >> 4) << 3),
                                                       kk * 2 + ((lane >> 3) & 1))));
            mma_16816<T>(s[2 * n], qf[kk], kb[0], kb[1]);
            mma_16816<T>(s[2 * n + 1], qf[kk], kb[2], kb[3]);
        }
}

/* Line 10: o += P~ij Vj. The C-fragments of n-tiles 2kk and 2kk+1 are the A-fragment of keys 16kk..16kk+15 (P
 * never touches shared memory); Vj's B-fragments come from ldmatrix.trans. */
template <int D, int BC, typename T, bool SWZ = true>
__device__ __forceinline__ void warp_pv(float (&o)[D / 8][4], const float (&s)[BC / 8][4], const T *Vj, int lane)
{
#pragma unroll
    for (int kk = 0; kk < BC / 16; kk++) {
        uint32_t pa[4] = {pack2<T>(s[2 * kk][0], s[2 * kk][1]), pack2<T>(s[2 * kk][2], s[2 * kk][3]),
                          pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                          pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
        for (int dn = 0; dn < D / 16; dn++) {
            uint32_t vb[4];
            ldsm_x4_t(vb, smem_u32(Vj + tile_at<D, SWZ>(kk * 16 + (lane & 7) + (((lane >> 3) & 1) << 3),
                                                         dn * 2 + (lane >> 4))));
            mma_16816<T>(o[2 * dn], pa, vb[0], vb[1]);
            mma_16816<T>(o[2 * dn + 1], pa, vb[2], vb[3]);
        }
    }
}

/* ---- the two products for MT m-tiles (v07 on): each K or V fragment serves all MT m-tiles of the warp ------------- */
/* Line 8: s = Qi Kj^T. qa_at(a, mt, kk): Qi's A-fragment of m-tile mt, k-step kk; kb_at(b, n, kk): Kj's B-fragments
 * of keys 16n..16n+15. ZERO_FIRST (v12): the first k-step writes s without reading it (mma_16816_z), instead of
 * zeroing s first. */
template <int D, int BC, typename T, int MT, bool ZERO_FIRST = false, class QA, class KB>
__device__ __forceinline__ void warp_qk_mt(float (&s)[MT][BC / 8][4], QA qa_at, KB kb_at)
{
    if (!ZERO_FIRST)
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int n = 0; n < BC / 8; n++)
                s[mt][n][0] = s[mt][n][1] = s[mt][n][2] = s[mt][n][3] = 0;
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
        uint32_t qa[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
            qa_at(qa[mt], mt, kk);
#pragma unroll
        for (int n = 0; n < BC / 16; n++) {
            uint32_t kb[4];
            kb_at(kb, n, kk);
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                if (ZERO_FIRST && kk == 0) {
                    mma_16816_z<T>(s[mt][2 * n], qa[mt], kb[0], kb[1]);
                    mma_16816_z<T>(s[mt][2 * n + 1], qa[mt], kb[2], kb[3]);
                } else {
                    mma_16816<T>(s[mt][2 * n], qa[mt], kb[0], kb[1]);
                    mma_16816<T>(s[mt][2 * n + 1], qa[mt], kb[2], kb[3]);
                }
            }
        }
    }
}

/* Line 10: o += P~ij Vj, P from the score registers; vb_at(b, kk, dn): Vj's B-fragments (.trans) of keys 16kk..,
 * dims 16dn.. */
template <int D, int BC, typename T, int MT, class VB>
__device__ __forceinline__ void warp_pv_mt(float (&o)[MT][D / 8][4], const float (&s)[MT][BC / 8][4], VB vb_at)
{
#pragma unroll
    for (int kk = 0; kk < BC / 16; kk++) {
        uint32_t pa[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            pa[mt][0] = pack2<T>(s[mt][2 * kk][0], s[mt][2 * kk][1]);
            pa[mt][1] = pack2<T>(s[mt][2 * kk][2], s[mt][2 * kk][3]);
            pa[mt][2] = pack2<T>(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
            pa[mt][3] = pack2<T>(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
        }
#pragma unroll
        for (int dn = 0; dn < D / 16; dn++) {
            uint32_t vb[4];
            vb_at(vb, kk, dn);
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                mma_16816<T>(o[mt][2 * dn], pa[mt], vb[0], vb[1]);
                mma_16816<T>(o[mt][2 * dn + 1], pa[mt], vb[2], vb[3]);
            }
        }
    }
}

/* v09's addressing: a lane's ldmatrix address for k-step kk is its k-step-0 address XOR (kk << 5), 16 rows on is
 * + an immediate (frag_base_*, tc_common.cuh). qbase: frag_base_a of the warp's rows (Qi re-read from shared
 * memory), kj, vj: frag_base_b and frag_base_bt of the buffers holding Kj, Vj. */
template <int D, int BC, typename T, int MT, bool ZERO_FIRST = false>
__device__ __forceinline__ void warp_qk_xor(float (&s)[MT][BC / 8][4], uint32_t qbase, uint32_t kj)
{
    constexpr uint32_t RB = D * 2;   /* bytes per tile row */
    warp_qk_mt<D, BC, T, MT, ZERO_FIRST>(
        s, [=](uint32_t (&a)[4], int mt, int kk) { ldsm_x4(a, (qbase ^ (kk << 5)) + mt * 16 * RB); },
        [=](uint32_t (&b)[4], int n, int kk) { ldsm_x4(b, (kj ^ (kk << 5)) + n * 16 * RB); });
}
template <int D, int BC, typename T, int MT>
__device__ __forceinline__ void warp_pv_xor(float (&o)[MT][D / 8][4], const float (&s)[MT][BC / 8][4], uint32_t vj)
{
    constexpr uint32_t RB = D * 2;
    warp_pv_mt<D, BC, T, MT>(o, s, [=](uint32_t (&b)[4], int kk, int dn) { ldsm_x4_t(b, (vj ^ (dn << 5)) + kk * 16 * RB); });
}

/* ---- the row statistics ---------------------------------------------------------------------------------------- */
/* row: the query of this thread's first row (the second is row + 8); k0: the tile's first key. Only tiles that
 * cross the diagonal or hold keys past N need it. */
template <int BC, bool CAUSAL>
__device__ __forceinline__ void warp_mask(float (&s)[BC / 8][4], int row, int k0, int N, int t)
{
#pragma unroll
    for (int n = 0; n < BC / 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int col = k0 + n * 8 + 2 * t + (e & 1);
            if (col >= N || (CAUSAL && col > row + (e >> 1) * 8))
                s[n][e] = -INFINITY;
        }
}

/* Line 9: m_new = max(mi, rowmax Sij); P~ij = exp(scale (Sij - m_new)); li = e^(mi - m_new) li + rowsum P~ij, and
 * alpha = e^(mi - m_new) for line 10's rescale of Oi (warp_rescale). exp(scale x) = 2^(x scale log2 e): one FFMA
 * and one ex2 per score. A max of -inf (a row with no key yet) subtracts 0 instead, so -inf - -inf is never
 * formed. li is this thread's partial row sum; the 4 lanes of a row are added in the epilogue. s becomes P~ij. */
template <int BC>
__device__ __forceinline__ void warp_softmax(float (&s)[BC / 8][4], float (&mi)[2], float (&li)[2], float (&alpha)[2],
                                             float scale_log2)
{
    float mnew[2] = {mi[0], mi[1]}, msub[2];
#pragma unroll
    for (int n = 0; n < BC / 8; n++) {
        mnew[0] = fmaxf(mnew[0], fmaxf(s[n][0], s[n][1]));
        mnew[1] = fmaxf(mnew[1], fmaxf(s[n][2], s[n][3]));
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        mnew[r] = quad_max(mnew[r]);
        msub[r] = mnew[r] == -INFINITY ? 0.f : mnew[r] * scale_log2;   /* never -inf - -inf */
        alpha[r] = fast_exp2(mi[r] * scale_log2 - msub[r]);
        mi[r] = mnew[r];
        li[r] *= alpha[r];
    }
#pragma unroll
    for (int n = 0; n < BC / 8; n++) {
        s[n][0] = fast_exp2(fmaf(s[n][0], scale_log2, -msub[0]));
        s[n][1] = fast_exp2(fmaf(s[n][1], scale_log2, -msub[0]));
        s[n][2] = fast_exp2(fmaf(s[n][2], scale_log2, -msub[1]));
        s[n][3] = fast_exp2(fmaf(s[n][3], scale_log2, -msub[1]));
        li[0] += s[n][0] + s[n][1];
        li[1] += s[n][2] + s[n][3];
    }
}

/* Line 10's rescale: Oi = diag(alpha) Oi (rows g and g+8). */
template <int D> __device__ __forceinline__ void warp_rescale(float (&o)[D / 8][4], const float (&alpha)[2])
{
#pragma unroll
    for (int n = 0; n < D / 8; n++) {
        o[n][0] *= alpha[0], o[n][1] *= alpha[0];
        o[n][2] *= alpha[1], o[n][3] *= alpha[1];
    }
}

/* v11's line 9 with a lazy maximum, for the warp's MT m-tiles: the warp keeps its stale maxima mi unless some
 * row's block maximum exceeds its mi by more than tau in log2 units (one vote); only then are all its rows' mi,
 * li and Oi moved and rescaled exactly (line 10). Oi and li always share mi, so Oi / li and mi + log li are exact
 * for whichever mi was used. The exponentials that follow subtract warp_exp_shift's value. */
template <int D, int BC, int MT>
__device__ __forceinline__ void warp_rescale_lazy(const float (&s)[MT][BC / 8][4], float (&mi)[MT][2],
                                                  float (&li)[MT][2], float (&o)[MT][D / 8][4], float scale_log2,
                                                  float tau)
{
    float bmax[MT][2];
    bool grow = false;
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            float x = -INFINITY;
#pragma unroll
            for (int n = 0; n < BC / 8; n++)
                x = fmaxf(x, fmaxf(s[mt][n][2 * r], s[mt][n][2 * r + 1]));
            bmax[mt][r] = quad_max(x);
            grow |= bmax[mt][r] * scale_log2 > mi[mt][r] * scale_log2 + tau;   /* mi = -inf: any key */
        }
    if (__any_sync(0xffffffffu, grow)) {
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int r = 0; r < 2; r++) {
                float mnew = fmaxf(mi[mt][r], bmax[mt][r]);
                float alpha = fast_exp2(mi[mt][r] * scale_log2 - (mnew == -INFINITY ? 0.f : mnew * scale_log2));
                mi[mt][r] = mnew;
                li[mt][r] *= alpha;
#pragma unroll
                for (int n = 0; n < D / 8; n++)
                    o[mt][n][2 * r] *= alpha, o[mt][n][2 * r + 1] *= alpha;
            }
    }
}
/* What a score's exponent subtracts for rows g and g+8 after warp_rescale_lazy: mi scaled, 0 for a row with no
 * key yet (never -inf - -inf). */
__device__ __forceinline__ void warp_exp_shift(const float (&mi)[2], float scale_log2, float (&msub)[2])
{
#pragma unroll
    for (int r = 0; r < 2; r++)
        msub[r] = mi[r] == -INFINITY ? 0.f : mi[r] * scale_log2;
}

/* ---- the epilogue ------------------------------------------------------------------------------------------------ */
/* Lines 12-15 for one row `row` < N, held in accumulator half h (0: row g, 1: row g + 8) of o: Oi = Oi / l, written
 * once; lane t == 0 writes Li = m scale + log l (natural log of the scaled scores). l: the row's whole sum (the
 * quad_sum of li). no, nl: this thread's count of O and L elements written. */
template <int D, typename T>
__device__ __forceinline__ void warp_store_row(T *O, float *lse, size_t ld, int bh, int N, int row, int t, int h,
                                               const float (&o)[D / 8][4], float m, float l, float scale,
                                               unsigned long long &no, unsigned long long &nl)
{
    const float inv = 1.f / l;
#pragma unroll
    for (int n = 0; n < D / 8; n++)
        *reinterpret_cast<uint32_t *>(O + (size_t)row * ld + n * 8 + 2 * t) =
            pack2<T>(o[n][2 * h] * inv, o[n][2 * h + 1] * inv);
    FL_ADD(no, D / 4);
    if (t == 0) {
        lse[(size_t)bh * N + row] = m * scale + logf(l);
        FL_ADD(nl, 1);
    }
}

/* Lines 12-15 for one m-tile: rows row0 (g) and row0 + 8 (g + 8), each only when it is < N. */
template <int D, typename T>
__device__ __forceinline__ void warp_store(T *O, float *lse, size_t ld, int bh, int N, int row0, int t,
                                           const float (&o)[D / 8][4], const float (&mi)[2], const float (&li)[2],
                                           float scale, unsigned long long &no, unsigned long long &nl)
{
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int row = row0 + r * 8;
        const float l = quad_sum(li[r]);
        if (row >= N)
            continue;
        warp_store_row<D>(O, lse, ld, bh, N, row, t, r, o, mi[r], l, scale, no, nl);
    }
}

/* The counting twin's global counters, once per warp (every thread calls it); nothing in the plain build. */
__device__ __forceinline__ void tc_flush_counts(unsigned long long *count, unsigned long long nq,
                                                unsigned long long nk, unsigned long long nv, unsigned long long no,
                                                unsigned long long nl)
{
    fl_count_flush(count + TC_CNT_Q_RD, nq);
    fl_count_flush(count + TC_CNT_K_RD, nk);
    fl_count_flush(count + TC_CNT_V_RD, nv);
    fl_count_flush(count + TC_CNT_O_WR, no);
    fl_count_flush(count + TC_CNT_L_WR, nl);
}

#endif
