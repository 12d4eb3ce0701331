/* attn_v13_wgmma.cu — FA2's forward with Hopper's warpgroup matrix instructions (wgmma), loads as before.
 *
 * v04-v12 multiply with mma.sync: one warp, 16 x 8 x 16 per instruction, operands first moved from shared memory
 * into registers with ldmatrix, and the warp waits for each product. wgmma is issued by a warpgroup (4 warps) for
 * 64 x N x 16 at once (N up to 256), reads B (and here A) straight from shared memory through a 64-bit descriptor,
 * and runs asynchronously until wgmma.wait_group. The shared tiles must be in the layout the descriptor names: 64
 * columns (128 bytes) per panel row, 16-byte chunks XOR-swizzled by row % 8, panels 1024-byte aligned.
 * Here two warpgroups (Br = 128, 64 rows each), Bc = 128, cp.async double buffering as v11, and each product waited
 * for at once (hopper_sync.cuh, LOAD = HP_CP_ASYNC): the step from mma.sync to wgmma and nothing else.
 * Predicted: ~1.3x v11 at d = 128 (no ldmatrix, 4x fewer matrix instructions, the tensor cores' full width), less at
 * d = 64 where softmax is a larger share; still far from cuDNN, since softmax and products never overlap within a
 * warpgroup.
 */
#include "hopper_sync.cuh"

namespace {
using version = hp_sync_version<HP_CP_ASYNC, 128, 128>;
}

HP_EXPORT(attn_v13, "v13_wgmma", version)
