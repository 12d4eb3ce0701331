/* ref_rows.h — the reference every CUDA checker holds a kernel to, one query row at a time: the fp32 teaching
 * kernels (cuda_attn_check) and the tensor-core kernels (tc_check_version) alike.
 *
 *   ref_input in = {q, k, v, B, N, H, d, 1.0 / sqrt(d), causal};     // (B, N, H, d) fp32 tensors
 *   double L = ref_row64(&in, b, h, row, scratch, O);                 // fp64: ref_attention's loops for one row
 *   double Llp = ref_row_lowp(&in, DTYPE_FP16, b, h, row, fscratch, Olp);
 *
 * ref_row64 is ref_attention (reference.h) for one query, the same operations in the same order. ref_row_lowp is
 * the materialized computation in dt that Tri Dao's criterion compares with: fp32 sums, S, P and O rounded to dt
 * (as PyTorch's math path stores them). Both return L = m + log l (natural log of the scaled scores).
 */
#ifndef FLASHLAB_REF_ROWS_H
#define FLASHLAB_REF_ROWS_H

#include <stdbool.h>
#include <stddef.h>

#include "dtype.h"

typedef struct {
    const float *q, *k, *v;   /* (B, N, H, d) */
    size_t B, N, H, d;
    double scale;
    bool causal;
} ref_input;

/* O[0..d) of query row of head (b, h) in fp64; p: N doubles of scratch. */
double ref_row64(const ref_input *in, size_t b, size_t h, size_t row, double *p, double *O);
/* The same row computed in dt as described above, O rounded to dt (held in doubles); p: N floats of scratch. */
double ref_row_lowp(const ref_input *in, dtype_t dt, size_t b, size_t h, size_t row, float *p, double *O);

#endif
