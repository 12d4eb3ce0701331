/* check_softmax.c — naive, safe and online softmax on the memory model: results against a double-precision
 * softmax, ledgers against their closed forms (per pass, ragged blocks), SRAM against the need, block choice. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "proc.h"
#include "reference.h"
#include "rng.h"
#include "softmax.h"
#include "util.h"

/* fp32: exp's argument x − m carries up to eps·|x − m| (|x − m| <= ~100 here) and ℓ is a sum of up to 300 terms
 * (N·eps worst case): 1e-4 of each output covers both with room. */
#define RTOL_FP32 1e-4
/* fp16/bf16 storage rounds x (the reference sees the rounded x) and y: one more rounding of y, eps relative. Below
 * the normal range precision is absolute: one fp16 subnormal step is 2^-24. */
static double rel_tol(dtype_t dt) { return RTOL_FP32 + (dt == DTYPE_FP32 ? 0 : dtype_eps(dt)); }
static double abs_tol(dtype_t dt) { return dt == DTYPE_FP16 ? 0x1p-24 : 0x1p-126; }

typedef struct {
    size_t R, N, Br, Bc;
} shape;

/* Ragged in both directions, one-element rows and blocks, whole-row blocks. */
static const shape SHAPES[] = {{1, 1, 1, 1},  {1, 7, 1, 3},   {3, 10, 2, 4},  {4, 6, 4, 3},   {5, 33, 3, 8},
                               {2, 100, 2, 7}, {7, 64, 4, 64}, {1, 300, 1, 299}, {9, 17, 9, 17}, {6, 50, 5, 1}};
#define NSHAPES (sizeof SHAPES / sizeof SHAPES[0])

/* Softmax of x (R x N) on a fresh model with SRAM exactly the need; y gets the result. Returns the model. */
static mem_t *run(softmax_algo a, dtype_t dt, const shape *s, const float *x, float *y, bool count_only)
{
    mem_t *m = mem_create(softmax_sram_need(a, s->Br, s->Bc, dt), count_only);
    hbm_tensor *X = hbm_alloc_mat(m, "x", dt, s->R, s->N), *Y = hbm_alloc_mat(m, "y", dt, s->R, s->N);
    hbm_upload(X, x);
    softmax_run(m, a, X, Y, s->Br, s->Bc, NULL, NULL);
    hbm_download(Y, y);
    return m;
}

/* Largest error of y against a double softmax of the stored x, relative to the allowed error (<= 1 passes). */
static double worst_ratio(const float *x, const float *y, const shape *s, dtype_t dt)
{
    double *xd = malloc(s->N * sizeof *xd), *yd = malloc(s->N * sizeof *yd), worst = 0;
    for (size_t i = 0; i < s->R; i++) {
        for (size_t j = 0; j < s->N; j++)
            xd[j] = dtype_round(dt, x[i * s->N + j]);
        ref_softmax(xd, s->N, yd);
        for (size_t j = 0; j < s->N; j++) {
            double got = y[i * s->N + j], r = fabs(got - yd[j]) / (abs_tol(dt) + rel_tol(dt) * fabs(yd[j]));
            if (isnan(got) || isnan(r))
                return INFINITY;   /* NaN never passes */
            worst = r > worst ? r : worst;
        }
    }
    free(xd);
    free(yd);
    return worst;
}

START_TEST(safe_and_online_match_reference)
{
    rng_t r;
    rng_seed(&r, 1000 + (uint64_t)_i);
    for (int dt = 0; dt < 3; dt++)
        for (size_t k = 0; k < NSHAPES; k++) {
            const shape *s = &SHAPES[k];
            float *x = malloc(s->R * s->N * sizeof *x), *y = malloc(s->R * s->N * sizeof *y);
            rng_fill_normal(&r, x, s->R * s->N, 1.0f + 9.0f * (float)rng_uniform(&r));   /* std 1 .. 10 */
            for (int a = SOFTMAX_SAFE; a <= SOFTMAX_ONLINE; a++) {
                mem_destroy(run((softmax_algo)a, (dtype_t)dt, s, x, y, false));
                double q = worst_ratio(x, y, s, (dtype_t)dt);
                ck_assert_msg(q <= 1.0, "%s %s R=%zu N=%zu Br=%zu Bc=%zu: error %.3g x the tolerance",
                              softmax_algo_name((softmax_algo)a), dtype_name((dtype_t)dt), s->R, s->N, s->Br, s->Bc,
                              q);
            }
            free(x);
            free(y);
        }
}
END_TEST

/* Logits far past any exp overflow: safe and online never see an exponent above 0. */
START_TEST(large_logits_stay_finite)
{
    rng_t r;
    rng_seed(&r, 2000 + (uint64_t)_i);
    shape s = {3, 40, 2, 6};
    float x[120], y[120];
    rng_fill_uniform(&r, x, 120, -1e4f, 1e4f);
    x[7] = 3e4f;   /* fp16 would round this to inf: use fp32 and bf16 */
    for (int a = SOFTMAX_SAFE; a <= SOFTMAX_ONLINE; a++)
        for (int dt = 0; dt < 3; dt += 2) {
            mem_destroy(run((softmax_algo)a, (dtype_t)dt, &s, x, y, false));
            ck_assert(worst_ratio(x, y, &s, (dtype_t)dt) <= 1.0);
            ck_assert(y[7] == 1.0f);
        }
}
END_TEST

/* The naive version overflows where the seed says: e^100 in fp32, e^12 stored in fp16. Below that it works. */
START_TEST(naive_overflows)
{
    shape s = {1, 4, 1, 4};
    float y[4];
    float x32[4] = {1, 2, 3, 100}, x16[4] = {1, 2, 3, 12}, ok16[4] = {1, 2, 3, 11};
    mem_destroy(run(SOFTMAX_NAIVE, DTYPE_FP32, &s, x32, y, false));
    ck_assert(isnan(y[3]) && y[0] == 0.0f);
    mem_destroy(run(SOFTMAX_NAIVE, DTYPE_FP16, &s, x16, y, false));
    ck_assert(isnan(y[3]));
    mem_destroy(run(SOFTMAX_NAIVE, DTYPE_FP16, &s, ok16, y, false));   /* e^11 = 59874 < 65504 */
    ck_assert(worst_ratio(ok16, y, &s, DTYPE_FP16) <= 1.0);
    mem_destroy(run(SOFTMAX_SAFE, DTYPE_FP16, &s, x16, y, false));
    ck_assert(worst_ratio(x16, y, &s, DTYPE_FP16) <= 1.0);
    x32[3] = 88.0f;                                                     /* e^88 < FLT_MAX = e^88.72 */
    mem_destroy(run(SOFTMAX_NAIVE, DTYPE_FP32, &s, x32, y, false));
    ck_assert(worst_ratio(x32, y, &s, DTYPE_FP32) <= 1.0);
}
END_TEST

/* Every algorithm's ledger equals its closed form, in total, per tensor and per pass; count-only counts the same. */
START_TEST(ledger_equals_closed_form)
{
    for (int a = 0; a < 3; a++)
        for (int dt = 0; dt < 3; dt++)
            for (size_t k = 0; k < NSHAPES; k++) {
                const shape *s = &SHAPES[k];
                softmax_io cf;
                softmax_closed_form((softmax_algo)a, s->R, s->N, s->Br, s->Bc, &cf);
                uint64_t RN = (uint64_t)s->R * s->N, Tc = ceil_div(s->N, s->Bc);
                for (int co = 0; co < 2; co++) {
                    float *x = calloc(RN, sizeof *x), *y = calloc(RN, sizeof *y);
                    mem_t *m = run((softmax_algo)a, (dtype_t)dt, s, co ? NULL : x, co ? NULL : y, co);
                    io_count t = mem_io(m, NULL, NULL);
                    ck_assert_uint_eq(t.rd_elems, cf.rd);
                    ck_assert_uint_eq(t.wr_elems, cf.wr);
                    ck_assert_uint_eq(t.rd_bytes, cf.rd * dtype_size((dtype_t)dt));
                    ck_assert_uint_eq(mem_io(m, "x", NULL).rd_elems, cf.rd_x);
                    ck_assert_uint_eq(mem_io(m, "y", NULL).wr_elems, cf.wr_y);
                    ck_assert_uint_eq(mem_io(m, "e", NULL).rd_elems, cf.rd_e);
                    ck_assert_uint_eq(mem_io(m, "e", NULL).wr_elems, cf.wr_e);
                    ck_assert_uint_eq(mem_flops(m, NULL), cf.flops);
                    ck_assert_uint_eq(mem_exps(m, NULL), cf.exps);
                    ck_assert_uint_eq(sram_peak(m), softmax_sram_need((softmax_algo)a, s->Br, s->Bc, (dtype_t)dt));
                    ck_assert_uint_eq(sram_used(m), 0);
                    /* pass by pass: each reads the whole of its input once */
                    if (a == SOFTMAX_SAFE) {
                        ck_assert_uint_eq(mem_io(m, "x", "max").rd_elems, RN);
                        ck_assert_uint_eq(mem_io(m, "x", "sum").rd_elems, RN);
                        ck_assert_uint_eq(mem_io(m, "x", "normalize").rd_elems, RN);
                        ck_assert_uint_eq(mem_io(m, "y", "normalize").wr_elems, RN);
                        ck_assert_uint_eq(mem_exps(m, "max"), 0);
                    } else if (a == SOFTMAX_ONLINE) {
                        ck_assert_uint_eq(mem_io(m, "x", "max_sum").rd_elems, RN);
                        ck_assert_uint_eq(mem_exps(m, "max_sum"), RN + s->R * Tc);
                        ck_assert_uint_eq(mem_io(m, "x", "normalize").rd_elems, RN);
                    } else {
                        ck_assert_uint_eq(mem_io(m, "e", "exp").wr_elems, RN);
                        ck_assert_uint_eq(mem_io(m, "e", "sum").rd_elems, RN);
                        ck_assert_uint_eq(mem_io(m, "e", "divide").rd_elems, RN);
                    }
                    ck_assert_uint_eq(mem_io(m, NULL, "main").rd_elems, 0);   /* back in "main", nothing there */
                    mem_destroy(m);
                    free(x);
                    free(y);
                }
            }
}
END_TEST

/* One step per tile per pass, each tile of each pass visited once. */
static void count_steps(const mem_event *ev, void *ctx)
{
    if (ev->kind == MEM_EV_STEP)
        ++*(uint64_t *)ctx;
}

START_TEST(one_step_per_tile_and_pass)
{
    for (int a = 0; a < 3; a++)
        for (size_t k = 0; k < NSHAPES; k++) {
            const shape *s = &SHAPES[k];
            softmax_io cf;
            softmax_closed_form((softmax_algo)a, s->R, s->N, s->Br, s->Bc, &cf);
            mem_t *m = mem_create(softmax_sram_need((softmax_algo)a, s->Br, s->Bc, DTYPE_FP32), true);
            hbm_tensor *X = hbm_alloc_mat(m, "x", DTYPE_FP32, s->R, s->N), *Y = hbm_alloc_mat(m, "y", DTYPE_FP32,
                                                                                                s->R, s->N);
            uint64_t steps = 0;
            mem_observe(m, count_steps, &steps);
            softmax_run(m, (softmax_algo)a, X, Y, s->Br, s->Bc, NULL, NULL);
            ck_assert_uint_eq(steps, cf.tiles * cf.passes);
            ck_assert_uint_eq(cf.tiles, ceil_div(s->R, s->Br) * ceil_div(s->N, s->Bc));
            mem_destroy(m);
        }
}
END_TEST

/* The chosen blocks fit M and are the widest that do; requests are kept; bad requests are refused. */
START_TEST(blocks_fit_and_are_maximal)
{
    rng_t r;
    rng_seed(&r, 3000 + (uint64_t)_i);
    for (int t = 0; t < 300; t++) {
        softmax_algo a = (softmax_algo)rng_below(&r, 3);
        dtype_t dt = (dtype_t)rng_below(&r, 3);
        size_t R = 1 + rng_below(&r, 20), N = 1 + rng_below(&r, 500), M = 1 + rng_below(&r, 4096);
        size_t st = (a == SOFTMAX_NAIVE ? 1 : 2) * 4, sz = dtype_size(dt);
        softmax_blocks b;
        char err[256];
        int rc = softmax_choose_blocks(a, M, R, N, dt, 0, 0, &b, err, sizeof err);
        if (M < st + sz) {   /* not even one element and its statistics */
            ck_assert_int_eq(rc, -1);
            ck_assert_ptr_nonnull(strstr(err, "SRAM too small"));
            continue;
        }
        ck_assert_int_eq(rc, 0);
        ck_assert(b.Br >= 1 && b.Br <= R && b.Bc >= 1 && b.Bc <= N);
        ck_assert_uint_eq(b.need_bytes, softmax_sram_need(a, b.Br, b.Bc, dt));
        ck_assert(b.need_bytes <= M);
        ck_assert(b.Bc == N || softmax_sram_need(a, b.Br, b.Bc + 1, dt) > M);            /* widest */
        ck_assert(b.Br == R || softmax_sram_need(a, b.Br + 1, 1, dt) > M);              /* most rows */
        /* a requested Br keeps Br and fits the widest Bc */
        size_t br = 1 + rng_below(&r, R);
        rc = softmax_choose_blocks(a, M, R, N, dt, br, 0, &b, err, sizeof err);
        if (rc == 0) {
            ck_assert_uint_eq(b.Br, br);
            ck_assert(b.need_bytes <= M && (b.Bc == N || softmax_sram_need(a, br, b.Bc + 1, dt) > M));
        } else {
            ck_assert(softmax_sram_need(a, br, 1, dt) > M);
        }
    }
}
END_TEST

START_TEST(bad_blocks_are_refused)
{
    softmax_blocks b;
    char err[256];
    ck_assert_int_eq(softmax_choose_blocks(SOFTMAX_SAFE, 4096, 4, 10, DTYPE_FP32, 5, 0, &b, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "larger than"));
    ck_assert_int_eq(softmax_choose_blocks(SOFTMAX_SAFE, 4096, 4, 10, DTYPE_FP32, 0, 11, &b, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "row length"));
    ck_assert_int_eq(softmax_choose_blocks(SOFTMAX_SAFE, 100, 4, 10, DTYPE_FP32, 4, 10, &b, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "SRAM too small"));
    ck_assert_int_eq(softmax_choose_blocks(SOFTMAX_SAFE, 11, 4, 10, DTYPE_FP32, 0, 0, &b, err, sizeof err), -1);
    ck_assert_int_eq(softmax_choose_blocks(SOFTMAX_SAFE, 12, 4, 10, DTYPE_FP32, 0, 0, &b, err, sizeof err), 0);
    ck_assert(b.Br == 1 && b.Bc == 1);
    ck_assert_int_eq(softmax_choose_blocks(SOFTMAX_NAIVE, 8, 4, 10, DTYPE_FP32, 0, 0, &b, err, sizeof err), 0);
    ck_assert_uint_eq(softmax_sram_need(SOFTMAX_SAFE, 4, 3, DTYPE_FP32), 80);   /* lesson02's default M */
}
END_TEST

/* Running the loops with blocks that do not fit M stops at the SRAM, exit 2. */
static void softmax_in_79_bytes(void *unused)
{
    (void)unused;
    mem_t *m = mem_create(79, false);
    hbm_tensor *X = hbm_alloc_mat(m, "x", DTYPE_FP32, 4, 6), *Y = hbm_alloc_mat(m, "y", DTYPE_FP32, 4, 6);
    softmax_run(m, SOFTMAX_ONLINE, X, Y, 4, 3, NULL, NULL);
}

START_TEST(tile_too_big_for_sram_exits)   /* a 4 x 3 tile (48 B) and m, l of 4 rows (32 B) need 80 B */
{
    proc p = run_fn(softmax_in_79_bytes, NULL);
    assert_one_error(&p, 2, "SRAM too small: tile 'mi' needs 16 B");
    ck_assert_msg(strstr(p.err, "fit from M = 80 bytes"), "%s", p.err);
    proc_free(&p);
}
END_TEST

Suite *softmax_suite(void)
{
    Suite *s = suite_create("softmax");
    TCASE(s, "Accuracy", 0, {safe_and_online_match_reference, .loops = 3}, {large_logits_stay_finite, .loops = 3},
          {naive_overflows});
    TCASE(s, "Counting", 0, {ledger_equals_closed_form}, {one_step_per_tile_and_pass});
    TCASE(s, "Blocks", 0, {blocks_fit_and_are_maximal, .loops = 3}, {bad_blocks_are_refused},
          {tile_too_big_for_sram_exits});
    return s;
}
