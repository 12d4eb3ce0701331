/* attn_v11_rescale.cu — v09 with Oi rescaled only when a row's maximum grows by more than 2^8.
 *
 * FA2 multiplies Oi (d/8 x 4 x MT floats per thread: 64 FMULs per step at d = 64, 128 at d = 128) and li by
 * e^(m_old - m_new) after every key block, though after the first few blocks the running max of a row rarely
 * moves, and when it does, by little. Here the warp keeps its stale maxima mi unless some row's block maximum
 * exceeds its mi by more than TAU = 8 in log2 units (one __any_sync vote per step); only then are all its rows
 * rescaled exactly as before. In between, P~ = 2^(S scale log2e - mi) may reach 2^8 = 256 instead of 1: fine in
 * fp16 and bf16 (P keeps its relative precision), li and Oi accumulate in fp32, and Oi / li and Li = mi + log li
 * are exact for whichever mi was used, because Oi and li always share it (FlashAttention-4's conditional
 * rescaling, on mma.sync). tc_pipeline.cuh's body with XOR and LAZY on (warp_rescale_lazy, tc_fa2.cuh).
 * Predicted: the rescale disappears from almost every step: up to ~10% fewer instructions at d = 128, ~5% at 64.
 */
#include "tc_pipeline.cuh"

namespace {

TC_PIPELINE_KERNEL(attn_v11_kernel, 1024, /*XOR=*/true, /*LAZY=*/true)

template <int NW, int MT, int BC64, int BC128> struct v11_shape : tc_shape_base<NW, MT, BC64, BC128, 2> {
    template <int D, typename T, bool CAUSAL> static tc_kernel_fn kernel()
    {
        return attn_v11_kernel<D, T, CAUSAL, NW, MT, tc_pick<D>(BC64, BC128), false>;
    }
};

}  // namespace

/* v09's shape: 4 warps x 32 rows (Br = 128), Bc = 128 (d = 64) or 64 (d = 128), Qi in shared memory. */
TC_EXPORT(attn_v11, "v11_rescale", (v11_shape<4, 2, 128, 64>))
TC_EXPORT(attn_v11_w8, "v11_w8", (v11_shape<8, 2, 128, 64>))         /* 8 warps x 32 rows (Br = 256), 1 block per SM */
TC_EXPORT(attn_v11_bc64, "v11_bc64", (v11_shape<4, 2, 64, 64>))      /* Bc = 64 for d = 64 too */
