/* attn_v19_sched.cu — v18 with a dynamic tile scheduler (and, in v19_s3, a third K/V buffer).
 *
 * v18 measured (H100, 2026-12-06): persistent blocks striding through the tiles lost 37 % at d = 128, N = 16384,
 * causal (379 against v17's 604 TFLOP/s). With 128 query blocks per head and a grid of 132, block b takes query
 * blocks 127 - ((b + 4k) mod 128): a narrow band of lengths, so under the causal mask some blocks get three times
 * the work of others, and the last wave runs on few SMs. Here the producer takes the next tile from a global
 * counter (atomicAdd) as soon as its block is ready for one, in the same order (heads in order, the longest query
 * block of a head first), and hands the index to the consumers in shared memory with the Q barrier: the hardware
 * scheduler's greedy order, without a launch per tile.
 * v19_s3 also keeps three K/V buffers where 227 KB of shared memory hold them (d = 64, 96, 128 at Bc = 128), so the
 * producer can run two steps ahead instead of one.
 * Predicted: causal back to v17's level or above (+50 % at N = 16384, d = 128); non-causal +0-3 % over v17;
 * three stages: +0-5 % if the copies' latency shows through two buffers.
 */
#include "hopper_ws.cuh"

namespace {
using sched = hp_ws_version<2, true, true, hp_ws::HP_DYNAMIC, 128, 128, 128, 64, 2>;
using s3 = hp_ws_version<0, true, true, hp_ws::HP_DYNAMIC, 128, 128, 128, 64, 2>;
using wide = hp_ws_version<2, true, true, hp_ws::HP_DYNAMIC, 192, 0, 176, 0, 2>;   /* d = 256, Bc = 80 spills here */
}

HP_EXPORT(attn_v19, "v19_sched", sched)
HP_EXPORT(attn_v19_s3, "v19_s3", s3)
HP_EXPORT(attn_v19_wide, "v19_wide", wide)
