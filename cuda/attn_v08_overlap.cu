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
#include "tc_warp.cuh"

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
            TC_COUNT(nk, (tc_load_tile<BC, D, NT, true>(Ks + (j & 1) * BC * D, K, (j + 2) * BC, N, ld)));
        if (j + 1 < jend)
            TC_COUNT(nv, (tc_load_tile<BC, D, NT, true>(Vs + ((j + 1) & 1) * BC * D, V, (j + 1) * BC, N, ld)));
        cp_async_commit();
        warp_qk<D, BC, T>(Snext, qf, Ks + ((j + 1) & 1) * BC * D, lane);   /* line 8 of step j+1 */
        warp_softmax<D, BC>(Scur, mi, li, o, sl2);                           /* line 9 of step j */
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
    const int i = kp.Tr - 1 - (int)(blockIdx.x % kp.Tr), bh = (int)(blockIdx.x / kp.Tr);
    w.ld = (size_t)kp.H * D;
    const size_t head = ((size_t)(bh / kp.H) * N * kp.H + bh % kp.H) * D;
    const T *Q = (const T *)kp.q + head;
    w.K = (const T *)kp.k + head, w.V = (const T *)kp.v + head;
    T *O = (T *)kp.o + head;
    w.N = N, w.q0 = i * BR, w.w0 = w.q0 + warp * 16, w.row = w.w0 + w.lane / 4;
    w.jend = CAUSAL ? min(Tc, (min(w.q0 + BR, N) - 1) / BC + 1) : Tc;
    w.nk = w.nv = 0;
    unsigned long long nq = 0, no = 0, nl = 0;
    (void)nq, (void)no, (void)nl;

    /* FA2 Alg.1 line 4: Qi and K0, then V0 and K1; Sij of the first step before the loop. */
    TC_COUNT(nq, (tc_load_tile<BR, D, NT, true>(Qs, Q, w.q0, N, w.ld)));
    TC_COUNT(w.nk, (tc_load_tile<BC, D, NT, true>(w.Ks, w.K, 0, N, w.ld)));
    cp_async_commit();
    TC_COUNT(w.nv, (tc_load_tile<BC, D, NT, true>(w.Vs, w.V, 0, N, w.ld)));
    if (1 < w.jend)
        TC_COUNT(w.nk, (tc_load_tile<BC, D, NT, true>(w.Ks + BC * D, w.K, BC, N, w.ld)));
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++)
        ldsm_x4(w.qf[kk], smem_u32(Qs + swz<D>(warp * 16 + (w.lane & 15), kk * 2 + (w.lane >> 4))));
    /* Line 5. */
    w.mi[0] = w.mi[1] = -INFINITY;
    w.li[0] = w.li[1] = 0;
#pragma unroll
    for (int n = 0; n < D / 8; n++)
        w.o[n][0] = w.o[n][1] = w.o[n][2] = w.o[n][3] = 0;

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
        const float inv = 1.f / l;
#pragma unroll
        for (int n = 0; n < D / 8; n++)
            *reinterpret_cast<uint32_t *>(O + (size_t)row * w.ld + n * 8 + 2 * w.t) =
                tc_elem<T>::pack(w.o[n][2 * r] * inv, w.o[n][2 * r + 1] * inv);
        TC_COUNT(no, D / 4);
        if (w.t == 0) {
            kp.lse[(size_t)bh * N + row] = w.mi[r] * kp.scale + logf(l);
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

template <int NW, int BC64, int BC128>
struct v08_shape {
    template <int D, typename T>
    static int launch(const char *name, const tc_args *a, void *stream, char *err, size_t errlen)
    {
        constexpr int BC = D == 64 ? BC64 : BC128, BR = NW * 16;
        void (*k)(tc_kparams) = a->causal ? attn_v08_kernel<D, T, true, NW, BC> : attn_v08_kernel<D, T, false, NW, BC>;
        return tc_launch(name, k, NW * 32, (size_t)(BR + 4 * BC) * D * sizeof(T), BR, a, stream, err, errlen);
    }
    static void blocks(int d, int *br, int *bc)
    {
        bool ok = d == 64 || d == 128;
        *br = ok ? NW * 16 : 0, *bc = ok ? (d == 64 ? BC64 : BC128) : 0;
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

using shape_w4 = v08_shape<4, 128, 64>;   /* Br = 64: two or three blocks per SM */
using shape_w8 = v08_shape<8, 128, 64>;   /* Br = 128: one block of 8 warps per SM */

}  // namespace

extern "C" int TC_LAUNCHER(attn_v08_w4)(const tc_args *a, void *s, char *e, size_t n) { return shape_w4::forward("v08_w4", a, s, e, n); }
extern "C" int TC_LAUNCHER(attn_v08_w8)(const tc_args *a, void *s, char *e, size_t n) { return shape_w8::forward("v08_w8", a, s, e, n); }
#ifndef FL_COUNT
extern "C" void attn_v08_w4_blocks(int d, int *br, int *bc) { shape_w4::blocks(d, br, bc); }
extern "C" void attn_v08_w8_blocks(int d, int *br, int *bc) { shape_w8::blocks(d, br, bc); }
#endif
