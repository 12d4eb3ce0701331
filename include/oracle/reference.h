/* reference.h — double-precision references: softmax, attention forward and backward.
 *
 * Plain loops over dense row-major arrays, no tiling, no tricks: the truth every algorithm is checked against.
 * Attention: S = scale * Q K^T, causal masks key j > query i (top-left aligned, Nq = Nk = N), a sliding window of
 * W >= 1 keys (the _window forms) masks key j <= i - W as well, P = softmax(S) row by row, O = P V, L = rowwise
 * log-sum-exp of S (the softmax_lse FlashAttention saves).
 *
 *   ref_attention(Q, K, V, N, d, 1 / sqrt(d), false, O, L);   // one head, N x d in, N x d and N out
 */
#ifndef FLASHLAB_REFERENCE_H
#define FLASHLAB_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>

#include "dtype.h"

/* y = softmax(x) over n values, computed safely (max subtracted). */
void ref_softmax(const double *x, size_t n, double *y);

/* One head. Q, K, V: N x d; O: N x d; L: N (may be NULL). */
void ref_attention(const double *Q, const double *K, const double *V, size_t N, size_t d, double scale, bool causal,
                   double *O, double *L);
/* Row i of the same: Oi (d values) and, returned, its log-sum-exp; p is scratch of N doubles (row i of P after). */
double ref_attention_row(const double *Q, const double *K, const double *V, size_t N, size_t d, double scale,
                         bool causal, size_t i, double *p, double *Oi);

/* Gradients of sum(O * dO) for one head. dQ, dK, dV: N x d. */
void ref_attention_backward(const double *Q, const double *K, const double *V, const double *dO, size_t N, size_t d,
                            double scale, bool causal, double *dQ, double *dK, double *dV);

/* The same gradients computed the way a framework computes them in storage type dt: S, P, dP, dS and the gradients
 * materialized and each rounded to dt, sums in float by fused multiply-adds (as a GPU or BLAS matmul accumulates in
 * fp32). Its error against ref_attention_backward is the yardstick of Tri Dao's test method: an algorithm in dt may
 * err about 2x as much. */
void ref_attention_backward_lowp(const double *Q, const double *K, const double *V, const double *dO, size_t N,
                                 size_t d, double scale, bool causal, dtype_t dt, double *dQ, double *dK, double *dV);

/* The size of the sums that make each gradient entry: the same formulas with |x| for every input and no
 * cancellation (dP' = |dO||V|^T, D' = rowsum(P o dP'), dS' = P o (dP' + D'), dV' = P^T |dO|, dQ' = scale dS' |K|,
 * dK' = scale dS'^T |Q|). Roundings of relative size u inside a sum move it by about u times this (forward error
 * analysis), so tolerances scale with it where gradients are small differences of large terms. */
void ref_attention_backward_mag(const double *Q, const double *K, const double *V, const double *dO, size_t N,
                                size_t d, double scale, bool causal, double *mQ, double *mK, double *mV);

/* Head (b, h) of a (B, N, H, d) float array as a dense N x d double array, and the way back (double into float
 * is not needed: references stay double). */
void ref_head_get(const float *x, size_t B, size_t N, size_t H, size_t d, size_t b, size_t h, double *out);
void ref_head_put(const double *x, size_t B, size_t N, size_t H, size_t d, size_t b, size_t h, double *out_bnhd);

/* Every head of (B, N, H, d) inputs: O is (B, N, H, d), L is (B, H, N) (may be NULL). */
void ref_attention_bnhd(const float *Q, const float *K, const float *V, size_t B, size_t N, size_t H, size_t d,
                        double scale, bool causal, double *O, double *L);

/* ref_attention_bnhd with a sliding window: key j is visible to query i iff i - W < j <= i (W >= 1, causal implied;
 * W >= N is the causal mask). */
void ref_attention_window_bnhd(const float *Q, const float *K, const float *V, size_t B, size_t N, size_t H, size_t d,
                               double scale, size_t W, double *O, double *L);

/* One head computed the way a materialized low-precision implementation does (PyTorch's fp16 path): S = scale Q K^T
 * accumulated in fp32 by fused multiply-adds and stored in dt, P = softmax(S) in fp32 from the stored S and stored
 * in dt, O = P V accumulated the same way and stored in dt. Q, K, V are used as given (round them to dt first). Tri Dao's tolerance
 * method holds an algorithm to a multiple of this reference's error, both measured against ref_attention. */
void ref_attention_lowp(const double *Q, const double *K, const double *V, size_t N, size_t d, double scale,
                        bool causal, dtype_t dt, double *O);
/* The same for every head of (B, N, H, d) inputs; O is (B, N, H, d). */
void ref_attention_lowp_bnhd(const float *Q, const float *K, const float *V, size_t B, size_t N, size_t H, size_t d,
                             double scale, bool causal, dtype_t dt, double *O);
/* The same with ref_attention_window_bnhd's sliding window of W keys. */
void ref_attention_lowp_window_bnhd(const float *Q, const float *K, const float *V, size_t B, size_t N, size_t H,
                                    size_t d, double scale, size_t W, dtype_t dt, double *O);

#endif
