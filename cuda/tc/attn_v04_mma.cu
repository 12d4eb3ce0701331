/* attn_v04_mma.cu — FlashAttention-2 forward on the tensor cores: the first version (v04), and v05 (swizzled).
 *
 * What changes against the fp32 teaching kernel (v03): the two matrix products of FA2 Alg.1 lines 8 and 10 run on
 * mma.sync.m16n8k16 (fp16/bf16 in, fp32 accumulate), fed by ldmatrix. The split of work is FA2's "split-Q": one
 * thread block per query block of Br = 64 rows, one warp per 16 of those rows. A warp owns its rows' scores,
 * running max mi and sum li in registers, so no row statistic is ever shared between warps. Qi is loaded once
 * and kept in registers as MMA A-fragments; P goes from the S accumulators straight into A-fragments for P Vj.
 *
 * Deliberately plain, so that later versions have something to improve on:
 *  - shared tiles are row-major without swizzle: the 8 rows one ldmatrix reads are 128 or 256 bytes apart and
 *    all start in bank 0, an 8-way bank conflict on every load;
 *  - Kj and Vj are copied and waited for before any math on them (v06 overlaps copies with math).
 *
 * v05_swizzle, the next version, is this kernel with its tiles swizzled (SWZ = true below: the whole step). A row of
 * D = 64 (128) 16-bit values is 128 (256) bytes, a multiple of the 128 bytes that the 32 banks span, so here the 8
 * rows one ldmatrix reads collide 8 ways. With chunk c of row r stored at chunk c ^ (r % 8) (tc_common.cuh swz)
 * the 8 rows of an 8x8 tile land in 8 different 16-byte bank groups, and the 16-byte cp.async stores of a row stay
 * a permutation of one row. Predicted: every ldmatrix drops from 8 shared-memory wavefronts to 1; v04 issues 2
 * ldmatrix per 2 MMAs, so if it is bound by shared memory v05 is up to several times faster.
 * Causal: key blocks past the query block's last row are skipped; only tiles crossing the diagonal are masked;
 * the heaviest query blocks start first. Ragged N: rows past N are zero-filled, keys past N masked to -inf.
 */
#include "tc_fa2.cuh"

namespace {

constexpr int Br = 64, Bc = 64, NW = Br / 16, NT = NW * 32;

/* The whole kernel; SWZ: tiles swizzled (v05) or plain (v04). */
template <int D, typename T, bool CAUSAL, bool SWZ> __device__ __forceinline__ void fa2_v04(const tc_kparams &kp)
{
    extern __shared__ __align__(16) unsigned char smem[];
    T *Qs = reinterpret_cast<T *>(smem), *Ks = Qs + Br * D, *Vs = Ks + Bc * D;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const int N = kp.N, Tc = (N + Bc - 1) / Bc;
    const tc_head<D, T> h(kp);
    const int q0 = h.i * Br;
    unsigned long long nq = 0, nk = 0, nv = 0, no = 0, nl = 0;

    /* FA2 Alg.1 line 4: load Qi; each warp keeps its 16 rows as A-fragments (D/16 of them). */
    FL_ADD(nq, (tc_load_tile<Br, D, NT, SWZ>(Qs, h.Q, q0, N, h.ld)));
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();
    uint32_t qf[D / 16][4];
    warp_load_q<D, SWZ>(qf, Qs, warp * 16, lane);
    /* Line 5: Oi = 0, li = 0, mi = -inf. Each thread holds rows g and g+8 of its warp's 16. */
    float o[D / 8][4], mi[2], li[2];
    warp_init<D>(o, mi, li);

    /* Line 6: for each key block j; causal stops after the block holding this query block's last row. */
    const int jend = tc_key_blocks<CAUSAL, Br, Bc>(q0, N, Tc);
    for (int j = 0; j < jend; j++) {
        const int k0 = j * Bc;
        __syncthreads();                                                  /* all warps are done with K, V of j-1 */
        /* Line 7: load Kj, Vj; wait for both before any math on them. */
        FL_ADD(nk, (tc_load_tile<Bc, D, NT, SWZ>(Ks, h.K, k0, N, h.ld)));
        FL_ADD(nv, (tc_load_tile<Bc, D, NT, SWZ>(Vs, h.V, k0, N, h.ld)));
        cp_async_commit();
        cp_async_wait<0>();
        __syncthreads();
        float s[Bc / 8][4];
        warp_qk<D, Bc, T, SWZ>(s, qf, Ks, lane);                        /* line 8: Sij = Qi Kj^T */
        if (k0 + Bc > N || (CAUSAL && k0 + Bc - 1 > q0))                  /* the block crosses the diagonal or N */
            warp_mask<Bc, CAUSAL>(s, q0 + warp * 16 + g, k0, N, t);
        float alpha[2];
        warp_softmax<Bc>(s, mi, li, alpha, kp.scale_log2);                /* line 9 */
        warp_rescale<D>(o, alpha);                                        /* line 10: Oi = diag(alpha) Oi + P~ij Vj */
        warp_pv<D, Bc, T, SWZ>(o, s, Vs, lane);
    }

    /* Lines 12-15: Oi = diag(li)^-1 Oi, Li = mi + log li; write both once. Rows past N are not written. */
    warp_store<D>(h.O, kp.lse, h.ld, h.bh, N, q0 + warp * 16 + g, t, o, mi, li, kp.scale, no, nl);
    tc_flush_counts(kp.count, nq, nk, nv, no, nl);
}

template <int D, typename T, bool CAUSAL>
__global__ void __launch_bounds__(NT) attn_v04_kernel(tc_kparams kp) { fa2_v04<D, T, CAUSAL, false>(kp); }
/* v05_swizzle: the same kernel on swizzled tiles (the header comment above). */
template <int D, typename T, bool CAUSAL>
__global__ void __launch_bounds__(NT) attn_v05_kernel(tc_kparams kp) { fa2_v04<D, T, CAUSAL, true>(kp); }

template <bool SWZ> struct v04_shape : tc_shape_base<NW, 1, Bc, Bc, 1> {
    template <int D, typename T, bool CAUSAL> static tc_kernel_fn kernel()
    {
        return SWZ ? attn_v05_kernel<D, T, CAUSAL> : attn_v04_kernel<D, T, CAUSAL>;
    }
};

}  // namespace

TC_EXPORT(attn_v04, "v04_mma", (v04_shape<false>))
TC_EXPORT(attn_v05, "v05_swizzle", (v04_shape<true>))
