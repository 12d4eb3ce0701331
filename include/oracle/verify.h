/* verify.h — the one comparison helper: a result against a double-precision reference.
 *
 * An element passes when |got - ref| <= atol + rtol * |ref|. NaN in got is always a failure (even where ref is NaN
 * too: a reference never produces NaN on valid input), and an infinity passes only where ref is the same infinity.
 * Tolerances are the caller's named constants, each with a one-line reason.
 *
 *   verify_stats st;
 *   if (!verify_close(O_ref, O, N * d, ATOL_FP32, RTOL_FP32, "O", &st, stderr)) return 1;
 *
 * With a log stream it prints the first few mismatches with their index and one line with the max error.
 */
#ifndef FLASHLAB_VERIFY_H
#define FLASHLAB_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct {
    double max_abs;     /* largest |got - ref| over finite pairs (inf when a NaN or a mismatched inf is present) */
    double max_rel;     /* largest |got - ref| / |ref| over ref != 0 */
    size_t worst;       /* index of max_abs */
    size_t bad;         /* elements that failed (NaN, wrong inf, out of tolerance) */
    size_t nan;         /* NaNs in got */
    bool ok;
} verify_stats;

#define VERIFY_SHOW 5   /* mismatches printed before the summary line */

bool verify_close(const double *ref, const float *got, size_t n, double atol, double rtol, const char *name,
                  verify_stats *st, FILE *log);

/* Largest |got - ref|; NaN when got holds a NaN (so a NaN can never look like a small error). */
double verify_max_abs(const double *ref, const float *got, size_t n);

/* Tri Dao's criterion (flash-attention's own tests): an algorithm computing in a low precision may err against the
 * fp64 reference at most ORACLE_TRIDAO_FACTOR times as much as the plain, materialized algorithm computing in that
 * same precision, because reordering the sums (tiles, online softmax) may at worst about double the rounding error.
 * Lessons, tests and the CUDA checkers all use this one factor.
 *
 *   if (!verify_tridao(verify_max_abs(ref, O, n), verify_max_abs(ref, O_std_lowp, n))) fail();
 */
#define ORACLE_TRIDAO_FACTOR 2.0
/* err_ours <= ORACLE_TRIDAO_FACTOR * err_baseline; false when either is NaN. */
bool verify_tridao(double err_ours, double err_baseline);
/* The bound err_ours must stay within: ORACLE_TRIDAO_FACTOR * err_baseline + slack, where slack is a caller's named
 * allowance (a few roundings of the output, say) for outputs whose baseline error is near 0. */
double verify_tridao_bound(double err_baseline, double slack);

#endif
