/* hopper_common.cuh — what every Hopper kernel (cuda/hopper/attn_v13_*.cu and later) is built from: sm_90a only.
 *
 * Shared-memory tiles. A tile of R rows and DP = 64 * ceil(d / 64) columns of 16-bit values is stored as DP / 64
 * panels of R rows x 128 bytes, one after the other; in each panel, 16-byte chunk c of row r sits at chunk c ^ (r % 8)
 * (the 128-byte swizzle, the pattern TMA's CU_TENSOR_MAP_SWIZZLE_128B writes and wgmma's descriptors read; panels
 * start on 1024-byte boundaries). Columns d .. DP-1 (d = 96) hold zeros and are never multiplied.
 *
 *   desc_k(addr)            descriptor of a K-major operand (Q or K: rows of the product, k along the row)
 *   desc_mn(addr, lbo)      descriptor of an MN-major B operand (V: k = key rows, n = d along the row; lbo = panel)
 *   wgmma<N, T>::ss / ::rs  the products (hopper_wgmma.cuh); wg_fence, wg_commit, wg_wait<n> around them
 *   mbar_*, tma_load        mbarriers and TMA boxes (cuda/common/async_ops.cuh); tma_load_tile: a tile's panels
 *
 * Accumulator layout of wgmma m64nN (fp32), thread x of the warpgroup, warp w = x / 32, g = lane / 4, t = lane % 4:
 * register 4c + 2h + e holds row 16w + g + 8h, column 8c + 2t + e (the mma.sync C layout, N / 8 times). The A
 * operand from registers for k-step kk is four registers packed from S registers 8kk .. 8kk+7 in order: that is how
 * P goes from the S accumulators into P V without shared memory.
 */
#ifndef FLASHLAB_HOPPER_COMMON_CUH
#define FLASHLAB_HOPPER_COMMON_CUH

#include <cuda.h>   /* CUtensorMap (the type only: the encode call comes through the runtime's entry point) */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "attn_tc.h"    /* tc_args, TC_CNT_*: the same C ABI as the mma.sync kernels */
#include "dtype.h"      /* DTYPE_FP16, DTYPE_BF16 */
#include "hopper_wgmma.cuh"
#include "async_ops.cuh"  /* mbar_*, tma_load, fence_async_smem, tma_encode_entry: shared with the decode kernel */
#include "warp_ops.cuh"   /* pack2, smem_u32, cp_async_16, bar_sync, fast_exp2, quad_max/sum: shared with mma.sync */

#if defined(__CUDA_ARCH__) && !defined(__CUDA_ARCH_FEAT_SM90_ALL)
#error "cuda/hopper needs sm_90a: -gencode=arch=compute_90a,code=sm_90a"
#endif

/* ---- counting build --------------------------------------------------------------------------------------------- */
#ifdef FL_COUNT
#define HP_COUNT(var, n) ((var) += (unsigned long long)(n))
#define HP_LAUNCHER(name) name##_forward_count
#else
#define HP_COUNT(var, n) ((void)(n))
#define HP_LAUNCHER(name) name##_forward
#endif
/* A version's C entry points, as TC_EXPORT does for the mma.sync kernels: its launcher (the counting twin's under
 * FL_COUNT) and, in the plain build only, its blocks for the case (tc_version's; here they follow d, and at d = 256
 * the mask where a version says so); V is the class with forward() and blocks(d, causal).
 *   HP_EXPORT(attn_v13, "v13_wgmma", version)     // attn_v13_forward(_count), attn_v13_blocks */
#define HP_EXPORT(fn, name, V)                                                                                       \
    extern "C" int HP_LAUNCHER(fn)(const tc_args *a, void *s, char *e, size_t n)                                     \
    {                                                                                                                \
        return V::forward(name, a, s, e, n);                                                                         \
    }                                                                                                                \
    HP_EXPORT_BLOCKS(fn, V)
#ifdef FL_COUNT
#define HP_EXPORT_BLOCKS(fn, V)   /* once per version: in the plain build */
#else
#define HP_EXPORT_BLOCKS(fn, V)                                                                                      \
    extern "C" void fn##_blocks(int d, int causal, size_t, int *br, int *bc) { V::blocks(d, causal, br, bc); }
#endif
/* Per-thread counts into the global counters (counting build only): one atomic per thread that counted. */
__device__ __forceinline__ void hp_count_flush(unsigned long long *count, const unsigned long long (&c)[TC_NCOUNT])
{
#ifdef FL_COUNT
#pragma unroll
    for (int x = 0; x < TC_NCOUNT; x++)
        if (c[x])
            atomicAdd(count + x, c[x]);
#else
    (void)count, (void)c;
#endif
}

/* ---- shared memory, descriptors ------------------------------------------------------------------------------ */
/* The dynamic shared memory's first 1024-byte boundary (launches ask for 1024 bytes more): the swizzle pattern of
 * TMA and wgmma is a function of the address, and both assume panels that start on such a boundary. */
__device__ __forceinline__ uint32_t hp_align1k(const void *p) { return (smem_u32(p) + 1023u) & ~1023u; }

constexpr uint32_t HP_PANEL_ROW = 128;     /* bytes per panel row: 64 16-bit values */
constexpr uint32_t HP_SW_ATOM = 1024;      /* 8 rows x 128 bytes: one swizzle atom */

__device__ __forceinline__ uint64_t hp_desc_enc(uint32_t x) { return (uint64_t)((x & 0x3FFFF) >> 4); }
/* K-major, 128-byte swizzle: 8-row groups 1024 bytes apart (stride byte offset); leading offset unused (1). */
__device__ __forceinline__ uint64_t desc_k(uint32_t addr)
{
    return hp_desc_enc(addr) | (1ull << 16) | (hp_desc_enc(HP_SW_ATOM) << 32) | (1ull << 62);
}
/* MN-major, 128-byte swizzle: 64-column panels lbo bytes apart, 8-row (k) groups 1024 bytes apart. */
__device__ __forceinline__ uint64_t desc_mn(uint32_t addr, uint32_t lbo)
{
    return hp_desc_enc(addr) | (hp_desc_enc(lbo) << 16) | (hp_desc_enc(HP_SW_ATOM) << 32) | (1ull << 62);
}
/* Byte offset of k-step kk (16 columns) in a K-major tile of `rows` rows: panel kk / 4, 32 bytes per step inside. */
__device__ __forceinline__ constexpr uint32_t kstep_off(int kk, int rows)
{
    return (uint32_t)(kk / 4) * rows * HP_PANEL_ROW + (uint32_t)(kk % 4) * 32;
}

/* ---- wgmma ordering --------------------------------------------------------------------------------------------- */
__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int n> __device__ __forceinline__ void wg_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(n) : "memory"); }
/* Tie accumulator registers to this point: the compiler may not move their reads or writes across it (after a wait:
 * no read before the product has landed; before an issue: no write after). */
template <int R> __device__ __forceinline__ void reg_fence(float (&r)[R])
{
#pragma unroll
    for (int x = 0; x < R; x++)
        asm volatile("" : "+f"(r[x])::"memory");
}
template <int R> __device__ __forceinline__ void reg_fence(uint32_t (&r)[R])
{
#pragma unroll
    for (int x = 0; x < R; x++)
        asm volatile("" : "+r"(r[x])::"memory");
}
/* A shared-memory store of v (a value the code before it produced) that no one reads, placed before a
 * wgmma.wait_group: ptxas schedules WARPGROUP.DEPBAR freely past arithmetic that does not touch the products'
 * registers, and hoists it above a whole softmax (in every OVERLAP kernel of v17 - v20, nvcc 13.0), but it
 * does not move it above a shared-memory store. So the instructions v depends on stay above the wait. */
__device__ __forceinline__ void wg_pin(uint32_t addr, float v)
{
    asm volatile("st.shared.f32 [%0], %1;\n" ::"r"(addr), "f"(v) : "memory");
}

/* ---- TMA ---------------------------------------------------------------------------------------------------------- */
/* The tensor maps of one call: Q, K, V as 4-D tensors (d, N, H, B) (dim 0 innermost), boxes of 64 columns and
 * Br (Q) or Bc (K, V) rows of one head; rows past N and columns past d arrive as zeros. */
struct hp_maps {
    CUtensorMap q, k, v;
};
/* All DP / 64 panels of a tile: `rows` rows from `row`. */
template <int DP>
__device__ __forceinline__ void tma_load_tile(uint32_t dst, const CUtensorMap *map, int rows, int row, int h, int b,
                                              uint32_t bar)
{
#pragma unroll
    for (int p = 0; p < DP / 64; p++)
        tma_load(dst + p * rows * HP_PANEL_ROW, map, p * 64, row, h, b, bar);
}

/* ---- warp specialisation ---------------------------------------------------------------------------------------- */
template <int R> __device__ __forceinline__ void reg_dealloc() { asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(R)); }
template <int R> __device__ __forceinline__ void reg_alloc() { asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(R)); }

/* ---- arithmetic --------------------------------------------------------------------------------------------------- */
#define HP_LOG2E 1.4426950408889634f

/* ---- one warpgroup's 64 rows: masking, online softmax, epilogue ------------------------------------------------ */
/* -inf where key >= N, or (causal) key > query. r0: the thread's first query row (the second is r0 + 8); k0: the
 * tile's first key; t = lane % 4. */
template <int BC, bool CAUSAL>
__device__ __forceinline__ void hp_mask(float (&s)[BC / 2], int r0, int k0, int N, int t)
{
#pragma unroll
    for (int c = 0; c < BC / 8; c++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int col = k0 + 8 * c + 2 * t + (e & 1), row = r0 + 8 * (e >> 1);
            if (col >= N || (CAUSAL && col > row))
                s[4 * c + e] = -INFINITY;
        }
}

/* FA2 Alg.1 lines 9-10 in exp2 form, exactly as FlashAttention-2 does it: m_new = max(m, rowmax S); Oi and li scaled
 * by 2^((m - m_new) scale log2e); P~ = 2^(S scale log2e - m_new scale log2e) in fp32 (li sums these, unrounded); the
 * caller rounds P~ to T once, for P V. Row sums stay per thread (the quad reduces them once, at the end).
 * The O rescale is left to the caller (o_rescale) so that it can wait for a P V still in flight first. */
template <int BC>
__device__ __forceinline__ void hp_softmax(float (&s)[BC / 2], float (&mi)[2], float (&li)[2], float (&alpha)[2],
                                           float sl2)
{
    float mx[2] = {mi[0], mi[1]};
#pragma unroll
    for (int c = 0; c < BC / 8; c++) {
        mx[0] = fmaxf(mx[0], fmaxf(s[4 * c], s[4 * c + 1]));
        mx[1] = fmaxf(mx[1], fmaxf(s[4 * c + 2], s[4 * c + 3]));
    }
    float msub[2];
#pragma unroll
    for (int h = 0; h < 2; h++) {
        mx[h] = quad_max(mx[h]);
        msub[h] = mx[h] == -INFINITY ? 0.f : mx[h] * sl2;   /* a row with no key yet: never -inf - -inf */
        alpha[h] = fast_exp2(mi[h] * sl2 - msub[h]);          /* mi = -inf: 0 */
        mi[h] = mx[h];
        li[h] *= alpha[h];
    }
#pragma unroll
    for (int c = 0; c < BC / 8; c++) {
        s[4 * c + 0] = fast_exp2(fmaf(s[4 * c + 0], sl2, -msub[0]));
        s[4 * c + 1] = fast_exp2(fmaf(s[4 * c + 1], sl2, -msub[0]));
        s[4 * c + 2] = fast_exp2(fmaf(s[4 * c + 2], sl2, -msub[1]));
        s[4 * c + 3] = fast_exp2(fmaf(s[4 * c + 3], sl2, -msub[1]));
        li[0] += s[4 * c + 0] + s[4 * c + 1];
        li[1] += s[4 * c + 2] + s[4 * c + 3];
    }
}
/* v20's softmax: the same arithmetic as hp_softmax, arranged for a shorter critical path (FA2 Alg.1 lines 9-10).
 * - SPLIT: the row maxima fold into four partial maxima per row, the sums into two partial sums: chains of BC / 32
 *   and BC / 16 dependent instructions instead of BC / 8 (6 and 11 instead of 22 at Bc = 176), so one warp (all a
 *   sub-partition has while its partner warpgroup multiplies) issues back to back. It costs registers: at Bc = 176
 *   the H100 SASS of v20_kv (2026-12-06) waits for P V before the softmax (ptxas moved wgmma.wait_group 0 up,
 *   without a warning), which undoes the intra-warpgroup overlap; SPLIT = false keeps the single chains.
 * - alpha is set to exactly 1 where the maximum did not move, so the caller can skip the O rescale for a warp whose
 *   rows all kept their maximum: bit for bit the same O (o_rescale_needed).
 * - POLY16 of every 16 exponentials go to the FMA pipe (hp_exp2_fma) instead of the MUFU unit (16 ex2 per clock
 *   per SM against 128 FMA lanes): at d = 128 the MUFU is the softmax's longest pipe, ~700 clocks per warp and
 *   step at Bc = 176, against ~460 issue slots for the rest; a few exponentials moved over balance the two. */
constexpr float HP_EXP2_C1 = 6.931241751e-01f, HP_EXP2_C2 = 2.402409911e-01f, HP_EXP2_C3 = 5.590642989e-02f,
                HP_EXP2_C4 = 9.582851082e-03f;   /* 2^f on [-1/2, 1/2], relative error 2.9e-6 (ours, fitted) */
/* 2^x for x <= 0 on the FMA and integer pipes: x = j + f (j integer, |f| <= 1/2), 2^f by a degree-4 polynomial,
 * j added to its exponent. x below -125 (the mask's -inf) gives a value below 2^-124 instead of 0: rounded to 0
 * in P, and nothing against a row sum of at least 1. */
__device__ __forceinline__ float hp_exp2_fma(float x)
{
    x = fmaxf(x, -125.f);
    const float t = __fadd_rn(x, 12582912.f);   /* 1.5 * 2^23: j lands in t's low mantissa bits */
    const float f = __fsub_rn(x, __fsub_rn(t, 12582912.f));
    float p = fmaf(HP_EXP2_C4, f, HP_EXP2_C3);
    p = fmaf(p, f, HP_EXP2_C2);
    p = fmaf(p, f, HP_EXP2_C1);
    p = fmaf(p, f, 1.f);
    return __int_as_float(__float_as_int(p) + (__float_as_int(t) << 23));
}
template <int BC, int POLY16, bool SPLIT>
__device__ __forceinline__ void hp_softmax_lean(float (&s)[BC / 2], float (&mi)[2], float (&li)[2], float (&alpha)[2],
                                                float sl2)
{
    static_assert(POLY16 >= 0 && POLY16 <= 16, "POLY16 of 16 exponentials on the FMA pipe");
    float mx[2][4];
#pragma unroll
    for (int h = 0; h < 2; h++)
#pragma unroll
        for (int q = 0; q < 4; q++)
            mx[h][q] = mi[h];
#pragma unroll
    for (int c = 0; c < BC / 8; c++) {
        const int q = SPLIT ? c % 4 : 0;
        mx[0][q] = fmaxf(mx[0][q], fmaxf(s[4 * c], s[4 * c + 1]));
        mx[1][q] = fmaxf(mx[1][q], fmaxf(s[4 * c + 2], s[4 * c + 3]));
    }
    float msub[2];
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const float m = quad_max(fmaxf(fmaxf(mx[h][0], mx[h][1]), fmaxf(mx[h][2], mx[h][3])));
        msub[h] = m == -INFINITY ? 0.f : __fmul_rn(m, sl2);   /* a row with no key yet: never -inf - -inf */
        alpha[h] = m == mi[h] ? 1.f : fast_exp2(__fmul_rn(mi[h], sl2) - msub[h]);   /* mi = -inf: 0 */
        mi[h] = m;
    }
    float sum[2][2] = {{0.f, 0.f}, {0.f, 0.f}};   /* [row][column group % 2] */
#pragma unroll
    for (int c = 0; c < BC / 8; c++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int x = 4 * c + e;
            const float a = fmaf(s[x], sl2, -msub[e >> 1]);
            s[x] = x % 16 < POLY16 ? hp_exp2_fma(a) : fast_exp2(a);
        }
        sum[0][SPLIT ? c % 2 : 0] += s[4 * c] + s[4 * c + 1];
        sum[1][SPLIT ? c % 2 : 0] += s[4 * c + 2] + s[4 * c + 3];
    }
#pragma unroll
    for (int h = 0; h < 2; h++)
        li[h] = fmaf(li[h], alpha[h], sum[h][0] + sum[h][1]);
}
/* Whether any row of the warp needs its O rescaled (alpha != 1): a warp-uniform branch around o_rescale. */
__device__ __forceinline__ bool o_rescale_needed(const float (&alpha)[2])
{
    return __any_sync(0xffffffffu, alpha[0] != 1.f || alpha[1] != 1.f);
}
template <int D> __device__ __forceinline__ void o_rescale(float (&o)[D / 2], const float (&alpha)[2])
{
#pragma unroll
    for (int c = 0; c < D / 8; c++) {
        o[4 * c + 0] *= alpha[0], o[4 * c + 1] *= alpha[0];
        o[4 * c + 2] *= alpha[1], o[4 * c + 3] *= alpha[1];
    }
}
/* P~ (fp32 S registers) rounded once to T, packed as the A operand of P V. */
template <int BC, typename T> __device__ __forceinline__ void p_pack(uint32_t (&p)[BC / 4], const float (&s)[BC / 2])
{
#pragma unroll
    for (int x = 0; x < BC / 4; x++)
        p[x] = pack2<T>(s[2 * x], s[2 * x + 1]);
}

/* S = Qw Kj^T for a warpgroup: Qw its 64 rows (K-major, `qrows` rows per panel), Kj BC rows; KS k-steps of 16. */
template <int BC, int KS, typename T>
__device__ __forceinline__ void gemm_qk(float (&s)[BC / 2], uint32_t qw, int qrows, uint32_t kj)
{
#pragma unroll
    for (int kk = 0; kk < KS; kk++)
        wgmma<BC, T>::ss(s, desc_k(qw + kstep_off(kk, qrows)), desc_k(kj + kstep_off(kk, BC)), kk > 0);
}
/* O (+)= P Vj: P in registers (BC / 16 k-steps of four registers), Vj BC rows x DP columns, MN-major. */
template <int D, int BC, typename T>
__device__ __forceinline__ void gemm_pv(float (&o)[D / 2], const uint32_t (&p)[BC / 4], uint32_t vj, bool acc)
{
#pragma unroll
    for (int kk = 0; kk < BC / 16; kk++) {
        const uint32_t a[4] = {p[4 * kk], p[4 * kk + 1], p[4 * kk + 2], p[4 * kk + 3]};
        wgmma<D, T>::rs(o, a, desc_mn(vj + kk * 16 * HP_PANEL_ROW, BC * HP_PANEL_ROW), acc || kk > 0);
    }
}

/* FA2 Alg.1 lines 12-15 for the thread's two rows: Oi / li rounded once to T, Li = mi scale + ln li. Rows past N are
 * not written. Returns the elements written to O and L (for the counters). */
template <int D, typename T>
__device__ __forceinline__ void hp_epilogue(const float (&o)[D / 2], const float (&mi)[2], const float (&li)[2], T *O,
                                            float *L, size_t ld, int r0, int N, float scale, int t,
                                            unsigned long long &no, unsigned long long &nl)
{
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const int row = r0 + 8 * h;
        const float l = quad_sum(li[h]);
        if (row >= N)
            continue;
        const float inv = 1.f / l;
        T *orow = O + (size_t)row * ld + 2 * t;
#pragma unroll
        for (int c = 0; c < D / 8; c++)
            *reinterpret_cast<uint32_t *>(orow + 8 * c) = pack2<T>(o[4 * c + 2 * h] * inv, o[4 * c + 2 * h + 1] * inv);
        HP_COUNT(no, D / 4);
        if (t == 0) {
            L[row] = mi[h] * scale + logf(l);
            HP_COUNT(nl, 1);
        }
    }
}

/* ---- kernel arguments, host side ------------------------------------------------------------------------------ */
struct hp_params {
    const void *q, *k, *v;
    void *o;
    float *lse;
    int B, N, H, Tr;              /* Tr = ceil(N / Br) query blocks per head */
    int ntiles;                   /* Tr * B * H */
    float scale, scale_log2;
    unsigned long long *count;
};

/* Checks every version needs (as the mma.sync kernels' tc_check_args); 0 or -1 with err. */
static inline int hp_check_args(const char *ver, const tc_args *a, char *err, size_t errlen)
{
    if (!a->q || !a->k || !a->v || !a->o || !a->lse) {
        snprintf(err, errlen, "%s: q, k, v, o and lse must all be device pointers", ver);
        return -1;
    }
    if (!a->B || !a->N || !a->H || a->N > INT_MAX || a->H > INT_MAX || a->B > INT_MAX || a->B * a->H > INT_MAX) {
        snprintf(err, errlen, "%s: shape B=%zu N=%zu H=%zu is outside 1..%d", ver, a->B, a->N, a->H, INT_MAX);
        return -1;
    }
    if (a->dtype != DTYPE_FP16 && a->dtype != DTYPE_BF16) {
        snprintf(err, errlen, "%s: dtype %d not supported (fp16 = %d or bf16 = %d)", ver, a->dtype, DTYPE_FP16,
                 DTYPE_BF16);
        return -1;
    }
    if (!(a->scale >= 0) || isinf(a->scale)) {
        snprintf(err, errlen, "%s: softmax scale %g must be finite and >= 0 (0 means 1/sqrt(d))", ver, a->scale);
        return -1;
    }
    if (((uintptr_t)a->q | (uintptr_t)a->k | (uintptr_t)a->v | (uintptr_t)a->o) % 16) {
        snprintf(err, errlen, "%s: q, k, v and o must be 16-byte aligned", ver);
        return -1;
    }
#ifdef FL_COUNT
    if (!a->count) {
        snprintf(err, errlen, "%s: the counting launcher needs a->count (TC_NCOUNT device counters)", ver);
        return -1;
    }
#endif
    return 0;
}

static inline hp_params hp_make_params(const tc_args *a, int Br)
{
    hp_params p;
    p.q = a->q, p.k = a->k, p.v = a->v, p.o = a->o, p.lse = a->lse;
    p.B = (int)a->B, p.N = (int)a->N, p.H = (int)a->H;
    p.Tr = (int)((a->N + Br - 1) / Br);
    long long tiles = (long long)p.Tr * (long long)(a->B * a->H);
    p.ntiles = tiles > INT_MAX ? INT_MAX : (int)tiles;
    p.scale = a->scale > 0 ? a->scale : (float)(1.0 / sqrt((double)a->d));
    p.scale_log2 = p.scale * HP_LOG2E;
    p.count = a->count;
    return p;
}

static inline int hp_encode_map(CUtensorMap *m, const tc_args *a, const void *base, int rows, char *err, size_t errlen)
{
    const tma_encode_fn encode = tma_encode_entry(err, errlen);
    if (!encode)
        return -1;
    const cuuint64_t dim[4] = {a->d, a->N, a->H, a->B};
    const cuuint64_t stride[3] = {a->H * a->d * 2, a->d * 2, a->N * a->H * a->d * 2};   /* bytes, dims 1..3 */
    const cuuint32_t box[4] = {64, (cuuint32_t)rows, 1, 1}, estride[4] = {1, 1, 1, 1};
    CUresult r = encode(m, a->dtype == DTYPE_BF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16,
                        4, (void *)base, dim, stride, box, estride, CU_TENSOR_MAP_INTERLEAVE_NONE,
                        CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                        CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS) {
        snprintf(err, errlen, "cuTensorMapEncodeTiled failed (%d) for d=%zu N=%zu H=%zu B=%zu rows=%d", (int)r, a->d,
                 a->N, a->H, a->B, rows);
        return -1;
    }
    return 0;
}
static inline int hp_make_maps(hp_maps *m, const tc_args *a, int Br, int Bc, char *err, size_t errlen)
{
    if ((a->d * 2) % 16) {
        snprintf(err, errlen, "TMA needs rows of a multiple of 16 bytes (d = %zu)", a->d);
        return -1;
    }
    return hp_encode_map(&m->q, a, a->q, Br, err, errlen) || hp_encode_map(&m->k, a, a->k, Bc, err, errlen) ||
                   hp_encode_map(&m->v, a, a->v, Bc, err, errlen)
               ? -1
               : 0;
}

/* Shared memory enforced against what the device grants one block; the attribute raised; the grid checked. */
template <typename K>
static inline int hp_prepare(const char *ver, K kernel, size_t smem, long long blocks, char *err, size_t errlen)
{
    int dev, optin;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess) {
        snprintf(err, errlen, "%s: %s", ver, cudaGetErrorString(cudaGetLastError()));
        return -1;
    }
    if (smem > (size_t)optin) {
        snprintf(err, errlen, "%s: needs %zu bytes of shared memory per block, the device grants %d", ver, smem, optin);
        return -1;
    }
    if (blocks > INT_MAX) {
        snprintf(err, errlen, "%s: %lld thread blocks exceed the grid limit", ver, blocks);
        return -1;
    }
    cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) {
        snprintf(err, errlen, "%s: cudaFuncSetAttribute: %s", ver, cudaGetErrorString(e));
        return -1;
    }
    return 0;
}
static inline int hp_launched(const char *ver, char *err, size_t errlen)
{
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        snprintf(err, errlen, "%s: launch failed: %s", ver, cudaGetErrorString(e));
        return -1;
    }
    return 0;
}

/* Which (query block, batch*head) a tile index names: heads in order, in each head the last query block first
 * (the longest rows under a causal mask start first). */
__device__ __forceinline__ void hp_tile(int tile, int Tr, int &i, int &bh)
{
    bh = tile / Tr;
    i = Tr - 1 - tile % Tr;
}

#endif
