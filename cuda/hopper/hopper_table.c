/* hopper_table.c — the table of Hopper kernel versions (from hopper.def) and the plain entry for ctypes. */
#include "hopper.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define HP_VERSION(name, fn, change)                                                                             \
    int fn##_forward(const tc_args *a, void *stream, char *err, size_t errlen);                                  \
    int fn##_forward_count(const tc_args *a, void *stream, char *err, size_t errlen);                            \
    void fn##_blocks(int d, int *Br, int *Bc);
#include "hopper.def"
#undef HP_VERSION

/* "final": per head dimension the version measured fastest among those checked on the GPU (H100, 2026-12-06,
 * docs/gpu-runs/): v14 at d = 64, where two blocks of two warpgroups per SM beat one warp-specialised block;
 * v17 (ping-pong + overlap, one tile per block) at d = 128; v18 (persistent) at d = 96; v18_wide (Bc = 80) at
 * d = 256. One version per d, so its blocks, and with them the counters, depend on d alone, as the table's rows
 * require. v19 (dynamic scheduler) is not in it: compiled, not yet run. */
static tc_forward_fn final_pick(size_t d, bool count)
{
    switch (d) {
    case 64: return count ? attn_v14_forward_count : attn_v14_forward;
    case 96: return count ? attn_v18_forward_count : attn_v18_forward;
    case 256: return count ? attn_v18_wide_forward_count : attn_v18_wide_forward;
    default: return count ? attn_v17_forward_count : attn_v17_forward;   /* d = 128; others: its own error */
    }
}
void attn_hfinal_blocks(int d, int *Br, int *Bc)
{
    switch (d) {
    case 64: attn_v14_blocks(d, Br, Bc); break;
    case 96: attn_v18_blocks(d, Br, Bc); break;
    case 256: attn_v18_wide_blocks(d, Br, Bc); break;
    default: attn_v17_blocks(d, Br, Bc);
    }
}
int attn_hfinal_forward(const tc_args *a, void *stream, char *err, size_t errlen)
{
    return final_pick(a->d, false)(a, stream, err, errlen);
}
int attn_hfinal_forward_count(const tc_args *a, void *stream, char *err, size_t errlen)
{
    return final_pick(a->d, true)(a, stream, err, errlen);
}

const tc_version hp_versions[] = {
#define HP_VERSION(name, fn, change) {#name, change, fn##_blocks, fn##_forward, fn##_forward_count},
#include "hopper.def"
#undef HP_VERSION
};
const int hp_nversions = (int)(sizeof hp_versions / sizeof hp_versions[0]);

int hp_find(const char *name)
{
    for (int i = 0; i < hp_nversions; i++)
        if (!strcmp(hp_versions[i].name, name))
            return i;
    return -1;
}

int hp_version_count(void) { return hp_nversions; }
const char *hp_version_name(int idx) { return idx >= 0 && idx < hp_nversions ? hp_versions[idx].name : NULL; }

int hp_version_supports(int idx, int d)
{
    int br = 0, bc = 0;
    if (idx >= 0 && idx < hp_nversions)
        hp_versions[idx].blocks(d, &br, &bc);
    return br > 0;
}

int hp_forward(int idx, const void *q, const void *k, const void *v, void *o, float *lse, long long B, long long N,
               long long H, long long d, float scale, int causal, int dtype, void *stream, unsigned long long *count)
{
    char err[256];
    if (idx < 0 || idx >= hp_nversions || B < 1 || N < 1 || H < 1 || d < 1) {
        fprintf(stderr, "hp_forward: bad version index %d or shape B=%lld N=%lld H=%lld d=%lld\n", idx, B, N, H, d);
        return -1;
    }
    tc_args a = {q, k, v, o, lse, (size_t)B, (size_t)N, (size_t)H, (size_t)d, scale, causal, dtype, count};
    tc_forward_fn f = count ? hp_versions[idx].forward_count : hp_versions[idx].forward;
    if (f(&a, stream, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}
