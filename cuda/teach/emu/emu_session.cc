/* emu_session.cc — the runner of cuda_attn.h on the CPU emulator (cuda_emu.h): the same API as cuda_attn.cu,
 * with host memory standing in for device memory and blocks run as CUDA_ATTN_THREADS POSIX threads each.
 * Linked instead of cuda_attn.cu into the emulated test runner, so the GPU test suites run here on small shapes.
 */
#undef _FORTIFY_SOURCE   /* its longjmp check refuses jumps between the threads' stacks, which are the point here */
#include <pthread.h>
#include <setjmp.h>
#include <ucontext.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "attn_tiles.cuh"

#define _Noreturn __attribute__((noreturn))   /* util.h is C11; this is how g++ spells _Noreturn */
extern "C" {
#include "util.h"
}

/* The emulated device: an H100/H200's shared memory per block, so plans match the GPU's. */
#define EMU_SMEM_OPTIN 232448
/* Shapes beyond this are for the GPU: the emulator runs a few million scores per second. */
#define EMU_MAX_BYTES ((uint64_t)1 << 30)

uint3 threadIdx, blockIdx;

/* ---- a block's threads as coroutines ------------------------------------------------------------------------ *
 * Every thread runs until it reaches a barrier (or ends), then hands control back to the scheduler; when all 256
 * wait at __syncthreads, or all 32 of a warp at __syncwarp / a shuffle, they go on. One OS thread, so runs are
 * deterministic. */
enum { EMU_RUN, EMU_BLOCK_BAR, EMU_WARP_BAR, EMU_DONE };
#define EMU_STACK (1 << 18)

/* A thread starts on its own stack through makecontext/swapcontext; after that, switches are _setjmp/_longjmp
 * (no system call, unlike swapcontext's save of the signal mask). */
static ucontext_t sched_ctx, th_ctx[CUDA_ATTN_THREADS];
static jmp_buf sched_jmp, th_jmp[CUDA_ATTN_THREADS];
static bool started[CUDA_ATTN_THREADS];
static int th_state[CUDA_ATTN_THREADS];
static unsigned current;
static unsigned long long slots[NWARPS][32];
static unsigned char *smem_buf;
static char stuck_msg[256];   /* why the last block could not finish, when it could not */
static void (*emu_kernel)(const attn_kargs);
static const attn_kargs *emu_args;

/* AddressSanitizer must be told of every switch of stacks: each side keeps its own fake-stack handle. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
static void *sched_fake, *th_fake[CUDA_ATTN_THREADS];
#define FIBER_START(save, bottom, size) __sanitizer_start_switch_fiber((save), (bottom), (size))
#define FIBER_FINISH(fake) __sanitizer_finish_switch_fiber((fake), NULL, NULL)
#else
#define FIBER_START(save, bottom, size) ((void)0)
#define FIBER_FINISH(fake) ((void)0)
#endif
static unsigned char *stacks;
static const void *sched_stack_bottom;
static size_t sched_stack_size;

/* Back to the scheduler, waiting in state st. */
static void __attribute__((noinline)) yield_to_scheduler(int st)
{
    th_state[current] = st;
    if (_setjmp(th_jmp[current]) == 0) {
        FIBER_START(&th_fake[current], sched_stack_bottom, sched_stack_size);
        _longjmp(sched_jmp, 1);
    }
    FIBER_FINISH(th_fake[current]);
}

void __syncthreads(void) { yield_to_scheduler(EMU_BLOCK_BAR); }
void __syncwarp(unsigned mask)
{
    (void)mask;
    yield_to_scheduler(EMU_WARP_BAR);
}

unsigned long long emu_shfl_xor(unsigned long long bits, int lanemask)
{
    unsigned w = threadIdx.x / 32, lane = threadIdx.x % 32;
    slots[w][lane] = bits;
    __syncwarp();
    bits = slots[w][lane ^ (unsigned)lanemask];
    __syncwarp();
    return bits;
}

unsigned char *emu_smem(void) { return smem_buf; }

static void thread_entry(void)
{
    FIBER_FINISH(NULL);
    emu_kernel(*emu_args);
    th_state[current] = EMU_DONE;
    FIBER_START(NULL, sched_stack_bottom, sched_stack_size);   /* this stack is done with */
    _longjmp(sched_jmp, 1);
}

/* Run thread t until it waits at a barrier or ends. */
static void __attribute__((noinline)) resume(unsigned t)
{
    current = t;
    threadIdx = make_uint3(t, 0, 0);
    if (_setjmp(sched_jmp) == 0) {
        FIBER_START(&sched_fake, stacks + (size_t)t * EMU_STACK, EMU_STACK);
        if (!started[t]) {
            started[t] = true;
            swapcontext(&sched_ctx, &th_ctx[t]);
        } else {
            _longjmp(th_jmp[t], 1);
        }
    }
    FIBER_FINISH(sched_fake);
}

/* getcontext returns twice in principle: kept apart so no caller's variable lives across it. */
static void __attribute__((noinline)) new_thread(unsigned t)
{
    getcontext(&th_ctx[t]);
    th_ctx[t].uc_stack.ss_sp = stacks + (size_t)t * EMU_STACK;
    th_ctx[t].uc_stack.ss_size = EMU_STACK;
    th_ctx[t].uc_link = NULL;
    makecontext(&th_ctx[t], thread_entry, 0);
    th_state[t] = EMU_RUN;
    started[t] = false;
}

/* Run block b to its end: 0, or -1 with stuck_msg when a barrier is not reached by every thread. */
static int run_block(unsigned b, size_t dyn_bytes)
{
    memset(smem_buf, 0xff, dyn_bytes);   /* NaN: shared memory holds garbage until written */
    blockIdx = make_uint3(b, 0, 0);
    for (unsigned t = 0; t < CUDA_ATTN_THREADS; t++)
        new_thread(t);
    for (;;) {
        int done = 0, at_block = 0;
        for (unsigned t = 0; t < CUDA_ATTN_THREADS; t++)
            if (th_state[t] == EMU_RUN)
                resume(t);
        bool released = false;
        for (unsigned w = 0; w < NWARPS; w++) {   /* a warp whose 32 threads all wait at __syncwarp goes on */
            int n = 0;
            for (unsigned l = 0; l < 32; l++)
                n += th_state[w * 32 + l] == EMU_WARP_BAR;
            if (n == 32) {
                for (unsigned l = 0; l < 32; l++)
                    th_state[w * 32 + l] = EMU_RUN;
                released = true;
            }
        }
        if (released)
            continue;
        for (unsigned t = 0; t < CUDA_ATTN_THREADS; t++) {
            done += th_state[t] == EMU_DONE;
            at_block += th_state[t] == EMU_BLOCK_BAR;
        }
        if (done == CUDA_ATTN_THREADS)
            return 0;
        if (at_block == CUDA_ATTN_THREADS) {
            for (unsigned t = 0; t < CUDA_ATTN_THREADS; t++)
                th_state[t] = EMU_RUN;
            continue;
        }
        snprintf(stuck_msg, sizeof stuck_msg, "emulator: block %u is stuck: %d threads ended, %d wait at "
                 "__syncthreads, the rest at a warp barrier (a barrier that not every thread reaches)", b, done,
                 at_block);
        return -1;   /* the coroutines' stacks are dropped with the launch's */
    }
}

int emu_launch(void (*kernel)(const attn_kargs), uint64_t blocks, size_t dyn_bytes, const attn_kargs &a, char *err,
               size_t errlen)
{
    pthread_attr_t attr;   /* the scheduler's own stack, for the sanitizer's fiber switches */
    pthread_getattr_np(pthread_self(), &attr);
    void *addr;
    pthread_attr_getstack(&attr, &addr, &sched_stack_size);
    pthread_attr_destroy(&attr);
    sched_stack_bottom = addr;

    smem_buf = (unsigned char *)malloc(dyn_bytes ? dyn_bytes : 1);
    stacks = (unsigned char *)malloc((size_t)CUDA_ATTN_THREADS * EMU_STACK);
    int rc = 0;
    if (!smem_buf || !stacks) {
        snprintf(err, errlen, "emulator: out of host memory");
        rc = FL_EXIT_USAGE;
    }
    emu_kernel = kernel;
    emu_args = &a;
    for (uint64_t b = 0; !rc && b < blocks; b++)
        if (run_block((unsigned)b, dyn_bytes)) {
            snprintf(err, errlen, "%s", stuck_msg);
            rc = FL_EXIT_INTERNAL;
        }
    free(stacks);
    free(smem_buf);
    smem_buf = NULL;
    return rc;
}

int attn_prepare_launch(const void *kernel, const cuda_kernel_plan *kp, char *err, size_t errlen)
{
    (void)kernel;
    if (kp->dyn_bytes + kp->static_bytes > EMU_SMEM_OPTIN) {
        snprintf(err, errlen, "%s needs %zu bytes of shared memory per block, but this GPU allows %d; use smaller "
                 "blocks", kp->name, kp->dyn_bytes + kp->static_bytes, EMU_SMEM_OPTIN);
        return FL_EXIT_USAGE;
    }
    return 0;
}

extern "C" int cuda_attn_device(cuda_device *dev, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    memset(dev, 0, sizeof *dev);
    snprintf(dev->name, sizeof dev->name, "CPU emulator of the teaching kernels (cuda/teach/emu)");
    dev->sms = 1;
    dev->smem_optin = EMU_SMEM_OPTIN;
    dev->mem_total = EMU_MAX_BYTES;
    return 0;
}

/* ---- sessions on host memory ------------------------------------------------------------------------------------ */

struct cuda_attn_session {
    cuda_attn_plan pl;
    attn_kargs a;
    unsigned long long counters[2 * CT_NTENSORS];
    std::vector<float *> owned;
    std::vector<std::pair<float *, uint64_t>> outs, grads;   /* what a forward pass, a backward pass writes */
    uint64_t bytes;
    bool forward_done;
};

static float *host_alloc(cuda_attn_session *s, uint64_t elems, std::vector<std::pair<float *, uint64_t>> *outs)
{
    float *p = (float *)xmalloc(elems * sizeof(float));
    s->owned.push_back(p);
    s->bytes += elems * sizeof(float);
    if (outs)
        outs->push_back({p, elems});
    return p;
}

extern "C" int cuda_attn_open(const cuda_attn_plan *pl, const float *q, const float *k, const float *v,
                              cuda_attn_session **out, char *err, size_t errlen)
{
    *out = NULL;
    if (int rc = attn_prepare_plan(pl, err, errlen))
        return rc;
    const attn_params *p = &pl->p;
    uint64_t bhnd = (uint64_t)p->B * p->H * p->N * p->d, bhn = (uint64_t)p->B * p->H * p->N, bhnn = bhn * p->N;
    uint64_t need = 4 * bhnd + (p->algo == ATTN_STANDARD ? 2 * bhnn : 2 * bhn);
    if (need * sizeof(float) > EMU_MAX_BYTES) {
        snprintf(err, errlen, "emulator: B=%zu N=%zu H=%zu d=%zu is too large to emulate; run it on a GPU", p->B,
                 p->N, p->H, p->d);
        return FL_EXIT_USAGE;
    }
    cuda_attn_session *s = new cuda_attn_session();
    s->pl = *pl;
    attn_kargs &a = s->a;
    memset(&a, 0, sizeof a);
    float *dq = host_alloc(s, bhnd, NULL), *dk = host_alloc(s, bhnd, NULL), *dv = host_alloc(s, bhnd, NULL);
    memcpy(dq, q, bhnd * sizeof(float));
    memcpy(dk, k, bhnd * sizeof(float));
    memcpy(dv, v, bhnd * sizeof(float));
    a.q = dq, a.k = dk, a.v = dv;
    a.o = host_alloc(s, bhnd, &s->outs);
    if (p->algo == ATTN_STANDARD) {
        a.S = host_alloc(s, bhnn, &s->outs);
        a.P = host_alloc(s, bhnn, &s->outs);
    } else if (p->algo == ATTN_FLASH1) {
        a.m = host_alloc(s, bhn, &s->outs);
        a.l = host_alloc(s, bhn, &s->outs);
    } else {
        a.L = host_alloc(s, bhn, &s->outs);
    }
    a.B = (int)p->B, a.N = (int)p->N, a.H = (int)p->H, a.d = (int)p->d;
    a.Br = (int)p->Br, a.Bc = (int)p->Bc;
    a.Tr = (int)ceil_div(p->N, p->Br), a.Tc = (int)ceil_div(p->N, p->Bc);
    a.scale = (float)(p->scale ? p->scale : 1.0 / sqrt((double)p->d));
    a.causal = p->causal;
    *out = s;
    return 0;
}

extern "C" uint64_t cuda_attn_device_bytes(const cuda_attn_session *s) { return s->bytes; }

extern "C" int cuda_attn_set_dout(cuda_attn_session *s, const float *dout, char *err, size_t errlen)
{
    if (int rc = attn_prepare_pass(&s->pl, true, err, errlen))
        return rc;
    const attn_params *p = &s->pl.p;
    uint64_t bhnd = (uint64_t)p->B * p->H * p->N * p->d, bhn = (uint64_t)p->B * p->H * p->N, bhnn = bhn * p->N;
    const bool std_ = p->algo == ATTN_STANDARD;
    if (s->bytes + (4 * bhnd + (std_ ? 2 * bhnn : bhn)) * sizeof(float) > EMU_MAX_BYTES) {
        snprintf(err, errlen, "emulator: the backward of B=%zu N=%zu H=%zu d=%zu is too large to emulate; run it on "
                 "a GPU", p->B, p->N, p->H, p->d);
        return FL_EXIT_USAGE;
    }
    attn_kargs &a = s->a;
    float *d = host_alloc(s, bhnd, NULL);
    memcpy(d, dout, bhnd * sizeof(float));
    a.dout = d;
    a.dq = host_alloc(s, bhnd, &s->grads);
    a.dk = host_alloc(s, bhnd, &s->grads);
    a.dv = host_alloc(s, bhnd, &s->grads);
    if (std_) {
        a.dP = host_alloc(s, bhnn, &s->grads);
        a.dS = host_alloc(s, bhnn, &s->grads);
    } else {
        a.D = host_alloc(s, bhn, &s->grads);
    }
    return 0;
}

static int launch(cuda_attn_session *s, bool backward, bool counting, char *err, size_t errlen)
{
    attn_kargs a = s->a;
    a.counters = counting ? s->counters : NULL;
    if (int rc = backward ? backward_ready(a.dout != NULL, s->forward_done, err, errlen) : 0)
        return rc;
    return attn_launch_pass(a, &s->pl, backward, counting, 0, err, errlen);
}

extern "C" int cuda_attn_exec(cuda_attn_session *s, bool counting, cuda_counts *io, char *err, size_t errlen)
{
    return cuda_attn_run(s, false, counting, io, err, errlen);
}

extern "C" int cuda_attn_run(cuda_attn_session *s, bool backward, bool counting, cuda_counts *io, char *err,
                             size_t errlen)
{
    for (auto &o : backward ? s->grads : s->outs)
        memset(o.first, 0xff, o.second * sizeof(float));
    memset(s->counters, 0, sizeof s->counters);
    if (int rc = launch(s, backward, counting, err, errlen))
        return rc;
    s->forward_done = s->forward_done || !backward;
    if (io) {
        memset(io, 0, sizeof *io);
        for (int t = 0; counting && t < CT_NTENSORS; t++) {
            io->rd[t] = s->counters[2 * t];
            io->wr[t] = s->counters[2 * t + 1];
        }
    }
    return 0;
}

/* Wall-clock time of the emulated launches (no CUDA events here), median as gpu_time_ms takes it. */
extern "C" int cuda_attn_time_ms(cuda_attn_session *s, int warmup, int repeats, double *ms, char *err, size_t errlen)
{
    return cuda_attn_time_pass_ms(s, false, warmup, repeats, ms, err, errlen);
}

extern "C" int cuda_attn_time_pass_ms(cuda_attn_session *s, bool backward, int warmup, int repeats, double *ms,
                                      char *err, size_t errlen)
{
    for (int x = 0; x < warmup; x++)
        if (int rc = launch(s, backward, false, err, errlen))
            return rc;
    std::vector<double> t;
    for (int x = 0; x < repeats; x++) {
        auto t0 = std::chrono::steady_clock::now();
        if (int rc = launch(s, backward, false, err, errlen))
            return rc;
        t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    *ms = t.empty() ? 0.0 : median_of(t.data(), (int)t.size());
    return 0;
}

extern "C" int cuda_attn_download(const cuda_attn_session *s, float *out, float *lse, bool *has_lse, char *err,
                                  size_t errlen)
{
    (void)err, (void)errlen;
    const attn_params *p = &s->pl.p;
    uint64_t bhnd = (uint64_t)p->B * p->H * p->N * p->d, bhn = (uint64_t)p->B * p->H * p->N;
    *has_lse = false;
    if (out)
        memcpy(out, s->a.o, bhnd * sizeof(float));
    if (!lse || p->algo == ATTN_STANDARD)
        return 0;
    *has_lse = true;
    if (p->algo == ATTN_FLASH2) {
        memcpy(lse, s->a.L, bhn * sizeof(float));
        return 0;
    }
    for (uint64_t x = 0; x < bhn; x++)   /* flash1 keeps m and l: L = m + log l */
        lse[x] = s->a.l[x] > 0 ? s->a.m[x] + logf(s->a.l[x]) : -INFINITY;
    return 0;
}

extern "C" int cuda_attn_download_grads(const cuda_attn_session *s, float *dq, float *dk, float *dv, char *err,
                                        size_t errlen)
{
    (void)err, (void)errlen;
    const attn_params *p = &s->pl.p;
    uint64_t bytes = (uint64_t)p->B * p->H * p->N * p->d * sizeof(float);
    float *const host[3] = {dq, dk, dv}, *const dev[3] = {s->a.dq, s->a.dk, s->a.dv};
    for (int g = 0; g < 3; g++)
        if (host[g] && dev[g])
            memcpy(host[g], dev[g], bytes);
    return 0;
}

extern "C" int cuda_attn_close(cuda_attn_session *s, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    if (!s)
        return 0;
    for (float *p : s->owned)
        free(p);
    delete s;
    return 0;
}
