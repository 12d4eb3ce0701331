/* attn_internal.h — how sim/model/attention.c (dispatch, plans, closed forms) reaches each algorithm's own file.
 * Not a public API: lessons and tests use include/model/attention.h. */
#ifndef FLASHLAB_ATTN_INTERNAL_H
#define FLASHLAB_ATTN_INTERNAL_H

#include "attention.h"

/* Forward passes: sim/model/attn_standard.c, sim/model/attn_flash1.c, sim/model/attn_flash2.c. */
void standard_forward(mem_t *m, const attn_params *p, attn_tensors *t);
void flash1_forward(mem_t *m, const attn_params *p, attn_tensors *t);
void flash2_forward(mem_t *m, const attn_params *p, attn_tensors *t);

/* Backward passes, their SRAM plans and closed-form ledgers: sim/model/attn_backward.c. */
void standard_backward(mem_t *m, const attn_params *p, attn_tensors *t);
void flash1_backward(mem_t *m, const attn_params *p, attn_tensors *t);
void flash2_backward(mem_t *m, const attn_params *p, attn_tensors *t);
void attn_backward_plan(attn_algo a, size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *out);
void attn_backward_closed_form(const attn_params *p, attn_io *out);

/* The forward plans' buffers, in allocation order: sim/model/attention.c builds each plan from these indices and the
 * algorithms take their buffers by the same indices (attn_run allocates them), so code and plan cannot drift. */
enum { STD_S_Qi, STD_S_Kj, STD_S_Sij, STD_S_NBUF };
enum { STD_SM_Si, STD_SM_NBUF };
enum { STD_PV_Pij, STD_PV_Vj, STD_PV_Oi, STD_PV_NBUF };
enum { F1_Kj, F1_Vj, F1_Qi, F1_Oi, F1_li, F1_mi, F1_Sij, F1_mtij, F1_ltij, F1_mi_new, F1_li_new, F1_NBUF };
enum { F2_Qi, F2_Kj, F2_Vj, F2_Sij, F2_Oi, F2_mi, F2_li, F2_NBUF };

/* Stops with exit 2 (fl_fatal) on a bad shape: a size of 0, counts (4*B*H*N^2*d) past 64 bits, blocks outside
 * 1..N, a negative or infinite scale. */
void attn_check_params(const attn_params *p);
float attn_scale(const attn_params *p);          /* p->scale, or 1/sqrt(d) when it is 0 */

/* Run fn(w, p, t, buf, item) for item = 0 .. nitems-1, where buf[k] is plan->buf[k] allocated in w's SRAM.
 * On m itself, in order, when an observer is attached or one thread is asked for; otherwise on OpenMP workers,
 * each with its own SRAM (capacity M) and ledger (mem_fork), joined exactly (mem_join). Items must not share
 * outputs, so results do not depend on the thread count. */
typedef void (*attn_item_fn)(mem_t *m, const attn_params *p, attn_tensors *t, float *const *buf, size_t item);
void attn_run(mem_t *m, const attn_params *p, attn_tensors *t, const sram_plan *plan, size_t nitems,
              attn_item_fn fn);

#endif
