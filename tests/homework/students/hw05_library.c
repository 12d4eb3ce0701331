/* Hostile hw05: one call of the library's FlashAttention-2 — the old reference solution.
 * expect: your code calls attn_forward
 * expect-runtime: -
 */
#include "homework.h"

void hw05_flash2_forward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    attn_params q = *p;
    q.algo = ATTN_FLASH2;
    attn_forward(m, &q, t);
}
