/* attn_v22_reread.cu — v21_pin with d = 256's wider key block under the dynamic scheduler.
 *
 * At d = 256 the dynamic scheduler's kernels had to keep v18's Bc = 64, and `final` ran two kernels there: v18_wide
 * (Bc = 80, the static schedule) where there is no causal mask, v19_sched (Bc = 64, dynamic) where there is. Measured
 * (H100, 2026-12-07 09:43 UTC, settled, docs/gpu-runs/run_H100_2026-12-07_0922.md): 0.87-0.99x cuDNN at N <= 8192,
 * 1.00-1.01x at N = 16384. A Bc = 80 tile under the dynamic scheduler spilled (ptxas, sm_90a: 8 bytes non-causal,
 * 48 causal; with the softmax pinned, 4 and 44): with O alone 128 registers a thread, the tile's coordinates (the
 * head's offset into O, the row of L, the first row), which a consumer needs only for its epilogue, were what
 * ptxas moved to the stack across the key loop.
 * Here (hopper_ws.cuh, REREAD) the consumers read the tile index again from its shared-memory slot at the epilogue
 * (lane 0 reads it, as at the top of the tile; the producer rewrites that slot only two tiles on) and derive the
 * coordinates from it, so nothing of the tile's lives across the loop but what the masks need. ptxas (nvcc 13.0,
 * sm_90a): 0 bytes of spills in every kernel below. Under a causal mask d = 256 keeps Bc = 64 and leaves the
 * softmax unpinned (BC256C, PIN256C): pinned, the causal kernel spills 4 bytes at Bc = 64 and 16 at Bc = 80.
 *   v22_reread  v21_pin + REREAD; d = 64: Bc = 192, d = 128: Bc = 176 (as v21_pin), d = 256: Bc = 80 with the
 *               softmax pinned under P V, Bc = 64 unpinned under a causal mask
 *   v22_d32, v22_d32w  the same kernel at d = 32 (Bc = 128, 256; three K/V buffers): d = 32 rides in d = 64's
 *               128-byte shared-memory panels (TMA's 64-column box zero-fills columns 32..63; S takes two k-steps
 *               of 16, P V a 64 x 32 product), so no new layout. At d = 32 a score costs 4d = 128 FLOPs against
 *               one exponential: the softmax, not the tensor cores, sets the pace, and a wide key block only
 *               spreads the per-turn waits thinner. 0 spills at Bc = 128, 192 and 256.
 * Blocks as listed (hp_ws_version::blocks: the d = 256 tile depends on the mask), so the counters are held to the
 * simulator's ledger for the tile each case runs.
 * Predicted before any run: at d = 256, non-causal, +2-5 % over v18_wide (the softmax under P V, as v21_pin's 1.7 %
 * fewer cycles at d = 128, plus the dynamic schedule's tail); causal as v19_sched within the spread; d = 64 and 128
 * as v21_pin within the spread; d = 32: against SDPA flash (cuDNN may not take d = 32), at least 1.0x.
 * Measured (H100, 2026-12-07 11:43-11:53 UTC, settled, docs/gpu-runs/run_H100_2026-12-07_1143.md): racecheck and
 * memcheck clean; O and L bit for bit v21_pin's at d = 64 and 128 (8 of 8 cases); d = 256 non-causal 1.03-1.05x
 * v18_wide at N >= 4096 and 1.01-1.04x cuDNN at N >= 8192, the first of ours at or above cuDNN there; causal within
 * the spread of v19_sched; d = 32 1.17-1.28x SDPA flash and 1.08-1.22x cuDNN (it does take d = 32).
 */
#include "hopper_ws.cuh"

namespace {
using reread = hp_ws_version<2, true, true, hp_ws::HP_DYNAMIC, 192, 0, 176, 80, 2, /*LEAN*/ false, /*POLY16*/ 0,
                             /*KAHEAD*/ false, /*SPLIT*/ true, /*PIN*/ true, /*REREAD*/ true, /*BC256C*/ 64,
                             /*PIN256C*/ 0>;

using d32 = hp_ws_version<0, true, true, hp_ws::HP_DYNAMIC, 0, 0, 0, 0, 2, false, 0, false, true, /*PIN*/ true,
                          /*REREAD*/ true, 0, -1, /*BC32*/ 128>;
using d32w = hp_ws_version<0, true, true, hp_ws::HP_DYNAMIC, 0, 0, 0, 0, 2, false, 0, false, true, true, true, 0, -1,
                           256>;
}

HP_EXPORT(attn_v22, "v22_reread", reread)
HP_EXPORT(attn_v22_d32, "v22_d32", d32)
HP_EXPORT(attn_v22_d32w, "v22_d32w", d32w)
