/* hopper_host.h — host side of the Hopper kernels: one configuration checked, counted and timed (C; used by
 * hopper_check and by lesson10, which needs nothing else).
 *
 *   hp_case c = {.version = hp_find("v18_persist"), .B = 4, .N = 4096, .H = 16, .d = 128, .causal = true,
 *                .dt = DTYPE_FP16, .seed = 42, .check_rows = 64, .count = true, .warmup = 3, .reps = 20};
 *   hp_report r;
 *   if (hp_run_case(&c, &r, err, sizeof err)) ...           // -1: bad input, unsupported, or a CUDA error (err)
 *   printf("%s %s %.0f TFLOP/s\n", r.check_ok ? "ok" : "FAIL", r.counts_ok ? "ok" : "FAIL", r.tflops);
 *
 * Correctness (Tri Dao's test, as tc_host.h): max |O - O64| over the checked rows at most HP_TRIDAO_FACTOR times
 * that of the materialized reference in the same low precision (S and P rounded to fp16/bf16, sums in fp32);
 * |L - L64| at most HP_L_ATOL; NaN fails; O and L are poisoned (NaN) before the run and every element must be
 * written. Counters: the counting twin's Q, K, V reads and O, L writes, in elements, equal the simulator's flash2
 * ledger (count-only run) and its closed form (attn_io_closed_form) with the version's Br, Bc, exactly.
 * For several versions on one input, keep the problem and the reference: hp_problem_new, hp_ref_new, then
 * hp_check / hp_count / hp_time per version.
 */
#ifndef FLASHLAB_HOPPER_HOST_H
#define FLASHLAB_HOPPER_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attn_tc.h"
#include "dtype.h"

/* The error allowed relative to the low-precision reference's (flash-attention's test_flash_attn_output). */
#define HP_TRIDAO_FACTOR 2.0
/* L from fp32 scores and ex2.approx (relative error ~2^-22) on values |L| ~ 10: ~1e-6 expected. */
#define HP_L_ATOL 1e-4

typedef struct {
    size_t B, N, H, d;
    dtype_t dt;
} hp_shape;

typedef struct hp_problem hp_problem;
typedef struct hp_ref hp_ref;

/* N(0,1) inputs rounded to dt, uploaded. NULL with err on bad shape, no GPU or a CUDA error. */
hp_problem *hp_problem_new(const hp_shape *s, uint64_t seed, char *err, size_t errlen);
void hp_problem_free(hp_problem *p);
const hp_shape *hp_problem_shape(const hp_problem *p);

/* fp64 and low-precision references for max_rows rows (every row when B*H*N <= max_rows; else the first and last
 * row and random rows of up to 4 heads). */
hp_ref *hp_ref_new(const hp_problem *p, bool causal, size_t max_rows, uint64_t seed);
void hp_ref_free(hp_ref *r);

typedef struct {
    int Br, Bc;
    double err_o, ref_err_o, err_l;    /* max |O - O64|, the low-precision reference's, max |L - L64| */
    size_t rows, unwritten;            /* rows checked; elements of O or L left holding the poison */
    bool check_ok;
    uint64_t kern[TC_NCOUNT], sim[TC_NCOUNT], closed[TC_NCOUNT];
    bool counts_ok;
    double ms, tflops;                 /* median time and 4 B H N^2 d (/2 causal) / time; NAN when not timed */
} hp_report;

/* Each: 0, or -1 with err (unsupported shape, CUDA error). Results go into r; the others' fields are untouched. */
int hp_check(const hp_problem *p, const hp_ref *ref, int v, hp_report *r, char *err, size_t errlen);
int hp_count(const hp_problem *p, bool causal, int v, hp_report *r, char *err, size_t errlen);
int hp_time(const hp_problem *p, bool causal, int v, int warmup, int reps, hp_report *r, char *err, size_t errlen);
const char *hp_count_name(int i);      /* "Q read", "K read", ... */

/* One configuration, start to end: what a lesson calls. */
typedef struct {
    int version;                       /* index into hp_versions */
    size_t B, N, H, d;
    bool causal;
    dtype_t dt;
    uint64_t seed;
    size_t check_rows;                 /* 0: no check */
    bool count;                        /* run the counting twin */
    int warmup, reps;                  /* reps = 0: not timed */
} hp_case;
int hp_run_case(const hp_case *c, hp_report *r, char *err, size_t errlen);

#endif
