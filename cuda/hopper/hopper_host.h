/* hopper_host.h — host side of the Hopper kernels: one configuration checked, counted and timed (C; used by lesson10,
 * which needs nothing else). hopper_check, and anyone running several versions on one input, call fwd_host.h's
 * harness directly with &hp_versions[v]: hp_run_case is that harness, start to end, for one version.
 *
 *   hp_case c = {.version = hp_find("v18_persist"), .B = 4, .N = 4096, .H = 16, .d = 128, .causal = true,
 *                .dt = DTYPE_FP16, .seed = 42, .check_rows = 64, .count = true, .warmup = 3, .reps = 20};
 *   hp_report r;
 *   if (hp_run_case(&c, &r, err, sizeof err)) ...           // an exit code: bad input, unsupported, a CUDA error
 *   printf("%s %s %.0f TFLOP/s\n", r.check.ok ? "ok" : "FAIL", r.counts.ok ? "ok" : "FAIL", r.tflops);
 *
 * Correctness and counters: fwd_host.h's (Tri Dao's criterion, ORACLE_TRIDAO_FACTOR; |L - L64| <= TC_L_ATOL; every
 * element written; the counting twin's loads and stores equal the simulator's flash2 ledger and its closed form).
 */
#ifndef FLASHLAB_HOPPER_HOST_H
#define FLASHLAB_HOPPER_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "fwd_host.h"   // defines: tc_result, tc_counts, tc_count_name, ORACLE_TRIDAO_FACTOR, TC_L_ATOL

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

typedef struct {
    int Br, Bc;                        /* the version's blocks for d */
    tc_result check;                   /* zero when not checked */
    tc_counts counts;                  /* zero when not counted */
    double ms, tflops;                 /* median time and 4 B H N^2 d (/2 causal) / time; NAN when not timed */
} hp_report;

/* 0, or an exit code with one line in err (no such version, no blocks for d, no GPU, a CUDA error). */
int hp_run_case(const hp_case *c, hp_report *r, char *err, size_t errlen);

#endif
