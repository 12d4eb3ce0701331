/* attn_v14_tma.cu — v13 with its tiles brought in by the tensor memory accelerator (TMA) and mbarriers.
 *
 * In v13 every thread computes addresses and issues cp.async for 16 bytes at a time: at d = 128 a K or V tile is
 * 2048 copies, 8 per thread, plus their predicates for rows past N. With TMA one thread describes the whole box
 * (64 columns x Bc rows of one head, through a tensor map made once on the host with cuTensorMapEncodeTiled), the
 * copy engine writes it already 128-byte-swizzled, fills rows past N with zeros, and completes an mbarrier with the
 * byte count (mbarrier.arrive.expect_tx). Consumers wait on the barrier's phase parity, which flips with each reuse
 * of the buffer. No role split yet: a __syncthreads per step frees the other buffer (hopper_sync.cuh, HP_TMA).
 * Predicted: a few percent over v13 (fewer issue slots spent on copies, no cp.async wait groups), larger at d = 128.
 */
#include "hopper_sync.cuh"

namespace {
using version = hp_sync_version<HP_TMA, 128, 128>;
}

HP_EXPORT(attn_v14, "v14_tma", version)
