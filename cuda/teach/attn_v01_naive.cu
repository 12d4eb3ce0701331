/* attn_v01_naive.cu — standard attention (Algorithm 0) in fp32: three kernels that hand S and P to each other
 * through global memory (HBM), exactly the simulator's three phases:
 *
 *   v01_scores   one block per (batch, head, query block i): Qi once, every Kj, S = scale Qi Kj^T -> S (B,H,N,N)
 *   v01_softmax  one block per row of S: P = softmax(S) -> P (B,H,N,N); causal masking is applied here. A row
 *                fits in the buffer Si when N <= Br*Bc (one read of S); otherwise safe softmax streams it in
 *                chunks of Br*Bc, three passes (max, sum, normalize), and reads S three times
 *   v01_pv       one block per (batch, head, query block i): every Pij and Vj, Oi = sum_j Pij Vj -> O
 *
 * Each kernel's shared memory is its phase's plan (attn_standard_plan). The one exception is v01_softmax's
 * 8-float scratch for block reductions: the simulator keeps a row's max and sum in registers (one thread),
 * 256 threads have to meet in shared memory to combine theirs. No causal skipping: standard attention computes,
 * writes and reads all N^2 scores, masked or not.
 *
 * The same file compiled with -DFL_COUNT holds the counting twins (names ending in _count, fl_count.cuh).
 */
#include "attn_tiles.cuh"

enum { S_Qi, S_Kj, S_Sij, S_NBUF };
static const char *const scores_buffers[S_NBUF] = {"Qi", "Kj", "Sij"};
enum { SM_Si, SM_NBUF };
static const char *const softmax_buffers[SM_NBUF] = {"Si"};
enum { PV_Pij, PV_Vj, PV_Oi, PV_NBUF };
static const char *const pv_buffers[PV_NBUF] = {"Pij", "Vj", "Oi"};

/* ---- phase S: S = scale Q K^T, tile by tile ------------------------------------------------------------------ */
__global__ void __launch_bounds__(CUDA_ATTN_THREADS) FL_NAME(v01_scores)(const attn_kargs a)
{
    ATTN_SMEM(smem);
    float *Qi = (float *)(smem + a.off[S_Qi]), *Kj = (float *)(smem + a.off[S_Kj]),
          *Sij = (float *)(smem + a.off[S_Sij]);
    fl_counts cnt = {};

    const int N = a.N, d = a.d, Br = a.Br, Bc = a.Bc;
    const int i = (int)(blockIdx.x % (unsigned)a.Tr);
    const int64_t bh = blockIdx.x / (unsigned)a.Tr, head = bnhd_head(a, bh), ld = (int64_t)a.H * d;
    const int q0 = i * Br, qr = min(Br, N - q0);
    float *S = a.S + bh * N * (int64_t)N;

    load_rows_T<CT_Q>(Qi, Br, a.q + head + q0 * ld, ld, qr, d, cnt);
    for (int j = 0; j < a.Tc; j++) {
        const int k0 = j * Bc, kc = min(Bc, N - k0);
        load_rows_T<CT_K>(Kj, Bc, a.k + head + k0 * ld, ld, kc, d, cnt);
        __syncthreads();
        qk(Sij, Qi, Br, Kj, Bc, qr, kc, d, a.scale, false, q0, k0);
        __syncthreads();
        store_rows<CT_S>(S + q0 * (int64_t)N + k0, N, Sij, qr, kc, cnt);
    }
    fl_flush(cnt, a.counters);
}

/* ---- phase softmax: P = softmax(S), row by row ---------------------------------------------------------------- */
/* Combine one value per thread over the block: through the warp, then through red[NWARPS]. Every warp combines
 * the warp results in the same order, so all threads get the same value. */
template <bool MAX>
__device__ __forceinline__ float block_reduce(float v, float *red)
{
    v = MAX ? warp_max(v) : warp_sum(v);
    if (threadIdx.x % 32 == 0)
        red[threadIdx.x / 32] = v;
    __syncthreads();
    float r = red[0];
    for (int w = 1; w < NWARPS; w++)
        r = MAX ? fmaxf(r, red[w]) : r + red[w];
    __syncthreads();   /* red is free again */
    return r;
}

__global__ void __launch_bounds__(CUDA_ATTN_THREADS) FL_NAME(v01_softmax)(const attn_kargs a)
{
    ATTN_SMEM(smem);
    __shared__ float red[NWARPS];
    float *Si = (float *)(smem + a.off[SM_Si]);
    fl_counts cnt = {};

    const int N = a.N, C = a.Br * a.Bc;
    const int q = (int)(blockIdx.x % (unsigned)N);
    const int64_t row = (int64_t)blockIdx.x * N;         /* (b*H + h)*N + q rows before this one */
    const float *S = a.S + row;
    float *P = a.P + row;
    const int keys = a.causal ? q + 1 : N;                /* unmasked keys of this row: the diagonal never is */

    if (N <= C) {   /* the whole row fits: one read of S, one write of P */
        load_vec<CT_S>(Si, S, N, cnt);
        __syncthreads();
        float mx = -INFINITY;
        for (int c = threadIdx.x; c < keys; c += NTHR)
            mx = fmaxf(mx, Si[c]);
        mx = block_reduce<true>(mx, red);
        float sum = 0.0f;
        for (int c = threadIdx.x; c < N; c += NTHR)
            sum += (Si[c] = c < keys ? expf(Si[c] - mx) : 0.0f);   /* mx is subtracted only for stability */
        sum = block_reduce<false>(sum, red);
        for (int c = threadIdx.x; c < N; c += NTHR)
            Si[c] /= sum;
        __syncthreads();
        store_vec<CT_P>(P, Si, N, cnt);
    } else {        /* safe softmax in three streamed passes over chunks of C scores */
        float mx = -INFINITY, sum = 0.0f;
        for (int c0 = 0; c0 < N; c0 += C) {                             /* pass 1: the row max */
            const int cc = min(C, N - c0);
            load_vec<CT_S>(Si, S + c0, cc, cnt);
            __syncthreads();
            for (int c = threadIdx.x; c < cc && c0 + c < keys; c += NTHR)
                mx = fmaxf(mx, Si[c]);
            __syncthreads();
        }
        mx = block_reduce<true>(mx, red);
        for (int c0 = 0; c0 < N; c0 += C) {                             /* pass 2: the sum of exponentials */
            const int cc = min(C, N - c0);
            load_vec<CT_S>(Si, S + c0, cc, cnt);
            __syncthreads();
            for (int c = threadIdx.x; c < cc; c += NTHR)
                sum += c0 + c < keys ? expf(Si[c] - mx) : 0.0f;
            __syncthreads();
        }
        sum = block_reduce<false>(sum, red);
        for (int c0 = 0; c0 < N; c0 += C) {                             /* pass 3: normalize and write P */
            const int cc = min(C, N - c0);
            load_vec<CT_S>(Si, S + c0, cc, cnt);
            __syncthreads();
            for (int c = threadIdx.x; c < cc; c += NTHR)
                Si[c] = c0 + c < keys ? expf(Si[c] - mx) / sum : 0.0f;
            __syncthreads();
            store_vec<CT_P>(P + c0, Si, cc, cnt);
            __syncthreads();
        }
    }
    fl_flush(cnt, a.counters);
}

/* ---- phase PV: O = P V, tile by tile --------------------------------------------------------------------------- */
__global__ void __launch_bounds__(CUDA_ATTN_THREADS) FL_NAME(v01_pv)(const attn_kargs a)
{
    ATTN_SMEM(smem);
    float *Pij = (float *)(smem + a.off[PV_Pij]), *Vj = (float *)(smem + a.off[PV_Vj]),
          *Oi = (float *)(smem + a.off[PV_Oi]);
    fl_counts cnt = {};

    const int N = a.N, d = a.d, Br = a.Br, Bc = a.Bc;
    const int i = (int)(blockIdx.x % (unsigned)a.Tr);
    const int64_t bh = blockIdx.x / (unsigned)a.Tr, head = bnhd_head(a, bh), ld = (int64_t)a.H * d;
    const int q0 = i * Br, qr = min(Br, N - q0);
    const float *P = a.P + bh * N * (int64_t)N;

    for (int x = threadIdx.x; x < qr * d; x += NTHR)
        Oi[x] = 0.0f;
    for (int j = 0; j < a.Tc; j++) {
        const int k0 = j * Bc, kc = min(Bc, N - k0);
        load_rows<CT_P>(Pij, P + q0 * (int64_t)N + k0, N, qr, kc, cnt);
        load_rows<CT_V>(Vj, a.v + head + k0 * ld, ld, kc, d, cnt);
        __syncthreads();
        pv(Oi, Pij, Vj, qr, kc, d, rows_add());
        __syncthreads();
    }
    store_rows<CT_O>(a.o + head + q0 * ld, ld, Oi, qr, d, cnt);
    fl_flush(cnt, a.counters);
}

int FL_NAME(v01_prepare)(const cuda_attn_plan *pl, char *err, size_t errlen)
{
    int rc = attn_prepare_launch((const void *)FL_NAME(v01_scores), &pl->k[0], err, errlen);
    if (!rc)
        rc = attn_prepare_launch((const void *)FL_NAME(v01_softmax), &pl->k[1], err, errlen);
    if (!rc)
        rc = attn_prepare_launch((const void *)FL_NAME(v01_pv), &pl->k[2], err, errlen);
    return rc;
}

/* The three phases, one launch each, on stream s; each kernel's buffers bound to its plan's offsets. */
int FL_NAME(v01_launch)(const attn_kargs &a0, const cuda_attn_plan *pl, cudaStream_t s, char *err, size_t errlen)
{
    attn_kargs a = a0;
    if (int rc = cuda_bind_smem(&pl->k[0], scores_buffers, S_NBUF, a.off, err, errlen))
        return rc;
    ATTN_LAUNCH(FL_NAME(v01_scores), &pl->k[0], s, a);
    a = a0;
    if (int rc = cuda_bind_smem(&pl->k[1], softmax_buffers, SM_NBUF, a.off, err, errlen))
        return rc;
    ATTN_LAUNCH(FL_NAME(v01_softmax), &pl->k[1], s, a);
    a = a0;
    if (int rc = cuda_bind_smem(&pl->k[2], pv_buffers, PV_NBUF, a.off, err, errlen))
        return rc;
    ATTN_LAUNCH(FL_NAME(v01_pv), &pl->k[2], s, a);
    return 0;
}
