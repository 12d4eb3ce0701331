/* bwd_kernels.cuh — what both tensor-core backwards share (attn_bwd.cu: mma.sync, sm_90; attn_bwd_wgmma.cu: wgmma,
 * sm_90a): the kernel arguments, FA2 Alg.2's preprocess (lines 3-4: dq_accum = 0, D = rowsum(dO o O)), the dQ
 * conversion (dq = dt(scale * dq_accum)), the argument checks, and the launch of those two kernels around a main one.
 * Templates in an unnamed namespace: each including file instantiates its own copy.
 *
 *   bwd_kparams kp;
 *   if ((rc = bwd_make_params(name, a, BR, BC, &kp, err, errlen))) return rc;      // Tr, Tc, scale, grid sizes
 *   rc = bwd_run<D, T>(name, a, kp, [&] { main_k<<<kp.blocks, NT, smem, st>>>(kp); }, st, err, errlen);
 */
#ifndef FLASHLAB_TC_BWD_KERNELS_CUH
#define FLASHLAB_TC_BWD_KERNELS_CUH

#include "bwd.h"
#include "tc_common.cuh"   // defines: pack2, tc_check_args, FL_ADD, fl_count_flush, CUDA_TRY, TC_LOG2E

namespace {

struct bwd_kparams {
    const void *q, *k, *v, *o, *dout;
    const float *lse;
    void *dq, *dk, *dv;
    float *dq_accum, *delta;
    int N, H, Tr, Tc;
    long long rows;               /* B * N * H */
    long long blocks, pre, conv, n8;   /* grids: main kernel (Tc * B * H), preprocess, conversion; B N H d / 8 */
    float scale, scale_log2;
    unsigned long long *count;
};

/* 4 bytes global -> shared asynchronously; ok = false writes zero (src-size 0). */
__device__ __forceinline__ void cp_async_4(uint32_t dst, const void *src, bool ok)
{
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(src), "r"(ok ? 4 : 0));
}

/* Line 9's Li and Di of the query rows q0 .. q0+BR-1 into buffer `slot` of the L and D rows at s0 + l_off and
 * s0 + d_off in shared memory (4 bytes each, cp.async, in the caller's copy group): threads 0 .. BR-1 copy L,
 * BR .. 2BR-1 copy D; rows past N are zeros and not counted (nl, nd: the counting twin's counters). Both backward
 * kernels load them this way. */
template <int BR>
__device__ __forceinline__ void bwd_load_ld(uint32_t s0, uint32_t l_off, uint32_t d_off, int slot, const float *Lg,
                                            const float *Dg, int q0, int N, int tid, unsigned long long &nl,
                                            unsigned long long &nd)
{
    (void)nl, (void)nd;   /* the plain build counts nothing */
    if (tid < 2 * BR) {
        const int r = tid % BR;
        const bool ok = q0 + r < N, isd = tid >= BR;
        cp_async_4(s0 + (isd ? d_off : l_off) + (slot * BR + r) * 4, (isd ? Dg : Lg) + (ok ? q0 + r : 0), ok);
        if (isd)
            FL_ADD(nd, ok ? 1 : 0);
        else
            FL_ADD(nl, ok ? 1 : 0);
    }
}

/* ---- lines 3-4: dq_accum = 0, D = rowsum(dO o O) ------------------------------------------------------------- */
/* D/8 lanes per row, 16 bytes each; rows in memory order (b, n, h), D written to (b, h, n). */
template <int D, typename T> __global__ void __launch_bounds__(256) bwd_pre(bwd_kparams kp)
{
    constexpr int LPR = D / 8, RPB = 256 / LPR;   /* lanes per row, rows per block */
    const long long r = (long long)blockIdx.x * RPB + threadIdx.x / LPR;
    const int c = threadIdx.x % LPR;
    unsigned long long no = 0, ndo = 0, nz = 0, nd = 0;
    float acc = 0;
    if (r < kp.rows) {
        const size_t e = (size_t)r * D + c * 8;
        uint4 o4 = *reinterpret_cast<const uint4 *>((const T *)kp.o + e);
        uint4 g4 = *reinterpret_cast<const uint4 *>((const T *)kp.dout + e);
        const T *o = reinterpret_cast<const T *>(&o4), *g = reinterpret_cast<const T *>(&g4);
#pragma unroll
        for (int x = 0; x < 8; x++)
            acc = fmaf((float)o[x], (float)g[x], acc);
        float4 *z = reinterpret_cast<float4 *>(kp.dq_accum + e);
        z[0] = z[1] = make_float4(0.f, 0.f, 0.f, 0.f);
        FL_ADD(no, 8), FL_ADD(ndo, 8), FL_ADD(nz, 8);
    }
#pragma unroll
    for (int o = LPR / 2; o > 0; o >>= 1)
        acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (r < kp.rows && c == 0) {
        const long long n = r / kp.H % kp.N, b = r / ((long long)kp.H * kp.N), h = r % kp.H;
        kp.delta[(b * kp.H + h) * kp.N + n] = acc;
        FL_ADD(nd, 1);
    }
    fl_count_flush(kp.count + TC_BWD_CNT_O_RD, no);
    fl_count_flush(kp.count + TC_BWD_CNT_DO_RD, ndo);
    fl_count_flush(kp.count + TC_BWD_CNT_DQ_ZERO, nz);
    fl_count_flush(kp.count + TC_BWD_CNT_D_WR, nd);
}

/* ---- dq = dt(scale * dq_accum) ---------------------------------------------------------------------------------- */
/* The main loop's per-thread tallies, one atomic per warp and counter (all 32 lanes call it): both backwards, the
 * mma.sync one and the wgmma one, count the same tensors of Algorithm 2's loop. */
__device__ __forceinline__ void bwd_main_flush(unsigned long long *c, unsigned long long nq, unsigned long long nk,
                                               unsigned long long nv, unsigned long long ndo, unsigned long long nl,
                                               unsigned long long nd, unsigned long long natom, unsigned long long ndk,
                                               unsigned long long ndv)
{
    fl_count_flush(c + TC_BWD_CNT_Q_RD, nq), fl_count_flush(c + TC_BWD_CNT_K_RD, nk);
    fl_count_flush(c + TC_BWD_CNT_V_RD, nv), fl_count_flush(c + TC_BWD_CNT_DO_RD, ndo);
    fl_count_flush(c + TC_BWD_CNT_L_RD, nl), fl_count_flush(c + TC_BWD_CNT_D_RD, nd);
    fl_count_flush(c + TC_BWD_CNT_DQ_ATOMIC, natom);
    fl_count_flush(c + TC_BWD_CNT_DK_WR, ndk), fl_count_flush(c + TC_BWD_CNT_DV_WR, ndv);
}

template <typename T> __global__ void __launch_bounds__(256) bwd_convert(bwd_kparams kp, long long n8)
{
    const long long x = (long long)blockIdx.x * 256 + threadIdx.x;
    unsigned long long nr = 0, nw = 0;
    if (x < n8) {
        const float4 *a = reinterpret_cast<const float4 *>(kp.dq_accum) + 2 * x;
        float4 lo = a[0], hi = a[1];
        const float s = kp.scale;
        uint4 out = {pack2<T>(lo.x * s, lo.y * s), pack2<T>(lo.z * s, lo.w * s),
                     pack2<T>(hi.x * s, hi.y * s), pack2<T>(hi.z * s, hi.w * s)};
        reinterpret_cast<uint4 *>(kp.dq)[x] = out;
        FL_ADD(nr, 8), FL_ADD(nw, 8);
    }
    fl_count_flush(kp.count + TC_BWD_CNT_DQ_ACC_RD, nr);
    fl_count_flush(kp.count + TC_BWD_CNT_DQ_WR, nw);
}

/* ---- host ----------------------------------------------------------------------------------------------------- */
/* The forward's checks on a->fwd (tc_common.cuh), then the backward's own tensors and head dimensions. */
int bwd_check_args(const char *name, const tc_bwd_args *a, char *err, size_t errlen)
{
    int rc = tc_check_args(name, &a->fwd, err, errlen);
    if (rc)
        return rc;
    if (!a->dout || !a->dq || !a->dk || !a->dv || !a->dq_accum || !a->delta) {
        snprintf(err, errlen, "%s: dout, dq, dk, dv, dq_accum and delta must all be device pointers", name);
        return FL_EXIT_USAGE;
    }
    if (a->fwd.d != 64 && a->fwd.d != 128) {
        snprintf(err, errlen, "%s: head dimension d = %zu not supported (64 or 128)", name, a->fwd.d);
        return FL_EXIT_USAGE;
    }
    return 0;
}

/* The arguments of all three kernels for blocks of BR query rows and BC keys; FL_EXIT_USAGE if a grid is too large. */
static inline int bwd_make_params(const char *name, const tc_bwd_args *a, int BR, int BC, int D, bwd_kparams *kp,
                                  char *err, size_t errlen)
{
    const tc_args *f = &a->fwd;
    const long long rows = (long long)(f->B * f->N * f->H), Tc = ((long long)f->N + BC - 1) / BC;
    kp->blocks = Tc * (long long)(f->B * f->H);
    kp->pre = (rows + 256 / (D / 8) - 1) / (256 / (D / 8));
    kp->n8 = rows * D / 8;
    kp->conv = (kp->n8 + 255) / 256;
    if (kp->blocks > INT_MAX || kp->pre > INT_MAX || kp->conv > INT_MAX) {
        snprintf(err, errlen, "%s: the grid of %lld x %lld x %lld thread blocks is too large", name, kp->pre,
                 kp->blocks, kp->conv);
        return FL_EXIT_USAGE;
    }
    kp->q = f->q, kp->k = f->k, kp->v = f->v, kp->o = f->o, kp->dout = a->dout, kp->lse = f->lse;
    kp->dq = a->dq, kp->dk = a->dk, kp->dv = a->dv, kp->dq_accum = a->dq_accum, kp->delta = a->delta;
    kp->N = (int)f->N, kp->H = (int)f->H, kp->Tr = (int)((f->N + BR - 1) / BR), kp->Tc = (int)Tc, kp->rows = rows;
    kp->scale = f->scale > 0 ? f->scale : (float)(1.0 / sqrt((double)f->d));
    kp->scale_log2 = kp->scale * TC_LOG2E;
    kp->count = f->count;
    return 0;
}

/* Preprocess, the main kernel (main_launch(): launches it on st), conversion: one stream, each launch checked. */
template <int D, typename T, typename F>
int bwd_run(const bwd_kparams &kp, F main_launch, cudaStream_t st, char *err, size_t errlen)
{
    bwd_pre<D, T><<<(unsigned)kp.pre, 256, 0, st>>>(kp);
    CUDA_TRY(cudaGetLastError());
    main_launch();
    CUDA_TRY(cudaGetLastError());
    bwd_convert<T><<<(unsigned)kp.conv, 256, 0, st>>>(kp, kp.n8);
    CUDA_TRY(cudaGetLastError());
    return 0;
}

}  // namespace

#endif
