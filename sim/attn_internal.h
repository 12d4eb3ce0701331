/* attn_internal.h — how sim/attention.c (dispatch, plans, closed forms) reaches each algorithm's own file.
 * Not a public API: lessons and tests use include/attention.h. */
#ifndef FLASHLAB_ATTN_INTERNAL_H
#define FLASHLAB_ATTN_INTERNAL_H

#include "attention.h"

/* Forward passes: sim/attn_standard.c, sim/attn_flash1.c, sim/attn_flash2.c. */
void standard_forward(mem_t *m, const attn_params *p, attn_tensors *t);
void flash1_forward(mem_t *m, const attn_params *p, attn_tensors *t);
void flash2_forward(mem_t *m, const attn_params *p, attn_tensors *t);

/* Backward passes, their SRAM plans and closed-form ledgers: sim/attn_backward.c. */
void standard_backward(mem_t *m, const attn_params *p, attn_tensors *t);
void flash1_backward(mem_t *m, const attn_params *p, attn_tensors *t);
void flash2_backward(mem_t *m, const attn_params *p, attn_tensors *t);
void attn_backward_plan(attn_algo a, size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *out);
void attn_backward_closed_form(const attn_params *p, attn_io *out);

#endif
