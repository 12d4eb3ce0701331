/* cuda_attn.cu — the GPU half of the runner (see cuda_attn.h): device query, device memory, launches, counters,
 * timing. The half that needs no GPU (plans, the simulator's ledger, inputs, reference checks) is cuda_attn_host.c.
 */
#include <algorithm>
#include <string.h>
#include <vector>

#include "attn_kernels.h"
#include "cuda_check.h"

#define _Noreturn __attribute__((noreturn))   /* util.h is C11; this is how g++ spells _Noreturn */
extern "C" {
#include "util.h"
}

extern "C" bool cuda_attn_device(cuda_device *dev)
{
    memset(dev, 0, sizeof *dev);
    if (cuda_device_count() == 0)
        return false;
    cudaDeviceProp prop;
    int optin = 0;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
    snprintf(dev->name, sizeof dev->name, "%s", prop.name);
    dev->sms = prop.multiProcessorCount;
    dev->cc_major = prop.major;
    dev->cc_minor = prop.minor;
    dev->smem_optin = (size_t)optin;
    dev->l2_bytes = (size_t)prop.l2CacheSize;
    dev->mem_total = prop.totalGlobalMem;
    return true;
}

/* ---- what every kernel file calls ----------------------------------------------------------------------------- */

void attn_prepare_launch(const void *kernel, const cuda_kernel_plan *kp)
{
    int dev = 0, optin = 0;
    cudaFuncAttributes fa;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    CUDA_CHECK(cudaFuncGetAttributes(&fa, kernel));
    if (fa.sharedSizeBytes != kp->static_bytes)
        fl_fatal("internal: %s has %zu bytes of static shared memory, its plan says %zu", kp->name,
                 (size_t)fa.sharedSizeBytes, kp->static_bytes);
    if (kp->dyn_bytes + fa.sharedSizeBytes > (size_t)optin)
        fl_fatal("%s needs %zu bytes of shared memory per block, but this GPU allows %d; use smaller blocks",
                 kp->name, kp->dyn_bytes + (size_t)fa.sharedSizeBytes, optin);
    if (kp->threads > (unsigned)fa.maxThreadsPerBlock)
        fl_fatal("internal: %s launches %u threads, the compiled kernel allows %d", kp->name, kp->threads,
                 fa.maxThreadsPerBlock);
    /* Above 48 KB a block must opt in to its dynamic shared memory. */
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)kp->dyn_bytes));
}

/* ---- sessions ------------------------------------------------------------------------------------------------- */

struct cuda_attn_session {
    cuda_attn_plan pl;
    attn_kargs a;
    unsigned long long *counters;     /* device, [CT_NTENSORS][2] */
    std::vector<void *> owned;        /* every cudaMalloc, freed at close */
    uint64_t dev_bytes;
    cudaEvent_t t0, t1;
};

static float *dev_alloc(cuda_attn_session *s, uint64_t elems)
{
    void *p = NULL;
    CUDA_CHECK(cudaMalloc(&p, elems * sizeof(float)));
    s->owned.push_back(p);
    return (float *)p;
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

static void prepare(const cuda_attn_plan *pl)
{
    switch (pl->p.algo) {
    case ATTN_STANDARD: v01_prepare(pl), v01_prepare_count(pl); break;
    case ATTN_FLASH1: v02_prepare(pl), v02_prepare_count(pl); break;
    default: v03_prepare(pl), v03_prepare_count(pl); break;
    }
}

static void launch(cuda_attn_session *s, bool counting)
{
    static const attn_launch_fn fn[ATTN_NALGOS][2] = {
        {v01_launch, v01_launch_count}, {v02_launch, v02_launch_count}, {v03_launch, v03_launch_count}};
    attn_kargs a = s->a;
    a.counters = counting ? s->counters : NULL;
    fn[s->pl.p.algo][counting](a, &s->pl, 0);
}

extern "C" cuda_attn_session *cuda_attn_open(const cuda_attn_plan *pl, const float *q, const float *k,
                                             const float *v)
{
    cuda_require_device();
    CUDA_CHECK(cudaFree(0));   /* create the context now, so it is not counted as the session's memory */
    prepare(pl);               /* exit 2 here if the shared memory does not fit: before any allocation */

    const attn_params *p = &pl->p;
    uint64_t bhnd = (uint64_t)p->B * p->H * p->N * p->d, bhn = (uint64_t)p->B * p->H * p->N, bhnn = bhn * p->N;
    uint64_t need = 4 * bhnd + (p->algo == ATTN_STANDARD ? 2 * bhnn : p->algo == ATTN_FLASH1 ? 2 * bhn : bhn);
    size_t free0, total;
    CUDA_CHECK(cudaMemGetInfo(&free0, &total));
    if (need * sizeof(float) > free0) {
        char b1[32], b2[32];
        fl_fatal("%s with B=%zu N=%zu H=%zu d=%zu needs %s of device memory, %s is free", attn_algo_name(p->algo),
                 p->B, p->N, p->H, p->d, fmt_bytes(need * sizeof(float), b1, sizeof b1),
                 fmt_bytes(free0, b2, sizeof b2));
    }

    cuda_attn_session *s = new cuda_attn_session();
    s->pl = *pl;
    attn_kargs &a = s->a;
    memset(&a, 0, sizeof a);
    float *dq = dev_alloc(s, bhnd), *dk = dev_alloc(s, bhnd), *dv = dev_alloc(s, bhnd);
    a.q = dq, a.k = dk, a.v = dv;
    a.o = dev_alloc(s, bhnd);
    if (p->algo == ATTN_STANDARD) {
        a.S = dev_alloc(s, bhnn);
        a.P = dev_alloc(s, bhnn);
    } else if (p->algo == ATTN_FLASH1) {
        a.m = dev_alloc(s, bhn);
        a.l = dev_alloc(s, bhn);
    } else {
        a.L = dev_alloc(s, bhn);
    }
    CUDA_CHECK(cudaMalloc(&s->counters, 2 * CT_NTENSORS * sizeof(unsigned long long)));
    s->owned.push_back(s->counters);
    size_t free1;
    CUDA_CHECK(cudaMemGetInfo(&free1, &total));
    s->dev_bytes = free0 > free1 ? free0 - free1 : 0;

    CUDA_CHECK(cudaMemcpy(dq, q, bhnd * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(dk, k, bhnd * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(dv, v, bhnd * sizeof(float), cudaMemcpyHostToDevice));

    a.B = (int)p->B, a.N = (int)p->N, a.H = (int)p->H, a.d = (int)p->d;
    a.Br = (int)p->Br, a.Bc = (int)p->Bc;
    a.Tr = (int)ceil_div(p->N, p->Br), a.Tc = (int)ceil_div(p->N, p->Bc);
    a.scale = (float)(p->scale ? p->scale : 1.0 / sqrt((double)p->d));   /* as the simulator's attn_scale */
    a.causal = p->causal;
    CUDA_CHECK(cudaEventCreate(&s->t0));
    CUDA_CHECK(cudaEventCreate(&s->t1));
    return s;
}

extern "C" uint64_t cuda_attn_device_bytes(const cuda_attn_session *s) { return s->dev_bytes; }

extern "C" void cuda_attn_exec(cuda_attn_session *s, bool counting, cuda_counts *io)
{
    float *ptr[6];
    uint64_t elems[6];
    int n;
    outputs(s, ptr, elems, &n);
    for (int x = 0; x < n; x++)   /* all bits set: a NaN in every element nobody writes */
        CUDA_CHECK(cudaMemset(ptr[x], 0xff, elems[x] * sizeof(float)));
    unsigned long long c[2 * CT_NTENSORS];
    if (counting)
        CUDA_CHECK(cudaMemset(s->counters, 0, sizeof c));
    launch(s, counting);
    CUDA_CHECK(cudaDeviceSynchronize());
    if (io) {
        memset(io, 0, sizeof *io);
        if (counting) {
            CUDA_CHECK(cudaMemcpy(c, s->counters, sizeof c, cudaMemcpyDeviceToHost));
            for (int t = 0; t < CT_NTENSORS; t++) {
                io->rd[t] = c[2 * t];
                io->wr[t] = c[2 * t + 1];
            }
        }
    }
}

extern "C" double cuda_attn_time_ms(cuda_attn_session *s, int warmup, int repeats)
{
    for (int x = 0; x < warmup; x++)
        launch(s, false);
    CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<float> ms;
    for (int x = 0; x < repeats; x++) {
        float t;
        CUDA_CHECK(cudaEventRecord(s->t0));
        launch(s, false);
        CUDA_CHECK(cudaEventRecord(s->t1));
        CUDA_CHECK(cudaEventSynchronize(s->t1));
        CUDA_CHECK(cudaEventElapsedTime(&t, s->t0, s->t1));
        ms.push_back(t);
    }
    if (ms.empty())
        return 0.0;
    std::sort(ms.begin(), ms.end());
    size_t h = ms.size() / 2;
    return ms.size() % 2 ? ms[h] : 0.5 * (ms[h - 1] + ms[h]);
}

extern "C" bool cuda_attn_download(const cuda_attn_session *s, float *out, float *lse)
{
    const attn_params *p = &s->pl.p;
    uint64_t bhnd = (uint64_t)p->B * p->H * p->N * p->d, bhn = (uint64_t)p->B * p->H * p->N;
    if (out)
        CUDA_CHECK(cudaMemcpy(out, s->a.o, bhnd * sizeof(float), cudaMemcpyDeviceToHost));
    if (!lse || p->algo == ATTN_STANDARD)
        return false;
    if (p->algo == ATTN_FLASH2) {
        CUDA_CHECK(cudaMemcpy(lse, s->a.L, bhn * sizeof(float), cudaMemcpyDeviceToHost));
        return true;
    }
    std::vector<float> l(bhn);   /* flash1 keeps m and l: L = m + log l */
    CUDA_CHECK(cudaMemcpy(lse, s->a.m, bhn * sizeof(float), cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaMemcpy(l.data(), s->a.l, bhn * sizeof(float), cudaMemcpyDeviceToHost));
    for (uint64_t x = 0; x < bhn; x++)
        lse[x] = l[x] > 0 ? lse[x] + logf(l[x]) : -INFINITY;
    return true;
}

extern "C" void cuda_attn_close(cuda_attn_session *s)
{
    if (!s)
        return;
    for (void *p : s->owned)
        CUDA_CHECK(cudaFree(p));
    CUDA_CHECK(cudaEventDestroy(s->t0));
    CUDA_CHECK(cudaEventDestroy(s->t1));
    delete s;
}
