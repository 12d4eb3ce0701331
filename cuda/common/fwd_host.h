/* fwd_host.h — the host side of a FlashAttention forward kernel with the tc_version ABI (attn_tc.h): inputs, the fp64
 * and low-precision references, checks, counters, timing. One harness for the mma.sync kernels (cuda/tc, tc_host.h
 * by index into tc_versions) and the Hopper ones (cuda/hopper, hopper_host.h), so both are held to the same test.
 *
 *   tc_problem *p;  rc = tc_problem_new(&(tc_shape){.B = 4, .N = 4096, .H = 32, .d = 64, .dt = DTYPE_FP16}, 42,
 *                                       &p, err, sizeof err);
 *   tc_ref *ref = tc_ref_new(p, true, 128, 7);         // causal; fp64 and low-precision references, 128 rows
 *   const tc_version *ver = &tc_versions[v];           // or &hp_versions[v]
 *   tc_result r;  rc = fwd_check(p, ref, ver, &r, err, sizeof err);     // Tri Dao's criterion, poison, NaN
 *   tc_counts c;  rc = fwd_count(p, true, ver, &c, err, sizeof err);    // kernel counters vs simulator ledger
 *   double ms;    rc = fwd_time_ms(p, true, ver, 3, 20, &ms, err, sizeof err); // median of 20 (gpu_time_ms)
 *
 * Every function that can fail returns 0 or an exit code with one line in err (cuda_check.h); none exits.
 *
 * Correctness (Dao 2023's test, verify_tridao): the kernel's max |O - O64| over the checked elements may be at most
 * ORACLE_TRIDAO_FACTOR times that of the materialized reference computed in the same low precision (S and P rounded
 * to fp16/bf16 as PyTorch's math path stores them, O accumulated in fp32 then rounded); NaN fails; every element
 * of O and L must have been written (both are poisoned with NaN before each run). Counters: the counting twin's Q,
 * K, V reads and O, L writes, in elements, equal the simulator's flash2 ledger (count-only run) and its closed form
 * (attn_io_closed_form) with the version's Br, Bc, exactly.
 */
#ifndef FLASHLAB_FWD_HOST_H
#define FLASHLAB_FWD_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attn_tc.h"
#include "dtype.h"
#include "verify.h"   // defines: ORACLE_TRIDAO_FACTOR, verify_tridao (Tri Dao's criterion, once for the project)

/* L is computed from fp32 scores and ex2.approx (relative error 2^-22) on values |L| ~ 10: ~1e-6 expected. */
#define TC_L_ATOL 1e-4

typedef struct {
    size_t B, N, H, d;
    dtype_t dt;
} tc_shape;

typedef struct {
    tc_shape s;
    size_t n;                     /* B*N*H*d */
    float *q, *k, *v;             /* host, values already rounded to dt */
    void *dq, *dk, *dv, *dout;    /* device, dt */
    float *dlse;                  /* device, (B, H, N) */
    unsigned long long *dcount;   /* device, TC_NCOUNT */
} tc_problem;

/* N(0,1) inputs rounded to dt, uploaded. FL_EXIT_USAGE without a GPU, for an empty or overflowing shape, or for a
 * dtype other than fp16, bf16. */
int tc_problem_new(const tc_shape *s, uint64_t seed, tc_problem **out, char *err, size_t errlen);
int tc_problem_free(tc_problem *p, char *err, size_t errlen);   /* NULL is fine; frees all, returns the first error */

/* References for a sample of rows: every row when B*H*N <= max_rows, else max_rows rows from up to 4 heads. */
typedef struct tc_ref tc_ref;
tc_ref *tc_ref_new(const tc_problem *p, bool causal, size_t max_rows, uint64_t seed);
void tc_ref_free(tc_ref *r);
size_t tc_ref_rows(const tc_ref *r);

typedef struct {
    double err_o, ref_err_o;      /* max |O - O64| of the kernel and of the low-precision reference */
    double err_l, ref_err_l;      /* the same for L */
    size_t rows, unwritten;       /* rows checked; elements of O or L still holding the poison (NaN) */
    bool ok;
} tc_result;
int fwd_check(const tc_problem *p, const tc_ref *ref, const tc_version *ver, tc_result *r, char *err, size_t errlen);

/* Counters of the counting build against the simulator's flash2 ledger (count-only attn_forward with the
 * version's blocks) and the closed form, per tensor, in elements. */
typedef struct {
    int Br, Bc;
    uint64_t kern[TC_NCOUNT], sim[TC_NCOUNT], closed[TC_NCOUNT];
    bool ok;
} tc_counts;
int fwd_count(const tc_problem *p, bool causal, const tc_version *ver, tc_counts *c, char *err, size_t errlen);
const char *tc_count_name(int i);   /* "Q read", "K read", ... */

/* Median time of reps launches after warmup, milliseconds (gpu_time_ms: CUDA events, launches back to back). */
int fwd_time_ms(const tc_problem *p, bool causal, const tc_version *ver, int warmup, int reps, double *ms, char *err,
                size_t errlen);

/* FLOPs of the forward pass as flash-attention counts them: 4 B H N^2 d, halved when causal. */
double tc_flops(const tc_shape *s, bool causal);

/* One line of a checker's report (tc_check, hopper_check): a version's check of one shape, its counters. */
void fwd_print_check(const char *name, const tc_shape *s, bool causal, const tc_result *r);
void fwd_print_counts(const char *name, const tc_shape *s, bool causal, const tc_counts *c);

#endif
