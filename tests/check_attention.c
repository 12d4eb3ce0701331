/* check_attention.c — every forward algorithm's O (and L, or m and l) against the double-precision reference, with
 * Tri Dao's tolerance method for fp16/bf16; masked rows without NaN; FA2's exported row update is the forward's;
 * every algorithm's pseudocode; bad shapes and a small SRAM exit with 2, a caller's bug with 4. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "check_util.h"
#include "reference.h"
#include "rng.h"
#include "tile_math.h"
#include "util.h"
#include "verify.h"

/* Tri Dao's method (verify_tridao_bound): an algorithm computing in dtype dt may err (max abs, against fp64) at most
 * ORACLE_TRIDAO_FACTOR times what a materialized implementation in dt errs (ref_attention_lowp), plus a floor for
 * the case where that reference happens to be nearly exact (N = 1, say). */
#define FLOOR_ROUNDINGS 2.0   /* floor: two roundings in dt of the largest output element, 2 u max|O| */
/* flash1 writes Oi back to HBM after every key block, so a dt store rounds it Tc times; each rounding adds at most
 * u*|O| <= u*max|V|, carried on with weight l_old e^(m_old - m_new) / l_new <= 1: at most Tc*u*max|V| more. */
#define FLASH1_ROUNDTRIPS(Tc, u, vmax) ((double)(Tc) * (u) * (vmax))
/* L = m + log l is fp32 arithmetic on chip in every dtype (the inputs are the same rounded values the reference
 * sees): dot products of d terms and a sum of N exponentials, ~100 fp32 ulps of the largest logit at most. */
#define L_RTOL 1e-5
/* Standard attention against the materialized reference: the same roundings to dt, but the tile kernels' sums and
 * exp run in another order than the reference's plain loops: a few fp32 ulps, which may also move a rounding of S, P
 * or O to the neighbouring dt value; each such step moves O by at most about u max|V|. */
#define MATERIALIZED_ULPS 8.0
/* Logits scaled up to ±1e4, far past what exp() holds unshifted: softmax is then nearly one-hot. */
#define BIG_LOGIT 1e4

typedef struct {
    size_t B, H, N, d;
    size_t M;         /* SRAM bytes: blocks by attn_choose_blocks (paper's rule, fitted) when Br = Bc = 0 */
    size_t Br, Bc;
} shape;

static const shape SHAPES[] = {
    {1, 1, 1, 1, 1024, 0, 0},         {2, 3, 17, 3, 1 << 20, 4, 5},     {1, 2, 64, 16, 8192, 0, 0},
    {2, 2, 100, 64, 1 << 20, 12, 20}, {1, 1, 130, 80, 40000, 0, 0},     {1, 2, 96, 128, 1 << 20, 32, 24},
    {2, 1, 150, 1, 1 << 20, 7, 9},    {1, 1, 300, 16, 6000, 0, 0},      {1, 1, 9, 3, 1 << 20, 9, 1},
};
#define NSHAPES (sizeof SHAPES / sizeof SHAPES[0])

typedef struct {
    float *q, *k, *v;        /* (B, N, H, d), already rounded to dt */
    double *O, *L, *Olow;    /* fp64 reference O, L; materialized low-precision reference O */
    double err_low, vmax, omax;
} problem;

static void problem_make(problem *pr, const shape *s, dtype_t dt, bool causal, bool big, uint64_t seed)
{
    size_t n = s->B * s->N * s->H * s->d;
    rng_t r;
    rng_seed(&r, seed);
    pr->q = malloc(n * sizeof *pr->q);
    pr->k = malloc(n * sizeof *pr->k);
    pr->v = malloc(n * sizeof *pr->v);
    rng_fill_normal(&r, pr->q, n, 1.0f);
    rng_fill_normal(&r, pr->k, n, 1.0f);
    rng_fill_normal(&r, pr->v, n, 1.0f);
    double scale = 1.0 / sqrt((double)s->d);
    if (big) {   /* scale Q so that the largest |logit| is BIG_LOGIT */
        double mx = 0;
        for (size_t b = 0; b < s->B; b++)
            for (size_t h = 0; h < s->H; h++)
                for (size_t i = 0; i < s->N; i++)
                    for (size_t j = 0; j < s->N; j++) {
                        double acc = 0;
                        for (size_t x = 0; x < s->d; x++)
                            acc += (double)pr->q[((b * s->N + i) * s->H + h) * s->d + x] *
                                   pr->k[((b * s->N + j) * s->H + h) * s->d + x];
                        mx = fmax(mx, fabs(acc * scale));
                    }
        for (size_t x = 0; x < n; x++)
            pr->q[x] = (float)(pr->q[x] * (BIG_LOGIT / mx));
    }
    pr->vmax = 0;
    for (size_t x = 0; x < n; x++) {
        pr->q[x] = dtype_round(dt, pr->q[x]);
        pr->k[x] = dtype_round(dt, pr->k[x]);
        pr->v[x] = dtype_round(dt, pr->v[x]);
        pr->vmax = fmax(pr->vmax, fabs(pr->v[x]));
    }
    pr->O = malloc(n * sizeof *pr->O);
    pr->Olow = malloc(n * sizeof *pr->Olow);
    pr->L = malloc(s->B * s->H * s->N * sizeof *pr->L);
    ref_attention_bnhd(pr->q, pr->k, pr->v, s->B, s->N, s->H, s->d, scale, causal, pr->O, pr->L);
    ref_attention_lowp_bnhd(pr->q, pr->k, pr->v, s->B, s->N, s->H, s->d, scale, causal, dt, pr->Olow);
    pr->err_low = pr->omax = 0;
    for (size_t x = 0; x < n; x++) {
        pr->err_low = fmax(pr->err_low, fabs(pr->Olow[x] - pr->O[x]));
        pr->omax = fmax(pr->omax, fabs(pr->O[x]));
    }
}

static void problem_free(problem *pr)
{
    free(pr->q), free(pr->k), free(pr->v), free(pr->O), free(pr->L), free(pr->Olow);
}

/* Run algorithm a on the problem; check O by the tolerance method and the saved statistics against L. */
static void check_algo(const shape *s, attn_algo a, dtype_t dt, bool causal, bool big, const problem *pr)
{
    attn_params p = {.algo = a, .B = s->B, .N = s->N, .H = s->H, .d = s->d, .causal = causal};
    block_choice ch;
    char err[256];
    size_t Br = min_size(s->Br, s->N), Bc = min_size(s->Bc, s->N);
    ck_assert_msg(!attn_choose_blocks(&p, false, s->M, dt, Br, Bc, &ch, err, sizeof err), "%s", err);
    mem_t *m = mem_create(s->M, false);
    attn_tensors t = attn_alloc(m, &p, dt, false);
    hbm_upload(t.q, pr->q);
    hbm_upload(t.k, pr->k);
    hbm_upload(t.v, pr->v);
    attn_forward(m, &p, &t);

    size_t n = s->B * s->N * s->H * s->d, nl = s->B * s->H * s->N;
    float *o = malloc(n * sizeof *o), *L = malloc(nl * sizeof *L), *l = malloc(nl * sizeof *l);
    hbm_download(t.out, o);
    double u = dtype_eps(dt);
    double tol = verify_tridao_bound(pr->err_low, FLOOR_ROUNDINGS * u * pr->omax);
    if (a == ATTN_FLASH1 && dt != DTYPE_FP32)
        tol += FLASH1_ROUNDTRIPS(ceil_div(s->N, p.Bc), u, pr->vmax);
    char name[160];
    snprintf(name, sizeof name, "%s O (B=%zu H=%zu N=%zu d=%zu Br=%zu Bc=%zu %s%s%s)", attn_algo_name(a), s->B, s->H,
             s->N, s->d, p.Br, p.Bc, dtype_name(dt), causal ? " causal" : "", big ? " logits 1e4" : "");
    verify_stats st;
    bool ok = verify_close(pr->O, o, n, tol, 0, name, &st, NULL);
    ck_assert_msg(ok, "%s: max abs err %.3g (%zu NaN) > %.3g = %g x materialized %s error %.3g + floor", name,
                  st.max_abs, st.nan, tol, ORACLE_TRIDAO_FACTOR, dtype_name(dt), pr->err_low);

    /* Saved statistics: flash2's L, flash1's m and l (L = m + log l). */
    if (a != ATTN_STANDARD) {
        if (a == ATTN_FLASH2) {
            hbm_download(t.lse, L);
        } else {
            hbm_download(t.m, L);
            hbm_download(t.l, l);
            for (size_t x = 0; x < nl; x++)
                L[x] = (float)((double)L[x] + log((double)l[x]));
        }
        double lmax = 0;
        for (size_t x = 0; x < nl; x++)
            lmax = fmax(lmax, fabs(pr->L[x]));
        ok = verify_close(pr->L, L, nl, L_RTOL * (1 + lmax), 0, "L", &st, NULL);
        ck_assert_msg(ok, "%s: L max abs err %.3g (%zu NaN) > %.3g", name, st.max_abs, st.nan, L_RTOL * (1 + lmax));
    }
    free(o), free(L), free(l);
    attn_free(m, &t);
    mem_destroy(m);
}

START_TEST(matches_reference)
{
    const shape *s = &SHAPES[_i];
    for (int dt = 0; dt < 3; dt++)
        for (int causal = 0; causal < 2; causal++)
            for (int big = 0; big < 2; big++) {
                problem pr;
                problem_make(&pr, s, (dtype_t)dt, causal, big, 1000 * (uint64_t)_i + 10 * (uint64_t)dt + 2 * causal + big);
                for (int a = 0; a < ATTN_NALGOS; a++)
                    check_algo(s, (attn_algo)a, (dtype_t)dt, causal, big, &pr);
                problem_free(&pr);
            }
}
END_TEST

START_TEST(standard_is_the_materialized_reference)
{
    /* Standard attention stores S and P in dt like the low-precision reference: the same numbers up to the order of
     * the fp32 arithmetic in between (MATERIALIZED_ULPS), whether the softmax holds a row (Bc = 16: 24 <= 2*16) or
     * streams it (Bc = 3: 24 > 2*3). */
    shape s = {2, 2, 24, 8, 1 << 20, 2, 16};
    for (int pass = 0; pass < 2; pass++, s.Bc = 3)
        for (int dt = 0; dt < 3; dt++) {
            problem pr;
            problem_make(&pr, &s, (dtype_t)dt, pass, false, 77 + (uint64_t)dt);
            attn_params p = {.algo = ATTN_STANDARD, .B = 2, .N = 24, .H = 2, .d = 8, .causal = pass, .Br = 2,
                             .Bc = s.Bc};
            mem_t *m = mem_create(s.M, false);
            attn_tensors t = attn_alloc(m, &p, (dtype_t)dt, false);
            hbm_upload(t.q, pr.q);
            hbm_upload(t.k, pr.k);
            hbm_upload(t.v, pr.v);
            attn_forward(m, &p, &t);
            float o[2 * 24 * 2 * 8];
            hbm_download(t.out, o);
            double tol = MATERIALIZED_ULPS * dtype_eps((dtype_t)dt) * pr.vmax;
            for (size_t x = 0; x < sizeof o / sizeof o[0]; x++)
                ck_assert_msg(fabs(o[x] - pr.Olow[x]) <= tol, "O[%zu] = %.9g, materialized reference %.9g (%s, tol %.3g)",
                              x, o[x], pr.Olow[x], dtype_name((dtype_t)dt), tol);
            attn_free(m, &t);
            mem_destroy(m);
            problem_free(&pr);
        }
}
END_TEST

START_TEST(flash1_pays_for_its_writebacks)
{
    /* In fp16 flash1 rounds Oi once per key block; flash2 keeps Oi in fp32 and rounds once. With one key per
     * block (Tc = N = 256) flash1's error is far larger than with one block (Tc = 1), and flash2's is not. */
    shape one = {1, 1, 256, 16, 1 << 22, 16, 256}, many = {1, 1, 256, 16, 1 << 22, 16, 1};
    problem pr;
    problem_make(&pr, &one, DTYPE_FP16, false, false, 4242);
    double e[2][2];
    for (int a = 0; a < 2; a++)
        for (int k = 0; k < 2; k++) {
            const shape *s = k ? &many : &one;
            attn_params p = {.algo = a ? ATTN_FLASH2 : ATTN_FLASH1, .B = 1, .N = 256, .H = 1, .d = 16,
                             .Br = s->Br, .Bc = s->Bc};
            mem_t *m = mem_create(s->M, false);
            attn_tensors t = attn_alloc(m, &p, DTYPE_FP16, false);
            hbm_upload(t.q, pr.q);
            hbm_upload(t.k, pr.k);
            hbm_upload(t.v, pr.v);
            attn_forward(m, &p, &t);
            float *o = malloc(256 * 16 * sizeof *o);
            hbm_download(t.out, o);
            e[a][k] = verify_max_abs(pr.O, o, 256 * 16);
            free(o);
            attn_free(m, &t);
            mem_destroy(m);
        }
    /* Measured 0.00379 vs 0.000241 (about 16x) for this seed; 4x leaves room and still shows the cost. */
    ck_assert_msg(e[0][1] > 4 * e[0][0], "flash1 fp16: Tc=256 err %.3g, Tc=1 err %.3g", e[0][1], e[0][0]);
    ck_assert_msg(e[1][1] < 2 * e[1][0] + 1e-6, "flash2 fp16: Tc=256 err %.3g, Tc=1 err %.3g", e[1][1], e[1][0]);
    problem_free(&pr);
}
END_TEST

START_TEST(masked_rows_have_no_nan)
{
    /* Br = 9, Bc = 1, causal: every tile (0, j) is visited and rows 0 .. j-1 are fully masked in it. */
    for (int a = ATTN_FLASH1; a <= ATTN_FLASH2; a++) {
        attn_params p = {.algo = (attn_algo)a, .B = 1, .N = 9, .H = 1, .d = 2, .causal = true, .Br = 9, .Bc = 1};
        mem_t *m = mem_create(1 << 16, false);
        attn_tensors t = attn_alloc(m, &p, DTYPE_FP32, false);
        float x[18], o[18];
        for (int k = 0; k < 18; k++)
            x[k] = (float)(k % 5) - 2;
        hbm_upload(t.q, x);
        hbm_upload(t.k, x);
        hbm_upload(t.v, x);
        attn_forward(m, &p, &t);
        hbm_download(t.out, o);
        for (int k = 0; k < 18; k++)
            ck_assert_msg(!isnan(o[k]), "%s O[%d] is NaN", attn_algo_name(p.algo), k);
        ck_assert_float_eq(o[0], x[0]);   /* query 0 sees key 0 only: O = V0 */
        ck_assert_float_eq(o[1], x[1]);
        attn_free(m, &t);
        mem_destroy(m);
    }
}
END_TEST

/* attn_flash2_row_update is the very code attn_forward runs for FA2 lines 9-10: walking one head's rows with it
 * (scores computed the simulator's way, tile_qkt on the one row) and dividing by l at the end (line 12) gives
 * attn_forward's O bit for bit, causal or not, ragged blocks included. This is how a lesson shows FA2's state without
 * copying it. */
START_TEST(flash2_row_update_is_the_forward)
{
    enum { N = 13, D = 5, BR = 4, BC = 3 };
    for (int causal = 0; causal < 2; causal++) {
        float q[N * D], k[N * D], v[N * D], o[N * D];
        rng_t r;
        rng_seed(&r, 99 + (uint64_t)causal);
        rng_fill_normal(&r, q, N * D, 1.0f);
        rng_fill_normal(&r, k, N * D, 1.0f);
        rng_fill_normal(&r, v, N * D, 1.0f);
        attn_params p = {.algo = ATTN_FLASH2, .B = 1, .N = N, .H = 1, .d = D, .causal = causal, .Br = BR, .Bc = BC};
        mem_t *m = mem_create(1 << 16, false);
        attn_tensors t = attn_alloc(m, &p, DTYPE_FP32, false);
        hbm_upload(t.q, q);
        hbm_upload(t.k, k);
        hbm_upload(t.v, v);
        attn_forward(m, &p, &t);
        hbm_download(t.out, o);
        float scale = (float)(1.0 / sqrt((double)D));
        for (size_t row = 0; row < N; row++) {
            float mi = -INFINITY, li = 0, oi[D] = {0}, s[BC];
            size_t last = causal ? (row / BR + 1) * BR - 1 : N - 1;   /* the row block's last query */
            for (size_t k0 = 0; k0 < N && k0 <= last; k0 += BC) {    /* causal: later key blocks are skipped */
                size_t kc = min_size(BC, N - k0);
                tile_qkt(q + row * D, k + k0 * D, 1, kc, D, scale, s);
                for (size_t c = 0; c < kc; c++)
                    s[c] = causal && k0 + c > row ? -INFINITY : s[c];
                attn_flash2_row_update(s, kc, v + k0 * D, D, &mi, &li, oi);
            }
            ck_assert(li > 0);
            for (size_t x = 0; x < D; x++)
                ck_assert_msg(oi[x] / li == o[row * D + x], "causal=%d O[%zu][%zu]: row update %.9g, forward %.9g",
                              causal, row, x, oi[x] / li, o[row * D + x]);
        }
        attn_free(m, &t);
        mem_destroy(m);
    }
}
END_TEST

/* A tile whose scores are all masked leaves a fresh row untouched and NaN-free (the -inf guard), and a later tile
 * with a real score takes over with alpha = 0. */
START_TEST(flash2_row_update_guards_minus_inf)
{
    float s[2] = {-INFINITY, -INFINITY}, V[4] = {1, 2, 3, 4}, mi = -INFINITY, li = 0, oi[2] = {0, 0};
    attn_flash2_row_update(s, 2, V, 2, &mi, &li, oi);
    ck_assert(mi == -INFINITY);
    ck_assert_float_eq(li, 0);
    ck_assert(oi[0] == 0 && oi[1] == 0 && s[0] == 0 && s[1] == 0);
    float s2[1] = {0.5f};
    attn_flash2_row_update(s2, 1, V + 2, 2, &mi, &li, oi);
    ck_assert_float_eq(mi, 0.5f);
    ck_assert_float_eq(li, 1);
    ck_assert_float_eq(oi[0], 3);
    ck_assert_float_eq(oi[1], 4);
}
END_TEST

/* Every row of the table carries the paper's pseudocode, and the line numbers the code and its traces cite point at
 * the line that says so. */
START_TEST(pseudocode_matches_the_cited_lines)
{
    static const struct {
        attn_algo a;
        bool bw;
        size_t line;      /* 1-based, as the papers and the code's comments number them */
        const char *says;
    } cited[] = {
        {ATTN_STANDARD, false, 2, "softmax(S)"}, {ATTN_STANDARD, true, 5, "dK = dS^T Q"},
        {ATTN_FLASH1, false, 6, "Load Kj, Vj"},  {ATTN_FLASH1, false, 8, "Load Qi, Oi, li, mi"},
        {ATTN_FLASH1, false, 13, "mi <- mi_new"}, {ATTN_FLASH1, true, 10, "Load Qi, Oi, dOi, dQi, li, mi"},
        {ATTN_FLASH1, true, 21, "dQi <- dQi + tau dSij Kj"}, {ATTN_FLASH1, true, 24, "dKj <- dKj~"},
        {ATTN_FLASH2, false, 4, "Load Qi"},      {ATTN_FLASH2, false, 7, "Load Kj, Vj"},
        {ATTN_FLASH2, false, 13, "Li = mi(Tc) + log"}, {ATTN_FLASH2, true, 4, "D = rowsum(dO o O)"},
        {ATTN_FLASH2, true, 15, "dQi <- dQi + dSij(j) Kj"}, {ATTN_FLASH2, true, 18, "Write dKj, dVj"},
    };
    for (int a = 0; a < ATTN_NALGOS; a++)
        for (int bw = 0; bw < 2; bw++) {
            const attn_pseudocode *pc = attn_algo_pseudocode((attn_algo)a, bw);
            ck_assert_msg(pc->title && *pc->title && pc->require && *pc->require && pc->n >= 4, "%s %s",
                          attn_algo_name((attn_algo)a), bw ? "backward" : "forward");
            for (size_t k = 0; k < pc->n; k++)
                ck_assert(pc->line[k] && *pc->line[k]);
            ck_assert_msg(strstr(pc->line[pc->n - 1], "Return"), "%s: the last line returns", pc->title);
        }
    for (size_t c = 0; c < sizeof cited / sizeof cited[0]; c++) {
        const attn_pseudocode *pc = attn_algo_pseudocode(cited[c].a, cited[c].bw);
        ck_assert_uint_le(cited[c].line, pc->n);
        ck_assert_msg(strstr(pc->line[cited[c].line - 1], cited[c].says), "%s line %zu: '%s' does not say '%s'",
                      pc->title, cited[c].line, pc->line[cited[c].line - 1], cited[c].says);
    }
}
END_TEST

/* ---- limits: one line on stderr, exit 2 ---------------------------------------------------------------------- */

static void quiet(void) { (void)!freopen("/dev/null", "w", stderr); }

START_TEST(sram_too_small_exits)
{
    quiet();
    attn_params p = {.algo = (attn_algo)_i, .B = 1, .N = 64, .H = 1, .d = 16, .Br = 16, .Bc = 16};
    size_t need = attn_sram_need(p.algo, false, 16, 16, 16, DTYPE_FP32);
    mem_t *m = mem_create(need - 1, true);
    attn_tensors t = attn_alloc(m, &p, DTYPE_FP32, false);
    attn_forward(m, &p, &t);
}
END_TEST

START_TEST(zero_size_exits)
{
    quiet();
    attn_params p = {.algo = ATTN_FLASH2, .B = 1, .N = 0, .H = 1, .d = 16, .Br = 1, .Bc = 1};
    mem_t *m = mem_create(1 << 20, true);
    attn_tensors t = attn_alloc(m, &p, DTYPE_FP32, false);
    attn_forward(m, &p, &t);
}
END_TEST

START_TEST(block_larger_than_n_exits)
{
    quiet();
    attn_params p = {.algo = ATTN_FLASH1, .B = 1, .N = 8, .H = 1, .d = 4, .Br = 9, .Bc = 4};
    mem_t *m = mem_create(1 << 20, true);
    attn_tensors t = attn_alloc(m, &p, DTYPE_FP32, false);
    attn_forward(m, &p, &t);
}
END_TEST

START_TEST(overflowing_shape_exits)
{
    quiet();
    attn_params p = {.algo = ATTN_STANDARD, .B = (size_t)1 << 40, .N = (size_t)1 << 20, .H = 1 << 10, .d = 64,
                     .Br = 1, .Bc = 1};
    mem_t *m = mem_create(1 << 20, true);
    attn_tensors t;
    memset(&t, 0, sizeof t);
    attn_forward(m, &p, &t);
}
END_TEST

/* A caller's bug, not the user's input: exit 4 (FL_EXIT_INTERNAL). */
START_TEST(unknown_algorithm_is_internal)
{
    quiet();
    attn_params p = {.algo = ATTN_NALGOS, .B = 1, .N = 8, .H = 1, .d = 4, .Br = 4, .Bc = 4};
    mem_t *m = mem_create(1 << 20, true);
    attn_tensors t = attn_alloc(m, &p, DTYPE_FP32, false);
    attn_forward(m, &p, &t);
}
END_TEST

START_TEST(missing_tensor_is_internal)
{
    quiet();
    attn_params p = {.algo = (attn_algo)_i, .B = 1, .N = 8, .H = 1, .d = 4, .Br = 4, .Bc = 4};
    mem_t *m = mem_create(1 << 20, true);
    attn_tensors t = attn_alloc(m, &p, DTYPE_FP32, false);   /* no dO, dQ, dK, dV: not allocated for backward */
    attn_forward(m, &p, &t);
    attn_backward(m, &p, &t);
}
END_TEST

START_TEST(choose_blocks_reports)
{
    char err[256];
    block_choice ch;
    for (int a = 0; a < ATTN_NALGOS; a++) {
        attn_params p = {.algo = (attn_algo)a, .B = 1, .N = 100, .H = 1, .d = 64};
        /* M too small for 1 x 1 blocks */
        ck_assert_int_eq(attn_choose_blocks(&p, false, 100, DTYPE_FP16, 0, 0, &ch, err, sizeof err), -1);
        ck_assert_msg(strstr(err, "SRAM too small") != NULL, "%s", err);
        /* a requested block that does not fit */
        ck_assert_int_eq(attn_choose_blocks(&p, false, 4096, DTYPE_FP16, 64, 64, &ch, err, sizeof err), -1);
        ck_assert_msg(strstr(err, "SRAM too small") != NULL, "%s", err);
        /* a block larger than N */
        ck_assert_int_eq(attn_choose_blocks(&p, false, 1 << 20, DTYPE_FP16, 101, 0, &ch, err, sizeof err), -1);
        /* the rule, fitted: the chosen blocks fit M and fill p; the resident block is the big one (flash2's
         * forward keeps Qi: Br = ⌈M/4d⌉, Bc = min(Br, d); the others keep Kj, Vj: Bc = ⌈M/4d⌉, Br = min(Bc, d)) */
        ck_assert_int_eq(attn_choose_blocks(&p, false, 100 * 1024, DTYPE_FP16, 0, 0, &ch, err, sizeof err), 0);
        ck_assert_uint_eq(p.Br, ch.Br);
        ck_assert_uint_eq(p.Bc, ch.Bc);
        ck_assert_uint_le(attn_sram_need(p.algo, false, p.Br, p.Bc, 64, DTYPE_FP16), 100 * 1024);
        bool q_outer = a == ATTN_FLASH2;
        ck_assert_uint_le(q_outer ? p.Bc : p.Br, 64);
        /* ⌈102400/2/(4*64)⌉ = 200, clamped to N = 100 */
        ck_assert_uint_eq(q_outer ? ch.paper_Br : ch.paper_Bc, 100);
        ck_assert_uint_eq(q_outer ? ch.paper_Bc : ch.paper_Br, 64);
    }
}
END_TEST

/* Tri Dao's criterion, named once in the oracle: at most ORACLE_TRIDAO_FACTOR times the baseline, NaN never. */
START_TEST(tridao_criterion)
{
    ck_assert(verify_tridao(0.0, 0.0));
    ck_assert(verify_tridao(ORACLE_TRIDAO_FACTOR * 0.125, 0.125));
    ck_assert(!verify_tridao(nextafter(ORACLE_TRIDAO_FACTOR * 0.125, 1.0), 0.125));
    ck_assert(!verify_tridao(NAN, 0.125));
    ck_assert(!verify_tridao(0.0, NAN));
    ck_assert(!verify_tridao(INFINITY, 0.125));
    ck_assert(verify_tridao(1.0, INFINITY));   /* an infinite baseline bounds nothing away: the caller's to refuse */
    ck_assert_double_eq(verify_tridao_bound(0.25, 0.5), ORACLE_TRIDAO_FACTOR * 0.25 + 0.5);
    ck_assert(isnan(verify_tridao_bound(NAN, 0.5)));
}
END_TEST

Suite *attention_suite(void)
{
    Suite *s = suite_create("attention");
    TCASE(s, "Accuracy", 60, {matches_reference, .loops = (int)NSHAPES}, {standard_is_the_materialized_reference},
          {flash1_pays_for_its_writebacks}, {masked_rows_have_no_nan}, {tridao_criterion},
          {flash2_row_update_is_the_forward}, {flash2_row_update_guards_minus_inf});
    TCASE(s, "Table", 0, {pseudocode_matches_the_cited_lines});
    TCASE(s, "Limits", 0, {sram_too_small_exits, .loops = ATTN_NALGOS, .status = 2}, {zero_size_exits, .status = 2},
          {block_larger_than_n_exits, .status = 2}, {overflowing_shape_exits, .status = 2},
          {unknown_algorithm_is_internal, .status = 4}, {missing_tensor_is_internal, .loops = ATTN_NALGOS, .status = 4},
          {choose_blocks_reports});
    return s;
}
