/* attn_v06_pipeline.cu — v05 with the copies of Kj and Vj overlapped with the math (cp.async double buffering).
 *
 * v05 waits for Kj and Vj before it computes anything on them, so each step pays the full global-memory latency
 * (about a microsecond) with the tensor cores idle. Here K and V each get two shared buffers and travel as
 * separate cp.async groups, in FA2's order:
 *     wait Kj -> barrier -> start K(j+1) -> Sij = Qi Kj^T, softmax -> wait Vj -> barrier -> start V(j+1) -> Oi += P Vj
 * so K(j+1) lands while the warps compute S and softmax, and V(j+1) while they compute P Vj. Buffer (j+1)%2 is
 * free when it is refilled: its last readers (step j-1) all passed the barrier before.
 * Predicted: the step's copy latency is hidden; at 2 blocks per SM, most of what v05 lost waiting (the tile
 * copy is ~16-32 KB per step) comes back.
 */
#include "tc_fa2.cuh"

namespace {

constexpr int Br = 64, Bc = 64, NW = Br / 16, NT = NW * 32;

template <int D, typename T, bool CAUSAL>
__global__ void __launch_bounds__(NT) attn_v06_kernel(tc_kparams kp)
{
    extern __shared__ __align__(16) unsigned char smem[];
    T *Qs = reinterpret_cast<T *>(smem), *Ks = Qs + Br * D, *Vs = Ks + 2 * Bc * D;   /* K, V: two buffers each */
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const int N = kp.N, Tc = (N + Bc - 1) / Bc;
    const tc_head<D, T> h(kp);
    const int q0 = h.i * Br;
    const int jend = tc_key_blocks<CAUSAL, Br, Bc>(q0, N, Tc);           /* causal: skip blocks past q0+Br-1 */
    unsigned long long nq = 0, nk = 0, nv = 0, no = 0, nl = 0;

    /* FA2 Alg.1 line 4: load Qi (with K0: one group), then V0 (the next group). */
    FL_ADD(nq, (tc_load_tile<Br, D, NT, true>(Qs, h.Q, q0, N, h.ld)));
    FL_ADD(nk, (tc_load_tile<Bc, D, NT, true>(Ks, h.K, 0, N, h.ld)));
    cp_async_commit();
    FL_ADD(nv, (tc_load_tile<Bc, D, NT, true>(Vs, h.V, 0, N, h.ld)));
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    uint32_t qf[D / 16][4];
    warp_load_q<D, true>(qf, Qs, warp * 16, lane);
    float o[D / 8][4], mi[2], li[2];                                     /* line 5 */
    warp_init<D>(o, mi, li);

    for (int j = 0; j < jend; j++) {                                     /* line 6 */
        const int k0 = j * Bc;
        const T *Kj = Ks + (j & 1) * Bc * D, *Vj = Vs + (j & 1) * Bc * D;
        /* Line 7, split: Kj has landed (V_j may still be in flight); every warp is past step j-1. */
        cp_async_wait<1>();
        __syncthreads();
        if (j + 1 < jend)
            FL_ADD(nk, (tc_load_tile<Bc, D, NT, true>(Ks + ((j + 1) & 1) * Bc * D, h.K, k0 + Bc, N, h.ld)));
        cp_async_commit();                                               /* empty at the end: counts stay in step */
        float s[Bc / 8][4];
        warp_qk<D, Bc, T>(s, qf, Kj, lane);                              /* line 8 */
        if (k0 + Bc > N || (CAUSAL && k0 + Bc - 1 > q0))
            warp_mask<Bc, CAUSAL>(s, q0 + warp * 16 + g, k0, N, t);
        float alpha[2];
        warp_softmax<Bc>(s, mi, li, alpha, kp.scale_log2);               /* line 9 */
        /* Vj has landed; every warp is done with Kj, so V(j+1) may go into the other buffer. */
        cp_async_wait<1>();
        __syncthreads();
        if (j + 1 < jend)
            FL_ADD(nv, (tc_load_tile<Bc, D, NT, true>(Vs + ((j + 1) & 1) * Bc * D, h.V, k0 + Bc, N, h.ld)));
        cp_async_commit();
        warp_rescale<D>(o, alpha);                                       /* line 10: Oi = diag(alpha) Oi + P~ij Vj */
        warp_pv<D, Bc, T>(o, s, Vj, lane);
    }

    /* Lines 12-15. */
    warp_store<D>(h.O, kp.lse, h.ld, h.bh, N, q0 + warp * 16 + g, t, o, mi, li, kp.scale, no, nl);
    tc_flush_counts(kp.count, nq, nk, nv, no, nl);
}

struct v06_shape : tc_shape_base<NW, 1, Bc, Bc, 2> {
    template <int D, typename T, bool CAUSAL> static tc_kernel_fn kernel() { return attn_v06_kernel<D, T, CAUSAL>; }
};

}  // namespace

TC_EXPORT(attn_v06, "v06_pipeline", (v06_shape))
