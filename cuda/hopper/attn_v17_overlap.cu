/* attn_v17_overlap.cu — inside a warpgroup, the softmax of step j overlaps the P V of step j - 1.
 *
 * v16 waits for both products of a turn (wait_group 0) before its softmax. Here S(j) and P(j-1) V(j-1) are two
 * commit groups; wgmma.wait_group 1 returns once S(j) has landed, the softmax of S(j) (max, exp2, row sums) runs
 * while P V still occupies the tensor cores, and only the O rescale and the packing of P(j) into the A registers
 * (which P V is still reading) wait for the rest (wait_group 0). Costs registers: S(j), P(j-1) and O live at once
 * (64 + 32 + 64 per thread at d = 128, Bc = 128).
 * Predicted: +3-8% over v16 (FA3's ablation credits the pipelining with 582 -> 661 at d = 128 on top of warp
 * specialisation; part of that is already bought by the ping-pong).
 */
#include "hopper_ws.cuh"

namespace {
using version = hp_ws_version<2, true, true, hp_ws::HP_ONE_TILE, 128, 0, 128, 0, 2>;
}

HP_EXPORT(attn_v17, "v17_overlap", version)
