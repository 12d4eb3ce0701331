/* ring_nccl.c — ring attention on real GPUs: the simulator's ring (sim/model/ring.c) run with NCCL, or emulated.
 *
 * Built twice: ring_nccl (with -DRING_NCCL: NCCL's send/recv) and ring_emu (no NCCL needed: every transfer is a
 * cudaMemcpyAsync on one GPU). One process per GPU (ring_nccl --world W --rank R --id-file F: rank 0 writes NCCL's
 * unique id to F, the others read it), or one process playing all P devices on one GPU (W = 1: each device a slice
 * of the GPU's memory; its sends and receives go through NCCL to the process itself, or through cudaMemcpyAsync with
 * --transport copy, ring_emu's only transport), in the same schedule. The schedule is the simulator's: ring_chunk_of
 * deals the rows (contiguous or zigzag), ring_step_work names each step's windows (--plan windows) or every step
 * takes the whole chunk pair and the kernel's mask by global position does the rest (--plan chunks; pairs whose every
 * key comes after every query are skipped). Per device and step:
 *
 *   comm stream     waits until the slot it receives into is free (the device computed on it a step ago), then
 *                   sends the chunk held to the next device and receives the next chunk from the previous one
 *   compute stream  waits for the chunk of this step, runs the local kernel into O, L (step 0) or Os, Ls (fp32),
 *                   then ring_cuda_merge; after the last step O goes to the storage dtype
 *
 * so the transfer of step s overlaps the compute of step s. The local kernel (--kernel): tc, the project's tensor-core
 * forward on a chunk pair (cuda/tc/tc_chunk.h), or simple, one warp per query row (ring_cuda_attn). Checks: O and L
 * against the fp64 reference on sampled rows (Tri Dao's criterion, as tc_check: at most twice the error of the
 * materialized computation in the storage dtype, plus the output's rounding), and against the project's single-GPU
 * kernel ("final") on the whole sequence; the bytes handed to the link per link and step against the simulator's link
 * ledger (a count-only ring of the same shape) and against the closed form 2·B·H·d·n_src·e. Timing: CUDA events
 * around the ring after a warm-up, median of --repeats, overlapped and with every step serialized (--serial runs only
 * the latter). Exit: 0 every check passed, 1 a check failed, 2 bad input or no GPU, 4 a CUDA/NCCL error.
 *
 *   ./build/rel/cuda/ring/ring_nccl --devices 4 -N 4096 -d 64 --causal --layout zigzag --dtype bf16
 *   ./build/rel/cuda/ring/ring_emu --devices 8 -N 1001 -d 128 --causal --layout zigzag --plan chunks
 */
#define _POSIX_C_SOURCE 200809L
#include <cuda_runtime.h>
#include <errno.h>
#include <math.h>
#ifdef RING_NCCL
#include <nccl.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attn_tc.h"    // defines: tc_args
#include "gpu.h"        // defines: median_of
#include "ref_rows.h"   // defines: ref_row64, ref_row_lowp
#include "ring.h"
#include "ring_cuda.h"
#include "rng.h"
#include "tc_chunk.h"   // defines: tc_chunk_forward, tc_chunk_pos
#include "tc_host.h"    // defines: TC_L_ATOL
#include "util.h"
#include "verify.h"     // defines: verify_tridao_bound

#ifdef RING_NCCL
#define PROG "ring_nccl"
#else
#define PROG "ring_emu"
#endif
#define ID_WAIT_S 60          /* how long ranks > 0 wait for rank 0's id file */
#define CHECK_ROWS 256        /* reference rows per head checked when N is larger (spread over the sequence) */
#define CHECK_HEADS 2         /* heads (b, h) held to the reference when B·H is larger (first and last) */
/* Beyond Tri Dao's factor: the ring rounds O to the storage dtype once at the end (the partials and the merges are
 * fp32), and the merges reorder fp32 sums: two roundings of max |O| cover both. */
#define O_SLACK_ROUNDINGS 2.0

#define CK(call)                                                                                                    \
    do {                                                                                                            \
        cudaError_t e_ = (cudaError_t)(call);                                                                       \
        if (e_ != cudaSuccess) {                                                                                    \
            fprintf(stderr, PROG ": error: %s failed at %s:%d: %s\n", #call, __FILE__, __LINE__,                \
                    cudaGetErrorString(e_));                                                                        \
            exit(FL_EXIT_INTERNAL);                                                                                 \
        }                                                                                                           \
    } while (0)
#ifdef RING_NCCL
#define NK(call)                                                                                                    \
    do {                                                                                                            \
        ncclResult_t r_ = (call);                                                                                   \
        if (r_ != ncclSuccess) {                                                                                    \
            fprintf(stderr, PROG ": error: %s failed at %s:%d: %s\n", #call, __FILE__, __LINE__,                \
                    ncclGetErrorString(r_));                                                                        \
            exit(FL_EXIT_INTERNAL);                                                                                 \
        }                                                                                                           \
    } while (0)
#endif
/* tc_chunk's and tc's launchers: 0, or an exit code with one line in err */
#define TC(call)                                                                                                    \
    do {                                                                                                            \
        char err_[256];                                                                                             \
        int rc_ = (call);                                                                                           \
        if (rc_) {                                                                                                  \
            fprintf(stderr, PROG ": error: %s\n", err_);                                                        \
            exit(rc_);                                                                                              \
        }                                                                                                           \
    } while (0)

typedef enum { KERNEL_TC, KERNEL_SIMPLE } local_kernel;
typedef enum { PLAN_WINDOWS, PLAN_CHUNKS } step_plan;

typedef struct {
    size_t P, N, d, B, H, repeats;
    int causal, quiet, serial, nccl, world, rank;
    ring_layout layout;
    local_kernel kernel;
    step_plan plan;
    dtype_t dt;
    uint64_t seed;
    const char *id_file;
} opts;

/* One device of the ring, held by this process. */
typedef struct {
    size_t r;
    ring_chunk c;
    void *q, *o, *kv_own, *kv[2];        /* dtype; kv: K then V, packed (B, n, H, d) each: one message per send */
    float *o32, *os32, *l, *ls;          /* the running O, L and the step's partial Os, Ls: fp32 */
    cudaStream_t compute;
    cudaEvent_t computed;
} vdev;

typedef struct {
    opts o;
    ring_params rp;
    size_t first, count, nmax, e;        /* this process's devices first .. first+count-1; bytes per element */
    vdev *dev;
    cudaStream_t comm;
    cudaEvent_t *received;               /* [s]: the chunks of step s+1 are in */
#ifdef RING_NCCL
    ncclComm_t nc;
#endif
    uint64_t *sent;                      /* [r * P + s]: bytes handed to the link by device r at step s */
} ring_gpu;

/* Bad input: one line on stderr, values escaped (fl_fatal), exit 2. */
static _Noreturn void bad(const char *fmt, const char *val)
{
    char msg[400];
    snprintf(msg, sizeof msg, fmt, val);
    fl_fatal("%s", msg);
}

static size_t whole(const char *opt, const char *v, size_t lo, size_t hi)
{
    char *end;
    if (!v || *v < '0' || *v > '9')
        bad("%s needs a whole number", opt);
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end || errno || x < lo || x > hi)
        bad("%s is out of range", opt);
    return (size_t)x;
}

/* Option opt's value v, one of two words: 0 for the first, 1 for the second; anything else is bad input. */
static int one_of(const char *opt, const char *v, const char *first, const char *second)
{
    if (v && !strcmp(v, first))
        return 0;
    if (v && !strcmp(v, second))
        return 1;
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be %s or %s, got '%.40s'", opt, first, second, v ? v : "");
    bad("%s", msg);
}

static opts parse(int argc, char **argv)
{
#ifdef RING_NCCL
    const int have_nccl = 1;
#else
    const int have_nccl = 0;
#endif
    opts o = {.P = 2, .N = 1024, .d = 64, .B = 1, .H = 1, .repeats = 5, .nccl = have_nccl, .world = 1,
              .layout = RING_CONTIGUOUS, .dt = DTYPE_BF16, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--devices")) o.P = whole(a, v, 1, RING_MAX_DEVICES), i++;
        else if (!strcmp(a, "-N")) o.N = whole(a, v, 1, (size_t)1 << 22), i++;
        else if (!strcmp(a, "-d")) o.d = whole(a, v, 1, RING_CUDA_MAX_D), i++;
        else if (!strcmp(a, "--batch")) o.B = whole(a, v, 1, 64), i++;
        else if (!strcmp(a, "--heads")) o.H = whole(a, v, 1, 256), i++;
        else if (!strcmp(a, "--repeats")) o.repeats = whole(a, v, 1, 1000), i++;
        else if (!strcmp(a, "--seed")) o.seed = whole(a, v, 0, SIZE_MAX), i++;
        else if (!strcmp(a, "--world")) o.world = (int)whole(a, v, 1, RING_MAX_DEVICES), i++;
        else if (!strcmp(a, "--rank")) o.rank = (int)whole(a, v, 0, RING_MAX_DEVICES - 1), i++;
        else if (!strcmp(a, "--id-file")) {
            if (!v || !*v)
                bad("%s needs a path", a);
            o.id_file = v, i++;
        } else if (!strcmp(a, "--layout")) {
            if (!v || ring_layout_parse(v, &o.layout))
                bad("--layout must be contiguous or zigzag, got '%.40s'", v ? v : "");
            i++;
        } else if (!strcmp(a, "--dtype"))
            o.dt = one_of(a, v, "fp16", "bf16") ? DTYPE_BF16 : DTYPE_FP16, i++;
        else if (!strcmp(a, "--transport")) {
            o.nccl = !one_of(a, v, "nccl", "copy"), i++;
            if (o.nccl && !have_nccl)
                bad("--transport nccl: this program was built without NCCL (ring_nccl has it)%s", "");
        } else if (!strcmp(a, "--kernel"))
            o.kernel = one_of(a, v, "tc", "simple") ? KERNEL_SIMPLE : KERNEL_TC, i++;
        else if (!strcmp(a, "--plan"))
            o.plan = one_of(a, v, "windows", "chunks") ? PLAN_CHUNKS : PLAN_WINDOWS, i++;
        else if (!strcmp(a, "--causal")) o.causal = 1;
        else if (!strcmp(a, "--serial")) o.serial = 1;
        else if (!strcmp(a, "--quiet")) o.quiet = 1;
        else
            bad("unknown option '%.40s' (options: --devices -N -d --batch --heads --causal --layout --dtype "
                "--kernel --plan --transport --repeats --seed --serial --world --rank --id-file --quiet)", a);
    }
    if (o.d != 64 && o.d != 128)
        bad("-d must be 64 or 128 (the tensor-core kernels' head dimensions)%s", "");
    if (o.kernel == KERNEL_SIMPLE && o.plan == PLAN_CHUNKS)
        bad("--plan chunks needs --kernel tc (the simple kernel masks only the diagonal window)%s", "");
    if (o.rank >= o.world)
        bad("--rank must be below --world%s", "");
    if (o.P % (size_t)o.world)
        bad("--devices must be a multiple of --world%s", "");
    if (o.world > 1 && (!o.nccl || !o.id_file))
        bad("several processes need --transport nccl and --id-file%s", "");
    return o;
}

#ifdef RING_NCCL
/* ---- NCCL's bootstrap: rank 0 writes the id, the others wait for it -------------------------------------------- */

static ncclUniqueId exchange_id(const opts *o)
{
    ncclUniqueId id;
    if (o->world == 1 || o->rank == 0) {
        NK(ncclGetUniqueId(&id));
        if (o->world == 1)
            return id;
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", o->id_file);
        FILE *f = fopen(tmp, "wb");
        if (!f || fwrite(&id, sizeof id, 1, f) != 1 || fclose(f) || rename(tmp, o->id_file))
            bad("cannot write the NCCL id file '%.200s'", o->id_file);
        return id;
    }
    for (int t = 0; t < ID_WAIT_S * 10; t++) {
        FILE *f = fopen(o->id_file, "rb");
        if (f) {
            size_t got = fread(&id, sizeof id, 1, f);
            fclose(f);
            if (got == 1)
                return id;
        }
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
    bad("no NCCL id in '%.200s' after a minute: is rank 0 running?", o->id_file);
}
#endif

/* ---- set-up ---------------------------------------------------------------------------------------------------- */

static ring_cuda_dtype cdt(dtype_t dt) { return dt == DTYPE_FP16 ? RING_CUDA_FP16 : RING_CUDA_BF16; }

/* Rows of x (B, N, H, d) for device c, packed (B, n, H, d), to the GPU in the storage dtype. */
static void upload_rows(void *dst, const float *x, const ring_chunk *c, const opts *o, float *stage, cudaStream_t s)
{
    size_t Hd = o->H * o->d, n = c->n;
    float *host = xmalloc(o->B * n * Hd * sizeof *host);
    for (size_t b = 0; b < o->B; b++)
        for (size_t i = 0; i < n; i++) {
            size_t pos = ring_position(c, i);
            memcpy(host + (b * n + i) * Hd, x + (b * o->N + pos) * Hd, Hd * sizeof *host);
        }
    CK(cudaMemcpyAsync(stage, host, o->B * n * Hd * sizeof *host, cudaMemcpyHostToDevice, s));
    CK(ring_cuda_from_float(dst, stage, o->B * n * Hd, cdt(o->dt), s));
    CK(cudaStreamSynchronize(s));
    free(host);
}

static void *gpu_alloc(size_t bytes)
{
    void *p = NULL;
    CK(cudaMalloc(&p, bytes ? bytes : 1));
    return p;
}

static void setup(ring_gpu *g, const float *const x[3])
{
    const opts *o = &g->o;
    size_t P = o->P, Hd = o->H * o->d;
    g->count = P / (size_t)o->world, g->first = (size_t)o->rank * g->count;
    g->nmax = ring_max_rows(&g->rp), g->e = dtype_size(o->dt);
    g->dev = xcalloc(g->count, sizeof *g->dev);
    g->received = xcalloc(P, sizeof *g->received);
    g->sent = xcalloc(P * P, sizeof *g->sent);
    CK(cudaStreamCreateWithFlags(&g->comm, cudaStreamNonBlocking));
    for (size_t s = 0; s < P; s++)
        CK(cudaEventCreateWithFlags(&g->received[s], cudaEventDisableTiming));
    float *stage = gpu_alloc(o->B * g->nmax * Hd * sizeof(float));
    for (size_t k = 0; k < g->count; k++) {
        vdev *D = &g->dev[k];
        D->r = g->first + k;
        D->c = ring_chunk_of(&g->rp, D->r);
        size_t n = D->c.n, rows = o->B * n * Hd;
        D->q = gpu_alloc(rows * g->e), D->o = gpu_alloc(rows * g->e);
        D->o32 = gpu_alloc(rows * sizeof(float)), D->os32 = gpu_alloc(rows * sizeof(float));
        D->l = gpu_alloc(o->B * o->H * n * sizeof(float)), D->ls = gpu_alloc(o->B * o->H * n * sizeof(float));
        D->kv_own = gpu_alloc(2 * rows * g->e);
        for (int x = 0; x < 2; x++)
            D->kv[x] = gpu_alloc(2 * o->B * g->nmax * Hd * g->e);
        CK(cudaStreamCreateWithFlags(&D->compute, cudaStreamNonBlocking));
        CK(cudaEventCreateWithFlags(&D->computed, cudaEventDisableTiming));
        upload_rows(D->q, x[0], &D->c, o, stage, D->compute);
        upload_rows(D->kv_own, x[1], &D->c, o, stage, D->compute);
        upload_rows((char *)D->kv_own + rows * g->e, x[2], &D->c, o, stage, D->compute);
    }
    CK(cudaFree(stage));
#ifdef RING_NCCL
    if (o->nccl) {
        ncclUniqueId id = exchange_id(o);
        NK(ncclCommInitRank(&g->nc, o->world, id, o->rank));
    }
#endif
}

/* ---- the ring ---------------------------------------------------------------------------------------------------- */

static size_t owner(const ring_gpu *g, size_t r) { return r % g->o.P / g->count; }
static vdev *local(ring_gpu *g, size_t r) { return owner(g, r) == (size_t)g->o.rank ? &g->dev[r - g->first] : NULL; }

/* The chunk device r holds at step s: its own at step 0, else receive slot (s - 1) mod 2. */
static void *held(vdev *D, size_t s) { return s ? D->kv[(s - 1) % 2] : D->kv_own; }

/* Step s's transfers: every device's chunk to the next device, into slot s mod 2. Messages between two processes are
 * posted in the order of the sending device on both sides, so NCCL pairs them right (a process talking to itself too). */
static void transfers(ring_gpu *g, size_t s)
{
    const opts *o = &g->o;
    size_t P = o->P;
    for (size_t k = 0; k < g->count; k++)      /* the slot is free once its device has computed on it */
        CK(cudaStreamWaitEvent(g->comm, g->dev[k].computed, 0));
#ifdef RING_NCCL
    ncclDataType_t t = o->dt == DTYPE_FP16 ? ncclFloat16 : ncclBfloat16;
    if (o->nccl)
        NK(ncclGroupStart());
#endif
    for (size_t r = 0; r < P; r++) {
        size_t r1 = (r + 1) % P, src = (r + P - s) % P;
        size_t elems = 2 * o->B * ring_chunk_of(&g->rp, src).n * o->H * o->d;
        vdev *from = local(g, r), *to = local(g, r1);
        if (from)
            g->sent[r * P + s] += elems * g->e;
#ifdef RING_NCCL
        if (o->nccl) {
            if (from)
                NK(ncclSend(held(from, s), elems, t, (int)owner(g, r1), g->nc, g->comm));
            if (to)
                NK(ncclRecv(to->kv[s % 2], elems, t, (int)owner(g, r), g->nc, g->comm));
            continue;
        }
#endif
        CK(cudaMemcpyAsync(to->kv[s % 2], held(from, s), elems * g->e, cudaMemcpyDeviceToDevice, g->comm));
    }
#ifdef RING_NCCL
    if (o->nccl)
        NK(ncclGroupEnd());
#endif
    CK(cudaEventRecord(g->received[s], g->comm));
}

/* The positions of rows w0 .. w0+n-1 of chunk c, as tc_chunk takes them. */
static tc_chunk_pos window_pos(const ring_chunk *c, size_t w0, size_t n)
{
    ring_chunk w = ring_chunk_rows(c, w0, n);
    return (tc_chunk_pos){{w.piece[0].pos, w.piece[1].pos}, w.piece[0].n};
}

static void compute(ring_gpu *g, vdev *D, size_t s)
{
    const opts *o = &g->o;
    ring_work w = o->plan == PLAN_WINDOWS ? ring_step_work(&g->rp, D->r, s) : ring_step_whole(&g->rp, D->r, s);
    ring_chunk src = ring_chunk_of(&g->rp, w.src);
    size_t kv = o->B * src.n * o->H * o->d;
    if (s)
        CK(cudaStreamWaitEvent(D->compute, g->received[s - 1], 0));
    if (w.nq) {
        const char *K = held(D, s);
        float *O = s ? D->os32 : D->o32, *L = s ? D->ls : D->l;
        if (o->kernel == KERNEL_TC) {
            tc_chunk_args a = {.q = D->q, .k = K, .v = K + kv * g->e, .o = O, .lse = L, .B = o->B, .H = o->H,
                               .d = o->d, .q_rows = D->c.n, .q0 = w.q0, .nq = w.nq, .kv_rows = src.n, .k0 = w.k0,
                               .nk = w.nk, .qpos = window_pos(&D->c, w.q0, w.nq),
                               .kpos = window_pos(&src, w.k0, w.nk),
                               .causal = o->causal, .dtype = o->dt};
            TC(tc_chunk_forward(&a, D->compute, err_, sizeof err_));
        } else {
            ring_cuda_attn_args a = {.q = D->q, .k = K, .v = K + kv * g->e, .o = O, .l = L, .rows = D->c.n,
                                     .kv_rows = src.n, .q0 = w.q0, .nq = w.nq, .k0 = w.k0, .nk = w.nk, .B = o->B,
                                     .H = o->H, .d = o->d, .scale = (float)(1.0 / sqrt((double)o->d)),
                                     .causal = w.causal, .dt = cdt(o->dt)};
            CK(ring_cuda_attn(&a, D->compute));
        }
        if (s) {
            ring_cuda_merge_args m = {.o = D->o32, .l = D->l, .os = D->os32, .ls = D->ls, .rows = D->c.n,
                                      .q0 = w.q0, .nq = w.nq, .B = o->B, .H = o->H, .d = o->d};
            CK(ring_cuda_merge(&m, D->compute));
        }
    }
    if (s + 1 == o->P)   /* the last step: O to the storage dtype, rounded once */
        CK(ring_cuda_from_float(D->o, D->o32, o->B * D->c.n * o->H * o->d, cdt(o->dt), D->compute));
    CK(cudaEventRecord(D->computed, D->compute));
}

/* One ring forward; serial: each step's transfers finish before its compute starts, and the reverse. */
static float ring_run(ring_gpu *g, bool serial)
{
    size_t P = g->o.P;
    cudaEvent_t t0, t1;
    CK(cudaEventCreate(&t0));
    CK(cudaEventCreate(&t1));
    CK(cudaDeviceSynchronize());
    CK(cudaEventRecord(t0, g->comm));
    for (size_t k = 0; k < g->count; k++) {
        CK(cudaStreamWaitEvent(g->dev[k].compute, t0, 0));
        CK(cudaEventRecord(g->dev[k].computed, g->dev[k].compute));
    }
    for (size_t s = 0; s < P; s++) {
        if (s + 1 < P)
            transfers(g, s);
        if (serial && s + 1 < P)
            CK(cudaStreamSynchronize(g->comm));
        for (size_t k = 0; k < g->count; k++)
            compute(g, &g->dev[k], s);
        if (serial)
            for (size_t k = 0; k < g->count; k++)
                CK(cudaStreamSynchronize(g->dev[k].compute));
    }
    for (size_t k = 0; k < g->count; k++)
        CK(cudaStreamWaitEvent(g->comm, g->dev[k].computed, 0));
    CK(cudaEventRecord(t1, g->comm));
    CK(cudaEventSynchronize(t1));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, t0, t1));
    CK(cudaEventDestroy(t0));
    CK(cudaEventDestroy(t1));
    return ms;
}

static float median_run(ring_gpu *g, bool serial, size_t repeats)
{
    double *t = xmalloc(repeats * sizeof *t);
    ring_run(g, serial);   /* warm-up */
    for (size_t k = 0; k < repeats; k++)
        t[k] = ring_run(g, serial);
    float m = (float)median_of(t, (int)repeats);
    free(t);
    return m;
}

/* ---- checks ------------------------------------------------------------------------------------------------------ */

/* Device D's O (as float) and L into the global (B, N, H, d) and (B, H, N) arrays. */
static void download(const ring_gpu *g, const vdev *D, float *o, float *l)
{
    const opts *o_ = &g->o;
    size_t n = D->c.n, Hd = o_->H * o_->d, rows = o_->B * n * Hd;
    float *stage = gpu_alloc(rows * sizeof *stage), *host = xmalloc(rows * sizeof *host),
          *lh = xmalloc(o_->B * o_->H * n * sizeof *lh);
    CK(ring_cuda_to_float(stage, D->o, rows, cdt(o_->dt), D->compute));
    CK(cudaStreamSynchronize(D->compute));
    CK(cudaMemcpy(host, stage, rows * sizeof *host, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(lh, D->l, o_->B * o_->H * n * sizeof *lh, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < n; i++) {
        size_t pos = ring_position(&D->c, i);
        for (size_t b = 0; b < o_->B; b++)
            memcpy(o + (b * o_->N + pos) * Hd, host + (b * n + i) * Hd, Hd * sizeof *host);
        for (size_t bh = 0; bh < o_->B * o_->H; bh++)
            l[bh * o_->N + pos] = lh[bh * n + i];
    }
    CK(cudaFree(stage));
    free(host), free(lh);
}

/* The single-GPU kernel: attn_tc.def's "final", which is v09 (attn_tc.c); called by its own name so that the ring
 * links one kernel file, not the table of every version. */
int attn_v09_forward(const tc_args *a, void *stream, char *err, size_t errlen);

/* Single-device attention: the project's tensor-core forward ("final") on the whole sequence; its median time over
 * repeats launches after one warm-up, in ms. */
static float single_gpu(const opts *o, const float *const x[3], float *out, float *lse)
{
    size_t n = o->B * o->N * o->H * o->d, e = dtype_size(o->dt);
    void *q = gpu_alloc(n * e), *kv = gpu_alloc(2 * n * e), *og = gpu_alloc(n * e);
    float *stage = gpu_alloc(n * sizeof *stage), *l = gpu_alloc(o->B * o->H * o->N * sizeof *l);
    CK(cudaMemcpy(stage, x[0], n * sizeof *stage, cudaMemcpyHostToDevice));
    CK(ring_cuda_from_float(q, stage, n, cdt(o->dt), NULL));
    CK(cudaMemcpy(stage, x[1], n * sizeof *stage, cudaMemcpyHostToDevice));
    CK(ring_cuda_from_float(kv, stage, n, cdt(o->dt), NULL));
    CK(cudaMemcpy(stage, x[2], n * sizeof *stage, cudaMemcpyHostToDevice));
    CK(ring_cuda_from_float((char *)kv + n * e, stage, n, cdt(o->dt), NULL));
    tc_args a = {.q = q, .k = kv, .v = (char *)kv + n * e, .o = og, .lse = l, .B = o->B, .N = o->N, .H = o->H,
                 .d = o->d, .causal = o->causal, .dtype = o->dt};
    TC(attn_v09_forward(&a, NULL, err_, sizeof err_));
    CK(ring_cuda_to_float(stage, og, n, cdt(o->dt), NULL));
    double *t = xmalloc(o->repeats * sizeof *t);
    cudaEvent_t t0, t1;
    CK(cudaEventCreate(&t0));
    CK(cudaEventCreate(&t1));
    for (size_t k = 0; k < o->repeats; k++) {
        float ms = 0;
        CK(cudaEventRecord(t0, NULL));
        TC(attn_v09_forward(&a, NULL, err_, sizeof err_));
        CK(cudaEventRecord(t1, NULL));
        CK(cudaEventSynchronize(t1));
        CK(cudaEventElapsedTime(&ms, t0, t1));
        t[k] = ms;
    }
    float med = (float)median_of(t, (int)o->repeats);
    free(t);
    CK(cudaEventDestroy(t0));
    CK(cudaEventDestroy(t1));
    CK(cudaMemcpy(out, stage, n * sizeof *out, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(lse, l, o->B * o->H * o->N * sizeof *lse, cudaMemcpyDeviceToHost));
    void *bufs[] = {q, kv, og, stage, l};
    for (int k = 0; k < 5; k++)
        CK(cudaFree(bufs[k]));
    return med;
}

typedef struct {
    double err_ref, err_lowp, err_single, err_l, err_l_single, omax, omax_all;
    double tol, tol_single;   /* Tri Dao's bound with the sampled rows' max |O|; twice it with the whole output's */
    size_t rows;
} accuracy;

static double err_of(double got, double ref) { return isnan(got) ? INFINITY : fabs(got - ref); }

/* Against the references: rows owned by this process (all when world = 1), sampled (every row when N <= CHECK_ROWS)
 * in CHECK_HEADS heads; err_lowp: the materialized computation in the storage dtype (ref_row_lowp), Tri Dao's
 * baseline. Against the single-GPU kernel (o1, l1; world = 1): every element, omax taken over all of o1 as well. */
static accuracy check(const ring_gpu *g, const float *const x[3], const float *o, const float *l, const float *o1,
                      const float *l1)
{
    const opts *op = &g->o;
    accuracy a = {0};
    ref_input in = {x[0], x[1], x[2], op->B, op->N, op->H, op->d, 1.0 / sqrt((double)op->d), op->causal != 0};
    double *orow = xmalloc(op->d * sizeof *orow), *olow = xmalloc(op->d * sizeof *olow),
           *p = xmalloc(op->N * sizeof *p);
    float *pf = xmalloc(op->N * sizeof *pf);
    size_t stride = op->N > CHECK_ROWS ? op->N / CHECK_ROWS : 1, Hd = op->H * op->d, BH = op->B * op->H;
    size_t hstride = BH > CHECK_HEADS ? BH - 1 : 1;
    for (size_t k = 0; k < g->count; k++) {
        const ring_chunk *c = &g->dev[k].c;
        for (size_t i = 0; i < c->n; i++) {
            size_t pos = ring_position(c, i);
            for (size_t bh = 0; bh < BH; bh++) {
                size_t b = bh / op->H, h = bh % op->H, at = (b * op->N + pos) * Hd + h * op->d, li = bh * op->N + pos;
                for (size_t t = 0; o1 && t < op->d; t++) {   /* a NaN counts as an infinite error */
                    a.err_single = fmax(a.err_single, err_of(o[at + t], o1[at + t]));
                    a.omax_all = fmax(a.omax_all, fabs((double)o1[at + t]));
                }
                if (i % stride || bh % hstride)
                    continue;
                double L = ref_row64(&in, b, h, pos, p, orow);
                ref_row_lowp(&in, op->dt, b, h, pos, pf, olow);
                for (size_t t = 0; t < op->d; t++) {
                    a.err_ref = fmax(a.err_ref, err_of(o[at + t], orow[t]));
                    a.err_lowp = fmax(a.err_lowp, err_of(olow[t], orow[t]));
                    a.omax = fmax(a.omax, fabs(orow[t]));
                }
                a.err_l = fmax(a.err_l, err_of(l[li], L));
                if (l1)
                    a.err_l_single = fmax(a.err_l_single, err_of(l1[li], L));
                a.rows++;
            }
        }
    }
    a.tol = verify_tridao_bound(a.err_lowp, O_SLACK_ROUNDINGS * dtype_eps(op->dt) * a.omax);
    a.tol_single = 2 * verify_tridao_bound(a.err_lowp, O_SLACK_ROUNDINGS * dtype_eps(op->dt) * fmax(a.omax, a.omax_all));
    free(orow), free(olow), free(p), free(pf);
    return a;
}

int main(int argc, char **argv)
{
    fl_set_progname(PROG);
    setenv("NCCL_NVLS_ENABLE", "0", 1);   /* never NVLink multicast on shared machines */
    ring_gpu g = {.o = parse(argc, argv)};
    opts *o = &g.o;
    g.rp = (ring_params){.P = o->P, .layout = o->layout, .link_bytes_per_s = RING_NVLINK4_BYTES_PER_S,
                         .peak_flops = RING_H100_FLOPS,
                         .a = {.algo = ATTN_FLASH2, .B = o->B, .N = o->N, .H = o->H, .d = o->d, .causal = o->causal}};
    char err[200];
    block_choice bc;
    if (ring_check(&g.rp, err, sizeof err) ||
        ring_choose_blocks(&g.rp, (size_t)1 << 26, o->dt, 0, 0, &bc, err, sizeof err))
        bad("%s", err);
    int ngpu = 0;
    if (cudaGetDeviceCount(&ngpu) != cudaSuccess || ngpu == 0)
        bad("no CUDA device%s", "");
    CK(cudaSetDevice(o->rank % ngpu));
    struct cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, o->rank % ngpu));
    int nccl_version = 0;
#ifdef RING_NCCL
    NK(ncclGetVersion(&nccl_version));
#endif

    /* the simulator's ring of the same shape, counted only: its link ledger is what the GPUs must send */
    ring_t *sim = ring_create(&g.rp, (size_t)1 << 26, o->dt, true);
    ring_forward(sim);

    size_t n = o->B * o->N * o->H * o->d, nl = o->B * o->H * o->N;
    float *x[3];
    rng_t rng;
    rng_seed(&rng, o->seed);
    for (int t = 0; t < 3; t++) {   /* the lessons' inputs: N(0, 1) from --seed, rounded to the dtype */
        x[t] = xmalloc(n * sizeof(float));
        rng_fill_normal(&rng, x[t], n, 1.0f);
        for (size_t i = 0; i < n; i++)
            x[t][i] = dtype_round(o->dt, x[t][i]);
    }
    setup(&g, (const float *const *)x);

    ring_run(&g, o->serial != 0);
    memset(g.sent, 0, o->P * o->P * sizeof *g.sent);   /* count one forward */
    ring_run(&g, o->serial != 0);
    float *out = xcalloc(n, sizeof *out), *lse = xcalloc(nl, sizeof *lse), *o1 = NULL, *l1 = NULL, ms_single = NAN;
    for (size_t k = 0; k < g.count; k++)
        download(&g, &g.dev[k], out, lse);
    if (o->world == 1) {
        o1 = xmalloc(n * sizeof *o1), l1 = xmalloc(nl * sizeof *l1);
        ms_single = single_gpu(o, (const float *const *)x, o1, l1);
    }
    accuracy acc = check(&g, (const float *const *)x, out, lse, o1, l1);

    /* the link ledger: bytes handed to the link by each of this process's devices, step by step, against the
     * simulator's count and the closed form (device r sends the chunk of device r - s: K and V, n_src rows) */
    bool links_ok = true;
    uint64_t sent = 0, want = 0;
    for (size_t r = g.first; r < g.first + g.count; r++) {
        uint64_t link = 0;
        for (size_t s = 0; s + 1 < o->P; s++) {
            uint64_t closed = 2 * o->B * o->H * o->d * ring_chunk_of(&g.rp, (r + o->P - s) % o->P).n * g.e;
            links_ok &= g.sent[r * o->P + s] == ring_link(sim, r, s).bytes && g.sent[r * o->P + s] == closed;
            sent += g.sent[r * o->P + s], want += ring_link(sim, r, s).bytes, link += g.sent[r * o->P + s];
        }
        links_ok &= link == ring_link_closed_form(&g.rp, r) * g.e;   /* the link's total: 2·B·H·d·(N - n_{r+1}) */
    }

    float ms = o->serial ? NAN : median_run(&g, false, o->repeats), ms_serial = median_run(&g, true, o->repeats);
    double flops = 4.0 * (double)o->B * (double)o->H * (double)o->N * (double)o->N * (double)o->d / (o->causal ? 2 : 1);
    /* the ring and the single-GPU run each within tol of the reference, so within 2 tol of each other: every element */
    bool ok_out = acc.err_ref <= acc.tol && acc.err_single <= acc.tol_single && acc.err_l <= TC_L_ATOL &&
                  acc.err_l_single <= TC_L_ATOL;
    const char *kname = o->kernel == KERNEL_TC ? "tc" : "simple", *plan = o->plan == PLAN_WINDOWS ? "windows" : "chunks";
    if (!o->quiet) {
        printf(PROG ": %s, NCCL %d, rank %d of %d holding devices %zu..%zu of P=%zu (%s, %s, kernel %s, plan %s)\n",
               prop.name, nccl_version, o->rank, o->world, g.first, g.first + g.count - 1, o->P,
               ring_layout_name(o->layout),
               o->nccl ? (o->world == 1 && o->P > 1 ? "NCCL send/recv to itself" : "NCCL send/recv")
                       : "cudaMemcpyAsync", kname, plan);
        printf("  N=%zu d=%zu B=%zu H=%zu %s%s: max |O - O_ref| = %.3g over %zu rows (allowed %.3g: 2 x %.3g of the "
               "%s materialized + slack), max |O - O_single| = %.3g over every row (allowed %.3g), max |L - L_ref| = %.3g "
               "(allowed %.3g) %s\n",
               o->N, o->d, o->B, o->H, dtype_name(o->dt), o->causal ? " causal" : "", acc.err_ref, acc.rows, acc.tol,
               acc.err_lowp, dtype_name(o->dt), acc.err_single, acc.tol_single, acc.err_l, TC_L_ATOL,
               ok_out ? "ok" : "FAILED");
        printf("  link bytes sent by this process: %llu, the simulator's link ledger: %llu, per link and step %s\n",
               (unsigned long long)sent, (unsigned long long)want,
               links_ok ? "equal (and to the closed forms 2·B·H·d·n_src·e, per link 2·B·H·d·(N - n_r+1)·e)" : "DIFFER");
        if (!o->serial)
            printf("  time (CUDA events, median of %zu): %.4f ms overlapped, %.4f ms serialized (%.1f TFLOP/s); the "
                   "single-GPU kernel on the whole sequence %.4f ms (%.1f TFLOP/s)\n",
                   o->repeats, ms, ms_serial, flops / (ms * 1e-3) / 1e12, ms_single, flops / (ms_single * 1e-3) / 1e12);
    }
    char t_ms[32] = "na", tf[32] = "na", t1[32] = "na";   /* --serial measures only the serialized ring */
    if (!o->serial) {
        snprintf(t_ms, sizeof t_ms, "%.6g", ms);
        snprintf(tf, sizeof tf, "%.4g", flops / (ms * 1e-3) / 1e12);
    }
    if (o->world == 1)   /* the single-GPU kernel runs only where one process holds the whole sequence */
        snprintf(t1, sizeof t1, "%.6g", ms_single);
    printf("summary: prog=" PROG " gpu=%s nccl=%d world=%d rank=%d devices=%zu layout=%s transport=%s kernel=%s "
           "plan=%s N=%zu d=%zu B=%zu H=%zu dtype=%s causal=%d max_abs_err=%.6g tol=%.6g lowp_err=%.6g "
           "single_gpu_err=%.6g L_err=%.6g rows_checked=%zu link_bytes=%llu sim_link_bytes=%llu links_equal=%d "
           "time_ms=%s time_serial_ms=%.6g tflops=%s single_gpu_ms=%s ok=%d\n",
           prop.name, nccl_version, o->world, o->rank, o->P, ring_layout_name(o->layout), o->nccl ? "nccl" : "copy",
           kname, plan, o->N, o->d, o->B, o->H, dtype_name(o->dt), o->causal, acc.err_ref, acc.tol, acc.err_lowp,
           acc.err_single, acc.err_l, acc.rows, (unsigned long long)sent, (unsigned long long)want, links_ok, t_ms,
           ms_serial, tf, t1, ok_out && links_ok);
#ifdef RING_NCCL
    if (o->nccl)
        NK(ncclCommDestroy(g.nc));
#endif
    ring_destroy(sim);
    for (int t = 0; t < 3; t++)
        free(x[t]);
    free(out), free(lse), free(o1), free(l1);
    return ok_out && links_ok ? FL_EXIT_OK : FL_EXIT_CHECK;
}
