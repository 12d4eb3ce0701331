/* attn_tc.h — the tensor-core FlashAttention-2 forward kernels (cuda/tc/attn_v04_*.cu and later), callable from C.
 *
 * Same contract as the simulator's flash2 (include/model/attention.h): q, k, v, o are (B, N, H, d) in fp16 or bf16,
 * lse is (B, H, N) fp32 with L = m + log(l) in natural-log units of the scaled scores; causal masks key j > query i.
 * Each version is one row of cuda/tc/attn_tc.def; tc_versions[] below is built from that list.
 *
 *   tc_args a = {.q = dq, .k = dk, .v = dv, .o = dout, .lse = dlse, .B = 4, .N = 4096, .H = 32, .d = 64,
 *                .causal = 1, .dtype = DTYPE_FP16};
 *   char err[160];
 *   int rc = tc_versions[i].forward(&a, NULL, err, sizeof err);   // 0, or an exit code with err set
 *
 * A counting build (objects compiled with -DFL_COUNT) gives every launcher a twin named ..._count that also adds
 * the kernel's global-memory traffic, in elements, to a.count[TC_CNT_*] (device memory, zeroed by the caller).
 */
#ifndef FLASHLAB_ATTN_TC_H
#define FLASHLAB_ATTN_TC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The kernel's own counters, in elements (one 16-bit value, or one fp32 value of L). */
enum { TC_CNT_Q_RD, TC_CNT_K_RD, TC_CNT_V_RD, TC_CNT_O_WR, TC_CNT_L_WR, TC_NCOUNT };

typedef struct {
    const void *q, *k, *v;        /* device, (B, N, H, d), dtype */
    void *o;                      /* device, (B, N, H, d), dtype */
    float *lse;                   /* device, (B, H, N) */
    size_t B, N, H, d;
    float scale;                  /* > 0; 0 means 1/sqrt(d) */
    int causal;
    int dtype;                    /* DTYPE_FP16 or DTYPE_BF16 (dtype.h) */
    unsigned long long *count;    /* counting launchers only: TC_NCOUNT device counters */
} tc_args;

/* 0 on success; otherwise an exit code (exitcode.h) with one line in err: FL_EXIT_USAGE for a shape or type the
 * version does not support or shared memory it cannot get, FL_EXIT_INTERNAL for a failing CUDA call
 * (cuda_check.h). Never exits: the library runs inside other programs (Python). stream: a cudaStream_t, NULL =
 * default. */
typedef int (*tc_forward_fn)(const tc_args *a, void *stream, char *err, size_t errlen);

typedef struct {
    const char *name;             /* "v04_mma" */
    const char *change;           /* what this version adds to the one before */
    /* the blocks it runs the case (d, causal, N) with, the ones its counters are held to (0, 0: d unsupported); a
     * kernel's depend on d (and, for a Hopper version with its own d = 256 tile under a causal mask, on causal), a
     * dispatcher's (the Hopper `final`) on the version it picks for the case */
    void (*blocks)(int d, int causal, size_t N, int *Br, int *Bc);
    tc_forward_fn forward, forward_count;
} tc_version;

extern const tc_version tc_versions[];
extern const int tc_nversions;
int tc_find(const char *name);    /* index into tc_versions, or -1 */

/* For ctypes (cuda/tools/tc_bench.py): plain arguments, no structs; 0, or an exit code with the line on stderr. */
int tc_version_count(void);
const char *tc_version_name(int idx);
int tc_forward(int idx, const void *q, const void *k, const void *v, void *o, float *lse, long long B, long long N,
               long long H, long long d, float scale, int causal, int dtype, void *stream);

#ifdef __cplusplus
}
#endif

#endif
