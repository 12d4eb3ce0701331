/* check_cuda.c — the Check suites of the CUDA teaching kernels, with their own runner (they link the CUDA runtime,
 * which tests/run_tests does not).
 *
 * Built twice by cuda/cuda.mk (from cuda/tests/):
 *   check_cuda      against the real runner (cuda_attn.cu + nvcc objects). Without a GPU only the host suite runs
 *                   and the GPU suites are reported SKIPPED with the reason; with one, everything runs.
 *   check_cuda_emu  against the CPU emulator (cuda/teach/emu): the kernels' own code on CPU threads, small shapes.
 * Suites: cuda_host (plans, layouts, ledgers, the sampled reference: no GPU needed), cuda_kernels (counters equal
 * the simulator's ledger and outputs match the double reference, over a table of shapes), cuda_limits (shared
 * memory that does not fit, no GPU: refused with FL_EXIT_USAGE and one line), cuda_big (B*N*H*d beyond 2^31,
 * GPU only), cuda_backward (the backward kernels: counters equal the simulator's backward ledger over a table of
 * shapes and random ragged ones, dQ, dK, dV match the fp64 reference and finite differences, runs are bitwise
 * deterministic).
 * CK_RUN_SUITE=cuda_kernels runs one suite.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cuda_attn.h"
#include "cuda_run.h"
#include "exitcode.h"
#include "reference.h"
#include "rng.h"
#include "util.h"

/* An H100's and an H200's shared memory per block (cudaDevAttrMaxSharedMemoryPerBlockOptin): M of the host tests. */
#define HOPPER_SMEM 232448

static const char *const NAMES[ATTN_NALGOS] = {"standard", "flash1", "flash2"};

/* ---- cuda_host ----------------------------------------------------------------------------------------------- */

START_TEST(plans_are_the_simulators)
{
    static const size_t Ns[] = {1, 50, 1000, 4096}, ds[] = {3, 16, 64, 80, 128}, Ms[] = {4096, 65536, HOPPER_SMEM};
    for (int a = 0; a < ATTN_NALGOS; a++)
        for (size_t x = 0; x < 4; x++)
            for (size_t y = 0; y < 5; y++)
                for (size_t z = 0; z < 3; z++) {
                    attn_params p = {.algo = (attn_algo)a, .B = 2, .N = Ns[x], .H = 3, .d = ds[y]};
                    block_choice ch;
                    char err[256];
                    if (attn_choose_blocks(&p, false, Ms[z], DTYPE_FP32, 0, 0, &ch, err, sizeof err))
                        continue;   /* M too small for this d: the simulator refuses it too */
                    cuda_attn_plan pl;
                    ck_assert_msg(!cuda_attn_plan_make(&p, Ms[z], &pl, err, sizeof err), "%s", err);
                    ck_assert_int_eq(pl.nkernels, a == ATTN_STANDARD ? 3 : 1);
                    size_t most = 0;
                    for (int k = 0; k < pl.nkernels; k++) {
                        const cuda_kernel_plan *kp = &pl.k[k];
                        size_t off = 0;
                        for (size_t b = 0; b < kp->plan.n; b++) {   /* back to back, in the plan's order */
                            ck_assert_uint_eq(kp->off[b], off);
                            ck_assert_int_eq(cuda_plan_offset(kp, kp->plan.buf[b].name), (long)off);
                            off += kp->plan.buf[b].elems * 4;
                        }
                        ck_assert_uint_eq(kp->dyn_bytes, off);
                        ck_assert_uint_eq(kp->dyn_bytes, kp->plan.bytes);
                        ck_assert_uint_le(kp->dyn_bytes + kp->static_bytes, Ms[z]);
                        ck_assert_uint_eq(kp->threads, CUDA_ATTN_THREADS);
                        most = kp->dyn_bytes > most ? kp->dyn_bytes : most;
                    }
                    /* the largest kernel needs exactly what the simulator charges against M */
                    ck_assert_uint_eq(most, attn_sram_need(p.algo, false, p.Br, p.Bc, p.d, DTYPE_FP32));
                    uint64_t Tr = ceil_div(p.N, p.Br);
                    ck_assert_uint_eq(pl.k[0].blocks, a == ATTN_FLASH1 ? 6 : 6 * Tr);
                    if (a == ATTN_STANDARD)
                        ck_assert_uint_eq(pl.k[1].blocks, 6 * p.N);
                }
}
END_TEST

START_TEST(plan_refuses_what_does_not_fit)
{
    attn_params p = {.algo = ATTN_FLASH2, .B = 1, .N = 512, .H = 1, .d = 128, .Br = 128, .Bc = 128};
    cuda_attn_plan pl;
    char err[256] = "";
    ck_assert_int_eq(cuda_attn_plan_make(&p, HOPPER_SMEM, &pl, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "v03_flash2") && strstr(err, "shared memory"), "message: %s", err);
    p.Br = 600;   /* a block larger than N */
    ck_assert_int_eq(cuda_attn_plan_make(&p, HOPPER_SMEM, &pl, err, sizeof err), -1);
    p.Br = 64;
    p.Bc = 64;
    p.N = (size_t)1 << 31;   /* beyond the kernels' int indices */
    ck_assert_int_eq(cuda_attn_plan_make(&p, HOPPER_SMEM, &pl, err, sizeof err), -1);
}
END_TEST

/* The kernels' counter names map onto the simulator's ledger (forward or backward), which equals its closed form,
 * for the algorithms given, causal and not, ragged N. */
static void counts_follow_closed_form(const attn_algo *algos, int nalgos, bool backward, size_t M)
{
    static const size_t Ns[] = {1, 37, 300}, ds[] = {16, 80};
    for (int a = 0; a < nalgos; a++)
        for (int causal = 0; causal < 2; causal++)
            for (size_t x = 0; x < 3; x++)
                for (size_t y = 0; y < 2; y++) {
                    attn_params p = {.algo = algos[a], .B = 2, .N = Ns[x], .H = 3, .d = ds[y], .causal = causal};
                    block_choice ch;
                    char err[256];
                    ck_assert(!attn_choose_blocks(&p, backward, M, DTYPE_FP32, 0, 0, &ch, err, sizeof err));
                    cuda_counts c;
                    ck_assert_msg(!(backward ? cuda_sim_counts_backward : cuda_sim_counts)(&p, M, &c, err, sizeof err),
                                  "%s", err);
                    attn_io io;
                    attn_io_closed_form(&p, backward, &io);
                    uint64_t rd = 0, wr = 0;
                    for (int t = 0; t < CT_NTENSORS; t++)
                        rd += c.rd[t], wr += c.wr[t];
                    ck_assert_uint_eq(rd, io.rd);
                    ck_assert_uint_eq(wr, io.wr);
                    for (size_t r = 0; r < io.n; r++) {
                        int t = 0;
                        while (t < CT_NTENSORS && strcmp(cuda_tensor_name(t), io.row[r].tensor))
                            t++;
                        ck_assert_msg(t < CT_NTENSORS, "tensor %s has no kernel counter", io.row[r].tensor);
                        ck_assert_uint_eq(c.rd[t], io.row[r].rd);
                        ck_assert_uint_eq(c.wr[t], io.row[r].wr);
                    }
                }
}

START_TEST(sim_counts_follow_the_closed_form)
{
    static const attn_algo all[ATTN_NALGOS] = {ATTN_STANDARD, ATTN_FLASH1, ATTN_FLASH2};
    counts_follow_closed_form(all, ATTN_NALGOS, false, 8192);
}
END_TEST

/* The sampled check agrees with the full reference and catches a wrong element and a NaN. */
START_TEST(sampled_check_catches_errors)
{
    attn_params p = {.B = 2, .N = 45, .H = 3, .d = 7, .causal = _i};
    size_t n = p.B * p.N * p.H * p.d, nl = p.B * p.H * p.N;
    float *q = malloc(n * sizeof *q), *k = malloc(n * sizeof *k), *v = malloc(n * sizeof *v);
    float *o = malloc(n * sizeof *o), *L = malloc(nl * sizeof *L);
    double *Od = malloc(n * sizeof *Od), *Ld = malloc(nl * sizeof *Ld);
    cuda_attn_inputs(&p, 11, q, k, v);
    ref_attention_bnhd(q, k, v, p.B, p.N, p.H, p.d, 1.0 / sqrt((double)p.d), p.causal, Od, Ld);
    for (size_t x = 0; x < n; x++)
        o[x] = (float)Od[x];
    for (size_t x = 0; x < nl; x++)
        L[x] = (float)Ld[x];
    cuda_check_stats full, some;
    cuda_attn_check(&p, q, k, v, o, L, 0, 0, &full);
    cuda_attn_check(&p, q, k, v, o, L, 3, 5, &some);
    ck_assert(full.ok && some.ok);
    ck_assert_uint_eq(full.rows, p.B * p.H * p.N);
    ck_assert_uint_eq(some.rows, 15);
    ck_assert_double_le(full.max_abs_O, 1e-6);
    ck_assert_double_le(some.max_abs_O, 1e-6);
    /* the last row of the last head is always sampled */
    size_t last = ((p.B * p.N - 1) * p.H + p.H - 1) * p.d;
    o[last + 2] += 1e-3f;
    cuda_attn_check(&p, q, k, v, o, L, 3, 5, &some);
    ck_assert(!some.ok && some.bad == 1);
    o[last + 2] = NAN;
    cuda_attn_check(&p, q, k, v, o, L, 3, 5, &some);
    ck_assert(!some.ok && isinf(some.max_abs_O));
    free(q), free(k), free(v), free(o), free(L), free(Od), free(Ld);
}
END_TEST

/* ---- cuda_kernels -------------------------------------------------------------------------------------------- */

typedef struct {
    size_t B, N, H, d, M;   /* M = 0: the device's shared memory per block */
} shape;

#ifdef CHECK_EMU
/* Small enough for the emulator; small M forces several tiles, ragged blocks, every micro-tile size and (for
 * standard) the three-pass softmax. */
static const shape SHAPES[] = {
    {2, 1, 3, 16, 0},     {1, 37, 2, 16, 4096}, {2, 20, 1, 3, 1024}, {1, 70, 1, 64, 0},
    {1, 33, 2, 80, 16384}, {1, 19, 1, 128, 0},  {2, 23, 2, 5, 2048},
};
#define MAX_ROWS 0
#else
/* Ragged N against the blocks, d in {16, 64, 80, 128} and two odd d (scalar paths), B and H > 1, the device's M
 * and small M's (several tiles per row, the three-pass softmax of standard attention). */
static const shape SHAPES[] = {
    {2, 1, 3, 16, 0},     {1, 63, 2, 64, 0},      {2, 200, 3, 80, 0},     {1, 257, 2, 128, 0},
    {3, 97, 5, 16, 0},    {1, 1000, 2, 64, 0},    {2, 777, 2, 128, 0},    {2, 77, 2, 64, 16384},
    {1, 300, 2, 128, 49152}, {1, 301, 3, 64, 8192}, {1, 50, 2, 3, 0},    {2, 65, 1, 7, 4096},
    {1, 4099, 1, 80, 0},
};
#define MAX_ROWS 64   /* rows per head compared against the reference beyond small shapes */
#endif
#define NSHAPES (int)(sizeof SHAPES / sizeof SHAPES[0])

static cuda_device dev;

/* The counting twin's counters equal the simulator's ledger, tensor by tensor (the failure names the tensor). */
static void counts_equal(const char *name, const attn_params *p, const cuda_counts *gpu, const cuda_counts *sim)
{
    for (int t = 0; t < CT_NTENSORS; t++)
        ck_assert_msg(gpu->rd[t] == sim->rd[t] && gpu->wr[t] == sim->wr[t],
                      "%s (Br=%zu Bc=%zu): tensor %s: kernel read %llu wrote %llu, simulator read %llu wrote %llu",
                      name, p->Br, p->Bc, cuda_tensor_name(t), (unsigned long long)gpu->rd[t],
                      (unsigned long long)gpu->wr[t], (unsigned long long)sim->rd[t], (unsigned long long)sim->wr[t]);
}

static void run_case(attn_algo algo, int idx, bool causal)
{
    const shape *s = &SHAPES[idx];
    attn_params p = {.algo = algo, .B = s->B, .N = s->N, .H = s->H, .d = s->d, .causal = causal};
    size_t M = s->M ? s->M : dev.smem_optin;
    block_choice ch;
    char err[256], name[128];
    snprintf(name, sizeof name, "%s B=%zu N=%zu H=%zu d=%zu M=%zu%s", NAMES[algo], p.B, p.N, p.H, p.d, M,
             causal ? " causal" : "");
    ck_assert_msg(!attn_choose_blocks(&p, false, M, DTYPE_FP32, 0, 0, &ch, err, sizeof err), "%s: %s", name, err);
    cuda_attn_plan pl;
    ck_assert_msg(!cuda_attn_plan_make(&p, M, &pl, err, sizeof err), "%s: %s", name, err);

    size_t n = p.B * p.N * p.H * p.d, nl = p.B * p.H * p.N;
    float *q = malloc(n * sizeof *q), *k = malloc(n * sizeof *k), *v = malloc(n * sizeof *v);
    float *o = malloc(n * sizeof *o), *L = malloc(nl * sizeof *L);
    cuda_attn_inputs(&p, 1000 + (uint64_t)idx, q, k, v);
    cuda_counts sim, gpu;
    ck_assert_msg(!cuda_sim_counts(&p, M, &sim, err, sizeof err), "%s", err);

    cuda_attn_session *ses;
    ck_assert_msg(!cuda_attn_open(&pl, q, k, v, &ses, err, sizeof err), "%s: %s", name, err);
    size_t rows = p.N * p.N * p.d <= ((size_t)1 << 22) ? 0 : MAX_ROWS;   /* every row when it is cheap */
    for (int counting = 1; counting >= 0; counting--) {
        ck_assert_msg(!cuda_attn_exec(ses, counting, &gpu, err, sizeof err), "%s: %s", name, err);
        if (counting)
            counts_equal(name, &p, &gpu, &sim);
        bool hasL;
        ck_assert_msg(!cuda_attn_download(ses, o, L, &hasL, err, sizeof err), "%s: %s", name, err);
        cuda_check_stats st;
        cuda_attn_check(&p, q, k, v, o, hasL ? L : NULL, 4, rows, &st);
        ck_assert_msg(st.ok, "%s (%s kernels, Br=%zu Bc=%zu): %zu of %zu rows' elements off, max |err| O %.3g L %.3g",
                      name, counting ? "counting" : "plain", p.Br, p.Bc, st.bad, st.rows, st.max_abs_O,
                      st.max_abs_L);
        ck_assert_uint_eq(hasL, algo != ATTN_STANDARD);
    }
    ck_assert_msg(!cuda_attn_close(ses, err, sizeof err), "%s: %s", name, err);
    free(q), free(k), free(v), free(o), free(L);
}

START_TEST(standard_matches) { run_case(ATTN_STANDARD, _i / 2, _i % 2); }
END_TEST
START_TEST(flash1_matches) { run_case(ATTN_FLASH1, _i / 2, _i % 2); }
END_TEST
START_TEST(flash2_matches) { run_case(ATTN_FLASH2, _i / 2, _i % 2); }
END_TEST

/* ---- cuda_backward: Alg.3 (standard) and FA2 Alg.2 (flash2) ------------------------------------------------------ */

static const attn_algo BWD_ALGOS[2] = {ATTN_STANDARD, ATTN_FLASH2};

/* The backward's kernels lay out the simulator's backward plans: the hungriest is what the simulator charges. */
START_TEST(backward_plans_are_the_simulators)
{
    static const size_t Ns[] = {1, 50, 1000}, ds[] = {3, 16, 64, 128}, Ms[] = {8192, 65536, HOPPER_SMEM};
    for (int a = 0; a < 2; a++)
        for (size_t x = 0; x < 3; x++)
            for (size_t y = 0; y < 4; y++)
                for (size_t z = 0; z < 3; z++) {
                    attn_params p = {.algo = BWD_ALGOS[a], .B = 2, .N = Ns[x], .H = 3, .d = ds[y]};
                    block_choice ch;
                    char err[256];
                    if (attn_choose_blocks(&p, true, Ms[z], DTYPE_FP32, 0, 0, &ch, err, sizeof err))
                        continue;
                    cuda_attn_plan pl;
                    ck_assert_msg(!cuda_attn_plan_make_backward(&p, Ms[z], &pl, err, sizeof err), "%s", err);
                    ck_assert_int_eq(pl.nbwd, a ? 2 : 5);
                    size_t most = 0;
                    for (int k = 0; k < pl.nbwd; k++) {
                        const cuda_kernel_plan *kp = &pl.kb[k];
                        ck_assert_uint_eq(kp->dyn_bytes, kp->plan.bytes);
                        ck_assert_uint_le(kp->dyn_bytes, Ms[z]);
                        ck_assert_uint_eq(kp->off[kp->plan.n - 1] + kp->plan.buf[kp->plan.n - 1].elems * 4,
                                          kp->dyn_bytes);
                        most = kp->dyn_bytes > most ? kp->dyn_bytes : most;
                    }
                    ck_assert_uint_eq(most, attn_sram_need(p.algo, true, p.Br, p.Bc, p.d, DTYPE_FP32));
                    ck_assert_uint_eq(pl.kb[pl.nbwd - 1].blocks, a ? 6 : 6 * ceil_div(p.N, p.Bc));
                }
    attn_params p = {.algo = ATTN_FLASH1, .B = 1, .N = 64, .H = 1, .d = 16, .Br = 16, .Bc = 16};
    cuda_attn_plan pl;
    char err[256] = "";
    ck_assert_int_eq(cuda_attn_plan_make_backward(&p, HOPPER_SMEM, &pl, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "flash1"), "message: %s", err);
}
END_TEST

/* The same for the backward passes that have kernels. */
START_TEST(backward_sim_counts_follow_the_closed_form) { counts_follow_closed_form(BWD_ALGOS, 2, true, 16384); }
END_TEST

/* The gradient check passes the reference's own gradients and catches a wrong element and a NaN. */
START_TEST(grad_check_catches_errors)
{
    attn_params p = {.B = 1, .N = 9, .H = 2, .d = 4, .causal = _i};
    size_t n = p.B * p.N * p.H * p.d, nd = p.N * p.d;
    float *x[4], *g[3];
    for (int t = 0; t < 4; t++)
        x[t] = malloc(n * sizeof(float));
    for (int t = 0; t < 3; t++)
        g[t] = malloc(n * sizeof(float));
    double *in = malloc(4 * nd * sizeof *in), *ref = malloc(3 * nd * sizeof *ref);
    cuda_attn_inputs_dout(&p, 5, x[0], x[1], x[2], x[3]);
    for (size_t h = 0; h < p.H; h++) {
        for (int t = 0; t < 4; t++)
            ref_head_get(x[t], p.B, p.N, p.H, p.d, 0, h, in + t * nd);
        ref_attention_backward(in, in + nd, in + 2 * nd, in + 3 * nd, p.N, p.d, 1.0 / sqrt((double)p.d), p.causal,
                               ref, ref + nd, ref + 2 * nd);
        for (int t = 0; t < 3; t++)
            for (size_t r = 0; r < p.N; r++)
                for (size_t c = 0; c < p.d; c++)
                    g[t][(r * p.H + h) * p.d + c] = (float)ref[t * nd + r * p.d + c];
    }
    cuda_grad_stats st;
    cuda_attn_check_grads(&p, x[0], x[1], x[2], x[3], g, 0, &st);
    ck_assert(st.ok && st.heads == 2);
    ck_assert_double_le(cuda_attn_fd_err(&p, x[0], x[1], x[2], x[3], g), CUDA_FD_TOL);
    g[1][n - 1] += 1e-2f;   /* dK, the last entry of the last head */
    cuda_attn_check_grads(&p, x[0], x[1], x[2], x[3], g, 0, &st);
    ck_assert(!st.ok && st.bad == 1);
    g[2][0] = NAN;
    cuda_attn_check_grads(&p, x[0], x[1], x[2], x[3], g, 0, &st);
    ck_assert(!st.ok && isinf(st.max_abs[2]));
    ck_assert(isnan(cuda_attn_fd_err(&p, x[0], x[1], x[2], x[3], g)));
    for (int t = 0; t < 4; t++)
        free(x[t]);
    for (int t = 0; t < 3; t++)
        free(g[t]);
    free(in), free(ref);
}
END_TEST

#ifdef CHECK_EMU
static const shape BWD_SHAPES[] = {
    {1, 1, 2, 16, 0}, {1, 37, 2, 16, 8192}, {2, 20, 1, 3, 4096}, {1, 70, 1, 64, 0}, {1, 33, 1, 80, 32768},
    {1, 45, 2, 128, 0},
};
#define BWD_RANDOM 12   /* random ragged shapes, each causal and not */
#else
static const shape BWD_SHAPES[] = {
    {2, 1, 3, 16, 0},  {1, 63, 2, 64, 0},    {2, 200, 3, 80, 0},      {1, 257, 2, 128, 0}, {3, 97, 5, 16, 0},
    {1, 1000, 2, 64, 0}, {2, 777, 2, 128, 0}, {2, 77, 2, 64, 16384}, {1, 301, 3, 64, 8192}, {1, 50, 2, 3, 0},
    {2, 65, 1, 7, 4096}, {1, 2049, 1, 64, 0},
};
#define BWD_RANDOM 10
#endif
#define NBWD (int)(sizeof BWD_SHAPES / sizeof BWD_SHAPES[0])

/* One backward configuration: the counting twin's counters equal the simulator's backward ledger; dQ, dK, dV of the
 * counting and the plain kernels match the fp64 reference on up to 2 heads, and two plain runs agree bit for bit
 * (dQ's accumulation is deterministic). fd: the gradients against finite differences too (tiny shapes). */
static void run_backward(const attn_params *p0, size_t M, uint64_t seed, bool fd)
{
    attn_params p = *p0;
    block_choice ch;
    char err[256], name[160];
    snprintf(name, sizeof name, "%s backward B=%zu N=%zu H=%zu d=%zu M=%zu%s", attn_algo_name(p.algo), p.B, p.N, p.H,
             p.d, M, p.causal ? " causal" : "");
    ck_assert_msg(!attn_choose_blocks(&p, true, M, DTYPE_FP32, p0->Br, p0->Bc, &ch, err, sizeof err), "%s: %s", name,
                  err);
    cuda_attn_plan pl;
    ck_assert_msg(!cuda_attn_plan_make_backward(&p, M, &pl, err, sizeof err), "%s: %s", name, err);
    size_t n = p.B * p.N * p.H * p.d;
    float *x[4], *g[3], *again[3];
    for (int t = 0; t < 4; t++)
        x[t] = malloc(n * sizeof(float));
    for (int t = 0; t < 3; t++)
        g[t] = malloc(n * sizeof(float)), again[t] = malloc(n * sizeof(float));
    cuda_attn_inputs_dout(&p, seed, x[0], x[1], x[2], x[3]);
    cuda_counts sim, gpu;
    ck_assert_msg(!cuda_sim_counts_backward(&p, M, &sim, err, sizeof err), "%s", err);

    cuda_attn_session *ses;
    ck_assert_msg(!cuda_attn_open(&pl, x[0], x[1], x[2], &ses, err, sizeof err), "%s: %s", name, err);
    ck_assert_msg(!cuda_attn_set_dout(ses, x[3], err, sizeof err), "%s: %s", name, err);
    ck_assert_msg(!cuda_attn_exec(ses, false, NULL, err, sizeof err), "%s: %s", name, err);
    for (int counting = 1; counting >= 0; counting--) {
        ck_assert_msg(!cuda_attn_run(ses, true, counting, &gpu, err, sizeof err), "%s: %s", name, err);
        if (counting)
            counts_equal(name, &p, &gpu, &sim);
        ck_assert_msg(!cuda_attn_download_grads(ses, g[0], g[1], g[2], err, sizeof err), "%s: %s", name, err);
        cuda_grad_stats st;
        cuda_attn_check_grads(&p, x[0], x[1], x[2], x[3], g, 2, &st);
        ck_assert_msg(st.ok, "%s (%s kernels, Br=%zu Bc=%zu): %zu elements off, max |err| dQ %.3g dK %.3g dV %.3g",
                      name, counting ? "counting" : "plain", p.Br, p.Bc, st.bad, st.max_abs[0], st.max_abs[1],
                      st.max_abs[2]);
    }
    ck_assert_msg(!cuda_attn_run(ses, true, false, NULL, err, sizeof err), "%s: %s", name, err);
    ck_assert_msg(!cuda_attn_download_grads(ses, again[0], again[1], again[2], err, sizeof err), "%s", err);
    for (int t = 0; t < 3; t++)
        ck_assert_msg(!memcmp(g[t], again[t], n * sizeof(float)), "%s: gradient %d differs between two runs", name, t);
    if (fd) {
        double e = cuda_attn_fd_err(&p, x[0], x[1], x[2], x[3], g);
        ck_assert_msg(e <= CUDA_FD_TOL, "%s: finite differences differ by %.3g", name, e);
    }
    ck_assert_msg(!cuda_attn_close(ses, err, sizeof err), "%s: %s", name, err);
    for (int t = 0; t < 4; t++)
        free(x[t]);
    for (int t = 0; t < 3; t++)
        free(g[t]), free(again[t]);
}

START_TEST(backward_matches)
{
    const shape *s = &BWD_SHAPES[_i / 4];
    attn_params p = {.algo = BWD_ALGOS[_i % 2], .B = s->B, .N = s->N, .H = s->H, .d = s->d, .causal = _i / 2 % 2};
    run_backward(&p, s->M ? s->M : dev.smem_optin, 2000 + (uint64_t)_i, false);
}
END_TEST

/* Tiny shapes, ragged tiles of 3 queries x 2 keys (1 x 7 in the last four): the gradients against
 * central finite differences of the fp64 forward. */
START_TEST(backward_finite_differences)
{
    attn_params p = {.algo = BWD_ALGOS[_i % 2], .B = 1, .N = 7 + (size_t)(_i / 4), .H = 1, .d = 4,
                     .causal = _i / 2 % 2, .Br = _i < 8 ? 3 : 1, .Bc = _i < 8 ? 2 : 7};
    run_backward(&p, 4096, 3000 + (uint64_t)_i, true);
}
END_TEST

/* Random ragged shapes and SRAM sizes (seeded), causal and not: counters == ledger, gradients == reference. */
START_TEST(backward_random_shapes)
{
    rng_t r;
    rng_seed(&r, 4000 + (uint64_t)_i);
    static const size_t Ms[] = {2048, 4096, 8192, 16384, 65536, HOPPER_SMEM};
    for (int tries = 0; tries < 100; tries++) {
        attn_params p = {.algo = BWD_ALGOS[_i % 2], .B = 1 + rng_below(&r, 2), .N = 1 + rng_below(&r, 90),
                         .H = 1 + rng_below(&r, 2), .d = 1 + rng_below(&r, 72), .causal = _i / 2 % 2};
        size_t M = Ms[rng_below(&r, 6)];
        block_choice ch;
        char err[256];
        if (attn_choose_blocks(&p, true, M, DTYPE_FP32, 0, 0, &ch, err, sizeof err))
            continue;   /* too small an M for this d: drawn again */
        run_backward(&p, M, 5000 + (uint64_t)_i, false);
        return;
    }
    ck_abort_msg("no shape fit in 100 draws");
}
END_TEST

/* lesson08's harness (cuda_run.h) on both passes: counters equal, outputs compared and within tolerance, timed. */
START_TEST(harness_runs_both_passes)
{
    attn_params p = {.algo = BWD_ALGOS[_i % 2], .B = 1, .N = 40, .H = 2, .d = 16, .causal = _i / 2 % 2};
    const bool backward = _i >= 4;
    block_choice ch;
    char err[256];
    ck_assert(!attn_choose_blocks(&p, backward, 8192, DTYPE_FP32, 0, 0, &ch, err, sizeof err));
    cuda_attn_plan pl;
    ck_assert_msg(!(backward ? cuda_attn_plan_make_backward : cuda_attn_plan_make)(&p, 8192, &pl, err, sizeof err),
                  "%s", err);
    cuda_counts sim;
    ck_assert(!(backward ? cuda_sim_counts_backward : cuda_sim_counts)(&p, 8192, &sim, err, sizeof err));
    cuda_run g;
    ck_assert_msg(!cuda_run_gpu(&p, &pl, backward, 9, &g, err, sizeof err), "%s", err);
    ck_assert(cuda_counts_equal(&sim, &g.gpu));
    ck_assert(g.checked && cuda_run_ok(&g));
    ck_assert_uint_eq(backward ? g.gs[0].heads : g.st[0].rows, backward ? 2 : 80);
    ck_assert_double_le(cuda_run_max_err(&g), backward ? CUDA_GRAD_ATOL : CUDA_ATOL);
    ck_assert(g.ms > 0 && g.reps == 10);
}
END_TEST

/* ---- cuda_limits ---------------------------------------------------------------------------------------------- */

static float zeros[512 * 128];

/* A plan made for more shared memory than the device has: refused before any launch, with FL_EXIT_USAGE and one
 * line naming the kernel; the runner returns, it does not exit. */
START_TEST(too_much_shared_memory_is_refused)
{
    attn_params p = {.algo = ATTN_FLASH2, .B = 1, .N = 512, .H = 1, .d = 128, .Br = 128, .Bc = 128};
    cuda_attn_plan pl;
    char err[256] = "";
    ck_assert(!cuda_attn_plan_make(&p, (size_t)1 << 20, &pl, err, sizeof err));
    cuda_attn_session *s = (cuda_attn_session *)&pl;   /* must be cleared */
    ck_assert_int_eq(cuda_attn_open(&pl, zeros, zeros, zeros, &s, err, sizeof err), FL_EXIT_USAGE);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err, "v03_flash2") && strstr(err, "shared memory"), "message: %s", err);
}
END_TEST

/* Without a GPU a run is refused at once, with FL_EXIT_USAGE and one line. */
START_TEST(no_gpu_is_refused)
{
    attn_params p = {.algo = ATTN_FLASH2, .B = 1, .N = 512, .H = 1, .d = 128, .Br = 64, .Bc = 64};
    cuda_attn_plan pl;
    char err[256] = "";
    ck_assert(!cuda_attn_plan_make(&p, HOPPER_SMEM, &pl, err, sizeof err));
    cuda_attn_session *s = (cuda_attn_session *)&pl;
    ck_assert_int_eq(cuda_attn_open(&pl, zeros, zeros, zeros, &s, err, sizeof err), FL_EXIT_USAGE);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err, "no CUDA device"), "message: %s", err);
}
END_TEST

/* ---- cuda_big: 64-bit offsets ---------------------------------------------------------------------------------- */
#ifndef CHECK_EMU

/* B*N*H*d = 2 * 1024 * 16385 * 64 > 2^31 elements per tensor (8.6 GB each in fp32): every head is checked for
 * counts, the first and last heads (offsets past 2^31) against the reference on sampled rows. Inputs: each head
 * from its own seeded RNG, in parallel (the one sequential RNG would take minutes for 6.4e9 values). */
START_TEST(offsets_beyond_2_31)
{
    attn_params p = {.algo = ATTN_FLASH2, .B = 2, .N = 1024, .H = 16385, .d = 64};
    size_t n = p.B * p.N * p.H * p.d, nl = p.B * p.H * p.N;
    ck_assert_uint_gt(n, (size_t)1 << 31);
    block_choice ch;
    char err[256];
    ck_assert(!attn_choose_blocks(&p, false, dev.smem_optin, DTYPE_FP32, 0, 0, &ch, err, sizeof err));
    cuda_attn_plan pl;
    ck_assert_msg(!cuda_attn_plan_make(&p, dev.smem_optin, &pl, err, sizeof err), "%s", err);
    float *q = malloc(n * sizeof *q), *k = malloc(n * sizeof *k), *v = malloc(n * sizeof *v);
    float *o = malloc(n * sizeof *o), *L = malloc(nl * sizeof *L);
    ck_assert(q && k && v && o && L);
#pragma omp parallel for schedule(static)
    for (long bh = 0; bh < (long)(p.B * p.H); bh++) {
        rng_t r;
        rng_seed(&r, 77 + (uint64_t)bh);
        size_t b = (size_t)bh / p.H, h = (size_t)bh % p.H;
        for (size_t row = 0; row < p.N; row++) {
            size_t at = ((b * p.N + row) * p.H + h) * p.d;
            rng_fill_uniform(&r, q + at, p.d, -2.0f, 2.0f);
            rng_fill_uniform(&r, k + at, p.d, -2.0f, 2.0f);
            rng_fill_uniform(&r, v + at, p.d, -2.0f, 2.0f);
        }
    }
    cuda_counts sim, gpu;
    ck_assert_msg(!cuda_sim_counts(&p, dev.smem_optin, &sim, err, sizeof err), "%s", err);
    cuda_attn_session *ses;
    ck_assert_msg(!cuda_attn_open(&pl, q, k, v, &ses, err, sizeof err), "%s", err);
    ck_assert_msg(!cuda_attn_exec(ses, true, &gpu, err, sizeof err), "%s", err);
    ck_assert(cuda_counts_equal(&gpu, &sim));
    bool hasL;
    ck_assert_msg(!cuda_attn_download(ses, o, L, &hasL, err, sizeof err), "%s", err);
    ck_assert(hasL);
    ck_assert_msg(!cuda_attn_close(ses, err, sizeof err), "%s", err);
    cuda_check_stats st;
    cuda_attn_check(&p, q, k, v, o, L, 3, 16, &st);
    ck_assert_msg(st.ok, "max |err| O %.3g L %.3g, %zu bad", st.max_abs_O, st.max_abs_L, st.bad);
    free(q), free(k), free(v), free(o), free(L);
}
END_TEST
#endif

/* ---- runner ------------------------------------------------------------------------------------------------- */

static Suite *host_suite(void)
{
    Suite *s = suite_create("cuda_host");
    TCase *tc = tcase_create("Plans");
    tcase_add_test(tc, plans_are_the_simulators);
    tcase_add_test(tc, plan_refuses_what_does_not_fit);
    suite_add_tcase(s, tc);
    tc = tcase_create("Ledger");
    tcase_add_test(tc, sim_counts_follow_the_closed_form);
    suite_add_tcase(s, tc);
    tc = tcase_create("Reference");
    tcase_add_loop_test(tc, sampled_check_catches_errors, 0, 2);
    tcase_add_loop_test(tc, grad_check_catches_errors, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("Backward");
    tcase_set_timeout(tc, 60);   /* a few hundred simulator runs, count-only */
    tcase_add_test(tc, backward_plans_are_the_simulators);
    tcase_add_test(tc, backward_sim_counts_follow_the_closed_form);
    suite_add_tcase(s, tc);
    return s;
}

static Suite *backward_suite(void)
{
    Suite *s = suite_create("cuda_backward");
    TCase *tc = tcase_create("Counting");   /* counters == the backward ledger, gradients == the reference */
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, backward_matches, 0, 4 * NBWD);
    tcase_add_loop_test(tc, backward_random_shapes, 0, 4 * BWD_RANDOM);
    suite_add_tcase(s, tc);
    tc = tcase_create("Gradients");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, backward_finite_differences, 0, 12);
    suite_add_tcase(s, tc);
    tc = tcase_create("Harness");
    tcase_add_loop_test(tc, harness_runs_both_passes, 0, 8);
    suite_add_tcase(s, tc);
    return s;
}

static Suite *kernels_suite(void)
{
    Suite *s = suite_create("cuda_kernels");
    TCase *tc = tcase_create("Counting");   /* each test: counters == ledger, then outputs vs the reference */
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, standard_matches, 0, 2 * NSHAPES);
    tcase_add_loop_test(tc, flash1_matches, 0, 2 * NSHAPES);
    tcase_add_loop_test(tc, flash2_matches, 0, 2 * NSHAPES);
    suite_add_tcase(s, tc);
    return s;
}

static Suite *limits_suite(bool have)
{
    Suite *s = suite_create("cuda_limits");
    TCase *tc = tcase_create("Limits");
    if (have)
        tcase_add_test(tc, too_much_shared_memory_is_refused);
    else
        tcase_add_test(tc, no_gpu_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

#ifndef CHECK_EMU
static Suite *big_suite(void)
{
    Suite *s = suite_create("cuda_big");
    TCase *tc = tcase_create("Offsets");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, offsets_beyond_2_31);
    suite_add_tcase(s, tc);
    return s;
}
#endif

/* Ask for the device in a child process: Check forks every test, and a CUDA context created in the parent would
 * be unusable in the children ("initialization error"). */
static bool query_device(cuda_device *out)
{
    int fd[2];
    if (pipe(fd))
        return false;
    pid_t pid = fork();
    if (pid == 0) {
        cuda_device d;
        char err[256];
        bool have = cuda_attn_device(&d, err, sizeof err) == 0;
        close(fd[0]);
        ssize_t w = have ? write(fd[1], &d, sizeof d) : 0;
        _exit(w == (ssize_t)sizeof d ? 0 : 1);
    }
    close(fd[1]);
    ssize_t r = pid > 0 ? read(fd[0], out, sizeof *out) : -1;
    int status = 1;
    if (pid > 0)
        waitpid(pid, &status, 0);
    close(fd[0]);
    return r == (ssize_t)sizeof *out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(void)
{
    fl_set_progname("check_cuda");
    bool have = query_device(&dev);
    SRunner *sr = srunner_create(host_suite());
    srunner_add_suite(sr, limits_suite(have));
    if (have) {
        printf("check_cuda: running on %s (shared memory per block %zu bytes)\n", dev.name, dev.smem_optin);
        srunner_add_suite(sr, kernels_suite());
        srunner_add_suite(sr, backward_suite());
#ifndef CHECK_EMU
        srunner_add_suite(sr, big_suite());
#endif
    } else {
        printf("check_cuda: SKIPPED suites cuda_kernels (%d tests), cuda_backward (%d tests) and cuda_big (1 test): no "
               "CUDA device; run `make test-cuda` on a GPU machine\n", 6 * NSHAPES, 4 * (NBWD + BWD_RANDOM) + 20);
    }
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
#ifdef CHECK_EMU
    printf("check_cuda_emu: SKIPPED suite cuda_big: the emulator cannot hold 2^31-element tensors\n");
#endif
    return failed ? FL_EXIT_CHECK : FL_EXIT_OK;
}
