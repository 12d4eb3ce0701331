/* attn_bwd_wgmma.cu — FlashAttention-2's backward (Dao 2023, Algorithm 2) on Hopper's asynchronous tensor cores:
 * wgmma and TMA (sm_90a only), fp16 or bf16 in, fp32 accumulators, d = 64 or 128, causal or not, any N. The same
 * contract, preprocess and dQ conversion as the mma.sync backward (attn_bwd.cu, bwd_kernels.cuh); the forward's
 * wgmma wrappers, descriptors, mbarriers and TMA (cuda/hopper/hopper_common.cuh).
 *
 * One block of two warpgroups (256 threads) per (key block j of BC = 128 keys, batch, head); warpgroup w owns keys
 * 64w .. 64w+63 of the block (the M = 64 of every product it issues). Kj and Vj arrive once by TMA; dKj and dVj live
 * in the warpgroup's fp32 registers from start to end. The loop runs over query blocks i of BR = 64 (causal: from the
 * first block whose last query reaches key j BC); Qi and dOi arrive by TMA into one of two buffers (an mbarrier each),
 * Li and Di by 4-byte cp.async, while the block works on the other buffer. Per step, each warpgroup:
 *   S^T  = Kw Qi^T                SS: A = its 64 rows of Kj, B = Qi [queries][d]        both K-major (as Q K^T)
 *   dP^T = Vw dOi^T               SS: the same kinds, issued with S^T, one wait for both
 *   P^T  = 2^(S^T scale log2e - Li log2e)     Li per column (query); masked entries -inf -> 0
 *   dS^T = P^T o (dP^T - Di)
 *   dVw += P^T dOi                RS: P^T packed from the accumulators (A), dOi MN-major (as V in P V)
 *   dKw += dS^T Qi                RS: the same kinds
 *   dS^T -> shared memory as dS [queries][keys] (stmatrix .trans: K-major A of the next product), then a barrier:
 *   dQi += dS Kj                  SS: A = dS (all 128 keys), B = Kj [keys][d] MN-major (wgmma::ssn: the transpose
 *                                 bit on B, as in P V); warpgroup w takes the
 *                                 columns w d/2 .. (w+1) d/2 - 1 (m64n64 at d = 128, m64n32 at d = 64), then one
 *                                 fp32 atomicAdd (float2) per element into dq_accum.
 * Every element of dq_accum thus receives exactly one atomic add per visited key block (R d per head, as in
 * attn_bwd.cu and the simulator's dQi read-modify-writes); they arrive in whatever order blocks run, and fp32 addition
 * is not associative, so dQ is not bitwise deterministic (nor is FlashAttention-2's). dK and dV are: each element is
 * one thread's register, summed in loop order.
 * The scale is applied once at the end: dK in the epilogue, dQ in the conversion.
 *
 * Why no producer warp and no setmaxnreg: every thread is a consumer (the forward's v14 structure, its biggest step);
 * one thread issues the TMA copies. 256 threads and one block per SM leave 255 registers per thread, more than
 * setmaxnreg's 240; d = 128 needs dK, dV 64 each, S^T, dP^T 32 each, P and dS packed 16 each, dQ 32.
 */
#include <string.h>

#include "bwd.h"
#include "bwd_kernels.cuh"     // defines: bwd_kparams, bwd_pre, bwd_convert, bwd_main_flush, bwd_check_args, bwd_make_params, bwd_run
#include "hopper_common.cuh"   // defines: desc_k, desc_mn, kstep_off, wgmma<N, T>, wg_*, mbar_*, tma_load_tile, p_pack

namespace {
namespace bwg {

constexpr int NWG = 2, NT = NWG * 128, BR = 64, BC = NWG * 64;

/* The rows of bwd.def this file serves, told apart by the name's suffix:
 *   bwd_wgmma       dQ's columns split between the two warpgroups: at d = 64 two m64n32 halves of K's one panel (B
 *                   starts 64 bytes into the 128-byte-swizzled rows); at d = 128 one 64-column panel each
 *   bwd_wgmma_dq1   at d = 64 warpgroup 0 alone computes dQ as m64n64 (the B layout of the forward's P V) while
 *                   warpgroup 1 goes on to the next step: no half-panel B, but an unbalanced step
 *   bwd_wgmma_pipe  bwd_wgmma with dQ one step behind: dQ(i-1) is issued with S^T(i), dP^T(i) and runs under
 *                   step i's element-wise work; dS double-buffered, one barrier per step instead of two
 *   bwd_wgmma_ks    at d = 64 each warpgroup multiplies its own dS panel by its own 64 rows of Kj (m64n64k64: the
 *                   split is along the keys, no half-panel B, dS never crosses warpgroups); the two fp32 partial
 *                   sums meet in shared memory, half the columns each way, and each warpgroup adds its 32 columns
 * d = 128 runs bwd_wgmma's kernel in every row. */
enum { WG_SPLIT, WG_DQ1, WG_PIPE, WG_KS };
constexpr bool ends_with(const char *name, const char *suf)
{
    int n = 0, m = 0;
    while (name[n])
        n++;
    while (suf[m])
        m++;
    if (m > n)
        return false;
    for (int x = 0; x < m; x++)
        if (name[n - m + x] != suf[x])
            return false;
    return true;
}
constexpr int variant_of(const char *name)
{
    return ends_with(name, "_dq1") ? WG_DQ1 : ends_with(name, "_pipe") ? WG_PIPE : ends_with(name, "_ks") ? WG_KS : WG_SPLIT;
}

struct maps {
    CUtensorMap q, k, v, dout;
};

/* Shared memory, bytes from the 1024-aligned base: Kj, Vj (BC x D each), two buffers each of Qi and dOi (BR x D), of dS
 * (BR x BC; the second used by bwd_wgmma_pipe), two buffers each of Li and Di (BR floats), the mbarriers (K and V; Q and dO per buffer). Tiles are
 * 128-byte-swizzled panels of 64 columns (hopper_common.cuh), every one on a multiple of 1024. */
template <int D> struct smem_layout {
    static constexpr uint32_t TK = BC * D * 2, TQ = BR * D * 2;
    static constexpr uint32_t TS = BR * BC * 2;   /* one dS buffer */
    static constexpr uint32_t K = 0, V = K + TK, Q = V + TK, DO = Q + 2 * TQ, DS = DO + 2 * TQ, L = DS + 2 * TS,
                              DD = L + 2 * BR * 4, BAR = DD + 2 * BR * 4, bytes = BAR + 3 * 8;
    static_assert(D % 64 == 0 && TK % 1024 == 0 && TQ % 1024 == 0, "panels on 1024-byte boundaries");
};

/* Four 8x8 tiles of 16-bit values from registers to shared memory, transposed: lane 8m + r names the address of
 * row r of stored tile m, which receives column r of the fragment held in register m (mma layout: thread (g, t)
 * holds row g, columns 2t, 2t+1). */
__device__ __forceinline__ void stsm_x4_t(uint32_t addr, uint32_t r0, uint32_t r1, uint32_t r2, uint32_t r3)
{
    asm volatile("stmatrix.sync.aligned.m8n8.x4.trans.shared.b16 [%0], {%1, %2, %3, %4};\n" ::"r"(addr), "r"(r0),
                 "r"(r1), "r"(r2), "r"(r3)
                 : "memory");
}

template <int D, typename T, bool CAUSAL, int VAR>
__global__ void __launch_bounds__(NT, 1) bwd_wgmma_main(const __grid_constant__ maps mp, const bwd_kparams kp)
{
    using SM = smem_layout<D>;
    constexpr int KS = D / 16;                                    /* k-steps of S^T and dP^T */
    constexpr bool KSP = VAR == WG_KS, SPLIT = !KSP && VAR != WG_DQ1, PIPE = VAR == WG_PIPE;
    constexpr int DQN = SPLIT ? D / 2 : D;                        /* dQ columns per warpgroup that computes dQ */
    static_assert(D == 64 || (SPLIT && !PIPE), "d = 128: bwd_wgmma's kernel");
    extern __shared__ __align__(1024) unsigned char smem[];
    const uint32_t s0 = hp_align1k(smem);
    const unsigned char *sbase = smem + (s0 - smem_u32(smem));
    const float *sL = reinterpret_cast<const float *>(sbase + SM::L), *sD = reinterpret_cast<const float *>(sbase + SM::DD);
    const uint32_t kv_full = s0 + SM::BAR, qd_full = kv_full + 8;   /* qd_full + 8 b: Qi, dOi of buffer b */

    const int tid = threadIdx.x, wg = tid / 128, warp = (tid % 128) / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
    const int j = (int)(blockIdx.x % kp.Tc), bh = (int)(blockIdx.x / kp.Tc), N = kp.N, H = kp.H, b = bh / H, h = bh % H;
    const int k0 = j * BC, kw0 = k0 + 64 * wg, key0 = kw0 + 16 * warp + g;   /* block's, warpgroup's, thread's key */
    const size_t ld = (size_t)H * D, head = ((size_t)b * N * H + h) * D;
    const float *Lg = kp.lse + (size_t)bh * N, *Dg = kp.delta + (size_t)bh * N;
    float *dQacc = kp.dq_accum + head;
    unsigned long long nq = 0, nk = 0, nv = 0, ndo = 0, nl = 0, nd = 0, natom = 0, ndk = 0, ndv = 0;
    (void)nq, (void)nk, (void)nv, (void)ndo, (void)nl, (void)nd, (void)natom, (void)ndk, (void)ndv;

    /* Line 8's range: causal, query blocks before the first key's block see none of these keys. */
    const int i0 = CAUSAL ? k0 / BR : 0, Tr = kp.Tr;
    /* Line 9's loads of query block i into buffer buf: Qi, dOi by TMA (thread 0; rows past N arrive as zeros), Li, Di
     * by cp.async (threads 0 .. 2 BR - 1; past N: zeros). */
    auto load_q = [&](int i, int buf) {
        const int q0 = i * BR;
        if (tid == 0) {
            mbar_expect_tx(qd_full + 8 * buf, 2 * SM::TQ);
            tma_load_tile<D>(s0 + SM::Q + buf * SM::TQ, &mp.q, BR, q0, h, b, qd_full + 8 * buf);
            tma_load_tile<D>(s0 + SM::DO + buf * SM::TQ, &mp.dout, BR, q0, h, b, qd_full + 8 * buf);
            FL_ADD(nq, (size_t)min(BR, N - q0) * D), FL_ADD(ndo, (size_t)min(BR, N - q0) * D);
        }
        bwd_load_ld<BR>(s0, SM::L, SM::DD, buf, Lg, Dg, q0, N, tid, nl, nd);
        cp_async_commit();
    };

    if (tid == 0) {
        mbar_init(kv_full, 1);
        mbar_init(qd_full, 1);
        mbar_init(qd_full + 8, 1);
        mbar_init_fence();
    }
    __syncthreads();
    /* Line 6: load Kj, Vj (one mbarrier), and query block i0. Line 7: dKj = dVj = 0, in registers. */
    if (tid == 0) {
        mbar_expect_tx(kv_full, 2 * SM::TK);
        tma_load_tile<D>(s0 + SM::K, &mp.k, BC, k0, h, b, kv_full);
        tma_load_tile<D>(s0 + SM::V, &mp.v, BC, k0, h, b, kv_full);
        FL_ADD(nk, (size_t)min(BC, N - k0) * D), FL_ADD(nv, (size_t)min(BC, N - k0) * D);
    }
    load_q(i0, 0);
    float dk[D / 2], dv[D / 2];
#pragma unroll
    for (int x = 0; x < D / 2; x++)
        dk[x] = dv[x] = 0.f;
    const uint32_t kw = s0 + SM::K + wg * 64 * HP_PANEL_ROW, vw = s0 + SM::V + wg * 64 * HP_PANEL_ROW;
    /* dS as stored by this thread's stmatrix: row r = lane % 8 of tile m = lane / 8, i.e. query 8 (2 cc + m / 2) + r,
     * keys 16 warp + 8 (m % 2) .. + 7 = chunk 2 warp + m % 2 of the warpgroup's panel; the chunk swizzled by r. */
    const int sm_m = lane / 8, sm_r = lane % 8;
    const uint32_t ds_st = s0 + SM::DS + wg * BR * HP_PANEL_ROW + (8 * (sm_m / 2) + sm_r) * HP_PANEL_ROW +
                           ((uint32_t)((2 * warp + sm_m % 2) ^ sm_r) << 4);
    /* dQ's B: columns wg DQN .. of Kj (d = 128: panel wg; d = 64 split: 64 bytes into panel 0's rows) */
    const uint32_t kq = s0 + SM::K + (D == 128 ? wg * BC * HP_PANEL_ROW : (SPLIT ? wg * 64 : 0));
    const bool does_dq = SPLIT || KSP || wg == 0;
    /* Line 15 for query block q0: dQ = dS Kj, this warpgroup's DQN columns over all BC keys (A: dS at dsb, K-major;
     * B: Kj, MN-major), then one fp32 atomic add per element into dq_accum (rows < N). */
    auto dq_issue = [&](float (&dq)[DQN / 2], uint32_t dsb) {
#pragma unroll
        for (int kk = 0; kk < BC / 16; kk++)
            wgmma<DQN, T>::ssn(dq, desc_k(dsb + kstep_off(kk, BR)), desc_mn(kq + kk * 16 * HP_PANEL_ROW, BC * HP_PANEL_ROW),
                               kk > 0);
    };
    auto dq_atomics = [&](const float (&dq)[DQN / 2], int q0) {   /* ks: the warpgroup's half of the columns */
        constexpr int NC = KSP ? DQN / 16 : DQN / 8;   /* column blocks of 8 added by this warpgroup */
        const int cb = KSP ? wg * NC : 0;
#pragma unroll
        for (int hh = 0; hh < 2; hh++) {
            const int row = q0 + 16 * warp + g + 8 * hh;
            if (row >= N)
                continue;
            float *dst = dQacc + (size_t)row * ld + (SPLIT ? wg * DQN : 0) + 2 * t;
#pragma unroll
            for (int c = cb; c < cb + NC; c++)
                atomicAdd(reinterpret_cast<float2 *>(dst + 8 * c), make_float2(dq[4 * c + 2 * hh], dq[4 * c + 2 * hh + 1]));
            FL_ADD(natom, 2 * NC);
        }
    };
    if (PIPE) {                     /* step i0 multiplies dS buffer 1 too: zeros (its dQ is not added) */
        for (int x = tid; x < (int)(SM::TS / 16); x += NT)
            asm volatile("st.shared.v4.u32 [%0], {%1, %1, %1, %1};\n" ::"r"(s0 + SM::DS + SM::TS + 16 * x), "r"(0u)
                         : "memory");
        fence_async_smem();
    }
    mbar_wait(kv_full, 0);

    for (int i = i0; i < Tr; i++) {                                                       /* line 8 */
        const int buf = (i - i0) & 1, q0 = i * BR;
        cp_async_wait<0>();         /* this thread's Li, Di of block i */
        __syncthreads();            /* everyone's; and step i-1 is done with buffer buf ^ 1 and with dS */
        if (i + 1 < Tr)
            load_q(i + 1, buf ^ 1);
        mbar_wait(qd_full + 8 * buf, (uint32_t)((i - i0) >> 1) & 1);
        const uint32_t qb = s0 + SM::Q + buf * SM::TQ, dob = s0 + SM::DO + buf * SM::TQ;
        const float *Li = sL + buf * BR, *Di = sD + buf * BR;

        /* Lines 10 and 13: S^T = Kw Qi^T, dP^T = Vw dOi^T (the warpgroup's 64 keys x BR queries), two groups. */
        float s[BR / 2], dp[BR / 2], dq[DQN / 2];
        wg_fence();
        gemm_qk<BR, KS, T>(s, kw, BC, qb);
        wg_commit();
        gemm_qk<BR, KS, T>(dp, vw, BC, dob);
        wg_commit();
        if (PIPE) {                 /* dQ of block i-1 (at i0: of the zeroed buffer) behind them, every step alike */
            dq_issue(dq, s0 + SM::DS + ((i - 1 - i0) & 1) * SM::TS);
            wg_commit();
            wg_wait<2>();
        } else {
            wg_wait<1>();           /* S^T has landed; dP^T (and dQ) may still run */
        }
        reg_fence(s);

        /* Line 11: P^T = 2^(S^T scale log2e - Li log2e), masked: queries or keys past N, (causal) query < key.
         * Register 4c + 2hh + e: key key0 + 8hh, query q0 + 8c + 2t + e. */
        const bool edge = q0 + BR > N || kw0 + 64 > N || (CAUSAL && q0 < kw0 + 63);
#pragma unroll
        for (int c = 0; c < BR / 8; c++) {
            const float2 l = *reinterpret_cast<const float2 *>(Li + 8 * c + 2 * t);
#pragma unroll
            for (int x = 0; x < 4; x++) {
                const int qry = q0 + 8 * c + 2 * t + (x & 1), key = key0 + 8 * (x >> 1);
                float y = fmaf(s[4 * c + x], kp.scale_log2, -(x & 1 ? l.y : l.x) * TC_LOG2E);
                if (edge && (qry >= N || key >= N || (CAUSAL && qry < key)))
                    y = -INFINITY;
                s[4 * c + x] = fast_exp2(y);
            }
        }
        uint32_t p[BR / 4], ds[BR / 4];
        p_pack<BR, T>(p, s);
        /* Line 12: dVw += P^T dOi (A = P^T from registers, B = dOi MN-major), issued behind dP^T. */
        wg_fence();
        gemm_pv<D, BR, T>(dv, p, dob, true);
        wg_commit();
        if (PIPE)
            wg_wait<2>();
        else
            wg_wait<1>();           /* dP^T has landed (groups complete in order); dV (and dQ) may still run */
        reg_fence(dp);

        /* Line 14: dS^T = P^T o (dP^T - Di). Line 16: dKw += dS^T Qi (the same kinds as dV), left in flight. */
#pragma unroll
        for (int c = 0; c < BR / 8; c++) {
            const float2 dd = *reinterpret_cast<const float2 *>(Di + 8 * c + 2 * t);
#pragma unroll
            for (int x = 0; x < 4; x++)
                dp[4 * c + x] = s[4 * c + x] * (dp[4 * c + x] - (x & 1 ? dd.y : dd.x));
        }
        p_pack<BR, T>(ds, dp);
        wg_fence();
        gemm_pv<D, BR, T>(dk, ds, qb, true);
        wg_commit();

        /* dS^T, transposed, into shared memory as dS [queries][keys]; visible to the tensor cores of both. */
        const uint32_t dsb = s0 + SM::DS + (PIPE ? ((i - i0) & 1) * SM::TS : 0);
#pragma unroll
        for (int cc = 0; cc < BR / 16; cc++)
            stsm_x4_t(ds_st + (dsb - s0 - SM::DS) + cc * 16 * HP_PANEL_ROW, ds[4 * cc], ds[4 * cc + 1], ds[4 * cc + 2],
                      ds[4 * cc + 3]);
        fence_async_smem();
        if (PIPE) {                 /* the next step's barrier publishes dS(i); dQ(i-1) is done once 2 groups remain */
            wg_wait<2>();
            reg_fence(dq);
            if (i > i0)
                dq_atomics(dq, q0 - BR);
            wg_wait<0>();
        } else if (KSP) {
            /* dQ partial = dS[:, own keys] K[own keys, :], then the halves cross: X[w] holds warpgroup w's partial
             * of the other warpgroup's columns, stored [column block][thread] as float4 (conflict-free). */
            bar_sync(1 + wg, 128);     /* the warpgroup's own dS panel is complete */
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < 4; kk++)
                wgmma<DQN, T>::ssn(dq, desc_k(dsb + wg * BR * HP_PANEL_ROW + kstep_off(kk, BR)),
                                   desc_mn(s0 + SM::K + (64 * wg + 16 * kk) * HP_PANEL_ROW, BC * HP_PANEL_ROW), kk > 0);
            wg_commit();
            wg_wait<0>();
            reg_fence(dq);
            constexpr int NC = DQN / 16;   /* column blocks of 8 per half */
            float4 *xw = reinterpret_cast<float4 *>(const_cast<unsigned char *>(sbase) + SM::DS + SM::TS + wg * SM::TS / 2);
            const float4 *xr = reinterpret_cast<const float4 *>(sbase + SM::DS + SM::TS + (1 - wg) * SM::TS / 2);
#pragma unroll
            for (int c = 0; c < NC; c++) {
                const int o = (1 - wg) * NC + c;
                xw[c * 128 + tid % 128] = make_float4(dq[4 * o], dq[4 * o + 1], dq[4 * o + 2], dq[4 * o + 3]);
            }
            __syncthreads();
#pragma unroll
            for (int c = 0; c < NC; c++) {
                const int o = wg * NC + c;
                const float4 x = xr[c * 128 + tid % 128];
                dq[4 * o] += x.x, dq[4 * o + 1] += x.y, dq[4 * o + 2] += x.z, dq[4 * o + 3] += x.w;
            }
            dq_atomics(dq, q0);
        } else {
            __syncthreads();
            if (does_dq) {
                wg_fence();
                dq_issue(dq, dsb);
                wg_commit();
                wg_wait<0>();
                reg_fence(dq);
                dq_atomics(dq, q0);
            } else {
                wg_wait<0>();
            }
        }
        reg_fence(dv);
        reg_fence(dk);
        reg_fence(p);
        reg_fence(ds);
    }
    if (PIPE) {                     /* the last query block's dQ */
        __syncthreads();
        float dq[DQN / 2];
        wg_fence();
        dq_issue(dq, s0 + SM::DS + ((Tr - 1 - i0) & 1) * SM::TS);
        wg_commit();
        wg_wait<0>();
        reg_fence(dq);
        dq_atomics(dq, (Tr - 1) * BR);
    }

    /* Line 18: write dKj = scale (dS^T Q summed), dVj: the thread's two key rows, those < N. */
    T *dK = (T *)kp.dk + head, *dV = (T *)kp.dv + head;
#pragma unroll
    for (int hh = 0; hh < 2; hh++) {
        const int row = key0 + 8 * hh;
        if (row >= N)
            continue;
#pragma unroll
        for (int c = 0; c < D / 8; c++) {
            const size_t e = (size_t)row * ld + 8 * c + 2 * t;
            *reinterpret_cast<uint32_t *>(dK + e) =
                pack2<T>(dk[4 * c + 2 * hh] * kp.scale, dk[4 * c + 2 * hh + 1] * kp.scale);
            *reinterpret_cast<uint32_t *>(dV + e) = pack2<T>(dv[4 * c + 2 * hh], dv[4 * c + 2 * hh + 1]);
        }
        FL_ADD(ndk, D / 4), FL_ADD(ndv, D / 4);
    }
    bwd_main_flush(kp.count, nq, nk, nv, ndo, nl, nd, natom, ndk, ndv);
}

/* ---- host ------------------------------------------------------------------------------------------------------ */
template <int D, typename T, int VAR>
int launch(const char *name, const tc_bwd_args *a, cudaStream_t st, char *err, size_t errlen)
{
    const size_t smem = smem_layout<D>::bytes + 1024;   /* + the alignment of the base to 1024 */
    int dev, optin, major, minor;
    CUDA_TRY(cudaGetDevice(&dev));
    CUDA_TRY(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    CUDA_TRY(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    CUDA_TRY(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
    if (major != 9 || minor != 0) {
        snprintf(err, errlen, "%s: built for sm_90a (H100, H200) only; this device is sm_%d%d", name, major, minor);
        return FL_EXIT_USAGE;
    }
    if (smem > (size_t)optin) {
        snprintf(err, errlen, "%s: needs %zu bytes of shared memory per block, the device grants %d", name, smem, optin);
        return FL_EXIT_USAGE;
    }
    const tc_args *f = &a->fwd;
    if (((uintptr_t)f->q | (uintptr_t)f->k | (uintptr_t)f->v | (uintptr_t)a->dout) % 16) {
        snprintf(err, errlen, "%s: q, k, v and dout must be 16-byte aligned (TMA)", name);
        return FL_EXIT_USAGE;
    }
    bwd_kparams kp;
    int rc = bwd_make_params(name, a, BR, BC, D, &kp, err, errlen);
    if (rc)
        return rc;
    maps m;
    if (hp_encode_map(&m.q, f, f->q, BR, err, errlen) || hp_encode_map(&m.k, f, f->k, BC, err, errlen) ||
        hp_encode_map(&m.v, f, f->v, BC, err, errlen) || hp_encode_map(&m.dout, f, a->dout, BR, err, errlen))
        return FL_EXIT_USAGE;
    void (*k)(const maps, const bwd_kparams) =
        f->causal ? bwd_wgmma_main<D, T, true, VAR> : bwd_wgmma_main<D, T, false, VAR>;
    CUDA_TRY(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    return bwd_run<D, T>(kp, [&] { k<<<(unsigned)kp.blocks, NT, smem, st>>>(m, kp); }, st, err, errlen);
}

template <int BR64, int BR128, int VAR>
int entry(const char *name, const tc_bwd_args *a, void *s, char *err, size_t n)
{
    static_assert(BR64 == BR && BR128 == BR, "bwd.def's blocks for a wgmma row are the kernel's BR");
    int rc = bwd_check_args(name, a, err, n);
    if (rc)
        return rc;
    cudaStream_t st = (cudaStream_t)s;
    bool bf = a->fwd.dtype == DTYPE_BF16;
    if (a->fwd.d == 64)
        return bf ? launch<64, __nv_bfloat16, VAR>(name, a, st, err, n) : launch<64, __half, VAR>(name, a, st, err, n);
    /* d = 128 splits dQ's columns in every row: its pipelined dQ would spill 80 bytes next to the 255 registers, and
     * a 128-column partial (ks) would not fit either */
    constexpr int V128 = WG_SPLIT;
    return bf ? launch<128, __nv_bfloat16, V128>(name, a, st, err, n) : launch<128, __half, V128>(name, a, st, err, n);
}

}  // namespace bwg
}  // namespace

/* The wgmma rows' launchers (counting twins under FL_COUNT) and, in the plain build, their blocks. */
#ifdef FL_COUNT
#define BWG_BLOCKS(name, br64, br128)
#else
#define BWG_BLOCKS(name, br64, br128)                                                                            \
    extern "C" void name##_blocks(int d, int *br, int *bc)                                                       \
    {                                                                                                            \
        bool ok = d == 64 || d == 128;                                                                           \
        *br = ok ? (d == 64 ? br64 : br128) : 0, *bc = ok ? bwg::BC : 0;                                         \
    }
#endif
#define TC_BWD_CONFIG(name, br64, br128, change)
#define TC_BWD_WGMMA(name, br64, br128, change)                                                                \
    extern "C" int FL_NAME(name##_backward)(const tc_bwd_args *a, void *s, char *e, size_t n)                    \
    {                                                                                                            \
        return bwg::entry<br64, br128, bwg::variant_of(#name)>(#name, a, s, e, n);                                                       \
    }                                                                                                            \
    BWG_BLOCKS(name, br64, br128)
#include "bwd.def"
#undef TC_BWD_CONFIG
#undef TC_BWD_WGMMA
