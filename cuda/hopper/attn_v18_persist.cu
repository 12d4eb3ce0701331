/* attn_v18_persist.cu — v17 on a persistent grid, with tiles chosen per head dimension (d = 64, 96, 128, 256).
 *
 * v13-v17 launch one block per (query block, head): 2048 blocks at N = 16384, d = 128, each paying its prologue
 * (barrier init, Q load, first K) and its epilogue (O stores) with the tensor cores idle. Here one block per SM
 * walks the tiles: heads in order, the last (longest, under a causal mask) query block of a head first; the
 * producer starts the next tile's K0 and Q while the consumers still finish the current one (a Q "empty" barrier
 * guards the single Q buffer). Tiles: Br = 128 (two consumer warpgroups), Bc = 128 at d = 64, 96, 128 and 64 at
 * d = 256 (Q 64 KB, two stages of K and V 128 KB). d = 96 is stored as 128 columns (zeros past 96, never
 * multiplied: S takes 6 k-steps, P V is an n = 96 product). Causal blocks mask only from the first key block that
 * crosses the diagonal (or N) on.
 * Predicted: +2-5% over v17 (the prologue/epilogue of 15 waves hidden), more for causal.
 */
#include "hopper_ws.cuh"

namespace {
using version = hp_ws_version<2, true, true, hp_ws::HP_STATIC, 128, 128, 128, 64, 2>;
using wide = hp_ws_version<2, true, true, hp_ws::HP_STATIC, 192, 0, 176, 80, 2>;
}

HP_EXPORT(attn_v18, "v18_persist", version)
HP_EXPORT(attn_v18_wide, "v18_wide", wide)
