/* hopper_table.c — the table of Hopper kernel versions (from hopper.def) and the plain entry for ctypes. */
#include "hopper.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define HP_VERSION(name, fn, change)                                                                             \
    int fn##_forward(const tc_args *a, void *stream, char *err, size_t errlen);                                  \
    int fn##_forward_count(const tc_args *a, void *stream, char *err, size_t errlen);                            \
    void fn##_blocks(int d, int causal, size_t N, int *Br, int *Bc);
#include "hopper.def"
#undef HP_VERSION

/* "final": the version measured fastest per case, from hopper_final.def (its rows name their source run). Its blocks,
 * and with them the ledger its counters are held to, are those of the version its row names for the case. */
typedef struct {
    size_t d;
    int causal;
    size_t n_max;   /* 0: any N */
    tc_forward_fn forward, forward_count;
    void (*blocks)(int d, int causal, size_t N, int *Br, int *Bc);
} final_row;
static const final_row FINAL[] = {
#define HP_FINAL(d, causal, n_max, fn) {d, causal, n_max, fn##_forward, fn##_forward_count, fn##_blocks},
#include "hopper_final.def"
#undef HP_FINAL
};
#define NFINAL (sizeof FINAL / sizeof FINAL[0])

/* The row that runs the case: the first whose d and causality match and whose n_max is 0 or at least N. */
static const final_row *final_row_for(size_t d, int causal, size_t N)
{
    for (size_t i = 0; i < NFINAL; i++) {
        const final_row *r = &FINAL[i];
        if (r->d == d && r->causal == (causal != 0) && (!r->n_max || N <= r->n_max))
            return r;
    }
    return NULL;
}
void attn_hfinal_blocks(int d, int causal, size_t N, int *Br, int *Bc)
{
    const final_row *r = d > 0 ? final_row_for((size_t)d, causal, N) : NULL;
    *Br = *Bc = 0;
    if (r)
        r->blocks(d, causal, N, Br, Bc);
}
static int final_run(const tc_args *a, void *stream, char *err, size_t errlen, bool count)
{
    const final_row *r = final_row_for(a->d, a->causal, a->N);
    if (!r) {
        snprintf(err, errlen, "final: no version for d = %zu (hopper_final.def)", a->d);
        return -1;
    }
    return (count ? r->forward_count : r->forward)(a, stream, err, errlen);
}
int attn_hfinal_forward(const tc_args *a, void *stream, char *err, size_t errlen)
{
    return final_run(a, stream, err, errlen, false);
}
int attn_hfinal_forward_count(const tc_args *a, void *stream, char *err, size_t errlen)
{
    return final_run(a, stream, err, errlen, true);
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

const char *hp_final_pick(int d, int causal, size_t N)
{
    const final_row *r = d > 0 ? final_row_for((size_t)d, causal, N) : NULL;
    for (int i = 0; r && i < hp_nversions; i++)
        if (hp_versions[i].forward == r->forward)
            return hp_versions[i].name;
    return NULL;
}

int hp_version_count(void) { return hp_nversions; }
const char *hp_version_name(int idx) { return idx >= 0 && idx < hp_nversions ? hp_versions[idx].name : NULL; }

int hp_version_supports(int idx, int d)
{
    int br = 0, bc = 0;
    if (idx >= 0 && idx < hp_nversions)
        hp_versions[idx].blocks(d, 0, 1, &br, &bc);   /* final has rows of both causalities for every d */
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
