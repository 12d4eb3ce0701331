/* attn_v21_pin.cu — the intra-warpgroup overlap (v17's step) made to survive ptxas: the softmax of S(j) really
 * runs while P(j-1) V(j-1) is in flight.
 *
 * v17 - v20 write FA3's order: a turn issues S(j) = Qi Kj^T and O += P(j-1) V(j-1) as two commit groups, waits
 * for the first (wgmma.wait_group 1), runs the softmax of S(j), and only then waits for P V (wait_group 0). The PTX
 * keeps that order; the SASS does not. Read from the cubins (nvcc 13.0, sm_90a; hopper_sass.py, make hopper-sass):
 * in every OVERLAP kernel of v17 - v20 (84 of 84: d = 64 to 256, causal or not, fp16 and bf16) ptxas placed
 * WARPGROUP.DEPBAR 0, the wait for P V, above every MUFU.EX2 of the key-block loop, right after the mask: at
 * d = 128, 0 of 90 exponentials (Bc = 176) or of 66 (Bc = 128) lie between the turn's last HGMMA and that wait.
 * At Bc = 128 registers are not short (S 64 + P 32 + O 64), so it is ptxas's schedule, not register pressure: the
 * wait has no operands, the softmax does not touch the registers of P V, and what follows the wait (the O rescale,
 * the P pack, the next turn) makes it look urgent. So v17's step (measured -4 to +2 %) never ran as written, and
 * every later version ran without it; only the ping-pong hid the softmax.
 * Here (hopper_ws.cuh, PIN; hopper_common.cuh, wg_pin): between the softmax and the wait, each consumer thread
 * stores the sum of its two row sums (a value every exponential feeds) to a shared-memory word of its own that no
 * one reads. ptxas keeps the wait below that store, hence below the softmax: in the SASS of each kernel below, all
 * 90 (66) MUFU.EX2 of the key-block loop lie between the turn's 19 (16) HGMMA and its WARPGROUP.DEPBAR 0. Cost:
 * one shared store per thread and key block, 1 KB of shared memory; ptxas: no spills, no wgmma serialisation.
 *   v21_pin  v19_wide + PIN (the one change: v19's softmax, V(j) loaded before K(j+1); Bc = 176 at d = 128)
 *   v21_kv1  v20_kv1 + PIN (K loaded one step ahead of V, the exact rescale skip; Bc = 176)
 *   v21_128  v20_128 + PIN (Bc = 128: cuDNN's key block at d = 128)
 * Blocks as the versions they extend, so the counters and the simulator's ledger are theirs.
 * Predicted before the run: FA3's ablation puts this overlap at 582 -> 661 TFLOP/s (+14 %, d = 128, N = 8192,
 * non-causal); with the ping-pong already hiding most of the softmax here, +3-8 % over the version each extends,
 * most at Bc = 176, whose softmax is longest.
 * Measured (H100, 2026-12-07, docs/gpu-runs/run_H100_2026-12-07_0345.md): in ncu's cycles at d = 128, N = 8192,
 * non-causal, v21_pin 2.664 M against v19_wide's 2.709 M (1.7 % fewer) and cuDNN's 2.745 M; in the timed benchmark
 * -6 % to +6 % against v19_wide per case, inside the rounds' spread. O and L bit-equal to the base's.
 */
#include "hopper_ws.cuh"

namespace {
using pin = hp_ws_version<2, true, true, hp_ws::HP_DYNAMIC, 192, 0, 176, 0, 2, /*LEAN*/ false, /*POLY16*/ 0,
                          /*KAHEAD*/ false, /*SPLIT*/ true, /*PIN*/ true>;
using kv1 = hp_ws_version<2, true, true, hp_ws::HP_DYNAMIC, 192, 0, 176, 0, 2, true, 0, true, false, true>;
using b128 = hp_ws_version<2, true, true, hp_ws::HP_DYNAMIC, 128, 0, 128, 0, 2, true, 0, true, false, true>;
}

HP_EXPORT(attn_v21_pin, "v21_pin", pin)
HP_EXPORT(attn_v21_kv1, "v21_kv1", kv1)
HP_EXPORT(attn_v21_128, "v21_128", b128)
