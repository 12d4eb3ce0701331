/* attn_tiles.cuh — the device pieces the teaching kernels v01..v03 are built from: counted tile transfers between
 * global and shared memory, and the two tile products Sij = Qi Kj^T and Oi += Pij Vj.
 *
 *   load_rows<CT_V>(Vj, V + k0 * ld, ld, kc, d, cnt)      rows of a tensor -> a dense row-major tile, counted
 *   load_rows_T<CT_K>(Kj, Bc, K + k0 * ld, ld, kc, d, cnt) the same, stored transposed (k-major, ld Bc)
 *   store_rows<CT_O>(O + q0 * ld, ld, Oi, qr, d, cnt)     a dense tile -> rows of a tensor, counted
 *   mm(m, n, K, A, am, ak, B, bk, bn, epi)                 epi(r, c, sum_k A(r, k) B(k, c)), any strides
 *   qk(Sij, Qi, Br, Kj, Bc, qr, kc, d, scale, causal, q0, k0)
 *   pv(Oi, Pij, Vj, qr, kc, d, rowf)                      Oi = alpha_r Oi + beta_r Pij Vj, (alpha, beta) = rowf(r)
 *
 * Shared-memory layout inside the plan's buffers. Every buffer has the plan's size; Qi and Kj hold their tiles
 * transposed (element (r, k) at k*Br + r, and (c, k) at k*Bc + c): in Sij = Qi Kj^T neighbouring threads then read
 * neighbouring words of Kj and one broadcast word of Qi, with no bank conflicts for any d. Sij/Pij (ld kc), Vj and
 * Oi (ld d) are dense row-major tiles, as in the simulator.
 *
 * Counting (the scheme of cuda/common/fl_count.cuh): a kernel keeps an fl_counts in registers and every transfer
 * adds the elements it moved, per tensor. At the end fl_flush adds each count to the global counters once per
 * warp. Compiled without -DFL_COUNT, fl_counts is empty and every FL_RD / FL_WR / fl_flush vanishes: no atomics in
 * the plain kernels (make test-cuda checks their SASS).
 */
#ifndef FLASHLAB_ATTN_TILES_CUH
#define FLASHLAB_ATTN_TILES_CUH

#include <math.h>
#include <stdint.h>

#include "attn_kernels.h"

#ifdef FLASHLAB_EMU   /* cuda/emu: the same kernels compiled as C++ and run on CPU threads (tests without a GPU) */
#include "emu/cuda_emu.h"
#else
#include "cuda_check.h"
/* The block's dynamic shared memory, laid out by the plan (offsets in attn_kargs.off). */
#define ATTN_SMEM(name) extern __shared__ __align__(16) unsigned char name[]
/* Launch kernel over the plan's grid with the plan's dynamic shared memory, and check the launch (returns the
 * error from the enclosing function, whose err and errlen it uses). */
#define ATTN_LAUNCH(kernel, kp, s, a)                                                                         \
    do {                                                                                                       \
        kernel<<<(unsigned)(kp)->blocks, (kp)->threads, (kp)->dyn_bytes, s>>>(a);                              \
        CUDA_TRY(cudaGetLastError());                                                                          \
    } while (0)
#endif
#include "fl_count.cuh"   // defines: FL_NAME, fl_count_flush

#define NTHR CUDA_ATTN_THREADS
#define NWARPS (CUDA_ATTN_THREADS / 32)

/* ---- counting: per tensor, reads and writes ------------------------------------------------------------------ */
#ifdef FL_COUNT
struct fl_counts {
    unsigned long long rd[CT_NTENSORS], wr[CT_NTENSORS];
};
#define FL_RD(c, T, n) FL_ADD((c).rd[T], n)
#define FL_WR(c, T, n) FL_ADD((c).wr[T], n)
#else
struct fl_counts {};
#define FL_RD(c, T, n) ((void)(c))
#define FL_WR(c, T, n) ((void)(c))
#endif

/* Every thread of the block must call this (it shuffles across full warps): counters[2t] += reads of tensor t,
 * counters[2t + 1] += its writes. */
__device__ __forceinline__ void fl_flush(const fl_counts &c, unsigned long long *counters)
{
#ifdef FL_COUNT
#pragma unroll
    for (int t = 0; t < CT_NTENSORS; t++)
#pragma unroll
        for (int w = 0; w < 2; w++)
            fl_count_flush(&counters[2 * t + w], w ? c.wr[t] : c.rd[t]);
#else
    (void)c, (void)counters;
#endif
}

/* ---- warp reductions ----------------------------------------------------------------------------------------- */
__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* exp(x - m) with m = -inf (a row with nothing unmasked yet) replaced by 0, so -inf - (-inf) is never formed. */
__device__ __forceinline__ float sub_of(float m) { return m == -INFINITY ? 0.0f : m; }

/* ---- transfers (all threads of the block take part; callers synchronize) ------------------------------------ */
__device__ __forceinline__ bool al16(const void *p) { return ((uintptr_t)p & 15) == 0; }

/* dst[r*cols + c] = src[r*ld + c] for r < rows, c < cols. Neighbouring threads take neighbouring columns
 * (coalesced); 16-byte accesses when every address allows. */
template <int T>
__device__ __forceinline__ void load_rows(float *dst, const float *src, int64_t ld, int rows, int cols, fl_counts &cnt)
{
    if (cols % 4 == 0 && ld % 4 == 0 && al16(src) && al16(dst)) {
        const int c4 = cols / 4, n = rows * c4;
        for (int x = threadIdx.x; x < n; x += NTHR) {
            const int r = x / c4, c = (x - r * c4) * 4;
            *reinterpret_cast<float4 *>(dst + r * cols + c) = *reinterpret_cast<const float4 *>(src + r * ld + c);
            FL_RD(cnt, T, 4);
        }
    } else {
        const int n = rows * cols;
        for (int x = threadIdx.x; x < n; x += NTHR) {
            const int r = x / cols, c = x - r * cols;
            dst[x] = src[r * ld + c];
            FL_RD(cnt, T, 1);
        }
    }
}

/* dst[r*ld + c] = src[r*cols + c]: the way back. */
template <int T>
__device__ __forceinline__ void store_rows(float *dst, int64_t ld, const float *src, int rows, int cols, fl_counts &cnt)
{
    if (cols % 4 == 0 && ld % 4 == 0 && al16(src) && al16(dst)) {
        const int c4 = cols / 4, n = rows * c4;
        for (int x = threadIdx.x; x < n; x += NTHR) {
            const int r = x / c4, c = (x - r * c4) * 4;
            *reinterpret_cast<float4 *>(dst + r * ld + c) = *reinterpret_cast<const float4 *>(src + r * cols + c);
            FL_WR(cnt, T, 4);
        }
    } else {
        const int n = rows * cols;
        for (int x = threadIdx.x; x < n; x += NTHR) {
            const int r = x / cols, c = x - r * cols;
            dst[r * ld + c] = src[x];
            FL_WR(cnt, T, 1);
        }
    }
}

/* dstT[k*ldT + r] = src[r*ld + k] for r < rows, k < d: a tile stored transposed. Two neighbouring threads read
 * one 32-byte sector of a row (8 floats), so a warp reads 16 rows per instruction with no wasted sector, and its
 * transposed stores land in distinct banks but for at most 2-way conflicts. Without 16-byte alignment,
 * neighbouring threads take neighbouring rows (conflict-free stores, scattered loads). */
template <int T>
__device__ __forceinline__ void load_rows_T(float *dstT, int ldT, const float *src, int64_t ld, int rows, int d,
                                            fl_counts &cnt)
{
    if (d % 4 == 0 && ld % 4 == 0 && al16(src)) {
        const int d4 = d / 4, npair = (d4 + 1) / 2, n = rows * npair * 2;
        for (int x = threadIdx.x; x < n; x += NTHR) {
            const int half = x & 1, pr = x >> 1, r = pr % rows, k = 4 * (2 * (pr / rows) + half);
            if (k < d) {
                const float4 v = *reinterpret_cast<const float4 *>(src + r * ld + k);
                dstT[(k + 0) * ldT + r] = v.x;
                dstT[(k + 1) * ldT + r] = v.y;
                dstT[(k + 2) * ldT + r] = v.z;
                dstT[(k + 3) * ldT + r] = v.w;
                FL_RD(cnt, T, 4);
            }
        }
    } else {
        const int n = rows * d;
        for (int x = threadIdx.x; x < n; x += NTHR) {
            const int r = x % rows, k = x / rows;
            dstT[k * ldT + r] = src[r * ld + k];
            FL_RD(cnt, T, 1);
        }
    }
}

/* n consecutive values (a row of S, or rows of the statistics l, m, L). */
template <int T>
__device__ __forceinline__ void load_vec(float *dst, const float *src, int n, fl_counts &cnt)
{
    for (int x = threadIdx.x; x < n; x += NTHR) {
        dst[x] = src[x];
        FL_RD(cnt, T, 1);
    }
}

template <int T>
__device__ __forceinline__ void store_vec(float *dst, const float *src, int n, fl_counts &cnt)
{
    for (int x = threadIdx.x; x < n; x += NTHR) {
        dst[x] = src[x];
        FL_WR(cnt, T, 1);
    }
}

/* Write value into rows 0 .. rows-1 (cols each, row stride ld) of a tensor: Alg.1 line 2's initialization. */
template <int T>
__device__ __forceinline__ void fill_rows(float *dst, int64_t ld, int rows, int cols, float value, fl_counts &cnt)
{
    for (int r = 0; r < rows; r++)
        for (int c = threadIdx.x; c < cols; c += NTHR) {
            dst[r * ld + c] = value;
            FL_WR(cnt, T, 1);
        }
}

/* The largest micro-tile that still gives every thread of the block some work. */
__device__ __forceinline__ int micro_tile(int rows, int cols)
{
    if (((rows + 3) / 4) * ((cols + 3) / 4) >= NTHR)
        return 4;
    if (((rows + 1) / 2) * ((cols + 1) / 2) >= NTHR)
        return 2;
    return 1;
}

/* ---- tile products: C(m, n) from sum_k A(m, k) B(k, n), any strides ---------------------------------------------- *
 * A(m, k) = A[m*am + k*ak], B(k, n) = B[k*bk + n*bn]; epi(r, c, sum) stores each of the m x n sums (the epilogue:
 * C = sum, C += alpha sum, P = exp(scale sum - Li), ...). Each thread sums a TM x TM block in k order, so every
 * entry is one thread's, deterministic. Neighbouring threads take neighbouring columns n: with bn = 1 their words
 * of B are neighbours (no bank conflicts); A's word is shared when they share a row. */
template <int TM, class Epi>
__device__ __forceinline__ void mm_tile(int m, int n, int K, const float *A, int am, int ak, const float *B, int bk,
                                        int bn, Epi epi)
{
    const int nR = (m + TM - 1) / TM, nC = (n + TM - 1) / TM;
    for (int x = threadIdx.x; x < nR * nC; x += NTHR) {
        const int ra = x / nC, cb = x - ra * nC;
        const float *a[TM], *b[TM];
#pragma unroll
        for (int t = 0; t < TM; t++) {
            a[t] = A + min(ra + nR * t, m - 1) * am;   /* past the tile: recompute the last row, never stored */
            b[t] = B + min(cb + nC * t, n - 1) * bn;
        }
        float acc[TM][TM];
#pragma unroll
        for (int u = 0; u < TM; u++)
#pragma unroll
            for (int v = 0; v < TM; v++)
                acc[u][v] = 0.0f;
        for (int k = 0; k < K; k++) {
            float av[TM], bv[TM];
#pragma unroll
            for (int t = 0; t < TM; t++) {
                av[t] = a[t][k * ak];
                bv[t] = b[t][k * bk];
            }
#pragma unroll
            for (int u = 0; u < TM; u++)
#pragma unroll
                for (int v = 0; v < TM; v++)
                    acc[u][v] = fmaf(av[u], bv[v], acc[u][v]);
        }
#pragma unroll
        for (int u = 0; u < TM; u++)
#pragma unroll
            for (int v = 0; v < TM; v++) {
                const int rr = ra + nR * u, cc = cb + nC * v;
                if (rr < m && cc < n)
                    epi(rr, cc, acc[u][v]);
            }
    }
}

template <class Epi>
__device__ __forceinline__ void mm(int m, int n, int K, const float *A, int am, int ak, const float *B, int bk, int bn,
                                   Epi epi)
{
    switch (micro_tile(m, n)) {
    case 4: mm_tile<4>(m, n, K, A, am, ak, B, bk, bn, epi); break;
    case 2: mm_tile<2>(m, n, K, A, am, ak, B, bk, bn, epi); break;
    default: mm_tile<1>(m, n, K, A, am, ak, B, bk, bn, epi); break;
    }
}

/* ---- Sij = scale Qi Kj^T ------------------------------------------------------------------------------------- *
 * Qi and Kj held transposed (QiT[k*ldq + r], KjT[k*ldk + c]): per key dimension k a thread reads TM words of each,
 * neighbouring threads neighbouring words of Kj and one broadcast word of Qi. Causal: scores of keys after the query
 * (k0 + c > q0 + r) are -inf. */
struct epi_scores {
    float *S;
    int ld;
    float scale;
    bool causal;
    int q0, k0;
    __device__ void operator()(int r, int c, float v) const
    {
        S[r * ld + c] = causal && k0 + c > q0 + r ? -INFINITY : scale * v;
    }
};

__device__ __forceinline__ void qk(float *Sij, const float *QiT, int ldq, const float *KjT, int ldk, int qr, int kc,
                                   int d, float scale, bool causal, int q0, int k0)
{
    mm(qr, kc, d, QiT, 1, ldq, KjT, ldk, 1, epi_scores{Sij, kc, scale, causal, q0, k0});
}

/* ---- Oi = alpha_r Oi + beta_r Pij Vj --------------------------------------------------------------------------- *
 * Summed over the tile's kc keys; rowf(r) gives the row's (alpha, beta). */
struct rows_add {   /* Oi += Pij Vj */
    __device__ float2 operator()(int) const { return make_float2(1.0f, 1.0f); }
};

template <class RowF>
struct epi_rows {
    float *O;
    int d;
    RowF rowf;
    __device__ void operator()(int r, int c, float v) const
    {
        const float2 f = rowf(r);
        O[r * d + c] = f.x * O[r * d + c] + f.y * v;
    }
};

template <class RowF>
__device__ __forceinline__ void pv(float *Oi, const float *Pij, const float *Vj, int qr, int kc, int d, RowF rowf)
{
    mm(qr, d, kc, Pij, kc, 1, Vj, d, 1, epi_rows<RowF>{Oi, d, rowf});
}

/* C(r, c) += alpha sum, C dense with row stride ldc: the accumulators dVj, dKj, dQi. */
struct epi_acc {
    float *C;
    int ldc;
    float alpha;
    __device__ void operator()(int r, int c, float v) const { C[r * ldc + c] += alpha * v; }
};
/* C(r, c) = sum: dPij = dOi Vj^T. */
struct epi_set {
    float *C;
    int ldc;
    __device__ void operator()(int r, int c, float v) const { C[r * ldc + c] = v; }
};

/* out[r] (+)= sum_c x[r*ld + c] y[r*ld + c] for r < rows, one warp per row (lanes split the columns, in order). */
__device__ __forceinline__ void rows_dot(float *out, bool add, const float *x, const float *y, int ld, int rows,
                                         int cols)
{
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int r = warp; r < rows; r += NWARPS) {
        float s = 0.0f;
        for (int c = lane; c < cols; c += 32)
            s = fmaf(x[r * ld + c], y[r * ld + c], s);
        s = warp_sum(s);
        if (lane == 0)
            out[r] = add ? out[r] + s : s;
    }
}

/* ---- where a block's head lives ------------------------------------------------------------------------------ */
/* (B, N, H, d): head (b, h) starts at (b*N*H + h)*d and its rows are H*d apart. */
__device__ __forceinline__ int64_t bnhd_head(const attn_kargs &a, int64_t bh)
{
    const int64_t b = bh / a.H, h = bh - b * a.H;
    return (b * a.N * a.H + h) * a.d;
}

/* Block blockIdx.x of a grid with `per` blocks per head ((b*H + h)*per + o): its head bh = b*H + h, where the head
 * starts in the (B, N, H, d) tensors and their row stride, and its block o of rows (a query or a key block). */
struct head_block {
    int64_t bh, head, ld;
    int o;
};
__device__ __forceinline__ head_block block_of(const attn_kargs &a, int per)
{
    head_block hb;
    hb.o = (int)(blockIdx.x % (unsigned)per);
    hb.bh = blockIdx.x / (unsigned)per;
    hb.head = bnhd_head(a, hb.bh);
    hb.ld = (int64_t)a.H * a.d;
    return hb;
}

/* In a launcher (err, errlen in scope): bind a copy of a0 to kernel plan kp's buffers, in the kernel's order
 * (names[0 .. n-1], cuda_bind_smem), and launch kernel with it on stream s. */
#define ATTN_BIND_LAUNCH(kernel, kp, names, n, s, a0)                                                         \
    do {                                                                                                       \
        attn_kargs ab_ = (a0);                                                                                 \
        if (int rcb_ = cuda_bind_smem(kp, names, n, ab_.off, err, errlen))                                     \
            return rcb_;                                                                                       \
        ATTN_LAUNCH(kernel, kp, s, ab_);                                                                       \
    } while (0)

#endif
