/* attn_v11_rescale.cu — v09 with Oi rescaled only when a row's maximum grows by more than 2^8.
 *
 * FA2 multiplies Oi (d/8 x 4 x MT floats per thread: 64 FMULs per step at d = 64, 128 at d = 128) and li by
 * e^(m_old - m_new) after every key block, though after the first few blocks the running max of a row rarely
 * moves, and when it does, by little. Here the warp keeps its stale maxima mi unless some row's block maximum
 * exceeds its mi by more than TAU = 8 in log2 units (one __any_sync vote per step); only then are all its rows
 * rescaled exactly as before. In between, P~ = 2^(S scale log2e - mi) may reach 2^8 = 256 instead of 1: fine in
 * fp16 and bf16 (P keeps its relative precision), li and Oi accumulate in fp32, and Oi / li and Li = mi + log li
 * are exact for whichever mi was used, because Oi and li always share it (FlashAttention-4's conditional
 * rescaling, on mma.sync).
 * Predicted: the rescale disappears from almost every step: up to ~10% fewer instructions at d = 128, ~5% at 64.
 */
#include "tc_common.cuh"

namespace {

constexpr float TAU = 8.0f;   /* log2 of the largest P~ allowed before the maxima move: 256 */

template <int D, typename T, bool CAUSAL, int NW, int MT, int BC, bool QREG>
__global__ void __launch_bounds__(NW * 32) attn_v11_kernel(tc_kparams kp)
{
    constexpr int NT = NW * 32, BR = NW * MT * 16;
    constexpr uint32_t RB = D * 2;                                        /* bytes per tile row */
    extern __shared__ __align__(1024) unsigned char smem[];
    const uint32_t sQ = smem_u32(smem), sK = sQ + BR * RB, sV = sK + 2 * BC * RB;   /* K, V: two buffers each */
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const int N = kp.N, Tc = (N + BC - 1) / BC;
    const int i = kp.Tr - 1 - (int)(blockIdx.x % kp.Tr), bh = (int)(blockIdx.x / kp.Tr);
    const size_t ld = (size_t)kp.H * D;
    const size_t head = ((size_t)(bh / kp.H) * N * kp.H + bh % kp.H) * D;
    const T *Q = (const T *)kp.q + head, *K = (const T *)kp.k + head, *V = (const T *)kp.v + head;
    T *O = (T *)kp.o + head;
    const int q0 = i * BR, w0 = warp * MT * 16;                          /* w0: the warp's first row in Qi */
    const uint32_t qbase = frag_base_a<D>(sQ, w0, lane), kbase = frag_base_b<D>(sK, lane),
                   vbase = frag_base_bt<D>(sV, lane);
    const int jend = CAUSAL ? min(Tc, (min(q0 + BR, N) - 1) / BC + 1) : Tc;
    unsigned long long nq = 0, nk = 0, nv = 0, no = 0, nl = 0;
    (void)nq, (void)nk, (void)nv, (void)no, (void)nl;

    /* FA2 Alg.1 line 4: load Qi (with K0: one group), then V0. */
    TC_COUNT(nq, (tc_load_tile_fast<BR, D, NT>(sQ, Q, q0, N, ld)));
    TC_COUNT(nk, (tc_load_tile_fast<BC, D, NT>(sK, K, 0, N, ld)));
    cp_async_commit();
    TC_COUNT(nv, (tc_load_tile_fast<BC, D, NT>(sV, V, 0, N, ld)));
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    uint32_t qf[QREG ? MT : 1][QREG ? D / 16 : 1][4];
    if (QREG)
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int kk = 0; kk < D / 16; kk++)
                ldsm_x4(qf[QREG ? mt : 0][QREG ? kk : 0], (qbase ^ (kk << 5)) + mt * 16 * RB);

    /* Line 5: Oi = 0, li = 0, mi = -inf; per m-tile, rows g and g+8. */
    float o[MT][D / 8][4], mi[MT][2], li[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
        mi[mt][0] = mi[mt][1] = -INFINITY;
        li[mt][0] = li[mt][1] = 0;
#pragma unroll
        for (int n = 0; n < D / 8; n++)
            o[mt][n][0] = o[mt][n][1] = o[mt][n][2] = o[mt][n][3] = 0;
    }

    for (int j = 0; j < jend; j++) {                                      /* line 6 */
        const int k0 = j * BC;
        const uint32_t kj = kbase + (j & 1) * BC * RB, vj = vbase + (j & 1) * BC * RB;
        cp_async_wait<1>();                                               /* line 7: Kj has landed */
        __syncthreads();
        if (j + 1 < jend)
            TC_COUNT(nk, (tc_load_tile_fast<BC, D, NT>(sK + ((j + 1) & 1) * BC * RB, K, k0 + BC, N, ld)));
        cp_async_commit();

        /* Line 8: Sij = Qi Kj^T. Each K fragment serves all MT m-tiles of the warp. */
        float s[MT][BC / 8][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int n = 0; n < BC / 8; n++)
                s[mt][n][0] = s[mt][n][1] = s[mt][n][2] = s[mt][n][3] = 0;
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            uint32_t qa[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                if (QREG)
#pragma unroll
                    for (int x = 0; x < 4; x++)
                        qa[mt][x] = qf[QREG ? mt : 0][QREG ? kk : 0][x];
                else
                    ldsm_x4(qa[mt], (qbase ^ (kk << 5)) + mt * 16 * RB);
            }
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
        if (k0 + BC > N || (CAUSAL && k0 + BC - 1 > q0 + w0)) {          /* this warp's rows cross the diagonal */
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                const int row = q0 + w0 + mt * 16 + g;
#pragma unroll
                for (int n = 0; n < BC / 8; n++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        int col = k0 + n * 8 + 2 * t + (e & 1);
                        if (col >= N || (CAUSAL && col > row + (e >> 1) * 8))
                            s[mt][n][e] = -INFINITY;
                    }
            }
        }

        /* Line 9 with a lazy maximum: mi moves (and Oi, li are rescaled, line 10) only when some row of the warp
         * would otherwise see P~ above 2^TAU. */
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
                grow |= bmax[mt][r] * kp.scale_log2 > mi[mt][r] * kp.scale_log2 + TAU;   /* mi = -inf: any key */
            }
        if (__any_sync(0xffffffffu, grow)) {
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int r = 0; r < 2; r++) {
                    float mnew = fmaxf(mi[mt][r], bmax[mt][r]);
                    float alpha = fast_exp2(mi[mt][r] * kp.scale_log2 - (mnew == -INFINITY ? 0.f : mnew * kp.scale_log2));
                    mi[mt][r] = mnew;
                    li[mt][r] *= alpha;
#pragma unroll
                    for (int n = 0; n < D / 8; n++)
                        o[mt][n][2 * r] *= alpha, o[mt][n][2 * r + 1] *= alpha;
                }
        }
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            float msub[2];
#pragma unroll
            for (int r = 0; r < 2; r++)
                msub[r] = mi[mt][r] == -INFINITY ? 0.f : mi[mt][r] * kp.scale_log2;   /* never -inf - -inf */
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

        cp_async_wait<1>();                                               /* Vj has landed */
        __syncthreads();
        if (j + 1 < jend)
            TC_COUNT(nv, (tc_load_tile_fast<BC, D, NT>(sV + ((j + 1) & 1) * BC * RB, V, k0 + BC, N, ld)));
        cp_async_commit();

        /* Line 10: Oi += P~ij Vj; each V fragment serves all MT m-tiles. */
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

    /* Lines 12-15. */
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int row = q0 + w0 + mt * 16 + g + r * 8;
            const float l = quad_sum(li[mt][r]);
            if (row >= N)
                continue;
            const float inv = 1.f / l;
#pragma unroll
            for (int n = 0; n < D / 8; n++)
                *reinterpret_cast<uint32_t *>(O + (size_t)row * ld + n * 8 + 2 * t) =
                    tc_elem<T>::pack(o[mt][n][2 * r] * inv, o[mt][n][2 * r + 1] * inv);
            TC_COUNT(no, D / 4);
            if (t == 0) {
                kp.lse[(size_t)bh * N + row] = mi[mt][r] * kp.scale + logf(l);
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


template <int NW, int MT, int BC64, int BC128, bool QREG64, bool QREG128>
struct v11_shape {
    template <int D, typename T>
    static int launch(const char *name, const tc_args *a, void *stream, char *err, size_t errlen)
    {
        constexpr int BC = D == 64 ? BC64 : BC128, BR = NW * MT * 16;
        constexpr bool QR = D == 64 ? QREG64 : QREG128;
        void (*k)(tc_kparams) = a->causal ? attn_v11_kernel<D, T, true, NW, MT, BC, QR>
                                          : attn_v11_kernel<D, T, false, NW, MT, BC, QR>;
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

/* v09's shape: 4 warps x 32 rows (Br = 128), Bc = 128 (d = 64) or 64 (d = 128), Qi in shared memory. */
using shape_w4m2 = v11_shape<4, 2, 128, 64, false, false>;
using shape_w4m2_bc64 = v11_shape<4, 2, 64, 64, false, false>;   /* Bc = 64 for d = 64 too */
using shape_w8m2 = v11_shape<8, 2, 128, 64, false, false>;       /* 8 warps x 32 rows (Br = 256), 1 block per SM */

}  // namespace

extern "C" int TC_LAUNCHER(attn_v11)(const tc_args *a, void *s, char *e, size_t n) { return shape_w4m2::forward("v11_rescale", a, s, e, n); }
extern "C" int TC_LAUNCHER(attn_v11_w8)(const tc_args *a, void *s, char *e, size_t n) { return shape_w8m2::forward("v11_w8", a, s, e, n); }
extern "C" int TC_LAUNCHER(attn_v11_bc64)(const tc_args *a, void *s, char *e, size_t n) { return shape_w4m2_bc64::forward("v11_bc64", a, s, e, n); }
#ifndef FL_COUNT
extern "C" void attn_v11_blocks(int d, int *br, int *bc) { shape_w4m2::blocks(d, br, bc); }
extern "C" void attn_v11_w8_blocks(int d, int *br, int *bc) { shape_w8m2::blocks(d, br, bc); }
extern "C" void attn_v11_bc64_blocks(int d, int *br, int *bc) { shape_w4m2_bc64::blocks(d, br, bc); }
#endif
