/* bwd_host.h — host side of the tensor-core backward (bwd.h): inputs, the forward that feeds it, checks against
 * fp64, counters against the simulator, timing. C; used by bwd_check and lesson09 --backward.
 *
 *   tc_bwd_problem *p;
 *   rc = tc_bwd_problem_new(&(tc_bwd_shape){.B = 2, .N = 333, .H = 3, .d = 64, .causal = true, .dt = DTYPE_FP16},
 *                           seed, &p, err, sizeof err);          // q, k, v, dO ~ N(0,1); O, L by the forward "final"
 *   tc_bwd_result r;  rc = tc_bwd_check(p, cfg, &r, err, sizeof err);      // dQ, dK, dV vs fp64 (Tri Dao's)
 *   tc_bwd_ledger lg; rc = tc_bwd_count(p, cfg, &lg, err, sizeof err);     // counters vs the simulator's ledger
 *   double ms;        rc = tc_bwd_time_ms(p, cfg, 3, 20, &ms, err, sizeof err);
 *
 * Every function that can fail returns 0 or an exit code with one line in err (cuda_check.h); none exits.
 *
 * Correctness: Tri Dao's criterion entry by entry (lab_tridao_ratio, the project's one policy): |got - ref| at most
 * ORACLE_TRIDAO_FACTOR times the largest error of the same gradients computed the way PyTorch's math path does in
 * dt (ref_attention_backward_lowp), plus TC_BWD_SLACK_ULPS roundings of the sums behind the entry; NaN fails, and
 * every element of dQ, dK, dV must have been written (poisoned with NaN first).
 */
#ifndef FLASHLAB_TC_BWD_HOST_H
#define FLASHLAB_TC_BWD_HOST_H

#include <stdint.h>

#include "bwd.h"
#include "bwd_ledger.h"
#include "summary.h"

/* Roundings of the sums behind an entry allowed on top of 2x the low-precision error: lesson07's allowance
 * (the simulator's flash2 needed at most 0.46 over 60 seeds); entries near 0 have a near-0 low-precision error. */
#define TC_BWD_SLACK_ULPS 2.0

typedef struct tc_bwd_problem tc_bwd_problem;
int tc_bwd_problem_new(const tc_bwd_shape *s, uint64_t seed, tc_bwd_problem **out, char *err, size_t errlen);
int tc_bwd_problem_free(tc_bwd_problem *p, char *err, size_t errlen);   /* NULL is fine */
const tc_bwd_shape *tc_bwd_problem_shape(const tc_bwd_problem *p);

typedef struct {
    double err[3], ref_err[3];   /* dQ, dK, dV: max |got - fp64| and the dt reference's max |lowp - fp64| */
    double ratio[3];             /* lab_tridao_ratio: <= 1 passes */
    size_t heads, unwritten;     /* heads checked; elements of dQ, dK, dV still NaN */
    size_t nbad[3];              /* entries past Tri Dao's bound (or NaN), per gradient, over the checked heads */
    size_t bad_head[3], bad_row[3], bad_col[3];   /* the first of them: head (b H + h), row, column */
    double bad_got[3], bad_ref[3];                /* its value and the fp64 reference's */
    size_t bad_rows[3][2], bad_cols[3][2];        /* the smallest and largest row and column among them */
    bool ok;
} tc_bwd_result;
/* Checks every head when max_heads >= B*H, else max_heads heads spread over them (first and last included); the
 * references are computed on the first call and kept in p. */
int tc_bwd_check(tc_bwd_problem *p, int cfg, size_t max_heads, tc_bwd_result *r, char *err, size_t errlen);
int tc_bwd_count(const tc_bwd_problem *p, int cfg, tc_bwd_ledger *lg, char *err, size_t errlen);
int tc_bwd_time_ms(const tc_bwd_problem *p, int cfg, int warmup, int reps, double *ms, char *err, size_t errlen);

/* Everything lesson09 --backward shows, in one call: the simulator's ledger for cfg's blocks beside the counting
 * twin's counters, dQ, dK, dV against fp64 on up to max_heads heads, the median time. Without a GPU only the ledger
 * (gpu = false, lg.ok = false) and 0. */
typedef struct {
    tc_bwd_shape s;
    int cfg;
    bool gpu;
    char device[256];
    tc_bwd_ledger lg;
    tc_bwd_result r;
    double ms, tflops;
} tc_bwd_report;
int tc_bwd_report_run(const tc_bwd_shape *s, int cfg, uint64_t seed, size_t max_heads, int warmup, int reps,
                      tc_bwd_report *out, char *err, size_t errlen);

/* The configuration and shape, the ledger's rows (tc_bwd_ledger_print), then with a GPU each gradient's error and
 * Tri Dao ratio, the unwritten elements, and the time. */
void tc_bwd_report_print(const tc_bwd_report *r, FILE *f);
/* lesson09 --backward's summary keys after summary_begin: the simulator's backward ledger (summary_ledger: hbm_*,
 * rd_<T>, wr_<T>), kernel_counts_match, max_abs_err (of dQ, dK, dV), check_ok, time_ms, tflops; na without a GPU. */
void tc_bwd_report_summary(const tc_bwd_report *r, summary_t *s);

/* Matmul FLOPs of the backward as flash-attention counts them: 2.5 x 4 B H N^2 d, halved when causal. */
double tc_bwd_flops(const tc_bwd_shape *s);

#endif
