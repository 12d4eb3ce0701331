/* tc_chunk.cu — the "final" tensor-core forward (v09's body, shape and schedule: tc_pipeline.cuh with XOR on) on a
 * chunk pair (tc_chunk.h). Nothing of the kernel is new but its geometry, tc_geo_chunk: where a block's query rows
 * and keys are, which keys a query may see (global positions), and an epilogue that writes O in fp32 and gives a
 * row that saw no key O = 0, L = -inf.
 */
#include "tc_chunk.h"

#include "tc_pipeline.cuh"

namespace {

/* v09_addressing's FA2 shape (attn_v09, "final"): 4 warps x 32 rows, Bc = 128 (d = 64) or 64 (d = 128). */
constexpr int NW = 4, MT = 2, BC64 = 128, BC128 = 64;
typedef tc_shape_base<NW, MT, BC64, BC128, 2> shape;
constexpr int BR = shape::br;
/* positions and row counts are ints on the GPU; below 2^30 their sums (a position plus a block) stay positive */
constexpr size_t MAX_POS = (size_t)1 << 30;

/* The kernel's parameters: the forward's, and the windows' strides and positions. q, k, v, lse point at the
 * windows' first rows; o (fp32) too. */
struct chunk_kparams : tc_kparams {
    long long qb, kb;             /* elements between batches: q_rows H d, kv_rows H d */
    int lse_ld;
    tc_chunk_map qm, km;          /* the windows' rows and positions */
};

/* A query window against a key window at global positions (tc_pipeline.cuh's geometry contract), its index arithmetic
 * tc_chunk.h's. Only what the key loop needs lives in registers (Q, K, V, the bounds); positions, strides and the
 * output's addresses are read from the kernel's parameters (constant memory) where they are used. */
template <int D, typename T, bool CAUSAL, int BR_, int BC> struct tc_geo_chunk {
    const chunk_kparams &kp;
    const T *Q, *K, *V;
    size_t ld;
    int nq, nk, q0;

    __device__ __forceinline__ explicit tc_geo_chunk(const tc_kparams &base)
        : kp(static_cast<const chunk_kparams &>(base))
    {
        const int i = kp.Tr - 1 - (int)(blockIdx.x % kp.Tr), bh = (int)(blockIdx.x / kp.Tr);
        const long long b = bh / kp.H, hd = (long long)(bh % kp.H) * D;
        ld = (size_t)kp.H * D;
        Q = (const T *)kp.q + b * kp.qb + hd;
        K = (const T *)kp.k + b * kp.kb + hd, V = (const T *)kp.v + b * kp.kb + hd;
        nq = kp.qm.n, nk = kp.km.n, q0 = i * BR_;
    }
    __device__ __forceinline__ int key_blocks() const { return tc_chunk_key_blocks(kp.qm, kp.km, q0, BR_, BC, CAUSAL); }
    __device__ __forceinline__ bool crosses(int k0, int row) const
    {
        return tc_chunk_crosses(kp.qm, kp.km, k0, BC, row, CAUSAL);
    }
    __device__ __forceinline__ void mask(float (&s)[BC / 8][4], int row, int k0, int t) const
    {
#pragma unroll
        for (int n = 0; n < BC / 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                if (tc_chunk_hidden(kp.qm, kp.km, row + (e >> 1) * 8, k0 + n * 8 + 2 * t + (e & 1), CAUSAL))
                    s[n][e] = -INFINITY;
            }
    }
    /* Lines 12-15 for rows row0 and row0 + 8: O = Oi / li in fp32, L = m scale + log l; a row with l = 0 saw no
     * key: O = 0, L = -inf. */
    __device__ __forceinline__ void store(int row0, int t, const float (&o)[D / 8][4], const float (&mi)[2],
                                          const float (&li)[2], float scale, unsigned long long &, unsigned long long &) const
    {
        const int bh = (int)(blockIdx.x / kp.Tr);
        float *O = (float *)kp.o + (bh / kp.H) * kp.qb + (long long)(bh % kp.H) * D, *lse = kp.lse + (size_t)bh * kp.lse_ld;
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int row = row0 + r * 8;
            const float l = quad_sum(li[r]), inv = l > 0 ? 1.f / l : 0.f;
            if (row >= nq)
                continue;
#pragma unroll
            for (int n = 0; n < D / 8; n++)
                *reinterpret_cast<float2 *>(O + (size_t)row * ld + n * 8 + 2 * t) =
                    make_float2(o[n][2 * r] * inv, o[n][2 * r + 1] * inv);
            if (t == 0)
                lse[row] = l > 0 ? mi[r] * scale + logf(l) : -INFINITY;
        }
    }
};

template <int D, typename T, bool CAUSAL>
__global__ void __launch_bounds__(shape::threads) tc_chunk_kernel(chunk_kparams kp)
{
    constexpr int BC = D == 64 ? BC64 : BC128;   /* tc_pick, which is host-only */
    extern __shared__ __align__(1024) unsigned char smem[];
    fa2_pipelined_mt<D, T, CAUSAL, NW, MT, BC, /*QREG=*/false, /*XOR=*/true, /*LAZY=*/false,
                     tc_geo_chunk<D, T, CAUSAL, BR, BC>>(kp, smem);
}

template <int D, typename T>
int launch(const tc_chunk_args *a, chunk_kparams &kp, long long blocks, void *stream, char *err, size_t errlen)
{
    void (*k)(chunk_kparams) = a->causal ? tc_chunk_kernel<D, T, true> : tc_chunk_kernel<D, T, false>;
    const size_t smem = shape::smem<D, T>();
    int dev, optin;
    CUDA_TRY(cudaGetDevice(&dev));
    CUDA_TRY(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    if (smem > (size_t)optin) {
        snprintf(err, errlen, "tc_chunk: needs %zu bytes of shared memory per block, the device grants %d", smem, optin);
        return FL_EXIT_USAGE;
    }
    CUDA_TRY(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    k<<<(unsigned)blocks, shape::threads, smem, (cudaStream_t)stream>>>(kp);
    CUDA_TRY(cudaGetLastError());
    return 0;
}

/* Whether the window's positions are usable: inside MAX_POS, the second piece after the first. */
bool positions_ok(const tc_chunk_pos *p, size_t n)
{
    size_t n0 = p->n0 < n ? p->n0 : n;
    return p->pos[0] + n0 <= MAX_POS && (n0 == n || (p->pos[1] >= p->pos[0] + n0 && p->pos[1] + (n - n0) <= MAX_POS));
}

}  // namespace

extern "C" int tc_chunk_forward(const tc_chunk_args *a, void *stream, char *err, size_t errlen)
{
    if (!a->q || !a->k || !a->v || !a->o || !a->lse) {
        snprintf(err, errlen, "tc_chunk: q, k, v, o and lse must all be device pointers");
        return FL_EXIT_USAGE;
    }
    if (!a->B || !a->H || !a->nq || !a->nk || a->q0 + a->nq > a->q_rows || a->k0 + a->nk > a->kv_rows ||
        a->q_rows > MAX_POS || a->kv_rows > MAX_POS || a->B * a->H > INT_MAX) {
        snprintf(err, errlen, "tc_chunk: windows q %zu+%zu of %zu, k %zu+%zu of %zu (B=%zu H=%zu) are empty or outside",
                 a->q0, a->nq, a->q_rows, a->k0, a->nk, a->kv_rows, a->B, a->H);
        return FL_EXIT_USAGE;
    }
    if (!positions_ok(&a->qpos, a->nq) || !positions_ok(&a->kpos, a->nk)) {
        snprintf(err, errlen, "tc_chunk: positions must grow with the row (second piece after the first) and stay "
                              "below 2^30");
        return FL_EXIT_USAGE;
    }
    if (a->dtype != DTYPE_FP16 && a->dtype != DTYPE_BF16) {
        snprintf(err, errlen, "tc_chunk: dtype %d not supported (fp16 = %d or bf16 = %d)", a->dtype, DTYPE_FP16,
                 DTYPE_BF16);
        return FL_EXIT_USAGE;
    }
    if (!(a->scale >= 0) || isinf(a->scale)) {
        snprintf(err, errlen, "tc_chunk: softmax scale %g must be finite and >= 0", a->scale);
        return FL_EXIT_USAGE;
    }
    const long long Tr = (long long)((a->nq + BR - 1) / BR), blocks = Tr * (long long)(a->B * a->H);
    if (blocks > INT_MAX) {
        snprintf(err, errlen, "tc_chunk: %lld thread blocks exceed the grid limit", blocks);
        return FL_EXIT_USAGE;
    }
    const size_t e = 2, Hd = a->H * a->d;   /* fp16 and bf16: 2 bytes */
    chunk_kparams kp;
    kp.q = (const char *)a->q + a->q0 * Hd * e;
    kp.k = (const char *)a->k + a->k0 * Hd * e, kp.v = (const char *)a->v + a->k0 * Hd * e;
    kp.o = a->o + a->q0 * Hd, kp.lse = a->lse + a->q0;
    kp.N = (int)a->nq, kp.H = (int)a->H, kp.Tr = (int)Tr;
    kp.scale = a->scale > 0 ? a->scale : (float)(1.0 / sqrt((double)a->d));
    kp.scale_log2 = kp.scale * TC_LOG2E;
    kp.count = NULL;
    kp.qb = (long long)(a->q_rows * Hd), kp.kb = (long long)(a->kv_rows * Hd);
    kp.lse_ld = (int)a->q_rows;
    kp.qm = tc_chunk_map_of(&a->qpos, a->nq), kp.km = tc_chunk_map_of(&a->kpos, a->nk);
    const bool bf = a->dtype == DTYPE_BF16;
    switch (a->d) {
    case 64: return bf ? launch<64, __nv_bfloat16>(a, kp, blocks, stream, err, errlen)
                       : launch<64, __half>(a, kp, blocks, stream, err, errlen);
    case 128: return bf ? launch<128, __nv_bfloat16>(a, kp, blocks, stream, err, errlen)
                        : launch<128, __half>(a, kp, blocks, stream, err, errlen);
    default:
        snprintf(err, errlen, "tc_chunk: head dimension d = %zu not supported (64 or 128)", a->d);
        return FL_EXIT_USAGE;
    }
}
