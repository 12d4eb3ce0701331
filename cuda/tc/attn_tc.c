/* attn_tc.c — the table of tensor-core kernel versions (from attn_tc.def) and the plain entry for ctypes.
 * Nothing here exits: errors come back as exit codes (exitcode.h) with one line in err, or on stderr for ctypes. */
#include "attn_tc.h"

#include <stdio.h>
#include <string.h>

#include "exitcode.h"

#define TC_VERSION(name, fn, change)                                                                             \
    int fn##_forward(const tc_args *a, void *stream, char *err, size_t errlen);                                  \
    int fn##_forward_count(const tc_args *a, void *stream, char *err, size_t errlen);                            \
    void fn##_blocks(int d, int *Br, int *Bc);
#include "attn_tc.def"
#undef TC_VERSION

/* "final": per case the version that measured fastest on an H200 (docs/lesson09.md, the recorded make bench-gpu in docs/gpu-runs),
 * as FA2 picks its kernel per case: v11 (lazy rescale) at d = 128 and for causal d = 64 (1-2% ahead of v09 at
 * N >= 4096), v09 (exact per-step rescale) for non-causal d = 64. Both have the same tile shape (4 warps x 32 rows),
 * so the blocks, and with them the counters, depend on d alone. */
static int final_uses_v11(const tc_args *a) { return a->d == 128 || a->causal; }
void attn_final_blocks(int d, int *Br, int *Bc)
{
    if (d == 128)
        attn_v11_blocks(d, Br, Bc);
    else
        attn_v09_blocks(d, Br, Bc);
}
int attn_final_forward(const tc_args *a, void *stream, char *err, size_t errlen)
{
    return final_uses_v11(a) ? attn_v11_forward(a, stream, err, errlen) : attn_v09_forward(a, stream, err, errlen);
}
int attn_final_forward_count(const tc_args *a, void *stream, char *err, size_t errlen)
{
    return final_uses_v11(a) ? attn_v11_forward_count(a, stream, err, errlen) : attn_v09_forward_count(a, stream, err, errlen);
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
