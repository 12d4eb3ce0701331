/* attn_backward.c — PLACEHOLDER until the backward passes land (issue 3): every entry stops with exit 2. */
#include "attn_internal.h"
#include "util.h"

void standard_backward(mem_t *m, const attn_params *p, attn_tensors *t) { (void)m, (void)p, (void)t; fl_fatal("standard backward is not implemented yet"); }
void flash1_backward(mem_t *m, const attn_params *p, attn_tensors *t) { (void)m, (void)p, (void)t; fl_fatal("flash1 backward is not implemented yet"); }
void flash2_backward(mem_t *m, const attn_params *p, attn_tensors *t) { (void)m, (void)p, (void)t; fl_fatal("flash2 backward is not implemented yet"); }
void attn_backward_plan(attn_algo a, size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *out) { (void)a, (void)Br, (void)Bc, (void)d, (void)dt, (void)out; fl_fatal("backward plans are not implemented yet"); }
void attn_backward_closed_form(const attn_params *p, attn_io *out) { (void)p, (void)out; fl_fatal("backward closed forms are not implemented yet"); }
