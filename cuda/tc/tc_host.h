/* tc_host.h — host side of the tensor-core kernels (C; used by tc_check and lesson09): fwd_host.h's harness with a
 * version named by its index into tc_versions (attn_tc.def).
 *
 *   tc_problem *p;  rc = tc_problem_new(&(tc_shape){.B = 4, .N = 4096, .H = 32, .d = 64, .dt = DTYPE_FP16}, 42,
 *                                       &p, err, sizeof err);
 *   tc_ref *ref = tc_ref_new(p, true, 128, 7);         // causal; fp64 and low-precision references, 128 rows
 *   tc_result r;  rc = tc_check_version(p, ref, v, &r, err, sizeof err);   // Tri Dao's criterion, poison, NaN
 *   tc_counts c;  rc = tc_count_version(p, true, v, &c, err, sizeof err);  // kernel counters vs simulator ledger
 *   double ms;    rc = tc_time_ms(p, true, v, 3, 20, &ms, err, sizeof err); // median of 20 (gpu_time_ms)
 *
 * Correctness, counters and errors: as fwd_host.h says.
 */
#ifndef FLASHLAB_TC_HOST_H
#define FLASHLAB_TC_HOST_H

#include "attn_tc.h"
#include "fwd_host.h"   // defines: tc_shape, tc_problem, tc_ref, tc_result, tc_counts, TC_L_ATOL, tc_flops, ...

static inline int tc_check_version(const tc_problem *p, const tc_ref *ref, int v, tc_result *r, char *err,
                                   size_t errlen)
{
    return fwd_check(p, ref, &tc_versions[v], r, err, errlen);
}

static inline int tc_count_version(const tc_problem *p, bool causal, int v, tc_counts *c, char *err, size_t errlen)
{
    return fwd_count(p, causal, &tc_versions[v], c, err, errlen);
}

static inline int tc_time_ms(const tc_problem *p, bool causal, int v, int warmup, int reps, double *ms, char *err,
                             size_t errlen)
{
    return fwd_time_ms(p, causal, &tc_versions[v], warmup, reps, ms, err, errlen);
}

#endif
