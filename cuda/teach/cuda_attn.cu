/* cuda_attn.cu — the GPU half of the runner (see cuda_attn.h): device memory, launches, counters, timing. The half
 * that needs no GPU (plans, the simulator's ledger, inputs, reference checks) is cuda_attn_host.c. Every function
 * returns 0 or an exit code with one line in err (cuda_check.h); nothing here exits.
 */
#include <string.h>
#include <vector>

#include "attn_kernels.h"
#include "cuda_check.h"

#define _Noreturn __attribute__((noreturn))   /* util.h is C11; this is how g++ spells _Noreturn */
extern "C" {
#include "util.h"
}

extern "C" int cuda_attn_device(cuda_device *dev, char *err, size_t errlen) { return cuda_device_get(dev, err, errlen); }

/* ---- what every kernel file calls ----------------------------------------------------------------------------- */

int attn_prepare_launch(const void *kernel, const cuda_kernel_plan *kp, char *err, size_t errlen)
{
    int dev = 0, optin = 0;
    cudaFuncAttributes fa;
    CUDA_TRY(cudaGetDevice(&dev));
    CUDA_TRY(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    CUDA_TRY(cudaFuncGetAttributes(&fa, kernel));
    if (fa.sharedSizeBytes != kp->static_bytes) {
        snprintf(err, errlen, "internal: %s has %zu bytes of static shared memory, its plan says %zu", kp->name,
                 (size_t)fa.sharedSizeBytes, kp->static_bytes);
        return FL_EXIT_INTERNAL;
    }
    if (kp->dyn_bytes + fa.sharedSizeBytes > (size_t)optin) {
        snprintf(err, errlen, "%s needs %zu bytes of shared memory per block, but this GPU allows %d; use smaller "
                 "blocks", kp->name, kp->dyn_bytes + (size_t)fa.sharedSizeBytes, optin);
        return FL_EXIT_USAGE;
    }
    if (kp->threads > (unsigned)fa.maxThreadsPerBlock) {
        snprintf(err, errlen, "internal: %s launches %u threads, the compiled kernel allows %d", kp->name,
                 kp->threads, fa.maxThreadsPerBlock);
        return FL_EXIT_INTERNAL;
    }
    /* Above 48 KB a block must opt in to its dynamic shared memory. */
    CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)kp->dyn_bytes));
    return 0;
}

/* ---- sessions ------------------------------------------------------------------------------------------------- */

struct cuda_attn_session {
    cuda_attn_plan pl;
    attn_kargs a;
    unsigned long long *counters;     /* device, [CT_NTENSORS][2] */
    std::vector<void *> owned;        /* every cudaMalloc, freed at close */
    uint64_t dev_bytes;
};

static int dev_alloc(cuda_attn_session *s, uint64_t bytes, void **p, char *err, size_t errlen)
{
    CUDA_TRY(cudaMalloc(p, bytes));
    s->owned.push_back(*p);
    return 0;
}

/* The outputs of one forward pass: what is poisoned before it and copied back after it. */
static void outputs(const cuda_attn_session *s, float **ptr, uint64_t *elems, int *n)
{
    const attn_params *p = &s->pl.p;
    uint64_t bhnd = (uint64_t)p->B * p->H * p->N * p->d, bhn = (uint64_t)p->B * p->H * p->N, bhnn = bhn * p->N;
    *n = 0;
    ptr[*n] = s->a.o, elems[(*n)++] = bhnd;
    if (s->a.S)
        ptr[*n] = s->a.S, elems[(*n)++] = bhnn;
    if (s->a.P)
        ptr[*n] = s->a.P, elems[(*n)++] = bhnn;
    if (s->a.L)
        ptr[*n] = s->a.L, elems[(*n)++] = bhn;
    if (s->a.m)
        ptr[*n] = s->a.m, elems[(*n)++] = bhn;
    if (s->a.l)
        ptr[*n] = s->a.l, elems[(*n)++] = bhn;
}

static int launch(cuda_attn_session *s, bool counting, char *err, size_t errlen)
{
    attn_kargs a = s->a;
    a.counters = counting ? s->counters : NULL;
    return attn_launch_fns[cuda_attn_kernel_of(s->pl.p.algo)][counting](a, &s->pl, 0, err, errlen);
}

/* Everything open does after the session exists; on failure open frees what was taken. */
static int open_into(cuda_attn_session *s, const float *q, const float *k, const float *v, char *err, size_t errlen)
{
    const attn_params *p = &s->pl.p;
    uint64_t bhnd = (uint64_t)p->B * p->H * p->N * p->d, bhn = (uint64_t)p->B * p->H * p->N, bhnn = bhn * p->N;
    uint64_t need = 4 * bhnd + (p->algo == ATTN_STANDARD ? 2 * bhnn : p->algo == ATTN_FLASH1 ? 2 * bhn : bhn);
    size_t free0, free1, total;
    CUDA_TRY(cudaMemGetInfo(&free0, &total));
    if (need * sizeof(float) > free0) {
        char b1[32], b2[32];
        snprintf(err, errlen, "%s with B=%zu N=%zu H=%zu d=%zu needs %s of device memory, %s is free",
                 attn_algo_name(p->algo), p->B, p->N, p->H, p->d, fmt_bytes(need * sizeof(float), b1, sizeof b1),
                 fmt_bytes(free0, b2, sizeof b2));
        return FL_EXIT_USAGE;
    }
    attn_kargs &a = s->a;
    void *dq, *dk, *dv, *x;
    int rc;
    if ((rc = dev_alloc(s, bhnd * sizeof(float), &dq, err, errlen)) ||
        (rc = dev_alloc(s, bhnd * sizeof(float), &dk, err, errlen)) ||
        (rc = dev_alloc(s, bhnd * sizeof(float), &dv, err, errlen)) ||
        (rc = dev_alloc(s, bhnd * sizeof(float), &x, err, errlen)))
        return rc;
    a.q = (float *)dq, a.k = (float *)dk, a.v = (float *)dv, a.o = (float *)x;
    /* standard: S and P (B, H, N, N); flash1: m and l; flash2: L (B, H, N) */
    const int nout = p->algo == ATTN_FLASH2 ? 1 : 2;
    float **out[2] = {p->algo == ATTN_STANDARD ? &a.S : p->algo == ATTN_FLASH1 ? &a.m : &a.L,
                      p->algo == ATTN_STANDARD ? &a.P : &a.l};
    for (int o = 0; o < nout; o++) {
        if ((rc = dev_alloc(s, (p->algo == ATTN_STANDARD ? bhnn : bhn) * sizeof(float), &x, err, errlen)))
            return rc;
        *out[o] = (float *)x;
    }
    if ((rc = dev_alloc(s, 2 * CT_NTENSORS * sizeof(unsigned long long), &x, err, errlen)))
        return rc;
    s->counters = (unsigned long long *)x;
    CUDA_TRY(cudaMemGetInfo(&free1, &total));
    s->dev_bytes = free0 > free1 ? free0 - free1 : 0;

    CUDA_TRY(cudaMemcpy(dq, q, bhnd * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMemcpy(dk, k, bhnd * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMemcpy(dv, v, bhnd * sizeof(float), cudaMemcpyHostToDevice));

    a.B = (int)p->B, a.N = (int)p->N, a.H = (int)p->H, a.d = (int)p->d;
    a.Br = (int)p->Br, a.Bc = (int)p->Bc;
    a.Tr = (int)ceil_div(p->N, p->Br), a.Tc = (int)ceil_div(p->N, p->Bc);
    a.scale = (float)(p->scale ? p->scale : 1.0 / sqrt((double)p->d));   /* as the simulator's attn_scale */
    a.causal = p->causal;
    return 0;
}

extern "C" int cuda_attn_open(const cuda_attn_plan *pl, const float *q, const float *k, const float *v,
                              cuda_attn_session **out, char *err, size_t errlen)
{
    *out = NULL;
    int rc = cuda_need_device(err, errlen);
    if (rc)
        return rc;
    CUDA_TRY(cudaFree(0));   /* create the context now, so it is not counted as the session's memory */
    if ((rc = attn_prepare_plan(pl, err, errlen)))   /* the shared memory fits: checked before any allocation */
        return rc;
    cuda_attn_session *s = new cuda_attn_session();
    s->pl = *pl;
    memset(&s->a, 0, sizeof s->a);
    if ((rc = open_into(s, q, k, v, err, errlen))) {
        char ignored[8];
        cuda_attn_close(s, ignored, sizeof ignored);   /* err keeps the first failure */
        return rc;
    }
    *out = s;
    return 0;
}

extern "C" uint64_t cuda_attn_device_bytes(const cuda_attn_session *s) { return s->dev_bytes; }

extern "C" int cuda_attn_exec(cuda_attn_session *s, bool counting, cuda_counts *io, char *err, size_t errlen)
{
    float *ptr[6];
    uint64_t elems[6];
    int n, rc;
    outputs(s, ptr, elems, &n);
    for (int x = 0; x < n; x++)   /* all bits set: a NaN in every element nobody writes */
        CUDA_TRY(cudaMemset(ptr[x], 0xff, elems[x] * sizeof(float)));
    unsigned long long c[2 * CT_NTENSORS];
    if (counting)
        CUDA_TRY(cudaMemset(s->counters, 0, sizeof c));
    if ((rc = launch(s, counting, err, errlen)))
        return rc;
    CUDA_TRY(cudaDeviceSynchronize());
    if (io) {
        memset(io, 0, sizeof *io);
        if (counting) {
            CUDA_TRY(cudaMemcpy(c, s->counters, sizeof c, cudaMemcpyDeviceToHost));
            for (int t = 0; t < CT_NTENSORS; t++) {
                io->rd[t] = c[2 * t];
                io->wr[t] = c[2 * t + 1];
            }
        }
    }
    return 0;
}

static int launch_plain(void *s, char *err, size_t errlen) { return launch((cuda_attn_session *)s, false, err, errlen); }

extern "C" int cuda_attn_time_ms(cuda_attn_session *s, int warmup, int repeats, double *ms, char *err, size_t errlen)
{
    return gpu_time_ms(launch_plain, s, warmup, repeats, ms, err, errlen);
}

extern "C" int cuda_attn_download(const cuda_attn_session *s, float *out, float *lse, bool *has_lse, char *err,
                                  size_t errlen)
{
    const attn_params *p = &s->pl.p;
    uint64_t bhnd = (uint64_t)p->B * p->H * p->N * p->d, bhn = (uint64_t)p->B * p->H * p->N;
    *has_lse = false;
    if (out)
        CUDA_TRY(cudaMemcpy(out, s->a.o, bhnd * sizeof(float), cudaMemcpyDeviceToHost));
    if (!lse || p->algo == ATTN_STANDARD)
        return 0;
    if (p->algo == ATTN_FLASH2) {
        CUDA_TRY(cudaMemcpy(lse, s->a.L, bhn * sizeof(float), cudaMemcpyDeviceToHost));
        *has_lse = true;
        return 0;
    }
    std::vector<float> l(bhn);   /* flash1 keeps m and l: L = m + log l */
    CUDA_TRY(cudaMemcpy(lse, s->a.m, bhn * sizeof(float), cudaMemcpyDeviceToHost));
    CUDA_TRY(cudaMemcpy(l.data(), s->a.l, bhn * sizeof(float), cudaMemcpyDeviceToHost));
    for (uint64_t x = 0; x < bhn; x++)
        lse[x] = l[x] > 0 ? lse[x] + logf(l[x]) : -INFINITY;
    *has_lse = true;
    return 0;
}

extern "C" int cuda_attn_close(cuda_attn_session *s, char *err, size_t errlen)
{
    if (!s)
        return 0;
    cudaError_t first = cudaSuccess;
    for (void *p : s->owned) {
        cudaError_t e = cudaFree(p);
        first = first == cudaSuccess ? e : first;
    }
    delete s;
    CUDA_TRY(first);
    return 0;
}
