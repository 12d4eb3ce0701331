/* attn_v15_warpspec.cu — producer/consumer warp specialisation with register reallocation.
 *
 * In v14 the 256 threads that compute also wait at a __syncthreads per step so that thread 0 may refill a buffer,
 * and loads are issued only one step ahead. Here a third warpgroup is the producer: setmaxnreg.dec gives its
 * registers back (24 per thread) and setmaxnreg.inc hands them to the two consumer warpgroups (240 each, so S,
 * P and O of 64 rows x d = 128 fit without spills); one producer thread issues every TMA copy into a 2-stage ring
 * of K and V buffers, with a full and an empty mbarrier per buffer. Consumers never wait for each other: a
 * consumer warp arrives on "empty" when its products have read a buffer, and the producer refills it at once.
 * The step itself is unchanged (S, wait, softmax, P V, wait): hopper_ws.cuh with every later switch off.
 * Predicted: +5-15% over v14 (no block-wide barrier per step; loads issued as soon as a buffer frees).
 */
#include "hopper_ws.cuh"

namespace {
using version = hp_ws_version</*STAGES*/ 2, /*PINGPONG*/ false, /*OVERLAP*/ false, /*PERSIST*/ hp_ws::HP_ONE_TILE,
                              /*Bc: d=64, 96, 128, 256*/ 128, 0, 128, 0, /*consumer warpgroups at d=64*/ 2>;
}

HP_EXPORT(attn_v15, "v15_warpspec", version)
