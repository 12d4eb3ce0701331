/* bwd.h — the tensor-core FlashAttention-2 backward (cuda/tc/attn_bwd.cu), callable from C and from Python (ctypes).
 *
 * Same contract as the simulator's flash2 backward (include/model/attention.h, Dao 2023 Algorithm 2): q, k, v, o,
 * dout, dq, dk, dv are (B, N, H, d) in fp16 or bf16; lse is (B, H, N) fp32 as the forward kernels write it
 * (L = m + log l, natural log of the scaled scores); causal masks key j > query i. Three kernels, FA2's way:
 *   1  preprocess   D = rowsum(dO o O) into delta (B, H, N) fp32, and dq_accum (B, N, H, d) fp32 = 0 (lines 3-4)
 *   2  main         one block per (key block j, batch, head): Kj, Vj resident, dKj, dVj in registers, a loop over
 *                   query blocks i recomputing Pij from Li; dQi += dSij Kj by atomicAdd into dq_accum (lines 5-18)
 *   3  convert      dq = dt(scale * dq_accum)
 * The configurations are bwd.def's rows: mma.sync (attn_bwd.cu, built for sm_90) and wgmma + TMA
 * (attn_bwd_wgmma.cu, sm_90a: H100/H200 only; elsewhere their launchers return FL_EXIT_USAGE with a message).
 *
 *   tc_bwd_args a = {.fwd = {.q = q, .k = k, .v = v, .o = o, .lse = lse, .B = 4, .N = 4096, .H = 32, .d = 64,
 *                            .dtype = DTYPE_FP16},
 *                    .dout = dout, .dq = dq, .dk = dk, .dv = dv, .dq_accum = acc, .delta = delta};
 *   rc = tc_bwd_configs[0].backward(&a, NULL, err, sizeof err);     // 0, or an exit code with err set
 *
 * A counting build (-DFL_COUNT) gives each launcher a twin (backward_count) that adds the kernels' global traffic,
 * in elements, to a.fwd.count[TC_BWD_CNT_*] (device memory, zeroed by the caller).
 */
#ifndef FLASHLAB_TC_BWD_H
#define FLASHLAB_TC_BWD_H

#include <stddef.h>

#include "attn_tc.h"   // defines: tc_args (the forward's arguments: the backward's inputs)

#ifdef __cplusplus
extern "C" {
#endif

/* The kernels' own counters, in elements (a 16-bit value, or an fp32 value of L, D or dq_accum). dQ's are split by
 * what moves it: the zeroing (preprocess), the atomicAdds of the main kernel (each reads and writes one fp32
 * element), and the conversion's read of dq_accum and write of dq. */
enum {
    TC_BWD_CNT_Q_RD, TC_BWD_CNT_K_RD, TC_BWD_CNT_V_RD, TC_BWD_CNT_O_RD, TC_BWD_CNT_DO_RD, TC_BWD_CNT_L_RD,
    TC_BWD_CNT_D_RD, TC_BWD_CNT_D_WR, TC_BWD_CNT_DQ_ZERO, TC_BWD_CNT_DQ_ATOMIC, TC_BWD_CNT_DQ_ACC_RD,
    TC_BWD_CNT_DQ_WR, TC_BWD_CNT_DK_WR, TC_BWD_CNT_DV_WR, TC_BWD_NCOUNT
};

typedef struct {
    tc_args fwd;                        /* q, k, v, o (the forward's output), lse, shape, scale, causal, dtype, and
                                         * count: counting launchers only, TC_BWD_NCOUNT device counters */
    const void *dout;                   /* device, (B, N, H, d), dtype */
    void *dq, *dk, *dv;                 /* device, (B, N, H, d), dtype */
    float *dq_accum;                    /* device, (B, N, H, d) fp32: scratch */
    float *delta;                       /* device, (B, H, N) fp32: scratch (D) */
} tc_bwd_args;

/* 0, or an exit code (exitcode.h) with one line in err; never exits. stream: a cudaStream_t, NULL = default. */
typedef int (*tc_bwd_fn)(const tc_bwd_args *a, void *stream, char *err, size_t errlen);

typedef struct {
    const char *name;                            /* "bwd_br128" */
    const char *change;
    void (*blocks)(int d, int *Br, int *Bc);     /* the blocks for head dimension d (0, 0: unsupported) */
    tc_bwd_fn backward, backward_count;
} tc_bwd_config;

enum {   /* TC_BWD_bwd_br128, ...: the configurations' indices */
#define TC_BWD_CONFIG(name, br64, br128, change) TC_BWD_##name,
#include "bwd.def"
#undef TC_BWD_CONFIG
    TC_BWD_NCONFIGS
};
extern const tc_bwd_config tc_bwd_configs[TC_BWD_NCONFIGS];
int tc_bwd_find(const char *name);   /* index into tc_bwd_configs, or -1 */

/* For ctypes (cuda/tools/tc_bwd_bench.py): plain arguments; 0, or an exit code with one line on stderr.
 * tc_bwd_config_name: NULL past the last configuration. */
const char *tc_bwd_config_name(int idx);
int tc_bwd(int idx, const void *q, const void *k, const void *v, const void *o, const void *dout, const float *lse,
           void *dq, void *dk, void *dv, float *dq_accum, float *delta, long long B, long long N, long long H,
           long long d, float scale, int causal, int dtype, void *stream);

#ifdef __cplusplus
}
#endif

#endif
