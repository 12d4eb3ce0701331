/* blocks.h — choosing the block sizes Br (query rows) and Bc (key rows) from the SRAM capacity M.
 *
 * The FlashAttention paper (Algorithm 1, line 1) sets Bc = ⌈M/4d⌉ and Br = min(⌈M/4d⌉, d), M counted in elements.
 * That rule keeps Kj, Vj in half of SRAM and Qi, Oi in the other half, but forgets Sij (Br x Bc) and the row
 * statistics, so the real footprint exceeds M. Each algorithm states what it really keeps resident (an
 * sram_need_fn); when the paper's choice does not fit, blocks_choose says so and shrinks Bc, with Br = min(Bc, d),
 * to the largest values that fit. Blocks never exceed N.
 *
 * The big block belongs to the loop that stays resident. Algorithm 1's outer loop walks key blocks (Kj, Vj stay,
 * Q and O stream past them Tc times), so a big Bc saves traffic. FlashAttention-2's outer loop walks query blocks
 * (Qi stays, K and V stream past it Tr times), so there the rule is transposed: Br = ⌈M/4d⌉, Bc = min(Br, d),
 * fitted the same way (shrink the outer block, keep the inner one min(outer, d)).
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
    size_t paper_Br, paper_Bc;   /* the rule's choice before fitting (clamped to N) */
    size_t need_bytes;           /* SRAM the chosen blocks really use */
    bool fitted;                 /* the paper's choice did not fit and was shrunk */
    char rule[320];              /* one sentence for people: how the blocks were chosen */
} block_choice;

/* Which loop is outside, so which block gets ⌈M/4d⌉ and which min(that, d). */
typedef enum {
    BLOCK_RULE_KV_OUTER,   /* Algorithm 1 (the paper's rule): Bc = ⌈M/4d⌉, Br = min(Bc, d) */
    BLOCK_RULE_Q_OUTER,    /* FlashAttention-2's forward, transposed: Br = ⌈M/4d⌉, Bc = min(Br, d) */
} block_rule;

/* Br_req, Bc_req: 0 = choose. Returns 0, or -1 with a one-line reason in err (a block larger than N, an SRAM too
 * small for the requested blocks or for one 1 x 1 tile). With one block given, the other is the largest that fits
 * beside it, at most what the rule gives it. blocks_choose is blocks_choose_rule with BLOCK_RULE_KV_OUTER. */
int blocks_choose(size_t M_bytes, size_t N, size_t d, dtype_t dt, size_t Br_req, size_t Bc_req, sram_need_fn need,
                  block_choice *out, char *err, size_t errlen);
int blocks_choose_rule(size_t M_bytes, size_t N, size_t d, dtype_t dt, size_t Br_req, size_t Bc_req,
                       sram_need_fn need, block_rule rule, block_choice *out, char *err, size_t errlen);
/* The same with a need function that takes a context (one algorithm's pass, in attention.c): need(ctx, Br, ...). */
typedef size_t (*sram_need_ctx_fn)(const void *ctx, size_t Br, size_t Bc, size_t d, dtype_t dt);
int blocks_choose_ctx(size_t M_bytes, size_t N, size_t d, dtype_t dt, size_t Br_req, size_t Bc_req,
                      sram_need_ctx_fn need, const void *ctx, block_rule rule, block_choice *out, char *err,
                      size_t errlen);

#endif
