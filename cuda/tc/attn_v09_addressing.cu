/* attn_v09_addressing.cu — v07's best shape (4 warps x 32 rows, FA2's) with the address arithmetic taken out.
 *
 * v07_w4m2's step issues about 1.3 integer instructions per MMA (IMAD, LEA, LOP3: the swizzled address of every
 * ldmatrix and cp.async recomputed from row and column), and at 255 registers it spills the precomputed copy
 * addresses to local memory (25 LDL per step). Both come from the swizzle being written as index arithmetic.
 * Here (tc_common.cuh): a lane's ldmatrix address for k-step kk is its k-step-0 address XOR (kk << 5), 16 rows
 * on is + an immediate; a thread's cp.async chunks are one shared and one global address plus constants.
 * Same shape, loads, schedule and arithmetic as v07_w4m2: tc_pipeline.cuh's body with XOR on.
 * Predicted: ~250 fewer integer instructions per step (of ~1200) and no spills: ~5-10% toward FA2's 340 (d=128).
 */
#include "tc_pipeline.cuh"

namespace {

TC_PIPELINE_KERNEL(attn_v09_kernel, 1024, /*XOR=*/true, /*LAZY=*/false)

template <int NW, int MT, int BC64, int BC128> struct v09_shape : tc_shape_base<NW, MT, BC64, BC128, 2> {
    template <int D, typename T, bool CAUSAL> static tc_kernel_fn kernel()
    {
        return attn_v09_kernel<D, T, CAUSAL, NW, MT, tc_pick<D>(BC64, BC128), false>;
    }
};

}  // namespace

/* FA2's forward shape: 4 warps x 32 rows (Br = 128), Bc = 128 (d = 64) or 64 (d = 128), Qi in shared memory. */
TC_EXPORT(attn_v09, "v09_addressing", (v09_shape<4, 2, 128, 64>))
/* The same with Bc = 64 for d = 64: half the score registers, twice the steps. */
TC_EXPORT(attn_v09_bc64, "v09_bc64", (v09_shape<4, 2, 64, 64>))
