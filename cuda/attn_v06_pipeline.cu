/* attn_v06_pipeline.cu — v05 with the copies of Kj and Vj overlapped with the math (cp.async double buffering).
 *
 * v05 waits for Kj and Vj before it computes anything on them, so each step pays the full global-memory latency
 * (about a microsecond) with the tensor cores idle. Here K and V each get two shared buffers and travel as
 * separate cp.async groups, in FA2's order:
 *     wait Kj -> barrier -> start K(j+1) -> Sij = Qi Kj^T, softmax -> wait Vj -> barrier -> start V(j+1) -> Oi += P Vj
 * so K(j+1) lands while the warps compute S and softmax, and V(j+1) while they compute P Vj. Buffer (j+1)%2 is
 * free when it is refilled: its last readers (step j-1) all passed the barrier before.
 * Predicted: the step's copy latency is hidden; at 2 blocks per SM, most of what v05 lost waiting (the tile
 * copy is ~16-32 KB per step) comes back.
 */
#include "tc_common.cuh"

namespace {

constexpr int Br = 64, Bc = 64, NW = Br / 16, NT = NW * 32;

template <int D, typename T, bool CAUSAL>
__global__ void __launch_bounds__(NT) attn_v06_kernel(tc_kparams kp)
{
    extern __shared__ __align__(16) unsigned char smem[];
    T *Qs = reinterpret_cast<T *>(smem), *Ks = Qs + Br * D, *Vs = Ks + 2 * Bc * D;   /* K, V: two buffers each */
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const int N = kp.N, Tc = (N + Bc - 1) / Bc;
    const int i = kp.Tr - 1 - (int)(blockIdx.x % kp.Tr), bh = (int)(blockIdx.x / kp.Tr);
    const size_t ld = (size_t)kp.H * D;                                   /* (B, N, H, d): next row of a head */
    const size_t head = ((size_t)(bh / kp.H) * N * kp.H + bh % kp.H) * D;
    const T *Q = (const T *)kp.q + head, *K = (const T *)kp.k + head, *V = (const T *)kp.v + head;
    T *O = (T *)kp.o + head;
    const int q0 = i * Br;
    const int jend = CAUSAL ? min(Tc, (min(q0 + Br, N) - 1) / Bc + 1) : Tc;   /* causal: skip blocks past q0+Br-1 */
    unsigned long long nq = 0, nk = 0, nv = 0, no = 0, nl = 0;
    (void)nq, (void)nk, (void)nv, (void)no, (void)nl;

    /* FA2 Alg.1 line 4: load Qi (with K0: one group), then V0 (the next group). */
    TC_COUNT(nq, (tc_load_tile<Br, D, NT, true>(Qs, Q, q0, N, ld)));
    TC_COUNT(nk, (tc_load_tile<Bc, D, NT, true>(Ks, K, 0, N, ld)));
    cp_async_commit();
    TC_COUNT(nv, (tc_load_tile<Bc, D, NT, true>(Vs, V, 0, N, ld)));
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    uint32_t qf[D / 16][4];
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++)
        ldsm_x4(qf[kk], smem_u32(Qs + swz<D>(warp * 16 + (lane & 15), kk * 2 + (lane >> 4))));

    /* Line 5: Oi = 0, li = 0, mi = -inf. Each thread holds rows g and g+8 of its warp's 16. */
    float o[D / 8][4], mi[2] = {-INFINITY, -INFINITY}, li[2] = {0, 0};
#pragma unroll
    for (int n = 0; n < D / 8; n++)
        o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0;

    /* Line 6: for each key block j. */
    for (int j = 0; j < jend; j++) {
        const int k0 = j * Bc;
        const T *Kj = Ks + (j & 1) * Bc * D, *Vj = Vs + (j & 1) * Bc * D;
        /* Line 7, split: Kj has landed (V_j may still be in flight); every warp is past step j-1. */
        cp_async_wait<1>();
        __syncthreads();
        if (j + 1 < jend)
            TC_COUNT(nk, (tc_load_tile<Bc, D, NT, true>(Ks + ((j + 1) & 1) * Bc * D, K, k0 + Bc, N, ld)));
        cp_async_commit();                                                /* empty at the end: counts stay in step */

        /* Line 8: Sij = Qi Kj^T (the softmax scale is folded into the exponent below). One ldmatrix.x4 gives the
         * B-fragments of 16 keys x 16 dims: two n-tiles of 8 keys. */
        float s[Bc / 8][4];
#pragma unroll
        for (int n = 0; n < Bc / 8; n++)
            s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0;
#pragma unroll
        for (int n = 0; n < Bc / 16; n++)
#pragma unroll
            for (int kk = 0; kk < D / 16; kk++) {
                uint32_t kb[4];
                ldsm_x4(kb, smem_u32(Kj + swz<D>(n * 16 + (lane & 7) + ((lane >> 4) << 3),
                                                   kk * 2 + ((lane >> 3) & 1))));
                mma_16816<T>(s[2 * n], qf[kk], kb[0], kb[1]);
                mma_16816<T>(s[2 * n + 1], qf[kk], kb[2], kb[3]);
            }
        /* Only tiles that cross the diagonal or hold keys past N are masked. */
        if (k0 + Bc > N || (CAUSAL && k0 + Bc - 1 > q0)) {
            const int row = q0 + warp * 16 + g;
#pragma unroll
            for (int n = 0; n < Bc / 8; n++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int col = k0 + n * 8 + 2 * t + (e & 1);
                    if (col >= N || (CAUSAL && col > row + (e >> 1) * 8))
                        s[n][e] = -INFINITY;
                }
        }

        /* Line 9: m_new = max(mi, rowmax Sij); P~ij = exp(scale (Sij - m_new)); li = e^(mi - m_new) li + rowsum P~ij.
         * exp(scale x) = 2^(x scale log2 e): one FFMA and one ex2 per score. A max of -inf (a row with no key yet)
         * subtracts 0 instead, so -inf - -inf is never formed. */
        float mnew[2] = {mi[0], mi[1]};
#pragma unroll
        for (int n = 0; n < Bc / 8; n++) {
            mnew[0] = fmaxf(mnew[0], fmaxf(s[n][0], s[n][1]));
            mnew[1] = fmaxf(mnew[1], fmaxf(s[n][2], s[n][3]));
        }
        float msub[2], alpha[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
            mnew[r] = quad_max(mnew[r]);
            msub[r] = mnew[r] == -INFINITY ? 0.f : mnew[r] * kp.scale_log2;
            alpha[r] = fast_exp2(mi[r] * kp.scale_log2 - msub[r]);
            mi[r] = mnew[r];
            li[r] *= alpha[r];   /* this thread's partial row sum; the 4 lanes of a row are added at the end */
        }
#pragma unroll
        for (int n = 0; n < Bc / 8; n++) {
            s[n][0] = fast_exp2(fmaf(s[n][0], kp.scale_log2, -msub[0]));
            s[n][1] = fast_exp2(fmaf(s[n][1], kp.scale_log2, -msub[0]));
            s[n][2] = fast_exp2(fmaf(s[n][2], kp.scale_log2, -msub[1]));
            s[n][3] = fast_exp2(fmaf(s[n][3], kp.scale_log2, -msub[1]));
            li[0] += s[n][0] + s[n][1];
            li[1] += s[n][2] + s[n][3];
        }

        /* Vj has landed; every warp is done with Kj, so V(j+1) may go into the other buffer. */
        cp_async_wait<1>();
        __syncthreads();
        if (j + 1 < jend)
            TC_COUNT(nv, (tc_load_tile<Bc, D, NT, true>(Vs + ((j + 1) & 1) * Bc * D, V, k0 + Bc, N, ld)));
        cp_async_commit();

        /* Line 10: Oi = diag(e^(mi - m_new)) Oi + P~ij Vj. The C-fragments of n-tiles 2kk and 2kk+1 are the
         * A-fragment of keys 16kk..16kk+15; Vj's B-fragments come from ldmatrix.trans. */
#pragma unroll
        for (int n = 0; n < D / 8; n++) {
            o[n][0] *= alpha[0], o[n][1] *= alpha[0];
            o[n][2] *= alpha[1], o[n][3] *= alpha[1];
        }
#pragma unroll
        for (int kk = 0; kk < Bc / 16; kk++) {
            uint32_t pa[4] = {tc_elem<T>::pack(s[2 * kk][0], s[2 * kk][1]),
                              tc_elem<T>::pack(s[2 * kk][2], s[2 * kk][3]),
                              tc_elem<T>::pack(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                              tc_elem<T>::pack(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
            for (int dn = 0; dn < D / 16; dn++) {
                uint32_t vb[4];
                ldsm_x4_t(vb, smem_u32(Vj + swz<D>(kk * 16 + (lane & 7) + (((lane >> 3) & 1) << 3),
                                                     dn * 2 + (lane >> 4))));
                mma_16816<T>(o[2 * dn], pa, vb[0], vb[1]);
                mma_16816<T>(o[2 * dn + 1], pa, vb[2], vb[3]);
            }
        }
    }

    /* Lines 12-15: Oi = diag(li)^-1 Oi, Li = mi + log li; write both once. Rows past N are not written. */
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int row = q0 + warp * 16 + g + r * 8;
        const float l = quad_sum(li[r]);
        if (row >= N)
            continue;
        const float inv = 1.f / l;
#pragma unroll
        for (int n = 0; n < D / 8; n++)
            *reinterpret_cast<uint32_t *>(O + (size_t)row * ld + n * 8 + 2 * t) =
                tc_elem<T>::pack(o[n][2 * r] * inv, o[n][2 * r + 1] * inv);
        TC_COUNT(no, D / 4);
        if (t == 0) {
            kp.lse[(size_t)bh * N + row] = mi[r] * kp.scale + logf(l);
            TC_COUNT(nl, 1);
        }
    }
#ifdef FL_COUNT
    tc_count_flush(kp.count + TC_CNT_Q_RD, nq);
    tc_count_flush(kp.count + TC_CNT_K_RD, nk);
    tc_count_flush(kp.count + TC_CNT_V_RD, nv);
    tc_count_flush(kp.count + TC_CNT_O_WR, no);
    tc_count_flush(kp.count + TC_CNT_L_WR, nl);
#endif
}

template <int D, typename T>
int launch(const tc_args *a, void *stream, char *err, size_t errlen)
{
    void (*k)(tc_kparams) = a->causal ? attn_v06_kernel<D, T, true> : attn_v06_kernel<D, T, false>;
    return tc_launch("v06_pipeline", k, NT, (size_t)(Br + 4 * Bc) * D * sizeof(T), Br, a, stream, err, errlen);
}

}  // namespace

extern "C" int TC_LAUNCHER(attn_v06)(const tc_args *a, void *stream, char *err, size_t errlen)
{
    if (tc_check_args("v06_pipeline", a, err, errlen))
        return -1;
    bool bf = a->dtype == DTYPE_BF16;
    switch (a->d) {
    case 64: return bf ? launch<64, __nv_bfloat16>(a, stream, err, errlen) : launch<64, __half>(a, stream, err, errlen);
    case 128: return bf ? launch<128, __nv_bfloat16>(a, stream, err, errlen) : launch<128, __half>(a, stream, err, errlen);
    default: snprintf(err, errlen, "v06_pipeline: head dimension d = %zu not supported (64 or 128)", a->d); return -1;
    }
}

#ifndef FL_COUNT
extern "C" void attn_v06_blocks(int d, int *br, int *bc)
{
    bool ok = d == 64 || d == 128;
    *br = ok ? Br : 0, *bc = ok ? Bc : 0;
}
#endif
