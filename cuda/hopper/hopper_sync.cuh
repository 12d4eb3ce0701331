/* hopper_sync.cuh — FlashAttention-2's forward on wgmma, every thread a consumer (v13, v14).
 *
 * A block of two warpgroups (256 threads) owns Br = 128 query rows, 64 per warpgroup, and walks the key blocks j
 * as FA2's Algorithm 1 does. Per step, each warpgroup issues S = Qi Kj^T as D/16 wgmma (A and B both read from
 * shared memory through descriptors), waits for it, runs the online softmax on its accumulators, packs P~ into
 * registers and issues O += P~ Vj as Bc/16 wgmma with A from registers; then waits again. Nothing overlaps inside a
 * warpgroup; the two warpgroups (and the two blocks of an SM, when shared memory allows) fill each other's gaps.
 *
 * LOAD = HP_CP_ASYNC (v13): every thread copies 16-byte chunks with cp.async into the 128-byte-swizzled panels,
 *   K and V double-buffered as in v06-v11 (K(j+1), V(j+1) in flight during step j).
 * LOAD = HP_TMA (v14): thread 0 issues one TMA box per 64-column panel; each buffer has an mbarrier that the copy
 *   engine completes with the byte count (expect_tx). A __syncthreads at the top of each step says the other
 *   buffer is free again; then thread 0 starts K(j+1), V(j+1) into it.
 */
#ifndef FLASHLAB_HOPPER_SYNC_CUH
#define FLASHLAB_HOPPER_SYNC_CUH

#include <string.h>

#include "hopper_common.cuh"

enum { HP_CP_ASYNC, HP_TMA };

/* Internal linkage: the counting twin (-DFL_COUNT) instantiates the same templates with other code. */
namespace {
namespace hp_sync {

constexpr int NWG = 2, NT = NWG * 128, BR = NWG * 64;

/* Rows r0 .. r0+ROWS-1 of a head (row stride ld elements) into a ROWS x DP panel tile; rows past N and columns past
 * D become zeros (src-size 0). Returns the elements this thread read. */
template <int ROWS, int D, int DP, typename T>
__device__ __forceinline__ int cp_tile(uint32_t dst, const T *src, int r0, int N, size_t ld)
{
    constexpr int CPR = DP / 8, CHUNKS = ROWS * CPR;
    static_assert(CHUNKS % NT == 0, "every thread copies the same number of chunks");
    int loaded = 0;
#pragma unroll
    for (int it = 0; it < CHUNKS / NT; it++) {
        const int x = it * NT + (int)threadIdx.x, r = x / CPR, c = x % CPR;
        const bool ok = r0 + r < N && c * 8 < D;
        const uint32_t a = dst + (uint32_t)(c / 8) * ROWS * HP_PANEL_ROW + r * HP_PANEL_ROW + (((c % 8) ^ (r & 7)) << 4);
        cp_async_16(a, ok ? src + (size_t)(r0 + r) * ld + c * 8 : src, ok);
        loaded += ok ? 8 : 0;
    }
    return loaded;
}

template <int D, typename T, bool CAUSAL, int BC, int LOAD>
__global__ void __launch_bounds__(NT, 1) kernel(const __grid_constant__ hp_maps maps, const hp_params kp)
{
    constexpr int DP = (D + 63) / 64 * 64, KS = D / 16;
    constexpr uint32_t QB = BR * DP * 2, KB = BC * DP * 2;                /* bytes of Qi, of one Kj or Vj */
    static_assert(D % 16 == 0 && BC % 16 == 0 && BC <= 256, "wgmma shapes");
    extern __shared__ __align__(1024) unsigned char smem[];
    const uint32_t sQ = hp_align1k(smem), sK = sQ + QB, sV = sK + 2 * KB, bars = sV + 2 * KB;
    /* mbarriers (TMA): Q, then K and V full, per buffer */
    const uint32_t q_full = bars, k_full = bars + 8, v_full = bars + 24;
    const int tid = threadIdx.x, wg = tid / 128, warp = (tid % 128) / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
    const int N = kp.N, Tc = (N + BC - 1) / BC;
    int i, bh;
    hp_tile(blockIdx.x, kp.Tr, i, bh);
    const int b = bh / kp.H, h = bh % kp.H;
    const size_t ld = (size_t)kp.H * D, head = ((size_t)b * N * kp.H + h) * D;
    const T *Q = (const T *)kp.q + head, *K = (const T *)kp.k + head, *V = (const T *)kp.v + head;
    const int q0 = i * BR, wr0 = q0 + wg * 64, r0 = wr0 + warp * 16 + g;
    const int jend = CAUSAL ? min(Tc, (min(q0 + BR, N) - 1) / BC + 1) : Tc;
    const int jm_n = N % BC ? N / BC : Tc, jm = CAUSAL ? min((wr0 + 1) / BC, jm_n) : jm_n;   /* first masked j */
    const uint32_t qw = sQ + wg * 64 * HP_PANEL_ROW;                     /* this warpgroup's rows of Qi */
    unsigned long long cnt[TC_NCOUNT] = {0, 0, 0, 0, 0};
    (void)K, (void)V, (void)Q, (void)cnt;

    /* FA2 Alg.1 line 4: load Qi (with K0), then V0. */
    if (LOAD == HP_CP_ASYNC) {
        HP_COUNT(cnt[TC_CNT_Q_RD], (cp_tile<BR, D, DP>(sQ, Q, q0, N, ld)));
        HP_COUNT(cnt[TC_CNT_K_RD], (cp_tile<BC, D, DP>(sK, K, 0, N, ld)));
        cp_async_commit();
        HP_COUNT(cnt[TC_CNT_V_RD], (cp_tile<BC, D, DP>(sV, V, 0, N, ld)));
        cp_async_commit();
    } else {
        if (tid == 0) {
            mbar_init(q_full, 1);
            for (int s = 0; s < 2; s++)
                mbar_init(k_full + 8 * s, 1), mbar_init(v_full + 8 * s, 1);
            mbar_init_fence();
        }
        __syncthreads();
        if (tid == 0) {
            mbar_expect_tx(q_full, QB);
            tma_load_tile<DP>(sQ, &maps.q, BR, q0, h, b, q_full);
            mbar_expect_tx(k_full, KB);
            tma_load_tile<DP>(sK, &maps.k, BC, 0, h, b, k_full);
            mbar_expect_tx(v_full, KB);
            tma_load_tile<DP>(sV, &maps.v, BC, 0, h, b, v_full);
            HP_COUNT(cnt[TC_CNT_Q_RD], (size_t)min(BR, N - q0) * D);
            HP_COUNT(cnt[TC_CNT_K_RD], (size_t)min(BC, N) * D);
            HP_COUNT(cnt[TC_CNT_V_RD], (size_t)min(BC, N) * D);
        }
        mbar_wait(q_full, 0);
    }

    /* Line 5: Oi = 0, li = 0, mi = -inf (the thread's rows r0 and r0 + 8). */
    float o[D / 2], mi[2] = {-INFINITY, -INFINITY}, li[2] = {0, 0};
#pragma unroll
    for (int x = 0; x < D / 2; x++)
        o[x] = 0;

    for (int j = 0; j < jend; j++) {                                      /* line 6 */
        const int k0 = j * BC, st = j & 1;
        const uint32_t kj = sK + st * KB, vj = sV + st * KB;
        /* line 7: Kj in shared memory; K(j+1) started into the other buffer */
        if (LOAD == HP_CP_ASYNC) {
            cp_async_wait<1>();
            fence_async_smem();
            __syncthreads();
            if (j + 1 < jend)
                HP_COUNT(cnt[TC_CNT_K_RD], (cp_tile<BC, D, DP>(sK + (st ^ 1) * KB, K, k0 + BC, N, ld)));
            cp_async_commit();
        } else {
            __syncthreads();                                              /* step j-1 is done: buffer st^1 free */
            if (tid == 0 && j + 1 < jend) {
                mbar_expect_tx(k_full + 8 * (st ^ 1), KB);
                tma_load_tile<DP>(sK + (st ^ 1) * KB, &maps.k, BC, k0 + BC, h, b, k_full + 8 * (st ^ 1));
                mbar_expect_tx(v_full + 8 * (st ^ 1), KB);
                tma_load_tile<DP>(sV + (st ^ 1) * KB, &maps.v, BC, k0 + BC, h, b, v_full + 8 * (st ^ 1));
                HP_COUNT(cnt[TC_CNT_K_RD], (size_t)min(BC, N - k0 - BC) * D);
                HP_COUNT(cnt[TC_CNT_V_RD], (size_t)min(BC, N - k0 - BC) * D);
            }
            mbar_wait(k_full + 8 * st, (j >> 1) & 1);
        }

        /* Line 8: Sij = Qi Kj^T on the tensor cores, asynchronously; wait for it. */
        float s[BC / 2];
        wg_fence();
        gemm_qk<BC, KS, T>(s, qw, BR, kj);
        wg_commit();
        wg_wait<0>();
        reg_fence(s);
        if (j >= jm)
            hp_mask<BC, CAUSAL>(s, r0, k0, N, t);

        /* Line 9 and the rescale of line 10. */
        float alpha[2];
        hp_softmax<BC>(s, mi, li, alpha, kp.scale_log2);
        o_rescale<D>(o, alpha);
        uint32_t p[BC / 4];
        p_pack<BC, T>(p, s);

        /* Vj in shared memory (V(j+1) started behind it, cp.async), then line 10: Oi += P~ij Vj. */
        if (LOAD == HP_CP_ASYNC) {
            cp_async_wait<1>();
            fence_async_smem();
            __syncthreads();
            if (j + 1 < jend)
                HP_COUNT(cnt[TC_CNT_V_RD], (cp_tile<BC, D, DP>(sV + (st ^ 1) * KB, V, k0 + BC, N, ld)));
            cp_async_commit();
        } else {
            mbar_wait(v_full + 8 * st, (j >> 1) & 1);
        }
        wg_fence();
        gemm_pv<D, BC, T>(o, p, vj, true);
        wg_commit();
        wg_wait<0>();
        reg_fence(o);
    }

    /* Lines 12-15. */
    hp_epilogue<D, T>(o, mi, li, (T *)kp.o + head, kp.lse + (size_t)bh * N, ld, r0, N, kp.scale, t,
                      cnt[TC_CNT_O_WR], cnt[TC_CNT_L_WR]);
    hp_count_flush(kp.count, cnt);
}

}  // namespace hp_sync

/* The launch shared by v13 and v14: Bc per head dimension is the version's choice (blocks). */
template <int LOAD, int BC64, int BC128>
struct hp_sync_version {
    static void blocks(int d, int /* causal: the same tile */, int *br, int *bc)
    {
        bool ok = d == 64 || d == 128;
        *br = ok ? hp_sync::BR : 0, *bc = ok ? (d == 64 ? BC64 : BC128) : 0;
    }
    template <int D, typename T>
    static int launch(const char *name, const tc_args *a, void *stream, char *err, size_t errlen)
    {
        constexpr int BC = D == 64 ? BC64 : BC128, DP = (D + 63) / 64 * 64;
        void (*k)(const hp_maps, const hp_params) = a->causal ? hp_sync::kernel<D, T, true, BC, LOAD>
                                                              : hp_sync::kernel<D, T, false, BC, LOAD>;
        const size_t smem = (size_t)(hp_sync::BR + 4 * BC) * DP * 2 + 64 + 1024;
        hp_params kp = hp_make_params(a, hp_sync::BR);
        hp_maps maps;
        memset(&maps, 0, sizeof maps);                                   /* unused by cp.async */
        if (LOAD == HP_TMA && hp_make_maps(&maps, a, hp_sync::BR, BC, err, errlen))
            return -1;
        if (hp_prepare(name, k, smem, (long long)kp.Tr * (long long)(a->B * a->H), err, errlen))
            return -1;
        k<<<(unsigned)kp.ntiles, hp_sync::NT, smem, (cudaStream_t)stream>>>(maps, kp);
        return hp_launched(name, err, errlen);
    }
    static int forward(const char *name, const tc_args *a, void *stream, char *err, size_t errlen)
    {
        if (hp_check_args(name, a, err, errlen))
            return -1;
        bool bf = a->dtype == DTYPE_BF16;
        switch (a->d) {
        case 64: return bf ? launch<64, __nv_bfloat16>(name, a, stream, err, errlen) : launch<64, __half>(name, a, stream, err, errlen);
        case 128: return bf ? launch<128, __nv_bfloat16>(name, a, stream, err, errlen) : launch<128, __half>(name, a, stream, err, errlen);
        default: snprintf(err, errlen, "%s: head dimension d = %zu not supported (64 or 128)", name, a->d); return -1;
        }
    }
};
}  // namespace

#endif
