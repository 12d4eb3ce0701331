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
    bool forward_done;                /* a forward pass left O and L (or P) for the backward */
};

static int dev_alloc(cuda_attn_session *s, uint64_t bytes, void **p, char *err, size_t errlen)
{
    CUDA_TRY(cudaMalloc(p, bytes));
    s->owned.push_back(*p);
    return 0;
}

/* The outputs of one pass: what is poisoned before it. */
static void outputs(const cuda_attn_session *s, bool backward, float **ptr, uint64_t *elems, int *n)
{
    const attn_params *p = &s->pl.p;
    uint64_t bhnd = (uint64_t)p->B * p->H * p->N * p->d, bhn = (uint64_t)p->B * p->H * p->N, bhnn = bhn * p->N;
    const attn_kargs &a = s->a;
    float *const fwd[6] = {a.o, a.S, a.P, a.L, a.m, a.l}, *const bwd[6] = {a.dq, a.dk, a.dv, a.dP, a.dS, a.D};
    const uint64_t fwd_n[6] = {bhnd, bhnn, bhnn, bhn, bhn, bhn}, bwd_n[6] = {bhnd, bhnd, bhnd, bhnn, bhnn, bhn};
    *n = 0;
    for (int x = 0; x < 6; x++)
        if ((backward ? bwd : fwd)[x])
            ptr[*n] = (backward ? bwd : fwd)[x], elems[(*n)++] = (backward ? bwd_n : fwd_n)[x];
}

static int launch(cuda_attn_session *s, bool backward, bool counting, char *err, size_t errlen)
{
    attn_kargs a = s->a;
    a.counters = counting ? s->counters : NULL;
    return attn_launch_pass(a, &s->pl, backward, counting, 0, err, errlen);
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

extern "C" int cuda_attn_set_dout(cuda_attn_session *s, const float *dout, char *err, size_t errlen)
{
    const attn_params *p = &s->pl.p;
    uint64_t bhnd = (uint64_t)p->B * p->H * p->N * p->d, bhn = (uint64_t)p->B * p->H * p->N, bhnn = bhn * p->N;
    int rc = attn_prepare_pass(&s->pl, true, err, errlen);
    if (rc)
        return rc;
    if (s->a.dout) {
        snprintf(err, errlen, "internal: cuda_attn_set_dout called twice on one session");
        return FL_EXIT_INTERNAL;
    }
    const bool std_ = p->algo == ATTN_STANDARD;
    uint64_t need = 4 * bhnd + (std_ ? 2 * bhnn : bhn);
    size_t free0, total;
    CUDA_TRY(cudaMemGetInfo(&free0, &total));
    if (need * sizeof(float) > free0) {
        char b1[32], b2[32];
        snprintf(err, errlen, "the backward of %s with B=%zu N=%zu H=%zu d=%zu needs %s more device memory, %s is "
                 "free", attn_algo_name(p->algo), p->B, p->N, p->H, p->d,
                 fmt_bytes(need * sizeof(float), b1, sizeof b1), fmt_bytes(free0, b2, sizeof b2));
        return FL_EXIT_USAGE;
    }
    attn_kargs &a = s->a;
    float **dst[7] = {(float **)&a.dout, &a.dq, &a.dk, &a.dv, std_ ? &a.dP : &a.D, std_ ? &a.dS : NULL, NULL};
    for (int x = 0; dst[x]; x++) {
        void *ptr;
        if ((rc = dev_alloc(s, (x < 4 ? bhnd : std_ ? bhnn : bhn) * sizeof(float), &ptr, err, errlen)))
            return rc;
        *dst[x] = (float *)ptr;
    }
    CUDA_TRY(cudaMemcpy((void *)a.dout, dout, bhnd * sizeof(float), cudaMemcpyHostToDevice));
    size_t free1;
    CUDA_TRY(cudaMemGetInfo(&free1, &total));
    s->dev_bytes += free0 > free1 ? free0 - free1 : 0;
    return 0;
}

extern "C" int cuda_attn_exec(cuda_attn_session *s, bool counting, cuda_counts *io, char *err, size_t errlen)
{
    return cuda_attn_run(s, false, counting, io, err, errlen);
}

extern "C" int cuda_attn_run(cuda_attn_session *s, bool backward, bool counting, cuda_counts *io, char *err,
                             size_t errlen)
{
    if (int rc = backward ? backward_ready(s->a.dout != NULL, s->forward_done, err, errlen) : 0)
        return rc;
    float *ptr[6];
    uint64_t elems[6];
    int n, rc;
    outputs(s, backward, ptr, elems, &n);
    for (int x = 0; x < n; x++)   /* all bits set: a NaN in every element nobody writes */
        CUDA_TRY(cudaMemset(ptr[x], 0xff, elems[x] * sizeof(float)));
    unsigned long long c[2 * CT_NTENSORS];
    if (counting)
        CUDA_TRY(cudaMemset(s->counters, 0, sizeof c));
    if ((rc = launch(s, backward, counting, err, errlen)))
        return rc;
    CUDA_TRY(cudaDeviceSynchronize());
    s->forward_done = s->forward_done || !backward;
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

static int launch_forward(void *s, char *err, size_t errlen)
{
    return launch((cuda_attn_session *)s, false, false, err, errlen);
}
static int launch_backward(void *s, char *err, size_t errlen)
{
    return launch((cuda_attn_session *)s, true, false, err, errlen);
}

extern "C" int cuda_attn_time_ms(cuda_attn_session *s, int warmup, int repeats, double *ms, char *err, size_t errlen)
{
    return cuda_attn_time_pass_ms(s, false, warmup, repeats, ms, err, errlen);
}

extern "C" int cuda_attn_time_pass_ms(cuda_attn_session *s, bool backward, int warmup, int repeats, double *ms,
                                      char *err, size_t errlen)
{
    if (int rc = backward ? backward_ready(s->a.dout != NULL, s->forward_done, err, errlen) : 0)
        return rc;
    return gpu_time_ms(backward ? launch_backward : launch_forward, s, warmup, repeats, ms, err, errlen);
}

extern "C" int cuda_attn_download_grads(const cuda_attn_session *s, float *dq, float *dk, float *dv, char *err,
                                        size_t errlen)
{
    const attn_params *p = &s->pl.p;
    uint64_t bytes = (uint64_t)p->B * p->H * p->N * p->d * sizeof(float);
    float *const host[3] = {dq, dk, dv}, *const dev[3] = {s->a.dq, s->a.dk, s->a.dv};
    for (int g = 0; g < 3; g++)
        if (host[g] && dev[g])
            CUDA_TRY(cudaMemcpy(host[g], dev[g], bytes, cudaMemcpyDeviceToHost));
    return 0;
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
