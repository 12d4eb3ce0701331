/* tc_warp.cuh — one warp's part of an FA2 step, 16 query rows, as functions (used from v08 on; v04-v07 write the
 * same code inline so each step of the climb can be read on its own).
 *
 *   warp_qk<D, BC, T>(s, qf, Kj, lane)             s = Qi Kj^T for the warp's 16 rows (FA2 Alg.1 line 8)
 *   warp_mask<BC, CAUSAL>(s, row, k0, N, g, t)     -inf where a key is past N or after the query (causal)
 *   warp_softmax<D, BC>(s, mi, li, o, scale_log2)  line 9 and the rescale of line 10: s becomes P~ij
 *   warp_pv<D, BC, T>(o, s, Vj, lane)              o += P~ij Vj, P straight from the S registers (line 10)
 */
#ifndef FLASHLAB_TC_WARP_CUH
#define FLASHLAB_TC_WARP_CUH

#include "tc_common.cuh"

template <int D, int BC, typename T>
__device__ __forceinline__ void warp_qk(float (&s)[BC / 8][4], const uint32_t (&qf)[D / 16][4], const T *Kj,
                                        int lane)
{
#pragma unroll
    for (int n = 0; n < BC / 8; n++)
        s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0;
#pragma unroll
    for (int n = 0; n < BC / 16; n++)
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            uint32_t kb[4];
            ldsm_x4(kb, smem_u32(Kj + swz<D>(n * 16 + (lane & 7) + ((lane >> 4) << 3), kk * 2 + ((lane >> 3) & 1))));
            mma_16816<T>(s[2 * n], qf[kk], kb[0], kb[1]);
            mma_16816<T>(s[2 * n + 1], qf[kk], kb[2], kb[3]);
        }
}

/* row: the query of this thread's first row (the second is row + 8); k0: the tile's first key. */
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

template <int D, int BC>
__device__ __forceinline__ void warp_softmax(float (&s)[BC / 8][4], float (&mi)[2], float (&li)[2],
                                             float (&o)[D / 8][4], float scale_log2)
{
    float mnew[2] = {mi[0], mi[1]}, msub[2], alpha[2];
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
#pragma unroll
    for (int n = 0; n < D / 8; n++) {
        o[n][0] *= alpha[0], o[n][1] *= alpha[0];
        o[n][2] *= alpha[1], o[n][3] *= alpha[1];
    }
}

template <int D, int BC, typename T>
__device__ __forceinline__ void warp_pv(float (&o)[D / 8][4], const float (&s)[BC / 8][4], const T *Vj, int lane)
{
#pragma unroll
    for (int kk = 0; kk < BC / 16; kk++) {
        uint32_t pa[4] = {tc_elem<T>::pack(s[2 * kk][0], s[2 * kk][1]), tc_elem<T>::pack(s[2 * kk][2], s[2 * kk][3]),
                          tc_elem<T>::pack(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                          tc_elem<T>::pack(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
        for (int dn = 0; dn < D / 16; dn++) {
            uint32_t vb[4];
            ldsm_x4_t(vb, smem_u32(Vj + swz<D>(kk * 16 + (lane & 7) + (((lane >> 3) & 1) << 3), dn * 2 + (lane >> 4))));
            mma_16816<T>(o[2 * dn], pa, vb[0], vb[1]);
            mma_16816<T>(o[2 * dn + 1], pa, vb[2], vb[3]);
        }
    }
}

#endif
