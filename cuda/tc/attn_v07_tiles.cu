/* attn_v07_tiles.cu — v06 with the tile shape as a parameter: bigger blocks, and warps of 16 or 32 rows.
 *
 * Every warp reads all of Kj and Vj from shared memory, whatever its number of rows: with 16 rows a warp spends
 * 256 bytes of ldmatrix per m16n8k16 MMA (4096 FLOPs), and an SM's 128 bytes per clock of shared memory cap it at
 * about 0.5 MMA per clock, near the tensor cores' own rate. A warp that owns two m-tiles (MT = 2, 32 rows) uses
 * each K or V fragment twice: half the shared-memory bytes per FLOP. Its registers then hold 2x the scores and
 * 2x Oi, so Qi stays in shared memory and is re-read with ldmatrix each step (QREG = false), as in FA2's own
 * kernel. Bigger Br and Bc also mean fewer steps per FLOP (fewer barriers, fewer rescales of Oi per score).
 *
 * Template: NW warps, MT m-tiles of 16 rows per warp (Br = 16 NW MT), BC keys per block, QREG: Qi in registers.
 * The table (attn_tc.def) names each configuration that is benchmarked, e.g. v07_w4m2: 4 warps x 32 rows,
 * Bc = 128 — FA2's forward shape for d = 64 (d = 128 uses Bc = 64). The kernel is tc_pipeline.cuh's body with both
 * switches off: v06's schedule, tiles indexed by swz.
 * Predicted: MT = 2 cuts shared-memory traffic per FLOP by a third to a half (Q is re-read); if shared memory is
 * the bound after v06, up to ~1.3x.
 */
#include "tc_pipeline.cuh"

namespace {

TC_PIPELINE_KERNEL(attn_v07_kernel, 16, /*XOR=*/false, /*LAZY=*/false)

template <int NW, int MT, int BC64, int BC128, bool QREG64, bool QREG128>
struct v07_shape : tc_shape_base<NW, MT, BC64, BC128, 2> {
    template <int D, typename T, bool CAUSAL> static tc_kernel_fn kernel()
    {
        return attn_v07_kernel<D, T, CAUSAL, NW, MT, tc_pick<D>(BC64, BC128), D == 64 ? QREG64 : QREG128>;
    }
};

}  // namespace

/* FA2's own forward shapes: 4 warps x 32 rows (Br = 128), Bc = 128 for d = 64 and 64 for d = 128, Qi in smem. */
TC_EXPORT(attn_v07_w4m2, "v07_w4m2", (v07_shape<4, 2, 128, 64, false, false>))
/* 8 warps x 16 rows (Br = 128), Qi in registers. */
TC_EXPORT(attn_v07_w8m1, "v07_w8m1", (v07_shape<8, 1, 128, 64, true, true>))
/* 4 warps x 16 rows (Br = 64), Bc = 128 / 64, Qi in registers: v06 with a longer key block for d = 64. */
TC_EXPORT(attn_v07_w4m1, "v07_w4m1", (v07_shape<4, 1, 128, 64, true, true>))
