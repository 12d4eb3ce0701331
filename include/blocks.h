/* blocks.h — choosing the block sizes Br (query rows) and Bc (key rows) from the SRAM capacity M.
 *
 * The FlashAttention paper (Algorithm 1, line 1) sets Bc = ⌈M/4d⌉ and Br = min(⌈M/4d⌉, d), M counted in elements.
 * That rule keeps Kj, Vj in half of SRAM and Qi, Oi in the other half, but forgets Sij (Br x Bc) and the row
 * statistics, so the real footprint exceeds M. Each algorithm states what it really keeps resident (an
 * sram_need_fn); when the paper's choice does not fit, blocks_choose says so and shrinks Bc, with Br = min(Bc, d),
 * to the largest values that fit. Blocks never exceed N.
 */
#ifndef FLASHLAB_BLOCKS_H
#define FLASHLAB_BLOCKS_H

#include <stdbool.h>
#include <stddef.h>

#include "dtype.h"

/* Bytes of SRAM an algorithm keeps resident at its peak with blocks Br x Bc, head dimension d, storage dt. */
typedef size_t (*sram_need_fn)(size_t Br, size_t Bc, size_t d, dtype_t dt);

typedef struct {
    size_t Br, Bc;               /* the blocks to use */
    size_t paper_Br, paper_Bc;   /* the paper's rule (clamped to N) */
    size_t need_bytes;           /* SRAM the chosen blocks really use */
    bool fitted;                 /* the paper's choice did not fit and was shrunk */
    char rule[256];              /* one sentence for people: how the blocks were chosen */
} block_choice;

/* Br_req, Bc_req: 0 = choose. Returns 0, or -1 with a one-line reason in err (a block larger than N, an SRAM too
 * small for the requested blocks or for one 1 x 1 tile). */
int blocks_choose(size_t M_bytes, size_t N, size_t d, dtype_t dt, size_t Br_req, size_t Bc_req, sram_need_fn need,
                  block_choice *out, char *err, size_t errlen);

#endif
