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
#include "tc_common.cuh"

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

    /* Line 8: S = Qi Kj^T for the warp's MT m-tiles; each K fragment serves all of them. */
    __device__ __forceinline__ void qk(float (&s)[MT][BC / 8][4], uint32_t kj) const
    {
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
                ldsm_x4(qa[mt], (qbase ^ (kk << 5)) + mt * 16 * RB);
#pragma unroll
            for (int n = 0; n < BC / 16; n++) {
                uint32_t kb[4];
                ldsm_x4(kb, (kj ^ (kk << 5)) + n * 16 * RB);
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    mma_16816<T>(s[mt][2 * n], qa[mt], kb[0], kb[1]);
                    mma_16816<T>(s[mt][2 * n + 1], qa[mt], kb[2], kb[3]);
                }
            }
        }
    }

    __device__ __forceinline__ void mask(float (&s)[MT][BC / 8][4], int k0) const
    {
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int n = 0; n < BC / 8; n++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int col = k0 + n * 8 + 2 * t + (e & 1);
                    if (col >= N || (CAUSAL && col > row + mt * 16 + (e >> 1) * 8))
                        s[mt][n][e] = -INFINITY;
                }
    }

    /* Line 9 and the rescale of line 10: s becomes P~ij. */
    __device__ __forceinline__ void softmax(float (&s)[MT][BC / 8][4], float sl2)
    {
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            float mnew[2] = {mi[mt][0], mi[mt][1]}, msub[2], alpha[2];
#pragma unroll
            for (int n = 0; n < BC / 8; n++) {
                mnew[0] = fmaxf(mnew[0], fmaxf(s[mt][n][0], s[mt][n][1]));
                mnew[1] = fmaxf(mnew[1], fmaxf(s[mt][n][2], s[mt][n][3]));
            }
#pragma unroll
            for (int r = 0; r < 2; r++) {
                mnew[r] = quad_max(mnew[r]);
                msub[r] = mnew[r] == -INFINITY ? 0.f : mnew[r] * sl2;
                alpha[r] = fast_exp2(mi[mt][r] * sl2 - msub[r]);
                mi[mt][r] = mnew[r];
                li[mt][r] *= alpha[r];
            }
#pragma unroll
            for (int n = 0; n < BC / 8; n++) {
                s[mt][n][0] = fast_exp2(fmaf(s[mt][n][0], sl2, -msub[0]));
                s[mt][n][1] = fast_exp2(fmaf(s[mt][n][1], sl2, -msub[0]));
                s[mt][n][2] = fast_exp2(fmaf(s[mt][n][2], sl2, -msub[1]));
                s[mt][n][3] = fast_exp2(fmaf(s[mt][n][3], sl2, -msub[1]));
                li[mt][0] += s[mt][n][0] + s[mt][n][1];
                li[mt][1] += s[mt][n][2] + s[mt][n][3];
            }
#pragma unroll
            for (int n = 0; n < D / 8; n++) {
                o[mt][n][0] *= alpha[0], o[mt][n][1] *= alpha[0];
                o[mt][n][2] *= alpha[1], o[mt][n][3] *= alpha[1];
            }
        }
    }

    /* Line 10: Oi += P~ij Vj, P from the score registers; each V fragment serves all MT m-tiles. */
    __device__ __forceinline__ void pv(const float (&s)[MT][BC / 8][4], uint32_t vj)
    {
#pragma unroll
        for (int kk = 0; kk < BC / 16; kk++) {
            uint32_t pa[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                pa[mt][0] = tc_elem<T>::pack(s[mt][2 * kk][0], s[mt][2 * kk][1]);
                pa[mt][1] = tc_elem<T>::pack(s[mt][2 * kk][2], s[mt][2 * kk][3]);
                pa[mt][2] = tc_elem<T>::pack(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
                pa[mt][3] = tc_elem<T>::pack(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
            }
#pragma unroll
            for (int dn = 0; dn < D / 16; dn++) {
                uint32_t vb[4];
                ldsm_x4_t(vb, (vj ^ (dn << 5)) + kk * 16 * RB);
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    mma_16816<T>(o[mt][2 * dn], pa[mt], vb[0], vb[1]);
                    mma_16816<T>(o[mt][2 * dn + 1], pa[mt], vb[2], vb[3]);
                }
            }
        }
    }

    /* Step j: Scur holds Sij (masked); Snext receives S(j+1). One barrier; K(j+2) and V(j+1) start here. */
    __device__ __forceinline__ void step(float (&Scur)[MT][BC / 8][4], float (&Snext)[MT][BC / 8][4], int j, float sl2)
    {
        cp_async_wait<0>();
        __syncthreads();
        if (j + 2 < jend)
            TC_COUNT(nk, (tc_load_tile_fast<BC, D, NT>(sK + (j & 1) * BC * RB, K, (j + 2) * BC, N, ld)));
        if (j + 1 < jend)
            TC_COUNT(nv, (tc_load_tile_fast<BC, D, NT>(sV + ((j + 1) & 1) * BC * RB, V, (j + 1) * BC, N, ld)));
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
    const int i = kp.Tr - 1 - (int)(blockIdx.x % kp.Tr), bh = (int)(blockIdx.x / kp.Tr);
    w.ld = (size_t)kp.H * D;
    const size_t head = ((size_t)(bh / kp.H) * N * kp.H + bh % kp.H) * D;
    const T *Q = (const T *)kp.q + head;
    w.K = (const T *)kp.k + head, w.V = (const T *)kp.v + head;
    T *O = (T *)kp.o + head;
    const int q0 = i * BR;
    w.N = N, w.w0 = q0 + warp * MT * 16, w.row = w.w0 + lane / 4;
    w.jend = CAUSAL ? min(Tc, (min(q0 + BR, N) - 1) / BC + 1) : Tc;
    w.qbase = frag_base_a<D>(sQ, warp * MT * 16, lane);
    w.kbase = frag_base_b<D>(w.sK, lane);
    w.vbase = frag_base_bt<D>(w.sV, lane);
    w.nk = w.nv = 0;
    unsigned long long nq = 0, no = 0, nl = 0;
    (void)nq, (void)no, (void)nl;

    /* FA2 Alg.1 line 4: Qi and K0, then V0 and K1; Sij of the first step before the loop. */
    TC_COUNT(nq, (tc_load_tile_fast<BR, D, NT>(sQ, Q, q0, N, w.ld)));
    TC_COUNT(w.nk, (tc_load_tile_fast<BC, D, NT>(w.sK, w.K, 0, N, w.ld)));
    cp_async_commit();
    TC_COUNT(w.nv, (tc_load_tile_fast<BC, D, NT>(w.sV, w.V, 0, N, w.ld)));
    if (1 < w.jend)
        TC_COUNT(w.nk, (tc_load_tile_fast<BC, D, NT>(w.sK + BC * RB, w.K, BC, N, w.ld)));
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    /* Line 5. */
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
        w.mi[mt][0] = w.mi[mt][1] = -INFINITY;
        w.li[mt][0] = w.li[mt][1] = 0;
#pragma unroll
        for (int n = 0; n < D / 8; n++)
            w.o[mt][n][0] = w.o[mt][n][1] = w.o[mt][n][2] = w.o[mt][n][3] = 0;
    }
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
            const float inv = 1.f / l;
#pragma unroll
            for (int n = 0; n < D / 8; n++)
                *reinterpret_cast<uint32_t *>(O + (size_t)row * w.ld + n * 8 + 2 * w.t) =
                    tc_elem<T>::pack(w.o[mt][n][2 * r] * inv, w.o[mt][n][2 * r + 1] * inv);
            TC_COUNT(no, D / 4);
            if (w.t == 0) {
                kp.lse[(size_t)bh * N + row] = w.mi[mt][r] * kp.scale + logf(l);
                TC_COUNT(nl, 1);
            }
        }
#ifdef FL_COUNT
    tc_count_flush(kp.count + TC_CNT_Q_RD, nq);
    tc_count_flush(kp.count + TC_CNT_K_RD, w.nk);
    tc_count_flush(kp.count + TC_CNT_V_RD, w.nv);
    tc_count_flush(kp.count + TC_CNT_O_WR, no);
    tc_count_flush(kp.count + TC_CNT_L_WR, nl);
#endif
}

template <int NW, int MT, int BC64, int BC128>
struct v10_shape {
    template <int D, typename T>
    static int launch(const char *name, const tc_args *a, void *stream, char *err, size_t errlen)
    {
        constexpr int BC = D == 64 ? BC64 : BC128, BR = NW * MT * 16;
        void (*k)(tc_kparams) = a->causal ? attn_v10_kernel<D, T, true, NW, MT, BC>
                                          : attn_v10_kernel<D, T, false, NW, MT, BC>;
        return tc_launch(name, k, NW * 32, (size_t)(BR + 4 * BC) * D * sizeof(T), BR, a, stream, err, errlen);
    }
    static void blocks(int d, int *br, int *bc)
    {
        bool ok = d == 64 || d == 128;
        *br = ok ? NW * MT * 16 : 0, *bc = ok ? (d == 64 ? BC64 : BC128) : 0;
    }
    static int forward(const char *name, const tc_args *a, void *stream, char *err, size_t errlen)
    {
        if (tc_check_args(name, a, err, errlen))
            return -1;
        bool bf = a->dtype == DTYPE_BF16;
        switch (a->d) {
        case 64: return bf ? launch<64, __nv_bfloat16>(name, a, stream, err, errlen)
                           : launch<64, __half>(name, a, stream, err, errlen);
        case 128: return bf ? launch<128, __nv_bfloat16>(name, a, stream, err, errlen)
                            : launch<128, __half>(name, a, stream, err, errlen);
        default: snprintf(err, errlen, "%s: head dimension d = %zu not supported (64 or 128)", name, a->d); return -1;
        }
    }
};

using shape_m2 = v10_shape<4, 2, 64, 32>;     /* 4 warps x 32 rows (Br = 128), Bc = 64 / 32 */
using shape_m2w8 = v10_shape<8, 2, 64, 32>;   /* 8 warps x 32 rows (Br = 256): one block per SM, more warps */

}  // namespace

extern "C" int TC_LAUNCHER(attn_v10)(const tc_args *a, void *s, char *e, size_t n) { return shape_m2::forward("v10_overlap2", a, s, e, n); }
extern "C" int TC_LAUNCHER(attn_v10_w8)(const tc_args *a, void *s, char *e, size_t n) { return shape_m2w8::forward("v10_w8", a, s, e, n); }
#ifndef FL_COUNT
extern "C" void attn_v10_blocks(int d, int *br, int *bc) { shape_m2::blocks(d, br, bc); }
extern "C" void attn_v10_w8_blocks(int d, int *br, int *bc) { shape_m2w8::blocks(d, br, bc); }
#endif
