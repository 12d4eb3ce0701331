/* hopper.h — the Hopper (sm_90a) FlashAttention forward kernels of cuda/hopper/, callable from C.
 *
 * The same ABI as the mma.sync kernels (attn_tc.h: tc_args, tc_version, TC_CNT_*): q, k, v, o are (B, N, H, d) in
 * fp16 or bf16, lse is (B, H, N) fp32, L = m + log(l) in natural-log units of the scaled scores; causal masks key
 * j > query i. Each version is one row of cuda/hopper/hopper.def; a row can also be appended to attn_tc.def as it
 * stands (the launchers are named attn_vNN_forward, _forward_count, _blocks).
 *
 *   int v = hp_find("v18_persist");
 *   tc_args a = {.q = dq, .k = dk, .v = dv, .o = dout, .lse = dlse, .B = 4, .N = 4096, .H = 16, .d = 128,
 *                .causal = 1, .dtype = DTYPE_BF16};
 *   if (hp_versions[v].forward(&a, NULL, err, sizeof err)) { fprintf(stderr, "%s\n", err); ... }
 *
 * Unlike tc_versions, no launcher exits on a CUDA error: it returns -1 with the error in err.
 */
#ifndef FLASHLAB_HOPPER_H
#define FLASHLAB_HOPPER_H

#include <stddef.h>

#include "attn_tc.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const tc_version hp_versions[];
extern const int hp_nversions;
int hp_find(const char *name);    /* index into hp_versions, or -1 */
/* The version `final` runs for the case (the row of hopper_final.def that takes it), or NULL: no row for d. */
const char *hp_final_pick(int d, int causal, size_t N);

/* For ctypes (cuda/hopper/hopper_bench.py): plain arguments. count: NULL, or TC_NCOUNT device counters (then the
 * counting twin runs). 0 on success, -1 with one line on stderr. */
int hp_version_count(void);
const char *hp_version_name(int idx);
int hp_version_supports(int idx, int d);   /* 1 if the version has blocks for head dimension d */
int hp_forward(int idx, const void *q, const void *k, const void *v, void *o, float *lse, long long B, long long N,
               long long H, long long d, float scale, int causal, int dtype, void *stream, unsigned long long *count);

/* The two products on one tile, alone (hopper_probe.cu): s = q k^T (64 x bc fp32), o = round(s) v (64 x d fp32). */
int hp_probe(int d, int bc, int dtype, const void *q, const void *k, const void *v, float *s, float *o, char *err,
             size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
