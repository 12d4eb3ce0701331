/* attn_tc.c — the table of tensor-core kernel versions (from attn_tc.def) and the plain entry for ctypes.
 * Nothing here exits: errors come back as exit codes (exitcode.h) with one line in err, or on stderr for ctypes. */
#include "attn_tc.h"

#include <stdio.h>
#include <string.h>

#include "exitcode.h"

#define TC_VERSION(name, fn, change)                                                                             \
    int fn##_forward(const tc_args *a, void *stream, char *err, size_t errlen);                                  \
    int fn##_forward_count(const tc_args *a, void *stream, char *err, size_t errlen);                            \
    void fn##_blocks(int d, int causal, size_t N, int *Br, int *Bc);
#include "attn_tc.def"
#undef TC_VERSION

/* "final": the headline kernel, v09 (FA2's exact per-step rescale) in every case. It used to take v11 (lazy rescale)
 * at d = 128 and causal d = 64, where v11 measured 0-4.5 % faster on an H200 (docs/lesson09.md); the H100 run of
 * docs/gpu-runs/hopper_NVIDIA_H100_2026-12-06.md measured v11's error at up to 1.20-1.61x SDPA flash's
 * (non-causal), v09's at 0.90-1.11x, so the accuracy is worth more than the speed. Same tile shape (4 warps x 32
 * rows), so the same blocks and counters as before. Not re-timed on a GPU since the change. */
void attn_final_blocks(int d, int causal, size_t N, int *Br, int *Bc) { attn_v09_blocks(d, causal, N, Br, Bc); }
int attn_final_forward(const tc_args *a, void *stream, char *err, size_t errlen)
{
    return attn_v09_forward(a, stream, err, errlen);
}
int attn_final_forward_count(const tc_args *a, void *stream, char *err, size_t errlen)
{
    return attn_v09_forward_count(a, stream, err, errlen);
}

const tc_version tc_versions[] = {
#define TC_VERSION(name, fn, change) {#name, change, fn##_blocks, fn##_forward, fn##_forward_count},
#include "attn_tc.def"
#undef TC_VERSION
};
const int tc_nversions = (int)(sizeof tc_versions / sizeof tc_versions[0]);

int tc_find(const char *name)
{
    for (int i = 0; i < tc_nversions; i++)
        if (!strcmp(tc_versions[i].name, name))
            return i;
    return -1;
}

int tc_version_count(void) { return tc_nversions; }
const char *tc_version_name(int idx) { return idx >= 0 && idx < tc_nversions ? tc_versions[idx].name : NULL; }

int tc_forward(int idx, const void *q, const void *k, const void *v, void *o, float *lse, long long B, long long N,
               long long H, long long d, float scale, int causal, int dtype, void *stream)
{
    char err[256];
    if (idx < 0 || idx >= tc_nversions || B < 1 || N < 1 || H < 1 || d < 1) {
        fprintf(stderr, "tc_forward: bad version index %d or shape B=%lld N=%lld H=%lld d=%lld\n", idx, B, N, H, d);
        return FL_EXIT_USAGE;
    }
    tc_args a = {q, k, v, o, lse, (size_t)B, (size_t)N, (size_t)H, (size_t)d, scale, causal, dtype, NULL};
    int rc = tc_versions[idx].forward(&a, stream, err, sizeof err);
    if (rc)
        fprintf(stderr, "tc_forward: %s\n", err);
    return rc;
}
