/* attn_v16_pingpong.cu — the two consumer warpgroups take turns on the tensor cores (FA3's ping-pong).
 *
 * v15's consumer runs S, softmax, P V in a chain; when both warpgroups reach their softmax together the tensor
 * cores idle (the exp units: 16 ex2 per clock per SM against ~1000 dense fp16 FLOP per clock). The loop is
 * reordered so that one "turn" issues O += P(j-1) V(j-1) and S(j) = Q Kj^T back to back, and two named barriers
 * (bar.sync on my turn, bar.arrive on the other's) make the warpgroups alternate: one's softmax runs while the
 * other's products do. Still no overlap inside a warpgroup (wait_group 0 after the turn).
 * Predicted (FA3's ablation: the two overlaps together 570 -> 661 TFLOP/s at d = 128): +10-15% over v15 at d = 128.
 */
#include "hopper_ws.cuh"

namespace {
using version = hp_ws_version<2, true, false, hp_ws::HP_ONE_TILE, 128, 0, 128, 0, 2>;
}

HP_EXPORT(attn_v16, "v16_pingpong", version)
