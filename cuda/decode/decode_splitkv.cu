/* decode_splitkv.cu — split-KV decoding on the tensor cores (see decode_cuda.h), and its counting twin.
 *
 * The cost is reading K and V once, so everything here serves the stream: 16-byte cp.async copies (or, variants
 * "h", the same with L2 hints; variants "b", one Hopper bulk copy per cache row, completion on an mbarrier; variants
 * "t", one TMA box per 64 columns of a tile from a tensor map, issued by one thread, completion on an mbarrier), STAGES
 * tiles of BN cache rows in flight per block (the next tiles load while this one is computed), one to three blocks
 * per SM (the variant's shared memory decides), splits from fl_decode_plan (decode.h's rule with measured
 * constants), the merge as a second kernel or fused into the last block of each (sequence, KV head). The arithmetic
 * is small beside it: per tile a warp does 2·D/8 + 2·D/16 m16n8k16 instructions for its 16 rows.
 * COUNT = true compiles the counting twin: each load and store adds the elements it moves to per-thread counters,
 * summed once per warp into FL_DEC_NCOUNT global counters; the plain kernels have no counting code at all (their
 * one atomic is the fused merge's completion count; the bulk variants' mbarrier operations are barriers).
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <type_traits>

#include "decode_cuda.h"
#include "dtype.h"   /* the DTYPE_* values only */
#include "async_ops.cuh"   /* mbarriers, bulk copies, TMA boxes, tma_encode_entry */
#include "warp_ops.cuh"

#define THREADS 128               /* 4 warps; each takes 16 rows of every tile */
#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

/* ---- pieces: the warp-level ones (fragments, ldmatrix, cp.async, the swizzle, ex2) are cuda/common/warp_ops.cuh;
 * here the copies only this kernel uses ------------------------------------------------------------------------ */
/* The same with two hints to L2: fetch the whole 256-byte row segment on the first miss (a row of K or V is 128 or
 * 256 bytes, read by 8 or 16 threads' copies), and evict these lines first (the cache is read once). */
__device__ __forceinline__ void cp_async_16_hint(uint32_t dst, const void *src, bool ok, uint64_t policy)
{
    asm volatile("cp.async.cg.shared.global.L2::cache_hint.L2::256B [%0], [%1], 16, %2, %3;\n" ::"r"(dst), "l"(src),
                 "r"(ok ? 16 : 0), "l"(policy));
}
__device__ __forceinline__ uint64_t evict_first_policy()
{
    uint64_t p;
    asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(p));
    return p;
}

/* How a variant moves K and V: LD_ASYNC 16-byte cp.async copies into swizzled rows; LD_HINT the same with the L2
 * hints; LD_BULK one bulk copy per cache row into rows padded to D + 8 elements (a bulk copy cannot swizzle; the
 * 16-byte pad puts an ldmatrix's 8 rows in 8 different bank groups instead); LD_TMA one TMA box per 64 columns of a
 * tile (BN rows x 128 bytes, one instruction of one thread), which the tensor map swizzles: D / 64 panels of BN rows,
 * chunk c of row r at chunk c ^ (r % 8) of its panel, panels on 1024-byte boundaries. */
enum { LD_ASYNC, LD_HINT, LD_BULK, LD_TMA };
template <int D, int LOAD, int BN> struct tile_layout {
    static constexpr int RS = LOAD == LD_BULK ? D + 8 : D;   /* elements a tile row takes in shared memory */
    static __device__ __forceinline__ int at(int r, int c)
    {
        if constexpr (LOAD == LD_TMA)
            return (c >> 3) * BN * 64 + r * 64 + (((c & 7) ^ (r & 7)) << 3);
        return LOAD == LD_BULK ? r * RS + c * 8 : swz<D>(r, c);
    }
};
/* LD_TMA: K and V as 4-D tensors (d, N, Hkv, B) with the call's strides, boxes of 64 columns x BN rows. */
struct dec_maps {
    CUtensorMap k, v;
};

/* The counting twin's counters: a thread's counts summed over its warp, added once. */
template <bool COUNT> __device__ __forceinline__ void flush(unsigned long long *counter, unsigned long long v)
{
    if constexpr (COUNT) {
        for (int o = 16; o > 0; o >>= 1)
            v += __shfl_xor_sync(0xffffffffu, v, o);
        if ((threadIdx.x & 31) == 0 && v)
            atomicAdd(counter, v);
    }
}

/* FL_DEC_STAMPS (a diagnostic build only, cuda/decode/dec_timeline.sh; the library and decode_check never define
 * it): thread 0 of each block writes where and when it ran into fl_decode_set_stamps's buffer, FL_DEC_NSTAMPS words a
 * block: the SM, then %globaltimer (ns, one clock for all SMs) at the start, when the first tile landed, at the end of
 * the tile loop, when the block's o or partials were written, and at its end (after the fused merge, if it merged);
 * then the SM's clock64 at the start and the end. */
#define FL_DEC_NSTAMPS 8
#ifdef FL_DEC_STAMPS
__device__ unsigned long long *dec_stamps;
__device__ __forceinline__ unsigned long long gtimer()
{
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}
#define STAMP(i, v)                                                                                                    \
    do {                                                                                                               \
        if (dec_stamps && threadIdx.x == 0)                                                                            \
            dec_stamps[(long long)blockIdx.x * FL_DEC_NSTAMPS + (i)] = (v);                                            \
    } while (0)
extern "C" int fl_decode_set_stamps(unsigned long long *p)
{
    return cudaMemcpyToSymbol(dec_stamps, &p, sizeof p) == cudaSuccess ? 0 : -1;
}
#else
#define STAMP(i, v) ((void)0)
#endif

struct kparams {
    const void *q, *k, *v;
    void *o;
    float *o_split, *l_split;
    long long k_sb, k_sh, k_sn;
    int B, Hq, Hkv, G, N, S;
    float scale_log2;   /* softmax scale · log2(e): e^x = 2^(x log2 e) */
    unsigned long long *count;
    unsigned *done;     /* fuse: per (b, KV head), how many of its S blocks have written their partials */
    int fuse;           /* S > 1: the last block of each (b, KV head) merges; else kernel 2 does */
};

/* lesson02's merge of one query row's S partials, by one warp, each partial a state (L_s, l = 1): m = max L_s,
 * w_s = e^(L_s - m), O = sum_s w_s O_s / sum_s w_s. w: S floats of shared memory, this warp's. Loads bypass L1
 * (ld.cg): in the fused merge the partials come from other blocks of the same launch. */
template <typename T, int D, bool COUNT>
__device__ __forceinline__ void merge_row(const kparams &p, long long row, float *w, unsigned long long &nl,
                                          unsigned long long &nos, unsigned long long &no)
{
    const int lane = threadIdx.x & 31;
    const long long rows = (long long)p.B * p.Hq;
    __syncwarp();                                          /* w may still be read for the warp's previous row */
    float M = -INFINITY;
    for (int s = lane; s < p.S; s += 32) {
        w[s] = __ldcg(p.l_split + s * rows + row);
        nl++;
        M = fmaxf(M, w[s]);
    }
    for (int o = 16; o > 0; o >>= 1)
        M = fmaxf(M, __shfl_xor_sync(0xffffffffu, M, o));
    float L = 0.f;
    for (int s = lane; s < p.S; s += 32) {
        w[s] = fast_exp2((w[s] - M) * LOG2E);
        L += w[s];
    }
    for (int o = 16; o > 0; o >>= 1)
        L += __shfl_xor_sync(0xffffffffu, L, o);
    __syncwarp();
    /* O = sum_s 2^(L_s - m) O_s / l: each lane D/32 consecutive values, the warp's loads one row of O_s. */
    constexpr int V = D / 32;
    float acc[V] = {};
#pragma unroll 4
    for (int s = 0; s < p.S; s++) {
        const float *src = p.o_split + (s * rows + row) * D + lane * V;
        float ws = w[s];
        if constexpr (V == 4) {
            float4 x = __ldcg(reinterpret_cast<const float4 *>(src));
            acc[0] += ws * x.x, acc[1] += ws * x.y, acc[2] += ws * x.z, acc[3] += ws * x.w;
        } else {
            float2 x = __ldcg(reinterpret_cast<const float2 *>(src));
            acc[0] += ws * x.x, acc[1] += ws * x.y;
        }
        nos += V;
    }
    T *dst = static_cast<T *>(p.o) + row * D + lane * V;
    float inv = 1.f / L;
    for (int y = 0; y < V; y += 2)
        *reinterpret_cast<uint32_t *>(dst + y) = pack2<T>(acc[y] * inv, acc[y + 1] * inv);
    no += V;
}

/* ---- kernel 1: one split of one KV head of one sequence ----------------------------------------------------------- */
/* AHEAD (the "a" variants, tiles through mbarriers only): tiles in flight beyond the one computed, AHEAD for most of
 * the split and STAGES - 1 for its last tiles (from deep_from on); 0: STAGES - 1 throughout. */
template <typename T, int D, int BN, int STAGES, int LOAD, bool COUNT, int AHEAD = 0>
__global__ void __launch_bounds__(THREADS, 2) decode_split(kparams p, const __grid_constant__ dec_maps maps)
{
    static_assert(BN % 64 == 0 && D % 64 == 0, "4 warps x 16 rows per sub-tile; D in 16-element k-steps and 8-wide chunks");
    static_assert(STAGES >= 2, "one tile computed while the next loads");
    static_assert(AHEAD == 0 || ((LOAD == LD_BULK || LOAD == LD_TMA) && AHEAD < STAGES - 1),
                  "a varying depth needs the mbarriers (cp.async's groups count one commit a tile)");
    constexpr int KW = BN / 4;          /* rows of a tile each warp takes */
    constexpr int CH = D / 8;           /* 16-byte chunks in a row */
    using L = tile_layout<D, LOAD, BN>;
    constexpr int TILE = BN * L::RS;    /* elements of one stage of K (or V) */
    extern __shared__ __align__(128) unsigned char smem_raw[];
    __shared__ __align__(8) uint64_t full[STAGES];                 /* LD_BULK, LD_TMA: stage st's tile landed */
    /* LD_TMA: from the first 1024-byte boundary (the launch asks for 1024 bytes more); Qs's 16 x D keeps Ks on one */
    const uint32_t pad = LOAD == LD_TMA ? (1024u - (smem_u32(smem_raw) & 1023u)) & 1023u : 0u;
    T *Qs = reinterpret_cast<T *>(smem_raw + pad);                 /* 16 x D, rows >= G zero */
    T *Ks = Qs + 16 * D, *Vs = Ks + STAGES * TILE;                 /* STAGES tiles of BN rows each */

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
    const int s = blockIdx.x % p.S, h = blockIdx.x / p.S % p.Hkv, b = blockIdx.x / p.S / p.Hkv;
#ifdef FL_DEC_STAMPS
    unsigned smid;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(smid));
    STAMP(0, smid);
    STAMP(1, gtimer());
    STAMP(6, clock64());
#endif
    /* The split's rows: ⌊sN/S⌋ .. ⌊(s+1)N/S⌋ - 1; LD_TMA: whole tiles, ⌊sT/S⌋ .. ⌊(s+1)T/S⌋ - 1 of the T = ⌈N/BN⌉
     * (a box never reaches into the next split: only the last tile of the cache is cut, and the map's end zeroes it) */
    int n0, n1;
    if constexpr (LOAD == LD_TMA) {
        const long long nt = (p.N + BN - 1) / BN, e = (s + 1) * nt / p.S * BN;
        n0 = (int)(s * nt / p.S * BN), n1 = (int)(e < p.N ? e : p.N);
    } else {
        n0 = (int)((long long)s * p.N / p.S), n1 = (int)((long long)(s + 1) * p.N / p.S);
    }
    const int G = p.G;
    const int ntiles = (n1 - n0 + BN - 1) / BN;
    const long long qrow = (long long)b * p.Hq + (long long)h * G;   /* first query row of this group */
    const T *q = static_cast<const T *>(p.q) + qrow * D;
    const T *kbase = static_cast<const T *>(p.k) + b * p.k_sb + h * p.k_sh;
    const T *vbase = static_cast<const T *>(p.v) + b * p.k_sb + h * p.k_sh;
    unsigned long long nq = 0, nk = 0, nv = 0;
    uint64_t policy = 0;
    if constexpr (LOAD == LD_HINT)
        policy = evict_first_policy();
    if constexpr (LOAD == LD_BULK || LOAD == LD_TMA) {
        if (tid == 0)
            for (int st = 0; st < STAGES; st++)
                mbar_init(smem_u32(&full[st]), 1);   /* one arrival (thread 0's, with the bytes) and the bytes */
        fence_async_smem();                          /* the initialized barriers, seen by the bulk copies */
        __syncthreads();
    }

    /* Decode kernel 1: load Qg, the G query rows of this KV head, once (rows G..15 become zeros). */
    for (int i = tid; i < 16 * CH; i += THREADS) {
        int r = i / CH, c = i % CH;
        cp_async_16(smem_u32(Qs + swz<D>(r, c)), q + (r < G ? r : 0) * D + c * 8, r < G);
        nq += r < G ? 8 : 0;
    }
    /* FA2 Alg.1 line 7, pipelined: tile j's rows of K and V into stage j % STAGES (rows past n1 become zeros). */
    auto load_tile = [&](int j) {
        int st = j % STAGES, r0 = n0 + j * BN;
        if constexpr (LOAD == LD_TMA) {
            /* Thread 0: D / 64 boxes of K and of V (BN rows each; past N they arrive as zeros and read nothing). */
            if (tid == 0) {
                const uint32_t kd = smem_u32(Ks + st * TILE), vd = smem_u32(Vs + st * TILE), bar = smem_u32(&full[st]);
                mbar_expect_tx(bar, 2u * BN * D * sizeof(T));
                for (int c = 0; c < D / 64; c++) {
                    tma_load(kd + c * BN * 128, &maps.k, c * 64, r0, h, b, bar);
                    tma_load(vd + c * BN * 128, &maps.v, c * 64, r0, h, b, bar);
                }
                const int rows = n1 - r0 < BN ? n1 - r0 : BN;
                nk += (unsigned long long)rows * D;
                nv += (unsigned long long)rows * D;
            }
        } else if constexpr (LOAD == LD_BULK) {
            /* One bulk copy per row of K and of V (thread i: row i % BN of K, then of V); rows past n1 are zeroed
             * here (P~ is 0 there, and 0 times stale shared memory could be NaN). Thread 0 announces the bytes. */
            int rows = n1 - r0 < BN ? n1 - r0 : BN;
            fence_async_smem();                      /* this thread's earlier reads and zeros, before the copies */
            if (tid == 0)
                mbar_expect_tx(smem_u32(&full[st]), 2u * rows * D * sizeof(T));
            for (int i = tid; i < 2 * BN; i += THREADS) {
                int r = i % BN;
                bool isv = i >= BN;
                T *dst = (isv ? Vs : Ks) + st * TILE + r * L::RS;
                if (r < rows) {
                    bulk_copy(smem_u32(dst), (isv ? vbase : kbase) + (long long)(r0 + r) * p.k_sn, D * sizeof(T),
                              smem_u32(&full[st]));
                    (isv ? nv : nk) += D;
                } else {
                    for (int c = 0; c < CH; c++)
                        reinterpret_cast<uint4 *>(dst)[c] = make_uint4(0, 0, 0, 0);
                }
            }
        } else {
            for (int i = tid; i < BN * CH; i += THREADS) {
                int r = i / CH, c = i % CH, n = r0 + r;
                bool ok = n < n1;
                long long off = (long long)(ok ? n : n0) * p.k_sn + c * 8;
                if constexpr (LOAD == LD_HINT) {
                    cp_async_16_hint(smem_u32(Ks + st * TILE + L::at(r, c)), kbase + off, ok, policy);
                    cp_async_16_hint(smem_u32(Vs + st * TILE + L::at(r, c)), vbase + off, ok, policy);
                } else {
                    cp_async_16(smem_u32(Ks + st * TILE + L::at(r, c)), kbase + off, ok);
                    cp_async_16(smem_u32(Vs + st * TILE + L::at(r, c)), vbase + off, ok);
                }
                nk += ok ? 8 : 0;
                nv += ok ? 8 : 0;
            }
        }
    };
    constexpr bool BARS = LOAD == LD_BULK || LOAD == LD_TMA;    /* tiles complete on the mbarriers full[] */
    if constexpr (BARS)
        cp_async_commit();                                       /* Qg's group: the tiles go through the barriers */
    constexpr int A = AHEAD ? AHEAD : STAGES - 1;                /* tiles in flight beyond the computed one */
    /* The last tiles of a split go STAGES - 1 deep: the blocks end at slightly different times (the stamps, 2026-12-07:
     * about 2 % of the split), and those still streaming then should take up the bandwidth the others leave. Measured
     * the same day (t64x6a against t64x3, H100): it does not; the ends spread wider and the calls got slower. */
    const int deep_from = AHEAD ? ntiles - (ntiles / 32 + 8) : 0;
    int next = 0;                                                /* the first tile not yet asked for */
    for (; next < A; next++) {
        if (next < ntiles)
            load_tile(next);
        if constexpr (!BARS)
            cp_async_commit();
    }

    /* FA2 Alg.1 line 5, per warp: Oi = 0, mi = -inf, li = 0 for rows g and g+8 (query heads; rows >= G padding). */
    float o[D / 8][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
    for (int x = 0; x < D / 8; x++)
        o[x][0] = o[x][1] = o[x][2] = o[x][3] = 0.f;
    uint32_t qa[D / 16][4];

    for (int j = 0; j < ntiles; j++) {
        if constexpr (BARS) {
            if (j == 0)
                cp_async_wait<0>();                              /* Qg */
            mbar_wait(smem_u32(&full[j % STAGES]), (j / STAGES) & 1);
        } else {
            cp_async_wait<STAGES - 2>();
        }
        if constexpr (LOAD == LD_TMA)
            fence_async_smem();                            /* this warp's reads of tile j-1, before the box into it */
        __syncthreads();                                   /* tile j landed; every warp is done with tile j-1 */
        if (j == 0)
            STAMP(2, gtimer());
        if constexpr (AHEAD == 0) {
            if (j + STAGES - 1 < ntiles)
                load_tile(j + STAGES - 1);                 /* into the stage tile j-1 used */
        } else {
            /* up to A tiles ahead, STAGES - 1 in the split's tail; stage (j + STAGES - 1) % STAGES was tile j-1's */
            const int last = min(ntiles - 1, j + (j >= deep_from ? STAGES - 1 : A));
            for (; next <= last; next++)
                load_tile(next);
        }
        if constexpr (!BARS)
            cp_async_commit();
        if (j == 0)
            for (int ks = 0; ks < D / 16; ks++)            /* Qg's A fragments, kept in registers */
                ldsm_x4(qa[ks], smem_u32(Qs + swz<D>((lane & 7) + ((lane >> 3) & 1) * 8, ks * 2 + (lane >> 4))));
        const T *Kt = Ks + (j % STAGES) * TILE, *Vt = Vs + (j % STAGES) * TILE;
        for (int kb = warp * KW; kb < warp * KW + KW; kb += 16) {
            /* FA2 Alg.1 line 8: S = scale Qg Kj^T for this warp's 16 rows (2 n-tiles of 8 keys). */
            float sc[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
            for (int ks = 0; ks < D / 16; ks++) {
                uint32_t r[4];
                ldsm_x4(r, smem_u32(Kt + L::at(kb + (lane >> 4) * 8 + (lane & 7), ks * 2 + ((lane >> 3) & 1))));
                mma_16816<T>(sc[0], qa[ks], r[0], r[1]);
                mma_16816<T>(sc[1], qa[ks], r[2], r[3]);
            }
            /* FA2 Alg.1 line 9: rows g, g+8: m_new = max(m, rowmax S), P~ = 2^(S - m_new), l = 2^(m - m_new) l + sum. */
            int key0 = n0 + j * BN + kb + 2 * t;
            float mt[2] = {-INFINITY, -INFINITY};
            for (int nt = 0; nt < 2; nt++)
                for (int e = 0; e < 4; e++) {
                    bool ok = key0 + nt * 8 + (e & 1) < n1;
                    sc[nt][e] = ok ? sc[nt][e] * p.scale_log2 : -INFINITY;
                    mt[e >> 1] = fmaxf(mt[e >> 1], sc[nt][e]);
                }
            float alpha[2];
            for (int r = 0; r < 2; r++) {
                float mn = fmaxf(m[r], quad_max(mt[r]));
                float sub = mn == -INFINITY ? 0.f : mn;    /* a warp with no key yet: keep 2^(-inf - 0) = 0 */
                alpha[r] = fast_exp2(m[r] - sub);
                m[r] = mn;
                mt[r] = sub;
            }
            uint32_t pa[4];
            float rs[2] = {0.f, 0.f};
            for (int nt = 0; nt < 2; nt++) {
                float p0 = fast_exp2(sc[nt][0] - mt[0]), p1 = fast_exp2(sc[nt][1] - mt[0]);
                float p2 = fast_exp2(sc[nt][2] - mt[1]), p3 = fast_exp2(sc[nt][3] - mt[1]);
                rs[0] += p0 + p1;
                rs[1] += p2 + p3;
                pa[2 * nt] = pack2<T>(p0, p1);             /* the S accumulators are P~'s A fragment */
                pa[2 * nt + 1] = pack2<T>(p2, p3);
            }
            l[0] = alpha[0] * l[0] + rs[0];                /* this lane's part of the row sum; summed at the end */
            l[1] = alpha[1] * l[1] + rs[1];
            /* FA2 Alg.1 line 10: O = diag(2^(m - m_new)) O + P~ Vj (V through ldmatrix.trans: keys become k). */
            for (int dn = 0; dn < D / 16; dn++) {
                uint32_t r[4];
                ldsm_x4_t(r, smem_u32(Vt + L::at(kb + ((lane >> 3) & 1) * 8 + (lane & 7), dn * 2 + (lane >> 4))));
                for (int x = 0; x < 2; x++) {
                    float *c = o[2 * dn + x];
                    c[0] *= alpha[0], c[1] *= alpha[0], c[2] *= alpha[1], c[3] *= alpha[1];
                    mma_16816<T>(c, pa, r[2 * x], r[2 * x + 1]);
                }
            }
        }
    }
    cp_async_wait<0>();
    __syncthreads();                                       /* the tiles are free: shared memory becomes the merge's */
    STAMP(3, gtimer());
    if constexpr (BARS)
        if (tid == 0)
            for (int st = 0; st < STAGES; st++)            /* every phase was waited on: no copy is pending */
                mbar_inval(smem_u32(&full[st]));

    /* The 4 warps saw different rows of every tile: merge their (m, l, O) per query row, as lesson02 merges halves. */
    float *Om = reinterpret_cast<float *>(smem_raw);       /* [4][16][D] */
    float *mw = Om + 4 * 16 * D, *lw = mw + 4 * 16;        /* [4][16] each */
    for (int r = 0; r < 2; r++) {
        float lr = quad_sum(l[r]);
        int row = g + 8 * r;
        if (t == 0 && row < G)
            mw[warp * 16 + row] = m[r], lw[warp * 16 + row] = lr;
        for (int x = 0; x < D / 8 && row < G; x++) {
            Om[(warp * 16 + row) * D + x * 8 + 2 * t] = o[x][2 * r];
            Om[(warp * 16 + row) * D + x * 8 + 2 * t + 1] = o[x][2 * r + 1];
        }
    }
    __syncthreads();
    unsigned long long no = 0, nos = 0, nls = 0;
    for (int e = tid; e < G * (D / 4); e += THREADS) {     /* 4 consecutive values of a row per thread */
        int row = e / (D / 4), x = (e % (D / 4)) * 4;
        float M = -INFINITY, L = 0.f, w[4], acc[4] = {0.f, 0.f, 0.f, 0.f};
        for (int k = 0; k < 4; k++)
            M = fmaxf(M, mw[k * 16 + row]);
        for (int k = 0; k < 4; k++) {
            w[k] = fast_exp2(mw[k * 16 + row] - M);               /* M is finite: the split holds a row */
            L += w[k] * lw[k * 16 + row];
        }
        for (int k = 0; k < 4; k++)
            for (int y = 0; y < 4; y++)
                acc[y] += w[k] * Om[(k * 16 + row) * D + x + y];
        /* FA2 Alg.1 lines 12-15: O = O / l; write o (one split) or the partial O and L = ln(sum e^s) (S > 1). */
        float inv = 1.f / L;
        long long orow = qrow + row;
        if (p.S == 1) {
            uint2 v = make_uint2(pack2<T>(acc[0] * inv, acc[1] * inv), pack2<T>(acc[2] * inv, acc[3] * inv));
            *reinterpret_cast<uint2 *>(static_cast<T *>(p.o) + orow * D + x) = v;
            no += 4;
        } else {
            long long prow = (long long)s * p.B * p.Hq + orow;
            *reinterpret_cast<float4 *>(p.o_split + prow * D + x) =
                make_float4(acc[0] * inv, acc[1] * inv, acc[2] * inv, acc[3] * inv);
            nos += 4;
            if (x == 0) {
                p.l_split[prow] = M * LN2 + logf(L);       /* m is in log2 units: ln(2^M L) */
                nls += 1;
            }
        }
    }
    STAMP(4, gtimer());
    unsigned long long rl = 0, ros = 0;
    if (p.S > 1 && p.fuse) {
        /* Decode kernel 2 fused: the last of the S blocks of (b, h) to finish merges its G rows (one launch, no
         * second kernel's start). The one atomic of the plain kernel: a completion count, not a count of data. */
        __shared__ bool last;
        __threadfence();                                   /* this block's partials are visible before it counts */
        __syncthreads();
        if (tid == 0) {
            unsigned *c = p.done + (long long)b * p.Hkv + h;
            last = atomicAdd(c, 1u) == (unsigned)p.S - 1;
            if (last)
                *c = 0;                                    /* all S have counted: zero again for the next call */
        }
        __syncthreads();
        if (last) {
            __threadfence();
            float *w = reinterpret_cast<float *>(smem_raw) + warp * p.S;
            for (int r = warp; r < G; r += 4)
                merge_row<T, D, COUNT>(p, qrow + r, w, rl, ros, no);
        }
    }
    STAMP(5, gtimer());
    STAMP(7, clock64());
    flush<COUNT>(p.count + 2 * FL_DEC_Q, nq);
    flush<COUNT>(p.count + 2 * FL_DEC_K, nk);
    flush<COUNT>(p.count + 2 * FL_DEC_V, nv);
    flush<COUNT>(p.count + 2 * FL_DEC_O + 1, no);
    flush<COUNT>(p.count + 2 * FL_DEC_O_SPLIT + 1, nos);
    flush<COUNT>(p.count + 2 * FL_DEC_L_SPLIT + 1, nls);
    flush<COUNT>(p.count + 2 * FL_DEC_L_SPLIT, rl);
    flush<COUNT>(p.count + 2 * FL_DEC_O_SPLIT, ros);
}

/* ---- kernel 2: one warp per (sequence, query head) merges its S partials ---------------------------------------- */
template <typename T, int D, bool COUNT>
__global__ void __launch_bounds__(THREADS) decode_merge(kparams p)
{
    extern __shared__ float wsm[];                         /* [4 warps][S]: the partials' weights */
    const int warp = threadIdx.x >> 5;
    const long long rows = (long long)p.B * p.Hq, row = (long long)blockIdx.x * 4 + warp;
    if (row >= rows)
        return;
    unsigned long long nl = 0, nos = 0, no = 0;
    merge_row<T, D, COUNT>(p, row, wsm + warp * p.S, nl, nos, no);
    flush<COUNT>(p.count + 2 * FL_DEC_L_SPLIT, nl);
    flush<COUNT>(p.count + 2 * FL_DEC_O_SPLIT, nos);
    flush<COUNT>(p.count + 2 * FL_DEC_O + 1, no);
}

/* ---- the variants and the launch ------------------------------------------------------------------------------ */
/* Rows per tile x tiles in flight, and how they load: "h" the L2 hints (LD_HINT), "b" bulk copies (LD_BULK), "t" TMA
 * boxes (LD_TMA: splits of whole tiles, so at most ⌈N / rows⌉ of them). The switch in by_variant instantiates each
 * row of this table. */
static const struct {
    const char *name;
    int rows, stages, load;
} VARIANTS[] = {{"64x3", 64, 3, LD_ASYNC},  {"64x2", 64, 2, LD_ASYNC},  {"64x4", 64, 4, LD_ASYNC},
                {"128x3", 128, 3, LD_ASYNC}, {"64x3h", 64, 3, LD_HINT},  {"64x2h", 64, 2, LD_HINT},
                {"b64x3", 64, 3, LD_BULK},   {"b64x4", 64, 4, LD_BULK},  {"b64x2", 64, 2, LD_BULK},
                {"64x6", 64, 6, LD_ASYNC},   {"b64x6", 64, 6, LD_BULK},  {"t64x3", 64, 3, LD_TMA},
                {"t128x3", 128, 3, LD_TMA},  {"t64x6", 64, 6, LD_TMA},   {"t64x6a", 64, 6, LD_TMA}};
#define NVARIANTS_STATIC (sizeof VARIANTS / sizeof VARIANTS[0])
#define NVARIANTS (int)NVARIANTS_STATIC

extern "C" int fl_decode_nvariants(void) { return NVARIANTS; }
extern "C" const char *fl_decode_variant_name(int v) { return v >= 0 && v < NVARIANTS ? VARIANTS[v].name : "?"; }
extern "C" int fl_decode_variant_rows(int v) { return v >= 0 && v < NVARIANTS ? VARIANTS[v].rows : 0; }
extern "C" long long fl_decode_max_splits(int v, long long N)
{
    if (v < 0 || v >= NVARIANTS)
        return 0;
    return VARIANTS[v].load == LD_TMA ? (N + VARIANTS[v].rows - 1) / VARIANTS[v].rows : N;   /* whole tiles, or rows */
}

static int fail(char *err, size_t errlen, const char *what, cudaError_t e)
{
    snprintf(err, errlen, "decode: %s: %s", what, cudaGetErrorString(e));
    return -1;
}

/* LD_TMA's tensor maps of K and V: (d, N, Hkv, B) with the call's strides, boxes of 64 columns x BN rows, the 128-byte
 * swizzle; encoded on the host on every call (two driver calls). */
template <typename T, int D, int BN>
static int make_maps(dec_maps *m, const kparams &kp, char *err, size_t errlen)
{
    const tma_encode_fn encode = tma_encode_entry(err, errlen);
    if (!encode)
        return -1;
    const cuuint64_t dim[4] = {D, (cuuint64_t)kp.N, (cuuint64_t)kp.Hkv, (cuuint64_t)kp.B};
    const cuuint64_t stride[3] = {kp.k_sn * sizeof(T), kp.k_sh * sizeof(T), kp.k_sb * sizeof(T)};   /* bytes */
    const cuuint32_t box[4] = {64, BN, 1, 1}, estride[4] = {1, 1, 1, 1};
    const CUtensorMapDataType dt =
        std::is_same_v<T, __half> ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
    for (int x = 0; x < 2; x++) {
        CUresult r = encode(x ? &m->v : &m->k, dt, 4, const_cast<void *>(x ? kp.v : kp.k), dim, stride, box, estride,
                            CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                            CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
        if (r != CUDA_SUCCESS) {
            snprintf(err, errlen, "decode: cuTensorMapEncodeTiled failed (%d) for %s: d=%d N=%d Hkv=%d B=%d", (int)r,
                     x ? "V" : "K", D, kp.N, kp.Hkv, kp.B);
            return -1;
        }
    }
    return 0;
}

template <typename T, int D, int BN, int STAGES, int LOAD, bool COUNT, int AHEAD = 0>
static int launch(const kparams &kp, long long blocks, cudaStream_t st, char *err, size_t errlen)
{
    auto k1 = decode_split<T, D, BN, STAGES, LOAD, COUNT, AHEAD>;
    dec_maps maps = {};
    if constexpr (LOAD == LD_TMA)
        if (make_maps<T, D, BN>(&maps, kp, err, errlen))
            return -1;
    /* the tiles (LD_TMA: and 1024 bytes to align them); then the 4 warps' merge; then (fused) the S weights of 4
     * rows: the largest of the three */
    size_t smem = (size_t)(16 * D + 2 * STAGES * BN * tile_layout<D, LOAD, BN>::RS) * sizeof(T) +
                  (LOAD == LD_TMA ? 1024 : 0);
    size_t merge_smem = (4 * 16 * D + 2 * 4 * 16) * sizeof(float);
    size_t fused_smem = 4 * FL_DEC_MAX_SPLITS * sizeof(float);
    smem = smem > merge_smem ? smem : merge_smem;
    smem = smem > fused_smem ? smem : fused_smem;
    static bool granted = false;   /* once per kernel (one device): the call costs host time on every launch */
    cudaError_t e;
    if (!granted) {
        if ((e = cudaFuncSetAttribute(k1, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem)) != cudaSuccess)
            return fail(err, errlen, "shared memory for kernel 1", e);
        granted = true;
    }
    k1<<<(unsigned)blocks, THREADS, smem, st>>>(kp, maps);
    if ((e = cudaGetLastError()) != cudaSuccess)
        return fail(err, errlen, "kernel 1 launch", e);
    if (kp.S > 1 && !kp.fuse) {
        long long rows = (long long)kp.B * kp.Hq;
        decode_merge<T, D, COUNT><<<(unsigned)((rows + 3) / 4), THREADS, 4 * kp.S * sizeof(float), st>>>(kp);
        if ((e = cudaGetLastError()) != cudaSuccess)
            return fail(err, errlen, "kernel 2 (merge) launch", e);
    }
    return 0;
}

template <typename T, int D, bool COUNT>
static int by_variant(int v, const kparams &kp, long long blocks, cudaStream_t st, char *err, size_t errlen)
{
    static_assert(NVARIANTS_STATIC == 15, "one case below per row of VARIANTS");
    switch (v) {
    case 0: return launch<T, D, 64, 3, LD_ASYNC, COUNT>(kp, blocks, st, err, errlen);
    case 1: return launch<T, D, 64, 2, LD_ASYNC, COUNT>(kp, blocks, st, err, errlen);
    case 2: return launch<T, D, 64, 4, LD_ASYNC, COUNT>(kp, blocks, st, err, errlen);
    case 3: return launch<T, D, 128, 3, LD_ASYNC, COUNT>(kp, blocks, st, err, errlen);
    case 4: return launch<T, D, 64, 3, LD_HINT, COUNT>(kp, blocks, st, err, errlen);
    case 5: return launch<T, D, 64, 2, LD_HINT, COUNT>(kp, blocks, st, err, errlen);
    case 6: return launch<T, D, 64, 3, LD_BULK, COUNT>(kp, blocks, st, err, errlen);
    case 7: return launch<T, D, 64, 4, LD_BULK, COUNT>(kp, blocks, st, err, errlen);
    case 8: return launch<T, D, 64, 2, LD_BULK, COUNT>(kp, blocks, st, err, errlen);
    case 9: return launch<T, D, 64, 6, LD_ASYNC, COUNT>(kp, blocks, st, err, errlen);
    case 10: return launch<T, D, 64, 6, LD_BULK, COUNT>(kp, blocks, st, err, errlen);
    case 11: return launch<T, D, 64, 3, LD_TMA, COUNT>(kp, blocks, st, err, errlen);
    case 12: return launch<T, D, 128, 3, LD_TMA, COUNT>(kp, blocks, st, err, errlen);
    case 13: return launch<T, D, 64, 6, LD_TMA, COUNT>(kp, blocks, st, err, errlen);
    case 14: return launch<T, D, 64, 6, LD_TMA, COUNT, 2>(kp, blocks, st, err, errlen);   /* 2 ahead, 5 at the end */
    }
    snprintf(err, errlen, "decode: internal error: variant %d has no case here", v);
    return -1;
}

template <bool COUNT>
static int by_type(const fl_decode_args *a, const kparams &kp, long long blocks, cudaStream_t st, char *err,
                   size_t errlen)
{
    if (a->dtype == DTYPE_FP16)
        return a->d == 64 ? by_variant<__half, 64, COUNT>(a->variant, kp, blocks, st, err, errlen)
                          : by_variant<__half, 128, COUNT>(a->variant, kp, blocks, st, err, errlen);
    return a->d == 64 ? by_variant<__nv_bfloat16, 64, COUNT>(a->variant, kp, blocks, st, err, errlen)
                      : by_variant<__nv_bfloat16, 128, COUNT>(a->variant, kp, blocks, st, err, errlen);
}

extern "C" int fl_decode_check_args(const fl_decode_args *a, char *err, size_t errlen)
{
    const long long S = a->splits, big = 1LL << 31;
    if (a->variant < 0 || a->variant >= NVARIANTS) {
        snprintf(err, errlen, "decode: variant %d is not one of 0..%d", a->variant, NVARIANTS - 1);
        return -1;
    }
    if (!a->q || !a->k || !a->v || !a->o || (S > 1 && !a->work)) {
        snprintf(err, errlen, "decode: q, k, v, o (and work when splits > 1) must be device pointers");
        return -1;
    }
    if (a->dtype != DTYPE_FP16 && a->dtype != DTYPE_BF16) {
        snprintf(err, errlen, "decode: dtype %d is not fp16 (%d) or bf16 (%d)", a->dtype, DTYPE_FP16, DTYPE_BF16);
        return -1;
    }
    if (a->d != 64 && a->d != 128) {
        snprintf(err, errlen, "decode: head dimension %lld is not 64 or 128", a->d);
        return -1;
    }
    if (a->B < 1 || a->Hkv < 1 || a->N < 1 || a->Hq < a->Hkv || a->Hq % a->Hkv || a->Hq / a->Hkv > FL_DEC_MAX_G ||
        a->N >= big || a->B * a->Hq >= big) {
        snprintf(err, errlen, "decode: shape B=%lld Hq=%lld Hkv=%lld N=%lld: sizes >= 1, Hq a multiple of Hkv with "
                 "Hq/Hkv <= %d, N and B·Hq below 2^31", a->B, a->Hq, a->Hkv, a->N, FL_DEC_MAX_G);
        return -1;
    }
    if (S < 1 || S > a->N || S > FL_DEC_MAX_SPLITS || S * a->B * a->Hkv >= big) {
        snprintf(err, errlen, "decode: %lld splits: S must lie in 1..min(N, %d)", S, FL_DEC_MAX_SPLITS);
        return -1;
    }
    const long long tiles = fl_decode_max_splits(a->variant, a->N);
    if (S > tiles) {
        snprintf(err, errlen, "decode: %lld splits: variant %s splits by whole tiles of %d rows, at most %lld of them",
                 S, VARIANTS[a->variant].name, VARIANTS[a->variant].rows, tiles);
        return -1;
    }
    if (a->k_sb % 8 || a->k_sh % 8 || a->k_sn % 8 ||
        ((uintptr_t)a->k | (uintptr_t)a->v | (uintptr_t)a->q | (uintptr_t)a->o | (uintptr_t)a->work) % 16) {
        snprintf(err, errlen, "decode: K, V strides (%lld, %lld, %lld) and q, k, v, o, work must be 16-byte aligned",
                 a->k_sb, a->k_sh, a->k_sn);
        return -1;
    }
    if (a->merge != FL_DEC_MERGE_KERNEL && a->merge != FL_DEC_MERGE_FUSED) {
        snprintf(err, errlen, "decode: merge %d is not %d (a second kernel) or %d (fused)", a->merge,
                 FL_DEC_MERGE_KERNEL, FL_DEC_MERGE_FUSED);
        return -1;
    }
    if (!(a->scale >= 0) || isinf(a->scale)) {
        snprintf(err, errlen, "decode: softmax scale %g must be finite and >= 0", (double)a->scale);
        return -1;
    }
    return 0;
}

extern "C" int fl_decode(const fl_decode_args *a, void *stream, char *err, size_t errlen)
{
    if (fl_decode_check_args(a, err, errlen))
        return -1;
    const long long S = a->splits;
    kparams kp = {a->q, a->k, a->v, a->o, a->work, a->work ? a->work + S * a->B * a->Hq * a->d : nullptr,
                  a->k_sb, a->k_sh, a->k_sn, (int)a->B, (int)a->Hq, (int)a->Hkv, (int)(a->Hq / a->Hkv), (int)a->N,
                  (int)S, (a->scale ? a->scale : 1.f / sqrtf((float)a->d)) * LOG2E, a->count,
                  a->work ? reinterpret_cast<unsigned *>(a->work + S * a->B * a->Hq * (a->d + 1)) : nullptr,
                  S > 1 && a->merge == FL_DEC_MERGE_FUSED};
    cudaStream_t st = static_cast<cudaStream_t>(stream);
    long long blocks = S * a->Hkv * a->B;
    return a->count ? by_type<true>(a, kp, blocks, st, err, errlen) : by_type<false>(a, kp, blocks, st, err, errlen);
}
