/* attn_bwd.cu — FlashAttention-2's backward (Dao 2023, Algorithm 2) on the tensor cores: mma.sync m16n8k16, fp16
 * or bf16 in, fp32 accumulators, d = 64 or 128, causal or not, any N (bwd.h has the contract).
 *
 * Three kernels, as FlashAttention-2's own code runs them:
 *   bwd_pre      lines 3-4: dq_accum = 0; D = rowsum(dO o O) in fp32 (so the main loop never reads O)
 *   bwd_main     lines 5-18: one block of 8 warps per (key block j of BC = 128 keys, batch, head). Kj, Vj stay in
 *                shared memory for the whole loop over query blocks i; each warp owns 16 keys, and its dKj, dVj rows
 *                live in registers from start to end. Per query block: Qi, dOi, Li, Di land by cp.async into one
 *                of two buffers while the block computes on the other.
 *   bwd_convert  dq = dt(scale * dq_accum)
 *
 * The main kernel works on the transposes, so that every product has the warp's own keys as its rows (the M of
 * m16n8k16) and nothing is exchanged between warps except dS:
 *   S^T  = Kj Qi^T          A: the warp's 16 rows of Kj (ldmatrix)      B: Qi (ldmatrix)
 *   P^T  = exp(S^T - Li)    Li per column (query), from shared memory; masked entries are -inf -> 0
 *   dVj += P^T dOi          A: P^T straight from the S accumulators     B: dOi (ldmatrix.trans)
 *   dP^T = Vj dOi^T         A: the warp's rows of Vj                    B: dOi
 *   dS^T = P^T o (dP^T - Di)
 *   dKj += dS^T Qi          A: dS^T from registers                     B: Qi (ldmatrix.trans)
 *   dQi += dS Kj            dS^T goes through shared memory (the one exchange: a query's dQ sums over all 128
 *                           keys, i.e. over all 8 warps); each warp takes 16 query rows x a slice of d, A from
 *                           ldmatrix.trans of dS^T, B = Kj (ldmatrix.trans), then one fp32 atomicAdd per element
 *                           into dq_accum: Br*d per visited tile, R*d in all (R: the query rows of the visited
 *                           tiles) — exactly the simulator's dQi read-modify-writes, moved from the SM into L2.
 * The scale is applied once at the end: dK = scale dS^T Q in the epilogue, dQ's in the conversion.
 * dq_accum's sums arrive in whatever order the blocks run: dQ is not bitwise deterministic (FA2's as well).
 */
#include <string.h>

#include "bwd.h"
#include "bwd_kernels.cuh"   // defines: bwd_kparams, bwd_pre, bwd_convert, bwd_main_flush, bwd_check_args, bwd_make_params, bwd_run
#include "tc_fa2.cuh"

namespace {

constexpr int NW = 8, NT = NW * 32, BC = NW * 16;   /* 8 warps of 16 keys: Bc = 128 */

/* ---- lines 5-18 -------------------------------------------------------------------------------------------------- */
/* Shared memory, bytes: Kj, Vj (BC x D each), two buffers each of Qi, dOi (BR x D), dS^T (BC x BR), then two
 * buffers each of Li, Di (BR floats). Every tile is swizzled (tc_common.cuh) and starts on a multiple of 1024. */
template <int D, int BR, typename T> struct bwd_smem {
    static constexpr uint32_t RB = D * 2, K = 0, V = K + BC * RB, Q = V + BC * RB, DO = Q + 2 * BR * RB,
                              DS = DO + 2 * BR * RB, L = DS + BC * BR * 2, DD = L + 2 * BR * 4, bytes = DD + 2 * BR * 4;
    static_assert(sizeof(T) == 2, "16-bit elements");
};

template <int D, typename T, bool CAUSAL, int BR> __global__ void __launch_bounds__(NT, 1) bwd_main(bwd_kparams kp)
{
    static_assert(BR % 64 == 0 && 2 * BR <= NT, "dS^T rows of at least 8 chunks; Li, Di copied by one pass");
    constexpr uint32_t RB = D * 2, RBS = BR * 2;          /* bytes per row of a Q/K/V/dO tile, of the dS^T tile */
    constexpr int MQ = BR / 16, WPM = NW / MQ, DW = D / WPM;   /* dQ: m-tiles, warps per m-tile, columns per warp */
    static_assert(NW % MQ == 0 && DW % 16 == 0, "dQ's tiles share out evenly over the warps");
    using SM = bwd_smem<D, BR, T>;
    extern __shared__ __align__(1024) unsigned char smem[];
    const uint32_t s0 = smem_u32(smem);
    const float *sL = reinterpret_cast<const float *>(smem + SM::L);
    const float *sD = reinterpret_cast<const float *>(smem + SM::DD);

    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
    const int j = (int)(blockIdx.x % kp.Tc), bh = (int)(blockIdx.x / kp.Tc), N = kp.N, H = kp.H;
    const int k0 = j * BC, kw = warp * 16;              /* the block's first key; the warp's first key in Kj */
    const size_t ld = (size_t)H * D, head = ((size_t)(bh / H) * N * H + bh % H) * D;
    const T *Q = (const T *)kp.q + head, *K = (const T *)kp.k + head, *V = (const T *)kp.v + head,
            *dO = (const T *)kp.dout + head;
    const float *Lg = kp.lse + (size_t)bh * N, *Dg = kp.delta + (size_t)bh * N;
    float *dQacc = kp.dq_accum + head;
    unsigned long long nq = 0, nk = 0, nv = 0, ndo = 0, nl = 0, nd = 0, natom = 0, ndk = 0, ndv = 0;

    /* Line 8's range: causal, query blocks before the first key's block see none of these keys. */
    const int i0 = CAUSAL ? k0 / BR : 0, Tr = kp.Tr;
    /* Line 9's loads of query block i into buffer b: Qi, dOi (cp.async 16 B), Li, Di (4 B; rows past N: zeros) */
    auto load_q = [&](int i, int b) {
        const int q0 = i * BR;
        FL_ADD(nq, (tc_load_tile_fast<BR, D, NT>(s0 + SM::Q + b * BR * RB, Q, q0, N, ld)));
        FL_ADD(ndo, (tc_load_tile_fast<BR, D, NT>(s0 + SM::DO + b * BR * RB, dO, q0, N, ld)));
        bwd_load_ld<BR>(s0, SM::L, SM::DD, b, Lg, Dg, q0, N, tid, nl, nd);
    };

    /* Line 6: load Kj, Vj (with query block i0: one group). Line 7: dKj = dVj = 0, in registers. */
    FL_ADD(nk, (tc_load_tile_fast<BC, D, NT>(s0 + SM::K, K, k0, N, ld)));
    FL_ADD(nv, (tc_load_tile_fast<BC, D, NT>(s0 + SM::V, V, k0, N, ld)));
    load_q(i0, 0);
    cp_async_commit();
    float dk[1][D / 8][4], dv[1][D / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++)
            dk[0][n][e] = dv[0][n][e] = 0.f;

    /* Fragment base addresses (tc_common.cuh): A rows of Kj, Vj (the warp's keys); B of Qi, dOi as rows (S^T, dP^T)
     * and transposed (dV, dK); for dQ, A = dS as the transpose of the stored dS^T, B = Kj transposed. */
    const uint32_t ka = frag_base_a<D>(s0 + SM::K, kw, lane), va = frag_base_a<D>(s0 + SM::V, kw, lane);
    const uint32_t qb = frag_base_b<D>(s0 + SM::Q, lane), dob = frag_base_b<D>(s0 + SM::DO, lane);
    const uint32_t qbt = frag_base_bt<D>(s0 + SM::Q, lane), dobt = frag_base_bt<D>(s0 + SM::DO, lane);
    const int mq = warp % MQ, cq = warp / MQ;           /* dQ: this warp's m-tile (16 queries) and column slice */
    const uint32_t dsa = frag_base_b<BR>(s0 + SM::DS, lane) ^ (mq << 5), kbt = frag_base_bt<D>(s0 + SM::K, lane);

    for (int i = i0; i < Tr; i++) {                                           /* line 8 */
        const int b = (i - i0) & 1, q0 = i * BR;
        cp_async_wait<0>();                 /* block i has landed; and every warp is done with block i-1 */
        __syncthreads();
        if (i + 1 < Tr)
            load_q(i + 1, b ^ 1);
        cp_async_commit();
        const uint32_t boff = b * BR * RB;
        const float *Li = sL + b * BR, *Di = sD + b * BR;

        /* Line 10: S^T = Kj Qi^T (the warp's 16 keys x BR queries). */
        float s[1][BR / 8][4];
        warp_qk_xor<D, BR, T, 1, true>(s, ka, qb + boff);
        /* masked: queries past N, keys past N, and (causal) queries before the key */
        if (q0 + BR > N || k0 + BC > N || (CAUSAL && q0 < k0 + kw + 15))
#pragma unroll
            for (int n = 0; n < BR / 8; n++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int key = k0 + kw + g + (e >> 1) * 8, qry = q0 + n * 8 + 2 * t + (e & 1);
                    if (qry >= N || key >= N || (CAUSAL && qry < key))
                        s[0][n][e] = -INFINITY;
                }
        /* Line 11: P^T = exp(scale S^T - Li) = 2^(S^T scale log2 e - Li log2 e). */
#pragma unroll
        for (int n = 0; n < BR / 8; n++) {
            const float2 l = *reinterpret_cast<const float2 *>(Li + n * 8 + 2 * t);
            const float l0 = l.x * TC_LOG2E, l1 = l.y * TC_LOG2E;
            s[0][n][0] = fast_exp2(fmaf(s[0][n][0], kp.scale_log2, -l0));
            s[0][n][1] = fast_exp2(fmaf(s[0][n][1], kp.scale_log2, -l1));
            s[0][n][2] = fast_exp2(fmaf(s[0][n][2], kp.scale_log2, -l0));
            s[0][n][3] = fast_exp2(fmaf(s[0][n][3], kp.scale_log2, -l1));
        }
        /* Line 12: dVj += P^T dOi. */
        warp_pv_xor<D, BR, T, 1>(dv, s, dobt + boff);
        /* Line 13: dP^T = Vj dOi^T. */
        float dp[1][BR / 8][4];
        warp_qk_xor<D, BR, T, 1, true>(dp, va, dob + boff);
        /* Line 14: dS^T = P^T o (dP^T - Di); stored to shared memory (dt) for dQ. */
#pragma unroll
        for (int n = 0; n < BR / 8; n++) {
            const float2 dd = *reinterpret_cast<const float2 *>(Di + n * 8 + 2 * t);
            dp[0][n][0] = s[0][n][0] * (dp[0][n][0] - dd.x);
            dp[0][n][1] = s[0][n][1] * (dp[0][n][1] - dd.y);
            dp[0][n][2] = s[0][n][2] * (dp[0][n][2] - dd.x);
            dp[0][n][3] = s[0][n][3] * (dp[0][n][3] - dd.y);
            const uint32_t r0 = s0 + SM::DS + (kw + g) * RBS, r1 = r0 + 8 * RBS;
            const uint32_t c = (uint32_t)(n ^ g) << 4;   /* chunk n of rows g, g + 8, swizzled (swz) */
            const uint32_t lo = pack2<T>(dp[0][n][0], dp[0][n][1]);
            const uint32_t hi = pack2<T>(dp[0][n][2], dp[0][n][3]);
            asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(r0 + c + 4 * t), "r"(lo));
            asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(r1 + c + 4 * t), "r"(hi));
        }
        /* Line 16 (before 15: it needs nothing from the other warps): dKj += dS^T Qi. */
        warp_pv_xor<D, BR, T, 1>(dk, dp, qbt + boff);
        __syncthreads();                    /* every warp's dS^T is in shared memory */

        /* Line 15: dQi += dS Kj, this warp's 16 queries x DW columns, then atomicAdd (rows < N). */
        float dq[DW / 8][4];
#pragma unroll
        for (int kk = 0; kk < BC / 16; kk++) {
            uint32_t a[4];
            ldsm_x4_t(a, dsa + kk * 16 * RBS);
#pragma unroll
            for (int dn = 0; dn < DW / 16; dn++) {
                uint32_t kb[4];
                ldsm_x4_t(kb, (kbt ^ ((cq * DW / 16 + dn) << 5)) + kk * 16 * RB);
                if (kk == 0) {
                    mma_16816_z<T>(dq[2 * dn], a, kb[0], kb[1]);
                    mma_16816_z<T>(dq[2 * dn + 1], a, kb[2], kb[3]);
                } else {
                    mma_16816<T>(dq[2 * dn], a, kb[0], kb[1]);
                    mma_16816<T>(dq[2 * dn + 1], a, kb[2], kb[3]);
                }
            }
        }
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int row = q0 + mq * 16 + g + 8 * h;
            if (row >= N)
                continue;
            float *dst = dQacc + (size_t)row * ld + cq * DW + 2 * t;
#pragma unroll
            for (int n = 0; n < DW / 8; n++)
                atomicAdd(reinterpret_cast<float2 *>(dst + n * 8), make_float2(dq[n][2 * h], dq[n][2 * h + 1]));
            FL_ADD(natom, DW / 4);
        }
    }

    /* Line 18: write dKj = scale dS^T Q summed, dVj (the warp's 16 rows, those < N). */
    T *dK = (T *)kp.dk + head, *dV = (T *)kp.dv + head;
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const int row = k0 + kw + g + 8 * h;
        if (row >= N)
            continue;
#pragma unroll
        for (int n = 0; n < D / 8; n++) {
            const size_t e = (size_t)row * ld + n * 8 + 2 * t;
            *reinterpret_cast<uint32_t *>(dK + e) =
                pack2<T>(dk[0][n][2 * h] * kp.scale, dk[0][n][2 * h + 1] * kp.scale);
            *reinterpret_cast<uint32_t *>(dV + e) = pack2<T>(dv[0][n][2 * h], dv[0][n][2 * h + 1]);
        }
        FL_ADD(ndk, D / 4), FL_ADD(ndv, D / 4);
    }
    bwd_main_flush(kp.count, nq, nk, nv, ndo, nl, nd, natom, ndk, ndv);
}

/* ---- host ------------------------------------------------------------------------------------------------------ */
template <int D, typename T, int BR>
int bwd_launch(const char *name, const tc_bwd_args *a, cudaStream_t st, char *err, size_t errlen)
{
    using SM = bwd_smem<D, BR, T>;
    int dev, optin;
    CUDA_TRY(cudaGetDevice(&dev));
    CUDA_TRY(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    if (SM::bytes > (uint32_t)optin) {
        snprintf(err, errlen, "%s: needs %u bytes of shared memory per block, the device grants %d", name,
                 (unsigned)SM::bytes, optin);
        return FL_EXIT_USAGE;
    }
    bwd_kparams kp;
    int rc = bwd_make_params(name, a, BR, BC, D, &kp, err, errlen);
    if (rc)
        return rc;
    void (*main_k)(bwd_kparams) = a->fwd.causal ? bwd_main<D, T, true, BR> : bwd_main<D, T, false, BR>;
    CUDA_TRY(cudaFuncSetAttribute(main_k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)SM::bytes));
    return bwd_run<D, T>(kp, [&] { main_k<<<(unsigned)kp.blocks, NT, SM::bytes, st>>>(kp); }, st, err, errlen);
}

template <int BR64, int BR128> int bwd_entry(const char *name, const tc_bwd_args *a, void *s, char *err, size_t n)
{
    int rc = bwd_check_args(name, a, err, n);
    if (rc)
        return rc;
    cudaStream_t st = (cudaStream_t)s;
    bool bf = a->fwd.dtype == DTYPE_BF16;
    if (a->fwd.d == 64)
        return bf ? bwd_launch<64, __nv_bfloat16, BR64>(name, a, st, err, n)
                  : bwd_launch<64, __half, BR64>(name, a, st, err, n);
    return bf ? bwd_launch<128, __nv_bfloat16, BR128>(name, a, st, err, n)
              : bwd_launch<128, __half, BR128>(name, a, st, err, n);
}

}  // namespace

/* each configuration's launcher (its counting twin in the FL_COUNT build); the wgmma rows' are attn_bwd_wgmma.cu's */
#define TC_BWD_WGMMA(name, br64, br128, change)
#define TC_BWD_CONFIG(name, br64, br128, change)                                                               \
    extern "C" int FL_NAME(name##_backward)(const tc_bwd_args *a, void *s, char *e, size_t n)                    \
    {                                                                                                            \
        return bwd_entry<br64, br128>(#name, a, s, e, n);                                                        \
    }
#include "bwd.def"
#undef TC_BWD_CONFIG
#undef TC_BWD_WGMMA

#ifndef FL_COUNT   /* the table, the block sizes and the ctypes entry: once, in the plain build */
#define TC_BWD_CONFIG(name, br64, br128, change)                                                               \
    extern "C" int name##_backward_count(const tc_bwd_args *a, void *s, char *e, size_t n);                      \
    static void name##_blocks(int d, int *br, int *bc)                                                           \
    {                                                                                                            \
        bool ok = d == 64 || d == 128;                                                                           \
        *br = ok ? (d == 64 ? br64 : br128) : 0, *bc = ok ? BC : 0;                                              \
    }
#define TC_BWD_WGMMA(name, br64, br128, change)                                                                \
    extern "C" int name##_backward(const tc_bwd_args *a, void *s, char *e, size_t n);                            \
    extern "C" int name##_backward_count(const tc_bwd_args *a, void *s, char *e, size_t n);                      \
    extern "C" void name##_blocks(int d, int *br, int *bc);
#include "bwd.def"
#undef TC_BWD_CONFIG
#undef TC_BWD_WGMMA

extern "C" {
const tc_bwd_config tc_bwd_configs[TC_BWD_NCONFIGS] = {
#define TC_BWD_CONFIG(name, br64, br128, change) {#name, change, name##_blocks, name##_backward, name##_backward_count},
#include "bwd.def"
#undef TC_BWD_CONFIG
};

const char *tc_bwd_config_name(int idx) { return idx >= 0 && idx < TC_BWD_NCONFIGS ? tc_bwd_configs[idx].name : NULL; }
int tc_bwd_find(const char *name)
{
    int i = 0;
    while (tc_bwd_config_name(i) && strcmp(tc_bwd_config_name(i), name))
        i++;
    return tc_bwd_config_name(i) ? i : -1;
}

int tc_bwd(int idx, const void *q, const void *k, const void *v, const void *o, const void *dout, const float *lse,
           void *dq, void *dk, void *dv, float *dq_accum, float *delta, long long B, long long N, long long H,
           long long d, float scale, int causal, int dtype, void *stream)
{
    char err[256];
    if (!tc_bwd_config_name(idx) || B < 1 || N < 1 || H < 1 || d < 1) {
        fprintf(stderr, "tc_bwd: bad configuration index %d or shape B=%lld N=%lld H=%lld d=%lld\n", idx, B, N, H, d);
        return FL_EXIT_USAGE;
    }
    /* o and lse are only read: tc_args holds them writable because the forward writes them */
    tc_bwd_args a = {{q, k, v, (void *)o, (float *)lse, (size_t)B, (size_t)N, (size_t)H, (size_t)d, scale, causal,
                      dtype, NULL},
                     dout, dq, dk, dv, dq_accum, delta};
    int rc = tc_bwd_configs[idx].backward(&a, stream, err, sizeof err);
    if (rc)
        fprintf(stderr, "tc_bwd: %s\n", err);
    return rc;
}
}
#endif
