/* tile_math.h — the arithmetic on SRAM tiles, fast: the matrix products and row-softmax pieces every attention
 * algorithm does on its tiles, as register- and cache-blocked vectorised kernels, and an exp on vectors.
 *
 * Tiles are dense row-major float arrays (row r of an R x C tile at t + r*C), as sram_alloc hands them out. Nothing
 * here counts: the algorithms count FLOPs and exps by formula (mem_compute), so a faster kernel changes no ledger.
 * Products accumulate in float, in another order than a plain loop (blocked, FMA where the CPU has it), so results
 * may differ from one in the last bits; every kernel is exact where the plain loop is (small integers).
 *
 *   tile_qkt(Qi, Kj, qr, kc, d, scale, Sij);                  // Sij = scale Qi Kj^T
 *   tile_softmax_pv_update(Sij, qr, kc, Vj, d, mi, li, Oi);  // FA2 lines 9-10 on the whole tile
 *
 * The kernels run in the widest instruction set this CPU has (AVX-512, AVX2 with FMA, or portable C vectors: SSE2
 * on any x86-64, NEON on ARM), picked once; FLASHLAB_TILE_ISA=generic (or avx2, avx512) in the environment picks
 * another for a whole run where this CPU has it, and tile_math_select does for tests and benchmarks.
 *
 * exp: tile_exp and every kernel that exponentiates use one vectorisable exp (range reduction by ln 2 and a degree-6
 * polynomial, no libm call) with error <= TILE_EXP_MAX_ULP units in the last place of the exact result (measured:
 * at most 1.01 ulp over every 7th float of the range, in each kernel set; libm's expf is within 0.5-1); exp(-inf) = 0,
 * exp(+inf) = +inf, exp(NaN) = NaN, and results below FLT_MIN are subnormal or 0 as they should be (within 0.75 of
 * 2^-149). tests/check_tile_math.c holds every kernel set to the bound over a sweep of the range.
 */
#ifndef FLASHLAB_TILE_MATH_H
#define FLASHLAB_TILE_MATH_H

#include <stddef.h>

#define TILE_EXP_MAX_ULP 2   /* documented bound of tile_exp against the exact exp (measured in the tests) */

/* ---- products ------------------------------------------------------------------------------------------------ */
/* S (rows x cols) = scale A B^T; A is rows x d, B is cols x d.      Sij = scale Qi Kj^T;  dPij = dOi Vj^T (scale 1) */
void tile_qkt(const float *A, const float *B, size_t rows, size_t cols, size_t d, float scale, float *S);

/* O (rows x d) = diag(alpha) O + P V; P is rows x kc, V is kc x d; alpha NULL means 1.
 *                                                    FA2 line 10: Oi = diag(e^(mi - m_new)) Oi + P~ij Vj */
void tile_pv_acc(const float *P, const float *V, size_t rows, size_t kc, size_t d, const float *alpha, float *O);

/* O (rows x d) = diag(a) O + diag(b) P V, per-row factors a, b.
 *                          FA1 line 12: Oi = diag(li_new)^-1 (diag(li) e^(mi - mi_new) Oi + e^(m~ij - mi_new) P~ij Vj) */
void tile_pv_rescale(const float *P, const float *V, size_t rows, size_t kc, size_t d, const float *a, const float *b,
                     float *O);

/* C (m x k) += alpha A B; A is m x n, B is n x k.                                       dQi += scale dSij Kj */
void tile_ab_acc(float *C, const float *A, const float *B, size_t m, size_t n, size_t k, float alpha);

/* C (n x k) += alpha A^T B; A is m x n, B is m x k.                 dVj += Pij^T dOi;  dKj += scale dSij^T Qi */
void tile_atb_acc(float *C, const float *A, const float *B, size_t m, size_t n, size_t k, float alpha);

/* sum over x < n of a[x] b[x], and D[r] = that for row r of A and B (rows x d).           Di = rowsum(dOi o Oi) */
float tile_dot(const float *a, const float *b, size_t n);
void tile_rowdot(float *D, const float *A, const float *B, size_t rows, size_t d);

/* dS = P o (dS - D) in place, row r of dS minus D[r]; rows x cols.                      dSij = Pij o (dPij - Di) */
void tile_dsoftmax(float *dS, const float *P, const float *D, size_t rows, size_t cols);

/* ---- softmax pieces ------------------------------------------------------------------------------------------ */
float tile_exp1(float x);                                   /* exp(x), the same exp as the vectors get */
void tile_div(float *x, size_t n, float c);                 /* x = x / c (softmax's last step) */
void tile_exp(float *y, const float *x, size_t n);          /* y = exp(x); y may be x */
float tile_row_max(const float *x, size_t n, float init);   /* max(init, x[0..n)) */
/* x = exp(x - m) in place; returns the sum of the new x (m = -inf is the caller's to avoid: exp(-inf - -inf)). */
float tile_exp_sub_sum(float *x, size_t n, float m);
/* x = exp(a x - b) / c in place (backward's Pij = exp(scale Sij - Li), FA1's exp(scale Sij - mi) / li). */
void tile_exp_affine(float *x, size_t n, float a, float b, float c);

/* FA2 Alg.1 lines 9-10 on a rows x kc tile S of scores (masked ones -inf), per row r:
 *   m_new = max(mi, rowmax S),  P~ = exp(S - m_new) (in S),  li = e^(mi - m_new) li + rowsum P~,
 *   Oi = diag(e^(mi - m_new)) Oi + P~ V (V is kc x d, O rows x d),  mi = m_new.
 * A row with m_new = -inf (nothing unmasked yet) subtracts 0 instead, so e^(-inf - -inf) is never evaluated. */
void tile_softmax_pv_update(float *S, size_t rows, size_t kc, const float *V, size_t d, float *mi, float *li,
                            float *O);

/* ---- which kernels ------------------------------------------------------------------------------------------- */
const char *tile_math_isa(void);   /* the kernels in use: "avx512", "avx2", "generic" */
/* Use the named kernels ("avx512", "avx2", "generic", or "auto": FLASHLAB_TILE_ISA's, else the widest this CPU runs):
 * 0, or -1 when this CPU or build lacks them (nothing changes). Not while kernels run on other threads: tests and
 * benchmarks only. */
int tile_math_select(const char *name);
/* The i-th kernel set this build has (i = 0, 1, ...; NULL past the end), whether or not this CPU runs it. */
const char *tile_math_isa_name(int i);

#endif
